"""The article's paragraphs that hold a brief's verified spans, kept in the envelope.

A reader who doubts a quote should see it in its place without opening the article: the rich
message shows these paragraphs with each span marked. Only paragraphs that hold a span found in
the article are kept (the whole article is never stored with the brief), each as the article has
it, with its offset, so the spans' offsets locate them inside it. `highlight` says which stretch of
a paragraph to mark for a span.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.engine.schema import CheckedBrief, Passage, SpanCheck

_PARAGRAPH = re.compile(r"[^\n]+")

#: Quotation marks: each opening mark and the one that closes it (a straight mark closes itself).
_PAIRS = {"«": "»", "“": "”", "‹": "›", "‘": "’", '"': '"', "'": "'"}
_OPENERS = {close: open_ for open_, close in _PAIRS.items()}
_SPACE = " \t\u00a0"
_STOPS = ".,;:!?،؛؟…"
#: What may stand between a quotation's last word and its closing mark: «…فورًا.» “…now,”
_BEFORE_CLOSE = _SPACE + _STOPS


def checked_spans(brief: CheckedBrief) -> list[SpanCheck]:
    """The verified quotes and evidence found in the article's text (not names, not metadata)."""
    checks: list[SpanCheck | None] = [p.evidence_check for p in brief.pressures]
    checks += [p.quote_check for p in brief.positions]
    checks += [s.evidence_check for s in brief.sources]
    return [c for c in checks if c is not None and c.verified and c.found_in == "article"
            and c.start is not None and c.end is not None]


def passages(text: str, spans: Iterable[tuple[int, int]]) -> list[Passage]:
    """The lines of `text` that overlap any of `spans` (start, end), in the article's order."""
    wanted = sorted(spans)
    if not wanted:
        return []
    out: list[Passage] = []
    for m in _PARAGRAPH.finditer(text):
        if any(start < m.end() and end > m.start() for start, end in wanted):
            out.append(Passage(start=m.start(), text=m.group()))
    return out


def of_brief(text: str, brief: CheckedBrief) -> list[Passage]:
    return passages(text, ((c.start, c.end) for c in checked_spans(brief)))  # type: ignore[misc]


def _opens(text: str, at: int) -> bool:
    """Whether the straight mark at `at` opens a quotation: nothing, a space or a bracket is before
    it, not a word or the punctuation that ends one."""
    return at == 0 or not (text[at - 1].isalnum() or text[at - 1] in _STOPS)


def highlight(text: str, start: int, end: int) -> tuple[int, int]:
    """The stretch of `text` to mark for the span text[start:end]: never one mark of a quotation's
    pair without the other.

    A span is found without the article's quotation marks at its ends, so a quotation that
    surrounds it stays outside the mark in every language, while one that opens inside it and closes
    right after it (وأفادت هيئة البث “كان 11”) would be cut before its closing mark: the stretch
    takes that mark in, with the punctuation before it, and likewise the opening mark of a quotation
    that the span closes. A quotation that goes on past the span's words is left as it is: marking
    its rest would show words nobody checked.
    """
    opened: list[str] = []  # marks the span opens and does not close, innermost last
    closed: list[str] = []  # marks the span closes without opening them, innermost first
    for at in range(start, end):
        mark = text[at]
        if mark not in _PAIRS and mark not in _OPENERS:
            continue
        if mark in "'’" and 0 < at < len(text) - 1 and text[at - 1].isalnum() and text[at + 1].isalnum():
            continue  # an apostrophe: Israel's, it’s
        if opened and _PAIRS[opened[-1]] == mark:
            opened.pop()
        elif mark in _PAIRS and (mark not in _OPENERS or _opens(text, at)):
            opened.append(mark)
        else:
            closed.append(mark)
    while opened:
        after = end
        while after < len(text) and text[after] in _BEFORE_CLOSE:
            after += 1
        if after == len(text) or text[after] != _PAIRS[opened.pop()]:
            break
        end = after + 1
    for mark in closed:
        before = start
        while before > 0 and text[before - 1] in _SPACE:
            before -= 1
        if before == 0 or text[before - 1] != _OPENERS[mark]:
            break
        start = before - 1
    return start, end
