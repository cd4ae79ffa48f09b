"""Several processes on one PostgreSQL store: a receiver, workers, a worker killed mid-work, digests
fired once, quotas held across processes. Real processes, a real PostgreSQL, loopback stand-ins."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Awaitable, Callable

import pytest

from bot.chat.app import NewsBot
from bot.ops.config import Settings
from bot.ops.errors import ConfigError
from bot.store import ChatSettings
from tests.conftest import EXAMPLE_ARTICLE
from tests.fakes import updates as U
from tests.fakes.botapi_server import FakeBotAPI
from tests.fakes.openai_server import FakeLLM
from tests.telegram_harness import BRIEF_MARK, bot_process, configure, sql, until

ARTICLE = EXAMPLE_ARTICLE.read_text(encoding="utf-8")


def shown_briefs(botapi: FakeBotAPI, chat: int) -> list[tuple[int, float]]:
    """(the user's message it answers, when it became a brief) for every bot message showing a brief."""
    done = [c for c in botapi.sent(chat) if isinstance(c.result, dict)]  # answered calls only
    asked = {c.result["message_id"]: c.params["reply_parameters"]["message_id"]
             for c in done if c.method == "sendMessage" and "reply_parameters" in c.params}
    first_shown: dict[int, float] = {}
    for c in done:
        mid = c.result["message_id"] if c.method == "sendMessage" else int(c.params["message_id"])
        if BRIEF_MARK in str(c.result.get("text", "")) and mid not in first_shown:
            first_shown[mid] = c.at
    return [(asked[mid], at) for mid, at in first_shown.items()]


def all_finished(settings: Settings) -> Callable[[], Awaitable[bool]]:
    """No request left pending in the shared store: every request has been answered or given up."""
    async def check() -> bool:
        return await sql(settings, "SELECT COUNT(*) FROM requests WHERE status = 'pending'") == [(0,)]
    return check


def quiet_for(botapi: FakeBotAPI, seconds: float) -> bool:
    """No message sent or edited for `seconds`."""
    sent = botapi.sent()
    return not sent or time.monotonic() - sent[-1].at >= seconds


def stop_all(*procs: subprocess.Popen[bytes]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()


async def test_a_receiver_and_three_workers_answer_every_request_once_in_order_even_when_one_dies(
        bot_settings: Settings, botapi: FakeBotAPI, llm_server: FakeLLM, postgres_url: str) -> None:
    llm_server.delay = 0.3
    env = {"DATABASE_URL": postgres_url, "WORKER_LEASE_S": "8", "STATUS_GRACE_S": "0", "WORKER_POLL_S": "0.5"}
    receiver = bot_process(bot_settings, llm_server, "--role", "receiver", WORKER_NAME="receiver", **env)
    # each its own name, as on separate hosts: a starting worker takes back only its own earlier claims
    workers = [bot_process(bot_settings, llm_server, "--role", "worker", WORKER_NAME=f"worker-{n}", **env)
               for n in range(3)]
    chats = range(7001, 7061)
    try:
        asked: dict[int, list[int]] = {c: [] for c in chats}
        for n in range(5):
            for chat in chats:
                msg = U.message(chat, f"{ARTICLE}\n\n(نسخة {chat}-{n})")
                asked[chat].append(msg["message_id"])
                botapi.push("message", msg)
        total = lambda: sum(len(shown_briefs(botapi, c)) for c in chats)  # noqa: E731
        await until(lambda: llm_server.calls >= 100, within=90)
        # hold the model: every worker's requests now wait for it, mid-request, and the replies
        # already on their way arrive; then kill one worker in the middle of its claimed requests
        llm_server.answering.clear()
        await until(lambda: quiet_for(botapi, 1.0), within=30)
        workers[0].send_signal(signal.SIGKILL)
        await asyncio.to_thread(workers[0].wait, 10)
        llm_server.answering.set()
        await until(lambda: total() >= 300, within=120)
        await until(all_finished(configure(bot_settings, database_url=postgres_url)), within=60)
        # stopped before counting: a worker still sending a doubled reply would have to send it now
        await asyncio.to_thread(stop_all, receiver, *workers)
        assert llm_server.calls > 300  # the dead worker's requests were briefed again by the others
        for chat in chats:
            briefs = shown_briefs(botapi, chat)
            answered = Counter(m for m, _ in briefs)
            assert sorted(answered) == sorted(asked[chat]) and set(answered.values()) == {1}, chat
            assert [m for m, _ in sorted(briefs, key=lambda b: b[1])] == asked[chat], f"order in chat {chat}"
    finally:
        stop_all(receiver, *workers)


@pytest.mark.parametrize("skew", [60, -60])
async def test_a_worker_whose_clock_is_a_minute_off_doubles_no_work_and_holds_up_no_reply(
        skew: int, bot_settings: Settings, botapi: FakeBotAPI, llm_server: FakeLLM, postgres_url: str) -> None:
    llm_server.delay = 0.5
    env = {"DATABASE_URL": postgres_url, "WORKER_LEASE_S": "8", "STATUS_GRACE_S": "0", "WORKER_POLL_S": "0.5"}
    receiver = bot_process(bot_settings, llm_server, "--role", "receiver", WORKER_NAME="receiver", **env)
    on_time = bot_process(bot_settings, llm_server, "--role", "worker", WORKER_NAME="on-time", **env)
    # the host of this worker runs a minute fast (or slow): leases, claims and the shared send
    # schedule must not go by it
    skewed = bot_process(bot_settings, llm_server, "--role", "worker", WORKER_NAME="skewed",
                         NEWSBOT_CLOCK_SKEW_S=str(skew), **env)
    chats = range(7101, 7121)
    try:
        for chat in chats:
            botapi.push("message", U.message(chat, f"{ARTICLE}\n\n(نسخة {chat})"))
        await until(lambda: all(shown_briefs(botapi, c) for c in chats), within=120)
        asked = time.monotonic()
        botapi.push("message", U.command(7200, "/help"))
        await until(lambda: botapi.sent(7200), within=120)
        answered = botapi.sent(7200)[0].at - asked
        await until(all_finished(configure(bot_settings, database_url=postgres_url)), within=60)
        await asyncio.to_thread(stop_all, receiver, on_time, skewed)  # no call can come after this
        asks = Counter(chat for payload in llm_server.requests for chat in chats
                       if f"(نسخة {chat})" in json.dumps(payload, ensure_ascii=False))
        doubled = sorted(c for c, n in asks.items() if n > 1)
        assert doubled == [] and llm_server.calls == len(chats), f"briefed twice: {doubled}"
        # a schedule pushed a minute ahead held /help ~60 s; well under 1 s on an idle machine, the
        # margin is for a loaded one
        assert answered < 5.0, f"/help answered in {answered:.3f} s"
        assert all(len(shown_briefs(botapi, c)) == 1 for c in chats)
    finally:
        stop_all(receiver, on_time, skewed)
    assert skewed.stderr is not None and on_time.stderr is not None
    logged = skewed.stderr.read().decode(errors="replace")
    assert f"clock is {skew:+.0f}" in logged, logged[-2000:]  # the skewed host says so, once
    assert logged.count("clock is") == 1
    assert "clock is" not in on_time.stderr.read().decode(errors="replace")


async def test_two_processes_with_the_same_digest_schedule_post_one_digest(
        bot_settings: Settings, botapi: FakeBotAPI, postgres_url: str) -> None:
    group = -100777
    shared = configure(bot_settings, database_url=postgres_url, digest_min_chars=100)
    receiving, working = NewsBot(shared), NewsBot(shared, role="worker")
    await receiving.start()
    await working.start()
    try:
        await receiving.store.save_chat(ChatSettings(chat_id=group, digest_enabled=True, digest_time="09:00"))
        botapi.push("message", U.message(group, ARTICLE, uid=5))
        await until(lambda: _has_entries(receiving, group), within=30)
        # both processes fire the same daily run at the same moment
        posted = await asyncio.gather(receiving.digests.run_scheduled(group), working.digests.run_scheduled(group))
        assert sorted(posted) == [False, True]
        headers = [c for c in botapi.sent(group, ("sendMessage",))
                   if "News digest" in c.params["text"] or "موجز الأخبار" in c.params["text"]]
        assert len(headers) == 1
    finally:
        await working.stop()
        await receiving.stop()


async def _has_entries(bot: NewsBot, chat: int) -> bool:
    return bool(await bot.store.digest_entries(chat, 0))


async def test_worker_and_receiver_roles_need_a_shared_database(bot_settings: Settings) -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL=postgresql"):
        NewsBot(bot_settings, role="worker")


async def test_quotas_hold_across_workers_under_a_burst(bot_settings: Settings, botapi: FakeBotAPI,
                                                        llm_server: FakeLLM, postgres_url: str) -> None:
    llm_server.delay = 0.3
    shared = configure(bot_settings, database_url=postgres_url, daily_requests_per_user=3, daily_tokens_per_chat=0)
    bots = [NewsBot(shared, role="receiver"), NewsBot(shared, role="worker"), NewsBot(shared, role="worker")]
    for bot in bots:
        await bot.start()
    try:
        for i in range(10):  # ten messages at once, different texts (no cache)
            botapi.push("message", U.message(941, f"{ARTICLE}\n\nنسخة {i}", uid=78))
        await until(lambda: botapi.visible_text(941).count("daily quota") == 7
                    and botapi.visible_text(941).count(BRIEF_MARK) == 3, within=30)
        await until(all_finished(shared))
        assert llm_server.calls == 3
        worked = [bot.metrics.registry.get_sample_value("newsbot_requests_total", {"outcome": "done"}) or 0
                  for bot in bots]
        assert worked[0] == 0 and sum(worked) == 3  # the receiver only admits; workers brief
    finally:
        for bot in reversed(bots):
            await bot.stop()


def _scheduled(bot: NewsBot, chat: int) -> list[str]:
    """When the daily digest jobs this process holds for a chat next run (HH:MM UTC)."""
    jq = bot.app.job_queue
    assert jq is not None
    return [job.next_t.strftime("%H:%M") for job in jq.get_jobs_by_name(f"digest:{chat}") if job.next_t]


async def test_digest_off_through_the_receiver_stops_a_run_a_worker_had_scheduled(
        bot_settings: Settings, botapi: FakeBotAPI, postgres_url: str) -> None:
    group, admin = -100778, 61
    botapi.chat_members[(group, admin)] = "administrator"
    shared = configure(bot_settings, database_url=postgres_url, digest_min_chars=100)
    receiving, working = NewsBot(shared, role="receiver"), NewsBot(shared, role="worker")
    await receiving.start()
    await working.start()
    try:
        botapi.push("message", U.command(group, "/digest on 09:00 UTC", uid=admin))
        # the worker follows the schedule set through the receiver at once (NOTIFY), not at a poll
        await until(lambda: any("09:00" in t for t in _scheduled(working, group)), within=5)
        botapi.push("message", U.message(group, ARTICLE, uid=5))
        await until(lambda: _has_entries(working, group), within=30)

        # the worker's job is about to fire when an admin turns digests off through the receiver
        botapi.push("message", U.command(group, "/digest off", uid=admin))
        await until(lambda: "Digest off" in botapi.visible_text(group))
        assert not await working.digests.run_scheduled(group)  # the run reads the settings it starts with
        await until(lambda: not _scheduled(working, group), within=5)
        assert "News digest" not in botapi.visible_text(group)
    finally:
        await working.stop()
        await receiving.stop()
