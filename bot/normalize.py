"""Arabic-aware normalisation for matching quotes against an article, with an offset map.

Matching happens on normalised text; display always keeps the original. `normalize_map`
returns, for every character of the normalised text, the index of the original character it
came from, so that a match can be reported as a span of the original article.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_REMOVE = {0x0640, 0x0670, 0x200E, 0x200F, 0x061C, 0x200B, 0x200C, 0x200D, 0xFEFF, 0x00AD}
_REMOVE.update(range(0x064B, 0x0653))  # harakat, tanwin, shadda, sukun
_REMOVE.update(range(0x2066, 0x206A))  # bidi isolates

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


def _norm_char(ch: str) -> str:
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


def normalize(text: str) -> str:
    """The matching form of `text` (see `summary-schema.md`, "What the checks enforce")."""
    return normalize_map(text)[0]


@dataclass(frozen=True)
class Match:
    start: int  # in the original text
    end: int

    def text(self, original: str) -> str:
        return original[self.start : self.end]


class Matcher:
    """Finds verbatim spans in one article; the article is normalised once."""

    def __init__(self, article: str) -> None:
        self.article = article
        self.norm, self.origin = normalize_map(article)

    def find(self, span: str) -> Match | None:
        """Where `span` occurs, after normalisation; `…` in the span may skip text in between.

        Outer quote marks and punctuation are ignored, since models often wrap a quote in its
        own marks or end it with a full stop that the article puts outside the quote.
        """
        pieces = [p.strip(_EDGE) for p in _ELLIPSIS.split(normalize(span))]
        pieces = [p for p in pieces if p]
        if not pieces or sum(len(p) for p in pieces) < 4:
            return None
        pos = 0
        first = last = -1
        for piece in pieces:
            at = self.norm.find(piece, pos)
            if at < 0:
                return None
            if first < 0:
                first = at
            last = at + len(piece)
            pos = last
        return Match(self.origin[first], self.origin[last - 1] + 1)

    def __contains__(self, span: str) -> bool:
        return self.find(span) is not None


_ARABIC = re.compile(r"[\u0600-\u06FF\u0750-\u077F\u08A0-\u08FF\uFB50-\uFDFF\uFE70-\uFEFF]")
_LATIN = re.compile(r"[A-Za-z\u00C0-\u024F]")


def script_share(text: str) -> tuple[float, float]:
    """Shares of Arabic and Latin letters among the letters of `text`."""
    arabic = len(_ARABIC.findall(text))
    latin = len(_LATIN.findall(text))
    letters = arabic + latin
    if letters == 0:
        return 0.0, 0.0
    return arabic / letters, latin / letters


def detect_language(text: str) -> str:
    """'ar' or 'en' by script; good enough to route an article, not to classify it."""
    arabic, _ = script_share(text[:5000])
    return "ar" if arabic >= 0.5 else "en"
