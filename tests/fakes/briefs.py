"""Distinct, valid briefs for articles that tests write themselves (digests, caching)."""

from __future__ import annotations

import json
from typing import Any

from bot.engine import grounding, passages
from bot.engine.normalize import Matcher
from bot.engine.schema import ArticleInfo, BriefEnvelope, CheckReport, Provenance, Usage
from tests.conftest import EXAMPLE_ARTICLE
from tests.fakes.openai_server import Reply, completion

STORIES: dict[str, dict[str, Any]] = {
    "gaza": {
        "article": "القاهرة – وكالة الأنباء\n\nطالبت مصر وقطر إسرائيل وحركة حماس بالعودة إلى المفاوضات فورًا. "
                   "وقال مسؤول مصري إن «الوقت ينفد أمام الجميع». " + "وتتواصل الاتصالات بين الوسطاء. " * 10,
        "headline": ("مصر وقطر تطالبان إسرائيل وحماس بالعودة إلى المفاوضات",
                     "Egypt and Qatar urge Israel and Hamas back to talks"),
        "actors": [("egypt", "مصر", "Egypt", "state", "EGY", "مصر"), ("qatar", "قطر", "Qatar", "state", "QAT", "قطر"),
                   ("israel", "إسرائيل", "Israel", "state", "ISR", "إسرائيل"), ("hamas", "حماس", "Hamas", "armed_group", "PSE", "حركة حماس")],
        "pressure": (["egypt", "qatar"], ["israel", "hamas"], "REQUEST"),
        "evidence": "طالبت مصر وقطر إسرائيل وحركة حماس بالعودة إلى المفاوضات فورًا",
        "quote": "الوقت ينفد أمام الجميع",
        "outlet": ("وكالة الأنباء", "News Agency"),
        "outlet_evidence": "القاهرة – وكالة الأنباء",
    },
    "sudan": {
        "article": "Geneva (Reuters) - The United Nations threatened sanctions against the Rapid Support Forces "
                   "unless they open aid corridors in Darfur. \"Access must be granted now,\" a UN envoy said. "
                   + "Aid agencies describe dire conditions. " * 10,
        "headline": ("الأمم المتحدة تهدد قوات الدعم السريع بعقوبات لفتح ممرات الإغاثة",
                     "UN threatens Rapid Support Forces with sanctions over Darfur aid corridors"),
        "actors": [("un", "الأمم المتحدة", "United Nations", "international_org", None, "United Nations"),
                   ("rsf", "قوات الدعم السريع", "Rapid Support Forces", "armed_group", "SDN",
                    "Rapid Support Forces")],
        "pressure": (["un"], ["rsf"], "THREATEN"),
        "evidence": "The United Nations threatened sanctions against the Rapid Support Forces",
        "quote": "Access must be granted now",
        "outlet": ("رويترز", "Reuters"),
        "outlet_evidence": "Geneva (Reuters)",
    },
    "ukraine": {
        "article": "Brussels (Associated Press) - The European Union accused Russia of blocking grain shipments through the "
                   "Black Sea. \"This is a deliberate policy of hunger,\" the EU foreign policy chief said. "
                   + "Ministers will meet again next week. " * 10,
        "headline": ("الاتحاد الأوروبي يتهم روسيا بعرقلة شحنات الحبوب",
                     "EU accuses Russia of blocking Black Sea grain shipments"),
        "actors": [("eu", "الاتحاد الأوروبي", "European Union", "international_org", None, "European Union"),
                   ("russia", "روسيا", "Russia", "state", "RUS", "Russia")],
        "pressure": (["eu"], ["russia"], "ACCUSE"),
        "evidence": "The European Union accused Russia of blocking grain shipments",
        "quote": "This is a deliberate policy of hunger",
        "outlet": ("أسوشيتد برس", "Associated Press"),
        "outlet_evidence": "Brussels (Associated Press)",
    },
}


def brief_for(story: str) -> dict[str, Any]:
    s = STORIES[story]
    actors = [{"id": i, "name": {"ar": ar, "en": en}, "kind": k, "country": c, "mention": m}
              for i, ar, en, k, c, m in s["actors"]]
    first = s["pressure"][0][0]
    return {
        "language": "ar" if story == "gaza" else "en",
        "headline": {"ar": s["headline"][0], "en": s["headline"][1]},
        "summary": {"ar": s["headline"][0] + ".", "en": s["headline"][1] + "."},
        "actors": actors,
        "pressures": [{"actors": s["pressure"][0], "targets": s["pressure"][1], "event": s["pressure"][2],
                       "means": {"ar": "ضغط دبلوماسي", "en": "diplomatic pressure"},
                       "demand": {"ar": "الاستجابة للمطالب", "en": "meet the demands"},
                       "evidence": s["evidence"], "source_ids": ["publisher"]}],
        "positions": [{"actor": first, "stance": {"ar": "يطالب بالتحرك فورًا", "en": "calls for action now"},
                       "quote": s["quote"], "source_ids": ["publisher"]}],
        "sources": [{"id": "publisher", "name": {"ar": s["outlet"][0], "en": s["outlet"][1]}, "kind": "media",
                     "evidence": s["outlet_evidence"]}],
    }


def story_of(payload: dict[str, Any]) -> str | None:
    text = payload.get("messages", [{}])[-1].get("content", "")
    return next((k for k, s in STORIES.items() if s["evidence"] in text), None)


def story_reply(payload: dict[str, Any]) -> Reply:
    """A loopback model that briefs each known story as its own brief."""
    story = story_of(payload)
    if story is None:
        from tests.conftest import example_reply
        return example_reply(payload)
    return completion(json.dumps(brief_for(story), ensure_ascii=False))


def envelope(data: dict[str, Any], article: str | None = None) -> BriefEnvelope:
    """The brief as the engine would settle it against `article` (the example article by default)."""
    article = EXAMPLE_ARTICLE.read_text(encoding="utf-8") if article is None else article
    brief, issues = grounding.parse(json.dumps(data, ensure_ascii=False))
    assert brief is not None, issues
    settled = grounding.settle(brief, Matcher(article))
    return BriefEnvelope(
        brief=settled.brief,
        article=ArticleInfo(source="t", chars=len(article), chars_sent=len(article), content_hash="x",
                            passages=passages.of_brief(article, settled.brief)),
        provenance=Provenance(model="m", prompt_version="p", response_format="json_schema", usage=Usage(),
                              llm_calls=1, llm_seconds=0, total_seconds=0, created_at="now"),
        checks=CheckReport(passed_first_time=True, repaired=False, dropped=settled.dropped,
                           grounding=settled.grounding),
    )
