"""What the program finds in an article before the model is asked, and how the prompt offers it.

The attributed statements (`bot.engine.attribution`), the states the article names, the
speakers of its statements and the people it names by their office (`bot.engine.parties`) are
offered to the model as candidates, each block fenced like the article: a model, above all a
small one, picks from them instead of hunting for them. The checks are the same with or without
them.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from bot.engine import grounding, parties
from bot.engine.attribution import Statement, statements
from bot.engine.parties import NamedState, Speaker
from bot.engine.schema import MAX_TEXT

#: Any spelling of the tags that fence untrusted text: <article>, </ARTICLE >, <article_metadata
#: x="">, fullwidth ＜／ａｒｔｉｃｌｅ＞. Nothing inside the fence can close it or open another.
_FENCE_TAG = re.compile(r"<\s*/?\s*article(?:_metadata|_statements|_parties)?\b[^>]*>?", re.IGNORECASE)
# fullwidth and small forms look like ASCII to a model: match on their ASCII twins (same length)
_ASCII_TWINS = {0xFF01 + i: 0x21 + i for i in range(94)} | {0xFE64: ord("<"), 0xFE65: ord(">")}


def fence(text: str) -> str:
    """`text` with every fence tag removed, so it can sit between the fences."""
    while True:
        twins = text.translate(_ASCII_TWINS)
        cuts = [m.span() for m in _FENCE_TAG.finditer(twins)]
        if not cuts:
            return text
        for start, end in reversed(cuts):
            text = text[:start] + text[end:]  # "<arti<article>cle>" is a tag once the inner one goes


#: at most this many attributed statements are offered to the model as candidates
MAX_STATEMENTS = 20


@dataclass(frozen=True)
class Candidates:
    """What the program finds in the article before the model is asked, offered to it in the
    prompt: the attributed statements (`bot.engine.attribution`), the states it names, the
    speakers of those statements and the people it names by their office (`bot.engine.parties`).
    A model, above all a small one, picks from them; the checks are the same."""

    statements: Sequence[Statement] = ()
    states: Sequence[NamedState] = ()
    speakers: Sequence[Speaker] = ()
    #: the people it names by their office who are not speakers ("President Vladimir Putin")
    people: Sequence[Speaker] = ()

    @classmethod
    def find(cls, grounds: grounding.Grounds) -> Candidates:
        """What the program finds in the article behind `grounds`. A speaker or person whose name
        holds something like a fence tag is not offered: its line must be the article's words, unchanged."""
        found = statements(grounds.attributions, MAX_STATEMENTS, MAX_TEXT)
        named = parties.states(grounds.matcher)
        said = [s for s in parties.speakers(found, named) if fence(s.mention) == s.mention]
        people = [p for p in parties.people(grounds.matcher, named, said) if fence(p.mention) == p.mention]
        return cls(found, named, said, people)

    def within(self, chars: int) -> Candidates:
        """Those found in the article's first `chars` characters: the part the model is sent (a
        speaker keeps its id, whatever part of the article is sent)."""
        found = [s for s in self.statements if s.start + len(s.passage) <= chars]
        named = [n for s in self.states if (n := s.within(chars)) is not None]
        kept = {s.passage for s in found}
        ids = {s.id for s in named}
        speakers = [replace(sp, passages=tuple(p for p in sp.passages if p in kept)) for sp in self.speakers
                    if any(p in kept for p in sp.passages) and (not sp.state or sp.id in ids)]
        people = [p for p in self.people if p.start + len(p.mention) <= chars]
        return Candidates(found, named, speakers, people)

    @property
    def lines(self) -> list[Speaker]:
        """The speakers and the people offered each as an actor line of their own (a speaker that
        is a state is that state's line)."""
        return [*(s for s in self.speakers if not s.state), *self.people]

    @functools.cached_property
    def speaker_of(self) -> dict[str, str]:
        """The id of each statement's speaker, by its passage."""
        return {p: s.id for s in self.speakers for p in s.passages}


def statements_block(offered: Candidates) -> str:
    """The article's attributed statements as numbered candidates, fenced like the article: the id
    of its speaker's actor line when it has one, who the article says speaks, the verb, and the
    passage in the article's words."""
    if not offered.statements:
        return ""
    lines = []
    for n, s in enumerate(offered.statements, 1):
        actor = f"[{offered.speaker_of[s.passage]}] " if s.passage in offered.speaker_of else ""
        lines.append(f'{n}. {actor}{" ".join(fence(s.speaker).split())} ({fence(s.verb)}): '
                     f'"{" ".join(fence(s.passage).split())}"')
    return "<article_statements>\n" + "\n".join(lines) + "\n</article_statements>"


def in_order(language: str) -> tuple[str, str]:
    """The two languages of a brief, the article's first: the order the held schema writes them."""
    return ("ar", "en") if language == "ar" else ("en", "ar")


def parties_block(offered: Candidates, language: str = "en") -> str:
    """The states the article names, each written as an actor of the brief, ready to copy (its
    names in the order the held schema writes them), then the speakers of its statements and the
    people it names by their office: ready too when the program can name them in both languages
    from their role and state, else with their name in the article's language only (the model adds
    the other, the kind and the country)."""
    lines = []
    for s in offered.states:
        names = {"en": s.en, "ar": s.ar}
        actor = {"mention": fence(s.mention), "id": s.id, "name": {k: names[k] for k in in_order(language)},
                 "kind": "state", "country": s.iso}
        lines.append(json.dumps(actor, ensure_ascii=False))
    for sp in offered.lines:
        line: dict[str, Any] = {"mention": fence(sp.mention), "id": sp.id}
        if (actor := sp.actor()) is not None:  # named in both languages, from its role and state
            names = {"en": actor.name.en, "ar": actor.name.ar}
            line |= {"name": {k: names[k] for k in in_order(language)}, "kind": actor.kind, "country": actor.country}
        else:
            line["name"] = {in_order(language)[0]: fence(sp.mention)}
        lines.append(json.dumps(line, ensure_ascii=False))
    if not lines:
        return ""
    return "<article_parties>\n" + "\n".join(lines) + "\n</article_parties>"


def candidates_block(offered: Candidates, language: str = "en") -> str:
    blocks = (parties_block(offered, language), statements_block(offered))
    return "\n\n".join(b for b in blocks if b)
