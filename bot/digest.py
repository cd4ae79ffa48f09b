"""Digests for groups and channels: briefs shared in a period → one post of stories.

Stories group briefs of the same event (overlapping actors and headline terms); then comes a
combined "who is pressuring whom" and the positions that changed within the period.
"""

from __future__ import annotations

import html
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import time as dtime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.render import RLM, pack
from bot.schema import BriefEnvelope

_STOP = {"the", "and", "for", "with", "from", "that", "this", "over", "into", "after", "amid", "says", "said",
         "will", "have", "has", "are", "was", "were", "its", "their", "about", "against", "before"}


@dataclass
class Story:
    briefs: list[BriefEnvelope] = field(default_factory=list)

    @property
    def lead(self) -> BriefEnvelope:
        return self.briefs[0]

    def sources(self, lang: str) -> list[str]:
        names: dict[str, str] = {}
        for env in self.briefs:
            if env.article.outlet:
                names.setdefault(env.article.outlet.lower(), env.article.outlet)
            for s in env.brief.sources:
                names.setdefault(s.name.en.lower(), getattr(s.name, lang))
        return list(names.values())


def _actors(env: BriefEnvelope) -> set[str]:
    return {a.name.en.lower() for a in env.brief.actors}


def _terms(env: BriefEnvelope) -> set[str]:
    words = re.findall(r"[a-z]{4,}", env.brief.headline.en.lower())
    return {w.rstrip("s") for w in words if w not in _STOP}


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def same_story(a: BriefEnvelope, b: BriefEnvelope) -> bool:
    if a.article.content_hash == b.article.content_hash or (a.article.url and a.article.url == b.article.url):
        return True
    return _jaccard(_actors(a), _actors(b)) >= 0.5 and _jaccard(_terms(a), _terms(b)) >= 0.2


def group_stories(briefs: list[BriefEnvelope]) -> list[Story]:
    """Union-find over pairs that tell the same event; stories keep the order they were shared."""
    parent = list(range(len(briefs)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(briefs)):
        for j in range(i + 1, len(briefs)):
            if same_story(briefs[i], briefs[j]):
                parent[find(j)] = find(i)
    groups: dict[int, Story] = {}
    for i, env in enumerate(briefs):
        groups.setdefault(find(i), Story()).briefs.append(env)
    return list(groups.values())


def compose(briefs: list[BriefEnvelope], limit: int = 4096) -> list[str]:
    """The digest as Telegram HTML messages; [] when there is nothing to report."""
    if not briefs:
        return []
    e = html.escape
    stories = group_stories(briefs)
    atoms = [f"{RLM}🗞 <b>موجز الأخبار</b> · <b>News digest</b> ({len(stories)})"]
    for n, story in enumerate(stories, 1):
        b = story.lead.brief
        more = f" (+{len(story.briefs) - 1})" if len(story.briefs) > 1 else ""
        atoms.append(
            f"{RLM}{n}. <b>{e(b.headline.ar)}</b>{more}\n{e(b.headline.en)}\n"
            f"{RLM}📚 {e('، '.join(story.sources('ar'))[:600])}\n📚 {e('; '.join(story.sources('en'))[:600])}")

    pressures: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for env in briefs:
        b = env.brief
        for p in b.pressures:
            key = (", ".join(b.actor_name(a, "en") for a in p.actors),
                   ", ".join(b.actor_name(t, "en") for t in p.targets), p.event)
            pressures[key].append(p.demand.en)
    if pressures:
        atoms.append(f"{RLM}🎯 <b>من يضغط على من</b> · <b>Who is pressuring whom</b>")
        for (actors, targets, event), demands in pressures.items():
            times = f" ×{len(demands)}" if len(demands) > 1 else ""
            atoms.append(f"• <b>{e(actors)}</b> → <b>{e(targets)}</b> ({event.lower()}{times}): {e(demands[-1])}")

    stances: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for env in briefs:
        for q in env.brief.positions:
            stances[env.brief.actor_name(q.actor, "en")].append((q.stance.en, q.stance.ar))
    changed = {a: s for a, s in stances.items() if len({x[0] for x in s}) > 1}
    if changed:
        atoms.append(f"{RLM}🔄 <b>مواقف تغيّرت</b> · <b>Positions that changed</b>")
        for actor, s in changed.items():
            atoms.append(f"• <b>{e(actor)}</b>: {e(s[0][0])} → {e(s[-1][0])}\n{RLM}{e(s[0][1])} ← {e(s[-1][1])}")
    return pack(atoms, limit)


class ScheduleError(ValueError):
    pass


def parse_schedule(args: list[str], default_time: str = "18:00", default_tz: str = "UTC") -> tuple[str, str]:
    """`[HH:MM] [timezone]` → ("HH:MM", "Area/City"), validated."""
    when, tz = default_time, default_tz
    for arg in args:
        if re.fullmatch(r"\d{1,2}:\d{2}", arg):
            h, m = map(int, arg.split(":"))
            if not (0 <= h < 24 and 0 <= m < 60):
                raise ScheduleError(f"invalid time {arg}")
            when = f"{h:02d}:{m:02d}"
        else:
            tz = arg
    if len(tz) > 64:  # the longest IANA name is about 30 characters
        raise ScheduleError("unknown timezone")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # "Europe" is a folder: IsADirectoryError
        raise ScheduleError(f"unknown timezone {tz}") from exc
    return when, tz


def schedule_time(when: str, tz: str) -> dtime:
    h, m = map(int, when.split(":"))
    return dtime(h, m, tzinfo=ZoneInfo(tz))
