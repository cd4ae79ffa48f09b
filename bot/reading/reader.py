"""Input → Article: a file, standard input, a URL or a Telegram message's text.

The same code serves `newsbot extract`, `newsbot summarize` and the bot.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

from bot.engine.article import Article, check_length, from_text, require_letters
from bot.ops.errors import BrokenDocument, FileTooLarge, InputError, NotAnArticle, Paywalled
from bot.reading.documents import DocLimits, DocumentText, is_text_with_bom, looks_binary, starts_as_pdf
from bot.reading.extract import Extracted, Kind, decode, extract_telegram_post
from bot.reading.fetch import Fetcher, Response
from bot.reading.worker import (
    Limits,
    extract_bounded,
    extract_bounded_async,
    pool,
    read_document_async,
    read_document_bounded,
)
from bot.render.texts import number

__all__ = ["article_from_document", "article_from_response", "extract_telegram_post", "find_urls", "read_file",
           "read_file_bytes", "read_file_bytes_async", "read_stdin", "read_url", "telegram_post"]

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


#: content types a server may give a PDF; either way the body must say PDF too
_PDF_TYPES = frozenset({"application/pdf", "application/x-pdf"})
_GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream", "application/download",
                            "application/force-download"})


def _media_type(resp: Response) -> str:
    """The response's Content-Type without its parameters ("text/html; charset=…" → "text/html")."""
    return resp.content_type.split(";")[0].strip().lower()


def _is_pdf(resp: Response) -> bool:
    """A PDF by its type, or a generic type, and a body that starts as one; a page mislabelled
    as PDF is read as the page it is."""
    ctype = _media_type(resp)
    return (ctype in _PDF_TYPES or ctype in _GENERIC_TYPES) and starts_as_pdf(resp.body, said_pdf=ctype in _PDF_TYPES)


def _kind(resp: Response) -> Kind:
    """How to read a response: an HTML page, a t.me post page or plain text; else NotAnArticle."""
    ctype = _media_type(resp)
    head = resp.body[:512].lstrip().lower()
    looks_html = head.startswith((b"<!doctype html", b"<html")) or b"<head" in head
    if ctype in _HTML_TYPES or (looks_html and ctype in _GENERIC_TYPES | _PDF_TYPES):
        return "telegram" if telegram_post(resp.url) is not None else "html"
    if ctype == "text/plain" or not ctype:
        return "text"
    raise NotAnArticle(f"the link is {ctype or 'not a web page'}")


def _article(ex: Extracted, resp: Response, *, source: str, kind: Kind) -> Article:
    if "\ufffd" in ex.text and ex.text.count("\ufffd") > len(ex.text) // 20:
        raise NotAnArticle("the page's text could not be decoded")
    require_letters(ex.text)
    if ex.paywalled and len(ex.text) < PAYWALL_TEASER:
        raise Paywalled(f"only {len(ex.text)} characters are readable")
    # a short Telegram post is a whole post, not a cut article
    status = "paywalled" if ex.paywalled or (len(ex.text) < SHORT_BODY and kind != "telegram") else "full"
    article = Article.extracted(ex, source=source, url=resp.url, status=status)
    article.kind = kind
    return article


def article_from_response(resp: Response, *, source: str, limits: Limits | None = None) -> Article:
    """A fetched page → Article, extracted in a worker within `limits` (blocks the caller)."""
    kind = _kind(resp)
    ex = extract_bounded(resp.body, resp.content_type, resp.url, kind, limits or Limits())
    return _article(ex, resp, source=source, kind=kind)


async def read_url(url: str, fetcher: Fetcher, *, limits: Limits | None = None) -> Article:
    """Fetch and extract one link (t.me post links read the public preview page). A page is
    extracted in a worker process within EXTRACT_TIMEOUT_S and EXTRACT_MAX_ELEMENTS; a PDF is read
    like a PDF sent in the chat, within DOCUMENT_TIMEOUT_S, MAX_PDF_PAGES and MAX_OCR_PAGES."""
    post = telegram_post(url)
    target = f"https://t.me/{post[0]}/{post[1]}?embed=1&mode=tme" if post else url
    pool().prewarm()  # a worker starting while the page downloads
    resp = await fetcher.fetch(target)
    if _is_pdf(resp):  # a statement published as a PDF: read like a PDF sent in the chat
        doc = await read_document_async(resp.body, None, "application/pdf", DocLimits.of(fetcher.settings))
        article = article_from_document(doc, source=url)
        article.url = resp.url
        return article
    kind = _kind(resp)
    ex = await extract_bounded_async(resp.body, resp.content_type, resp.url, kind,
                                     limits or Limits.of(fetcher.settings))
    return _article(ex, resp, source=url, kind=kind)


def read_stdin(*, min_chars: int = 1, max_bytes: int = 10_000_000) -> Article:
    """Standard input as bytes, decoded like a file (UTF-8, else detection: windows-1256, …), up to
    `max_bytes` like a file: reading stops one byte past it, so a huge pipe never fills memory."""
    stream = getattr(sys.stdin, "buffer", None)
    try:
        if stream is None:
            raise OSError("no standard input")
        raw = stream.read(max_bytes + 1)
    except (OSError, ValueError) as exc:
        raise InputError("standard input is closed; pipe the text in or give a file") from exc
    if len(raw) > max_bytes:
        raise FileTooLarge(f"standard input: over the limit of {max_bytes:,} bytes",
                           detail_ar=f"المدخل القياسي: أكثر من الحد، {number(max_bytes, 'ar')} بايت")
    text = decode(raw, "text/plain")
    if looks_binary(text):
        raise BrokenDocument("standard input holds binary data, not text", detail_ar="المدخل القياسي بيانات ثنائية لا نص")
    return from_text(text, "stdin", min_chars=min_chars)


def article_from_document(doc: DocumentText, *, source: str, caption: str | None = None,
                          min_chars: int = 1) -> Article:
    """A read file → Article. A caption (a Telegram document's or photo's) is its title: context
    for the reader, not part of the article."""
    require_letters(doc.text)
    article = Article(text=doc.text, source=source, title=(caption or "").strip()[:300] or doc.title,
                      language=doc.language, status="full", kind=doc.kind,
                      ocr=doc.ocr)
    check_length(article.text, min_chars)
    return article


def _size_limit(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise FileTooLarge(f"{size:,} bytes; the limit is {max_bytes:,}",
                           detail_ar=f"{number(size, 'ar')} بايت؛ الحد {number(max_bytes, 'ar')}")


def read_file_bytes(data: bytes, name: str | None, mime: str | None, *, source: str, caption: str | None = None,
                    min_chars: int = 1, max_bytes: int, limits: DocLimits) -> Article:
    """A file's bytes → Article, read in a worker within the limits (blocking; the CLI)."""
    _size_limit(len(data), max_bytes)
    doc = read_document_bounded(data, name, mime, limits)
    return article_from_document(doc, source=source, caption=caption, min_chars=min_chars)


async def read_file_bytes_async(data: bytes, name: str | None, mime: str | None, *, source: str,
                                caption: str | None = None, min_chars: int = 1, max_bytes: int,
                                limits: DocLimits) -> Article:
    """A file's bytes → Article, read in a worker within the limits, off the event loop (the bot)."""
    _size_limit(len(data), max_bytes)
    doc = await read_document_async(data, name, mime, limits)
    return article_from_document(doc, source=source, caption=caption, min_chars=min_chars)


def read_file(path: str, *, min_chars: int = 1, limits: Limits | None = None, doc_limits: DocLimits | None = None,
              max_bytes: int = 10_000_000) -> Article:
    """A local file or '-' for standard input. HTML is read like a fetched page (in a worker,
    within `limits`); PDF, DOCX, Markdown and images (OCR) in a worker within `doc_limits`."""
    if path == "-":
        return read_stdin(min_chars=min_chars, max_bytes=max_bytes)
    if not path.strip():
        raise InputError("no file given")
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{path} is a folder; give a file")
    if p.exists() and not p.is_file():
        raise InputError(f"{path} is not a regular file (a device or a pipe; give '-' for standard input)")
    if not p.is_file():
        raise InputError(f"no such file: {path}")
    try:
        size = p.stat().st_size
        _size_limit(size, max_bytes)
        raw = p.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if p.suffix.lower() in (".html", ".htm", ".xhtml"):
        ex = extract_bounded(raw, None, None, "html", limits or Limits())
        require_letters(ex.text)
        article = Article.extracted(ex, source=str(p), status="full")
        article.kind = "html"
        return article
    if p.suffix.lower() in (".txt", ".text", "") and not starts_as_pdf(raw) and \
            (is_text_with_bom(raw) or b"\x00" not in raw[:1024]):
        text = decode(raw, "text/plain")
        if looks_binary(text):
            raise BrokenDocument(f"{p.name} holds binary data, not text", detail_ar=f"{p.name} بيانات ثنائية لا نص")
        return from_text(text, str(p), min_chars=min_chars)
    return read_file_bytes(raw, p.name, None, source=str(p), min_chars=min_chars, max_bytes=max_bytes,
                           limits=doc_limits or DocLimits())
