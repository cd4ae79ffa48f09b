"""Status messages, typing and joined pastes: what the chat shows while a brief is made."""

from __future__ import annotations

import asyncio
import signal

from bot.chat.app import NewsBot
from bot.ops.config import Settings
from tests.conftest import EXAMPLE_ARTICLE
from tests.fakes import updates as U
from tests.fakes.botapi_server import FakeBotAPI
from tests.fakes.openai_server import FakeLLM
from tests.telegram_harness import BRIEF_MARK, bot_process, configure, idle, sql, until

ARTICLE = EXAMPLE_ARTICLE.read_text(encoding="utf-8")


async def status_message_noted(settings: Settings) -> bool:
    return bool(await sql(settings, "SELECT status_message_id FROM requests WHERE status_message_id IS NOT NULL"))


def methods(api: FakeBotAPI, chat_id: int) -> list[str]:
    return [c.method for c in api.calls if str(c.params.get("chat_id")) == str(chat_id)]


async def test_cached_brief_is_one_new_message_without_edits(newsbot: NewsBot, botapi: FakeBotAPI,
                                                             llm_server: FakeLLM) -> None:
    botapi.push("message", U.message(1001, ARTICLE))
    await until(lambda: BRIEF_MARK in botapi.visible_text(1001))
    botapi.push("message", U.message(1002, ARTICLE))  # the same article: from the store
    await until(lambda: BRIEF_MARK in botapi.visible_text(1002))
    assert llm_server.calls == 1
    parts = len(botapi.sent(1002, ("sendMessage",)))
    assert methods(botapi, 1002) == ["sendMessage"] * parts and parts <= 2  # Arabic part, English part


async def test_slow_brief_shows_one_status_message_that_becomes_the_brief(newsbot: NewsBot, botapi: FakeBotAPI,
                                                                          llm_server: FakeLLM) -> None:
    llm_server.delay = 1.5  # above the 0.8 s grace period
    botapi.push("message", U.message(1003, ARTICLE))
    await until(lambda: BRIEF_MARK in botapi.visible_text(1003))
    status = botapi.sent(1003, ("sendMessage",))[0]
    assert "Writing the brief" in status.params["text"]
    edits = botapi.sent(1003, ("editMessageText",))
    assert edits and all(int(e.params["message_id"]) == status.result["message_id"] for e in edits)
    assert "Writing the brief" not in botapi.visible_text(1003)  # the status message is now the brief


async def test_typing_is_refreshed_while_a_slow_model_works(bot_settings: Settings, botapi: FakeBotAPI,
                                                            llm_server: FakeLLM) -> None:
    llm_server.delay = 2.0
    bot = NewsBot(configure(bot_settings, status_grace_s=0.2, typing_interval_s=0.5))
    await bot.start()
    try:
        botapi.push("message", U.message(1004, ARTICLE))
        await until(lambda: BRIEF_MARK in botapi.visible_text(1004))
        assert methods(botapi, 1004).count("sendChatAction") >= 2
    finally:
        await bot.stop()


async def test_in_a_burst_status_messages_wait_for_room_and_every_brief_arrives_once(
        newsbot: NewsBot, botapi: FakeBotAPI, llm_server: FakeLLM) -> None:
    llm_server.delay = 1.5  # above the 0.8 s grace period: every one of them is slow
    chats = range(2001, 2061)  # 60 at once: their status messages alone would be two seconds of Telegram's budget
    for c in chats:
        botapi.push("message", U.message(c, f"{ARTICLE}\n\nنسخة {c}"))
    await until(lambda: all(BRIEF_MARK in botapi.visible_text(c) for c in chats), within=60)
    with_status = [c for c in chats if "editMessageText" in methods(botapi, c)]
    # some progress was shown, and not everywhere: once half the budget was in use, the rest waited
    assert 0 < len(with_status) < len(chats)
    for c in chats:
        if c not in with_status:  # the brief came first: new messages only, each part once
            sent = botapi.sent(c, ("sendMessage",))
            assert methods(botapi, c) == ["sendMessage"] * len(sent) and len(sent) <= 2
        assert botapi.visible_text(c).count(BRIEF_MARK) == 1
        assert "Writing the brief" not in botapi.visible_text(c)


async def test_ten_articles_in_one_chat_no_stale_progress_edit(newsbot: NewsBot, botapi: FakeBotAPI,
                                                               llm_server: FakeLLM) -> None:
    llm_server.delay = 1.0
    for i in range(10):
        botapi.push("message", U.message(1005, f"{ARTICLE}\n\nنسخة {i}"))
    await until(lambda: botapi.visible_text(1005).count(BRIEF_MARK) == 10, within=60)
    await idle(newsbot, botapi)  # a finished request leaves no deferred edit behind
    assert "Writing the brief" not in botapi.visible_text(1005)
    assert "Reading the article" not in botapi.visible_text(1005)


async def test_a_split_paste_is_one_article(newsbot: NewsBot, botapi: FakeBotAPI, llm_server: FakeLLM) -> None:
    head = (ARTICLE * 3)[:4096]
    tail = (ARTICLE * 3)[4096:5596]
    botapi.push("message", U.message(1006, head, uid=61))
    await asyncio.sleep(0.3)  # Telegram delivers the second part a moment later
    botapi.push("message", U.message(1006, tail, uid=61))
    await until(lambda: BRIEF_MARK in botapi.visible_text(1006))
    await idle(newsbot, botapi)
    assert llm_server.calls == 1
    sent = llm_server.requests[0]["messages"][-1]["content"]
    assert head[-200:].strip() in sent and tail[:200].strip() in sent


async def test_two_short_articles_are_two_briefs(newsbot: NewsBot, botapi: FakeBotAPI, llm_server: FakeLLM) -> None:
    botapi.push("message", U.message(1007, ARTICLE[:1500], uid=62))
    await asyncio.sleep(0.3)
    botapi.push("message", U.message(1007, ARTICLE[1500:3000], uid=62))
    await until(lambda: botapi.visible_text(1007).count(BRIEF_MARK) == 2)
    # two articles (each may take a repair call, since the stand-in's quotes are not in a half article)
    assert len({r["messages"][1]["content"] for r in llm_server.requests}) == 2


async def test_resumed_request_edits_its_own_status_message(bot_settings: Settings, botapi: FakeBotAPI,
                                                            llm_server: FakeLLM) -> None:
    llm_server.delay = 30  # the first run never gets its answer
    first = bot_process(bot_settings, llm_server)
    try:
        botapi.push("message", U.message(1008, ARTICLE))
        await until(lambda: "Writing the brief" in botapi.visible_text(1008), within=20)
        # the crash comes after the bot noted its status message (a crash between Telegram's answer
        # and that note would leave the status message behind: a window of one database write)
        await until(lambda: status_message_noted(bot_settings), within=20)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    status_id = botapi.sent(1008, ("sendMessage",))[0].result["message_id"]
    llm_server.delay = 0
    second = bot_process(bot_settings, llm_server)
    try:
        await until(lambda: BRIEF_MARK in botapi.visible_text(1008), within=20)
    finally:
        second.terminate()
        second.wait(timeout=20)
    text = botapi.visible_text(1008)
    assert "Writing the brief" not in text and "Reading" not in text  # no orphaned status message
    assert text.count("من يضغط على من") == 1  # one brief, not two
    assert any(int(c.params["message_id"]) == status_id for c in botapi.sent(1008, ("editMessageText",)))


async def test_a_paste_waiting_for_its_next_part_survives_a_stop(bot_settings: Settings, botapi: FakeBotAPI,
                                                                 llm_server: FakeLLM) -> None:
    bot = NewsBot(bot_settings)
    await bot.start()
    botapi.push("message", U.message(1009, (ARTICLE * 3)[:3800]))  # near the limit: waits for a next part
    await until(lambda: bot.services.joiner._pending)
    await bot.stop()  # Telegram has confirmed the update: the paste must not be lost
    again = NewsBot(configure(bot_settings))
    await again.start()
    try:
        await until(lambda: BRIEF_MARK in botapi.visible_text(1009))
    finally:
        await again.stop()


async def test_a_retry_after_a_telegram_error_edits_the_same_status_message(
        newsbot: NewsBot, botapi: FakeBotAPI, llm_server: FakeLLM) -> None:
    llm_server.delay = 1.5
    botapi.push("message", U.message(1010, ARTICLE))
    await until(lambda: "Writing the brief" in botapi.visible_text(1010))
    botapi.fail("editMessageText", 502, "Bad Gateway (injected)")  # the final edit fails once
    await until(lambda: BRIEF_MARK in botapi.visible_text(1010), within=20)
    text = botapi.visible_text(1010)
    assert "Writing the brief" not in text and "Checking quotes" not in text  # no orphaned status message
    assert text.count("من يضغط على من") == 1


async def test_no_work_starts_once_stopping_began(bot_settings: Settings, botapi: FakeBotAPI,
                                                  llm_server: FakeLLM) -> None:
    llm_server.delay = 3.0
    bot = NewsBot(bot_settings)
    await bot.start()
    for i in range(30):
        botapi.push("message", U.message(1100 + i, f"{ARTICLE}\n\n{i}"))
    await until(lambda: bot.app.update_queue.qsize() > 0 or len(bot.runner._tasks) > 0)
    await bot.stop()
    assert not [t for t in bot.runner._tasks if not t.done()]  # nothing outlives stop()
    failed = await sql(bot_settings, "SELECT COUNT(*) FROM requests WHERE status = 'failed'")
    assert failed == [(0,)]  # what was in flight stays pending for the next start


async def _limited(limiter: object, chat_id: int, calls: int) -> None:
    """`calls` requests to `chat_id` through the rate limiter's public path."""
    from telegram.ext import AIORateLimiter

    assert isinstance(limiter, AIORateLimiter)

    async def call(*args: object, **kwargs: object) -> bool:
        return True

    for _ in range(calls):
        await limiter.process_request(call, (), {}, "sendMessage", {"chat_id": chat_id}, None)


async def test_room_for_typing_is_a_quarter_of_telegrams_budget_overall_and_in_the_group() -> None:
    from types import SimpleNamespace

    from telegram.ext import AIORateLimiter

    from bot.chat.status import has_room

    limiter = AIORateLimiter()  # 30 a second overall, 20 a minute in a group
    bot = SimpleNamespace(rate_limiter=limiter)
    assert has_room(bot, 7) and has_room(bot, -100)  # type: ignore[arg-type]
    await _limited(limiter, -100, 6)  # more than a quarter of the group's 20 a minute; not of the 30 a second
    assert not has_room(bot, -100)  # type: ignore[arg-type]
    assert has_room(bot, 7) and has_room(bot, -200)  # type: ignore[arg-type]
    await _limited(limiter, 7, 20)  # 26 of 30 in the last moment (far more than a quarter, even as it drains)
    assert not has_room(bot, 7)  # type: ignore[arg-type]
    assert has_room(bot, 7, share=1.0)  # type: ignore[arg-type]  # ... yet not full: one more call would not wait
    assert has_room(SimpleNamespace(rate_limiter=None), 7)  # type: ignore[arg-type]
    assert not has_room(SimpleNamespace(rate_limiter=SimpleNamespace(has_room=lambda chat, share: False)), 7)  # type: ignore[arg-type]


async def test_typing_and_the_status_message_wait_while_the_rate_limiter_is_busy() -> None:
    from types import SimpleNamespace

    from bot.chat.status import Pacer, Status

    busy = True
    sent: list[str] = []
    asked = 0

    class Limiter:
        def has_room(self, chat_id: int, share: float) -> bool:
            nonlocal asked
            asked += 1
            return not busy

    class Bot:
        rate_limiter = Limiter()

        async def send_message(self, chat_id: int, text: str, **kwargs: object) -> object:
            sent.append("sendMessage")
            return SimpleNamespace(message_id=1)

        async def send_chat_action(self, chat_id: int, action: str, **kwargs: object) -> bool:
            sent.append("sendChatAction")
            return True

    status = Status(Bot(), 7, pacer=Pacer(), grace_s=0.01, typing_every_s=0.03)  # type: ignore[arg-type]
    status.begin()
    await until(lambda: asked >= 6)  # it has looked again and again
    assert sent == []  # neither the status message nor typing while the limiter is busy
    busy = False
    await until(lambda: "sendMessage" in sent and sent.count("sendChatAction") >= 2)  # both go on once it has room
    status.close()


async def test_a_status_message_telegram_refuses_costs_nothing_and_the_brief_arrives_once(
        newsbot: NewsBot, botapi: FakeBotAPI, llm_server: FakeLLM) -> None:
    llm_server.delay = 1.5  # past the grace period: a status message is tried
    botapi.fail("sendMessage", 400, "Bad Request: injected refusal of the status message")
    botapi.push("message", U.message(1012, ARTICLE))
    await until(lambda: BRIEF_MARK in botapi.visible_text(1012))
    assert botapi.visible_text(1012).count(BRIEF_MARK) == 1
    assert "Writing the brief" not in botapi.visible_text(1012)
    assert [m for m, _ in botapi.errors] == ["sendMessage"]  # the refused status message, nothing else
