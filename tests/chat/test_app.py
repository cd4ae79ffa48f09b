"""The bot end to end: real python-telegram-bot Application, loopback Bot API and LLM servers."""

from __future__ import annotations

import asyncio
import itertools
import json

import pytest
from telegram.ext import CommandHandler

from bot.chat.app import NewsBot
from bot.ops.config import Settings
from tests.conftest import EXAMPLE_ARTICLE
from tests.fakes import updates as U
from tests.fakes.botapi_server import BOT_USERNAME, FakeBotAPI
from tests.fakes.openai_server import FakeLLM, error
from tests.fakes.web_server import FakeWeb
from tests.telegram_harness import BRIEF_MARK, bot_process, configure, idle, post_webhook, until

ARTICLE = EXAMPLE_ARTICLE.read_text(encoding="utf-8")


def replies(api: FakeBotAPI, chat_id: int) -> str:
    return api.visible_text(chat_id)




async def test_private_text_gets_one_brief_in_reply(newsbot: NewsBot, botapi: FakeBotAPI, llm_server: FakeLLM) -> None:
    msg = U.message(501, ARTICLE)
    botapi.push("message", msg)
    await until(lambda: BRIEF_MARK in replies(botapi, 501))
    text = replies(botapi, 501)
    assert "من يضغط على من" in text and "United States, Qatar, Egypt → Israel, Hamas" in text
    first = botapi.sent(501, ("sendMessage",))[0].params
    assert first["reply_parameters"]["message_id"] == msg["message_id"]  # quotes the user's message
    assert first["link_preview_options"] == {"is_disabled": True}
    final = [c for c in botapi.sent(501) if c.params.get("reply_markup")][-1].params
    buttons = [b for row in final["reply_markup"]["inline_keyboard"] for b in row]
    assert {b["callback_data"].split(":")[0] for b in buttons} == {"v", "s", "j", "lb"}
    # a quick brief is new messages only: no typing, no status message, no edits
    assert [c.method for c in botapi.calls if str(c.params.get("chat_id")) == "501"] == ["sendMessage"] * len(
        botapi.sent(501, ("sendMessage",)))
    assert llm_server.calls == 1


async def test_status_message_walks_through_stages_without_flooding(newsbot: NewsBot, botapi: FakeBotAPI,
                                                                    llm_server: FakeLLM) -> None:
    llm_server.delay = 2.0  # longer than the grace period: the writing stage is shown
    botapi.push("message", U.message(502, ARTICLE))
    await until(lambda: BRIEF_MARK in replies(botapi, 502))
    edits = [c for c in botapi.sent(502, ("editMessageText",))]
    first = botapi.sent(502, ("sendMessage",))[0]
    assert "Writing the brief" in first.params["text"]  # shown after the grace period, at the current stage
    assert BRIEF_MARK in edits[-1].params["text"] or len(botapi.sent(502, ("sendMessage",))) > 1
    times = [first.at] + [c.at for c in edits]
    assert all(b - a >= 0.95 for a, b in itertools.pairwise(times))  # ≤ 1 edit/s per chat


async def test_link_is_fetched_and_briefed(newsbot: NewsBot, botapi: FakeBotAPI, llm_server: FakeLLM,
                                           web: FakeWeb) -> None:
    url = web.url("/page/html__arabic_article.html")
    botapi.push("message", U.link_message(503, f"شوف هذا {url}", url))
    await until(lambda: BRIEF_MARK in replies(botapi, 503))
    sent = llm_server.requests[0]["messages"][1]["content"]
    assert "أكدت جهات سورية معارضة" in sent and "Title: معارضون يسيطرون" in sent


async def test_text_link_in_caption(newsbot: NewsBot, botapi: FakeBotAPI, llm_server: FakeLLM, web: FakeWeb) -> None:
    url = web.url("/page/bbc.com.52241221.html")
    botapi.push("message", U.message(504, caption="المصدر", photo=[{"file_id": "p", "file_unique_id": "pu",
                                                                     "width": 1, "height": 1}],
                                     entities=[{"type": "text_link", "offset": 0, "length": 6, "url": url}]))
    await until(lambda: BRIEF_MARK in replies(botapi, 504))
    assert "New York" in llm_server.requests[0]["messages"][1]["content"]


async def test_several_links_are_capped_and_said(newsbot: NewsBot, botapi: FakeBotAPI, web: FakeWeb) -> None:
    urls = [web.url(f"/page/{n}") for n in ("bbc.com.52241221.html", "politico.com.retirement.html",
                                             "html__cnn_article.html", "html__arabic_article.html")]
    text = " ".join(urls)
    ents = [{"type": "url", "offset": U.utf16_offset(text, u)[0], "length": len(u)} for u in urls]
    botapi.push("message", U.message(505, text, entities=ents))
    await until(lambda: replies(botapi, 505).count(BRIEF_MARK) == 3)
    assert "I brief the first 3 links only; 1 link left out." in replies(botapi, 505)


async def test_forwarded_channel_post_records_publisher(newsbot: NewsBot, botapi: FakeBotAPI,
                                                        llm_server: FakeLLM) -> None:
    botapi.push("message", U.forwarded_from_channel(506, ARTICLE, "قناة مصدر الإخبارية"))
    await until(lambda: BRIEF_MARK in replies(botapi, 506))
    assert "Forwarded from: قناة مصدر الإخبارية" in llm_server.requests[0]["messages"][1]["content"]


async def test_group_command_reply_and_mention(newsbot: NewsBot, botapi: FakeBotAPI, llm_server: FakeLLM) -> None:
    group = -100200
    article = U.message(group, ARTICLE, uid=11)
    botapi.push("message", article)  # an ordinary message: the bot stays quiet
    botapi.push("message", U.command(group, "/summarize", uid=12, reply_to=article))
    await until(lambda: BRIEF_MARK in replies(botapi, group))
    assert llm_server.calls == 1
    botapi.push("message", U.mention(group, f"@{BOT_USERNAME} " + ARTICLE.replace("غزة", "القطاع", 1), uid=13))
    await until(lambda: replies(botapi, group).count(BRIEF_MARK) == 2)
    assert llm_server.calls == 2
    bot_reply = U.bot_message(group, 10_000)  # the bot's first message in this chat
    botapi.push("message", U.message(group, "شكرًا!", uid=14, reply_to=bot_reply))  # a thank-you is not work
    await idle(newsbot, botapi)
    assert llm_server.calls == 2 and "too short" not in replies(botapi, group)
    # the first, plain message got no reply of its own
    replied_to = {c.params["reply_parameters"]["message_id"] for c in botapi.sent(group, ("sendMessage",))}
    assert article["message_id"] not in replied_to


async def test_channel_posts_get_no_replies(newsbot: NewsBot, botapi: FakeBotAPI, llm_server: FakeLLM) -> None:
    channel = -1009999000001
    botapi.push("channel_post", U.message(channel, ARTICLE))
    await idle(newsbot, botapi)
    assert botapi.sent(channel) == [] and llm_server.calls == 0


async def test_language_switch_and_json_buttons(newsbot: NewsBot, botapi: FakeBotAPI) -> None:
    botapi.push("message", U.message(507, ARTICLE))
    await until(lambda: BRIEF_MARK in replies(botapi, 507))
    final = [c for c in botapi.sent(507) if c.params.get("reply_markup")][-1]
    buttons = [b["callback_data"] for row in final.params["reply_markup"]["inline_keyboard"] for b in row]
    assert all(len(d.encode()) <= 64 for d in buttons)
    by_kind = {(d.split(":")[0], d.split(":")[2]): d for d in buttons}
    mid = int(final.params.get("message_id", 0)) or next(
        m for (c, m) in botapi.messages if c == 507)
    botapi.push("callback_query", U.callback(507, mid, by_kind[("v", "en")]))
    await until(lambda: "من يضغط على من" not in replies(botapi, 507))
    assert BRIEF_MARK in replies(botapi, 507)
    botapi.push("callback_query", U.callback(507, mid, by_kind[("j", "")]))
    await until(lambda: any(c.method == "sendDocument" for c in botapi.calls))
    doc = next(c for c in botapi.calls if c.method == "sendDocument").params["document"]
    envelope = json.loads(doc["content"])
    assert doc["filename"].startswith("brief-") and envelope["brief"]["actors"][0]["id"] == "usa"
    botapi.push("callback_query", U.callback(507, mid, by_kind[("s", "")]))
    await until(lambda: "ونقلت الهيئة عن مصادر مطلعة" in replies(botapi, 507))
    assert sum(c.method == "answerCallbackQuery" for c in botapi.calls) == 3


async def test_forged_button_cannot_open_another_chats_brief(newsbot: NewsBot, botapi: FakeBotAPI) -> None:
    botapi.push("message", U.message(508, ARTICLE))
    await until(lambda: BRIEF_MARK in replies(botapi, 508))
    final = [c for c in botapi.sent(508) if c.params.get("reply_markup")][-1]
    json_button = next(b["callback_data"] for row in final.params["reply_markup"]["inline_keyboard"]
                       for b in row if b["callback_data"].startswith("j:"))
    botapi.messages[(509, 1)] = {"plain": "x", "html": "x"}
    botapi.push("callback_query", U.callback(509, 1, json_button))  # the same data, pressed in another chat
    await until(lambda: any(c.method == "answerCallbackQuery" for c in botapi.calls))
    answer = next(c for c in botapi.calls if c.method == "answerCallbackQuery").params
    assert "no longer available" in answer["text"]
    assert not any(c.method == "sendDocument" for c in botapi.calls)


async def test_same_link_twice_is_fetched_and_briefed_once(newsbot: NewsBot, botapi: FakeBotAPI,
                                                           llm_server: FakeLLM, web: FakeWeb) -> None:
    url = web.url("/page/html__arabic_article.html")
    botapi.push("message", U.link_message(510, url, url))
    await until(lambda: BRIEF_MARK in replies(botapi, 510))
    calls = llm_server.calls  # the loopback model's brief does not fit this page: it was repaired once
    botapi.push("message", U.link_message(511, url, url))
    await until(lambda: BRIEF_MARK in replies(botapi, 511))
    assert llm_server.calls == calls and web.hits == ["/page/html__arabic_article.html"]


@pytest.mark.parametrize(
    ("case", "ar", "en"),
    [
        ("not_article", "لا يبدو مقالًا", "does not look like a news article"),
        ("blocked", "رفض الموقع", "refused the request"),
        ("private_address", "عنوان داخلي", "do not open this kind of address"),
        ("too_short", "قصير جدًا", "too short"),
        ("paywall", "خلف جدار دفع", "paste its text instead"),
        ("too_large", "أكبر من الحد المسموح", "larger than the allowed limit"),
        ("llm_down", "غير متاحة", "unavailable"),
        ("quota", "الحد اليومي", "quota is reached"),
        ("not_allowed", "غير متاح في هذه المحادثة", "not available in this chat"),
    ],
)
async def test_each_failure_gets_a_clear_bilingual_reply(
        bot_settings: Settings, botapi: FakeBotAPI, llm_server: FakeLLM, web: FakeWeb, case: str, ar: str, en: str
) -> None:
    cid = 600
    overrides: dict[str, object] = {}
    if case == "private_address":
        overrides["fetch_allow_private_addresses"] = False
    if case == "llm_down":
        overrides["llm_max_attempts"] = 2
        llm_server.script = [error(503, "down")] * 2
    if case == "quota":
        overrides["daily_requests_per_user"] = 1
    if case == "not_allowed":
        overrides["allowed_chat_ids"] = frozenset({1})
    bot = NewsBot(configure(bot_settings, **overrides))
    web.routes["/clip.mp4"] = (200, "video/mp4", b"\x00\x00\x00\x18ftypmp42")
    web.routes["/teaser"] = (200, "text/html", b"<html><body><article><p>" + b"A deal is near. " * 8 +
                             b"</p><p>Subscribe to continue reading</p></article></body></html>")
    messages = {
        "not_article": U.link_message(cid, web.url("/clip.mp4"), web.url("/clip.mp4")),
        "blocked": U.link_message(cid, web.url("/status/403"), web.url("/status/403")),
        "private_address": U.link_message(cid, web.url("/page/bbc.com.52241221.html"),
                                          web.url("/page/bbc.com.52241221.html")),
        "too_short": U.message(cid, "خبر قصير"),
        "paywall": U.link_message(cid, web.url("/teaser"), web.url("/teaser")),
        "too_large": U.link_message(cid, web.url("/endless"), web.url("/endless")),
    }
    await bot.start()
    try:
        if case == "quota":
            botapi.push("message", U.message(cid, ARTICLE))
            await until(lambda: BRIEF_MARK in replies(botapi, cid))
        botapi.push("message", messages.get(case, U.message(cid, ARTICLE)))
        await until(lambda: en in replies(botapi, cid))
        assert ar in replies(botapi, cid)
        # the bot keeps going: the next good message is answered
        botapi.push("message", U.message(cid + 1, ARTICLE))
        if case not in ("llm_down", "not_allowed"):
            await until(lambda: BRIEF_MARK in replies(botapi, cid + 1))
    finally:
        await bot.stop()


async def test_twenty_chats_at_once_with_a_slow_llm(newsbot: NewsBot, botapi: FakeBotAPI, llm_server: FakeLLM) -> None:
    llm_server.delay = 1.0
    chats = list(range(700, 720))
    for i, cid in enumerate(chats):
        botapi.push("message", U.message(cid, f"{ARTICLE}\n\nنسخة رقم {i}"))  # different texts: no cache hits
    await until(lambda: all(BRIEF_MARK in replies(botapi, c) for c in chats), within=30)
    assert llm_server.calls == 20
    assert llm_server.max_in_flight >= 5  # the chats were served concurrently, not one by one


async def test_per_chat_order_is_kept(newsbot: NewsBot, botapi: FakeBotAPI, llm_server: FakeLLM) -> None:
    llm_server.delay = 0.3
    first, second = U.message(730, ARTICLE), U.message(730, ARTICLE + "\n\nتحديث")
    botapi.push("message", first)
    botapi.push("message", second)
    await until(lambda: replies(botapi, 730).count(BRIEF_MARK) == 2)
    order = [c.params["reply_parameters"]["message_id"] for c in botapi.sent(730, ("sendMessage",))]
    # a brief may take two messages; all of the first request's come before the second's
    assert order == sorted(order) and set(order) == {first["message_id"], second["message_id"]}


async def test_telegram_429_is_waited_out(newsbot: NewsBot, botapi: FakeBotAPI) -> None:
    botapi.fail("sendMessage", 429, "Too Many Requests: retry after 1 (injected)", retry_after=1)
    botapi.push("message", U.message(740, ARTICLE))
    await until(lambda: BRIEF_MARK in replies(botapi, 740))
    assert ("sendMessage", "Too Many Requests: retry after 1 (injected)") in botapi.errors


async def test_polling_survives_telegram_5xx(newsbot: NewsBot, botapi: FakeBotAPI) -> None:
    botapi.fail("getUpdates", 502, "Bad Gateway (injected)", times=2)
    await until(lambda: len([e for e in botapi.errors if e[0] == "getUpdates"]) == 2)
    botapi.push("message", U.message(750, ARTICLE))
    await until(lambda: BRIEF_MARK in replies(botapi, 750))


async def test_commands_help_lang_and_registration(newsbot: NewsBot, botapi: FakeBotAPI) -> None:
    registered = [c.params for c in botapi.calls if c.method == "setMyCommands"]
    assert {p.get("language_code") for p in registered} == {None, "ar"}
    handled = {c for group in newsbot.app.handlers.values() for h in group if isinstance(h, CommandHandler)
               for c in h.commands}
    for menu in registered:  # every command the bot answers is in the menu, in both languages
        commands = menu["commands"]
        listed = json.loads(commands) if isinstance(commands, str) else commands
        assert {c["command"] for c in listed} == handled
    botapi.push("message", U.command(760, "/start"))
    await until(lambda: "Send me a news link" in replies(botapi, 760))
    assert "أرسل لي رابط خبر" in replies(botapi, 760)
    botapi.push("message", U.command(760, "/lang en"))
    await until(lambda: "Language view is now: English." in replies(botapi, 760))
    botapi.push("message", U.message(760, ARTICLE))
    await until(lambda: BRIEF_MARK in replies(botapi, 760))
    brief = botapi.sent(760)[-1].params["text"]
    assert "من يضغط على من" not in brief


async def test_webhook_mode(bot_settings: Settings, botapi: FakeBotAPI, llm_server: FakeLLM) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = bot_process(bot_settings, llm_server, WEBHOOK_URL=f"http://127.0.0.1:{port}", WEBHOOK_LISTEN="127.0.0.1",
                       WEBHOOK_PORT=str(port), WEBHOOK_SECRET="hook-secret")
    try:
        await until(lambda: any(c.method == "setWebhook" for c in botapi.calls), within=20)
        hook = next(c for c in botapi.calls if c.method == "setWebhook").params
        assert hook["url"] == f"http://127.0.0.1:{port}/telegram" and hook["secret_token"] == "hook-secret"

        update = {"update_id": 9001, "message": U.message(770, ARTICLE)}

        def post(secret: str) -> int:
            return post_webhook(port, update, secret)

        await until(lambda: post("wrong") != 0, within=20)
        assert await asyncio.to_thread(post, "wrong") == 403  # not from Telegram: refused
        assert await asyncio.to_thread(post, "hook-secret") == 200
        await until(lambda: BRIEF_MARK in replies(botapi, 770), within=20)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


async def test_redelivered_message_is_answered_once(newsbot: NewsBot, botapi: FakeBotAPI, llm_server: FakeLLM) -> None:
    msg = U.message(780, ARTICLE)
    botapi.push("message", msg)
    botapi.push("message", msg)  # Telegram resends an update whose receipt was never confirmed
    await until(lambda: BRIEF_MARK in replies(botapi, 780))
    await idle(newsbot, botapi)
    assert len(botapi.sent(780, ("sendMessage",))) == 2  # the status (→ Arabic part) and the English part
    assert llm_server.calls == 1


async def test_a_video_gets_a_clear_answer(newsbot: NewsBot, botapi: FakeBotAPI) -> None:
    video = {"file_id": "v", "file_unique_id": "vu", "width": 640, "height": 360, "duration": 12}
    upload = U.message(790, video=video)
    del upload["text"]
    botapi.push("message", upload)
    await until(lambda: "send the article's text, its link, a PDF or a screenshot" in replies(botapi, 790))
