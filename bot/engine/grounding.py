"""Checks of a brief against the schema and its article, and what to do with what fails.

The pipeline (`brief.py`) calls `parse` and `check`, sends the failures back to the LLM once,
then calls `settle`, which turns the answer into a `CheckedBrief`: every span carries its own
`SpanCheck`, and whatever cannot be shown honestly is dropped, so that nothing unchecked is ever
shown as verbatim and no actor or source is shown that the article does not name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ValidationError

from bot.engine import numbers, references, speakers
from bot.engine.attribution import Attributions
from bot.engine.normalize import Matcher, has_bidi, normalize, script_share, strip_bidi
from bot.engine.partial_json import Cut, load
from bot.engine.schema import (
    ANSWER,
    LIST_LIMITS,
    MAX_SUMMARY,
    MAX_TEXT,
    Actor,
    Bilingual,
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
    PartiesCheck,
    Position,
    Pressure,
    Source,
    SpanCheck,
    SpeakerCheck,
    Summary,
    UnconfirmedNumber,
)

_ITEM = re.compile(r"^(actors|pressures|positions|sources)\[(\d+)\]")
_ITEM_MODELS: dict[str, tuple[type[BaseModel], DroppedItem]] = {
    "actors": (Actor, "actor"), "pressures": (Pressure, "pressure"), "positions": (Position, "position"),
    "sources": (Source, "source")}
#: optional fields that are set to null when only they are invalid; the item stays
_OPTIONAL: dict[str, tuple[str, DroppedItem]] = {"actors": ("country", "country"), "positions": ("quote", "quote")}


def _path(loc: tuple[object, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "$"


def _cleaned(data: Any, raw: str) -> Any:
    """`data`, read from the JSON text `raw`, without bidi controls (`_clean`). A text with no
    control and no \\u escape (which could write one) holds none: `data` is then as it is, without
    visiting its hundreds of strings, a good part of the time reading an answer takes."""
    return _clean(data) if "\\u" in raw or has_bidi(raw) else data


def _clean(node: Any) -> Any:
    """Every string the model wrote, without bidi controls: neither a model nor an article it
    copies from may reorder what the reader sees. Done at parse time so the JSON is clean too."""
    if isinstance(node, str):
        return strip_bidi(node)
    if isinstance(node, list):
        return [_clean(v) for v in node]
    if isinstance(node, dict):
        return {_clean(k): _clean(v) for k, v in node.items()}
    if isinstance(node, Cut):
        return Cut(_clean(node.value))
    return node


# --- per-item validation ---------------------------------------------------------------------------
@dataclass
class Parsed:
    """One answer read item by item. `brief` is None only when there is no valid headline and
    summary in both languages (or no JSON object at all). `issues` go back to the model in the
    repair round; `dropped` is what this answer loses before the checks (invalid items, items
    beyond a list's bound, the item a cut-off answer stopped in); `origin` maps each kept item to
    its index in the answer, so that paths always point into the answer as the model gave it."""

    brief: Brief | None
    issues: list[CheckIssue] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)
    origin: dict[str, list[int]] = field(default_factory=dict)
    complete: bool = True  # False: the answer stopped before its end and was read as far as it went

    def remap(self, path: str) -> str:
        """A path into `brief` as a path into the answer."""
        m = _ITEM.match(path)
        if not m or m.group(1) not in self.origin:
            return path
        kept = self.origin[m.group(1)]
        index = int(m.group(2))
        return f"{m.group(1)}[{kept[index] if index < len(kept) else index}]" + path[m.end():]

    def remap_issues(self, issues: list[CheckIssue]) -> list[CheckIssue]:
        return [i.model_copy(update={"path": self.remap(i.path)}) for i in issues]

    def remap_dropped(self, dropped: list[Dropped]) -> list[Dropped]:
        return [d.model_copy(update={"path": self.remap(d.path)}) for d in dropped]


def _issues(exc: ValidationError, prefix: tuple[object, ...] = ()) -> list[CheckIssue]:
    return [CheckIssue(path=_path((*prefix, *e["loc"])), kind="schema", message=e["msg"]) for e in exc.errors()]


def _item_text(item: Any, key: str) -> str:
    """Something to show for a dropped item: its id, mention, evidence or quote."""
    if not isinstance(item, dict):
        return str(item)[:200]
    for k in ("mention", "evidence", "quote", "id", "actor"):
        if isinstance(item.get(k), str) and item[k]:
            return item[k][:200]
    return ""


def _validate_item(key: str, index: int, raw: Any, parsed: Parsed) -> BaseModel | None:
    """One list item of the answer: valid, valid once its invalid optional field is null, or
    dropped (with the reason as data)."""
    model, what = _ITEM_MODELS[key]
    path = f"{key}[{index}]"
    cut = isinstance(raw, Cut)
    data = raw.value if cut else raw
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if not isinstance(v, Cut)}  # a field cut mid-way is no field
    try:
        return model.model_validate(data, context=ANSWER)
    except ValidationError as exc:
        errors = _issues(exc, (key, index))
    optional = _OPTIONAL.get(key)
    if not cut and optional and isinstance(data, dict) and all(
            i.path.startswith(f"{path}.{optional[0]}") for i in errors):
        field_name, item = optional
        try:
            kept = model.model_validate({**data, field_name: None}, context=ANSWER)
        except ValidationError:
            pass
        else:
            parsed.issues += errors
            parsed.dropped.append(Dropped(path=f"{path}.{field_name}", item=item, cause="invalid",
                                          text=str(data.get(field_name))[:200],
                                          reason=f"{field_name} fails the schema: {errors[0].message}"))
            return kept
    if cut:
        parsed.dropped.append(Dropped(path=path, item=what, cause="cut_off", text=_item_text(data, key),
                                      reason="the answer stopped in the middle of it"))
    else:
        parsed.issues += errors
        parsed.dropped.append(Dropped(path=path, item=what, cause="invalid", text=_item_text(data, key),
                                      reason=f"fails the schema: {errors[0].path}: {errors[0].message}"))
    return None


#: where a summary may be cut: after a sentence's end
_SENTENCE_ENDS = re.compile(r"[.!?؟۔](?=\s|$)")


def _whole_sentences(text: str, within: int | None = None) -> str | None:
    """`text` up to its last sentence end (within its first `within` characters); None without one."""
    ends = [m.end() for m in _SENTENCE_ENDS.finditer(text, 0, len(text) if within is None else within)]
    return text[:ends[-1]] if ends else None


def _fit_prose(key: str, value: dict[str, Any], issues: list[CheckIssue]) -> dict[str, Any]:
    """A headline or summary over its bound is cut at the last sentence end within it; a headline
    without one (run on in one sentence) after the last whole word within it, marked "…". It is the
    model's own prose, never shown as verbatim: the issue says so, and the brief is not lost for it
    (a summary with no sentence end at all is not a summary: its bound's error stands)."""
    bound = MAX_SUMMARY if key == "summary" else MAX_TEXT
    out = dict(value)
    for lang, text in value.items():
        if not isinstance(text, str) or len(text) <= bound:
            continue
        kept = _whole_sentences(text, bound)
        how = "after its last whole sentence"
        if kept is None and key == "headline" and len(words := text[:bound - 1].rsplit(maxsplit=1)) > 1:
            kept, how = words[0].rstrip(" ,،;؛:") + "…", "after its last whole word"
        if kept is None:
            continue
        out[lang] = kept
        issues.append(CheckIssue(path=f"{key}.{lang}", kind="schema",
                                 message=f"{len(text)} characters, over {bound}: cut {how} within them "
                                         f"({len(kept)} characters)"))
    return out


def _salvage_summary(value: Cut, issues: list[CheckIssue]) -> dict[str, Any] | Cut:
    """A summary the answer stopped in (a small model that loops restarts its summary; the loop is
    cut where the repeat begins): its whole sentences are kept when there are any in both languages,
    as an over-long summary is. The summary is the model's prose, never shown as verbatim."""
    data = value.value
    if not isinstance(data, dict):
        return value
    out: dict[str, Any] = {}
    for lang in ("ar", "en"):
        text = data.get(lang)
        if isinstance(text, str):
            out[lang] = text
            continue
        partial = text.value if isinstance(text, Cut) else None
        kept = _whole_sentences(partial) if isinstance(partial, str) else None
        if kept is None:
            return value  # nothing whole to keep in this language: no summary
        out[lang] = kept
        issues.append(CheckIssue(path=f"summary.{lang}", kind="cut_off",
                                 message=f"the answer stopped inside the summary: kept its whole sentences "
                                         f"({len(kept)} characters)"))
    return out


def parse(raw: str) -> tuple[Brief | None, list[CheckIssue]]:
    """A whole brief in the brief's shape, or its failures: for briefs that are not a model's answer
    (references, tests). Without the answer's bounds and without dropping items; a model's answer
    is read with `read`."""
    loaded = load(raw, cut_off=False)
    if loaded is None or not loaded[1]:
        return None, [CheckIssue(path="$", kind="schema", message="the answer is not valid JSON")]
    if not isinstance(loaded[0], dict):
        return None, [CheckIssue(path="$", kind="schema", message="the answer must be a JSON object")]
    try:
        return Brief.model_validate(_cleaned(loaded[0], raw)), []
    except ValidationError as exc:
        return None, _issues(exc)


def read(raw: str, *, cut_off: bool = False, offered: Sequence[Actor] = (),
         spoken: Mapping[str, tuple[str, str | None]] | None = None) -> Parsed:
    """Check 1: the text is JSON and fits the schema, item by item. Every valid item is kept; an
    invalid item is dropped (its references then dangle and `settle` removes them); an invalid
    optional field is set to null. Only a brief without a valid headline and summary fails.
    `cut_off`: the answer did not finish (token limit, or a loop stopped): what is complete in it
    is read, and the item it stopped in is dropped. `offered`: the actors the prompt offered ready
    to copy (`bot.engine.parties`); one the answer refers to without defining it is added.
    `spoken`: the ids of the speakers offered, with their mentions and states (`references.resolve`)."""
    loaded = load(raw, cut_off)
    if loaded is None:
        return Parsed(None, [CheckIssue(path="$", kind="schema", message="the answer is not valid JSON")])
    data, complete = loaded
    if not isinstance(data, dict):
        return Parsed(None, [CheckIssue(path="$", kind="schema", message="the answer must be a JSON object")])
    data = _cleaned(data, raw)
    parsed = Parsed(None, complete=complete)
    if not complete and cut_off:
        parsed.issues.append(CheckIssue(path="$", kind="cut_off",
                                        message="the answer was cut off before its end; keep the brief shorter"))
    elif not complete:
        parsed.issues.append(CheckIssue(path="$", kind="schema",
                                        message="the answer is not valid JSON: it ends before the object is closed"))

    head: dict[str, Any] = {}
    for key, model in (("headline", Bilingual), ("summary", Summary)):
        value = data.get(key)
        if key == "summary" and isinstance(value, Cut) and cut_off:
            value = _salvage_summary(value, parsed.issues)
        if isinstance(value, Cut) or value is None:
            parsed.issues.append(CheckIssue(path=key, kind="schema", message="Field required"))
            continue
        if isinstance(value, dict):
            value = _fit_prose(key, value, parsed.issues)
        try:
            head[key] = model.model_validate(value, context=ANSWER)
        except ValidationError as exc:
            parsed.issues += _issues(exc, (key,))
    for key in set(data) - {"language", "headline", "summary", *_ITEM_MODELS}:
        parsed.issues.append(CheckIssue(path=key, kind="schema", message="Extra inputs are not permitted"))

    lists: dict[str, list[BaseModel]] = {}
    for key in _ITEM_MODELS:
        items = data.get(key)
        if isinstance(items, Cut):
            items = items.value
        if items is None:
            if complete:
                parsed.issues.append(CheckIssue(path=key, kind="schema", message="Field required"))
            items = []
        if not isinstance(items, list):
            parsed.issues.append(CheckIssue(path=key, kind="schema", message="Input should be a valid list"))
            items = []
        limit = LIST_LIMITS[key]
        kept: list[BaseModel] = []
        parsed.origin[key] = []
        for index, item in enumerate(items):
            if index >= limit:
                parsed.dropped.append(Dropped(path=f"{key}[{index}]", item=_ITEM_MODELS[key][1], cause="over_limit",
                                              text=_item_text(item.value if isinstance(item, Cut) else item, key),
                                              reason=f"more than {limit} {key}"))
                continue
            valid = _validate_item(key, index, item, parsed)
            if valid is not None:
                kept.append(valid)
                parsed.origin[key].append(index)
        if len(items) > limit:
            parsed.issues.append(CheckIssue(path=key, kind="schema", message=f"at most {limit} items"))
        lists[key] = kept

    references.resolve(lists, offered, spoken)
    if set(head) != {"headline", "summary"}:
        return parsed
    language = data.get("language")
    # the parts are already validated models: pydantic takes them as they are (no dump and re-check)
    parsed.brief = Brief.model_validate({
        "language": language.strip().lower() if isinstance(language, str) and language.strip().isalpha() else "und",
        **head, **lists})
    return parsed


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

    def actor(self, actor: Actor) -> SpanCheck:
        """Where the article names an actor: its mention or, when the mention is not the article's
        words (a small model's paraphrase), one of its names that is."""
        for text in (actor.mention, actor.name.ar, actor.name.en):
            check = self.mention(text)
            if check.verified:
                return check
        return SpanCheck(verified=False)

    @cached_property
    def attributions(self) -> Attributions:
        """The article's reported speech, analysed once for every answer checked against it."""
        return Attributions(self.matcher.article)

    @cached_property
    def numbers(self) -> set[float]:
        """The values of every number the article states (`bot.engine.numbers`)."""
        return numbers.values(self.matcher.article)

    def speaker(self, brief: Brief, position: Position, quote: SpanCheck) -> SpeakerCheck:
        return speakers.speaker_of(self, brief, position, quote)

    def parties(self, brief: Brief, pressure: Pressure, evidence: SpanCheck) -> PartiesCheck:
        return speakers.parties_of(self, brief, pressure, evidence)

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
    issues += speakers.issues(grounds, brief) + numbers.issues(numbers.unconfirmed(brief, grounds.numbers))
    for i, a in enumerate(brief.actors):
        if not grounds.actor(a).verified:
            issues.append(CheckIssue(path=f"actors[{i}].mention", kind="not_found",
                                     message=f"neither the mention nor a name is in the article: {a.mention[:120]!r}"))
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
    unconfirmed_numbers: list[UnconfirmedNumber] = field(default_factory=list)


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
    mentions = [grounds.actor(a) for a in brief.actors]
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
                 "actor's mention and names not found in the article")
        else:
            # the mention shown is the article's words, also when the actor was found by a name
            words = (grounds.matcher.article[mention.start:mention.end]
                     if mention.start is not None and mention.end is not None else a.mention)
            actors.append(CheckedActor(**{**a.model_dump(), "mention": words}, mention_check=mention))
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
        parties = grounds.parties(brief, kept, check_) if check_.verified else None
        pressures.append(CheckedPressure(**kept.model_dump(), evidence_check=check_, parties_check=parties))

    positions: list[CheckedPosition] = []
    for i, (q, quote) in enumerate(zip(brief.positions, quotes, strict=True)):
        if q.actor not in actor_ids:
            drop(f"positions[{i}]", "position", "unknown_reference", q.stance.en, "position of an unknown actor")
            continue
        kept = q.model_copy(update={"source_ids": [s for s in q.source_ids if s in source_ids]})
        if quote is not None and not quote.verified:
            drop(f"positions[{i}].quote", "quote", "not_found", q.quote or "", "quote not found in the article")
            kept.quote, quote = None, None
        if kept.quote and any(k.actor == kept.actor and k.quote == kept.quote for k in positions):
            drop(f"positions[{i}]", "position", "repeated", kept.quote, "the same quote for the same actor again")
            continue
        said = grounds.speaker(brief, kept, quote) if quote is not None and quote.verified else None
        positions.append(CheckedPosition(**kept.model_dump(), quote_check=quote, speaker_check=said))

    said = [p.speaker_check for p in positions if p.speaker_check is not None]
    named = [p.parties_check for p in pressures if p.parties_check is not None]
    grounding = grounding.model_copy(update={
        "speakers_checked": len(said), "speakers_confirmed": sum(c.confirmed for c in said),
        "parties_checked": len(named), "parties_confirmed": sum(c.confirmed for c in named)})
    checked = CheckedBrief(language=brief.language, headline=brief.headline, summary=brief.summary,
                           actors=actors, pressures=pressures, positions=positions, sources=sources)
    return Settled(brief=checked, dropped=dropped, grounding=grounding,
                   unconfirmed_numbers=numbers.unconfirmed(brief, grounds.numbers))


def describe(issues: list[CheckIssue]) -> str:
    """The failures as the repair prompt lists them, one per line."""
    return "\n".join(f"- {i.path} [{i.kind}]: {i.message}" for i in issues)
