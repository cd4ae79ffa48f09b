"""The OpenAI-compatible client: Chat Completions, structured output modes, retries.

The SDK's own retries are off; tenacity retries what is worth retrying (429 honouring
Retry-After, 5xx, timeouts, dropped connections) with jittered backoff, and never 400/401/403/404.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import openai
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential
from tenacity.wait import wait_base

from bot.config import Settings
from bot.errors import (
    ConfigError,
    LLMAuthError,
    LLMError,
    LLMRefused,
    LLMTruncated,
    LLMUnavailable,
)
from bot.schema import Usage

log = logging.getLogger(__name__)

MAX_RETRY_AFTER_S = 60.0


@dataclass
class LLMReply:
    text: str
    usage: Usage
    model: str
    seconds: float
    attempts: int


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError)):
        return True
    if isinstance(exc, openai.RateLimitError):
        # A spent quota will not come back within our retries.
        return _error_code(exc) != "insufficient_quota"
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code >= 500 or exc.status_code in (408, 409)
    return False


def _error_code(exc: openai.APIStatusError) -> str | None:
    body = exc.body if isinstance(exc.body, dict) else {}
    err = body.get("error", body) if isinstance(body, dict) else {}
    return err.get("code") if isinstance(err, dict) else None


def _retry_after(exc: BaseException | None) -> float | None:
    if not isinstance(exc, openai.APIStatusError):
        return None
    headers = exc.response.headers
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is not None:
            try:
                return min(max(float(value) * scale, 0.0), MAX_RETRY_AFTER_S)
            except ValueError:
                continue  # an HTTP date: fall back to backoff
    return None


class _WaitRetryAfter(wait_base):
    """Honour the server's Retry-After; otherwise jittered exponential backoff."""

    def __init__(self, base_s: float) -> None:
        self.backoff = wait_random_exponential(multiplier=base_s, max=max(base_s * 20, 1))

    def __call__(self, retry_state: Any) -> float:
        outcome = retry_state.outcome
        hinted = _retry_after(outcome.exception() if outcome else None)
        return hinted if hinted is not None else self.backoff(retry_state)


def _to_error(exc: Exception) -> LLMError:
    """Translate SDK errors into ours, with a message an operator can act on."""
    if isinstance(exc, openai.APITimeoutError):
        return LLMUnavailable("the model did not answer in time")
    if isinstance(exc, openai.APIConnectionError):
        return LLMUnavailable("cannot connect to the LLM endpoint")
    if isinstance(exc, openai.RateLimitError):
        if _error_code(exc) == "insufficient_quota":
            return LLMUnavailable("the LLM account's quota is used up")
        return LLMUnavailable("rate limited by the LLM provider")
    if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
        return LLMAuthError(f"HTTP {exc.status_code}: check OPENAI_API_KEY")
    if isinstance(exc, openai.NotFoundError):
        return LLMError("HTTP 404: check LLM_MODEL and OPENAI_BASE_URL")
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code >= 500:
            return LLMUnavailable(f"the LLM endpoint failed (HTTP {exc.status_code})")
        return LLMError(f"HTTP {exc.status_code}: {str(exc.message)[:200]}")
    return LLMError(str(exc)[:200])


def response_format(mode: str, schema: dict[str, Any], name: str = "brief") -> dict[str, Any] | None:
    if mode == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": name, "strict": True, "schema": schema}}
    if mode == "json_object":
        return {"type": "json_object"}
    return None


class LLMClient:
    """One `AsyncOpenAI` client shared by every request, with a global concurrency cap."""

    def __init__(self, settings: Settings) -> None:
        if not settings.llm_configured:
            raise ConfigError("set OPENAI_API_KEY, or OPENAI_BASE_URL for a local server")
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "not-needed"
        self.settings = settings
        self.model = settings.llm_model
        self.mode = settings.llm_response_format
        self._client = openai.AsyncOpenAI(
            api_key=key,
            base_url=settings.openai_base_url,
            timeout=settings.llm_timeout_s,
            max_retries=0,
        )
        self._slots = asyncio.Semaphore(settings.llm_max_concurrency)
        self._retry_base_s = settings.llm_retry_base_s

    async def close(self) -> None:
        await self._client.close()

    async def list_models(self) -> list[str]:
        """The endpoint's models (no retries): `newsbot check` uses it to see the endpoint answers."""
        page = await self._client.models.list()
        return [m.id for m in page.data]

    async def complete(
        self, messages: list[dict[str, str]], schema: dict[str, Any], *, max_tokens: int | None = None,
        name: str = "brief",
    ) -> LLMReply:
        """One Chat Completion in the configured structured-output mode, retried as needed."""
        fmt = response_format(self.mode, schema, name)
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": self.settings.llm_temperature,
            "max_tokens": max_tokens or self.settings.llm_max_completion_tokens,
        }
        if fmt is not None:
            kwargs["response_format"] = fmt
        started = time.monotonic()
        attempts = 0
        try:
            async with self._slots:
                async for attempt in AsyncRetrying(
                    retry=retry_if_exception(_retryable),
                    stop=stop_after_attempt(self.settings.llm_max_attempts),
                    wait=_WaitRetryAfter(self._retry_base_s),
                    reraise=True,
                ):
                    with attempt:
                        attempts += 1
                        if attempts > 1:
                            log.info("LLM call: attempt %d", attempts)
                        resp = await self._client.chat.completions.create(**kwargs)
        except openai.OpenAIError as exc:
            raise _to_error(exc) from exc

        if not resp.choices:
            raise LLMError("the endpoint returned no choices")
        choice = resp.choices[0]
        refusal = getattr(choice.message, "refusal", None)
        if refusal:
            raise LLMRefused(str(refusal)[:200])
        if choice.finish_reason == "content_filter":
            raise LLMRefused("the provider's content filter stopped the answer")
        if choice.finish_reason == "length":
            raise LLMTruncated(f"raise LLM_MAX_COMPLETION_TOKENS (now {kwargs['max_tokens']})")
        usage = Usage()
        if resp.usage is not None:
            details = getattr(resp.usage, "prompt_tokens_details", None)
            usage = Usage(
                prompt_tokens=resp.usage.prompt_tokens or 0,
                completion_tokens=resp.usage.completion_tokens or 0,
                cached_tokens=(getattr(details, "cached_tokens", 0) or 0) if details else 0,
            )
        return LLMReply(
            text=choice.message.content or "",
            usage=usage,
            model=resp.model or self.model,
            seconds=time.monotonic() - started,
            attempts=attempts,
        )
