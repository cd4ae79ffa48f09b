"""Telegram's limits on one rich message, and how much of them a piece of Rich HTML uses.

The Bot API counts (InputRichMessage, "Rich Message Limits"): up to 32,768 characters of text,
500 blocks (nested blocks, list items, table rows, quotations and details blocks included), 16
levels of nested formatting and blocks, and 20 table columns. The renderer measures what it
builds with `measure` and keeps under these figures; tests check the same HTML independently.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

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


_TOKEN = re.compile(r"<(/?)([a-z][a-z0-9-]*)([^>]*?)(/?)>|([^<]+)")
_COLSPAN = re.compile(r'colspan="(\d+)"')


def measure(html_text: str) -> Usage:
    """What `html_text` (a fragment of whole elements, as the renderers write it) uses of a rich
    message's limits. A tokenizer, not a parser: it reads only well-formed output of our own, and
    costs a fraction of html.parser's time (tests check the same HTML with a strict parser)."""
    usage = Usage()
    depth = row = 0
    for m in _TOKEN.finditer(html_text):
        closing, tag, attrs, selfclosing, text = m.groups()
        if text is not None:
            usage.chars += len(html.unescape(text)) if "&" in text else len(text)
            continue
        if closing:
            depth -= 1
            continue
        if tag in BLOCK_TAGS:
            usage.blocks += 1
        if tag == "tr":
            row = 0
        elif tag in ("td", "th"):
            span = _COLSPAN.search(attrs)
            row += int(span.group(1)) if span else 1
            usage.columns = max(usage.columns, row)
        usage.depth = max(usage.depth, depth + 1)
        if tag not in VOID_TAGS and not selfclosing:
            depth += 1
    return usage
