"""Handlers and the gate, attacked and used for real: the Application against the loopback Bot API."""

from __future__ import annotations

import logging

import pytest

from bot.chat.app import NewsBot
from bot.ops.config import Settings
from bot.store import ChatSettings
from tests.conftest import EXAMPLE_ARTICLE
from tests.fakes import updates as U
from tests.fakes.botapi_server import FakeBotAPI
from tests.fakes.openai_server import FakeLLM
from tests.telegram_harness import BRIEF_MARK, configure, idle, store_writable, until

ARTICLE = EXAMPLE_ARTICLE.read_text(encoding="utf-8")


async def lang_is(bot: NewsBot, chat: int, lang: str) -> bool:
    return (await bot.store.chat(chat)).lang == lang


async def digest_on(bot: NewsBot, chat: int) -> bool:
    return (await bot.store.chat(chat)).digest_enabled


async def running(settings: Settings) -> NewsBot:
    bot = NewsBot(settings)
    await bot.start()
    return bot


# --- who may spend tokens -----------------------------------------------------------------------
async def test_allow_list_holds_for_digests_channels_buttons_and_commands(
        bot_settings: Settings, botapi: FakeBotAPI, llm_server: FakeLLM) -> None:
    bot = await running(configure(bot_settings, allowed_chat_ids=frozenset({42}), digest_min_chars=100))
    stranger_group, stranger_channel = -100300, -1009999000300
    try:
        # a stranger's group turns digests on and shares articles; a stranger's channel does the same
        await bot.store.save_chat(ChatSettings(chat_id=stranger_group, digest_enabled=True))
        await bot.store.save_chat(ChatSettings(chat_id=stranger_channel, digest_enabled=True))
        botapi.push("message", U.command(stranger_group, "/digest on", uid=5))
        botapi.push("message", U.message(stranger_group, ARTICLE, uid=5))
        botapi.push("channel_post", U.message(stranger_channel, ARTICLE + "\n\nنسخة"))
        botapi.push("channel_post", U.command(stranger_channel, "/digest now"))
        botapi.push("callback_query", U.callback(stranger_group, 1, "v:1:en:0000000000"))
        # an allowed chat is served, which also proves the stranger's updates were handled by now
        botapi.push("message", U.message(42, ARTICLE + "\n\nللمسموح"))
        await until(lambda: BRIEF_MARK in botapi.visible_text(42))
        await idle(bot, botapi)
        assert llm_server.calls == 1
        assert await bot.store.digest_entries(stranger_group, 0) == []
        assert await bot.store.digest_entries(stranger_channel, 0) == []
        assert botapi.sent(stranger_channel) == []  # nothing published to the stranger's subscribers
    finally:
        await bot.stop()


async def test_quota_holds_under_a_burst(bot_settings: Settings, botapi: FakeBotAPI, llm_server: FakeLLM) -> None:
    llm_server.delay = 0.3
    bot = await running(configure(bot_settings, daily_requests_per_user=2))
    try:
        for i in range(10):  # ten messages at once, different texts (no cache)
            botapi.push("message", U.message(901, f"{ARTICLE}\n\nنسخة {i}", uid=77))
        await until(lambda: botapi.visible_text(901).count("daily quota") == 8
                    and botapi.visible_text(901).count(BRIEF_MARK) == 2)
        await idle(bot, botapi)
        assert llm_server.calls == 2
        assert "بلغت الحد اليومي" in botapi.visible_text(901)
    finally:
        await bot.stop()


async def test_a_full_store_refuses_work_clearly_and_recovers(
        newsbot: NewsBot, botapi: FakeBotAPI, llm_server: FakeLLM, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="bot.chat.services")
    await store_writable(newsbot, False)  # every write now fails, as on a full disk
    for i in range(5):
        botapi.push("message", U.message(910, f"{ARTICLE}\n\n{i}"))
    botapi.push("message", U.command(910, "/lang en"))
    await until(lambda: botapi.visible_text(910).count("cannot accept work right now") == 6)
    assert botapi.visible_text(910).count("لا أستطيع قبول طلبات الآن") == 6
    assert llm_server.calls == 0
    assert len([r for r in caplog.records if "cannot write" in r.getMessage()]) == 1  # logged once, not per update
    await store_writable(newsbot, True)  # space is back
    botapi.push("message", U.message(910, ARTICLE))
    await until(lambda: BRIEF_MARK in botapi.visible_text(910))


@pytest.mark.parametrize("args", ["on Europe", "on " + "A" * 300, "on 25:99", "sometimes"])
async def test_bad_schedule_arguments_get_the_usage_reply(newsbot: NewsBot, botapi: FakeBotAPI, args: str) -> None:
    botapi.push("message", U.command(-100400, f"/digest {args}", uid=9))
    botapi.chat_members[(-100400, 9)] = "administrator"
    await until(lambda: "Usage: /digest on [HH:MM]" in botapi.visible_text(-100400))
    assert "مثال" in botapi.visible_text(-100400) and not (await newsbot.store.chat(-100400)).digest_enabled


# --- the chat's words ---------------------------------------------------------------------------
async def test_short_text_is_answered_at_once_without_a_status_message(newsbot: NewsBot, botapi: FakeBotAPI,
                                                                       llm_server: FakeLLM) -> None:
    botapi.push("message", U.message(920, "شكرا"))
    await until(lambda: "too short" in botapi.visible_text(920))
    calls = [c.method for c in botapi.calls if str(c.params.get("chat_id")) == "920"]
    assert calls == ["sendMessage"] and llm_server.calls == 0
    text = botapi.visible_text(920)
    assert "4 characters, at least 120 needed" in text and "4 أحرف، والحد الأدنى 120" in text


async def test_unknown_command_gets_a_hint(newsbot: NewsBot, botapi: FakeBotAPI) -> None:
    botapi.push("message", U.command(921, "/settingz"))
    await until(lambda: "Try /help" in botapi.visible_text(921))
    assert "جرّب /help" in botapi.visible_text(921)


async def test_start_greets_and_help_is_the_full_guide(newsbot: NewsBot, botapi: FakeBotAPI) -> None:
    botapi.push("message", U.command(922, "/start"))
    await until(lambda: "Hello!" in botapi.visible_text(922))
    start = botapi.sent(922, ("sendMessage",))[0].params
    assert "Example:" in start["text"] and start["reply_markup"]["inline_keyboard"]
    botapi.push("message", U.command(922, "/help"))
    await until(lambda: "/digest off" in botapi.visible_text(922))
    guide = botapi.sent(922, ("sendMessage",))[-1].params["text"]
    assert "Sources" in guide and "JSON" in guide and "/digest now" in guide and "/digest status" in guide
    assert guide != start["text"]


@pytest.mark.parametrize(("n", "ar", "en"), [(1, "طلب واحد", "1 request"), (2, "طلبان", "2 requests"),
                                             (5, "5 طلبات", "5 requests"), (11, "11 طلبًا", "11 requests")])
async def test_usage_speaks_both_languages_with_plurals(newsbot: NewsBot, botapi: FakeBotAPI, n: int, ar: str,
                                                        en: str) -> None:
    for i in range(n):
        await newsbot.store.add_usage(923, 923, requests=1, prompt_tokens=6_000, completion_tokens=1_000 + i)
    botapi.push("message", U.command(923, "/usage"))
    await until(lambda: "Today:" in botapi.visible_text(923))
    text = botapi.visible_text(923)
    assert f"Today: {en}," in text and f"اليوم: {ar}،" in text
    total = sum(7_000 + i for i in range(n))
    assert f"{total:,}" in text and f"{total:,}".replace(",", "\u066c") in text  # each language's grouping


async def test_default_view_follows_telegram_language_and_lang_overrides(newsbot: NewsBot, botapi: FakeBotAPI) -> None:
    english = U.message(924, ARTICLE)
    english["from"]["language_code"] = "en"
    botapi.push("message", english)
    await until(lambda: BRIEF_MARK in botapi.visible_text(924))
    assert "من يضغط على من" not in botapi.visible_text(924)  # English only
    botapi.push("message", U.message(925, ARTICLE))  # language_code "ar": both, Arabic first
    await until(lambda: BRIEF_MARK in botapi.visible_text(925))
    text = botapi.visible_text(925)
    assert text.index("من يضغط على من") < text.index(BRIEF_MARK)
    botapi.push("message", U.command(925, "/lang ar"))
    await until(lambda: "لغة العرض الآن: العربية" in botapi.visible_text(925))
    assert "Language view" not in botapi.visible_text(925).split("\n\n")[-1]


async def test_settings_buttons_change_the_view_in_place(newsbot: NewsBot, botapi: FakeBotAPI) -> None:
    botapi.push("message", U.command(926, "/settings"))
    await until(lambda: "Settings" in botapi.visible_text(926))
    menu = botapi.sent(926, ("sendMessage",))[-1]
    data = [b["callback_data"] for row in menu.params["reply_markup"]["inline_keyboard"] for b in row]
    assert data == ["cfg:lang:ar", "cfg:lang:en", "cfg:lang:both"]  # no digest buttons in a private chat
    message_id = menu.result["message_id"]
    botapi.push("callback_query", U.callback(926, message_id, "cfg:lang:en"))
    await until(lambda: lang_is(newsbot, 926, "en"))
    await until(lambda: any(int(c.params["message_id"]) == message_id for c in botapi.sent(926, ("editMessageText",))))
    assert "language view: English" in botapi.visible_text(926)


async def test_only_group_admins_change_group_settings(newsbot: NewsBot, botapi: FakeBotAPI) -> None:
    group = -100500
    botapi.chat_members[(group, 31)] = "administrator"
    botapi.push("message", U.command(group, "/settings", uid=31))
    await until(lambda: "Digest: off" in botapi.visible_text(group))
    menu = botapi.sent(group, ("sendMessage",))[-1]
    assert "cfg:digest:on" in str(menu.params["reply_markup"])
    message_id = menu.result["message_id"]
    botapi.push("callback_query", U.callback(group, message_id, "cfg:lang:en", uid=32))  # a member
    await until(lambda: any(c.method == "answerCallbackQuery" and c.params.get("show_alert")
                            for c in botapi.calls))
    assert (await newsbot.store.chat(group)).lang == "both"
    botapi.push("callback_query", U.callback(group, message_id, "cfg:time:07:00", uid=31))  # an admin
    await until(lambda: digest_on(newsbot, group))
    assert (await newsbot.store.chat(group)).digest_time == "07:00"
    await until(lambda: "daily at 07:00" in botapi.visible_text(group))


async def test_a_redelivered_update_gets_no_quota_reply(bot_settings: Settings, botapi: FakeBotAPI,
                                                        llm_server: FakeLLM) -> None:
    bot = await running(configure(bot_settings, daily_requests_per_user=1))
    try:
        first = U.message(930, ARTICLE, uid=77)
        botapi.push("message", first)
        await until(lambda: BRIEF_MARK in botapi.visible_text(930))
        botapi.push("message", dict(first))  # Telegram resends an update it thinks unconfirmed
        botapi.push("message", U.command(930, "/usage", uid=77))  # answered after the resend was handled
        await until(lambda: "Today:" in botapi.visible_text(930))
        assert "daily quota" not in botapi.visible_text(930) and llm_server.calls == 1
    finally:
        await bot.stop()


async def test_only_group_admins_change_the_language_with_lang(newsbot: NewsBot, botapi: FakeBotAPI) -> None:
    group = -100700
    botapi.push("message", U.command(group, "/lang en", uid=9))  # a plain member
    await until(lambda: "Only the group's admins" in botapi.visible_text(group))
    assert (await newsbot.store.chat(group)).lang == "both"
    botapi.chat_members[(group, 10)] = "administrator"
    botapi.push("message", U.command(group, "/lang en", uid=10))
    await until(lambda: lang_is(newsbot, group, "en"))
