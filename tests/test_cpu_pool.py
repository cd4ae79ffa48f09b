"""The worker pool's answer checks: the same result as in this process, bounded in time, and
never a lost brief when a worker cannot run them. Extraction in the pool: test_reader.py."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal

import pytest

from bot import cpu_pool
from bot.errors import LLMBadOutput
from bot.grounding import judge
from tests.conftest import EXAMPLE_ARTICLE, example_brief

ARTICLE = EXAMPLE_ARTICLE.read_text(encoding="utf-8")
ANSWER = json.dumps(example_brief(), ensure_ascii=False)


@pytest.fixture
def own_pool(monkeypatch: pytest.MonkeyPatch) -> cpu_pool.CPUPool:
    """A pool of this test's own, as the process-wide one, stopped afterwards."""
    fresh = cpu_pool.CPUPool(size=2)
    monkeypatch.setattr(cpu_pool, "_pool", fresh)
    yield fresh  # type: ignore[misc]
    fresh.close()


async def test_checks_in_a_worker_match_checks_here(own_pool: cpu_pool.CPUPool,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    here = judge(ANSWER, ARTICLE, ("Reuters",))
    with caplog.at_level(logging.WARNING, logger="bot.cpu_pool"):
        there = await cpu_pool.judge_async(ANSWER, ARTICLE, ("Reuters",))
    assert not caplog.records  # no fallback: a worker answered
    assert own_pool.started == 1
    assert there.settled is not None and here.settled is not None
    assert there.settled.brief == here.settled.brief
    assert there.settled.grounding == here.settled.grounding
    assert there.issues == here.issues
    assert there.settled.grounding.spans_verified > 0


async def test_a_burst_of_checks_waits_for_busy_workers_rather_than_starting_more(
        own_pool: cpu_pool.CPUPool) -> None:
    own_pool.prewarm()
    results = await asyncio.gather(*(cpu_pool.judge_async(ANSWER, ARTICLE) for _ in range(12)))
    assert all(r.settled is not None for r in results)
    assert own_pool.started <= own_pool.size


async def test_an_answer_that_takes_too_long_to_check_is_refused_and_the_worker_replaced(
        own_pool: cpu_pool.CPUPool, monkeypatch: pytest.MonkeyPatch) -> None:
    await cpu_pool.judge_async(ANSWER, ARTICLE)  # a started, idle worker
    monkeypatch.setattr(cpu_pool, "JUDGE_TIMEOUT_S", 0.001)  # the example's checks take ~5 ms
    with pytest.raises(LLMBadOutput, match="could not be checked within"):
        await cpu_pool.judge_async(ANSWER, ARTICLE)
    monkeypatch.setattr(cpu_pool, "JUDGE_TIMEOUT_S", 20.0)
    again = await cpu_pool.judge_async(ANSWER, ARTICLE)
    assert again.settled is not None
    assert own_pool.started == 2  # the one that overran was killed


async def test_a_dead_worker_is_replaced(own_pool: cpu_pool.CPUPool) -> None:
    await cpu_pool.judge_async(ANSWER, ARTICLE)
    (worker,) = own_pool._idle
    os.kill(worker.process.pid, signal.SIGKILL)
    worker.process.wait()
    result = await cpu_pool.judge_async(ANSWER, ARTICLE)
    assert result.settled is not None
    assert own_pool.started == 2


async def test_without_workers_the_checks_run_here(own_pool: cpu_pool.CPUPool, monkeypatch: pytest.MonkeyPatch,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(cpu_pool.sys, "executable", "/nonexistent/python")  # a worker cannot start
    with caplog.at_level(logging.WARNING, logger="bot.cpu_pool"):
        result = await cpu_pool.judge_async(ANSWER, ARTICLE)
    assert result.settled is not None
    assert result.settled.brief == judge(ANSWER, ARTICLE).settled.brief  # type: ignore[union-attr]
    assert "checking in this process" in caplog.text
