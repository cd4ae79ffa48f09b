"""Arabic text as PDFs give it back → logical-order Arabic that quotes can be checked against.

Word processors and PDF generators often write Arabic as presentation forms (the shaped glyphs,
U+FB50–U+FDFF and U+FE70–U+FEFF) and in visual order: each line reversed, as it is drawn left to
right. Text read from such a PDF is reversed line by line and its letters are not the ones a
reader types. `repair` detects visual order and turns each line back, then maps presentation
forms to the letters (NFKC, on those characters only).

Detection: when presentation forms are present, their positions say it (in logical order an
Arabic word begins with an initial or isolated form; read backwards it begins with a final
form). Without them, the definite article does: in logical order many words begin with "ال",
reversed they end with "لا".
"""

from __future__ import annotations

import re
import unicodedata

from bidi import get_display

_ARABIC_WORD = re.compile(r"[\u0600-\u06FF\u0750-\u077F\uFB50-\uFDFF\uFE70-\uFEFF]+")
_FORMS = re.compile(r"[\uFB50-\uFDFF\uFE70-\uFEFF]")
_ARABIC_LETTER = re.compile(r"[\u0621-\u064A\u0671-\u06D3\uFB50-\uFDFF\uFE70-\uFEFC]")


def _form(ch: str) -> str:
    """'initial', 'medial', 'final', 'isolated' for a presentation form, else ''."""
    if not _FORMS.match(ch):
        return ""
    name = unicodedata.name(ch, "")
    for form in ("INITIAL", "MEDIAL", "FINAL", "ISOLATED"):
        if f"{form} FORM" in name:
            return form.lower()
    return ""


def visual_score(text: str) -> int:
    """Evidence that `text` is in visual order: > 0 visual, < 0 logical, 0 cannot tell."""
    score = 0
    forms_seen = False
    for word in _ARABIC_WORD.findall(text):
        first, last = _form(word[0]), _form(word[-1])
        if first or last:
            forms_seen = True
        if len(word) < 2:
            continue
        # logical: initial … final; visual: final … initial
        score += (first == "final") + (last == "initial") - (first == "initial") - (last == "final")
    if forms_seen:
        return score
    letters = unicodedata.normalize("NFKC", text)
    return len(re.findall(r"\S*لا(?=\s|$)", letters)) - len(re.findall(r"(?:^|\s)ال", letters))


def logical_line(line: str) -> str:
    """One visual-order line → logical order: the bidi algorithm, applied to the visual string,
    reverses the Arabic runs back and keeps numbers and Latin words reading left to right."""
    if not _ARABIC_LETTER.search(line):
        return line
    return get_display(line, base_dir="R")


def unshape(text: str) -> str:
    """Presentation forms → letters (NFKC on those characters only; other text keeps its form)."""
    return _FORMS.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text)


def repair(text: str) -> str:
    """Text extracted from a document → logical-order Arabic with plain letters (other text untouched).

    The decision is made for the whole text (a document is written one way); a line without
    Arabic letters is never reordered."""
    if not _ARABIC_LETTER.search(text):
        return text
    if visual_score(text) > 0:
        text = "\n".join(logical_line(line) for line in text.split("\n"))
    return unshape(text)
