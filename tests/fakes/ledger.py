"""Hand-written briefs for ledger tests: actors, pressures and positions in a line each."""

from __future__ import annotations

from typing import Any

from bot.digests.evaluate import envelope
from bot.engine.schema import BriefEnvelope

#: id → (English, Arabic, kind, country)
ACTORS: dict[str, tuple[str, str, str, str | None]] = {
    "egypt": ("Egypt", "مصر", "state", "EGY"),
    "egypt_fm": ("Egyptian Foreign Ministry", "وزارة الخارجية المصرية", "government", "EGY"),
    "qatar": ("Qatar", "قطر", "state", "QAT"),
    "qatar_pm": ("Qatar's prime minister", "رئيس وزراء قطر", "person", "QAT"),
    "israel": ("Israel", "إسرائيل", "state", "ISR"),
    "hamas": ("Hamas", "حماس", "armed_group", "PSE"),
    "hamas_movement": ("Hamas movement", "حركة حماس", "armed_group", "PSE"),
    "un": ("United Nations", "الأمم المتحدة", "international_org", None),
    "rsf": ("Rapid Support Forces", "قوات الدعم السريع", "armed_group", "SDN"),
}


def brief(actors: list[str], pressures: list[tuple[list[str], list[str], str]] = (),  # type: ignore[assignment]
          positions: list[tuple[str, str]] = (), *, headline: str = "A headline",  # type: ignore[assignment]
          url: str | None = None, outlet: str | None = None, ids: dict[str, str] | None = None) -> BriefEnvelope:
    """A checked envelope; `ids` renames actors' slugs as another outlet's brief would."""
    ids = ids or {}
    data: dict[str, Any] = {
        "language": "en",
        "headline": {"en": headline, "ar": "عنوان"},
        "summary": {"en": headline + ".", "ar": "ملخص."},
        "actors": [{"id": ids.get(a, a), "mention": ACTORS[a][0], "name": {"en": ACTORS[a][0], "ar": ACTORS[a][1]},
                    "kind": ACTORS[a][2], "country": ACTORS[a][3]} for a in actors],
        "pressures": [{"evidence": f"{' and '.join(p[0])} {p[2].lower()} {' and '.join(p[1])}",
                       "actors": [ids.get(a, a) for a in p[0]], "targets": [ids.get(t, t) for t in p[1]],
                       "event": p[2], "means": {"en": "pressure", "ar": "ضغط"}, "demand": {"en": "talks", "ar": "مفاوضات"},
                       "source_ids": []} for p in pressures],
        "positions": [{"quote": None, "actor": ids.get(a, a), "stance": {"en": s, "ar": "موقف"}, "source_ids": []}
                      for a, s in positions],
        "sources": [],
    }
    return envelope(data, url=url, outlet=outlet, content_hash=url or headline)
