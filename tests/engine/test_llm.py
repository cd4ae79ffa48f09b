"""The real AsyncOpenAI client against a loopback OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import traceback
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from itertools import pairwise
from typing import Any

import aiohttp
import httpx
import openai
import pytest

from bot.engine.concurrency import START_CONCURRENCY
from bot.engine.llm import LLMClient, find_loop
from bot.engine.llm_errors import timed_out
from bot.ops.config import Settings
from bot.ops.errors import LLMAuthError, LLMError, LLMRefused, LLMRequestRejected, LLMTruncated, LLMUnavailable
from tests.fakes.openai_server import FakeLLM, Reply, completion, error

SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"],
          "additionalProperties": False}
MESSAGES = [{"role": "user", "content": "hi"}]


async def ask(settings: Settings) -> str:
    llm = LLMClient(settings)
    try:
        return (await llm.complete(MESSAGES, SCHEMA)).text
    finally:
        await llm.close()


async def test_429_twice_then_success_honours_retry_after(settings: Settings, llm_server: FakeLLM) -> None:
    llm_server.script = [error(429, "slow down", retry_after="0.05"),
                         error(429, "slow down", retry_after_ms="10"), completion('{"ok": true}')]
    assert json.loads(await ask(settings)) == {"ok": True}
    assert llm_server.calls == 3


async def test_500_then_success(settings: Settings, llm_server: FakeLLM) -> None:
    llm_server.script = [error(500, "boom"), completion('{"ok": true}')]
    assert json.loads(await ask(settings)) == {"ok": True}
    assert llm_server.calls == 2


async def test_persistent_503_gives_unavailable_after_max_attempts(settings: Settings, llm_server: FakeLLM) -> None:
    llm_server.script = [error(503, "down")] * 10
    with pytest.raises(LLMUnavailable):
        await ask(settings)
    assert llm_server.calls == settings.llm_max_attempts


@pytest.mark.parametrize(("status", "kind"), [(400, LLMError), (401, LLMAuthError), (403, LLMAuthError), (404, LLMError)])
async def test_client_errors_are_never_retried(settings: Settings, llm_server: FakeLLM, status: int, kind: type) -> None:
    llm_server.script = [error(status, "no")] + [completion('{"ok": true}')] * 3
    with pytest.raises(kind):
        await ask(settings)
    assert llm_server.calls == 1


async def test_quota_exhausted_is_not_retried(settings: Settings, llm_server: FakeLLM) -> None:
    llm_server.script = [error(429, "quota", code="insufficient_quota")] * 3
    with pytest.raises(LLMUnavailable, match="quota"):
        await ask(settings)
    assert llm_server.calls == 1


async def test_stall_longer_than_timeout_is_retried_then_reported(settings: Settings, llm_server: FakeLLM) -> None:
    slow = settings.model_copy(update={"llm_timeout_s": 0.3, "llm_max_attempts": 2})
    llm_server.script = [Reply(delay=1.5, body={}), Reply(delay=1.5, body={})]
    with pytest.raises(LLMUnavailable, match="in time"):
        await ask(slow)
    assert llm_server.calls == 2


async def test_stall_then_answer(settings: Settings, llm_server: FakeLLM) -> None:
    slow = settings.model_copy(update={"llm_timeout_s": 0.3})
    llm_server.script = [Reply(delay=1.0, body={}), completion('{"ok": true}')]
    assert json.loads(await ask(slow)) == {"ok": True}


async def test_refusal_is_a_clear_error(settings: Settings, llm_server: FakeLLM) -> None:
    llm_server.script = [completion(None, refusal="I can't help with that.")]
    with pytest.raises(LLMRefused, match="can't help"):
        await ask(settings)


async def test_length_cutoff_is_a_clear_error(settings: Settings, llm_server: FakeLLM) -> None:
    llm_server.script = [completion('{"ok": tr', finish_reason="length")]
    with pytest.raises(LLMTruncated, match="LLM_MAX_COMPLETION_TOKENS"):
        await ask(settings)


async def test_connection_refused_is_unavailable(settings: Settings) -> None:
    dead = settings.model_copy(update={"openai_base_url": "http://127.0.0.1:9/v1", "llm_max_attempts": 2})
    with pytest.raises(LLMUnavailable, match="connect"):
        await ask(dead)


@pytest.mark.parametrize("mode", ["json_schema", "json_object", "none"])
async def test_response_format_modes(settings: Settings, llm_server: FakeLLM, mode: str) -> None:
    llm_server.script = [completion('{"ok": true}')]
    await ask(settings.model_copy(update={"llm_response_format": mode}))
    sent = llm_server.requests[0]
    if mode == "json_schema":
        assert sent["response_format"]["type"] == "json_schema"
        assert sent["response_format"]["json_schema"]["strict"] is True
        assert sent["response_format"]["json_schema"]["schema"] == SCHEMA
    elif mode == "json_object":
        assert sent["response_format"] == {"type": "json_object"}
    else:
        assert "response_format" not in sent


async def test_key_is_sent_as_bearer_and_never_in_the_body(settings: Settings, llm_server: FakeLLM) -> None:
    llm_server.script = [completion('{"ok": true}')]
    await ask(settings)
    assert llm_server.headers[0]["authorization"] == "Bearer sk-test-not-a-real-key"
    assert "sk-test" not in json.dumps(llm_server.requests[0])


# --- streaming: LLM_TIMEOUT_S is a time without progress ------------------------------------------
@asynccontextmanager
async def client(settings: Settings, **update: Any) -> AsyncIterator[LLMClient]:
    llm = LLMClient(settings.model_copy(update=update))
    try:
        yield llm
    finally:
        await llm.close()


async def test_the_completion_is_streamed_with_usage_requested(settings: Settings, llm_server: FakeLLM) -> None:
    llm_server.script = [completion('{"ok": true}', prompt_tokens=42, completion_tokens=7, cached_tokens=3,
                                    model="served-model")]
    async with client(settings) as llm:
        reply = await llm.complete(MESSAGES, SCHEMA)
    assert llm_server.requests[0]["stream"] is True
    assert llm_server.requests[0]["stream_options"] == {"include_usage": True}
    assert (reply.text, reply.model, reply.finish_reason, reply.cut_off) == ('{"ok": true}', "served-model", "stop", None)
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.cached_tokens) == (42, 7, 3)
    assert not reply.usage_estimated


async def test_slow_but_steady_answer_finishes_though_it_takes_longer_than_the_timeout(
        settings: Settings, llm_server: FakeLLM) -> None:
    answer = '{"ok": true, "note": "written slowly, a few characters at a time"}'
    llm_server.script = [completion(answer, chunk_chars=4, chunk_delay=0.05)]  # ~18 chunks: ~0.9 s in all
    async with client(settings, llm_timeout_s=0.3, llm_max_attempts=1) as llm:
        reply = await llm.complete(MESSAGES, SCHEMA)
    assert reply.text == answer
    assert reply.seconds > 0.3  # longer than the timeout in total, never 0.3 s without a chunk
    assert llm_server.calls == 1


async def test_answer_that_stalls_midway_times_out_after_the_timeout_and_names_the_setting(
        settings: Settings, llm_server: FakeLLM) -> None:
    llm_server.script = [completion('{"ok": true, "padding": "................"}', chunk_chars=4,
                                    stall_after=4, stall=30)]
    async with client(settings, llm_timeout_s=0.3, llm_max_attempts=1) as llm:
        started = time.monotonic()
        with pytest.raises(LLMUnavailable, match="LLM_TIMEOUT_S") as caught:
            await llm.complete(MESSAGES, SCHEMA)
        assert time.monotonic() - started < 3  # the stall lasts 30 s: we gave up 0.3 s after the last chunk
        assert caught.value.setting == "LLM_TIMEOUT_S"
        assert "chunk" in str(caught.value)  # mid-answer, not before it started
        assert llm.concurrency.limit == START_CONCURRENCY // 2  # a timeout is a sign of overload: the cap halves


async def test_stalled_answer_is_retried_and_the_next_attempt_succeeds(settings: Settings, llm_server: FakeLLM) -> None:
    llm_server.script = [completion('{"ok": false, "x": "....."}', chunk_chars=4, stall_after=3, stall=30),
                         completion('{"ok": true}')]
    async with client(settings, llm_timeout_s=0.3) as llm:
        reply = await llm.complete(MESSAGES, SCHEMA)
    assert json.loads(reply.text) == {"ok": True}
    assert reply.attempts == 2


def _chain(*errors: BaseException) -> BaseException:
    """The outermost error, each caused by the next (`raise … from`), as the transports chain them."""
    for outer, inner in pairwise(errors):
        outer.__cause__ = inner
    return errors[0]


def _api_timeout() -> openai.APITimeoutError:
    return openai.APITimeoutError(request=httpx.Request("POST", "http://127.0.0.1/v1/chat/completions"))


@pytest.mark.parametrize(("error", "slow"), [
    # the SDK's aiohttp transport reports every aiohttp connection error as a connect timeout
    (lambda: _chain(_api_timeout(), httpx.ConnectTimeout("x"), aiohttp.ClientOSError(111, "Connection refused")),
     False),
    (lambda: _chain(_api_timeout(), httpx.ConnectTimeout("x"), aiohttp.ServerDisconnectedError()), False),
    (lambda: _chain(_api_timeout(), httpx.ConnectTimeout("x"), aiohttp.ConnectionTimeoutError()), True),
    (lambda: _chain(_api_timeout(), httpx.ReadTimeout("x"), aiohttp.SocketTimeoutError()), True),
    (lambda: _chain(_api_timeout(), httpx.ReadTimeout("x"), TimeoutError()), True),  # the default stack
    (lambda: _chain(httpx.ReadError("x"), aiohttp.ClientPayloadError("cut")), False),  # mid-answer
])
def test_only_a_real_timeout_counts_as_the_model_being_slow(error: Any, slow: bool) -> None:
    assert timed_out(error()) is slow


def test_an_error_being_handled_when_a_timeout_came_does_not_make_it_a_refusal() -> None:
    try:
        try:
            raise OSError("an unrelated failure, already handled")
        except OSError:
            raise _api_timeout()  # noqa: B904  (the context, not the cause)
    except openai.APITimeoutError as exc:
        assert timed_out(exc)


async def test_connection_that_breaks_midway_is_retried_and_reported_as_dropped_not_as_slow(
        settings: Settings, llm_server: FakeLLM) -> None:
    broken = completion('{"ok": true, "padding": "................"}', chunk_chars=4, drop_after=3)
    llm_server.script = [broken, broken]
    async with client(settings, llm_timeout_s=5, llm_max_attempts=2) as llm:
        with pytest.raises(LLMUnavailable, match="dropped mid-answer") as caught:
            await llm.complete(MESSAGES, SCHEMA)
        assert caught.value.setting is None  # not "raise LLM_TIMEOUT_S": the server did not stall
        assert llm.concurrency.limit == START_CONCURRENCY  # a broken connection says nothing about load
    assert llm_server.calls == 2


async def test_server_without_usage_gets_an_estimate(settings: Settings, llm_server: FakeLLM) -> None:
    llm_server.script = [completion('{"ok": true, "summary": "' + "word " * 40 + '"}', stream_usage=False)]
    async with client(settings) as llm:
        reply = await llm.complete(MESSAGES, SCHEMA)
    assert reply.usage_estimated
    assert reply.usage.prompt_tokens > 0 and 40 < reply.usage.completion_tokens < 200


async def test_server_that_does_not_know_stream_options_is_asked_again_without(
        settings: Settings, llm_server: FakeLLM) -> None:
    llm_server.script = [error(400, "Unrecognized request argument supplied: stream_options"), completion('{"ok": true}')]
    async with client(settings, llm_max_attempts=1) as llm:  # asking again is not a retry
        reply = await llm.complete(MESSAGES, SCHEMA)
        await llm.complete(MESSAGES, SCHEMA)
    assert json.loads(reply.text) == {"ok": True}
    assert "stream_options" not in llm_server.requests[1] and "stream_options" not in llm_server.requests[2]
    assert reply.usage_estimated


async def test_server_that_ignores_stream_and_answers_in_one_piece(settings: Settings, llm_server: FakeLLM) -> None:
    whole = completion('{"ok": true}', completion_tokens=4, model="old-server")
    whole.stream = False
    llm_server.script = [whole]
    async with client(settings) as llm:
        reply = await llm.complete(MESSAGES, SCHEMA)
    assert (reply.text, reply.model, reply.usage.completion_tokens, reply.cut_off) == ('{"ok": true}', "old-server", 4, None)


# --- runaway answers ------------------------------------------------------------------------------
ITEM = '{"actor": "The ministry of foreign affairs", "said": "we call on all parties to return to the talks"}, '
LOOPING = '{"ok": true, "items": [' + ITEM * 40


async def test_a_model_that_repeats_itself_is_stopped_and_what_it_wrote_comes_back(
        settings: Settings, llm_server: FakeLLM) -> None:
    llm_server.script = [completion(LOOPING, finish_reason="length", chunk_chars=8, chunk_delay=0.005)]
    async with client(settings) as llm:
        reply = await llm.complete(MESSAGES, SCHEMA, allow_cut_off=True)
    assert reply.cut_off == "repetition"
    assert len(reply.text) < len(LOOPING) / 4  # stopped after the third copy, not at the token limit
    assert LOOPING.startswith(reply.text)
    assert reply.loop_start is not None and reply.text[:reply.loop_start].count(ITEM) == 1
    assert await asyncio.to_thread(llm_server.hung_up.wait, 5)  # the server saw us hang up: generation stops
    assert llm_server.calls == 1


async def test_repetition_without_opt_in_is_an_error_with_the_right_advice(settings: Settings, llm_server: FakeLLM) -> None:
    llm_server.script = [completion(LOOPING, chunk_chars=16)]
    async with client(settings) as llm:
        with pytest.raises(LLMTruncated, match="repeated itself") as caught:
            await llm.complete(MESSAGES, SCHEMA)
    assert caught.value.cut_off == "repetition"
    assert "would not help" in str(caught.value)  # not "raise LLM_MAX_COMPLETION_TOKENS"
    assert caught.value.partial.text.startswith('{"ok": true, "items": [')


async def test_same_evidence_in_different_items_is_not_a_loop(settings: Settings, llm_server: FakeLLM) -> None:
    evidence = "Egypt and Qatar called on Israel and Hamas to return to the negotiations immediately, officials said"
    items = [f'{{"actor": "{a}", "target": "{t}", "means": "{m}", "evidence": "{evidence}"}}'
             for a, t, m in [("egypt", "israel", "public statement"), ("qatar", "hamas", "mediation"),
                             ("egypt", "hamas", "a visit to Cairo by the intelligence chief")]]
    answer = '{"ok": true, "pressures": [' + ", ".join(items) + "]}"
    llm_server.script = [completion(answer, chunk_chars=5)]
    async with client(settings) as llm:
        reply = await llm.complete(MESSAGES, SCHEMA)
    assert reply.text == answer and reply.cut_off is None


async def test_length_cutoff_can_be_returned_instead_of_raised(settings: Settings, llm_server: FakeLLM) -> None:
    llm_server.script = [completion('{"ok": tr', finish_reason="length"), completion('{"ok": tr', finish_reason="length")]
    async with client(settings) as llm:
        reply = await llm.complete(MESSAGES, SCHEMA, allow_cut_off=True)
        with pytest.raises(LLMTruncated) as caught:
            await llm.complete(MESSAGES, SCHEMA)
    assert (reply.text, reply.cut_off, reply.finish_reason) == ('{"ok": tr', "length", "length")
    assert caught.value.cut_off == "length" and caught.value.partial.text == '{"ok": tr'
    assert caught.value.setting == "LLM_MAX_COMPLETION_TOKENS"


# --- server errors: shown, and not retried when the request is the cause --------------------------
LLAMA_CPP_PYTHON = ("1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
                    "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema'}")


@pytest.mark.parametrize(("status", "message", "shown", "setting"), [
    (500, LLAMA_CPP_PYTHON, "Input should be 'text' or 'json_object'", "LLM_RESPONSE_FORMAT"),
    (500, 'response_format type must be one of "text" or "json_object", but got: json_schema', "but got: json_schema",
     "LLM_RESPONSE_FORMAT"),
    (400, "the request exceeds the available context size, try increasing it", "exceeds the available context size",
     "ARTICLE_MAX_CHARS"),
    (500, "This model's maximum context length is 8192 tokens", "maximum context length", "ARTICLE_MAX_CHARS"),
    (422, "unsupported value: 'strict'", "unsupported value", None),
])
async def test_error_that_names_the_request_is_not_retried_and_its_reason_is_shown(
        settings: Settings, llm_server: FakeLLM, status: int, message: str, shown: str, setting: str | None) -> None:
    llm_server.script = [error(status, message)] + [completion('{"ok": true}')] * 3
    async with client(settings) as llm:
        with pytest.raises(LLMRequestRejected) as caught:
            await llm.complete(MESSAGES, SCHEMA)
    assert llm_server.calls == 1
    assert shown in str(caught.value) and "\n" not in caught.value.detail
    assert (caught.value.status, caught.value.setting) == (status, setting)
    if setting == "LLM_RESPONSE_FORMAT":
        assert "LLM_RESPONSE_FORMAT=json_object" in str(caught.value)


@pytest.mark.parametrize(("status", "message"), [
    (500, "Internal Server Error"), (502, "Bad gateway: invalid response from upstream"), (503, "Service Unavailable"),
])
async def test_plain_server_failures_are_still_retried(settings: Settings, llm_server: FakeLLM, status: int,
                                                       message: str) -> None:
    llm_server.script = [error(status, message), completion('{"ok": true}')]
    assert json.loads(await ask(settings)) == {"ok": True}
    assert llm_server.calls == 2


async def test_persistent_server_failure_shows_the_server_reason(settings: Settings, llm_server: FakeLLM) -> None:
    llm_server.script = [error(500, "CUDA error: out of memory")] * 4
    with pytest.raises(LLMUnavailable, match=r"HTTP 500.*CUDA error: out of memory"):
        await ask(settings)


async def test_error_event_mid_stream_that_names_the_request_is_not_retried(settings: Settings,
                                                                            llm_server: FakeLLM) -> None:
    started = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
               "choices": [{"index": 0, "delta": {"content": '{"ok": '}, "finish_reason": None}]}
    failed = {"error": {"message": "context size exceeded while generating", "type": "server_error"}}
    llm_server.script = [Reply(sse=[json.dumps(started), json.dumps(failed)])] + [completion('{"ok": true}')] * 3
    with pytest.raises(LLMRequestRejected, match="context size exceeded"):
        await ask(settings)
    assert llm_server.calls == 1


@pytest.mark.parametrize(("status", "message"), [(500, "boom"), (500, "invalid response_format"), (400, "bad"),
                                                 (401, "who are you")])
async def test_the_key_never_leaks_from_a_server_that_echoes_headers(
        settings: Settings, llm_server: FakeLLM, caplog: pytest.LogCaptureFixture, status: int, message: str) -> None:
    echo = error(status, message)
    echo.echo_headers = True
    llm_server.script = [echo] * settings.llm_max_attempts
    caplog.set_level(logging.INFO)
    with pytest.raises(LLMError) as caught:
        await ask(settings)
    assert "sk-test" in json.dumps(llm_server.headers[0])  # the key was sent, and the body echoed it back
    shown = [str(caught.value), repr(caught.value), caught.value.user_message, caught.value.reason or "",
             "".join(traceback.format_exception(caught.value)), caplog.text]
    assert message in str(caught.value)
    assert not any("sk-test" in text for text in shown)


# --- adaptive concurrency -------------------------------------------------------------------------
async def test_429s_halve_the_cap_and_successes_grow_it_back(settings: Settings, llm_server: FakeLLM) -> None:
    llm_server.script = [error(429, "slow down", retry_after="0")] * 3 + [completion('{"ok": true}')] * 4
    async with client(settings, llm_max_concurrency=32) as llm:
        assert llm.concurrency.limit == 32
        await llm.complete(MESSAGES, SCHEMA)
        assert llm.concurrency.limit == 32 // 2 // 2 // 2 + 1
        for _ in range(3):
            await llm.complete(MESSAGES, SCHEMA)
        assert llm.concurrency.limit == 8
        assert llm.concurrency.in_flight == 0


async def test_a_burst_of_429s_from_one_moment_halves_the_cap_once(settings: Settings, llm_server: FakeLLM) -> None:
    throttled = error(429, "slow down", retry_after="0.3")  # the retries come after the whole burst
    throttled.delay = 0.1  # all eight are in flight before the first 429 comes back
    llm_server.script = [throttled] * 8
    async with client(settings) as llm:
        await asyncio.gather(*(llm.complete(MESSAGES, SCHEMA) for _ in range(8)))
        assert llm.concurrency.decreases == 1, (llm.concurrency.snapshot(), llm.concurrency.last_decrease)
        assert llm.concurrency.limit == START_CONCURRENCY // 2 + 8


async def test_the_ceiling_holds(settings: Settings, llm_server: FakeLLM) -> None:
    async with client(settings, llm_max_concurrency=3) as llm:
        for _ in range(5):
            await llm.complete(MESSAGES, SCHEMA)
        assert llm.concurrency.limit == 3


async def test_requests_beyond_the_cap_wait_for_a_slot(settings: Settings, llm_server: FakeLLM) -> None:
    llm_server.delay = 0.15
    async with client(settings, llm_max_concurrency=2) as llm:
        calls = [asyncio.create_task(llm.complete(MESSAGES, SCHEMA)) for _ in range(5)]
        await asyncio.sleep(0)  # let every call ask for its slot
        assert (llm.concurrency.in_flight, llm.concurrency.waiting) == (2, 3)
        await asyncio.gather(*calls)
        assert (llm.concurrency.in_flight, llm.concurrency.waiting) == (0, 0)
    assert llm_server.max_in_flight == 2 and llm_server.calls == 5


async def test_a_call_cancelled_while_waiting_gives_no_slot_away(settings: Settings, llm_server: FakeLLM) -> None:
    llm_server.delay = 0.2
    async with client(settings, llm_max_concurrency=1) as llm:
        first = asyncio.create_task(llm.complete(MESSAGES, SCHEMA))
        second = asyncio.create_task(llm.complete(MESSAGES, SCHEMA))
        await asyncio.sleep(0)
        second.cancel()
        await first
        with pytest.raises(asyncio.CancelledError):
            await second
        llm_server.delay = 0
        await llm.complete(MESSAGES, SCHEMA)
        assert llm.concurrency.in_flight == 0
    assert llm_server.calls == 2


async def test_queueing_at_the_server_halves_the_cap(settings: Settings, llm_server: FakeLLM) -> None:
    async with client(settings) as llm:
        llm.concurrency.queue_min_extra_s = 0.2
        for _ in range(5):
            await llm.complete(MESSAGES, SCHEMA)
        queued = completion('{"ok": true}')
        queued.delay = 0.4  # the first chunk comes far later than the recent ones
        llm_server.script = [queued]
        await llm.complete(MESSAGES, SCHEMA)
        assert llm.concurrency.limit == START_CONCURRENCY // 2 + 1
        assert (llm.concurrency.last_decrease or "").startswith("queueing")


def test_one_quote_given_to_three_parties_is_not_a_loop() -> None:
    quote = "«لن نقبل بأي اتفاق لا يضمن وقفًا دائمًا لإطلاق النار وانسحابًا كاملًا من القطاع»"
    items = [f'{{"actor": "{who}", "stance": {{"ar": "ترفض الاتفاق", "en": "rejects the deal"}}, '
             f'"quote": "{quote}", "source_ids": ["s1"]}}' for who in ("egypt", "qatar_government", "jordan")]
    assert find_loop('{"positions": [' + ", ".join(items)) is None
    looping = '{"positions": [' + ", ".join([items[0]] * 3)
    assert find_loop(looping) is not None  # the same item three times over still is


def test_server_sent_events_are_read_across_any_split_and_line_ending() -> None:
    from bot.engine.llm import SSE

    stream = (b': keep-alive\r\n\r\ndata: {"a": 1}\r\n\r\nevent: x\ndata: {"b":\ndata: 2}\n\n'
              b'data:{"c": "\xd8\xb9"}\r\rid: 7\n\ndata: [DONE]\n\n')
    want = [b'{"a": 1}', b'{"b":\n2}', b'{"c": "\xd8\xb9"}', b"[DONE]"]
    for size in (1, 2, 3, 7, len(stream)):  # every way of cutting the bytes, CR and LF apart included
        sse = SSE()
        got = [e for i in range(0, len(stream), size) for e in sse.feed(stream[i:i + size])]
        assert got == want, size
    assert [json.loads(e) for e in want[:3]] == [{"a": 1}, {"b": 2}, {"c": "ع"}]


async def test_a_chunk_every_so_often_below_the_timeout_is_never_cut_off(settings: Settings,
                                                                          llm_server: FakeLLM) -> None:
    # the deadline is moved lazily: a pause just under LLM_TIMEOUT_S after many quick chunks still passes
    answer = '{"ok": true, "pad": "' + "x" * 200 + '"}'
    llm_server.script = [completion(answer, chunk_chars=2, chunk_delay=0.0, stall_after=60, stall=0.2)]
    async with client(settings, llm_timeout_s=0.3, llm_max_attempts=1) as llm:
        reply = await llm.complete(MESSAGES, SCHEMA)
    assert json.loads(reply.text)["ok"] is True
    assert llm_server.calls == 1


async def test_a_compressed_stream_is_decoded(settings: Settings) -> None:
    # most servers send server-sent events as they are; one behind a compressing proxy sends gzip
    import gzip

    import httpx2
    import openai

    def handler(request: httpx2.Request) -> httpx2.Response:
        chunk = {"id": "x", "object": "chat.completion.chunk", "model": "m"}
        events = [{**chunk, "choices": [{"index": 0, "delta": {"content": part}, "finish_reason": None}]}
                  for part in ('{"ok"', ": true}")]
        events.append({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
        return httpx2.Response(200, headers={"content-type": "text/event-stream", "content-encoding": "gzip"},
                               content=gzip.compress(body.encode()))

    llm = LLMClient(settings)
    await llm.close()
    llm._client = openai.AsyncOpenAI(api_key="sk-test", base_url="http://llm.test/v1", max_retries=0,
                                     http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(handler)))
    try:
        assert json.loads((await llm.complete(MESSAGES, SCHEMA)).text) == {"ok": True}
    finally:
        await llm.close()


def test_a_byte_that_is_not_utf8_costs_one_character_not_the_chunk() -> None:
    from bot.engine.llm import _Streamed

    got = _Streamed()
    chunk = b'{"choices": [{"index": 0, "delta": {"content": "ok \xff fine"}}]}'
    LLMClient._take(got, [chunk], None)
    assert "".join(got.parts) == "ok \ufffd fine"


def test_chunks_that_arrive_together_are_read_as_one_at_a_time_up_to_a_loop() -> None:
    from bot.engine.llm import _Streamed

    def event(content: str) -> bytes:
        return json.dumps({"model": "m", "choices": [{"index": 0, "delta": {"content": content}}]}).encode()

    item = '{"actor": "Mediators pressed both sides to return to talks at once", "said": "no"}, '
    text = '{"positions": [' + item * 12
    events = [event(text[i:i + 7]) for i in range(0, len(text), 7)]
    # what comes after the loop must not count: a refusal, the finish and the usage
    events.append(json.dumps({"choices": [{"index": 0, "delta": {"refusal": "no"}, "finish_reason": "length"}],
                              "usage": {"completion_tokens": 9}}).encode())
    alone, together = _Streamed(), _Streamed()
    for e in events:
        LLMClient._take(alone, [e], None)
        if alone.loop_start is not None:
            break
    LLMClient._take(together, events, None)
    assert alone.loop_start is not None
    assert (together.loop_start, together.parts, together.chunks) == (alone.loop_start, alone.parts, alone.chunks)
    assert "".join(together.parts)[:together.loop_start].count(item) == 1
    assert together.refusal == [] and together.finish_reason is None and together.usage is None


def test_events_that_arrive_together_are_read_as_each_would_be_alone() -> None:
    from bot.engine.llm import _Streamed

    def piece(text: str) -> bytes:
        return json.dumps({"choices": [{"index": 0, "delta": {"content": text}}]}).encode()

    got = _Streamed()
    # an event that is two chunks side by side is not one JSON value: skipped, as alone
    LLMClient._take(got, [piece("one "), piece("bad ") + b", " + piece("bad "), piece("two ")], None)
    # a keep-alive that is not JSON among the chunks
    LLMClient._take(got, [piece("three "), b"ping", piece("four ")], None)
    # two broken events that make one list and one chunk in an array: neither is a chunk alone
    LLMClient._take(got, [b"[" + piece("bad "), piece("bad ") + b"], " + piece("bad ")], None)
    LLMClient._take(got, [piece("five")], None)
    assert "".join(got.parts) == "one two three four five"
    assert got.chunks == 5


async def test_sampling_against_repetition_is_sent_only_when_configured(settings: Settings,
                                                                        llm_server: FakeLLM) -> None:
    llm_server.script = [completion('{"ok": true}')] * 2
    async with client(settings) as llm:
        await llm.complete(MESSAGES, SCHEMA)
    plain = llm_server.requests[-1]
    assert "frequency_penalty" not in plain and "presence_penalty" not in plain and "repeat_penalty" not in plain
    tuned = Settings.model_validate({**settings.model_dump(), "llm_frequency_penalty": 0.4,
                                     "llm_extra_body": {"repeat_penalty": 1.1}})
    async with client(tuned) as llm:
        await llm.complete(MESSAGES, SCHEMA)
    sent = llm_server.requests[-1]
    assert sent["frequency_penalty"] == 0.4 and sent["repeat_penalty"] == 1.1 and "presence_penalty" not in sent
