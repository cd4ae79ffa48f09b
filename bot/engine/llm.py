"""The OpenAI-compatible client: streamed Chat Completions, structured output modes, retries.

Completions are streamed, so `LLM_TIMEOUT_S` is a time without progress (no new chunk), not a
total: a slow CPU model that keeps producing tokens finishes, one that stalls is cut off and retried.
A model that loops (the same passage again and again) is stopped while it streams.

The SDK's own retries are off; tenacity retries what is worth retrying (429 honouring Retry-After,
5xx, timeouts, dropped connections) with jittered backoff, and never 400/401/403/404 nor an error
whose message names the request as its cause (an unsupported response_format, a context overflow):
that one is shown, with the server's reason, at once.

How many calls run at once adapts to the endpoint (`AdaptiveConcurrency`): additive increase on
success, halving on 429, overload, timeouts or queueing, never above `LLM_MAX_CONCURRENCY`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from itertools import pairwise
from typing import Any, Literal

import openai
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

from bot.engine.concurrency import AdaptiveConcurrency
from bot.engine.llm_errors import (
    CONTEXT,
    FORMAT,
    ConnectionDropped,
    NoProgress,
    WaitRetryAfter,
    body_message,
    error_code,
    one_line,
    overloaded,
    request_caused,
    response_format,
    retryable,
    timed_out,
)
from bot.engine.schema import Usage
from bot.ops.config import Settings
from bot.ops.errors import (
    ConfigError,
    LLMAuthError,
    LLMError,
    LLMRefused,
    LLMRequestRejected,
    LLMTruncated,
    LLMUnavailable,
)

log = logging.getLogger(__name__)

# A model is looping when the end of its answer is the REPEAT_TIMES-th copy of a passage of at least
# REPEAT_SEGMENT characters within the last REPEAT_WINDOW. Shorter repeats are normal JSON (keys,
# the same actor id); a whole item or sentence three times over, back to back, is not.
REPEAT_SEGMENT = 80
REPEAT_TIMES = 3
REPEAT_WINDOW = 8000
REPEAT_SIMILARITY = 0.97  # copies may differ a little (an id counting up), not by a whole name

#: a stall is cut off between LLM_TIMEOUT_S and (1 + STALL_SLACK) × it after the last chunk
STALL_SLACK = 0.1

CutOff = Literal["length", "repetition"]


@dataclass
class LLMReply:
    """One completion. With `allow_cut_off=True`, an answer that did not finish comes back too,
    with `cut_off` saying why, instead of raising `LLMTruncated`."""

    text: str  # everything the model produced (for a loop: up to where it was stopped)
    usage: Usage
    model: str
    seconds: float  # wall time of the whole call, retries and waits for a slot included
    attempts: int
    finish_reason: str | None = None  # the server's own: "stop", "length", ... (None when we stopped it)
    cut_off: CutOff | None = None  # None: a finished answer
    loop_start: int | None = None  # with cut_off="repetition": text[:loop_start] keeps one copy of the loop
    usage_estimated: bool = False  # the server sent no usage; counts are estimated from characters
    first_chunk_s: float | None = None  # time to the first chunk of the successful attempt



# --- usage and loops ------------------------------------------------------------------------------
_ARABIC = re.compile(r"[\u0600-\u06FF]")


def estimate_tokens(text: str) -> int:
    """Tokens from characters, for servers that report no usage (Latin ≈ 4 per token, Arabic ≈ 2.5)."""
    arabic = len(_ARABIC.findall(text))
    return round(arabic / 2.5 + (len(text) - arabic) / 4)


def find_loop(text: str, *, segment: int = REPEAT_SEGMENT, times: int = REPEAT_TIMES) -> int | None:
    """Where `text` began repeating itself, when its end is the `times`-th copy of one passage.

    The last `segment` characters must occur `times` times without overlapping, and the stretches
    between the occurrences (one period of the loop each) must be nearly the same text: the same
    evidence sentence in three different items is not a loop, one item three times over is.
    Returns the start of the second copy (text[:start] keeps one), or None.
    """
    if len(text) < segment * times:
        return None
    probe = text[-segment:]
    starts = [len(text) - segment]
    while len(starts) < times:
        at = text.rfind(probe, 0, starts[-1])
        if at < 0:
            return None
        starts.append(at)
    periods = [text[starts[i + 1]:starts[i]] for i in range(times - 1)]
    for a, b in pairwise(periods):
        matcher = SequenceMatcher(None, a, b)
        if matcher.real_quick_ratio() < REPEAT_SIMILARITY or matcher.ratio() < REPEAT_SIMILARITY:
            return None
    return starts[-2]



# --- server-sent events ---------------------------------------------------------------------------
class SSE:
    """Server-sent events from a byte stream as it arrives: `feed` returns the data of each event
    completed by the bytes so far (its `data:` lines joined by newlines). Lines end with CRLF, LF
    or CR; comments, other fields and events without data are skipped. Events are kept as bytes:
    `json.loads` reads UTF-8 bytes, and no character is split, since events end at ASCII newlines."""

    def __init__(self) -> None:
        self._rest = b""  # an incomplete line
        self._data: list[bytes] = []  # the data lines of the event being read

    def feed(self, chunk: bytes) -> list[bytes]:
        buf = self._rest + chunk
        if b"\r" in buf:
            hold = buf.endswith(b"\r")  # maybe the first half of a CRLF: wait for the next byte
            if hold:
                buf = buf[:-1]
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n") + (b"\r" if hold else b"")
        lines = buf.split(b"\n")
        self._rest = lines.pop()
        out: list[bytes] = []
        data = self._data
        for line in lines:
            if line.startswith(b"data:"):
                data.append(line[6:] if line.startswith(b"data: ") else line[5:])
            elif not line and data:
                out.append(data[0] if len(data) == 1 else b"\n".join(data))
                data = self._data = []
        return out


def _decode(event: bytes) -> Any:
    """One event's JSON, or None; a byte that is not UTF-8 costs one character, as in a text decoder."""
    try:
        return json.loads(event.decode("utf-8", "replace"))
    except ValueError:
        return None


# --- the client -----------------------------------------------------------------------------------
@dataclass
class _Streamed:
    """What one streamed attempt collected."""

    parts: list[str] = field(default_factory=list)
    refusal: list[str] = field(default_factory=list)
    tail: str = ""  # the last REPEAT_WINDOW characters, for loop detection
    length: int = 0
    chunks: int = 0
    choices_seen: bool = False
    model: str | None = None
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    loop_start: int | None = None
    first_chunk_s: float | None = None

    def add_text(self, piece: str) -> None:
        self.parts.append(piece)
        self.length += len(piece)
        self.tail = (self.tail + piece)[-REPEAT_WINDOW:]
        at = find_loop(self.tail)
        if at is not None:
            self.loop_start = self.length - len(self.tail) + at


class LLMClient:
    """One `AsyncOpenAI` client shared by every request, with an adaptive concurrency cap."""

    def __init__(self, settings: Settings) -> None:
        if not settings.llm_configured:
            raise ConfigError("set OPENAI_API_KEY, or OPENAI_BASE_URL for a local server")
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "not-needed"
        self.settings = settings
        self.model = settings.llm_model
        self.mode = settings.llm_response_format
        self._secret = key if settings.openai_api_key else None
        self._client = openai.AsyncOpenAI(
            api_key=key,
            base_url=settings.openai_base_url,
            timeout=settings.llm_timeout_s,  # connect and each read; the stream watchdog measures chunks
            max_retries=0,
            # aiohttp parses a stream's chunks in C: less CPU per brief than httpx/h11
            http_client=openai.DefaultAioHttpClient(),
        )
        self.concurrency = AdaptiveConcurrency(settings.llm_max_concurrency)
        self._retry_base_s = settings.llm_retry_base_s
        self._stream_usage = True  # ask for the usage chunk until a server says it does not know the option
        #: called with the error code of each attempt that is retried (the bot counts them in its metrics)
        self.on_retry: Callable[[str], None] | None = None

    async def close(self) -> None:
        await self._client.close()

    async def list_models(self) -> list[str]:
        """The endpoint's models (no retries): `newsbot check` uses it to see the endpoint answers."""
        page = await self._client.models.list()
        return [m.id for m in page.data]

    async def complete(
        self, messages: list[dict[str, str]], schema: dict[str, Any], *, max_tokens: int | None = None,
        name: str = "brief", allow_cut_off: bool = False, on_text: Callable[[list[str]], None] | None = None,
    ) -> LLMReply:
        """One streamed Chat Completion in the configured structured-output mode, retried as needed.

        An answer cut off by the token limit or stopped because the model looped raises
        `LLMTruncated` (with `.cut_off` and the `.partial` reply); with `allow_cut_off=True` it is
        returned instead, with `reply.cut_off` set, so the caller can salvage what parsed.
        `on_text(parts)` sees the answer's text so far (its pieces, not joined) as chunks arrive.
        """
        fmt = response_format(self.mode, schema, name)
        limit = max_tokens or self.settings.llm_max_completion_tokens
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": self.settings.llm_temperature,
            "max_tokens": limit,
            "stream": True,
        }
        if fmt is not None:
            kwargs["response_format"] = fmt
        # sampling that fights repetition, for models that loop; unset: nothing sent, the server's own
        for name_, value in (("frequency_penalty", self.settings.llm_frequency_penalty),
                             ("presence_penalty", self.settings.llm_presence_penalty)):
            if value is not None:
                kwargs[name_] = value
        if self.settings.llm_extra_body:
            kwargs["extra_body"] = self.settings.llm_extra_body
        started = time.monotonic()
        attempts = 0
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception(retryable),
                stop=stop_after_attempt(self.settings.llm_max_attempts),
                wait=WaitRetryAfter(self._retry_base_s),
                before_sleep=self._log_retry,
                reraise=True,
            ):
                with attempt:
                    attempts += 1
                    got = await self._attempt(kwargs, on_text)
        except (openai.OpenAIError, NoProgress, ConnectionDropped) as exc:
            err = self._to_error(exc)
            # The SDK's exception text quotes the server's body; a server that echoes our headers
            # would put the key into tracebacks through the chained cause, so it is dropped then.
            if self._secret and self._secret in f"{exc} {getattr(exc, 'body', '')}":
                raise err from None
            raise err from exc
        return self._reply(got, messages, limit, time.monotonic() - started, attempts, allow_cut_off)

    async def _attempt(self, kwargs: dict[str, Any], on_text: Callable[[list[str]], None] | None = None) -> _Streamed:
        epoch = await self.concurrency.acquire()
        try:
            try:
                got = await self._stream(kwargs, epoch, on_text)
            except openai.APIStatusError as exc:
                if not (self._stream_usage and 400 <= exc.status_code < 500 and "stream_options" in body_message(exc)):
                    raise
                # an older server that does not know the option: ask again without it, estimate usage
                log.info("the LLM endpoint does not take stream_options; usage will be estimated")
                self._stream_usage = False
                got = await self._stream(kwargs, epoch, on_text)
        except Exception as exc:
            why = overloaded(exc)
            if why:
                self.concurrency.overloaded(epoch, why)
            raise
        else:
            self.concurrency.succeeded()
            return got
        finally:
            self.concurrency.release()

    async def _stream(self, kwargs: dict[str, Any], epoch: int,
                      on_text: Callable[[list[str]], None] | None = None) -> _Streamed:
        """Read one streamed answer; the deadline moves forward as chunks arrive.

        The server-sent events are parsed here from the response's bytes rather than by the SDK's
        `AsyncStream`, which builds a pydantic model per chunk (too slow on the event loop for
        answers of thousands of chunks), or line by line through its text decoders. The
        SDK still sends the request and raises its status errors before the first chunk.

        "No progress for LLM_TIMEOUT_S" is kept without moving the timer on every chunk (a
        token-per-chunk server sends hundreds a second): the deadline is moved `timeout * 1.1` ahead
        once it is nearer than `timeout`, so a stall is cut off between `timeout` and 1.1 × it
        after the last chunk, never sooner.
        """
        timeout = self.settings.llm_timeout_s
        slack = timeout * STALL_SLACK
        loop = asyncio.get_running_loop()
        sent = time.monotonic()
        got = _Streamed()
        extra = {"stream_options": {"include_usage": True}} if self._stream_usage else {}
        try:
            async with asyncio.timeout(timeout) as deadline, \
                    self._client.chat.completions.with_streaming_response.create(**kwargs, **extra) as response:
                http = response.http_response
                if http.headers.get("content-type", "").startswith("application/json"):
                    # a server that ignores `stream` and answers in one piece
                    self._take_whole(got, await response.read())
                    got.first_chunk_s = time.monotonic() - sent
                    return got
                events = SSE()
                request = http.request
                # the raw body when it is not compressed: one generator less per chunk than aiter_bytes
                identity = http.headers.get("content-encoding", "identity").strip().lower() in ("", "identity")
                received = http.aiter_raw() if identity else http.aiter_bytes()
                done = False
                while not done:
                    try:
                        data = await anext(received)
                    except StopAsyncIteration:
                        break
                    except Exception as exc:
                        # the transport failed mid-answer (httpx2 or aiohttp under it)
                        if timed_out(exc):
                            raise NoProgress(timeout, got.chunks) from exc
                        raise ConnectionDropped(got.chunks) from exc
                    batch = events.feed(data)
                    for i, event in enumerate(batch):
                        if event.startswith(b"[DONE]"):
                            batch, done = batch[:i], True
                            break
                    if not batch:
                        continue
                    now = loop.time()
                    if deadline.when() - now < timeout:  # type: ignore[operator]
                        deadline.reschedule(now + timeout + slack)
                    if got.first_chunk_s is None:
                        got.first_chunk_s = time.monotonic() - sent
                        self.concurrency.first_chunk(got.first_chunk_s, epoch)
                    self._take(got, batch, request)
                    if on_text is not None and got.parts:
                        on_text(got.parts)
                    if got.loop_start is not None:
                        done = True  # leaving the block closes the connection: the server stops generating
                await received.aclose()
        except TimeoutError:
            raise NoProgress(timeout, got.chunks) from None
        return got

    @staticmethod
    def _take_whole(got: _Streamed, body: bytes) -> None:
        """A non-streamed completion into `got`, as if it had come in one chunk."""
        try:
            completion = json.loads(body)
        except ValueError:
            completion = None
        if not isinstance(completion, dict):
            raise LLMError("the endpoint's answer is not JSON")
        got.chunks = 1
        got.model = completion.get("model")
        got.usage = completion.get("usage") or None
        for choice in (completion.get("choices") or [])[:1]:
            LLMClient._take_choice(got, choice, "message")

    @staticmethod
    def _take(got: _Streamed, events: list[bytes], request: Any) -> None:
        """The chunks of the answer that arrived together into `got`, in order, up to a loop.

        They are decoded as one JSON array rather than each of an answer's ~200 events on its own,
        which costs the event loop less CPU per call. A batch that is not one object per event (a
        keep-alive, a bad byte, an event of
        two values) is decoded one event at a time, so each is read as it would be alone.
        """
        try:
            chunks = json.loads(b"[" + b",".join(events) + b"]")
        except ValueError:
            chunks = None
        if not (chunks is not None and len(chunks) == len(events) and all(isinstance(c, dict) for c in chunks)):
            chunks = [_decode(e) for e in events]
        for chunk in chunks:
            if not isinstance(chunk, dict):
                continue  # not a chunk (some servers send odd keep-alives as data)
            got.chunks += 1
            if chunk.get("error") and not chunk.get("choices"):
                err = chunk["error"]
                message = (err.get("message") if isinstance(err, dict) else None) or "error in the stream"
                raise openai.APIError(str(message), request, body=err)
            got.model = got.model or chunk.get("model")
            if chunk.get("usage"):
                got.usage = chunk["usage"]
            for choice in (chunk.get("choices") or [])[:1]:
                LLMClient._take_choice(got, choice, "delta")
            if got.loop_start is not None:
                return  # the answer is cut here: what came after the loop is not read

    @staticmethod
    def _take_choice(got: _Streamed, choice: dict[str, Any], part: str) -> None:
        """One choice's refusal, text and finish into `got`; `part` holds what it says: "delta" in a
        streamed chunk, "message" in a whole completion."""
        got.choices_seen = True
        said = choice.get(part) or {}
        if said.get("refusal"):
            got.refusal.append(str(said["refusal"]))
        if said.get("content"):
            got.add_text(str(said["content"]))
        if choice.get("finish_reason"):
            got.finish_reason = choice["finish_reason"]

    def _reply(self, got: _Streamed, messages: list[dict[str, str]], limit: int, seconds: float,
               attempts: int, allow_cut_off: bool) -> LLMReply:
        if got.refusal:
            raise LLMRefused(one_line("".join(got.refusal), self._secret, 200))
        if got.finish_reason == "content_filter":
            raise LLMRefused("the provider's content filter stopped the answer")
        if not got.choices_seen:
            raise LLMError("the endpoint returned no choices")
        text = "".join(got.parts)
        usage, estimated = self._usage(got.usage, messages, text)
        cut_off: CutOff | None = None
        if got.loop_start is not None:
            cut_off = "repetition"
        elif got.finish_reason == "length":
            cut_off = "length"
        reply = LLMReply(
            text=text, usage=usage, model=got.model or self.model, seconds=seconds, attempts=attempts,
            finish_reason=got.finish_reason, cut_off=cut_off, loop_start=got.loop_start,
            usage_estimated=estimated, first_chunk_s=got.first_chunk_s,
        )
        if cut_off == "repetition":
            assert got.loop_start is not None
            period = len(text) - got.loop_start
            log.warning("LLM answer stopped: the model repeated itself (%d characters from %d on)",
                        period, got.loop_start)
            if not allow_cut_off:
                raise LLMTruncated(
                    f"the model repeated itself and was stopped after {len(text)} characters; a higher "
                    f"LLM_MAX_COMPLETION_TOKENS would not help: try again, or use a stronger model",
                    cut_off="repetition", partial=reply)
        elif cut_off == "length" and not allow_cut_off:
            raise LLMTruncated(
                f"the answer hit the token limit after {usage.completion_tokens} tokens: raise "
                f"LLM_MAX_COMPLETION_TOKENS (now {limit}) if briefs are that long; a model that rambles "
                f"needs a stronger model instead",
                cut_off="length", partial=reply, setting="LLM_MAX_COMPLETION_TOKENS")
        return reply

    @staticmethod
    def _usage(reported: dict[str, Any] | None, messages: list[dict[str, str]], text: str) -> tuple[Usage, bool]:
        if isinstance(reported, dict):
            details = reported.get("prompt_tokens_details")
            return Usage(
                prompt_tokens=int(reported.get("prompt_tokens") or 0),
                completion_tokens=int(reported.get("completion_tokens") or 0),
                cached_tokens=int((details.get("cached_tokens") if isinstance(details, dict) else 0) or 0),
            ), False
        # Quotas and /usage still need a figure; a few tokens per message for the chat template.
        prompt = sum(estimate_tokens(str(m.get("content") or "")) + 4 for m in messages)
        return Usage(prompt_tokens=prompt, completion_tokens=estimate_tokens(text)), True

    def _log_retry(self, retry_state: Any) -> None:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome else None
        if exc is None:
            return
        wait = retry_state.next_action.sleep if retry_state.next_action else 0.0
        error = self._to_error(exc)
        log.warning("LLM attempt %d failed (%s); retrying in %.1f s", retry_state.attempt_number, error.detail, wait)
        if self.on_retry is not None:
            self.on_retry(error.code)

    def _to_error(self, exc: BaseException) -> LLMError:
        """Translate SDK errors into ours, with a message an operator can act on and no key in it."""
        secret = self._secret
        timeout = self.settings.llm_timeout_s
        if timed_out(exc):
            where = (f"after {exc.chunks} chunk(s)" if isinstance(exc, NoProgress) and exc.chunks
                     else "before its first token")
            return LLMUnavailable(
                f"the model did not answer in time: nothing new for {timeout:g} s {where} "
                f"(raise LLM_TIMEOUT_S, now {timeout:g}, for a slow model)", setting="LLM_TIMEOUT_S")
        if isinstance(exc, openai.APIConnectionError):
            return LLMUnavailable("cannot connect to the LLM endpoint", setting="OPENAI_BASE_URL")
        if isinstance(exc, ConnectionDropped):
            return LLMUnavailable(f"the connection to the LLM endpoint dropped mid-answer ({exc.chunks} chunks in)")
        if not isinstance(exc, openai.APIError):
            return LLMError(one_line(str(exc), secret, 200))
        reason = one_line(body_message(exc), secret)
        status = exc.status_code if isinstance(exc, openai.APIStatusError) else None
        said = f": {reason}" if reason else ""
        if isinstance(exc, openai.RateLimitError):
            if error_code(exc) == "insufficient_quota":
                return LLMUnavailable(f"the LLM account's quota is used up{said}", status=429, reason=reason)
            return LLMUnavailable(f"rate limited by the LLM provider{said}", status=429, reason=reason)
        if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
            return LLMAuthError(f"HTTP {status}: check OPENAI_API_KEY{said}", status=status, reason=reason,
                                setting="OPENAI_API_KEY")
        if isinstance(exc, openai.NotFoundError):
            return LLMError(f"HTTP 404: check LLM_MODEL and OPENAI_BASE_URL{said}", status=404, reason=reason,
                            setting="LLM_MODEL")
        http = f"HTTP {status}" if status else "error mid-answer"
        if request_caused(exc) or (status is not None and 400 <= status < 500 and status not in (408, 409)):
            hint, setting = self._hint(reason)
            return LLMRequestRejected(f"{http}{said}{hint}", status=status, reason=reason, setting=setting)
        return LLMUnavailable(f"the LLM endpoint failed ({http}){said}", status=status, reason=reason)

    def _hint(self, reason: str) -> tuple[str, str | None]:
        if FORMAT.search(reason) and self.mode != "none":
            other = "json_object" if self.mode == "json_schema" else "none"
            return (f" (this server does not take response_format {self.mode}: try "
                    f"LLM_RESPONSE_FORMAT={other})"), "LLM_RESPONSE_FORMAT"
        if CONTEXT.search(reason):
            return (" (the article and the answer do not fit the model's context: lower ARTICLE_MAX_CHARS "
                    "or LLM_MAX_COMPLETION_TOKENS, or give the server a larger context)"), "ARTICLE_MAX_CHARS"
        return "", None
