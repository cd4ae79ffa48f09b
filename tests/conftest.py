"""Shared fixtures: real loopback servers and settings that point at them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.ops.config import Settings
from tests.fakes.openai_server import FakeLLM, Reply, completion
from tests.fakes.web_server import FakeWeb

pytest_plugins = ["tests.telegram_harness", "tests.postgres"]

# test material from public sources, with origins and licences in tests/data/README.md
TESTDATA = Path(__file__).resolve().parent / "data"
EXAMPLE_ARTICLE = TESTDATA / "examples" / "gaza-mediators.ar.txt"
EXAMPLE_BRIEF = TESTDATA / "examples" / "gaza-mediators.summary.json"


def example_brief() -> dict[str, Any]:
    return json.loads(EXAMPLE_BRIEF.read_text(encoding="utf-8"))


def example_reply(payload: dict[str, Any] | None = None) -> Reply:
    """The loopback model: answers `newsbot check`'s ping, and briefs every article as the example."""
    last = (payload or {}).get("messages", [{}])[-1].get("content", "")
    if last.startswith('Reply with {"ok": true}'):
        return completion('{"ok": true}', prompt_tokens=20, completion_tokens=5)
    return completion(json.dumps(example_brief(), ensure_ascii=False))


@pytest.fixture
def llm_server() -> Iterator[FakeLLM]:
    server = FakeLLM(default=example_reply).start()
    yield server
    server.stop()


@pytest.fixture
def settings(llm_server: FakeLLM, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        openai_api_key="sk-test-not-a-real-key",
        openai_base_url=llm_server.base_url,
        llm_model="fake-model",
        llm_timeout_s=5,
        llm_max_attempts=4,
        llm_retry_base_s=0.01,
        data_dir=tmp_path,
    )


@pytest.fixture
def web() -> Iterator[FakeWeb]:
    """A loopback web server with the real pages of tests/data/html and hostile routes."""
    server = FakeWeb(TESTDATA / "html").start()
    yield server
    server.stop()
