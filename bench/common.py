"""Shared pieces of the benchmarks: the loopback servers from the tests, and timing helpers."""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import Settings  # noqa: E402
from tests.conftest import EXAMPLE_ARTICLE, TESTDATA, example_reply  # noqa: E402
from tests.fakes.botapi_server import Call, FakeBotAPI  # noqa: E402
from tests.fakes.openai_server import FakeLLM  # noqa: E402
from tests.fakes.updates import message  # noqa: E402

ARTICLE = EXAMPLE_ARTICLE.read_text(encoding="utf-8")
SPEC = TESTDATA / "bot-api" / "api.json"


def servers(llm_delay: float) -> tuple[FakeBotAPI, FakeLLM]:
    """The loopback Bot API and LLM stand-ins, with Nagle's algorithm off on their sockets.

    Their handlers write a response in several small pieces (headers, body; a stream chunk by
    chunk); with Nagle on, each later piece waits for the client's delayed ACK, about 40 ms on
    Linux loopback, so every Bot API call would cost ~45 ms here and every streamed answer more:
    an artifact of the stand-ins that would swamp what the bench measures.
    """
    api, llm = FakeBotAPI(SPEC), FakeLLM(default=example_reply)
    for fake in (api, llm):
        fake.server.RequestHandlerClass.disable_nagle_algorithm = True  # type: ignore[attr-defined]
    api.start()
    llm.start()
    llm.delay = llm_delay
    return api, llm


def settings_for(api: FakeBotAPI, llm: FakeLLM, data_dir: Path, **extra: object) -> Settings:
    """The bot's own defaults (LLM_MAX_CONCURRENCY, STATUS_GRACE_S, ...) pointed at the loopback servers,
    so the figures describe what users get; `extra` overrides a setting."""
    return Settings.model_validate({
        "openai_api_key": "sk-bench", "openai_base_url": llm.base_url, "llm_model": "fake-model",
        "telegram_bot_token": api.token, "telegram_api_base_url": api.base_url,
        "data_dir": data_dir, "log_level": "WARNING", **extra,
    })


def unique_article(i: int) -> str:
    """A different text each time, so the brief cache does not answer."""
    return f"{ARTICLE}\n\nتحديث رقم {i}"


def call_chat(call: Call) -> int:
    try:
        return int(call.params.get("chat_id", 0))
    except (TypeError, ValueError):
        return 0


def is_final(call: Call) -> bool:
    """The final piece of a brief: the message (new or edited) that carries the buttons."""
    return call.method in ("sendMessage", "editMessageText") and bool(call.params.get("reply_markup"))


def reply_time(api: FakeBotAPI, chat_id: int) -> float | None:
    """When the bot's last piece of a reply (the message carrying the buttons) reached the server."""
    done = [c.at for c in list(api.calls) if is_final(c) and call_chat(c) == chat_id]
    return done[-1] if done else None


def first_call_time(api: FakeBotAPI, chat_id: int) -> float | None:
    """When the bot first answered anything in the chat (the echo bot's reply)."""
    return next((c.at for c in list(api.calls) if call_chat(c) == chat_id), None)


# the two ways of answering above, read incrementally: (which calls count, the last one or the first)
_INCREMENTAL: dict[Callable[..., float | None], tuple[Callable[[Call], bool], bool]] = {
    reply_time: (is_final, True),
    first_call_time: (lambda call: True, False),
}


async def wait_replies(api: FakeBotAPI, chats: list[int], within: float = 600,
                       when: Callable[[FakeBotAPI, int], float | None] = reply_time) -> dict[int, float]:
    """Wait until every chat is answered; return when each was.

    The bot under test shares this process and its event loop, so the server's calls are read once
    each (not once per chat and poll), which keeps the watching out of the figures.
    """
    deadline = time.monotonic() + within
    wanted = set(chats)
    if when not in _INCREMENTAL:
        while time.monotonic() < deadline:
            times = {c: when(api, c) for c in chats}
            if all(t is not None for t in times.values()):
                return times  # type: ignore[return-value]
            await asyncio.sleep(0.01)
        raise TimeoutError("not every chat got its reply")
    counts, keep_last = _INCREMENTAL[when]
    times: dict[int, float] = {}
    seen = 0
    while time.monotonic() < deadline:
        calls = api.calls[seen:]
        seen += len(calls)
        for call in calls:
            chat = call_chat(call)
            if chat not in wanted:
                continue
            if str(call.params.get("text", "")).startswith("⚠️"):  # the bot's failure reply: no brief will come
                raise RuntimeError(f"chat {chat} got a failure reply: {call.params['text'][:200]}")
            if counts(call) and (keep_last or chat not in times):
                times[chat] = call.at
        if len(times) == len(wanted):
            return times
        await asyncio.sleep(0.01)
    missing = sorted(wanted - set(times))
    seen_text = api.visible_text(missing[0]).replace("\n", " ")[:200] or "nothing"
    raise TimeoutError(f"{len(missing)} of {len(wanted)} chats got no reply within {within:g} s; "
                       f"chat {missing[0]} sees: {seen_text}")


def calls_per_chat(api: FakeBotAPI, chats: Iterable[int]) -> Counter[str]:
    """Bot API calls made in these chats, by method (getUpdates and set-up calls are not in a chat)."""
    wanted = set(chats)
    return Counter(c.method for c in list(api.calls) if call_chat(c) in wanted)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def median(values: list[float]) -> float:
    return statistics.median(values)


def summary(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:8.1f} ms   p95 {pct(values, 0.95) * 1000:8.1f} ms"


__all__ = [
    "ARTICLE",
    "ROOT",
    "TESTDATA",
    "call_chat",
    "calls_per_chat",
    "first_call_time",
    "is_final",
    "median",
    "message",
    "pct",
    "reply_time",
    "servers",
    "settings_for",
    "summary",
    "unique_article",
    "wait_replies",
]
