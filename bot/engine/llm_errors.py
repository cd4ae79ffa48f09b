"""What an LLM endpoint's error means: retry it, wait as told, slow down, or show it to the user at once.

The reason shown is one line with any key or bearer token redacted.
"""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import openai
from tenacity import wait_random_exponential
from tenacity.wait import wait_base

MAX_RETRY_AFTER_S = 60.0  # a longer Retry-After is waited as this much, then asked again
REASON_MAX_CHARS = 240  # a server's reason, shown to the user, on one line


class NoProgress(Exception):
    """No chunk for `seconds`: before the first one (`chunks == 0`) or mid-answer."""

    def __init__(self, seconds: float, chunks: int) -> None:
        super().__init__(f"no new chunk for {seconds:g} s after {chunks} chunk(s)")
        self.seconds = seconds
        self.chunks = chunks


class ConnectionDropped(Exception):
    """The connection broke in the middle of an answer."""

    def __init__(self, chunks: int) -> None:
        super().__init__(f"the connection dropped after {chunks} chunk(s)")
        self.chunks = chunks


# Phrases with which servers say "your request is the problem": retrying the same request cannot help.
_REQUEST_CAUSE = re.compile(
    r"response_format|json_schema|json_object|input should be|invalid|unsupported|not supported|"
    r"context length|context_length|context size|context window|maximum context|too many tokens|"
    r"too long|exceeds", re.IGNORECASE)
# ... unless the same message says it is passing (a proxy's "invalid response from upstream").
_TRANSIENT = re.compile(r"overload|upstream|temporar|try again|unavailable|timed? ?out|busy|capacity",
                        re.IGNORECASE)
_OVERLOAD = re.compile(r"overload|capacity|too busy|server busy", re.IGNORECASE)
CONTEXT = re.compile(r"context|too many tokens|too long|exceeds", re.IGNORECASE)
FORMAT = re.compile(r"response_format|json_schema|json_object|input should be 'text'", re.IGNORECASE)
_BEARER = re.compile(r"(?i)(bearer\s+)\S+")
_KEY_LIKE = re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}")


def redact(text: str, secret: str | None) -> str:
    """`text` without the API key (the exact one, any bearer token, anything shaped like a key)."""
    if secret:
        text = text.replace(secret, "[key]")
    return _KEY_LIKE.sub("[key]", _BEARER.sub(r"\1[key]", text))


def one_line(text: str, secret: str | None, limit: int = REASON_MAX_CHARS) -> str:
    """A server's message fit for an error: one line, no key, at most `limit` characters."""
    flat = redact(" ".join(text.split()), secret)
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def body_message(exc: openai.APIError) -> str:
    """What the server said: the error's message, FastAPI's detail, or the raw body."""
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            for key in ("message", "detail", "msg"):
                if inner.get(key):
                    return str(inner[key])
        elif inner:
            return str(inner)
        return str(body)
    if isinstance(body, str) and body.strip():
        return re.sub(r"<[^>]+>", " ", body)  # an HTML error page from a proxy
    return ""


def error_code(exc: openai.APIError) -> str | None:
    body = exc.body if isinstance(exc.body, dict) else {}
    err = body.get("error", body) if isinstance(body, dict) else {}
    return err.get("code") if isinstance(err, dict) else None


def request_caused(exc: BaseException) -> bool:
    if not isinstance(exc, openai.APIError) or isinstance(exc, openai.APIConnectionError):
        return False
    message = body_message(exc)
    return bool(_REQUEST_CAUSE.search(message)) and not _TRANSIENT.search(message)


def timed_out(exc: BaseException) -> bool:
    """A timeout, and not a refused or broken connection reported as one: the SDK's aiohttp transport
    maps every aiohttp connection error, a refused connect included, to a connect timeout."""
    if isinstance(exc, NoProgress):
        return True
    if not (isinstance(exc, (openai.APITimeoutError, TimeoutError)) or "Timeout" in type(exc).__name__):
        return False
    link: BaseException | None = exc
    while link is not None:  # the transports chain their errors with `raise … from`
        if isinstance(link, (OSError, aiohttp.ClientError)) and not isinstance(link, TimeoutError):
            return False
        link = link.__cause__
    return True


def retryable(exc: BaseException) -> bool:
    if isinstance(exc, (NoProgress, ConnectionDropped, openai.APITimeoutError, openai.APIConnectionError)):
        return True
    if isinstance(exc, openai.RateLimitError):
        # A spent quota will not come back within our retries.
        return error_code(exc) != "insufficient_quota"
    if isinstance(exc, openai.APIStatusError):
        return (exc.status_code >= 500 or exc.status_code in (408, 409)) and not request_caused(exc)
    if isinstance(exc, openai.APIError):  # an error event in the middle of a stream
        return not request_caused(exc)
    return False


def overloaded(exc: BaseException) -> str | None:
    """Why this failure says "fewer at once, please", or None when it says nothing about load."""
    if timed_out(exc):
        return "timeout"
    if isinstance(exc, openai.RateLimitError):
        return None if error_code(exc) == "insufficient_quota" else "429"
    if isinstance(exc, openai.APIStatusError) and exc.status_code in (503, 529):
        return str(exc.status_code)
    if isinstance(exc, openai.APIError) and _OVERLOAD.search(body_message(exc)):
        return "overloaded"
    return None


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


class WaitRetryAfter(wait_base):
    """Honour the server's Retry-After; otherwise jittered exponential backoff."""

    def __init__(self, base_s: float) -> None:
        self.backoff = wait_random_exponential(multiplier=base_s, max=max(base_s * 20, 1))

    def __call__(self, retry_state: Any) -> float:
        outcome = retry_state.outcome
        hinted = _retry_after(outcome.exception() if outcome else None)
        return hinted if hinted is not None else self.backoff(retry_state)


def response_format(mode: str, schema: dict[str, Any], name: str = "brief") -> dict[str, Any] | None:
    if mode == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": name, "strict": True, "schema": schema}}
    if mode == "json_object":
        return {"type": "json_object"}
    return None

