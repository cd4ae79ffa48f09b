"""The real AsyncOpenAI client against a loopback OpenAI-compatible server."""

from __future__ import annotations

import json

import pytest

from bot.config import Settings
from bot.errors import LLMAuthError, LLMError, LLMRefused, LLMTruncated, LLMUnavailable
from bot.llm import LLMClient
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
