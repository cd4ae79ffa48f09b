"""`newsbot check` in user words: what it tried, what it saw, and advice that follows from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.ops.doctor import run_checks
from tests.fakes.botapi_server import FakeBotAPI
from tests.fakes.openai_server import FakeLLM, completion, error


@pytest.fixture
def env_file(tmp_path: Path, llm_server: FakeLLM, botapi: FakeBotAPI) -> Path:
    path = tmp_path / ".env"
    path.write_text(f"OPENAI_BASE_URL={llm_server.base_url}\nOPENAI_API_KEY=sk-test-secret-value\n"
                    f"LLM_MODEL=fake-model\nLLM_RETRY_BASE_S=0.01\nTELEGRAM_BOT_TOKEN={botapi.token}\n"
                    f"TELEGRAM_API_BASE_URL={botapi.base_url}\nDATA_DIR={tmp_path / 'data'}\nWEBHOOK_SECRET=\n")
    return path


def rewrite(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text().replace(old, new))


async def test_settings_in_user_words_and_polling(env_file: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(env_file.parent)
    assert await run_checks(str(env_file)) == 0
    out = capsys.readouterr().out
    assert "None" not in out and "sk-test-secret-value" not in out
    assert "OPENAI_API_KEY is set (from .env)" in out and "updates: long polling" in out


async def test_webhook_state_is_reported(env_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rewrite(env_file, "WEBHOOK_SECRET=", "WEBHOOK_URL=http://bot.example.org\nWEBHOOK_SECRET=")
    assert await run_checks(str(env_file)) == 1
    out = capsys.readouterr().out
    assert "webhook at http://bot.example.org/telegram" in out and "random secret made at each start" in out
    assert "only to https://" in out


async def test_a_model_that_ignores_the_schema_is_not_told_to_switch_modes(
        env_file: Path, llm_server: FakeLLM, capsys: pytest.CaptureFixture[str]) -> None:
    llm_server.default = lambda payload: completion('{"answer": "hello"}')
    assert await run_checks(str(env_file)) == 1
    out = capsys.readouterr().out
    assert "answered JSON, but not the requested object" in out and "LLM_RESPONSE_FORMAT" not in out


async def test_a_server_that_refuses_json_schema_is_told_to_use_json_object(
        env_file: Path, llm_server: FakeLLM, capsys: pytest.CaptureFixture[str]) -> None:
    llm_server.default = lambda payload: error(400, "Input should be 'text' or 'json_object' (response_format)")
    assert await run_checks(str(env_file)) == 1
    assert "set LLM_RESPONSE_FORMAT=json_object" in capsys.readouterr().out


async def test_unreachable_endpoint_names_the_url(env_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rewrite(env_file, "OPENAI_BASE_URL=", "OPENAI_BASE_URL=http://127.0.0.1:9/v1\n#")
    assert await run_checks(str(env_file)) == 1
    assert "LLM endpoint unreachable: http://127.0.0.1:9/v1" in capsys.readouterr().out
