"""What changed in a chat's ledger: new pressure pairs, escalations, de-escalations, position changes.

Events are walked oldest first. A pressure pair (actor → target) is *new* the first time the chat's
ledger holds it. Each later brief that reports the pair is compared with the last earlier brief
that did, by the strongest type each reports (`bot.ledger.intensity`): a higher rank is an
escalation, a lower one a de-escalation; a second outlet reporting the same move reports no change.
An actor's position *changed* when a stance shared at least `CHANGE_MIN_GAP_S` after its last one
leans the other way (or takes a side after a neutral one); two statements in one article never do.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from bot.digests.stories import words_en
from bot.ledger.intensity import rank
from bot.ledger.values import Change, Event, Pair

# two outlets word one stance differently on the same afternoon; a change is told apart from that by
# time: only articles shared at least this far apart can show one
CHANGE_MIN_GAP_S = 3 * 3600

_NEGATIVE = {"reject", "refuse", "oppose", "condemn", "deny", "denounce", "suspend", "withdraw", "boycott",
             "veto", "halt", "cancel", "dismiss", "rule out", "rules out", "walk away", "pull out", "block"}
_POSITIVE = {"accept", "welcome", "agree", "support", "back", "endorse", "approve", "praise", "ready",
             "willing", "resume", "join", "sign", "open to", "embrace"}


def _polarity(stance: str) -> int:
    text = f" {stance.lower()} "
    negated = bool(re.search(r"\b(not|no longer|won't|will not|refus\w*)\b", text))
    neg = any(re.search(rf"\b{w}\w*", text) for w in _NEGATIVE)
    pos = any(re.search(rf"\b{w}\w*", text) for w in _POSITIVE)
    if neg == pos:
        return 0
    value = 1 if pos else -1
    return -value if negated and pos else value


def _dice(a: set[str], b: set[str]) -> float:
    return 2 * len(a & b) / (len(a) + len(b)) if a and b else 0.0


def stance_changed(a: str, b: str) -> bool:
    """Two English stances of one actor differ: opposite leanings, or a new leaning (accepts,
    rejects) with little in common with a neutral one. Two neutral wordings are never a change:
    outlets word one stance differently. (English: every brief has it, whatever its article's language.)"""
    pa, pb = _polarity(a), _polarity(b)
    if pa == pb:
        return False
    return bool(pa and pb) or _dice(words_en(a), words_en(b)) < 0.3


def _strongest(events: Iterable[Event]) -> dict[Pair, Event]:
    """A brief's pressures by pair, each the pair's strongest type in that brief."""
    best: dict[Pair, Event] = {}
    for e in events:
        assert e.target is not None
        pair = (e.actor, e.target)
        if pair not in best or rank(e.event) > rank(best[pair].event):
            best[pair] = e
    return best


def detect(events: Sequence[Event], since: float = 0.0) -> list[Change]:
    """The changes shown by events shared after `since`, against everything before them.

    `events` are a chat's events, any order; those at or before `since` are only history (the
    store gives the last brief of each pair and actor before a digest's period, see `ledger_window`).
    """
    ordered = sorted(events, key=lambda e: (e.shared_at, e.brief_id, e.id))
    last_pair: dict[Pair, Event] = {}
    last_said: dict[int, Event] = {}
    found: list[Change] = []
    by_brief: dict[int, list[Event]] = {}
    order: list[int] = []
    for e in ordered:
        if e.brief_id not in by_brief:
            order.append(e.brief_id)
        by_brief.setdefault(e.brief_id, []).append(e)
    for brief_id in order:
        group = by_brief[brief_id]
        fresh = group[0].shared_at > since
        for pair, e in _strongest(x for x in group if x.kind == "pressure").items():
            before = last_pair.get(pair)
            if fresh:
                if before is None:
                    found.append(Change("new_pair", pair[0], pair[1], e))
                elif rank(e.event) > rank(before.event):
                    found.append(Change("escalation", pair[0], pair[1], e, before))
                elif rank(e.event) < rank(before.event):
                    found.append(Change("deescalation", pair[0], pair[1], e, before))
            last_pair[pair] = e
        for e in (x for x in group if x.kind == "position" and x.stance_en):
            before = last_said.get(e.actor)
            if (fresh and before is not None and before.brief_id != e.brief_id
                    and e.shared_at - before.shared_at >= CHANGE_MIN_GAP_S
                    and stance_changed(before.stance_en or "", e.stance_en or "")):
                found.append(Change("position", e.actor, None, e, before))
            last_said[e.actor] = e
    return found
