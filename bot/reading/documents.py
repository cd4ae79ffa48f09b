"""A file's bytes → its text: PDF, DOCX, TXT, HTML and Markdown; PNG, JPEG and WebP by OCR.

The type is taken from the bytes first (a PDF, a zip, an image say what they are), then from the
name and the MIME type the sender gave. `read_document` is blocking and runs in a worker process
(bot.reading.worker) that is killed at DOCUMENT_TIMEOUT_S.
"""

from __future__ import annotations

import re
import time
import zipfile
from dataclasses import dataclass
from io import BytesIO
from typing import Literal

from bot.engine.normalize import detect_language
from bot.ops.config import Settings
from bot.ops.errors import BrokenDocument, NoTextFound, UnsupportedFile

DocKind = Literal["pdf", "docx", "image", "text", "markdown", "html"]

#: DOCX: the document part may inflate to this much, and at most this many times its packed size
DOCX_MAX_XML_BYTES = 50_000_000
DOCX_MAX_RATIO = 200
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")  # PNG, JPEG (WebP: RIFF....WEBP)
_EXTENSIONS: dict[str, DocKind] = {
    ".pdf": "pdf", ".docx": "docx", ".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown",
    ".html": "html", ".htm": "html", ".xhtml": "html", ".png": "image", ".jpg": "image", ".jpeg": "image",
    ".webp": "image",
}
_MIME: dict[str, DocKind] = {
    "application/pdf": "pdf", "text/plain": "text", "text/markdown": "markdown", "text/html": "html",
    "application/xhtml+xml": "html", "image/png": "image", "image/jpeg": "image", "image/webp": "image",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
}


@dataclass(frozen=True)
class DocLimits:
    """MAX_PDF_PAGES, MAX_OCR_PAGES, MAX_IMAGE_PIXELS and DOCUMENT_TIMEOUT_S (the settings' defaults)."""

    max_pdf_pages: int = Settings.model_fields["max_pdf_pages"].default
    max_ocr_pages: int = Settings.model_fields["max_ocr_pages"].default
    max_pixels: int = Settings.model_fields["max_image_pixels"].default
    timeout_s: float = Settings.model_fields["document_timeout_s"].default

    @classmethod
    def of(cls, settings: Settings) -> DocLimits:
        return cls(settings.max_pdf_pages, settings.max_ocr_pages, settings.max_image_pixels,
                   settings.document_timeout_s)


@dataclass
class DocumentText:
    text: str
    kind: DocKind
    ocr: bool = False  # read from an image (a photo, a screenshot, a scanned PDF)
    title: str | None = None
    language: str = ""


def kind_by_name(name: str | None, mime: str | None) -> DocKind | None:
    """The kind a file's name, else its MIME type, says; None when neither is one we read."""
    suffix = ("." + name.rsplit(".", 1)[-1].lower()) if name and "." in name else ""
    return _EXTENSIONS.get(suffix) or _MIME.get((mime or "").split(";")[0].strip().lower())


def starts_as_pdf(data: bytes, *, said_pdf: bool = False) -> bool:
    """A PDF's header, after blank bytes; when the name or type already says PDF, anywhere in the
    first 1,024 bytes, as the PDF format allows (a byte-order mark or a script's stray line before it)."""
    if said_pdf:
        return b"%PDF-" in data[:1024]
    return data[:1024].lstrip(b" \t\r\n\x00\x0c").startswith(b"%PDF-")


#: text with a byte-order mark: UTF-16 or UTF-32 (NUL bytes, yet text; `decode` reads it)
_TEXT_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf")
#: kinds of file we do not read, by their first bytes, for a clear answer whatever their name says
_FOREIGN_MAGIC = {b"GIF8": "GIF", b"\xd0\xcf\x11\xe0": "old Office (.doc, .xls)", b"\x1f\x8b": "gzip",
                  b"Rar!": "RAR", b"7z\xbc\xaf": "7z", b"ID3": "MP3", b"OggS": "Ogg"}


def is_text_with_bom(data: bytes) -> bool:
    return data.startswith(_TEXT_BOMS)


def sniff(data: bytes, name: str | None = None, mime: str | None = None) -> DocKind:
    """What kind of file this is; UnsupportedFile when it is none we read, BrokenDocument when its
    name says a kind we read and its bytes are no kind at all."""
    head = data[:16]
    kind = kind_by_name(name, mime)
    if starts_as_pdf(data, said_pdf=kind == "pdf"):
        return "pdf"
    if head.startswith(_IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return "image"
    if head.startswith(b"PK\x03\x04"):
        if kind == "docx":
            return "docx"
        raise UnsupportedFile(f"{name or 'the file'} is an archive", detail_ar="الملف أرشيف مضغوط")
    textual = is_text_with_bom(data) or b"\x00" not in data[:4096]
    if kind in ("text", "markdown", "html") and textual:
        return kind
    if kind is None and (is_text_with_bom(data) or (textual and _looks_text(data))):
        return "text"
    foreign = next((what for magic, what in _FOREIGN_MAGIC.items() if head.startswith(magic)), None)
    if foreign is None and (head[4:8] == b"ftyp"):
        foreign = "video or HEIC"
    if foreign is not None:
        raise UnsupportedFile(f"it is {foreign}", detail_ar=f"الملف من نوع {foreign}")
    label = (name.rsplit(".", 1)[-1] if name and "." in name else "") or mime
    if kind is not None:  # named as a kind we read, but its bytes are no kind we know
        raise BrokenDocument(f"it is not a valid {kind} file", detail_ar=f"ليس ملف {kind} سليمًا")
    if not label:
        raise UnsupportedFile("its type is not one I recognise", detail_ar="نوعه غير معروف")
    raise UnsupportedFile(f"{label} is not a type I read", detail_ar=f"النوع {label} غير مدعوم")


#: control characters a text file may hold (tab, line and page breaks)
_TEXT_CONTROLS = frozenset("\t\n\r\f\v")


def looks_binary(text: str) -> bool:
    """Decoded bytes that are not text: more than 1 % control or undecodable characters (a
    program, an image or random bytes decode to many; real text to none)."""
    odd = sum(1 for ch in text if ch == "\ufffd" or (ch < " " and ch not in _TEXT_CONTROLS) or "\x7f" <= ch <= "\x9f")
    return odd > max(8, len(text) // 100)


def _looks_text(data: bytes) -> bool:
    try:
        data[:4096].decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start > 4090  # a character cut at the end of the sample
    return True


# --- DOCX ------------------------------------------------------------------------------------
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _docx_xml(data: bytes) -> bytes:
    """word/document.xml, read within DOCX_MAX_XML_BYTES and DOCX_MAX_RATIO whatever the zip's
    directory claims (a zip bomb's sizes can lie: the bytes are counted as they inflate)."""
    try:
        archive = zipfile.ZipFile(BytesIO(data))
        info = archive.getinfo("word/document.xml")
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise BrokenDocument("not a readable DOCX", detail_ar="ليس ملف DOCX سليمًا") from exc
    limit = min(DOCX_MAX_XML_BYTES, max(1_000_000, info.compress_size * DOCX_MAX_RATIO))
    bomb = BrokenDocument(f"its text would inflate beyond {limit:,} bytes (a zip bomb?)",
                          detail_ar="ينتفخ نصه إلى حجم مفرط (قنبلة ضغط؟)")
    if info.file_size > limit:
        raise bomb
    out = bytearray()
    try:
        with archive.open(info) as part:
            while chunk := part.read(1 << 16):
                out += chunk
                if len(out) > limit:
                    raise bomb
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError) as exc:  # RuntimeError: encrypted entry
        raise BrokenDocument("the DOCX is damaged or encrypted", detail_ar="ملف DOCX تالف أو مشفّر") from exc
    return bytes(out)


def read_docx(data: bytes) -> str:
    """Paragraphs (w:p) of a DOCX's body, tables included, with tabs and line breaks."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(_docx_xml(data), parser)
    except etree.XMLSyntaxError as exc:
        raise BrokenDocument("the DOCX's text is not valid XML", detail_ar="نص ملف DOCX ليس XML صالحًا") from exc
    paragraphs = []
    for p in root.iter(f"{_W}p"):
        parts = []
        for node in p.iter(f"{_W}t", f"{_W}tab", f"{_W}br"):
            parts.append(node.text or "" if node.tag == f"{_W}t" else ("\t" if node.tag == f"{_W}tab" else "\n"))
        paragraphs.append("".join(parts))
    return "\n".join(paragraphs)


# --- text ------------------------------------------------------------------------------------
_MD_SYNTAX = re.compile(r"^\s{0,3}(?:#{1,6}\s+|>\s?|[-*+]\s+|\d+[.)]\s+)|!?\[([^\]]*)\]\([^)]*\)|[*_`]{1,3}", re.M)


def strip_markdown(text: str) -> str:
    """Markdown → its words: heading marks, quote marks, list bullets, emphasis and link targets go."""
    return _MD_SYNTAX.sub(lambda m: m.group(1) or "", text)


# --- one document ----------------------------------------------------------------------------
def read_document(data: bytes, name: str | None, mime: str | None, limits: DocLimits) -> DocumentText:
    """A file → its text (blocking; in a worker). Raises a DocumentError for what cannot be read."""
    from bot.reading.extract import decode, extract_html

    deadline = time.monotonic() + limits.timeout_s
    kind = sniff(data, name, mime)
    ocr = False
    title = None
    if kind == "pdf":
        from bot.reading.pdf import PdfLimits, read_pdf

        text, ocr = read_pdf(data, PdfLimits(limits.max_pdf_pages, limits.max_ocr_pages, limits.max_pixels, deadline))
    elif kind == "image":
        from bot.reading.ocr import ocr_image

        text, ocr = ocr_image(data, max_pixels=limits.max_pixels, deadline=deadline), True
    elif kind == "docx":
        text = read_docx(data)
    elif kind == "html":
        ex = extract_html(decode(data, mime), None)
        text, title = ex.text, ex.title
    else:
        text = decode(data, "text/plain")
        if looks_binary(text):
            raise BrokenDocument("it holds binary data, not text", detail_ar="يحتوي بيانات ثنائية لا نصًا")
        if kind == "markdown":
            text = strip_markdown(text)
    if not any(ch.isalpha() for ch in text):
        raise NoTextFound(f"the {kind} has no text", detail_ar="لا يحتوي الملف على نص")
    return DocumentText(text=text, kind=kind, ocr=ocr, title=title, language=detect_language(text))
