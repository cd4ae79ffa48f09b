"""The ledger's words and messages: both languages, Arabic that reads as Arabic, Telegram's limits."""

from __future__ import annotations

import re

import pytest

from bot.ledger.values import Event, Identity
from bot.render import timeline as render
from bot.render.classic import utf16_len


@pytest.mark.parametrize("key", sorted(render.WORDS))
def test_every_ledger_text_has_both_languages_and_arabic_reads_as_arabic(key: str) -> None:
    ar, en = render.WORDS[key]
    assert re.search(r"[\u0600-\u06FF]", ar) and not re.search(r"[\u0600-\u06FF]", en)
    assert not re.search(r"[\u0600-\u06FF][,;?]", ar), f"{key}: Latin punctuation after Arabic"
    words = set(re.findall(r"[A-Za-z]+", re.sub(r"\{[a-z_]+\}", "", ar)))
    assert words <= {"timeline", "track", "actors"}, words


def test_a_long_timeline_stays_within_telegrams_limit_in_each_view() -> None:
    egypt = Identity(1, 9, "Egypt", "مصر", "state", "EGY")
    names = {1: egypt, 2: Identity(2, 9, "Hamas", "حماس", "armed_group", "PSE")}
    events = [Event(9, n, "pressure", 1, 1_770_000_000 - n * 3600, target=2, event="THREATEN",
                    outlet="A very long outlet name " * 3, link=f"https://news.example/{'x' * 150}/{n}",
                    evidence="e", verified=n % 2 == 0) for n in range(45)]
    for view in ("ar", "en", "both"):
        messages = render.timeline(egypt, events, names, view)
        assert all(utf16_len(m) <= 4096 for m in messages)
        text = "\n".join(messages)
        assert text.count("news.example") == render.MAX_TIMELINE * (2 if view == "both" else 1)  # newest 40
        assert ("(unverified)" in text) == (view != "ar")
    assert "أحداث أقدم لم تُعرض" in "\n".join(render.timeline(egypt, events, names, "ar"))
    assert "Older events" not in "\n".join(render.timeline(egypt, events[:render.MAX_TIMELINE], names, "en"))
    empty = render.timeline(egypt, [], names, "en")
    assert empty == ["<b>🕰 Record of Egypt</b>\nNothing about Egypt in this chat's record yet."]


def test_actors_lists_the_newest_and_says_how_many_there_are() -> None:
    idents = [Identity(n, 9, f"Actor {n}", f"الفاعل {n}", "state", None) for n in range(1, 71)]
    (text,) = render.actors_list(idents, "en")
    assert "The newest 60 of 70" in text and "<b>Actor 11</b>" in text and "<b>Actor 10</b>" not in text
    assert all(utf16_len(m) <= 4096 for m in render.actors_list(idents, "both"))
