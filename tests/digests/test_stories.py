"""Digest composition: stories grouped across languages, traceable, in the chat's language, within limits."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from bot.digests.evaluate import envelope, load, score
from bot.digests.schedule import ScheduleError, parse_schedule
from bot.digests.stories import BORDER, SAME, Item, group_stories, pair_score, settle, signals
from bot.engine.schema import Usage
from bot.render.digest import MAX_MESSAGES, compose
from tests.fakes.briefs import brief_for
from tests.fakes.telegram_html import parse, utf16_len

EVAL = load("eval/grouping")
BRIEFS, PAIRS = EVAL


def at(day: int, hour: int, minute: int = 0) -> float:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC).timestamp()


def item(key: str, shared_at: float | None = None) -> Item:
    """A brief of the labelled set, as shared in a chat."""
    it = BRIEFS[key]
    return Item(it.env, it.shared_at if shared_at is None else shared_at, it.link, it.outlet)


def story_item(story: str, shared_at: float, link: str | None = None, **changes: Any) -> Item:
    data = {**brief_for(story), **changes}
    return Item(envelope(data, content_hash=f"{story}{shared_at}"), shared_at, link)


def lines(messages: list[str]) -> str:
    return "\n".join(parse(m) for m in messages)


# --- grouping -----------------------------------------------------------------------------------
def test_grouping_meets_its_target_on_the_labelled_pairs() -> None:
    s = score(BRIEFS, PAIRS)
    assert len(PAIRS) >= 30 and s.precision >= 0.9 and s.recall >= 0.9, s.mistakes
    kinds = {p.kind for p in PAIRS}
    assert {"same event, other language", "follow-up, later day", "different event, same outlet"} <= kinds


def test_same_event_in_two_languages_is_one_story_and_look_alikes_from_one_outlet_are_not() -> None:
    # Reuters: the Cairo talks, aid trucks into Gaza, the IAEA censure; Al Jazeera tells the talks in Arabic
    stories = group_stories([item("g2"), item("g6"), item("n1"), item("g1")])
    assert sorted(len(s.items) for s in stories) == [1, 1, 2]
    talks = next(s for s in stories if len(s.items) == 2)
    assert talks.outlets("en") == ["Al Jazeera Net", "Reuters"]  # in the order they were shared
    assert talks.outlets("ar") == ["الجزيرة نت", "رويترز"]


def test_the_same_link_or_quote_is_one_story_whatever_else_differs() -> None:
    a = story_item("gaza", at(3, 9), "https://example.com/a")
    b = story_item("sudan", at(3, 10), "https://www.example.com/a/")
    assert pair_score(signals(a), signals(b)) == 1.0


async def test_the_llm_settles_only_borderline_pairs_in_one_call() -> None:
    items = [item("y1"), item("y3"), item("s1"), item("s2")]  # a tanker attack, sanctions on its attackers
    calls: list[dict[str, Any]] = []

    class LLM:
        async def complete(self, messages: list[dict[str, str]], schema: dict[str, Any], **kw: Any) -> Any:
            calls.append({"messages": messages, **kw})
            return SimpleNamespace(text='{"same": [{"pair": 0, "same_event": true}]}',
                                   usage=Usage(prompt_tokens=90, completion_tokens=10))

    scores = {(0, 1): pair_score(signals(items[0]), signals(items[1]))}
    assert BORDER <= scores[(0, 1)] < SAME
    verdicts, tokens = await settle(items, LLM())  # type: ignore[arg-type]
    assert len(calls) == 1 and calls[0]["name"] == "story_pairs" and tokens == 100
    assert verdicts == {(0, 1): True}
    assert sorted(len(s.items) for s in group_stories(items, verdicts)) == [2, 2]

    class Broken:
        async def complete(self, *a: Any, **kw: Any) -> Any:
            raise RuntimeError("model down")

    assert await settle(items, Broken()) == ({}, 0)  # type: ignore[arg-type]


# --- what a reader sees -------------------------------------------------------------------------
LATIN_WORDS = re.compile(r"[A-Za-z][A-Za-z'.-]*(?:\s+[A-Za-z][A-Za-z'.-]*)*")


def test_arabic_digest_is_arabic_with_names_only_in_latin() -> None:
    items = [item("g1"), item("g2"), item("s1"), item("y1")]
    messages = compose(items, "ar", since=at(2, 6), now=at(4, 20), tz="UTC")
    text = lines(messages)
    assert all(m.startswith("\u200f") for m in messages)
    # Latin runs are outlet names in isolates (Reuters) and nothing else: no labels, no event codes
    latin = {m.group(0) for m in LATIN_WORDS.finditer(text)}
    assert latin <= {"Reuters"}, latin
    assert "موجز الأخبار" in text and "منذ 06:00 يوم" not in text
    assert "منذ 2 مارس الساعة 06:00، 4 مقالات، 3 قصص" in text
    assert "(مطالبة؛ الجزيرة نت، رويترز)" in text  # localized event, both outlets, the Arabic comma
    assert "(تهديد؛ رويترز)" in text and "(هجوم؛ رويترز)" in text
    assert "مقالان" in text  # the dual
    assert "REQUEST" not in text and "request" not in text.lower()


def test_english_digest_states_its_period_and_localizes_events() -> None:
    items = [item("g1"), item("g2"), item("s1")]
    text = lines(compose(items, "en", since=at(2, 6, 30), now=at(3, 8), tz="Africa/Cairo"))
    assert "News digest" in text and "Since 08:30 yesterday, 3 articles, 2 stories" in text
    assert "Egypt, Qatar → Israel, Hamas (request; Al Jazeera Net, Reuters)" in text
    assert "United Nations → Rapid Support Forces (threat; Reuters)" in text
    assert "\u200f" not in text.replace("\u2068", "")  # no right-to-left marks in the English view


def test_every_story_links_to_its_articles_with_outlet_and_time() -> None:
    pasted = story_item("sudan", at(3, 12), "https://t.me/c/1234567/42")
    items = [item("g1"), item("g2"), pasted]
    (message,) = compose(items, "en", since=at(2, 6), now=at(3, 13))
    stories = message.split("\n\n")[1:]
    assert len(stories) == 2
    for story in stories:
        assert '<a href="https://' in story
    assert '<a href="https://www.aljazeera.net/news/2026/3/2/gaza-talks-cairo">Al Jazeera Net</a> (09:10 yesterday)' \
        in message
    assert '<a href="https://t.me/c/1234567/42">News Agency</a> (12:00 today)' not in message  # Reuters told Sudan
    assert '<a href="https://t.me/c/1234567/42">Reuters</a> (12:00 today)' in message


def test_both_view_gives_arabic_first_then_english() -> None:
    (message,) = compose([item("g1")], "both", since=at(2, 6), now=at(2, 12))
    assert message.index("موجز الأخبار") < message.index("News digest")


# --- positions (how they change across days is the ledger's: tests/ledger/test_changes.py) -------
def stance(actor: str, ar: str, en: str) -> dict[str, Any]:
    return {"actor": actor, "stance": {"ar": ar, "en": en}, "quote": None, "source_ids": []}


def test_a_story_shows_each_actors_latest_stance() -> None:
    early = story_item("gaza", at(3, 9), "https://example.com/1")
    late = story_item("gaza", at(4, 10), "https://example.com/2", positions=[
        stance("egypt", "ترفض المقترح الإسرائيلي", "rejects the Israeli proposal")])
    text = lines(compose([late, early], "en", since=at(3, 0), now=at(4, 12)))
    assert "Egypt: rejects the Israeli proposal" in text and "calls for action now" not in text
    ar = lines(compose([early, late], "ar", since=at(3, 0), now=at(4, 12)))
    assert "مصر: ترفض المقترح الإسرائيلي" in ar


# --- limits ---------------------------------------------------------------------------------------
def test_a_long_period_is_cut_to_the_largest_stories_and_says_so() -> None:
    items = []
    for i in range(120):
        en, ar = ("".join("abcdefghij"[int(d)] for d in f"{i:03d}"), "".join("ابتثجحخدذر"[int(d)] for d in f"{i:03d}"))
        data = brief_for(("gaza", "sudan", "ukraine")[i % 3])
        data["headline"] = {"ar": f"خبر {ar} " + " ".join(f"{ar}{w}" for w in "سصضطظعغفقك"),
                            "en": f"Story {en} " + " ".join(f"{en}{w}" for w in "klmnopqrst")}
        data["summary"] = {"ar": f"ملخص {ar}", "en": f"summary {en}"}
        data["positions"], data["pressures"] = [], []  # no quote or evidence shared between them
        for a in data["actors"]:
            a["id"], a["name"] = f"{a['id']}{i}", {"ar": f"طرف {i}{a['id']}", "en": f"Party {i}{a['id']}"}
            a["country"] = None
        items.append(Item(envelope(data, content_hash=str(i)), at(3, 0) + i * 60, f"https://example.com/{i}"))
    items.append(item("g1", at(3, 5)))
    items.append(item("g2", at(3, 6)))  # the one story told twice comes first
    messages = compose(items, "both", since=at(3, 0), now=at(3, 23))
    assert 1 < len(messages) <= MAX_MESSAGES and all(utf16_len(m) <= 4096 for m in messages)
    text = lines(messages)
    assert "A long period: these are the" in text and "with the most articles, of 121." in text
    assert "الفترة طويلة" in text
    assert text.index("Egypt and Qatar call on Israel") < text.index("Story ")


def test_nothing_to_report_is_no_post() -> None:
    assert compose([]) == []


def test_parse_schedule() -> None:
    assert parse_schedule([]) == ("18:00", "UTC")
    assert parse_schedule(["7:05", "Asia/Amman"]) == ("07:05", "Asia/Amman")
    with pytest.raises(ScheduleError):
        parse_schedule(["25:00"])
    with pytest.raises(ScheduleError):
        parse_schedule(["Mars/Olympus"])
