"""Shared pieces of the benchmarks: the loopback servers from the tests, and timing helpers."""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import Settings  # noqa: E402
from tests.conftest import EXAMPLE_ARTICLE, TESTDATA, example_reply  # noqa: E402
from tests.fakes.botapi_server import FakeBotAPI  # noqa: E402
from tests.fakes.openai_server import FakeLLM  # noqa: E402
from tests.fakes.updates import message  # noqa: E402

ARTICLE = EXAMPLE_ARTICLE.read_text(encoding="utf-8")
SPEC = TESTDATA / "bot-api" / "api.json"


def servers(llm_delay: float) -> tuple[FakeBotAPI, FakeLLM]:
    api = FakeBotAPI(SPEC).start()
    llm = FakeLLM(default=example_reply).start()
    llm.delay = llm_delay
    return api, llm


def settings_for(api: FakeBotAPI, llm: FakeLLM, data_dir: Path, **extra: object) -> Settings:
    return Settings.model_validate({
        "openai_api_key": "sk-bench", "openai_base_url": llm.base_url, "llm_model": "fake-model",
        "telegram_bot_token": api.token, "telegram_api_base_url": api.base_url, "llm_max_concurrency": 256,
        "data_dir": data_dir, "log_level": "WARNING", **extra,
    })


def unique_article(i: int) -> str:
    """A different text each time, so the brief cache does not answer."""
    return f"{ARTICLE}\n\nتحديث رقم {i}"


def reply_time(api: FakeBotAPI, chat_id: int) -> float | None:
    """When the bot's last piece of a reply (the message carrying the buttons) reached the server."""
    done = [c.at for c in api.calls if c.params.get("reply_markup") and int(c.params.get("chat_id", 0)) == chat_id
            and c.method in ("sendMessage", "editMessageText")]
    return done[-1] if done else None


def first_call_time(api: FakeBotAPI, chat_id: int) -> float | None:
    """When the bot first answered anything in the chat (the echo bot's reply)."""
    return next((c.at for c in api.calls if int(c.params.get("chat_id", 0)) == chat_id), None)


async def wait_replies(api: FakeBotAPI, chats: list[int], within: float = 600,
                       when: Callable[[FakeBotAPI, int], float | None] = reply_time) -> dict[int, float]:
    """Wait until every chat is answered; return when each was."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        times = {c: when(api, c) for c in chats}
        if all(t is not None for t in times.values()):
            return times  # type: ignore[return-value]
        await asyncio.sleep(0.01)
    raise TimeoutError("not every chat got its reply")


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def summary(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:8.1f} ms   p95 {pct(values, 0.95) * 1000:8.1f} ms"


__all__ = [
    "ARTICLE",
    "ROOT",
    "TESTDATA",
    "first_call_time",
    "message",
    "pct",
    "reply_time",
    "servers",
    "settings_for",
    "summary",
    "unique_article",
    "wait_replies",
]
