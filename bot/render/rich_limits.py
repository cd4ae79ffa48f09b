"""Telegram's limits on one rich message, and how much of them a piece of Rich HTML uses.

The Bot API counts (InputRichMessage, "Rich Message Limits"): up to 32,768 characters of text,
500 blocks (nested blocks, list items, table rows, quotations and details blocks included), 16
levels of nested formatting and blocks, and 20 table columns. The renderer measures what it
builds with `measure` and keeps under these figures; tests check the same HTML independently.
"""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser

MAX_CHARS = 32_768
MAX_BLOCKS = 500
MAX_DEPTH = 16
MAX_COLUMNS = 20

#: tags that make a block (each list item and table row counts as one too)
BLOCK_TAGS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "footer", "hr", "ul", "ol", "li",
                        "blockquote", "aside", "table", "tr", "details", "tg-math-block", "figure",
                        "tg-collage", "tg-slideshow", "tg-map", "img", "video", "audio"})
VOID_TAGS = frozenset({"hr", "br", "img", "input", "tg-map"})


@dataclass
class Usage:
    chars: int = 0
    blocks: int = 0
    depth: int = 0
    columns: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.chars + other.chars, self.blocks + other.blocks, max(self.depth, other.depth),
                     max(self.columns, other.columns))

    def fits(self) -> bool:
        return (self.chars <= MAX_CHARS and self.blocks <= MAX_BLOCKS and self.depth <= MAX_DEPTH
                and self.columns <= MAX_COLUMNS)


class _Counter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.usage = Usage()
        self._open: list[str] = []
        self._row = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in BLOCK_TAGS:
            self.usage.blocks += 1
        if tag == "tr":
            self._row = 0
        elif tag in ("td", "th"):
            span = dict(attrs).get("colspan") or "1"
            self._row += int(span) if span.isdigit() else 1
            self.usage.columns = max(self.usage.columns, self._row)
        if tag in VOID_TAGS:
            self.usage.depth = max(self.usage.depth, len(self._open) + 1)
            return
        self._open.append(tag)
        self.usage.depth = max(self.usage.depth, len(self._open))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID_TAGS and self._open and self._open[-1] == tag:
            self._open.pop()

    def handle_endtag(self, tag: str) -> None:
        if tag in self._open:
            while self._open.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        self.usage.chars += len(data)


def measure(html: str) -> Usage:
    """What `html` (a fragment of whole elements) uses of a rich message's limits."""
    counter = _Counter()
    counter.feed(html)
    counter.close()
    return counter.usage
