"""The pressure ledger through the real bot: briefs on three days with an escalation, the digest's
"What changed" with both sources, /track alerting once per story, /timeline, /actors merge, /forget,
and another chat that sees none of it."""

from __future__ import annotations

import json
from typing import Any

from bot.chat.app import NewsBot
from bot.ops.config import Settings
from tests.fakes import updates as U
from tests.fakes.botapi_server import FakeBotAPI
from tests.fakes.briefs import STORIES, story_reply
from tests.fakes.openai_server import FakeLLM, Reply, completion
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
    return [c.params["text"] for c in botapi.sent(chat, ("sendMessage",))]


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
