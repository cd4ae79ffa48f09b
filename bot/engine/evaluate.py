"""`newsbot eval DIR`: briefs of reference articles scored against hand-made reference briefs.

`NAME.summary.json` is the reference for `NAME.<lang>.txt` (or `.html`) in the same folder. Rates
are means over the articles the model answered; an outage is reported as an error and left out,
and when nothing could be scored the command exits non-zero. Metrics are given per language too.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bot.engine import prompts
from bot.engine.article import Article
from bot.engine.brief import BriefEngine
from bot.engine.grounding import Grounds
from bot.engine.llm import LLMClient
from bot.engine.normalize import Matcher, normalize
from bot.engine.schema import Actor, Brief, BriefEnvelope, CheckIssue
from bot.ops.config import Settings
from bot.ops.errors import InputError, LLMBadOutput, LLMError, LLMRefused, LLMTruncated
from bot.reading.reader import read_file

METRICS = ["schema_valid_rate", "grounding_rate", "actor_recall", "actor_precision", "pressure_pair_f1",
           "source_recall", "bilingual_rate", "quote_precision", "speaker_precision", "speaker_confirmed"]
_PREFIX = re.compile(r"^(ال|the )")


def _key(name: str) -> str:
    """A name for matching: normalised, lower case, without a leading article."""
    return _PREFIX.sub("", normalize(name).lower().strip(" ()"))


def _closeness(a: tuple[str, str], b: tuple[str, str]) -> int:
    """How closely two (ar, en) names denote the same party: 0 when they do not; otherwise more for
    the same name than for one inside the other, and more for a longer shared name."""
    best = 0
    for x, y in zip(a, b, strict=True):
        kx, ky = _key(x), _key(y)
        if kx and ky and kx == ky:
            best = max(best, 10_000 + len(kx))
        elif kx and ky and min(len(kx), len(ky)) >= 3 and (kx in ky or ky in kx):
            best = max(best, min(len(kx), len(ky)))
    return best


def names_match(a: tuple[str, str], b: tuple[str, str]) -> bool:
    """Two (ar, en) names denote the same party if either language matches, or one contains the other."""
    return _closeness(a, b) > 0


def _align(got: Sequence[Actor], ref: Sequence[Actor]) -> dict[int, int]:
    """One-to-one matching of produced actors to reference actors (got index → ref index), as many
    as can be matched, the closest first: the same name before one inside the other, the same kind
    before another, a longer shared name before a shorter ("Prime minister (Israel)", a person, is the
    reference's Netanyahu, not its Israel)."""
    edges = sorted(((-(c >= 10_000), -(g.kind == r.kind), -c, i, j) for i, g in enumerate(got)
                    for j, r in enumerate(ref) if (c := _closeness((g.name.ar, g.name.en), (r.name.ar, r.name.en)))))
    options: dict[int, list[int]] = {}
    owner: dict[int, int] = {}  # ref index → got index
    for *_, i, j in edges:
        options.setdefault(i, []).append(j)
        if j not in owner and i not in owner.values():
            owner[j] = i

    def augment(i: int, seen: set[int]) -> bool:
        """Whether `i` can take a reference actor, moving others along to their next choices."""
        for j in options.get(i, []):
            if j not in seen:
                seen.add(j)
                if j not in owner or augment(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    for i in options:
        if i not in owner.values():
            augment(i, set())
    return {i: j for j, i in owner.items()}


def _ratio(n: int, d: int) -> float | None:
    """None when there is nothing to count: a brief with no actors has no actor precision, and
    it is left out of the mean rather than scored as perfect."""
    return n / d if d else None


#: The model's own failures: scored, as a brief that is not schema-valid. Anything else (the
#: endpoint down, a rejected key or request, a configuration problem) says nothing about the model:
#: reported as an error and left out of the rates.
MODEL_FAILURES: tuple[type[LLMError], ...] = (LLMBadOutput, LLMTruncated, LLMRefused)


@dataclass
class Score:
    name: str
    language: str = ""
    schema_valid_rate: float = 0.0
    grounding_rate: float | None = 0.0
    actor_recall: float | None = 0.0
    actor_precision: float | None = 0.0
    pressure_pair_f1: float | None = 0.0
    source_recall: float | None = 0.0
    bilingual_rate: float = 0.0
    quote_precision: float | None = 0.0
    #: shown quotes whose speaker the article confirms and that the reference gives the same actor
    speaker_precision: float | None = 0.0
    #: 1 when the brief shows a position with a verified quote whose speaker the article confirms
    #: (its mean: the share of articles whose brief has one)
    speaker_confirmed: float = 0.0
    source_recall_by_kind: dict[str, float | None] = field(default_factory=dict)
    #: what failed, as data: a bad brief's failures, a good one's remaining failures and dropped items
    failures: list[dict[str, str]] = field(default_factory=list)
    dropped: list[dict[str, str]] = field(default_factory=list)
    #: ids of the prompt's invented example that turn up in this brief (a leak; the target is none)
    example_ids: list[str] = field(default_factory=list)
    error: str | None = None  # an error code: with `scored` False, an outage, not the model's doing
    detail: str | None = None
    scored: bool = True


def _spans(matcher: Matcher, texts: Iterable[str]) -> list[tuple[int, int]]:
    found = (matcher.find(t) for t in texts if t)
    return [(m.start, m.end) for m in found if m is not None]


def score(name: str, env: BriefEnvelope | None, ref: Brief, error: LLMError | str | None = None,
          article: Article | None = None) -> Score:
    language = article.language if article is not None else ""
    if env is None:
        code = error.code if isinstance(error, LLMError) else error
        s = Score(name=name, language=language, error=code)
        if isinstance(error, LLMError):
            s.detail = error.detail or None
            s.scored = isinstance(error, MODEL_FAILURES)
            s.failures = [i.model_dump() for i in getattr(error, "failures", []) if isinstance(i, CheckIssue)]
        return s
    got = env.brief
    s = Score(name=name, language=language or env.article.language or "", schema_valid_rate=1.0)
    examples = prompts.example_ids()
    s.example_ids = sorted({i for i in [*(a.id for a in got.actors), *(x.id for x in got.sources)] if i in examples})
    s.failures = [i.model_dump() for i in env.checks.remaining]
    s.dropped = [d.model_dump(include={"path", "item", "cause", "text"}) for d in env.checks.dropped]
    # the envelope counts what the model claimed as verbatim, dropped quotes included
    g = env.checks.grounding
    s.grounding_rate = _ratio(g.spans_verified, g.spans_checked)

    aligned = _align(got.actors, ref.actors)
    s.actor_recall = _ratio(len(aligned), len(ref.actors))
    s.actor_precision = _ratio(len(aligned), len(got.actors))

    # an actor without a reference counterpart stays itself: every invented pair counts on its own
    g_index: dict[str, object] = {a.id: aligned.get(i, f"?{a.id}") for i, a in enumerate(got.actors)}
    r_index = {a.id: j for j, a in enumerate(ref.actors)}
    g_pairs = {(g_index.get(a, f"?{a}"), g_index.get(t, f"?{t}"))
               for p in got.pressures for a in p.actors for t in p.targets}
    r_pairs = {(r_index[a], r_index[t]) for p in ref.pressures for a in p.actors for t in p.targets
               if a in r_index and t in r_index}
    hit = len(g_pairs & r_pairs)
    if g_pairs or r_pairs:  # an empty side scores 0 on its half: no pairs found, or only invented ones
        precision, recall = hit / len(g_pairs) if g_pairs else 0.0, hit / len(r_pairs) if r_pairs else 0.0
        s.pressure_pair_f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    else:
        s.pressure_pair_f1 = None

    # a shown quote is right when it is verbatim and overlaps a quote the reference gives the same actor
    text = article.text if article is not None else None
    shown = [q for q in got.positions if q.quote and q.quote_check is not None and q.quote_check.verified]
    s.speaker_confirmed = float(any(q.speaker_check is not None and q.speaker_check.confirmed for q in shown))
    if shown and text is not None:
        matcher = Matcher(text)
        ref_quotes: dict[int, list[tuple[int, int]]] = {}
        for q in ref.positions:
            if q.actor in r_index:
                ref_quotes.setdefault(r_index[q.actor], []).extend(_spans(matcher, [q.quote or ""]))
        right = confirmed = 0
        for q in shown:
            who = g_index.get(q.actor)
            start, end = q.quote_check.start, q.quote_check.end  # type: ignore[union-attr]
            if isinstance(who, int) and start is not None and end is not None:
                hit = any(a < end and start < b for a, b in ref_quotes.get(who, []))
                right += hit
                confirmed += hit and (q.speaker_check is None or q.speaker_check.confirmed)
        s.quote_precision = _ratio(right, len(shown))
        s.speaker_precision = _ratio(confirmed, len(shown))
    else:
        s.quote_precision = None  # no quote shown: nothing to be right or wrong about
        s.speaker_precision = None

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


def total(scores: Iterable[Score]) -> dict[str, float | None]:
    """Mean of each metric over the scored articles; outages are left out (None when none is left)."""
    scored = [s for s in scores if s.scored]
    out: dict[str, float | None] = {}
    for m in METRICS:
        values = [v for v in (getattr(s, m) for s in scored) if v is not None]
        out[m] = round(sum(values) / len(values), 4) if values else None
    out["example_ids"] = sum(len(s.example_ids) for s in scored)  # a count, not a mean: the target is 0
    return out


def by_language(scores: Iterable[Score]) -> dict[str, dict[str, float | None]]:
    groups: dict[str, list[Score]] = {}
    for s in scores:
        groups.setdefault(s.language or "?", []).append(s)
    return {lang: total(group) for lang, group in sorted(groups.items())}


def load(folder: str) -> list[tuple[str, Article, Brief]]:
    """Read every (article, reference) pair of a folder, or say clearly why there is none."""
    path = Path(folder)
    if not path.is_dir():
        raise InputError(f"{folder} is not a folder" if path.exists() else f"no such folder: {folder}")
    items = [(name, read_file(str(a)), Brief.model_validate_json(r.read_text(encoding="utf-8")))
             for name, a, r in pairs_in(path)]
    if not items:
        raise InputError(f"no NAME.summary.json with a NAME.<lang>.txt beside it in {folder}")
    return items


def progress_line(n: int, of: int, s: Score, seconds: float) -> str:
    """One scored article as `newsbot eval --json` reports it on stderr while it goes on."""
    metrics = " ".join(f"{m}={'-' if getattr(s, m) is None else round(getattr(s, m), 2)}" for m in METRICS)
    tail = f" error={s.error}" if s.error else ""
    return (f"eval {n}/{of} {s.name} [{s.language or '?'}] {seconds:.0f} s: {metrics} "
            f"example_ids={len(s.example_ids)} dropped={len(s.dropped)} failing={len(s.failures)}{tail}")


#: exit code of `newsbot eval` when no article could be scored (the CLI's code for LLM trouble)
EXIT_NOTHING_SCORED = 5


async def run_eval(settings: Settings, items: list[tuple[str, Article, Brief]], *, as_json: bool = False,
                   candidates: bool = True) -> int:
    llm = LLMClient(settings)
    engine = BriefEngine(settings, llm, candidates=candidates)
    scores: list[Score] = []
    try:
        for n, (name, article, ref) in enumerate(items, 1):
            started = time.monotonic()
            try:
                scores.append(score(name, await engine.run(article), ref, article=article))
            except LLMError as exc:
                scores.append(score(name, None, ref, error=exc, article=article))
            if as_json:  # a slow model takes minutes an article: say how far it got, on stderr
                print(progress_line(n, len(items), scores[-1], time.monotonic() - started), file=sys.stderr, flush=True)
    finally:
        await llm.close()
    summary = total(scores)
    scored = sum(s.scored for s in scores)
    code = 0 if scored else EXIT_NOTHING_SCORED
    if as_json:
        print(json.dumps({"model": settings.llm_model, "prompt_version": prompts.version(),
                          "articles": [asdict(s) for s in scores], "total": summary,
                          "by_language": by_language(scores), "scored": scored,
                          "errors": sum(not s.scored for s in scores)}, ensure_ascii=False, indent=2))
        return code
    short = ["valid", "ground", "act_R", "act_P", "press_F1", "src_R", "biling", "quote_P", "spkr_P", "spkr_ok"]

    def cell(key: str, value: float | None) -> str:
        if value is None:
            return f"{'-':>9}"
        return f"{int(value):>9d}" if key == "example_ids" else f"{value:>9.2f}"

    def row(label: str, values: dict[str, float | None]) -> str:
        return f"{label[:40]:<40}" + "".join(cell(k, v) for k, v in values.items())

    print(f"{'article':<40}" + "".join(f"{h:>9}" for h in [*short, "ex_ids"]))
    for s in scores:
        values = {m: getattr(s, m) if s.scored else None for m in METRICS}
        values["example_ids"] = len(s.example_ids) if s.scored else None  # type: ignore[assignment]
        note = f"  ({s.error}{'' if s.scored else ', not scored'})" if s.error else ""
        print(row(s.name, values) + note)
    for lang, values in by_language(scores).items():
        n = sum(1 for s in scores if (s.language or "?") == lang and s.scored)
        print(row(f"{lang} ({n} scored)", values))
    print(row(f"TOTAL ({scored} scored of {len(scores)})", summary))
    if not scored:
        print("nothing could be scored: every article failed for a reason other than the model's answer",
              file=sys.stderr)
    return code


# --- the speaker check on the references (no model) -----------------------------------------------
@dataclass
class Mutations:
    """The speaker check run on a reference brief as it is (`flagged` of `quotes` are false alarms)
    and with the speakers of every two quotes of different actors swapped (`caught` of `swaps`)."""

    quotes: int = 0
    flagged: int = 0
    swaps: int = 0
    caught: int = 0

    def __add__(self, other: Mutations) -> Mutations:
        return Mutations(self.quotes + other.quotes, self.flagged + other.flagged, self.swaps + other.swaps,
                         self.caught + other.caught)


def mutations(article: Article, ref: Brief) -> Mutations:
    """Swap the speakers (actor and cited sources) of every pair of the reference's quoted positions
    with different actors, and run the speaker check on each: a swap is caught when the check does
    not confirm the swapped speaker."""
    grounds = Grounds(Matcher(article.text), tuple(o for o in (article.outlet, article.publisher_hint) if o))
    quoted = []
    for q in ref.positions:
        check = grounds.span(q.quote) if q.quote else None
        if check is not None and check.verified:
            quoted.append((q, check))
    out = Mutations(quotes=len(quoted))
    out.flagged = sum(not grounds.speaker(ref, q, c).confirmed for q, c in quoted)
    for i, (p, pc) in enumerate(quoted):
        for q, qc in quoted[i + 1:]:
            if p.actor == q.actor:
                continue
            for (mine, check), other in (((p, pc), q), ((q, qc), p)):
                swapped = mine.model_copy(update={"actor": other.actor, "source_ids": other.source_ids})
                out.swaps += 1
                out.caught += not grounds.speaker(ref, swapped, check).confirmed
    return out
