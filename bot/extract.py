"""Main-text extraction: bytes of a page → decoded HTML → article text and metadata.

trafilatura does the extraction; a schema.org NewsArticle `articleBody` in JSON-LD is used
instead when trafilatura finds clearly less text than the page's own structured data.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass

import charset_normalizer
import trafilatura
from lxml import html as lxml_html

from bot.errors import NotAnArticle
from bot.normalize import detect_language

log = logging.getLogger(__name__)
logging.getLogger("trafilatura").setLevel(logging.ERROR)

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([-\w]+)""", re.I)
_PAYWALL = re.compile(
    r"subscribe to (continue|read)|subscribers only|already a subscriber|create a free account to"
    r"|log in to continue|للمشتركين فقط|اشترك الآن|لمتابعة القراءة", re.I)
_ARTICLE_TYPES = {"NewsArticle", "Article", "ReportageNewsArticle", "AnalysisNewsArticle",
                  "BlogPosting", "OpinionNewsArticle", "WebPageElement"}
MIN_ARTICLE_CHARS = 200


@dataclass
class Extracted:
    text: str
    title: str | None = None
    outlet: str | None = None
    author: str | None = None
    published: str | None = None
    language: str = ""
    paywalled: bool = False


def charset_from(content_type: str | None, body: bytes) -> str | None:
    """The declared charset: Content-Type header first, then a <meta> tag in the head."""
    if content_type:
        m = re.search(r"charset\s*=\s*[\"']?([-\w]+)", content_type, re.I)
        if m:
            return m.group(1)
    m = _META_CHARSET.search(body[:4096])
    return m.group(1).decode("ascii", "ignore") if m else None


def decode(body: bytes, content_type: str | None = None) -> str:
    """Decode a page as its publisher meant it (UTF-8, windows-1256, ISO-8859-6, …)."""
    declared = charset_from(content_type, body)
    if declared:
        try:
            return body.decode(declared)
        except (LookupError, UnicodeDecodeError):
            log.debug("declared charset %s does not decode; detecting", declared)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    best = charset_normalizer.from_bytes(body[:200_000]).best()
    if best is not None and best.encoding:
        return body.decode(best.encoding, errors="replace")
    return body.decode("utf-8", errors="replace")


def _json_ld_article(tree: lxml_html.HtmlElement) -> dict[str, str]:
    """The first NewsArticle-like object with an articleBody in the page's JSON-LD."""
    for script in tree.xpath('//script[@type="application/ld+json"]'):
        try:
            data = json.loads(script.text_content() or "")
        except (json.JSONDecodeError, ValueError):
            continue
        stack = [data]
        while stack:
            node = stack.pop()
            if isinstance(node, list):
                stack.extend(node)
            elif isinstance(node, dict):
                kind = node.get("@type")
                kinds = set(kind) if isinstance(kind, list) else {kind}
                if kinds & _ARTICLE_TYPES and isinstance(node.get("articleBody"), str):
                    return node
                stack.extend(v for k, v in node.items() if k == "@graph" or isinstance(v, dict | list))
    return {}


def _name(value: object) -> str | None:
    if isinstance(value, str):
        return value or None
    if isinstance(value, dict):
        return _name(value.get("name"))
    if isinstance(value, list) and value:
        names = [n for n in (_name(v) for v in value) if n]
        return ", ".join(names) or None
    return None


def extract_html(page: str, url: str | None = None) -> Extracted:
    """Extract the article from an HTML page; raise NotAnArticle when there is none."""
    doc = trafilatura.bare_extraction(page, url=url, with_metadata=True, include_comments=False,
                                      include_tables=False)
    text = (doc.text or "") if doc is not None else ""
    try:
        tree = lxml_html.fromstring(page)
        ld = _json_ld_article(tree)
    except (ValueError, lxml_html.etree.ParserError):
        ld = {}
    body = re.sub(r"\s*\n\s*", "\n\n", (ld.get("articleBody") or "").strip())
    if len(body) > max(len(text) * 1.3, MIN_ARTICLE_CHARS):
        text = body
    if len(text.strip()) < MIN_ARTICLE_CHARS // 2:
        raise NotAnArticle("no article text found on the page")
    return Extracted(
        text=text.strip(),
        title=(doc.title if doc else None) or _name(ld.get("headline")),
        outlet=(doc.sitename if doc else None) or _name(ld.get("publisher")),
        author=(doc.author if doc else None) or _name(ld.get("author")),
        published=(doc.date if doc else None) or _name(ld.get("datePublished")),
        language=detect_language(text),
        paywalled=(bool(_PAYWALL.search(page)) and len(text) < 1500) or ld.get("isAccessibleForFree") in (False, "False", "false"),
    )


def extract_text(text: str) -> Extracted:
    """A text/plain body: the text is the article."""
    text = text.strip()
    if not text:
        raise NotAnArticle("the page is empty")
    first = text.split("\n", 1)[0].strip()
    return Extracted(text=text, title=first[:200] if len(first) < 200 else None,
                     language=detect_language(text))
