"""Checks of a brief against the schema and its article, and what to do with what fails.

The pipeline (`brief.py`) calls `parse` and `check`, sends the failures back to the LLM once,
then calls `settle`, which turns the answer into a `CheckedBrief`: every span carries its own
`SpanCheck`, and whatever cannot be shown honestly is dropped, so that nothing unchecked is ever
shown as verbatim and no actor or source is shown that the article does not name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from bot.normalize import Matcher, normalize, script_share, strip_bidi
from bot.schema import (
    Brief,
    CheckedActor,
    CheckedBrief,
    CheckedPosition,
    CheckedPressure,
    CheckedSource,
    CheckIssue,
    DropCause,
    Dropped,
    DroppedItem,
    Grounding,
    Source,
    SpanCheck,
)

_FENCE = re.compile(r"^\s*```(?:json)?\s*|\s*```\s*$", re.IGNORECASE)


def _path(loc: tuple[object, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "$"


def _clean(node: Any) -> Any:
    """Every string the model wrote, without bidi controls: neither a model nor an article it
    copies from may reorder what the reader sees. Done at parse time so the JSON is clean too."""
    if isinstance(node, str):
        return strip_bidi(node)
    if isinstance(node, list):
        return [_clean(v) for v in node]
    if isinstance(node, dict):
        return {_clean(k): _clean(v) for k, v in node.items()}
    return node


def parse(raw: str) -> tuple[Brief | None, list[CheckIssue]]:
    """Check 1: the text is JSON and fits the schema."""
    text = _FENCE.sub("", raw.strip())
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        # Servers without structured output sometimes wrap the object in prose.
        start, end = text.find("{"), text.rfind("}")
        try:
            data = json.loads(text[start : end + 1]) if 0 <= start < end else None
        except json.JSONDecodeError:
            data = None
        if data is None:
            return None, [CheckIssue(path="$", kind="schema", message="the answer is not valid JSON")]
    if not isinstance(data, dict):
        return None, [CheckIssue(path="$", kind="schema", message="the answer must be a JSON object")]
    try:
        return Brief.model_validate(_clean(data)), []
    except ValidationError as exc:
        return None, [
            CheckIssue(path=_path(tuple(e["loc"])), kind="schema", message=e["msg"])
            for e in exc.errors()
        ]


def _bilinguals(brief: Brief) -> list[tuple[str, str, str]]:
    """(path, lang, text) for every bilingual field."""
    out: list[tuple[str, str, str]] = []

    def add(path: str, value: object) -> None:
        out.append((f"{path}.ar", "ar", value.ar))  # type: ignore[attr-defined]
        out.append((f"{path}.en", "en", value.en))  # type: ignore[attr-defined]

    add("headline", brief.headline)
    add("summary", brief.summary)
    for i, a in enumerate(brief.actors):
        add(f"actors[{i}].name", a.name)
    for i, p in enumerate(brief.pressures):
        add(f"pressures[{i}].means", p.means)
        add(f"pressures[{i}].demand", p.demand)
    for i, q in enumerate(brief.positions):
        add(f"positions[{i}].stance", q.stance)
    for i, s in enumerate(brief.sources):
        add(f"sources[{i}].name", s.name)
    return out


def spans(brief: Brief) -> list[tuple[str, str]]:
    """(path, text) of every quote and evidence span that must be verbatim in the article. A
    source's empty evidence is no span: an outlet known only from metadata has none."""
    out = [(f"pressures[{i}].evidence", p.evidence) for i, p in enumerate(brief.pressures)]
    out += [(f"positions[{i}].quote", p.quote) for i, p in enumerate(brief.positions) if p.quote]
    out += [(f"sources[{i}].evidence", s.evidence) for i, s in enumerate(brief.sources) if s.evidence.strip()]
    return out


def _outlet_key(name: str) -> str:
    # "Jawhara FM (publisher)" is the outlet "Jawhara FM": brackets are the model's annotation
    return normalize(re.sub(r"\([^)]*\)|\[[^\]]*\]", " ", name)).casefold().strip()


@dataclass(frozen=True)
class Grounds:
    """What a brief is checked against: the article, and the outlets known from metadata (a
    fetched page's site name, a forwarded post's channel), which the article may not name."""

    matcher: Matcher
    outlets: tuple[str, ...] = ()

    def span(self, text: str) -> SpanCheck:
        m = self.matcher.find(text)
        if m is None:
            return SpanCheck(verified=False)
        return SpanCheck(verified=True, found_in="article", start=m.start, end=m.end)

    def mention(self, text: str) -> SpanCheck:
        m = self.matcher.find_name(text)
        if m is None:
            return SpanCheck(verified=False)
        return SpanCheck(verified=True, found_in="article", start=m.start, end=m.end)

    def source_name(self, source: Source) -> SpanCheck:
        known = {_outlet_key(o) for o in self.outlets} - {""}
        if {_outlet_key(source.name.ar), _outlet_key(source.name.en)} & known:
            return SpanCheck(verified=True, found_in="metadata")
        for name in (source.name.ar, source.name.en):
            check = self.mention(name)
            if check.verified:
                return check
        return SpanCheck(verified=False)


def _grounds(matcher: Matcher | Grounds, outlets: Sequence[str]) -> Grounds:
    return matcher if isinstance(matcher, Grounds) else Grounds(matcher, tuple(o for o in outlets if o))


def check(brief: Brief, matcher: Matcher | Grounds, outlets: Sequence[str] = ()) -> list[CheckIssue]:
    """Checks 2–5: verbatim spans, names, references and ids, script of each language."""
    grounds = _grounds(matcher, outlets)
    issues: list[CheckIssue] = []
    for path, text in spans(brief):
        if not grounds.span(text).verified:
            issues.append(CheckIssue(path=path, kind="not_found",
                                     message=f"not found verbatim in the article: {text[:120]!r}"))
    for i, a in enumerate(brief.actors):
        if not grounds.mention(a.mention).verified:
            issues.append(CheckIssue(path=f"actors[{i}].mention", kind="not_found",
                                     message=f"mention not found verbatim in the article: {a.mention[:120]!r}"))
    for i, s in enumerate(brief.sources):
        if not grounds.source_name(s).verified:
            issues.append(CheckIssue(path=f"sources[{i}].name", kind="not_found",
                                     message=f"source name not in the article and not the known outlet: "
                                             f"{s.name.ar[:60]!r} / {s.name.en[:60]!r}"))

    for kind, ids in (("actor", [a.id for a in brief.actors]), ("source", [s.id for s in brief.sources])):
        seen: set[str] = set()
        for i, ident in enumerate(ids):
            if ident in seen:
                issues.append(CheckIssue(path=f"{kind}s[{i}].id", kind="duplicate_id",
                                         message=f"{kind} id {ident!r} is used twice"))
            seen.add(ident)

    actor_ids = {a.id for a in brief.actors}
    source_ids = {s.id for s in brief.sources}

    def ref(path: str, ident: str, known: set[str], what: str) -> None:
        if ident not in known:
            issues.append(CheckIssue(path=path, kind="reference",
                                     message=f"{what} id {ident!r} is not defined in {what}s"))

    for i, p in enumerate(brief.pressures):
        for j, a in enumerate(p.actors):
            ref(f"pressures[{i}].actors[{j}]", a, actor_ids, "actor")
        for j, t in enumerate(p.targets):
            ref(f"pressures[{i}].targets[{j}]", t, actor_ids, "actor")
        for j, s in enumerate(p.source_ids):
            ref(f"pressures[{i}].source_ids[{j}]", s, source_ids, "source")
        if not p.actors or not p.targets:
            issues.append(CheckIssue(path=f"pressures[{i}]", kind="reference",
                                     message="a pressure needs at least one actor and one target"))
    for i, q in enumerate(brief.positions):
        ref(f"positions[{i}].actor", q.actor, actor_ids, "actor")
        for j, s in enumerate(q.source_ids):
            ref(f"positions[{i}].source_ids[{j}]", s, source_ids, "source")

    for path, lang, text in _bilinguals(brief):
        arabic, latin = script_share(text)
        if arabic == latin == 0:
            continue  # digits or symbols only: nothing to judge
        if lang == "ar" and arabic < 0.5:
            issues.append(CheckIssue(path=path, kind="script", message="must be written in Arabic script"))
        if lang == "en" and latin < 0.7:
            issues.append(CheckIssue(path=path, kind="script", message="must be written in English (Latin script)"))
    return issues


@dataclass
class Settled:
    brief: CheckedBrief
    dropped: list[Dropped] = field(default_factory=list)
    grounding: Grounding = field(default_factory=Grounding)


def settle(brief: Brief, matcher: Matcher | Grounds, outlets: Sequence[str] = ()) -> Settled:
    """Make a brief safe to show. Every span gets its `SpanCheck`; an unfound quote is dropped
    (the position stays), unfound evidence stays marked unverified and is never quoted, an actor
    or source the article does not name is dropped with its references, and pressures and
    positions left without their parties are dropped. Paths in `dropped` are those of `brief`."""
    grounds = _grounds(matcher, outlets)
    dropped: list[Dropped] = []

    def drop(path: str, item: DroppedItem, cause: DropCause, text: str, reason: str) -> None:
        dropped.append(Dropped(path=path, item=item, cause=cause, text=text, reason=reason))

    evidence = [grounds.span(p.evidence) for p in brief.pressures]
    quotes = [grounds.span(q.quote) if q.quote else None for q in brief.positions]
    source_spans = [grounds.span(s.evidence) if s.evidence.strip() else None for s in brief.sources]
    mentions = [grounds.mention(a.mention) for a in brief.actors]
    names = [grounds.source_name(s) for s in brief.sources]
    span_checks = [c for c in (*evidence, *quotes, *source_spans) if c is not None]
    grounding = Grounding(spans_checked=len(span_checks), spans_verified=sum(c.verified for c in span_checks),
                          names_checked=len(mentions) + len(names),
                          names_verified=sum(c.verified for c in (*mentions, *names)))

    actors: list[CheckedActor] = []
    for i, (a, mention) in enumerate(zip(brief.actors, mentions, strict=True)):
        if any(k.id == a.id for k in actors):
            drop(f"actors[{i}]", "actor", "duplicate_id", a.id, "duplicate id")
        elif not mention.verified:
            drop(f"actors[{i}]", "actor", "not_found", a.mention or a.name.en,
                 "actor's mention not found in the article")
        else:
            actors.append(CheckedActor(**a.model_dump(), mention_check=mention))
    sources: list[CheckedSource] = []
    for i, (s, name, span) in enumerate(zip(brief.sources, names, source_spans, strict=True)):
        if any(k.id == s.id for k in sources):
            drop(f"sources[{i}]", "source", "duplicate_id", s.id, "duplicate id")
        elif not name.verified:
            drop(f"sources[{i}]", "source", "not_found", f"{s.name.ar} / {s.name.en}",
                 "source not named in the article and not the known outlet")
        else:
            sources.append(CheckedSource(**s.model_dump(), name_check=name, evidence_check=span))
    actor_ids = {a.id for a in actors}
    source_ids = {s.id for s in sources}

    pressures: list[CheckedPressure] = []
    for i, (p, check_) in enumerate(zip(brief.pressures, evidence, strict=True)):
        kept = p.model_copy(update={"actors": [a for a in p.actors if a in actor_ids],
                                    "targets": [t for t in p.targets if t in actor_ids],
                                    "source_ids": [s for s in p.source_ids if s in source_ids]})
        if not kept.actors or not kept.targets:
            drop(f"pressures[{i}]", "pressure", "unknown_reference", p.evidence,
                 "pressure without a known actor or target")
            continue
        pressures.append(CheckedPressure(**kept.model_dump(), evidence_check=check_))

    positions: list[CheckedPosition] = []
    for i, (q, quote) in enumerate(zip(brief.positions, quotes, strict=True)):
        if q.actor not in actor_ids:
            drop(f"positions[{i}]", "position", "unknown_reference", q.stance.en, "position of an unknown actor")
            continue
        kept = q.model_copy(update={"source_ids": [s for s in q.source_ids if s in source_ids]})
        if quote is not None and not quote.verified:
            drop(f"positions[{i}].quote", "quote", "not_found", q.quote or "", "quote not found in the article")
            kept.quote, quote = None, None
        positions.append(CheckedPosition(**kept.model_dump(), quote_check=quote))

    checked = CheckedBrief(language=brief.language, headline=brief.headline, summary=brief.summary,
                           actors=actors, pressures=pressures, positions=positions, sources=sources)
    return Settled(brief=checked, dropped=dropped, grounding=grounding)


def describe(issues: list[CheckIssue]) -> str:
    """The failures as the repair prompt lists them, one per line."""
    return "\n".join(f"- {i.path} [{i.kind}]: {i.message}" for i in issues)
