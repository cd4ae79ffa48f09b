"""Telegram's limits shared by every process through the store, and what happens when it is down."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bot.chat.ratelimit import OVERALL_PER_S, SharedRateLimiter
from bot.chat.status import STATUS_MAX_USE, has_room
from bot.ops.metrics import Metrics
from bot.store.sqlite import SQLiteStore


async def sent(**_: Any) -> bool:
    return True


async def test_processes_spend_one_budget(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "db")
    one_process = SharedRateLimiter(store, Metrics())
    for chat in range(OVERALL_PER_S):
        assert await one_process.process_request(sent, (), {}, "sendMessage", {"chat_id": chat}, None)
    # another process booking now finds the second's budget spent by the first: its call must wait
    assert await store.rate_slot("overall", 1 / OVERALL_PER_S) > 1.0
    # calls that send to no chat are not counted
    fresh = SQLiteStore(tmp_path / "other")
    await SharedRateLimiter(fresh, Metrics()).process_request(sent, (), {}, "getMe", {}, None)
    assert await fresh.rate_slot("overall", 1 / OVERALL_PER_S) == pytest.approx(1 / OVERALL_PER_S, abs=0.01)


async def test_a_store_that_cannot_write_does_not_silence_the_bot(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "db")
    store._db.execute("PRAGMA query_only = ON")  # every booking now fails
    limiter = SharedRateLimiter(store, Metrics())
    # the bot must still be able to say that it cannot accept work
    assert await limiter.process_request(sent, (), {}, "sendMessage", {"chat_id": -100123}, None)


async def test_calls_still_booking_their_slot_count_as_used(store: Any) -> None:
    """Status messages and typing ask `has_room` before a call. On PostgreSQL a shared limiter's calls
    wait for the database before they reach this process's buckets: meanwhile they must not look like
    free room (seen as 40 status messages out of 40 in a burst)."""
    limiter = SharedRateLimiter(store, Metrics())
    bot = SimpleNamespace(rate_limiter=limiter)
    assert has_room(bot, 7, STATUS_MAX_USE)  # type: ignore[arg-type]
    # 28 of the burst of 30: the schedule's lead drains at 30 calls/s, and half of it must still be in use
    # at the last check even on a loaded machine
    calls = [asyncio.create_task(limiter.process_request(sent, (), {}, "sendMessage", {"chat_id": c}, None))
             for c in range(28)]
    await asyncio.sleep(0)  # each has started: booking its slot (PostgreSQL) or already sent (SQLite)
    assert not has_room(bot, 7, STATUS_MAX_USE)  # type: ignore[arg-type]
    assert all(await asyncio.gather(*calls))
    assert not +limiter.booking and not has_room(bot, 7, STATUS_MAX_USE)  # type: ignore[arg-type]


async def test_the_calls_of_other_processes_count_as_used(store_factory: Any) -> None:
    """With several workers, each process's own buckets hold only its own calls: a worker that had
    sent little would see room while the deployment's budget was spent, and send status messages into it."""
    busy = SharedRateLimiter(await store_factory(), Metrics())
    other = SharedRateLimiter(await store_factory(), Metrics())
    bot = SimpleNamespace(rate_limiter=other)
    # with the other's one, the deployment's whole burst of 30: half of it is free again only after
    # 0.5 s, time enough for a loaded machine to make the check
    assert all(await asyncio.gather(*(busy.process_request(sent, (), {}, "sendMessage", {"chat_id": c}, None)
                                      for c in range(29))))
    assert await other.process_request(sent, (), {}, "sendMessage", {"chat_id": 99}, None)
    assert not has_room(bot, 7, STATUS_MAX_USE)  # type: ignore[arg-type]
