"""The brief's JSON schema as LLM_SPANS_IN_SCHEMA sends it: held to the article and its candidates.

Constrained decoding (llama.cpp's grammars, OpenAI's strict mode) then writes what the brief
copies as article text, ids as slugs, each language in its script and a quote as its speaker's;
what the brief says is still the model's choice, and the checks are the same.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from typing import Any

from bot.engine.candidates import Candidates, in_order
from bot.engine.normalize import Matcher
from bot.engine.parties import NamedState, Speaker
from bot.engine.schema import ASKED, MAX_ID, MAX_MENTION, MAX_SUMMARY, MAX_TEXT

#: where a sentence ends (also run together: "diplomats.Nikolai"), and where a clause of it ends
_SENTENCE_END = re.compile(r"(?<=[.!?؟])\s*|\s*\n+\s*")
_CLAUSE_END = re.compile(r"\s*[,،;؛:]\s+|\s*[“”\"«»]\s*|\s+(?=و\w{3,})")  # a comma, a quotation, an Arabic "and ..."
_EDGES = " \t\"'“”‘’«»()[]-–—.,،;؛:!?؟…"
#: a span offered as evidence or a quote has at least this many words (one clause: "X said Y")
SPAN_MIN_WORDS = 3
#: at most this many spans of at most this many characters in all: the schema stays a small
#: grammar, and within what OpenAI's strict mode takes for one enum; beyond it, clauses are left
#: out, then every span (the model writes its spans freely and the checks judge them as ever)
SPAN_MAX_COUNT = 400
SPAN_MAX_CHARS = 14000
#: the parties offered that an answer's actors start with, copied in order (the speakers' lines,
#: then the people's, then the states'); the rest of the list is the model's. A small model asked
#: only for "at least this many actors" names two parties of six, or copies one line over and over
#: until the loop is cut off
MAX_COPIED = 7


def article_spans(text: str, matcher: Matcher | None = None) -> list[str]:
    """The article's sentences and their clauses, as the article writes them, each of which passes
    the verbatim check (`Matcher.find`): what a quote or evidence may be, in the schema sent in
    `json_schema` mode. Sentences first, then clauses; [] when there are too many to offer."""
    matcher = matcher or Matcher(text)
    sentences: list[str] = []
    clauses: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        sentences.append(sentence)
        parts = _CLAUSE_END.split(sentence)
        if len(parts) > 1:
            clauses += parts
    for group in ([*sentences, *clauses], sentences):
        spans: dict[str, None] = {}
        for piece in group:
            piece = piece.strip(_EDGES)
            if (len(piece.split()) >= SPAN_MIN_WORDS and len(piece) <= MAX_TEXT and "…" not in piece
                    and "..." not in piece and matcher.find(piece) is not None):
                spans.setdefault(piece)
        if len(spans) <= SPAN_MAX_COUNT and sum(map(len, spans)) <= SPAN_MAX_CHARS:
            return list(spans)
    return []


#: what the held schema makes of ids and of each language's texts (regular expressions that
#: llama.cpp's grammars and OpenAI's strict mode both take): a small model otherwise writes an
#: Arabic name as an id, or Arabic where English belongs. The scripts are spelt out rather than
#: excluded, since a model kept from one script wanders into another (Chinese, Cyrillic). The
#: quotation mark and the backslash are left out: a grammar writes a pattern's characters unescaped,
#: and a bare quotation mark lets a text run on over the next keys.
_SLUG = {"type": "string", "pattern": f"^[a-z][a-z0-9_]{{0,{MAX_ID - 1}}}$"}
# no-break space, Latin-1's signs (° £ « »), dashes, curly quotes, …, currency signs (€)
_SIGNS = "\u00a0-\u00bf\u2010-\u2027\u20a0-\u20bf"
_LETTERS = {"en": "!#-\\[\\]-~\u00c0-\u024f\u02b0-\u02ff\u1e00-\u1eff",  # ASCII and accented Latin
            "ar": "\u0600-\u06ff\u0750-\u077f!#-@"}  # Arabic, and ASCII's digits and punctuation, no letter


def _script(language: str, most: int = MAX_TEXT) -> dict[str, Any]:
    """A text in `language`'s script of 1 to `most` characters. It starts with a character that is
    not a space (a blank text fails the schema). The bound is in the pattern, which llama.cpp's
    grammars hold to (a string's maxLength beside a pattern is not): a small model that copies the
    article into its summary has to stop there and go on to the brief's other parts, rather than
    run on until its answer is cut off."""
    chars = _LETTERS[language] + _SIGNS
    return {"type": "string", "pattern": f"^[{chars}][ {chars}]{{0,{most - 1}}}$"}


def held_schema(schema: dict[str, Any], spans: Sequence[str], language: str = "en",
                offered: Candidates = Candidates(), *, said: bool = False) -> dict[str, Any]:
    """`schema` as LLM_SPANS_IN_SCHEMA sends it, holding a model to the article:
    - every quote and evidence one of `spans` (a source's evidence may also be "", a quote null), so
      that constrained decoding writes article text where the brief says it copies, instead of a
      small model's near-copy (without spans, quotes and evidence are free);
    - every id and reference a slug; each list at most as long as the prompt asks (`ASKED`);
    - every English text in Latin script and every Arabic one in Arabic script, the article's
      `language` first (a small model held to English before it has written the Arabic of an
      Arabic article invents), and a mention in the article's script;
    - when the article has attributed statements (`said`), at least one position (a small model
      otherwise spends its answer on pressures);
    - every text as long as the brief allows and no longer (`_script`);
    - with the `offered` candidates: each state's actor line as one choice of actor, copied whole,
      and each speaker's and person's (its mention, id and name in the article's language as
      offered; the model writes the rest); the actors start with the first `MAX_COPIED` of those
      lines, in order, and go on with any; a quote is only ever a whole statement's passage given
      to that statement's speaker, or none (a small model gives a quote to the wrong one of its
      actors), even when no span is offered; and the first position quotes one of the statements
      whose speaker's line is ready to copy.
    The checks are the same."""
    out = copy.deepcopy(schema)
    defs = out["$defs"]
    order = in_order(language)
    for name, most in (("Bilingual", MAX_TEXT), ("Summary", MAX_SUMMARY)):
        defs[name]["properties"] = {lang: _script(lang, most) for lang in order}
        defs[name]["required"] = list(order)
    defs["Actor"]["properties"]["id"] = defs["Source"]["properties"]["id"] = dict(_SLUG)
    defs["Actor"]["properties"]["mention"] = _script(order[0], MAX_MENTION)  # the article's words: in its script
    for name, fields in (("Pressure", ("actors", "targets", "source_ids")), ("Position", ("source_ids",))):
        for field_name in fields:
            defs[name]["properties"][field_name]["items"] = dict(_SLUG)
    defs["Position"]["properties"]["actor"] = dict(_SLUG)
    for key, n in ASKED.items():
        out["properties"][key]["maxItems"] = n
    if spans:
        defs["ArticleSpan"] = {"type": "string", "enum": list(spans)}
        ref = {"$ref": "#/$defs/ArticleSpan"}
        defs["Pressure"]["properties"]["evidence"] = ref
        defs["Position"]["properties"]["quote"] = {"anyOf": [ref, {"type": "null"}]}
        defs["Source"]["properties"]["evidence"] = {"anyOf": [ref, {"type": "string", "enum": [""]}]}
    # the speakers first (their statements are the positions), then the people, then the states
    lines = [*(_speaker_line(sp, defs["Actor"], language) for sp in offered.lines),
             *(_state_line(st, defs["Actor"], language) for st in offered.states)]
    if lines:
        out["properties"]["actors"]["items"] = {"anyOf": [*lines, {"$ref": "#/$defs/Actor"}]}
        out["properties"]["actors"] = _lists(out["properties"]["actors"], lines[:MAX_COPIED])
    if said:
        out["properties"]["positions"]["minItems"] = 1
    given = [(s.passage, offered.speaker_of[s.passage]) for s in offered.statements if s.passage in offered.speaker_of]
    if given:
        defs["Position"]["properties"]["quote"] = {"type": "null"}
        defs["Said"] = {"anyOf": [_said(passage, who, defs["Position"]) for passage, who in given]}
        out["properties"]["positions"]["items"] = {"anyOf": [{"$ref": "#/$defs/Said"}, {"$ref": "#/$defs/Position"}]}
    # the first position's speaker has a line ready to copy, which the program adds to the actors
    # when the answer leaves it out (`references.resolve`); another speaker's position would be lost
    ready = {st.id for st in offered.states} | {sp.id for sp in offered.speakers if sp.actor() is not None}
    first = [_said(passage, who, defs["Position"]) for passage, who in given if who in ready]
    if first:
        defs["SaidFirst"] = {"anyOf": first}
        out["properties"]["positions"] = _lists(out["properties"]["positions"], [{"$ref": "#/$defs/SaidFirst"}])
    return out


def _lists(array: dict[str, Any], first: list[dict[str, Any]]) -> dict[str, Any]:
    """`array` (its `items` and `maxItems`) as a list that starts with `first`, one item each, then
    any items. JSON Schema says "these first, then any" with `prefixItems` beside `items`, but
    llama.cpp's grammars read `prefixItems` as a whole tuple and `items` before it (and `anyOf`
    before both); so each length the list may have is a tuple of its own."""
    tuples = [{"type": "array", "prefixItems": [*first, *[array["items"]] * (n - len(first))], "minItems": n,
               "maxItems": n} for n in range(len(first), array["maxItems"] + 1)]
    return {k: v for k, v in array.items() if k not in ("items", "minItems")} | {"anyOf": tuples}


def _state_line(state: NamedState, actor: dict[str, Any], language: str) -> dict[str, Any]:
    """An actor of the held schema that is `state`'s offered line, as it is: a mention the
    article uses for it, its id, names, kind and country."""
    line = copy.deepcopy(actor)
    names = {"ar": state.ar, "en": state.en}
    line["properties"].update({
        "mention": {"type": "string", "enum": list(dict.fromkeys(text for text, _ in state.said))},
        "id": {"type": "string", "enum": [state.id]},
        "name": {"type": "object", "additionalProperties": False, "required": list(in_order(language)),
                 "properties": {lang: {"type": "string", "enum": [names[lang]]} for lang in in_order(language)}},
        "kind": {"type": "string", "enum": ["state"]},
        "country": {"type": "string", "enum": [state.iso]}})
    return line


def _speaker_line(speaker: Speaker, actor: dict[str, Any], language: str) -> dict[str, Any]:
    """An actor of the held schema that is `speaker`'s offered line: its mention, id and name in the
    article's language as offered, the rest the model's."""
    first, other = in_order(language)
    line = copy.deepcopy(actor)
    line["properties"]["mention"] = {"type": "string", "enum": [speaker.mention]}
    line["properties"]["id"] = {"type": "string", "enum": [speaker.id]}
    line["properties"]["name"] = {"type": "object", "additionalProperties": False, "required": [first, other],
                                  "properties": {first: {"type": "string", "enum": [speaker.mention]},
                                                 other: _script(other)}}
    return line


def _said(passage: str, speaker: str, position: dict[str, Any]) -> dict[str, Any]:
    """A position of the held schema that quotes a statement's `passage`, given to its `speaker`."""
    line = copy.deepcopy(position)
    line["properties"]["quote"] = {"type": "string", "enum": [passage]}
    line["properties"]["actor"] = {"type": "string", "enum": [speaker]}
    return line
