"""Digests through the real bot against the loopback Bot API: the chat's language, links, changes
over days, channels that see only digests, and private subscriptions."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
from telegram import Message

from bot.chat import digests as digest_jobs
from bot.chat.app import NewsBot
from bot.chat.intake import post_link
from bot.ops.config import Settings
from bot.store import ChatSettings
from tests.fakes import updates as U
from tests.fakes.botapi_server import FakeBotAPI
from tests.fakes.briefs import STORIES, brief_for, story_of, story_reply
from tests.fakes.openai_server import FakeLLM, Reply, completion
from tests.telegram_harness import configure, sql, until

GROUP = -1001234500300  # a private supergroup: its posts have t.me/c/… links for members
ADMIN, MEMBER = 30, 31
DAY = 86_400

FOLLOW_UP = "\n\nتحديث: مصر ترفض المقترح الإسرائيلي الجديد."
TWO_STATEMENTS = "\n\nوفي تصريح آخر قالت مصر إنها ترفض المقترح."


def stance(ar: str, en: str) -> dict[str, Any]:
    return {"actor": "egypt", "stance": {"ar": ar, "en": en}, "quote": None, "source_ids": ["publisher"]}


def reply_by_story(payload: dict[str, Any]) -> Reply:
    """The known stories, plus a follow-up in which Egypt rejects the proposal and an article in
    which Egypt says two different things."""
    text = payload.get("messages", [{}])[-1].get("content", "")
    if story_of(payload) == "gaza" and (FOLLOW_UP.strip() in text or TWO_STATEMENTS.strip() in text):
        brief = brief_for("gaza")
        rejects = stance("ترفض المقترح الإسرائيلي", "rejects the Israeli proposal")
        brief["positions"] = [rejects] if FOLLOW_UP.strip() in text else [
            stance("يطالب بالتحرك فورًا", "calls for action now"), rejects]
        return completion(json.dumps(brief, ensure_ascii=False))
    return story_reply(payload)


def digests(botapi: FakeBotAPI, chat: int) -> list[str]:
    """The HTML of every digest the bot sent to a chat."""
    return [c.params["text"] for c in botapi.sent(chat, ("sendMessage",))
            if "News digest" in c.params["text"] or "موجز الأخبار" in c.params["text"]]


async def start(bot_settings: Settings, llm_server: FakeLLM) -> NewsBot:
    llm_server.default = reply_by_story
    bot = NewsBot(configure(bot_settings, digest_min_chars=200))
    await bot.start()
    return bot


async def digest_on(botapi: FakeBotAPI, chat: int = GROUP) -> None:
    botapi.chat_members[(chat, ADMIN)] = "administrator"
    botapi.push("message", U.command(chat, "/digest on 09:00 UTC", uid=ADMIN))
    await until(lambda: "09:00" in botapi.visible_text(chat))


async def backdate(bot: NewsBot, chat: int, seconds: float) -> None:
    """Everything shared so far in the chat was shared `seconds` earlier (as was the last digest)."""
    await sql(bot.settings, "UPDATE digest_items SET shared_at = shared_at - ? WHERE chat_id = ?", seconds, chat)
    await sql(bot.settings, "UPDATE ledger_events SET shared_at = shared_at - ? WHERE chat_id = ?", seconds, chat)
    cs = await bot.store.chat(chat)
    cs.last_digest_at -= seconds
    await bot.store.save_chat(cs)


async def recorded(bot: NewsBot, chat: int, n: int) -> bool:
    """`n` briefs of the chat are in its ledger (recorded just after their digest items)."""
    rows = await sql(bot.settings, "SELECT COUNT(DISTINCT brief_id) FROM ledger_events WHERE chat_id = ?", chat)
    return int(rows[0][0]) == n


async def entries(bot: NewsBot, chat: int, n: int) -> bool:
    return len(await bot.store.digest_entries(chat, 0)) == n


# --- groups ---------------------------------------------------------------------------------------
async def test_arabic_only_digest_is_arabic_and_every_story_links_to_its_article(
        bot_settings: Settings, botapi: FakeBotAPI, llm_server: FakeLLM) -> None:
    bot = await start(bot_settings, llm_server)
    try:
        await digest_on(botapi)
        botapi.push("message", U.command(GROUP, "/lang ar", uid=ADMIN))
        await until(lambda: "لغة العرض الآن" in botapi.visible_text(GROUP))
        shared = [U.message(GROUP, s["article"], uid=MEMBER) for s in STORIES.values()]
        for m in shared:
            botapi.push("message", m)
        await until(lambda: llm_server.calls == 3)
        botapi.push("message", U.command(GROUP, "/digest now", uid=MEMBER))
        await until(lambda: digests(botapi, GROUP))
        (html,) = digests(botapi, GROUP)
        text = botapi.visible_text(GROUP).split("موجز الأخبار", 1)[1]
        # names here are all Arabic (the briefs give each outlet in both languages): no Latin at all
        assert not re.search(r"[A-Za-z]", text), text
        assert "3 مقالات، 3 قصص" in text and "مقال واحد" in text
        assert "(مطالبة؛ وكالة الأنباء)" in text and "(تهديد؛ رويترز)" in text and "(اتهام؛ أسوشيتد برس)" in text
        stories = [s for s in html.split("\n\n")[1:] if "ما الذي تغيّر" not in s]  # the ledger's part is first
        assert len(stories) == 3
        for story, m in zip(stories, shared, strict=True):
            assert f'<a href="https://t.me/c/1234500300/{m["message_id"]}">' in story
    finally:
        await bot.stop()


async def test_a_changed_stance_a_day_later_is_a_change_and_two_statements_in_one_article_are_not(
        bot_settings: Settings, botapi: FakeBotAPI, llm_server: FakeLLM) -> None:
    bot = await start(bot_settings, llm_server)
    gaza = STORIES["gaza"]["article"]
    try:
        await digest_on(botapi)
        botapi.push("message", U.message(GROUP, gaza + TWO_STATEMENTS, uid=MEMBER))
        await until(lambda: llm_server.calls == 1)
        assert await bot.digests.post(GROUP)  # the scheduled digest
        first = botapi.visible_text(GROUP)
        assert "Egypt: rejects the Israeli proposal" in first and "🔄" not in first
        assert "position changed" not in first  # two statements in one article are no change

        botapi.push("message", U.message(GROUP, gaza, uid=MEMBER))
        await until(lambda: recorded(bot, GROUP, 2))  # in the digest and in the ledger
        await backdate(bot, GROUP, DAY)  # shared yesterday
        botapi.push("message", U.message(GROUP, gaza + FOLLOW_UP, uid=MEMBER))
        await until(lambda: llm_server.calls == 3)
        assert await bot.digests.post(GROUP)
        second = digests(botapi, GROUP)[-1]
        assert "2 articles, 1 story" in second and "yesterday" in second
        # the ledger's "What changed", with the two dated sources
        assert re.search(r"🔄 <b>Egypt</b> — position changed: calls for action now \(\d+ \w+ \d{4}, <a [^>]+>"
                         r"News Agency</a>\) → rejects the Israeli proposal \(\d+ \w+ \d{4}, <a [^>]+>News Agency"
                         r"</a>\)", second), second
    finally:
        await bot.stop()


# --- channels and subscribers -----------------------------------------------------------------
CHANNEL = -1009999000003
CHANNEL_NAME = "newsroom_digest"


def channel_post(text: str) -> dict[str, Any]:
    post = U.message(CHANNEL, text)
    post["chat"]["username"] = CHANNEL_NAME  # a public channel
    return post


async def test_channel_subscribers_see_only_digests_and_a_member_gets_it_privately(
        bot_settings: Settings, botapi: FakeBotAPI, llm_server: FakeLLM, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(digest_jobs, "CHANNEL_NOTICE_S", 0.2)
    reader, stranger = 4242, 4343
    botapi.chat_members[(CHANNEL, stranger)] = "left"
    bot = await start(bot_settings, llm_server)
    try:
        botapi.push("message", U.command(reader, f"/subscribe @{CHANNEL_NAME}"))
        await until(lambda: "I can't find that chat" in botapi.visible_text(reader))  # not seen yet

        command = channel_post("/digest on 07:00 Asia/Amman")
        botapi.push("channel_post", command)
        await until(lambda: any(int(c.params["message_id"]) == command["message_id"]
                                for c in botapi.sent(CHANNEL, ("deleteMessage",))))
        await until(lambda: len(botapi.sent(CHANNEL, ("deleteMessage",))) == 2)  # the post, then the notice
        assert botapi.visible_text(CHANNEL) == ""

        botapi.push("message", U.command(stranger, f"/subscribe @{CHANNEL_NAME}"))
        await until(lambda: "a chat you are a member of" in botapi.visible_text(stranger))
        botapi.push("message", U.command(reader, f"/subscribe @{CHANNEL_NAME}"))
        await until(lambda: f"Subscribed: the digest of @{CHANNEL_NAME} comes here daily at 07:00 (Asia/Amman)"
                    in botapi.visible_text(reader))
        assert "اشتركت" in botapi.visible_text(reader)  # an Arabic-speaking user's view: both languages

        post = channel_post(STORIES["sudan"]["article"])
        botapi.push("channel_post", post)
        await until(lambda: llm_server.calls == 1)
        now = channel_post("/digest now")  # the digest so far, in the channel only
        botapi.push("channel_post", now)
        await until(lambda: digests(botapi, CHANNEL))
        assert await bot.digests.post(CHANNEL)  # the scheduled one: in the channel and privately
        await until(lambda: digests(botapi, reader))

        # the channel: digests and nothing else, with a link to the channel's own post
        sent = botapi.sent(CHANNEL, ("sendMessage",))
        assert [c.params["text"] for c in sent[1:]] == digests(botapi, CHANNEL) and len(sent) == 3
        assert f'<a href="https://t.me/{CHANNEL_NAME}/{post["message_id"]}">' in digests(botapi, CHANNEL)[0]
        assert now["message_id"] in [int(c.params["message_id"]) for c in botapi.sent(CHANNEL, ("deleteMessage",))]
        visible = botapi.visible_text(CHANNEL)
        assert visible.count("News digest") == 2 and "Digest on" not in visible

        (private,) = digests(botapi, reader)
        assert f"News digest from @{CHANNEL_NAME}" in private and f"موجز الأخبار من @{CHANNEL_NAME}" in private
        assert STORIES["sudan"]["headline"][1] in private
        assert digests(botapi, stranger) == []

        botapi.push("message", U.command(reader, "/unsubscribe"))
        await until(lambda: f"Unsubscribed from: @{CHANNEL_NAME}" in botapi.visible_text(reader))
        assert await bot.store.subscribers(CHANNEL) == []
    finally:
        await bot.stop()


async def test_subscribing_to_a_chat_without_digests_is_refused(bot_settings: Settings, botapi: FakeBotAPI,
                                                                llm_server: FakeLLM) -> None:
    bot = await start(bot_settings, llm_server)
    try:
        botapi.push("message", U.command(4242, "/subscribe -1001234500999"))
        await until(lambda: "Digests are off in that chat." in botapi.visible_text(4242))
        botapi.push("message", U.command(GROUP, "/subscribe", uid=MEMBER))
        await until(lambda: "Send /subscribe in a private chat with me." in botapi.visible_text(GROUP))
        assert await bot.store.subscriptions(4242) == []
    finally:
        await bot.stop()



async def test_subscribe_answers_an_impossible_id_and_tells_a_stranger_nothing(
        bot_settings: Settings, botapi: FakeBotAPI, llm_server: FakeLLM) -> None:
    stranger, off = 4545, -1001234500998
    botapi.chat_members[(GROUP, stranger)] = botapi.chat_members[(off, stranger)] = "left"
    bot = await start(bot_settings, llm_server)
    try:
        await bot.store.save_chat(ChatSettings(chat_id=GROUP, digest_enabled=True))

        def answers() -> list[str]:
            return [c.params["text"] for c in botapi.sent(stranger, ("sendMessage",))]

        botapi.push("message", U.command(stranger, "/subscribe 99999999999999999999999"))
        await until(lambda: len(answers()) == 1)
        assert "I can't find that chat" in answers()[0]
        botapi.push("message", U.command(stranger, f"/subscribe {GROUP}"))  # digests on
        await until(lambda: len(answers()) == 2)
        botapi.push("message", U.command(stranger, f"/subscribe {off}"))  # digests off
        await until(lambda: len(answers()) == 3)
        assert answers()[1] == answers()[2] and "a chat you are a member of" in answers()[1]
        assert await bot.store.subscriptions(stranger) == []
    finally:
        await bot.stop()

def test_a_forwarded_channel_post_links_to_its_public_post() -> None:
    forwarded = Message.de_json(U.forwarded_from_channel(GROUP, "نص", "قناة الأخبار", uid=MEMBER), None)
    assert post_link(forwarded) == "https://t.me/newschan/55"
    pasted = Message.de_json(U.message(GROUP, "نص", uid=MEMBER), None)
    assert post_link(pasted) == f"https://t.me/c/1234500300/{pasted.message_id}"
    assert post_link(Message.de_json(U.message(801, "نص"), None)) is None  # a private chat: nobody else sees it


# --- races ----------------------------------------------------------------------------------------
async def test_two_digest_requests_at_once_post_one_digest(bot_settings: Settings, botapi: FakeBotAPI,
                                                           llm_server: FakeLLM) -> None:
    bot = await start(bot_settings, llm_server)
    try:
        await digest_on(botapi)
        botapi.push("message", U.message(GROUP, STORIES["gaza"]["article"], uid=MEMBER))
        await until(lambda: llm_server.calls == 1)
        # the daily job and a member's /digest now at the same moment: each posts once
        posted = asyncio.create_task(bot.digests.post(GROUP))
        botapi.push("message", U.command(GROUP, "/digest now", uid=MEMBER))
        assert await posted
        await until(lambda: len(digests(botapi, GROUP)) == 2
                    or "Nothing new since the last digest" in botapi.visible_text(GROUP))
        assert await bot.digests.post(GROUP) is False  # the scheduled digest had it: nothing new
    finally:
        await bot.stop()


async def test_digest_now_shows_the_digest_so_far_without_taking_it_from_the_scheduled_one(
        bot_settings: Settings, botapi: FakeBotAPI, llm_server: FakeLLM) -> None:
    bot = await start(bot_settings, llm_server)
    try:
        await digest_on(botapi)
        botapi.push("message", U.message(GROUP, STORIES["gaza"]["article"], uid=MEMBER))
        botapi.push("message", U.message(GROUP, STORIES["sudan"]["article"], uid=MEMBER))
        await until(lambda: entries(bot, GROUP, 2))
        botapi.push("message", U.command(GROUP, "/digest now", uid=MEMBER))
        botapi.push("message", U.command(GROUP, "/digest now", uid=ADMIN))  # at once, twice
        await until(lambda: "ask again in 5 minutes" in botapi.visible_text(GROUP))
        assert "اطلبه مجددًا بعد 5 دقائق" in botapi.visible_text(GROUP)
        (so_far,) = digests(botapi, GROUP)
        assert "2 articles, 2 stories" in so_far
        # the scheduled digest still reports both, and with them the period moves on
        assert await bot.digests.run_scheduled(GROUP)
        assert "2 articles, 2 stories" in digests(botapi, GROUP)[-1]
        assert await bot.digests.post(GROUP) is False
    finally:
        await bot.stop()


async def test_a_digest_posted_late_does_not_undo_digest_off(bot_settings: Settings, botapi: FakeBotAPI,
                                                             llm_server: FakeLLM) -> None:
    bot = await start(bot_settings, llm_server)
    try:
        await digest_on(botapi)
        botapi.push("message", U.message(GROUP, STORIES["gaza"]["article"], uid=MEMBER))
        await until(lambda: llm_server.calls == 1)
        llm_server.delay = 1.5  # the next article holds the chat while it is briefed
        botapi.push("message", U.message(GROUP, STORIES["sudan"]["article"], uid=MEMBER))
        await until(lambda: llm_server.in_flight == 1)
        botapi.push("message", U.command(GROUP, "/digest now", uid=MEMBER))  # waits for that article
        botapi.push("message", U.command(GROUP, "/digest off", uid=ADMIN))
        await until(lambda: "Digest off" in botapi.visible_text(GROUP))
        await until(lambda: digests(botapi, GROUP))
        assert not (await bot.store.chat(GROUP)).digest_enabled
    finally:
        await bot.stop()


async def test_a_rich_digest_is_one_message_with_a_table_of_stories_and_their_links(
        bot_settings: Settings, botapi: FakeBotAPI, llm_server: FakeLLM) -> None:
    from tests.fakes.rich_html import check

    bot = await start(configure(bot_settings, rich_messages="auto"), llm_server)
    try:
        await digest_on(botapi)
        shared = [U.message(GROUP, s["article"], uid=MEMBER) for s in STORIES.values()]
        for m in shared:
            botapi.push("message", m)
        await until(lambda: llm_server.calls == 3)
        botapi.push("message", U.command(GROUP, "/digest now", uid=MEMBER))
        await until(lambda: botapi.sent(GROUP, ("sendRichMessage",)))
        (call,) = botapi.sent(GROUP, ("sendRichMessage",))
        html = call.params["rich_message"]["html"]
        got = check(html)
        assert "News digest" in got.text and "موجز الأخبار" in got.text  # the group's view: both languages
        assert html.count("<table bordered striped>") == 2 and html.count("<details><summary>") == 6
        for m in shared:  # each story links to the post it came from
            assert f'href="https://t.me/c/1234500300/{m["message_id"]}"' in html
        assert not [c for c in botapi.sent(GROUP, ("sendMessage",)) if "News digest" in c.params["text"]]
    finally:
        await bot.stop()


# --- forum groups ---------------------------------------------------------------------------------
def in_topic(update: dict[str, Any], topic: int | None) -> dict[str, Any]:
    """A message in a forum group: in a topic, or (None) in General."""
    update["chat"]["is_forum"] = True
    if topic is not None:
        update["message_thread_id"], update["is_topic_message"] = topic, True
    return update


async def test_in_a_forum_digests_post_in_the_topic_they_were_turned_on_in_and_settings_move_them(
        bot_settings: Settings, botapi: FakeBotAPI, llm_server: FakeLLM) -> None:
    bot = await start(bot_settings, llm_server)

    async def posted_in() -> list[object]:
        """The topic of each message of the digest just posted by the daily job (None: General)."""
        before = len(botapi.sent(GROUP, ("sendMessage",)))
        assert await bot.digests.run_scheduled(GROUP) or await bot.digests.post(GROUP)
        return [c.params.get("message_thread_id") for c in botapi.sent(GROUP, ("sendMessage",))[before:]]

    try:
        botapi.chat_members[(GROUP, ADMIN)] = "administrator"
        botapi.push("message", in_topic(U.command(GROUP, "/digest on 09:00 UTC", uid=ADMIN), 77))
        await until(lambda: "09:00" in botapi.visible_text(GROUP))
        botapi.push("message", in_topic(U.message(GROUP, STORIES["gaza"]["article"], uid=MEMBER), 12))
        await until(lambda: entries(bot, GROUP, 1))
        assert await posted_in() == [77]

        # /settings in another topic: digests can move here (or to General)
        botapi.push("message", in_topic(U.command(GROUP, "/settings", uid=ADMIN), 12))
        await until(lambda: "Digests post in a topic" in botapi.visible_text(GROUP))
        menu = botapi.sent(GROUP, ("sendMessage",))[-1]
        assert "cfg:topic:12" in str(menu.params["reply_markup"]) and "cfg:topic:0" in str(menu.params["reply_markup"])
        pressed = U.callback(GROUP, menu.result["message_id"], "cfg:topic:12", uid=ADMIN)
        in_topic(pressed["message"], 12)
        botapi.push("callback_query", pressed)
        await until(lambda: "✓ 📍 الموجز في هذا الموضوع" in str(botapi.sent(GROUP, ("editMessageText",))))
        botapi.push("message", in_topic(U.message(GROUP, STORIES["sudan"]["article"], uid=MEMBER), 12))
        await until(lambda: entries(bot, GROUP, 2))
        assert await posted_in() == [12]
        assert (await bot.store.chat(GROUP)).digest_thread_id == 12

        # the topic is deleted: the digest goes to General rather than nowhere
        botapi.push("message", in_topic(U.message(GROUP, STORIES["gaza"]["article"] + " 2", uid=MEMBER), None))
        await until(lambda: entries(bot, GROUP, 3))
        botapi.fail("sendMessage", 400, "Bad Request: message thread not found (injected)")
        assert await posted_in() == [None]
    finally:
        await bot.stop()
