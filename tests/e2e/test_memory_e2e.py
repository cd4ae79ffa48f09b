"""Memory end to end: restarts, the brief cache, quotas and digests, through the real bot."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from bot.chat.app import NewsBot
from bot.ops.config import Settings
from bot.store import open_store
from tests.conftest import EXAMPLE_ARTICLE
from tests.fakes import updates as U
from tests.fakes.botapi_server import FakeBotAPI
from tests.fakes.briefs import STORIES, story_reply
from tests.fakes.openai_server import FakeLLM
from tests.telegram_harness import BRIEF_MARK, bot_process, configure, until

ARTICLE = EXAMPLE_ARTICLE.read_text(encoding="utf-8")
GROUP = -100300


async def test_restart_during_a_slow_llm_call_still_delivers(bot_settings: Settings, botapi: FakeBotAPI,
                                                             llm_server: FakeLLM) -> None:
    llm_server.delay = 30  # the first run never gets its answer
    first = bot_process(bot_settings, llm_server)
    try:
        botapi.push("message", U.message(801, ARTICLE))
        await until(lambda: llm_server.in_flight == 1, within=20)
    finally:
        first.send_signal(signal.SIGKILL)  # no clean shutdown: a crash
        first.wait()
    assert BRIEF_MARK not in botapi.visible_text(801)
    llm_server.delay = 0
    second = bot_process(bot_settings, llm_server)
    try:
        await until(lambda: BRIEF_MARK in botapi.visible_text(801), within=20)
    finally:
        second.terminate()
        assert second.wait(timeout=20) == 0, second.stderr.read().decode()[-2000:] if second.stderr else ""
    assert llm_server.calls == 2  # the interrupted call and the resumed one; the update was not redelivered


async def test_same_article_twice_costs_one_llm_call(newsbot: NewsBot, botapi: FakeBotAPI, llm_server: FakeLLM) -> None:
    botapi.push("message", U.message(811, ARTICLE))
    await until(lambda: BRIEF_MARK in botapi.visible_text(811))
    # the same article, pasted again elsewhere with other spacing and quote marks
    botapi.push("message", U.message(812, "  " + ARTICLE.replace("“", "«").replace("”", "»") + "\n"))
    await until(lambda: BRIEF_MARK in botapi.visible_text(812))
    assert llm_server.calls == 1
    botapi.push("message", U.command(812, "/usage"))
    await until(lambda: "Today: 1 request, 0 tokens." in botapi.visible_text(812))


async def test_token_quota_per_chat(bot_settings: Settings, botapi: FakeBotAPI, llm_server: FakeLLM) -> None:
    bot = NewsBot(configure(bot_settings, daily_tokens_per_chat=1000))
    await bot.start()
    try:
        botapi.push("message", U.message(821, ARTICLE))
        await until(lambda: BRIEF_MARK in botapi.visible_text(821))
        botapi.push("message", U.message(821, ARTICLE + "\n\nتحديث"))
        await until(lambda: "tokens per chat per day" in botapi.visible_text(821))
        assert llm_server.calls == 1
    finally:
        await bot.stop()


async def share_three_stories(botapi: FakeBotAPI) -> None:
    for story in STORIES.values():
        botapi.push("message", U.message(GROUP, story["article"], uid=31))


async def test_digest_now_after_three_articles(bot_settings: Settings, botapi: FakeBotAPI,
                                               llm_server: FakeLLM) -> None:
    llm_server.default = story_reply
    bot = NewsBot(configure(bot_settings, digest_min_chars=200))
    botapi.chat_members[(GROUP, 30)] = "administrator"
    await bot.start()
    try:
        botapi.push("message", U.command(GROUP, "/digest on", uid=31))  # not an admin
        await until(lambda: "Only the chat's admins" in botapi.visible_text(GROUP))
        botapi.push("message", U.command(GROUP, "/digest on 07:30 Asia/Amman", uid=30))
        await until(lambda: "Digest on: daily at 07:30 (Asia/Amman)" in botapi.visible_text(GROUP))
        await share_three_stories(botapi)
        await until(lambda: llm_server.calls == 3)
        before = len(botapi.sent(GROUP, ("sendMessage",)))
        botapi.push("message", U.command(GROUP, "/digest now", uid=31))
        await until(lambda: "News digest" in botapi.visible_text(GROUP))
        await asyncio.sleep(0.3)
        digests = botapi.sent(GROUP, ("sendMessage",))[before:]
        assert len(digests) == 1  # one digest, no chatter under the shared articles
        text = botapi.visible_text(GROUP)
        for story in STORIES.values():
            assert story["headline"][1] in text and story["outlet"][1] in text
        botapi.push("message", U.command(GROUP, "/digest now", uid=31))
        await until(lambda: "ask again in 5 minutes" in botapi.visible_text(GROUP))
        assert await bot.digests.post(GROUP)  # the daily digest still has all three
        botapi.push("message", U.command(GROUP, "/digest now", uid=31))
        await until(lambda: "Nothing new since the last digest." in botapi.visible_text(GROUP))
    finally:
        await bot.stop()


async def test_schedule_set_before_restart_fires_after_it(bot_settings: Settings, botapi: FakeBotAPI,
                                                          llm_server: FakeLLM) -> None:
    llm_server.default = story_reply
    settings = configure(bot_settings, digest_min_chars=200)
    channel = -1009999000002
    first = NewsBot(settings)
    await first.start()
    try:
        botapi.push("channel_post", U.message(channel, "/digest on 06:15 Africa/Cairo"))
        await until(lambda: "Digest on" in botapi.visible_text(channel))
        botapi.push("channel_post", U.message(channel, STORIES["sudan"]["article"]))
        await until(lambda: llm_server.calls == 1)
        await asyncio.sleep(0.2)
    finally:
        await first.stop()

    second = NewsBot(configure(settings))
    await second.start()
    try:
        assert second.app.job_queue is not None
        (job,) = second.app.job_queue.get_jobs_by_name(f"digest:{channel}")
        nxt = job.next_t.astimezone(__import__("zoneinfo").ZoneInfo("Africa/Cairo"))  # type: ignore[union-attr]
        assert (nxt.hour, nxt.minute) == (6, 15)
        await job.run(second.app)  # the time has come
        await until(lambda: "News digest" in botapi.visible_text(channel))
        assert STORIES["sudan"]["headline"][1] in botapi.visible_text(channel)
    finally:
        await second.stop()


def test_missing_token_is_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "TELEGRAM_"))}
    env["OPENAI_API_KEY"] = "k"
    r = subprocess.run([sys.executable, "-m", "bot", "run"], env=env, cwd=tmp_path, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2 and "TELEGRAM_BOT_TOKEN" in r.stderr and "Traceback" not in r.stderr


async def test_request_that_keeps_failing_is_given_up_with_a_reply(bot_settings: Settings, botapi: FakeBotAPI,
                                                                   llm_server: FakeLLM) -> None:
    store = open_store(bot_settings)
    await store.open()
    rid = (await store.add_request(851, 851, 5, {"text": ARTICLE})).id  # type: ignore[union-attr]
    for _ in range(bot_settings.request_max_attempts):  # three runs that each died mid-request
        assert await store.claim("a run that died", 60) is not None
        await store.release_all()
    await store.close()
    bot = NewsBot(bot_settings)
    await bot.start()
    try:
        await until(lambda: "I have given up on it" in botapi.visible_text(851))
        assert "توقفت عن المحاولة" in botapi.visible_text(851)
        assert llm_server.calls == 0 and await bot.store.request_status(rid) == "failed"
    finally:
        await bot.stop()
