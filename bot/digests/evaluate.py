"""How well digests group articles into stories: pair precision and recall on a labelled set.

`eval/grouping/briefs.json` holds hand-written schema-v2 briefs (inputs to grouping, not checked
against articles) with the outlet, link and time each was shared; `pairs.json` labels pairs of
them as the same event or not, by kind (same event from other outlets and languages, different
events from one outlet, follow-ups on later days). `newsbot eval eval/grouping` prints the scores;
with `DIGEST_LLM_MERGE=true` the LLM settles the borderline pairs as it does in the bot.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.digests.stories import BORDER, SAME, Item, Verdicts, pair_score, settle, signals
from bot.engine.schema import ArticleInfo, BriefEnvelope, CheckReport, Grounding, Provenance, Usage
from bot.ops.config import Settings

TARGET = 0.9  # the precision and recall a release should keep


def envelope(brief: dict[str, Any], *, url: str | None = None, outlet: str | None = None,
             content_hash: str | None = None) -> BriefEnvelope:
    """A hand-written brief as a checked envelope, every span taken as verified (grouping never
    reads the article, so there is none to check against)."""
    ok = {"verified": True, "found_in": "article"}
    data = json.loads(json.dumps(brief))
    for a in data["actors"]:
        a["mention_check"] = ok
    for p in data["pressures"]:
        p["evidence_check"] = ok
    for q in data["positions"]:
        q["quote_check"] = ok if q.get("quote") else None
    for s in data["sources"]:
        s["name_check"] = ok
        s["evidence_check"] = ok if s.get("evidence") else None
    return BriefEnvelope.model_validate({
        "brief": data,
        "article": ArticleInfo(source=url or "text", url=url, outlet=outlet, language=data.get("language"),
                               chars=0, chars_sent=0, content_hash=content_hash or url or data["headline"]["en"],
                               status="full" if url else "text"),
        "provenance": Provenance(model="hand-written", prompt_version="-", response_format="-", usage=Usage(),
                                 llm_calls=0, llm_seconds=0, total_seconds=0, created_at="-"),
        "checks": CheckReport(passed_first_time=True, repaired=False, grounding=Grounding()),
    })


@dataclass
class Pair:
    a: str
    b: str
    same: bool
    kind: str


def load(folder: Path | str) -> tuple[dict[str, Item], list[Pair]]:
    folder = Path(folder)
    items = {}
    for entry in json.loads((folder / "briefs.json").read_text(encoding="utf-8")):
        shared = datetime.fromisoformat(entry["shared"]).timestamp()
        items[entry["id"]] = Item(envelope(entry["brief"], url=entry.get("url"), outlet=entry.get("outlet"),
                                           content_hash=entry["id"]),
                                  shared_at=shared, link=entry.get("url"), outlet=entry.get("outlet"))
    pairs = [Pair(**p) for p in json.loads((folder / "pairs.json").read_text(encoding="utf-8"))]
    unknown = {x for p in pairs for x in (p.a, p.b)} - set(items)
    if unknown:
        raise ValueError(f"pairs.json names briefs that briefs.json lacks: {sorted(unknown)}")
    return items, pairs


@dataclass
class Scores:
    pairs: int
    precision: float
    recall: float
    f1: float
    borderline: int
    llm_settled: int
    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)  # kind → right, wrong
    mistakes: list[dict[str, Any]] = field(default_factory=list)


def score(items: dict[str, Item], pairs: list[Pair], verdicts: dict[tuple[str, str], bool] | None = None) -> Scores:
    tp = fp = fn = 0
    by_kind: dict[str, dict[str, int]] = {}
    mistakes = []
    borderline = 0
    for p in pairs:
        s = pair_score(signals(items[p.a]), signals(items[p.b]))
        in_between = BORDER <= s < SAME
        borderline += in_between
        said = verdicts[(p.a, p.b)] if verdicts and in_between and (p.a, p.b) in verdicts else s >= SAME
        tp += said and p.same
        fp += said and not p.same
        fn += (not said) and p.same
        counts = by_kind.setdefault(p.kind, {"right": 0, "wrong": 0})
        counts["right" if said == p.same else "wrong"] += 1
        if said != p.same:
            mistakes.append({"a": p.a, "b": p.b, "same": p.same, "kind": p.kind, "score": round(s, 3)})
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(len(pairs), round(precision, 3), round(recall, 3), round(f1, 3), borderline,
                  len(verdicts or {}), by_kind, mistakes)


async def llm_verdicts(settings: Settings, items: dict[str, Item], pairs: list[Pair]) -> dict[tuple[str, str], bool]:
    """The bot's own LLM call over the borderline pairs of the set (one call, as in a digest)."""
    from bot.engine.llm import LLMClient

    order = list(items)
    index = {k: n for n, k in enumerate(order)}
    wanted = [(index[p.a], index[p.b]) for p in pairs]
    wanted = [(min(i, j), max(i, j)) for i, j in wanted]
    llm = LLMClient(settings)
    try:
        got: Verdicts = (await settle([items[k] for k in order], llm, wanted))[0]
    finally:
        await llm.close()
    return {(p.a, p.b): got[(min(index[p.a], index[p.b]), max(index[p.a], index[p.b]))] for p in pairs
            if (min(index[p.a], index[p.b]), max(index[p.a], index[p.b])) in got}


async def run_grouping_eval(settings: Settings, folder: Path | str, *, as_json: bool = False) -> int:
    items, pairs = load(folder)
    verdicts = await llm_verdicts(settings, items, pairs) if settings.digest_llm_merge else None
    s = score(items, pairs, verdicts)
    if as_json:
        print(json.dumps({"grouping": asdict(s)}, ensure_ascii=False, indent=2))
        return 0
    print(f"story grouping on {s.pairs} labelled pairs ({folder}):")
    print(f"  pair precision {s.precision:.3f}   recall {s.recall:.3f}   F1 {s.f1:.3f}   (target ≥ {TARGET})")
    llm = f", {s.llm_settled} settled by the LLM" if settings.digest_llm_merge else " (DIGEST_LLM_MERGE off)"
    print(f"  borderline pairs: {s.borderline}{llm}")
    for kind, c in sorted(s.by_kind.items()):
        print(f"  {kind:<28} {c['right']} right, {c['wrong']} wrong")
    for m in s.mistakes:
        print(f"  ✗ {m['a']} / {m['b']}: labelled {'same' if m['same'] else 'different'}, score {m['score']}")
    return 0
