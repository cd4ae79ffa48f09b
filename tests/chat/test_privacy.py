"""Privacy between chats: what one chat's request adds to an article (who a post was forwarded
from, who sent it) never reaches another chat through the brief cache, and only a channel is
ever a publisher."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from telegram import Message

from bot.chat.app import NewsBot
from bot.chat.intake import forward_publisher
from tests.conftest import EXAMPLE_ARTICLE, example_brief
from tests.fakes import updates as U
from tests.fakes.botapi_server import BOT_USERNAME, FakeBotAPI
from tests.fakes.openai_server import FakeLLM, Reply, completion
from tests.telegram_harness import BRIEF_MARK, until

ARTICLE = EXAMPLE_ARTICLE.read_text(encoding="utf-8")
GROUP = -100700
PERSON = "Jana Haddad"
CHANNEL = "قناة الخبر الخاص"


def credits_known_outlets(payload: dict[str, Any]) -> Reply:
    """A model that does what the prompt allows: every "(known outlet)" of the metadata becomes a
    source (evidence "") and the first position is credited via it."""
    brief = example_brief()
    content = payload["messages"][-1]["content"]
    for n, name in enumerate(re.findall(r"^[A-Za-z ]+: (.+) \(known outlet\)$", content, re.M)):
        brief["sources"].append({"id": f"outlet{n}", "name": {"ar": name, "en": name}, "kind": "media",
                                 "evidence": ""})
        brief["positions"][0]["source_ids"].append(f"outlet{n}")
    return completion(json.dumps(brief, ensure_ascii=False))


def forwarded_from_person(cid: int, text: str, name: str, **kw: Any) -> dict[str, Any]:
    origin = {"type": "user", "date": int(time.time()) - 60,
              "sender_user": {"id": 777, "is_bot": False, "first_name": name}}
    return U.message(cid, text, forward_origin=origin, **kw)


def forwarded_from_hidden_user(cid: int, text: str, name: str, **kw: Any) -> dict[str, Any]:
    origin = {"type": "hidden_user", "date": int(time.time()) - 60, "sender_user_name": name}
    return U.message(cid, text, forward_origin=origin, **kw)


def everything_sent(botapi: FakeBotAPI, chat: int) -> str:
    """The chat's messages and every document sent to it (the brief's JSON file)."""
    docs = [c.params["document"]["content"] for c in botapi.calls
            if c.method == "sendDocument" and int(c.params["chat_id"]) == chat]
    return botapi.visible_text(chat) + "\n".join(d if isinstance(d, str) else d.decode() for d in docs)


async def open_json(botapi: FakeBotAPI, chat: int) -> None:
    """Press the brief's JSON button in `chat` and wait for the file."""
    final = [c for c in botapi.sent(chat) if c.params.get("reply_markup")][-1]
    data = next(b["callback_data"] for row in final.params["reply_markup"]["inline_keyboard"] for b in row
                if b["callback_data"].startswith("j:"))
    mid = int(final.params.get("message_id", 0)) or next(m for (c, m) in botapi.messages if c == chat)
    docs = sum(c.method == "sendDocument" for c in botapi.calls)
    botapi.push("callback_query", U.callback(chat, mid, data, uid=12 if chat < 0 else None))
    await until(lambda: sum(c.method == "sendDocument" for c in botapi.calls) > docs)


def test_only_a_channel_is_a_publisher() -> None:
    person = Message.de_json(forwarded_from_person(901, ARTICLE, PERSON), None)
    hidden = Message.de_json(forwarded_from_hidden_user(901, ARTICLE, PERSON), None)
    channel = Message.de_json(U.forwarded_from_channel(901, ARTICLE, CHANNEL), None)
    own = Message.de_json(U.message(GROUP, ARTICLE, uid=5, sender_chat=U.chat(GROUP)), None)
    other = U.chat(GROUP - 1)
    as_other_group = Message.de_json(U.message(GROUP, ARTICLE, uid=5, sender_chat=other), None)
    assert forward_publisher(person) is None and forward_publisher(hidden) is None
    assert forward_publisher(channel) == CHANNEL
    assert forward_publisher(own) == "Newsroom"  # a group's anonymous admin: the chat posting as itself
    assert forward_publisher(as_other_group) is None


async def test_a_persons_name_is_never_a_source_and_never_reaches_another_chat(
        newsbot: NewsBot, botapi: FakeBotAPI, llm_server: FakeLLM) -> None:
    llm_server.default = credits_known_outlets
    botapi.push("message", forwarded_from_person(902, ARTICLE, PERSON))
    await until(lambda: BRIEF_MARK in botapi.visible_text(902))
    botapi.push("message", forwarded_from_hidden_user(903, ARTICLE.replace("غزة", "القطاع", 1), PERSON))
    await until(lambda: BRIEF_MARK in botapi.visible_text(903))
    assert all(PERSON not in json.dumps(r, ensure_ascii=False) for r in llm_server.requests)
    await open_json(botapi, 902)
    assert PERSON not in everything_sent(botapi, 902) + everything_sent(botapi, 903)

    # the same text asked for in a group: served from the cache, with nothing of the private chat
    calls = llm_server.calls
    botapi.push("message", U.mention(GROUP, f"@{BOT_USERNAME} " + ARTICLE, uid=12))
    await until(lambda: BRIEF_MARK in botapi.visible_text(GROUP))
    assert llm_server.calls == calls  # from the cache: the brief was of the article alone
    await open_json(botapi, GROUP)
    assert PERSON not in everything_sent(botapi, GROUP)


async def test_a_brief_made_with_a_forwarded_channel_is_not_served_to_another_chat(
        newsbot: NewsBot, botapi: FakeBotAPI, llm_server: FakeLLM) -> None:
    llm_server.default = credits_known_outlets
    botapi.push("message", U.forwarded_from_channel(904, ARTICLE, CHANNEL))
    await until(lambda: BRIEF_MARK in botapi.visible_text(904))
    await open_json(botapi, 904)
    assert CHANNEL in everything_sent(botapi, 904)  # the chat's own request names its publisher
    first = len(llm_server.requests)

    botapi.push("message", U.mention(GROUP, f"@{BOT_USERNAME} " + ARTICLE, uid=12))
    await until(lambda: BRIEF_MARK in botapi.visible_text(GROUP))
    await open_json(botapi, GROUP)
    sent = everything_sent(botapi, GROUP)
    assert CHANNEL not in sent and "newschan" not in sent  # in the brief, its sources, "via", the JSON
    assert len(llm_server.requests) > first  # briefed afresh, from the article alone
    assert all(CHANNEL not in json.dumps(r, ensure_ascii=False) for r in llm_server.requests[first:])
    calls = llm_server.calls

    # a second chat forwarding the same channel's post gets the brief made with that publisher
    botapi.push("message", U.forwarded_from_channel(905, ARTICLE, CHANNEL))
    await until(lambda: BRIEF_MARK in botapi.visible_text(905))
    assert llm_server.calls == calls and CHANNEL in botapi.visible_text(905)
