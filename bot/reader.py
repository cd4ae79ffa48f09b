"""Input → Article: a file, standard input, a URL or a Telegram message's text.

The same code serves `newsbot extract`, `newsbot summarize` and the bot.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

from lxml import html as lxml_html

from bot.article import Article, from_text
from bot.errors import InputError, NotAnArticle, Paywalled
from bot.extract import Extracted, decode, extract_html, extract_text
from bot.fetch import Fetcher, Response

_HTML_TYPES = ("text/html", "application/xhtml+xml")
_URL = re.compile(r"https?://[^\s<>\"'«»“”]+", re.I)
_TME = re.compile(r"^(?:www\.)?(?:t\.me|telegram\.me)$", re.I)
SHORT_BODY = 600  # a "full" article shorter than this is probably cut or paywalled
PAYWALL_TEASER = 400  # behind a paywall, less than this is a teaser: not worth a brief


def find_urls(text: str) -> list[str]:
    """Links in free text, in order, without duplicates or trailing punctuation."""
    urls = [u.rstrip(".,;:!?)]}،؛") for u in _URL.findall(text or "")]
    return list(dict.fromkeys(urls))


def telegram_post(url: str) -> tuple[str, str] | None:
    """(channel, post id) of a public t.me post link, else None."""
    parts = urlsplit(url)
    if not _TME.match(parts.hostname or ""):
        return None
    segments = [s for s in parts.path.split("/") if s]
    if segments and segments[0] == "s":
        segments = segments[1:]
    if len(segments) == 2 and segments[1].isdigit():
        return segments[0], segments[1]
    return None


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


def article_from_response(resp: Response, *, source: str) -> Article:
    ctype = resp.content_type.split(";")[0].strip().lower()
    head = resp.body[:512].lstrip().lower()
    looks_html = head.startswith((b"<!doctype html", b"<html")) or b"<head" in head
    is_post = telegram_post(resp.url) is not None
    if ctype in _HTML_TYPES or (not ctype and looks_html):
        page = decode(resp.body, resp.content_type)
        ex = extract_telegram_post(page) if is_post else extract_html(page, resp.url)
    elif ctype == "text/plain" or (not ctype and not resp.body[:64].startswith(b"%PDF")):
        ex = extract_text(decode(resp.body, resp.content_type))
    else:
        raise NotAnArticle(f"the link is {ctype or 'not a web page'}")
    if "\ufffd" in ex.text and ex.text.count("\ufffd") > len(ex.text) // 20:
        raise NotAnArticle("the page's text could not be decoded")
    if ex.paywalled and len(ex.text) < PAYWALL_TEASER:
        raise Paywalled(f"only {len(ex.text)} characters are readable")
    # a short Telegram post is a whole post, not a cut article
    status = "paywalled" if ex.paywalled or (len(ex.text) < SHORT_BODY and not is_post) else "full"
    return Article(text=ex.text, source=source, url=resp.url, title=ex.title, outlet=ex.outlet,
                   author=ex.author, published=ex.published, language=ex.language, status=status)


async def read_url(url: str, fetcher: Fetcher) -> Article:
    """Fetch and extract one link (t.me post links read the public preview page)."""
    post = telegram_post(url)
    target = f"https://t.me/{post[0]}/{post[1]}?embed=1&mode=tme" if post else url
    resp = await fetcher.fetch(target)
    return article_from_response(resp, source=url)


def read_file(path: str, *, min_chars: int = 1) -> Article:
    """A local file (.txt or .html) or '-' for standard input."""
    if path == "-":
        return from_text(sys.stdin.read(), "stdin", min_chars=min_chars)
    p = Path(path)
    if not p.is_file():
        raise InputError(f"no such file: {path}")
    raw = p.read_bytes()
    if p.suffix.lower() in (".html", ".htm", ".xhtml"):
        ex = extract_html(decode(raw), None)
        return Article(text=ex.text, source=str(p), title=ex.title, outlet=ex.outlet,
                       author=ex.author, published=ex.published, language=ex.language, status="full")
    if raw[:5] == b"%PDF-" or b"\x00" in raw[:1024]:
        raise NotAnArticle(f"{path} is not a text or HTML file")
    return from_text(decode(raw, "text/plain"), str(p), min_chars=min_chars)
