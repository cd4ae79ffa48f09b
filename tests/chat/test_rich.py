"""Briefs as rich messages through the real Application and the strict loopback Bot API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from bot.chat.app import NewsBot
from bot.ops.config import Settings
from tests.conftest import EXAMPLE_ARTICLE, example_brief
from tests.fakes import updates as U
from tests.fakes.botapi_server import BOT_USERNAME, FakeBotAPI
from tests.fakes.openai_server import FakeLLM, completion
from tests.fakes.rich_html import check
from tests.telegram_harness import BRIEF_MARK, configure, until

ARTICLE = EXAMPLE_ARTICLE.read_text(encoding="utf-8")


@pytest.fixture
async def richbot(bot_settings: Settings) -> AsyncIterator[NewsBot]:
    bot = NewsBot(configure(bot_settings, rich_messages="auto"))
    await bot.start()
    yield bot
    await bot.stop()


def chat_calls(api: FakeBotAPI, chat_id: int) -> list[str]:
    return [c.method for c in api.calls if str(c.params.get("chat_id")) == str(chat_id)]


async def test_a_brief_in_both_languages_is_one_rich_message(richbot: NewsBot, botapi: FakeBotAPI,
                                                             llm_server: FakeLLM) -> None:
    msg = U.message(601, ARTICLE)
    botapi.push("message", msg)
    await until(lambda: BRIEF_MARK in botapi.visible_text(601))
    assert chat_calls(botapi, 601) == ["sendRichMessage"]  # one Bot API message, not two
    call = botapi.sent(601)[0].params
    got = check(call["rich_message"]["html"])
    assert "من يضغط على من" in got.text and "Who is pressuring whom" in got.text
    assert call["rich_message"]["is_rtl"] is True  # Arabic leads in the "both" view
    assert call["reply_parameters"]["message_id"] == msg["message_id"]
    assert {"v", "s", "j"} <= {b["callback_data"][0] for row in call["reply_markup"]["inline_keyboard"] for b in row}
    assert got.links and set(got.links) <= got.anchors


async def test_in_a_group_the_status_message_becomes_the_rich_brief(richbot: NewsBot, botapi: FakeBotAPI,
                                                                   llm_server: FakeLLM) -> None:
    group = -100602  # drafts are for private chats: a group sees the status message
    llm_server.delay = 1.5  # past the grace period: a status message shows
    botapi.push("message", U.mention(group, f"@{BOT_USERNAME} {ARTICLE}", uid=21))
    await until(lambda: BRIEF_MARK in botapi.visible_text(group))
    status = botapi.sent(group, ("sendMessage",))
    assert len(status) == 1 and "Writing the brief" in status[0].params["text"]
    final = botapi.sent(group, ("editMessageText",))[-1].params
    assert int(final["message_id"]) == status[0].result["message_id"] and "rich_message" in final
    assert {"sendRichMessage", "sendRichMessageDraft"}.isdisjoint(chat_calls(botapi, group))
    assert len([k for k in botapi.messages if k[0] == group]) == 1


@pytest.mark.parametrize("refusal", ["missing", "bad"])
async def test_a_refused_rich_message_goes_out_classic_at_once_without_error_or_duplicate(
        richbot: NewsBot, botapi: FakeBotAPI, llm_server: FakeLLM, refusal: str) -> None:
    botapi.refuse_rich = refusal
    for chat in (603, 604):
        botapi.push("message", U.message(chat, ARTICLE))
        await until(lambda c=chat: BRIEF_MARK in botapi.visible_text(c))  # type: ignore[misc]
        text = botapi.visible_text(chat)
        assert "⚠️" not in text.split("\n")[0] and "error" not in text.lower()
        assert all(not m.get("rich") for m in botapi.messages.values())
        briefs = [m for (c, _), m in botapi.messages.items() if c == chat]
        assert sum(BRIEF_MARK in m["plain"] for m in briefs) == 1  # no duplicate
    # a server without the methods is asked once for the whole bot; a Bad Request once per chat
    refused = [m for m, _ in botapi.errors]
    assert refused == (["sendRichMessage"] if refusal == "missing" else ["sendRichMessage"] * 2)
    # and the refusal is remembered: a second brief in the same chat goes classic without asking
    botapi.push("message", U.message(604, ARTICLE.replace("غزة", "غزه", 1)))
    await until(lambda: len(botapi.sent(604, ("sendMessage",))) >= 4)
    assert [m for m, _ in botapi.errors] == refused
    botapi.errors.clear()  # the refusals were ordered up


async def test_a_refused_rich_edit_becomes_a_classic_edit_of_the_same_status_message(
        richbot: NewsBot, botapi: FakeBotAPI, llm_server: FakeLLM) -> None:
    group = -100605
    botapi.refuse_rich = "missing"
    llm_server.delay = 1.5
    botapi.push("message", U.mention(group, f"@{BOT_USERNAME} {ARTICLE}", uid=22))
    await until(lambda: "من يضغط على من" in botapi.visible_text(group) and BRIEF_MARK in botapi.visible_text(group))
    status = botapi.sent(group, ("sendMessage",))[0]
    edits = botapi.sent(group, ("editMessageText",))
    assert any(int(e.params["message_id"]) == status.result["message_id"] and "text" in e.params for e in edits)
    assert "من يضغط على من" in botapi.messages[(group, status.result["message_id"])]["plain"]  # its Arabic part
    assert "⚠️" not in botapi.visible_text(group)
    botapi.errors.clear()  # the refusal was ordered up


async def test_a_chat_that_chose_classic_gets_classic(richbot: NewsBot, botapi: FakeBotAPI,
                                                      llm_server: FakeLLM) -> None:
    botapi.push("message", U.command(606, "/settings"))
    await until(lambda: botapi.sent(606, ("sendMessage",)))
    keyboard = botapi.sent(606, ("sendMessage",))[0].params["reply_markup"]["inline_keyboard"]
    data = [b["callback_data"] for row in keyboard for b in row]
    assert "cfg:format:classic" in data and "cfg:format:rich" in data
    settings_id = botapi.sent(606, ("sendMessage",))[0].result["message_id"]
    botapi.push("callback_query", U.callback(606, settings_id, "cfg:format:classic"))
    await until(lambda: botapi.sent(606, ("editMessageText",)))
    botapi.push("message", U.message(606, ARTICLE))
    await until(lambda: BRIEF_MARK in botapi.visible_text(606))
    assert "sendRichMessage" not in chat_calls(botapi, 606)


async def test_language_buttons_re_render_a_rich_brief_in_place(richbot: NewsBot, botapi: FakeBotAPI,
                                                                llm_server: FakeLLM) -> None:
    botapi.push("message", U.message(607, ARTICLE))
    await until(lambda: BRIEF_MARK in botapi.visible_text(607))
    sent = botapi.sent(607)[0]
    en = next(b["callback_data"] for row in sent.params["reply_markup"]["inline_keyboard"] for b in row
              if b["callback_data"].startswith("v:") and b["callback_data"].split(":")[2] == "en")
    press = U.callback(607, sent.result["message_id"], en)
    press["message"] = sent.result  # the rich message as the server sent it: no text
    botapi.push("callback_query", press)
    await until(lambda: "من يضغط على من" not in botapi.visible_text(607))
    edit = botapi.sent(607, ("editMessageText",))[-1].params
    assert edit["rich_message"]["is_rtl"] is False and "rich_message" in edit
    assert BRIEF_MARK in botapi.visible_text(607) and len(botapi.messages) == 1


async def test_a_private_chat_sees_the_headline_as_a_draft_while_the_model_writes(
        richbot: NewsBot, botapi: FakeBotAPI, llm_server: FakeLLM) -> None:
    data = example_brief()
    text = json.dumps(data, ensure_ascii=False)
    llm_server.default = lambda payload: completion(text, chunk_chars=16, chunk_delay=0.006)  # ~2.5 s of writing
    botapi.push("message", U.message(611, ARTICLE))
    await until(lambda: BRIEF_MARK in botapi.visible_text(611))
    calls = [c for c in botapi.calls if str(c.params.get("chat_id")) == "611"]
    drafts = [c for c in calls if c.method == "sendRichMessageDraft"]
    final = calls[-1]
    assert final.method == "sendRichMessage" and "sendMessage" not in {c.method for c in calls}  # no status message
    first = next(c for c in drafts if data["headline"]["en"] in check(c.params["rich_message"]["html"]).text)
    assert "Not yet checked" in check(first.params["rich_message"]["html"]).text
    assert final.at - first.at > 1.0  # the headline showed while most of the answer was still to come
    assert any(data["summary"]["en"][:60] in c.params["rich_message"]["html"] for c in drafts)
    # then the rest as it is written: who pressures whom and the stances, still unchecked, never a quote
    rest = [check(c.params["rich_message"]["html"]).text for c in drafts]
    assert any("Who is pressuring whom" in t and data["positions"][0]["stance"]["en"] in t for t in rest)
    assert not any(q["quote"] in t for t in rest for q in data["positions"] if q["quote"])
    assert len({c.params["draft_id"] for c in drafts}) == 1  # one draft, animated from stage to stage


async def test_sources_and_json_buttons_work_under_a_rich_brief(richbot: NewsBot, botapi: FakeBotAPI,
                                                                 llm_server: FakeLLM) -> None:
    botapi.push("message", U.message(612, ARTICLE))
    await until(lambda: BRIEF_MARK in botapi.visible_text(612))
    sent = botapi.sent(612)[0]
    data = {b["callback_data"][0]: b["callback_data"] for row in sent.params["reply_markup"]["inline_keyboard"]
            for b in row}
    for kind in ("s", "j"):
        press = U.callback(612, sent.result["message_id"], data[kind])
        press["message"] = sent.result
        botapi.push("callback_query", press)
    await until(lambda: [c for c in botapi.calls if c.method == "sendDocument"]
                and botapi.sent(612, ("sendMessage",)))
    sources = botapi.sent(612, ("sendMessage",))[0].params
    assert "المصادر" in sources["text"] and sources["reply_parameters"]["message_id"] == sent.result["message_id"]
