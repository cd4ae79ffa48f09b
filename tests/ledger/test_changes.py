"""Change detection over a chat's events, and how the digest words it in both languages."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.ledger.changes import detect
from bot.ledger.intensity import RANK
from bot.ledger.values import Event, Identity
from bot.render.timeline import changed

EGYPT, HAMAS, QATAR = 1, 2, 3
NAMES = {1: Identity(1, 9, "Egypt", "مصر", "state", "EGY"), 2: Identity(2, 9, "Hamas", "حماس", "armed_group", "PSE"),
         3: Identity(3, 9, "Qatar", "قطر", "state", "QAT")}


def at(day: int, hour: int = 9) -> float:
    return datetime(2026, 3, day, hour, tzinfo=UTC).timestamp()


def pressure(brief: int, when: float, event: str, actor: int = EGYPT, target: int = HAMAS,
             outlet: str = "Reuters") -> Event:
    return Event(chat_id=9, brief_id=brief, kind="pressure", actor=actor, target=target, event=event,
                 shared_at=when, outlet=outlet, outlet_ar="رويترز" if outlet == "Reuters" else outlet,
                 link=f"https://news.example/{brief}")


def said(brief: int, when: float, en: str, ar: str = "موقف") -> Event:
    return Event(chat_id=9, brief_id=brief, kind="position", actor=EGYPT, shared_at=when, stance_en=en,
                 stance_ar=ar, outlet="Reuters")


def kinds(events: list[Event], since: float = 0.0) -> list[tuple[str, str | None, str | None]]:
    return [(c.kind, c.before.event if c.before else None, c.after.event) for c in detect(events, since)]


def test_intensity_order_refines_the_schemas() -> None:
    assert RANK["REQUEST"] < RANK["ACCUSE"] == RANK["REJECT"] < RANK["THREATEN"] < RANK["SANCTION"] \
        < RANK["COERCE"] < RANK["ASSAULT"]


def test_new_pair_then_escalation_then_de_escalation() -> None:
    events = [pressure(1, at(1), "REQUEST"), pressure(2, at(2), "THREATEN"), pressure(3, at(3), "REQUEST")]
    assert kinds(events) == [("new_pair", None, "REQUEST"), ("escalation", "REQUEST", "THREATEN"),
                             ("deescalation", "THREATEN", "REQUEST")]
    # only what was shared after the last digest is reported; what came before is history
    assert kinds(events, since=at(2, 12)) == [("deescalation", "THREATEN", "REQUEST")]


def test_a_second_outlet_or_a_same_rank_type_or_one_briefs_two_types_is_no_change() -> None:
    events = [pressure(1, at(1), "ACCUSE"), pressure(2, at(1, 10), "ACCUSE", outlet="AP"),
              pressure(3, at(2), "REJECT"),  # accusation answered by rejection: one level
              pressure(4, at(3), "REQUEST"), pressure(4, at(3), "SANCTION")]  # the brief's strongest: sanctions
    assert kinds(events) == [("new_pair", None, "ACCUSE"), ("escalation", "REJECT", "SANCTION")]


def test_pairs_are_directed_and_separate() -> None:
    events = [pressure(1, at(1), "THREATEN"), pressure(2, at(2), "REQUEST", actor=HAMAS, target=EGYPT),
              pressure(3, at(2), "ASSAULT", actor=QATAR)]
    assert [c.kind for c in detect(events)] == ["new_pair"] * 3


def test_a_position_changes_across_days_not_within_an_article_or_an_afternoon() -> None:
    events = [said(1, at(1), "calls for action now"), said(1, at(1), "rejects the proposal"),
              said(2, at(1, 11), "refuses the proposal"), said(3, at(2), "accepts the proposal")]
    found = detect(events)
    assert [(c.kind, c.before.stance_en if c.before else None, c.after.stance_en) for c in found] == [
        ("position", "refuses the proposal", "accepts the proposal")]


def test_the_digest_names_each_change_with_both_dated_sources_in_each_language() -> None:
    found = detect([pressure(1, at(1), "REQUEST"), pressure(2, at(4), "THREATEN")], since=at(2))
    en = changed(found, NAMES, "en")
    assert en is not None and "escalation: <b>Egypt</b> → <b>Hamas</b>: request (1 Mar 2026, " in en
    assert '<a href="https://news.example/1">Reuters</a>) → threat (4 Mar 2026, <a href="https://news.example/2">' in en
    ar = changed(found, NAMES, "ar")
    assert ar is not None and "تصعيد: <b>مصر</b> ← <b>حماس</b>: مطالبة (1 مارس 2026، " in ar and "رويترز" in ar
    assert changed([], NAMES, "en") is None


def test_the_digest_puts_moves_first_and_counts_what_does_not_fit() -> None:
    events = [pressure(n, at(1), "REQUEST", actor=100 + n) for n in range(14)]
    events += [pressure(20, at(1), "REQUEST"), pressure(21, at(2), "ASSAULT")]
    en = changed(detect(events), NAMES, "en")
    assert en is not None
    lines = en.splitlines()
    assert "escalation" in lines[1] and "and 4 more changes" in lines[-1]
    assert len(lines) == 1 + 12 + 1
    one_more = changed(detect(events[3:]), NAMES, "en")
    assert one_more is not None and one_more.splitlines()[-1].endswith("and 1 more change")
