"""Checks of a brief against the schema and its article, and what to do with what fails.

The pipeline (`brief.py`) calls `parse` and `check`, sends the failures back to the LLM once,
then calls `settle`, which drops or marks whatever still fails so that nothing unchecked is
ever shown as verbatim.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from pydantic import ValidationError

from bot.normalize import Matcher, script_share
from bot.schema import Brief, CheckIssue, Dropped

_FENCE = re.compile(r"^\s*```(?:json)?\s*|\s*```\s*$", re.IGNORECASE)


def _path(loc: tuple[object, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "$"


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
        return Brief.model_validate(data), []
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
    """(path, text) of every span that must be verbatim in the article."""
    out = [(f"pressures[{i}].evidence", p.evidence) for i, p in enumerate(brief.pressures)]
    out += [(f"positions[{i}].quote", p.quote) for i, p in enumerate(brief.positions) if p.quote]
    out += [(f"sources[{i}].evidence", s.evidence) for i, s in enumerate(brief.sources)]
    return out


def check(brief: Brief, matcher: Matcher) -> list[CheckIssue]:
    """Checks 2–4: verbatim grounding, references and ids, script of each language."""
    issues: list[CheckIssue] = []
    for path, text in spans(brief):
        if matcher.find(text) is None:
            issues.append(CheckIssue(path=path, kind="not_found",
                                     message=f"not found verbatim in the article: {text[:120]!r}"))

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
    brief: Brief
    dropped: list[Dropped] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)


def settle(brief: Brief, issues: list[CheckIssue]) -> Settled:
    """Make a brief safe to show: unfound quotes are dropped, unfound evidence is marked
    unverified, dangling references are removed, and items left without an actor are dropped."""
    b = brief.model_copy(deep=True)
    result = Settled(brief=b)
    failed = {i.path for i in issues if i.kind == "not_found"}

    for i, pos in enumerate(b.positions):
        if pos.quote and f"positions[{i}].quote" in failed:
            result.dropped.append(Dropped(path=f"positions[{i}].quote", text=pos.quote,
                                          reason="quote not found in the article"))
            pos.quote = None
    result.unverified += sorted(p for p in failed if not p.startswith("positions["))

    # duplicates: keep the first of each id
    def dedupe(items: list, label: str) -> list:  # type: ignore[type-arg]
        seen: set[str] = set()
        kept = []
        for i, item in enumerate(items):
            if item.id in seen:
                result.dropped.append(Dropped(path=f"{label}[{i}]", text=item.id, reason="duplicate id"))
                continue
            seen.add(item.id)
            kept.append(item)
        return kept

    # unverified paths are by index: rewrite them if sources shift
    source_index = {id(s): i for i, s in enumerate(b.sources)}
    b.actors = dedupe(b.actors, "actors")
    b.sources = dedupe(b.sources, "sources")
    actor_ids = {a.id for a in b.actors}
    source_ids = {s.id for s in b.sources}

    pressures = []
    old_pressure_index: dict[int, int] = {}
    for i, p in enumerate(b.pressures):
        p.actors = [a for a in p.actors if a in actor_ids]
        p.targets = [t for t in p.targets if t in actor_ids]
        p.source_ids = [s for s in p.source_ids if s in source_ids]
        if not p.actors or not p.targets:
            result.dropped.append(Dropped(path=f"pressures[{i}]", text=p.evidence,
                                          reason="pressure without a known actor or target"))
            continue
        old_pressure_index[i] = len(pressures)
        pressures.append(p)
    b.pressures = pressures

    positions = []
    for i, q in enumerate(b.positions):
        q.source_ids = [s for s in q.source_ids if s in source_ids]
        if q.actor not in actor_ids:
            result.dropped.append(Dropped(path=f"positions[{i}]", text=q.stance.en,
                                          reason="position of an unknown actor"))
            continue
        positions.append(q)
    b.positions = positions

    new_source_index = {source_index[id(s)]: i for i, s in enumerate(b.sources)}
    remapped = []
    for path in result.unverified:
        m = re.match(r"(pressures|sources)\[(\d+)\](.*)", path)
        if not m:
            remapped.append(path)
            continue
        table = old_pressure_index if m[1] == "pressures" else new_source_index
        if int(m[2]) in table:
            remapped.append(f"{m[1]}[{table[int(m[2])]}]{m[3]}")
    result.unverified = remapped
    return result


def describe(issues: list[CheckIssue]) -> str:
    """The failures as the repair prompt lists them, one per line."""
    return "\n".join(f"- {i.path} [{i.kind}]: {i.message}" for i in issues)
