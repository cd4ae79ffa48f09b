"""What people send becomes requests: split pastes joined (in private chats and groups) without
swallowing a link, and articles collected for a digest held to their senders' quotas, the chat's
daily budget, and one brief per article."""

from __future__ import annotations

import json
from typing import Any

from bot.chat.app import NewsBot
from bot.ops.config import Settings
from bot.store import ChatSettings
from tests.conftest import EXAMPLE_ARTICLE
from tests.fakes import updates as U
from tests.fakes.botapi_server import BOT_USERNAME, FakeBotAPI
from tests.fakes.openai_server import FakeLLM
from tests.fakes.web_server import FakeWeb
from tests.telegram_harness import BRIEF_MARK, configure, idle, sql, until

ARTICLE = EXAMPLE_ARTICLE.read_text(encoding="utf-8")
HEAD = (ARTICLE * 3)[:4096]  # a paste Telegram split: a full first part, then the rest
TAIL = (ARTICLE * 3)[4096:5596]
GROUP = -100800


def article_texts(llm: FakeLLM) -> set[str]:
    """The different articles the LLM was asked to brief (a repair asks about the same article)."""
    return {r["messages"][1]["content"] for r in llm.requests}


async def collected(bot: NewsBot, chat: int) -> list[tuple[Any, ...]]:
    return await sql(bot.settings, "SELECT user_id, status FROM requests WHERE chat_id = ? AND mode = 'collect'", chat)


async def collected_at_least(bot: NewsBot, chat: int, n: int) -> bool:
    return len(await collected(bot, chat)) >= n


# --- split pastes ---------------------------------------------------------------------------------
async def test_a_link_sent_just_after_a_long_paste_part_is_its_own_request(
        newsbot: NewsBot, botapi: FakeBotAPI, llm_server: FakeLLM, web: FakeWeb) -> None:
    url = web.url("/page/html__arabic_article.html")
    botapi.push("message", U.message(811, HEAD, uid=81))
    await until(lambda: newsbot.services.joiner._pending)  # the first part waits for a second
    botapi.push("message", U.link_message(811, url, url, uid=81))
    await until(lambda: botapi.visible_text(811).count(BRIEF_MARK) == 2)
    assert web.hits == ["/page/html__arabic_article.html"]  # the link was read, not pasted into the text
    (paste,) = [t for t in article_texts(llm_server) if HEAD[-200:].strip() in t]
    assert url not in paste


async def test_a_split_paste_in_a_group_is_one_article(newsbot: NewsBot, botapi: FakeBotAPI,
                                                       llm_server: FakeLLM) -> None:
    await newsbot.store.save_chat(ChatSettings(chat_id=GROUP, digest_enabled=True))
    # collected for the digest: one article of both parts
    botapi.push("message", U.message(GROUP, HEAD, uid=82))
    await until(lambda: newsbot.services.joiner._pending)  # Telegram delivers the second part a moment later
    botapi.push("message", U.message(GROUP, TAIL, uid=82))
    await until(lambda: any(TAIL[:200].strip() in t for t in article_texts(llm_server)))
    await until(lambda: newsbot.store.digest_entries(GROUP, 0))
    assert len(await collected(newsbot, GROUP)) == 1
    (text,) = article_texts(llm_server)
    assert HEAD[-200:].strip() in text

    # asked for with a mention in the first part: one brief of both parts, in reply
    mention = f"@{BOT_USERNAME} "
    botapi.push("message", U.mention(GROUP, mention + HEAD[len(mention):] + "\nب", uid=83))
    await until(lambda: newsbot.services.joiner._pending)
    botapi.push("message", U.message(GROUP, TAIL + "\nب", uid=83))
    await until(lambda: BRIEF_MARK in botapi.visible_text(GROUP))
    await idle(newsbot, botapi)
    assert botapi.visible_text(GROUP).count(BRIEF_MARK) == 1 and len(await collected(newsbot, GROUP)) == 1
    asked = [t for t in article_texts(llm_server) if t.rstrip("</article>\n").endswith("ب")]
    assert len(asked) == 1 and f"@{BOT_USERNAME}" not in asked[0] and TAIL[:200].strip() in asked[0]


# --- the cost of collected articles -----------------------------------------------------------------
async def test_collected_articles_count_against_their_senders_and_the_chats_budget(
        bot_settings: Settings, botapi: FakeBotAPI, llm_server: FakeLLM) -> None:
    admins = (801, 802)
    for admin in admins:
        botapi.chat_members[(GROUP, admin)] = "administrator"
    bot = NewsBot(configure(bot_settings, daily_requests_per_user=2, daily_collected_per_chat=7))
    await bot.start()
    try:
        await bot.store.save_chat(ChatSettings(chat_id=GROUP, digest_enabled=True))
        # a near-duplicate first: the same article with other spacing, by someone else, is briefed once
        botapi.push("message", U.message(GROUP, ARTICLE, uid=90))
        botapi.push("message", U.message(GROUP, ARTICLE.replace("\n", "\n\n"), uid=91))
        await until(lambda: bot.store.digest_entries(GROUP, 0))
        # six members post four different articles each, at once
        for n in range(24):
            botapi.push("message", U.message(GROUP, f"{ARTICLE}\n\nتحديث رقم {n}", uid=100 + n % 6))
        await until(lambda: all(botapi.visible_text(a).count("has reached today's limit") == 1 for a in admins))
        await until(lambda: _all_done(bot))
        rows = await collected(bot, GROUP)
        assert len(rows) == 7  # the chat's budget
        per_user: dict[int, int] = {}
        for user_id, _ in rows:
            per_user[user_id] = per_user.get(user_id, 0) + 1
        assert max(per_user.values()) <= 2 and 91 not in per_user  # the repost was not collected
        assert len(article_texts(llm_server)) == 7  # LLM calls for 7 articles, not 26
        notice = botapi.visible_text(admins[0])
        assert "Newsroom" in notice and "(7 articles)" in notice and "(7 مقالات)" in notice
        assert botapi.visible_text(GROUP) == ""  # the admins were told privately; the group saw nothing
        botapi.push("message", U.message(GROUP, f"{ARTICLE}\n\nأخيرًا", uid=120))
        await idle(bot, botapi)
        assert all(botapi.visible_text(a).count("has reached today's limit") == 1 for a in admins)  # once a day
    finally:
        await bot.stop()


async def _all_done(bot: NewsBot) -> bool:
    return not await sql(bot.settings, "SELECT 1 FROM requests WHERE status = 'pending'")


async def test_each_file_posted_is_collected_and_a_repost_of_one_is_not(
        newsbot: NewsBot, botapi: FakeBotAPI) -> None:
    channel = -1009999000801
    await newsbot.store.save_chat(ChatSettings(chat_id=channel, digest_enabled=True))
    for n, file_id in enumerate(("first", "second"), 1):
        doc = {**botapi.add_file(file_id, f"{ARTICLE}\n\n{file_id}".encode()), "file_name": f"{file_id}.txt",
               "mime_type": "text/plain"}
        msg = U.message(channel, document=doc)
        del msg["text"]
        botapi.push("channel_post", msg)
        await until(lambda n=n: collected_at_least(newsbot, channel, n))  # each new file is collected
    # the first file posted again (a new message, the same content): the chat collected it already
    (payload,) = await sql(newsbot.settings, "SELECT payload FROM requests WHERE chat_id = ? ORDER BY id LIMIT 1",
                           channel)
    again = await newsbot.services.gate.admit(channel, channel, 99, json.loads(payload[0]), mode="collect")
    assert again is None and len(await collected(newsbot, channel)) == 2


async def test_a_channels_posts_count_against_the_channel(newsbot: NewsBot, botapi: FakeBotAPI) -> None:
    channel = -1009999000800
    await newsbot.store.save_chat(ChatSettings(chat_id=channel, digest_enabled=True))
    botapi.push("channel_post", U.message(channel, ARTICLE))
    await until(lambda: collected(newsbot, channel))
    assert [r[0] for r in await collected(newsbot, channel)] == [channel]
