"""A strict check of Rich HTML as the Bot API documents it (InputRichMessage, "Rich HTML style").

Written from the Bot API's list of supported tags and its "Rich Message Limits", independently of
the bot's renderer, so that a renderer bug is not mirrored here: only the documented tags and
attributes, whole nesting (every tag closed in order), blocks never inside inline formatting,
table cells with inline formatting only, list items in lists, rows in tables, every in-document
link pointing at an anchor or reference of the message, the documented named entities only, and
the limits (32,768 characters, 500 blocks, 16 levels, 20 table columns).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

INLINE = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "code", "mark", "sub", "sup",
          "tg-spoiler", "a", "tg-reference", "tg-emoji", "tg-time", "tg-math", "br", "cite", "summary",
          "caption", "figcaption", "input"}
BLOCK = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "footer", "hr", "ul", "ol", "li", "blockquote", "aside",
         "table", "tr", "td", "th", "details", "tg-math-block", "figure", "img", "video", "audio", "tg-map",
         "tg-collage", "tg-slideshow"}
COUNTED = BLOCK - {"td", "th"}  # a table's cells are counted by its rows
VOID = {"hr", "br", "img", "input", "tg-map"}
ATTRS: dict[str, set[str]] = {
    "a": {"href", "name"}, "tg-reference": {"name"}, "tg-emoji": {"emoji-id"}, "tg-time": {"unix", "format"},
    "pre": set(), "code": {"class"}, "ol": {"start", "type", "reversed"}, "li": {"value", "type"},
    "input": {"type", "checked"}, "table": {"bordered", "striped"}, "td": {"colspan", "rowspan", "align", "valign"},
    "th": {"colspan", "rowspan", "align", "valign"}, "details": {"open"}, "img": {"src", "alt", "tg-spoiler"},
    "video": {"src", "tg-spoiler"}, "audio": {"src"}, "tg-map": {"lat", "long", "zoom"},
}
PARENTS: dict[str, set[str]] = {
    "li": {"ul", "ol"}, "tr": {"table"}, "td": {"tr"}, "th": {"tr"}, "summary": {"details"},
    "caption": {"table"}, "figcaption": {"figure", "tg-collage", "tg-slideshow"},
    "cite": {"blockquote", "aside", "figcaption"},
}
ENTITIES = {"lt", "gt", "amp", "quot", "apos", "nbsp", "hellip", "mdash", "ndash", "lsquo", "rsquo", "ldquo", "rdquo"}
NO_TEXT = {"ul", "ol", "table", "tr"}


class RichHTMLError(ValueError):
    pass


@dataclass
class Checked:
    chars: int = 0
    blocks: int = 0
    depth: int = 0
    columns: int = 0
    text: str = ""
    anchors: set[str] = field(default_factory=set)
    links: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


#: the Rich HTML grammar this check accepts: a tag (its attributes quoted with "), text without
#: markup, or an entity; anything else (a stray "<" or "&", an unquoted attribute, a comment) is refused
_TOKEN = re.compile(r'<(/?)([A-Za-z][A-Za-z0-9-]*)((?:\s+[A-Za-z][A-Za-z-]*(?:="[^"<]*")?)*)\s*(/?)>'
                    r'|([^<&]+)|&(#[0-9]+|#[xX][0-9A-Fa-f]+|[A-Za-z]+);')
_ATTR = re.compile(r'\s+([A-Za-z][A-Za-z-]*)(?:="([^"<]*)")?')


class _Parser:
    """A strict tokenizer (C regular expressions: the loopback Bot API checks every rich message,
    so html.parser's pure-Python scanning would be most of its time) with the checks below."""

    def __init__(self) -> None:
        self.out = Checked()
        self.stack: list[str] = []
        self.row = 0
        self.parts: list[str] = []

    def _inline_ancestor(self) -> str | None:
        return next((t for t in reversed(self.stack) if t in INLINE or t in ("td", "th")), None)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in INLINE and tag not in BLOCK:
            raise RichHTMLError(f"unsupported tag <{tag}>")
        for name, value in attrs:
            if name not in ATTRS.get(tag, set()):
                raise RichHTMLError(f"unsupported attribute {name!r} of <{tag}>")
            if tag == "a" and name == "name":
                self.out.anchors.add(value or "")
            if tag == "a" and name == "href" and (value or "").startswith("#"):
                self.out.links.append((value or "")[1:])
            if tag == "tg-reference" and name == "name":
                self.out.anchors.add(value or "")
        if tag == "a" and not any(n in ("href", "name") for n, _ in attrs):
            raise RichHTMLError("<a> without href or name")
        parent = self.stack[-1] if self.stack else None
        if tag in PARENTS and parent not in PARENTS[tag]:
            raise RichHTMLError(f"<{tag}> inside <{parent}>")
        if tag in BLOCK:
            holder = self._inline_ancestor()
            if holder is not None:
                raise RichHTMLError(f"block <{tag}> inside <{holder}>")
        if tag in COUNTED:
            self.out.blocks += 1
        if tag == "tr":
            self.row = 0
        if tag in ("td", "th"):
            span = dict(attrs).get("colspan") or "1"
            if not span.isdigit():
                raise RichHTMLError("colspan is not a number")
            self.row += int(span)
            self.out.columns = max(self.out.columns, self.row)
        self.out.tags.append(tag)
        depth = len(self.stack) + 1
        self.out.depth = max(self.out.depth, depth)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in VOID:
            raise RichHTMLError(f"<{tag}/> is not a void tag")
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            raise RichHTMLError(f"</{tag}> closes <{self.stack[-1] if self.stack else 'nothing'}>")
        self.stack.pop()

    def _text(self, text: str) -> None:
        if self.stack and self.stack[-1] in NO_TEXT and text.strip():
            raise RichHTMLError(f"text directly inside <{self.stack[-1]}>")
        self.out.chars += len(text)
        self.parts.append(text)

    def handle_data(self, data: str) -> None:
        self._text(data)

    def handle_entityref(self, name: str) -> None:
        if name not in ENTITIES:
            raise RichHTMLError(f"unsupported entity &{name};")
        self._text(html.unescape(f"&{name};"))

    def handle_charref(self, name: str) -> None:
        self._text(html.unescape(f"&#{name};"))

    def feed(self, text: str) -> None:
        at = 0
        while at < len(text):
            m = _TOKEN.match(text, at)
            if m is None:
                raise RichHTMLError(f"can't parse the HTML at character {at}: {text[at:at + 20]!r}")
            closing, tag, attrs, void, data, entity = m.groups()
            if data is not None:
                self.handle_data(data)
            elif entity is not None:
                if entity.startswith("#"):
                    self.handle_charref(entity[1:])
                else:
                    self.handle_entityref(entity)
            elif closing:
                if attrs.strip() or void:
                    raise RichHTMLError(f"malformed closing tag </{tag}>")
                self.handle_endtag(tag.lower())
            else:
                pairs = [(k.lower(), html.unescape(v) if v is not None else None) for k, v in _ATTR.findall(attrs)]
                # findall gives "" for an attribute without a value: as html.parser, None
                pairs = [(k, v if f'{k}="' in attrs else None) for k, v in pairs]
                if void:
                    self.handle_startendtag(tag.lower(), pairs)
                else:
                    self.handle_starttag(tag.lower(), pairs)
            at = m.end()

    def close(self) -> None:
        return None


def check(html_text: str, *, max_chars: int = 32_768, max_blocks: int = 500, max_depth: int = 16,
          max_columns: int = 20) -> Checked:
    """The Rich HTML's text and counts; RichHTMLError names the first thing Telegram would refuse."""
    p = _Parser()
    p.feed(html_text)
    p.close()
    if p.stack:
        raise RichHTMLError(f"<{p.stack[-1]}> is not closed")
    out = p.out
    out.text = "".join(p.parts)
    for name in out.links:
        if name and name not in out.anchors:
            raise RichHTMLError(f"link to a missing anchor #{name}")
    if out.chars > max_chars:
        raise RichHTMLError(f"too long: {out.chars} characters")
    if out.blocks > max_blocks:
        raise RichHTMLError(f"too many blocks: {out.blocks}")
    if out.depth > max_depth:
        raise RichHTMLError(f"nested too deep: {out.depth} levels")
    if out.columns > max_columns:
        raise RichHTMLError(f"too many table columns: {out.columns}")
    if not out.text.strip():
        raise RichHTMLError("the message is empty")
    return out
