"""`newsbot eval DIR`: briefs of reference articles scored against hand-made reference briefs.

`NAME.summary.json` is the reference for `NAME.<lang>.txt` (or `.html`) in the same folder.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bot.article import Article
from bot.brief import BriefEngine
from bot.config import Settings
from bot.errors import InputError, LLMError
from bot.llm import LLMClient
from bot.normalize import normalize
from bot.reader import read_file
from bot.schema import Brief, BriefEnvelope

METRICS = ["schema_valid_rate", "grounding_rate", "actor_recall", "actor_precision", "pressure_pair_f1",
           "source_recall", "bilingual_rate"]
_PREFIX = re.compile(r"^(ال|the )")


def _key(name: str) -> str:
    """A name for matching: normalised, lower case, without a leading article."""
    return _PREFIX.sub("", normalize(name).lower().strip(" ()"))


def names_match(a: tuple[str, str], b: tuple[str, str]) -> bool:
    """Two (ar, en) names denote the same party if either language matches, or one contains the other."""
    for x, y in zip(a, b, strict=True):
        kx, ky = _key(x), _key(y)
        if kx and ky and (kx == ky or (min(len(kx), len(ky)) >= 3 and (kx in ky or ky in kx))):
            return True
    return False


def _align(got: list[tuple[str, str]], ref: list[tuple[str, str]]) -> dict[int, int]:
    """Greedy one-to-one matching of produced names to reference names: got index → ref index."""
    pairs: dict[int, int] = {}
    used: set[int] = set()
    for i, g in enumerate(got):
        for j, r in enumerate(ref):
            if j not in used and names_match(g, r):
                pairs[i] = j
                used.add(j)
                break
    return pairs


def _ratio(n: int, d: int) -> float:
    return n / d if d else 1.0


@dataclass
class Score:
    name: str
    schema_valid_rate: float = 0.0
    grounding_rate: float = 0.0
    actor_recall: float = 0.0
    actor_precision: float = 0.0
    pressure_pair_f1: float = 0.0
    source_recall: float = 0.0
    bilingual_rate: float = 0.0
    source_recall_by_kind: dict[str, float] = field(default_factory=dict)
    error: str | None = None


def score(name: str, env: BriefEnvelope | None, ref: Brief, error: str | None = None) -> Score:
    if env is None:
        return Score(name=name, error=error)
    got = env.brief
    s = Score(name=name, schema_valid_rate=1.0)
    # the envelope counts what the model claimed as verbatim, dropped quotes included
    g = env.checks.grounding
    s.grounding_rate = _ratio(g.spans_verified, g.spans_checked)

    g_names = [(a.name.ar, a.name.en) for a in got.actors]
    r_names = [(a.name.ar, a.name.en) for a in ref.actors]
    aligned = _align(g_names, r_names)
    s.actor_recall = _ratio(len(aligned), len(r_names))
    s.actor_precision = _ratio(len(aligned), len(g_names))

    g_index = {a.id: aligned.get(i) for i, a in enumerate(got.actors)}
    r_index = {a.id: j for j, a in enumerate(ref.actors)}
    g_pairs = {(g_index.get(a), g_index.get(t)) for p in got.pressures for a in p.actors for t in p.targets}
    g_pairs = {(a, t) if a is not None and t is not None else ("?", "?") for a, t in g_pairs}
    r_pairs = {(r_index[a], r_index[t]) for p in ref.pressures for a in p.actors for t in p.targets
               if a in r_index and t in r_index}
    hit = len(g_pairs & r_pairs)
    precision, recall = _ratio(hit, len(g_pairs)), _ratio(hit, len(r_pairs))
    s.pressure_pair_f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0

    by_kind: dict[str, list[bool]] = {}
    for r in ref.sources:
        found = any(g.kind == r.kind and (names_match((g.name.ar, g.name.en), (r.name.ar, r.name.en))
                                          or normalize(g.evidence) == normalize(r.evidence))
                    for g in got.sources)
        by_kind.setdefault(r.kind, []).append(found)
    flat = [x for v in by_kind.values() for x in v]
    s.source_recall = _ratio(sum(flat), len(flat))
    s.source_recall_by_kind = {k: _ratio(sum(v), len(v)) for k, v in by_kind.items()}
    s.bilingual_rate = 0.0 if any(i.kind == "script" for i in env.checks.remaining) else 1.0
    return s


def pairs_in(folder: Path) -> list[tuple[str, Path, Path]]:
    """(name, article, reference) for every reference with its article beside it."""
    out = []
    for ref in sorted(folder.glob("*.summary.json")):
        name = ref.name.removesuffix(".summary.json")
        articles = sorted(p for p in folder.glob(f"{name}.*") if re.fullmatch(r"[a-z]{2}\.(txt|html?)",
                                                                               p.name[len(name) + 1:]))
        if articles:
            out.append((name, articles[0], ref))
    return out


def total(scores: Iterable[Score]) -> dict[str, float]:
    scores = list(scores)
    return {m: round(sum(getattr(s, m) for s in scores) / len(scores), 4) if scores else 0.0 for m in METRICS}


def load(folder: str) -> list[tuple[str, Article, Brief]]:
    """Read every (article, reference) pair of a folder, or say clearly why there is none."""
    path = Path(folder)
    if not path.is_dir():
        raise InputError(f"no such folder: {folder}")
    items = [(name, read_file(str(a)), Brief.model_validate_json(r.read_text(encoding="utf-8")))
             for name, a, r in pairs_in(path)]
    if not items:
        raise InputError(f"no NAME.summary.json with a NAME.<lang>.txt beside it in {folder}")
    return items


async def run_eval(settings: Settings, items: list[tuple[str, Article, Brief]], *, as_json: bool = False) -> int:
    llm = LLMClient(settings)
    engine = BriefEngine(settings, llm)
    scores: list[Score] = []
    try:
        for name, article, ref in items:
            try:
                scores.append(score(name, await engine.run(article), ref))
            except LLMError as exc:
                scores.append(score(name, None, ref, error=exc.code))
    finally:
        await llm.close()
    summary = total(scores)
    if as_json:
        print(json.dumps({"model": settings.llm_model, "articles": [asdict(s) for s in scores], "total": summary},
                         ensure_ascii=False, indent=2))
        return 0
    short = ["valid", "ground", "act_R", "act_P", "press_F1", "src_R", "biling"]
    print(f"{'article':<40}" + "".join(f"{h:>9}" for h in short))
    for s in scores:
        print(f"{s.name[:40]:<40}" + "".join(f"{getattr(s, m):>9.2f}" for m in METRICS)
              + (f"  ({s.error})" if s.error else ""))
    print(f"{'TOTAL (' + str(len(scores)) + ')':<40}" + "".join(f"{summary[m]:>9.2f}" for m in METRICS))
    return 0
