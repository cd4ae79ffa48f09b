"""Log lines: both formats carry a line's fields, and secrets never reach them."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from bot.ops.config import Settings
from bot.ops.logs import setup_logging

KEY = "sk-test-secret-key-123456"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def log_one(fmt: str, capsys: pytest.CaptureFixture[str]) -> str:
    setup_logging(Settings(_env_file=None, openai_api_key=KEY, log_format=fmt))  # type: ignore[call-arg]
    logging.getLogger("bot.test").info("brief delivered", extra={"fields": {
        "request": 7, "chat": -100123, "cached": False, "model": "qwen2.5:14b", "note": f"odd = value {KEY}"}})
    return capsys.readouterr().err


def test_text_line_has_the_fields_as_pairs(capsys: pytest.CaptureFixture[str]) -> None:
    line = log_one("text", capsys).strip()
    assert line.endswith('INFO bot.test: brief delivered request=7 chat=-100123 cached=false model=qwen2.5:14b '
                         'note="odd = value [redacted]"')
    assert KEY not in line


def test_json_line_has_the_same_fields(capsys: pytest.CaptureFixture[str]) -> None:
    entry = json.loads(log_one("json", capsys))
    assert entry["message"] == "brief delivered" and entry["request"] == 7 and entry["chat"] == -100123
    assert entry["cached"] is False and entry["model"] == "qwen2.5:14b"
    assert entry["note"] == "odd = value [redacted]"
