"""The article's paragraphs that hold a brief's verified spans, kept in the envelope.

A reader who doubts a quote should see it in its place without opening the article: the rich
message shows these paragraphs with each span marked. Only paragraphs that hold a span found in
the article are kept (the whole article is never stored with the brief), each as the article has
it, with its offset, so the spans' offsets locate them inside it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.engine.schema import CheckedBrief, Passage, SpanCheck

_PARAGRAPH = re.compile(r"[^\n]+")


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
