"""Main-text extraction: bytes of a page → decoded HTML → article text and metadata.

trafilatura does the extraction; a schema.org NewsArticle `articleBody` in JSON-LD is used
instead when trafilatura finds clearly less text than the page's own structured data.
Everything here is plain, blocking code: `bot.reading.worker` runs it in a worker process with
a time limit, so that no page can stall the bot.
"""

from __future__ import annotations

import codecs
import json
import logging
import re
from dataclasses import dataclass
from typing import Literal

import charset_normalizer
from lxml import html as lxml_html

from bot.engine.normalize import detect_language
from bot.ops.errors import NotAnArticle, PageTooComplex

log = logging.getLogger(__name__)
# trafilatura logs its own view of bad pages at ERROR; ours (NotAnArticle, ...) is what users see
logging.getLogger("trafilatura").setLevel(logging.CRITICAL)

Kind = Literal["html", "telegram", "text"]

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


#: charsets a page declares by habit (server defaults) more often than by knowledge
_LATIN_DEFAULTS = {"iso8859-1", "cp1252", "iso8859-15", "ascii"}
_ARABIC_SINGLE_BYTE = ("windows-1256", "iso-8859-6")
_TAGS = re.compile(rb"<script\b.*?</script\s*>|<style\b.*?</style\s*>|<[^>]*>", re.I | re.S)
_ASCII_LETTERS = re.compile(rb"[A-Za-z]")
_ARABIC_LETTERS = re.compile(r"[\u0600-\u06ff]")
_HIGH_BYTES = bytes(range(0x80, 0x100))


def _codec(name: str | None) -> str | None:
    try:
        return codecs.lookup(name).name if name else None
    except LookupError:
        return None


def _utf8_beyond_ascii(body: bytes) -> bool:
    """Valid UTF-8 with multi-byte sequences: single-byte text almost never looks like that."""
    if body.isascii():
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _arabic_in_latin_clothes(body: bytes) -> str | None:
    """The Arabic single-byte charset of a page declared Latin-1/windows-1252 whose text is in
    fact mostly Arabic letters, else None. Latin languages keep their accented letters well under
    a third of all letters; Arabic text is nearly all high bytes."""
    text = _TAGS.sub(b" ", body[:400_000])
    high = len(text) - len(text.translate(None, _HIGH_BYTES))
    if not high or high < 0.3 * (high + len(_ASCII_LETTERS.findall(text))):
        return None
    for encoding in _ARABIC_SINGLE_BYTE:
        if len(_ARABIC_LETTERS.findall(text.decode(encoding, errors="replace"))) >= 0.8 * high:
            return encoding
    return None


def decode(body: bytes, content_type: str | None = None) -> str:
    """Decode a page as its publisher meant it (UTF-8, windows-1256, ISO-8859-6, …).

    The declared charset is believed unless the bytes contradict it: valid UTF-8 beyond ASCII is
    UTF-8 whatever the label says, and a page labelled Latin-1 that is mostly Arabic is Arabic.
    Otherwise a charset that does not decode falls through to UTF-8, then to detection."""
    declared = _codec(charset_from(content_type, body))
    if declared and declared != "utf-8" and not declared.startswith(("utf-16", "utf-32")):
        if _utf8_beyond_ascii(body):
            log.debug("declared %s, but the bytes are UTF-8", declared)
            return body.decode("utf-8")
        if declared in _LATIN_DEFAULTS and (arabic := _arabic_in_latin_clothes(body)):
            log.debug("declared %s, but the text is Arabic in %s", declared, arabic)
            return body.decode(arabic, errors="replace")
    if declared:
        try:
            return body.decode(declared)
        except UnicodeDecodeError:
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
    # imported here: only the worker processes extract, so the bot itself never loads it
    import trafilatura

    # no date guessed from the page's text: a footer's "© 2013" would date the article 1 January
    doc = trafilatura.bare_extraction(page, url=url, with_metadata=True, include_comments=False,
                                      include_tables=False,
                                      date_extraction_params={"extensive_search": False, "original_date": True})
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


# --- bounded extraction: what the worker process runs --------------------------------------------
_ELEMENT = re.compile(rb"<[A-Za-z]")


def count_elements(body: bytes) -> int:
    """Start tags in a page, counted on the bytes without parsing (no list of matches is built)."""
    return _ELEMENT.subn(b"", body)[1]


def extract_telegram_post(page: str) -> Extracted:
    """The text and channel of a post from t.me's public preview (embed) page."""
    tree = lxml_html.fromstring(page)
    texts = tree.xpath('//div[contains(@class,"tgme_widget_message_text")]')
    if not texts:
        raise NotAnArticle("the Telegram post has no text or is not public")
    node = texts[0]
    for br in node.xpath(".//br"):
        br.tail = "\n" + (br.tail or "")
    owner = tree.xpath('string(//*[contains(@class,"tgme_widget_message_owner_name")])').strip()
    text = node.text_content().strip()
    return Extracted(text=text, title=text.split("\n", 1)[0][:200], outlet=owner or None)


def extract_page(body: bytes, content_type: str | None, url: str | None, kind: Kind, max_elements: int) -> Extracted:
    """Bytes of a page → Extracted: the element cap first (lxml's cost grows faster than the page),
    then decoding and extraction. Raises PageTooComplex or NotAnArticle."""
    if kind != "text":
        elements = count_elements(body)
        if elements > max_elements:
            raise PageTooComplex(f"{elements} elements; EXTRACT_MAX_ELEMENTS is {max_elements}")
    page = decode(body, content_type)
    if kind == "text":
        return extract_text(page)
    if kind == "telegram":
        return extract_telegram_post(page)
    return extract_html(page, url)
