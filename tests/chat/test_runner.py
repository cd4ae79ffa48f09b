"""The request runner: claims, leases and takeovers, in one process on SQLite."""

from __future__ import annotations

from bot.chat.app import NewsBot
from bot.ops.config import Settings
from tests.conftest import EXAMPLE_ARTICLE
from tests.fakes import updates as U
from tests.fakes.botapi_server import FakeBotAPI
from tests.fakes.openai_server import FakeLLM
from tests.telegram_harness import BRIEF_MARK, configure, idle, sql, until

ARTICLE = EXAMPLE_ARTICLE.read_text(encoding="utf-8")


async def test_work_longer_than_the_lease_is_not_taken_twice(bot_settings: Settings, botapi: FakeBotAPI,
                                                             llm_server: FakeLLM) -> None:
    llm_server.delay = 2.5  # the model takes longer than the lease: the runner must keep renewing it
    bot = NewsBot(configure(bot_settings, worker_lease_s=1, worker_poll_s=0.2))
    await bot.start()
    try:
        botapi.push("message", U.message(1301, ARTICLE))
        await until(lambda: BRIEF_MARK in botapi.visible_text(1301), within=20)
        await idle(bot, botapi)
        assert llm_server.calls == 1 and botapi.visible_text(1301).count(BRIEF_MARK) == 1
        assert await sql(bot.settings, "SELECT attempts FROM requests") == [(1,)]  # claimed once
    finally:
        await bot.stop()


async def test_a_stale_claim_from_an_earlier_run_is_taken_back_at_start(bot_settings: Settings,
                                                                        botapi: FakeBotAPI) -> None:
    bot = NewsBot(bot_settings)
    await bot.store.open()
    req = await bot.store.add_request(1302, 1302, 5, {"text": ARTICLE})
    assert req is not None and await bot.store.claim("a run that was killed", 3600) is not None
    await bot.start()  # one process on SQLite: whatever the last run claimed is nobody's now
    try:
        await until(lambda: BRIEF_MARK in botapi.visible_text(1302), within=20)
    finally:
        await bot.stop()
