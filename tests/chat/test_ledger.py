"""The pressure ledger through the real bot: briefs on three days with an escalation, the digest's
"What changed" with both sources, /track alerting once per story, /timeline, /actors merge, /forget,
and another chat that sees none of it."""

from __future__ import annotations

import html
import json
from typing import Any

from bot.chat.app import NewsBot
from bot.ops.config import Settings
from tests.fakes import updates as U
from tests.fakes.botapi_server import FakeBotAPI
from tests.fakes.briefs import STORIES, story_reply
from tests.fakes.openai_server import FakeLLM, Reply, completion
from tests.fakes.rich_html import check
from tests.telegram_harness import configure, sql, until

GROUP = -1001234500400
OTHER = 5_550_001  # a private chat
ADMIN, MEMBER = 40, 41
DAY = 86_400

THREAT_EN = ("Cairo (Reuters) - Egypt threatened Hamas with closing the Rafah crossing unless the movement returns "
             "to the talks. " + "Mediators continue their contacts. " * 12)
THREAT_AR = ("الدوحة – الجزيرة\n\nهددت مصر حركة حماس بإغلاق معبر رفح إذا لم تعد إلى المفاوضات. "
             + "وتستمر الاتصالات بين الأطراف. " * 12)


def threat_brief(arabic: bool) -> dict[str, Any]:
    outlet = ("الجزيرة", "Al Jazeera", "الدوحة – الجزيرة") if arabic else ("رويترز", "Reuters", "Cairo (Reuters)")
    return {
        "language": "ar" if arabic else "en",
        "headline": {"ar": "مصر تهدد حماس بإغلاق معبر رفح", "en": "Egypt threatens Hamas with closing Rafah"},
        "summary": {"ar": "مصر تهدد حماس.", "en": "Egypt threatens Hamas."},
        "actors": [
            {"id": "egypt_gov" if arabic else "cairo", "mention": "مصر" if arabic else "Egypt",
             "name": {"ar": "مصر", "en": "Egypt"}, "kind": "state", "country": "EGY"},
            {"id": "hamas_movement", "mention": "حركة حماس" if arabic else "Hamas",
             "name": {"ar": "حركة حماس", "en": "Hamas movement"}, "kind": "armed_group", "country": "PSE"}],
        "pressures": [{"evidence": "هددت مصر حركة حماس بإغلاق معبر رفح" if arabic else
                       "Egypt threatened Hamas with closing the Rafah crossing",
                       "actors": ["egypt_gov" if arabic else "cairo"], "targets": ["hamas_movement"],
                       "event": "THREATEN", "means": {"ar": "إغلاق المعبر", "en": "closing the crossing"},
                       "demand": {"ar": "العودة إلى المفاوضات", "en": "return to talks"}, "source_ids": ["publisher"]}],
        "positions": [],
        "sources": [{"id": "publisher", "name": {"ar": outlet[0], "en": outlet[1]}, "kind": "media",
                     "evidence": outlet[2]}],
    }


def reply(payload: dict[str, Any]) -> Reply:
    text = payload.get("messages", [{}])[-1].get("content", "")
    if "Egypt threatened Hamas" in text:
        return completion(json.dumps(threat_brief(False), ensure_ascii=False))
    if "هددت مصر حركة حماس" in text:
        return completion(json.dumps(threat_brief(True), ensure_ascii=False))
    return story_reply(payload)


async def events_in(bot: NewsBot, chat: int) -> int:
    return int((await sql(bot.settings, "SELECT COUNT(*) FROM ledger_events WHERE chat_id = ?", chat))[0][0])


async def briefs_in(bot: NewsBot, chat: int, n: int) -> bool:
    rows = await sql(bot.settings, "SELECT COUNT(DISTINCT brief_id) FROM ledger_events WHERE chat_id = ?", chat)
    return int(rows[0][0]) == n


async def back(bot: NewsBot, chat: int, seconds: float) -> None:
    """Everything shared so far in the chat was shared `seconds` earlier (as was the last digest)."""
    await sql(bot.settings, "UPDATE digest_items SET shared_at = shared_at - ? WHERE chat_id = ?", seconds, chat)
    await sql(bot.settings, "UPDATE ledger_events SET shared_at = shared_at - ? WHERE chat_id = ?", seconds, chat)
    cs = await bot.store.chat(chat)
    cs.last_digest_at -= seconds
    await bot.store.save_chat(cs)


def texts_to(botapi: FakeBotAPI, chat: int) -> list[str]:
    """What the bot sent to the chat (HTML, entities read)."""
    return [html.unescape(c.params["text"]) for c in botapi.sent(chat, ("sendMessage",))]


async def test_three_days_an_escalation_one_alert_and_another_chat_sees_nothing(
        bot_settings: Settings, botapi: FakeBotAPI, llm_server: FakeLLM) -> None:
    llm_server.default = reply
    bot = NewsBot(configure(bot_settings, digest_min_chars=200))
    await bot.start()
    try:
        botapi.chat_members[(GROUP, ADMIN)] = "administrator"
        botapi.push("message", U.command(GROUP, "/digest on 09:00 UTC", uid=ADMIN))
        await until(lambda: "09:00" in botapi.visible_text(GROUP))
        # day 1: Egypt and Qatar ask Israel and Hamas back to talks (News Agency, Arabic)
        botapi.push("message", U.message(GROUP, STORIES["gaza"]["article"], uid=MEMBER))
        await until(lambda: events_in(bot, GROUP))
        await back(bot, GROUP, 2 * DAY)
        botapi.push("message", U.command(GROUP, "/track حماس", uid=MEMBER))
        await until(lambda: "Hamas" in botapi.visible_text(GROUP) and "alert" in botapi.visible_text(GROUP))
        # day 2: Reuters, in English, other ids: Egypt threatens Hamas — an escalation, and one alert
        botapi.push("message", U.message(GROUP, THREAT_EN, uid=MEMBER))
        await until(lambda: any("🔔" in t for t in texts_to(botapi, GROUP)))
        await back(bot, GROUP, DAY)
        # day 3: Al Jazeera, in Arabic, reports the same threat: the same story, no second alert
        botapi.push("message", U.message(GROUP, THREAT_AR, uid=MEMBER))
        await until(lambda: llm_server.calls == 3)
        await until(lambda: briefs_in(bot, GROUP, 3))
        botapi.push("message", U.command(GROUP, "/digest now", uid=MEMBER))
        await until(lambda: any("What changed" in t for t in texts_to(botapi, GROUP)))
        alerts = [t for t in texts_to(botapi, GROUP) if "🔔" in t]
        assert len(alerts) == 1 and "Reuters" in alerts[0] and "threat" in alerts[0] and "Egypt" in alerts[0]
        (digest,) = [t for t in texts_to(botapi, GROUP) if "What changed" in t]
        changed = digest.split("What changed", 1)[1]
        escalation = next(line for line in changed.splitlines() if "escalation" in line)
        # both sources, dated: the request on day 1 (News Agency) and the threat on day 2 (Reuters)
        assert "Egypt" in escalation and "Hamas" in escalation
        assert "request" in escalation and "News Agency" in escalation
        assert "threat" in escalation and "Reuters" in escalation
        assert "new pressure" in changed and "Qatar" in changed
        # the digest shows each change once: Al Jazeera's report of the same threat is no new change
        assert changed.count("escalation") == 1
        # /timeline across languages: "مصر" finds Egypt, with the three briefs' pressures, newest first
        botapi.push("message", U.command(GROUP, "/timeline مصر", uid=MEMBER))
        await until(lambda: any("Record of Egypt" in t for t in texts_to(botapi, GROUP)))
        (record,) = [t for t in texts_to(botapi, GROUP) if "Record of Egypt" in t]
        english = record.split("Record of Egypt", 1)[1]
        assert english.index("Al Jazeera") < english.index("Reuters") < english.index("News Agency")
        botapi.push("message", U.command(GROUP, "/untrack", uid=MEMBER))
        await until(lambda: any("Stopped tracking" in t for t in texts_to(botapi, GROUP)))
        (stopped,) = [t for t in texts_to(botapi, GROUP) if "Stopped tracking" in t]
        assert "أوقفت متابعة: حماس" in stopped and "Stopped tracking: حماس · Hamas" in stopped

        # another chat: the same Reuters article (from the cache), its own record only, no alerts
        botapi.push("message", U.message(OTHER, THREAT_EN))
        await until(lambda: events_in(bot, OTHER))
        botapi.push("message", U.command(OTHER, "/timeline Egypt"))
        await until(lambda: any("Record of Egypt" in t for t in texts_to(botapi, OTHER)))
        (theirs,) = [t for t in texts_to(botapi, OTHER) if "Record of Egypt" in t]
        assert "Reuters" in theirs and "News Agency" not in theirs and "Al Jazeera" not in theirs
        assert not any("🔔" in t for t in texts_to(botapi, OTHER))
        botapi.push("message", U.command(OTHER, "/timeline Qatar"))
        await until(lambda: any("No actor by that name" in t for t in texts_to(botapi, OTHER)))

        # /forget by a member is refused; by an admin it deletes the group's record, not the other chat's
        botapi.push("message", U.command(GROUP, "/forget", uid=MEMBER))
        await until(lambda: any("Admins only" in t for t in texts_to(botapi, GROUP)))
        botapi.push("message", U.command(GROUP, "/forget", uid=ADMIN))
        await until(lambda: any("are deleted" in t for t in texts_to(botapi, GROUP)))
        assert await events_in(bot, GROUP) == 0 and await bot.store.digest_entries(GROUP, 0) == []
        assert await events_in(bot, OTHER) == 1
    finally:
        await bot.stop()


LOOK_ALIKES = ("الدوحة – وكالة الأنباء\n\nحث رئيس وزراء قطر حركة حماس على قبول المقترح، وطالبت قطر إسرائيل بوقف الغارات. "
               + "وتتواصل الاتصالات. " * 12)


def look_alikes_brief() -> dict[str, Any]:
    return {
        "language": "ar",
        "headline": {"ar": "قطر ورئيس وزرائها يضغطان على حماس وإسرائيل", "en": "Qatar and its prime minister press Hamas and Israel"},
        "summary": {"ar": "ضغط قطري.", "en": "Qatari pressure."},
        "actors": [
            {"id": "qatar", "mention": "قطر", "name": {"ar": "قطر", "en": "Qatar"}, "kind": "state", "country": "QAT"},
            {"id": "qatar_pm", "mention": "رئيس وزراء قطر", "name": {"ar": "رئيس وزراء قطر", "en": "Qatar's prime minister"},
             "kind": "person", "country": "QAT"},
            {"id": "hamas", "mention": "حماس", "name": {"ar": "حماس", "en": "Hamas"}, "kind": "armed_group", "country": "PSE"},
            {"id": "israel", "mention": "إسرائيل", "name": {"ar": "إسرائيل", "en": "Israel"}, "kind": "state",
             "country": "ISR"}],
        "pressures": [
            {"evidence": "حث رئيس وزراء قطر حركة حماس على قبول المقترح", "actors": ["qatar_pm"], "targets": ["hamas"],
             "event": "REQUEST", "means": {"ar": "اتصالات", "en": "calls"}, "demand": {"ar": "القبول", "en": "accept"},
             "source_ids": []},
            {"evidence": "وطالبت قطر إسرائيل بوقف الغارات", "actors": ["qatar"], "targets": ["israel"], "event": "REQUEST",
             "means": {"ar": "بيان", "en": "statement"}, "demand": {"ar": "وقف الغارات", "en": "stop the strikes"},
             "source_ids": []}],
        "positions": [], "sources": [],
    }


def keyboard(botapi: FakeBotAPI, chat: int, text: str) -> tuple[int, list[dict[str, str]]]:
    """The message (id) whose text holds `text`, and its buttons."""
    call = next(c for c in reversed(botapi.sent(chat, ("sendMessage",))) if text in html.unescape(c.params["text"]))
    mid = max(m for (c, m), v in botapi.messages.items() if c == chat and text in v.get("plain", ""))
    return mid, [b for row in call.params.get("reply_markup", {}).get("inline_keyboard", []) for b in row]


async def test_buttons_open_a_briefs_actors_records_and_merge_and_split_look_alikes(
        bot_settings: Settings, botapi: FakeBotAPI, llm_server: FakeLLM) -> None:
    llm_server.default = lambda payload: completion(json.dumps(look_alikes_brief(), ensure_ascii=False))
    chat, group = 6_010_001, -1001234500410
    bot = NewsBot(bot_settings)
    await bot.start()
    try:
        botapi.push("message", U.message(chat, LOOK_ALIKES))
        await until(lambda: events_in(bot, chat))
        mid, buttons = keyboard(botapi, chat, "Who is pressuring whom")
        record = next(b["callback_data"] for b in buttons if b["callback_data"].startswith("lb:"))
        botapi.push("callback_query", U.callback(chat, mid, record))
        await until(lambda: any("Whose record?" in t for t in texts_to(botapi, chat)))
        mid, actors = keyboard(botapi, chat, "Whose record?")
        assert len(actors) == 4 and all(len(b["callback_data"].encode()) <= 64 for b in actors)
        pm = next(b["callback_data"] for b in actors if "Qatar's prime minister" in b["text"])
        botapi.push("callback_query", U.callback(chat, mid, pm))
        await until(lambda: any("Record of Qatar's prime minister" in t for t in texts_to(botapi, chat)))
        (pm_record,) = [t for t in texts_to(botapi, chat) if "Record of Qatar's prime minister" in t]
        assert "related to Qatar" in pm_record and "Hamas" in pm_record and "Israel" not in pm_record
        # a button pressed in another chat is refused: its signature is the chat's
        botapi.messages[(group, 1)] = {"plain": "x", "html": "x"}
        botapi.push("callback_query", U.callback(group, 1, pm))
        await until(lambda: any(c.method == "answerCallbackQuery" and "expired" in c.params.get("text", "")
                                for c in botapi.calls))
        assert not texts_to(botapi, group)

        # /actors offers the look-alikes for merging; merged, Qatar's record holds both pressures
        botapi.push("message", U.command(chat, "/actors"))
        await until(lambda: any("Actors in this chat's record" in t for t in texts_to(botapi, chat)))
        mid, offered = keyboard(botapi, chat, "Actors in this chat")
        merge = next(b["callback_data"] for b in offered if b["text"].startswith("🔗") and "Qatar" in b["text"])
        botapi.push("callback_query", U.callback(chat, mid, merge))
        await until(lambda: any("Merged" in t for t in texts_to(botapi, chat)))
        assert len(await bot.store.ledger_identities(chat)) == 3
        botapi.push("message", U.command(chat, "/timeline Qatar"))
        await until(lambda: any("Record of Qatar" in t and "Hamas" in t for t in texts_to(botapi, chat)))
        # and split again: the prime minister's name goes back to an identity of its own, with its events
        botapi.push("message", U.command(chat, "/actors"))
        await until(lambda: sum("Actors in this chat" in t for t in texts_to(botapi, chat)) == 2)
        mid, offered = keyboard(botapi, chat, "Actors in this chat")
        split = next(b["callback_data"] for b in offered if b["text"] == "✂️ Qatar")
        botapi.push("callback_query", U.callback(chat, mid, split))
        await until(lambda: any("Which name to split off" in t for t in texts_to(botapi, chat)))
        mid, names = keyboard(botapi, chat, "Which name to split off")
        name = next(b["callback_data"] for b in names if b["text"] == "qatar s prime minister")
        botapi.push("callback_query", U.callback(chat, mid, name))
        await until(lambda: any("Split" in t for t in texts_to(botapi, chat)))
        idents = {i.name_en: i for i in await bot.store.ledger_identities(chat)}
        assert len(idents) == 4
        split_off = next(i for i in idents.values() if i.name_en == "qatar s prime minister")
        assert [e.target for e in await bot.store.ledger_timeline(chat, split_off.id)] == [idents["Hamas"].id]
    finally:
        await bot.stop()


async def test_the_record_is_one_rich_message_where_the_chat_has_them_and_classic_when_refused(
        bot_settings: Settings, botapi: FakeBotAPI, llm_server: FakeLLM) -> None:
    llm_server.default = reply
    chat = 6_010_002
    bot = NewsBot(configure(bot_settings, rich_messages="auto"))
    await bot.start()
    try:
        botapi.push("message", U.message(chat, THREAT_EN))
        await until(lambda: events_in(bot, chat))
        botapi.push("message", U.command(chat, "/timeline Hamas"))
        await until(lambda: any(c.method == "sendRichMessage" and "Record of Hamas" in c.params["rich_message"]["html"]
                                for c in botapi.calls))
        call = next(c for c in botapi.calls if c.method == "sendRichMessage" and "Record" in
                    c.params["rich_message"]["html"]).params
        got = check(call["rich_message"]["html"])  # what Telegram takes: tags, limits
        assert "سجل حركة حماس" in got.text and "Egypt → Hamas movement" in got.text and "threat" in got.text
        assert call["rich_message"]["is_rtl"] is True
        botapi.refuse_rich = "bad"  # this chat's rich messages refused: the record comes classic at once
        botapi.push("message", U.command(chat, "/timeline Egypt"))
        await until(lambda: any("Record of Egypt" in t for t in texts_to(botapi, chat)))
        assert [m for m, _ in botapi.errors] == ["sendRichMessage"]  # asked once, then classic
        botapi.errors.clear()  # the refusal was ordered up
    finally:
        await bot.stop()


async def test_forget_in_a_channel_deletes_its_record_and_the_command_post_without_a_word(
        bot_settings: Settings, botapi: FakeBotAPI, llm_server: FakeLLM) -> None:
    llm_server.default = reply
    channel = -1009999000410
    bot = NewsBot(configure(bot_settings, digest_min_chars=200))
    await bot.start()
    try:
        botapi.push("channel_post", U.message(channel, "/digest on 09:00 UTC"))
        await until(lambda: digest_enabled(bot, channel))
        botapi.push("channel_post", U.message(channel, THREAT_EN))
        await until(lambda: events_in(bot, channel))
        sent_before = len(texts_to(botapi, channel))
        command = U.message(channel, "/forget")
        botapi.push("channel_post", command)
        await until(lambda: any(int(c.params["message_id"]) == command["message_id"]
                                for c in botapi.sent(channel, ("deleteMessage",))))
        assert await events_in(bot, channel) == 0 and await bot.store.digest_entries(channel, 0) == []
        assert len(texts_to(botapi, channel)) == sent_before  # subscribers see no answer
    finally:
        await bot.stop()


async def digest_enabled(bot: NewsBot, chat: int) -> bool:
    return (await bot.store.chat(chat)).digest_enabled
