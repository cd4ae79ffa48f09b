"""Arabic-aware normalisation for matching quotes against an article, with an offset map.

Matching happens on normalised text; display always keeps the original. `normalize_map`
returns, for every character of the normalised text, the index of the original character it
came from, so that a match can be reported as a span of the original article.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from itertools import chain, repeat

_REMOVE = {0x0640, 0x0670, 0x200E, 0x200F, 0x061C, 0x200B, 0x200C, 0x200D, 0xFEFF, 0x00AD}
_REMOVE.update(range(0x064B, 0x0653))  # harakat, tanwin, shadda, sukun
_REMOVE.update(range(0x2066, 0x206A))  # bidi isolates
_REMOVE.update(range(0x202A, 0x202F))  # bidi embeddings and overrides

_MAP = {
    "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا",
    "ى": "ي", "ة": "ه",
    "“": '"', "”": '"', "«": '"', "»": '"', "„": '"', "″": '"', "‟": '"',
    "‘": "'", "’": "'", "‚": "'", "′": "'", "‹": '"', "›": '"',
    "–": "-", "—": "-", "‐": "-", "‑": "-",
    "،": ",", "؛": ";", "؟": "?",
}
_MAP.update({chr(0x0660 + i): str(i) for i in range(10)})  # Arabic-Indic digits
_MAP.update({chr(0x06F0 + i): str(i) for i in range(10)})  # Extended (Persian) digits

_ELLIPSIS = re.compile(r"\s*(?:\.\.\.+|…|\[\s*(?:\.\.\.|…)\s*\])\s*")
_EDGE = "\"' .,;:!?()[]-"


@functools.lru_cache(maxsize=8192)
def _norm_char(ch: str) -> str:
    # articles use a few hundred distinct characters: each is worked out once, not per occurrence
    out = []
    # map first: NFKC would turn ″ into two primes before the quote map sees it
    for c in unicodedata.normalize("NFKC", _MAP.get(ch, ch)):
        if ord(c) in _REMOVE:
            continue
        c = _MAP.get(c, c)
        out.append(" " if c.isspace() else c)
    return "".join(out)


def normalize_map(text: str) -> tuple[str, list[int]]:
    """Normalise `text`; return it with a map from each output index to an input index."""
    chars: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        for c in _norm_char(ch):
            if c == " " and (not chars or chars[-1] == " "):
                continue  # collapse runs of whitespace (and drop leading space)
            chars.append(c)
            origin.append(i)
    if chars and chars[-1] == " ":
        chars.pop()
        origin.pop()
    return "".join(chars), origin


_SPACES = re.compile(" {2,}")


def normalize(text: str) -> str:
    """The matching form of `text` (docs/schema.md, "What the checks guarantee").

    The same result as `normalize_map(text)[0]`, without the offset map: one `translate` over the
    characters' cached forms instead of a loop in Python (it runs on every article and name).
    """
    table = {ord(c): _norm_char(c) for c in set(text)}
    return _SPACES.sub(" ", text.translate(table)).strip(" ")


#: Bidi controls that can reorder what a reader sees: embeddings, overrides, isolates, and the
#: direction marks. Stripped from every string the model writes; the renderer adds its own.
BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
_BIDI = re.compile(f"[{BIDI_CONTROLS}]")


def has_bidi(text: str) -> bool:
    return _BIDI.search(text) is not None


def strip_bidi(text: str) -> str:
    # a regular expression, not `translate`: it scans in C and returns `text` itself when there is
    # nothing to remove (nearly always), where `translate` looks every character up in a dict
    return _BIDI.sub("", text)


# --- verbatim matching -----------------------------------------------------------------------
#: The longest elision a quote may make between two pieces: characters of matching form between
#: the end of one piece and the start of the next, spaces included. A
#: clause, not a paragraph: long enough for "X said ... that", too short to join two speakers.
MAX_GAP = 80
#: Words each piece of an elided quote needs; an unelided quote needs MIN_WORDS_WHOLE.
MIN_WORDS_PIECE = 3
MIN_WORDS_WHOLE = 2
#: A name or mention is a name, not a sentence.
MAX_WORDS_NAME = 12
#: Arabic proclitics written joined to the next word: a piece may start after one of them
#: (quote "قال" in "وقال") or after و/ف followed by ب/ل/ك ("وبالتالي"). Nothing else inside a
#: word is a boundary, and no suffix is: "we" never matches inside "week".
_CONJUNCTIONS = "وف"
_PREPOSITIONS = "بلك"
_WORD = re.compile(r"\w+")


@functools.lru_cache(maxsize=8192)
def _match_char(ch: str) -> str:
    """A character's matching form: its normal form without quote marks, letters lower-cased
    (one character to one: a letter whose lower case is longer stays as it is)."""
    out = []
    for c in _norm_char(ch):
        if c in "\"'":
            continue
        low = c.lower()
        out.append(low if len(low) == 1 else c)
    return "".join(out)


def match_form(text: str) -> str:
    """`Matcher`'s matching form of `text` without the offset map (`Matcher._form(text)[0]`), in one
    `translate`: what spans and names are searched as."""
    table = {ord(c): _match_char(c) for c in set(text)}
    return _SPACES.sub(" ", text.translate(table)).strip(" ")


@dataclass(frozen=True)
class Match:
    start: int  # in the original text
    end: int

    def text(self, original: str) -> str:
        return original[self.start : self.end]


def _is_arabic_letter(c: str) -> bool:
    return "\u0620" <= c <= "\u064a" or "\u066e" <= c <= "\u06d3"


class Matcher:
    """Finds verbatim spans in one article; the article is normalised once.

    Matching form: `normalize`, then quote marks removed (a model that drops the article's
    inner «» has not changed its words) and letters lower-cased. `find` is for quotes and
    evidence, `find_name` for the names and mentions of actors and sources.
    """

    def __init__(self, article: str) -> None:
        self.article = article
        self.norm, self.origin = self._form(article)
        # check and settle ask about the same spans and names: each is looked up once
        self._found: dict[str, Match | None] = {}
        self._found_names: dict[str, Match | None] = {}

    @staticmethod
    def _form(text: str) -> tuple[str, list[int]]:
        """The matching form of `text` and, for each of its characters, the index in `text` it
        came from. Done with `translate` and slices rather than a loop over characters: each
        distinct character's matching form is worked out once (cached), and only the runs of
        spaces (one per word) are visited in Python."""
        forms = {c: _match_char(c) for c in set(text)}
        full = text.translate({ord(c): f for c, f in forms.items()})
        if all(len(f) == 1 for f in forms.values()):
            origin = list(range(len(text)))
        else:  # each index once per character of its form: none for a removed mark, two for a ligature
            sizes = {c: len(f) for c, f in forms.items()}
            origin = list(chain.from_iterable(map(repeat, range(len(text)), map(sizes.__getitem__, text))))
        # runs of spaces become one space (the first of the run), none at either end
        parts: list[str] = []
        where: list[int] = []
        at = 0
        for m in _SPACES.finditer(full):
            parts.append(full[at:m.start() + 1])
            where += origin[at:m.start() + 1]
            at = m.end()
        parts.append(full[at:])
        where += origin[at:]
        norm = "".join(parts)
        if norm.startswith(" "):
            norm, where = norm[1:], where[1:]
        if norm.endswith(" "):
            norm, where = norm[:-1], where[:-1]
        return norm, where

    def _pieces(self, span: str) -> list[str]:
        pieces = [match_form(p).strip(_EDGE) for p in _ELLIPSIS.split(normalize(span))]
        return [p for p in pieces if p]

    def _starts_word(self, at: int, piece: str) -> bool:
        if at == 0 or not piece[0].isalnum() or not self.norm[at - 1].isalnum():
            return True
        if not _is_arabic_letter(piece[0]):
            return False
        # the letters joined before `at` must be one clitic, or a conjunction and a preposition
        k = 0
        while at - k - 1 >= 0 and self.norm[at - k - 1].isalnum():
            k += 1
        prefix = self.norm[at - k : at]
        word = _WORD.match(piece)
        if word is None or len(word.group()) < 2:
            return False
        if k == 1:
            return prefix in _CONJUNCTIONS + _PREPOSITIONS
        return k == 2 and prefix[0] in _CONJUNCTIONS and prefix[1] in _PREPOSITIONS

    def _ends_word(self, end: int, piece: str) -> bool:
        return end == len(self.norm) or not piece[-1].isalnum() or not self.norm[end].isalnum()

    def _occurrences(self, piece: str, start: int, stop: int) -> list[int]:
        """Starts of `piece` at word boundaries with `start <= at <= stop`, in order."""
        out = []
        at = self.norm.find(piece, start)
        while 0 <= at <= stop:
            if self._starts_word(at, piece) and self._ends_word(at + len(piece), piece):
                out.append(at)
            at = self.norm.find(piece, at + 1)
        return out

    def _line_break_between(self, a: int, b: int) -> bool:
        """Whether the original text between matching positions a (exclusive end) and b has a
        line break: elisions stay within one paragraph."""
        return "\n" in self.article[self.origin[a - 1] + 1 : self.origin[b]]

    def _chain(self, pieces: list[str], start: int, prev_end: int | None) -> list[int] | None:
        """Starts of `pieces[0:]` in order, each at most MAX_GAP after the previous one."""
        piece, rest = pieces[0], pieces[1:]
        stop = len(self.norm) if prev_end is None else prev_end + MAX_GAP
        for at in self._occurrences(piece, start, stop):
            if prev_end is not None and self._line_break_between(prev_end, at):
                break
            if not rest:
                return [at]
            tail = self._chain(rest, at + len(piece), at + len(piece))
            if tail is not None:
                return [at, *tail]
        return None

    def find(self, span: str) -> Match | None:
        """Where a quote or evidence span is in the article, or None.

        Found means: every piece (a quote may elide with "…", "...", "[…]") matches whole words
        (see the clitics above); pieces come in order, each at most MAX_GAP characters after the
        previous one with no line break in between; an elided quote has at least
        MIN_WORDS_PIECE words in every piece, an unelided one at least MIN_WORDS_WHOLE. Outer
        quote marks and punctuation are ignored: models wrap quotes in their own marks.
        """
        if span not in self._found:
            self._found[span] = self._find(span)
        return self._found[span]

    def _find(self, span: str) -> Match | None:
        pieces = self._pieces(span)
        if not pieces:
            return None
        need = MIN_WORDS_WHOLE if len(pieces) == 1 else MIN_WORDS_PIECE
        if any(len(_WORD.findall(p)) < need for p in pieces):
            return None
        starts = self._chain(pieces, 0, None)
        if starts is None:
            return None
        last = starts[-1] + len(pieces[-1])
        return Match(self.origin[starts[0]], self.origin[last - 1] + 1)

    def find_all(self, span: str) -> list[Match]:
        """Every place `span` is found (`find`'s rules), in order: a quote two speakers repeat."""
        pieces = self._pieces(span)
        if not pieces or self.find(span) is None:
            return []
        out: list[Match] = []
        at = 0
        while (starts := self._chain(pieces, at, None)) is not None:
            last = starts[-1] + len(pieces[-1])
            out.append(Match(self.origin[starts[0]], self.origin[last - 1] + 1))
            at = starts[0] + 1
        return out

    def find_name(self, name: str) -> Match | None:
        """Where a name (an actor's mention, a source's name) is in the article, or None: one
        piece of whole words (clitics as above), no elision, at most MAX_WORDS_NAME words."""
        if name not in self._found_names:
            self._found_names[name] = self._find_name(name)
        return self._found_names[name]

    def _find_name(self, name: str) -> Match | None:
        normal = normalize(name)
        if _ELLIPSIS.search(normal):
            return None
        pieces = [p for p in (match_form(normal).strip(_EDGE),) if p]
        if len(pieces) != 1:
            return None
        words = _WORD.findall(pieces[0])
        if not words or len(words) > MAX_WORDS_NAME or not any(c.isalpha() for c in pieces[0]):
            return None
        found = self._occurrences(pieces[0], 0, len(self.norm))
        if not found:
            return None
        at = found[0]
        return Match(self.origin[at], self.origin[at + len(pieces[0]) - 1] + 1)

    def __contains__(self, span: str) -> bool:
        return self.find(span) is not None


_ARABIC = re.compile(r"[\u0600-\u06FF\u0750-\u077F\u08A0-\u08FF\uFB50-\uFDFF\uFE70-\uFEFF]+")
_LATIN = re.compile(r"[A-Za-z\u00C0-\u024F]+")


def script_share(text: str) -> tuple[float, float]:
    """Shares of Arabic and Latin letters among the letters of `text` (counted by runs: one match
    per word rather than per letter)."""
    arabic = sum(map(len, _ARABIC.findall(text)))
    latin = sum(map(len, _LATIN.findall(text)))
    letters = arabic + latin
    if letters == 0:
        return 0.0, 0.0
    return arabic / letters, latin / letters


def detect_language(text: str) -> str:
    """'ar' or 'en' by script; good enough to route an article, not to classify it."""
    arabic, _ = script_share(text[:5000])
    return "ar" if arabic >= 0.5 else "en"
