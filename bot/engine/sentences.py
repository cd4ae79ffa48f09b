"""An article's sentences, found in its normal form with the line breaks kept (one per paragraph)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.engine.normalize import normalize_map

_ABBREV = {"mr", "mrs", "ms", "dr", "st", "gen", "lt", "col", "sgt", "prof", "sen", "rep", "gov", "jr", "no",
           "u.s", "u.n", "u.k", "jan", "feb", "aug", "sept", "oct", "nov", "dec", "vs", "inc", "co", "corp"}
_END = re.compile(r"[.!?؟]+")
_OPEN_QUOTE = '"'


@dataclass(frozen=True)
class Sentence:
    start: int  # offsets in the normal form
    end: int
    paragraph: int


def normalize_lines(text: str) -> tuple[str, list[int]]:
    """`normalize_map` line by line: the normal form keeps the article's line breaks (one per
    paragraph), which `normalize_map` alone turns into spaces."""
    parts: list[str] = []
    origin: list[int] = []
    for line in re.finditer(r"[^\n]+", text):
        norm, where = normalize_map(line.group())
        if not norm:
            continue
        if parts:
            parts.append("\n")
            origin.append(line.start() - 1)
        parts.append(norm)
        origin += [line.start() + w for w in where]
    return "".join(parts), origin


def split_sentences(norm: str) -> list[Sentence]:
    """Sentences of a text in `normalize_lines` form: ends at . ! ? ؟ (also run together,
    "weapons.Syria") outside a quotation, and at every line (a paragraph); "Mr." and "U.S." do
    not end one."""
    out: list[Sentence] = []
    for paragraph, line in enumerate(re.finditer(r"[^\n]+", norm)):
        start, inside, i = line.start(), False, line.start()
        while i < line.end():
            ch = norm[i]
            if ch == _OPEN_QUOTE:
                inside = not inside
            m = _END.match(norm, i) if ch in ".!?؟" else None
            closes = m is not None and inside and norm[m.end():m.end() + 1] == '"'
            if m and (not inside or closes):
                stop = m.end() + closes
                word = re.search(r"[\w.]+$", norm[start:i])
                nxt = norm[stop:stop + 1]
                abbrev = ch == "." and word is not None and (word.group().lower().rstrip(".") in _ABBREV
                                                             or len(word.group()) == 1)
                digit = ch == "." and i > 0 and norm[i - 1].isdigit() and nxt.isdigit()
                if not abbrev and not digit and (not nxt or nxt.isspace() or nxt.isupper() or nxt == '"'
                                                 or "\u0600" <= nxt <= "\u06ff"):
                    inside = False
                    if norm[start:stop].strip():
                        out.append(Sentence(start, stop, paragraph))
                    i = stop
                    while i < line.end() and norm[i] == " ":
                        i += 1
                    start = i
                    continue
            i += 1
        if norm[start:line.end()].strip():
            out.append(Sentence(start, line.end(), paragraph))
    return out
