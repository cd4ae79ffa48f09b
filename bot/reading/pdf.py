"""PDF → text: the text layer (pdfminer.six), else the pages rendered (pdftoppm) and read by OCR.

pdfminer.six rather than pypdf: after the same `arabic_order.repair`, pypdf moves numbers to the
other end of their line in Arabic PDFs (bench/bench_documents.py; figures in docs/benchmarks.md).
Arabic comes out of either in presentation forms, often in visual order: `arabic_order.repair`
turns it into logical-order letters.
Blocking code, run in a worker process (bot.reading.worker) that is killed at its time limit.
"""

from __future__ import annotations

import io
import logging
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bot.ops.errors import BrokenDocument, NoTextFound
from bot.reading.arabic_order import repair

log = logging.getLogger(__name__)
logging.getLogger("pdfminer").setLevel(logging.ERROR)  # its warnings on odd files are ours to word

#: a text layer with fewer letters than this per page is a scan (page numbers, a stamp)
MIN_LETTERS_PER_PAGE = 40
_SENTENCE_END = (".", "!", "?", "؟", ":", '"', "”", "»", "'", ")")
OCR_DPI = 200  # enough for body text of 10 pt and up; more costs time without changing the text


@dataclass(frozen=True)
class PdfLimits:
    max_pages: int
    max_ocr_pages: int
    max_pixels: int
    deadline: float  # time.monotonic() by which the OCR of a scan must stop


def _letters(text: str) -> int:
    return sum(ch.isalpha() for ch in text)


_LINE_BREAK = re.compile(r"(?<!\n)\n(?!\n)")


def _paragraphs(text: str) -> str:
    """Text boxes (blank-line separated) → paragraphs. pdfminer makes a box of each line of body
    text set at 1.5 line spacing; a larger line margin than its default kept those together but
    moved parts of justified lines elsewhere.
    So boxes are joined here: one that follows a box not ending a sentence continues it."""
    out: list[str] = []
    for box in text.split("\n\n"):
        box = _LINE_BREAK.sub(" ", box).strip()
        if not box:
            continue
        if out and not out[-1].endswith(_SENTENCE_END):
            out[-1] = f"{out[-1]} {box}"
        else:
            out.append(box)
    return "\n\n".join(out)


def _tidy(text: str) -> str:
    """A page's text with runs of spaces and of blank lines made single (justified lines are
    extracted with a gap between every two words)."""
    text = re.sub(r"[ \t]+", " ", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def text_layer(data: bytes, max_pages: int) -> list[str]:
    """The text of each of the first `max_pages` pages; BrokenDocument when the file is encrypted
    (with a password to open it) or not a readable PDF."""
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LTTextContainer
    from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect

    pages: list[str] = []
    try:
        for page in extract_pages(io.BytesIO(data), maxpages=max_pages):
            pages.append("\n\n".join(el.get_text().strip() for el in page if isinstance(el, LTTextContainer)))
    except (PDFPasswordIncorrect, PDFEncryptionError) as exc:
        raise BrokenDocument("the PDF is encrypted", detail_ar="ملف PDF مشفّر") from exc
    except Exception as exc:  # pdfminer raises many kinds on damaged files
        raise BrokenDocument("not a readable PDF", detail_ar="ليس ملف PDF سليمًا") from exc
    if not pages:
        raise BrokenDocument("the PDF has no pages", detail_ar="ملف PDF بلا صفحات")
    # lines are put back in logical order one by one, then joined into paragraphs
    return [_paragraphs(repair(_tidy(text))) for text in pages]


def ocr_pages(data: bytes, pages: int, limits: PdfLimits) -> str:
    """A scan: each page rendered by pdftoppm (poppler) and read by OCR, up to max_ocr_pages."""
    from bot.reading.ocr import ocr_image, run_tool

    texts: list[str] = []
    with tempfile.TemporaryDirectory(prefix="newsbot-pdf-") as tmp:
        src = Path(tmp) / "in.pdf"
        src.write_bytes(data)
        for page in range(1, min(pages, limits.max_ocr_pages) + 1):
            if time.monotonic() >= limits.deadline:
                break
            out = Path(tmp) / f"p{page}"
            done = run_tool(["pdftoppm", "-r", str(OCR_DPI), "-gray", "-png", "-f", str(page), "-l", str(page),
                             "-singlefile", str(src), str(out)], deadline=limits.deadline)
            if done.returncode != 0 or not out.with_suffix(".png").exists():
                raise BrokenDocument(f"page {page} could not be rendered", detail_ar=f"تعذّر عرض الصفحة {page}")
            texts.append(ocr_image(out.with_suffix(".png").read_bytes(), max_pixels=limits.max_pixels,
                                   deadline=limits.deadline, page=True))
    text = "\n\n".join(t for t in texts if t.strip())
    if not _letters(text):
        raise NoTextFound("the PDF has no text layer and OCR found no text",
                          detail_ar="لا يحتوي ملف PDF على طبقة نص ولم يجد التعرّف الضوئي نصًا")
    return text


def read_pdf(data: bytes, limits: PdfLimits) -> tuple[str, bool]:
    """The PDF's text and whether it was read by OCR (a scan: next to no letters in its text layer)."""
    pages = text_layer(data, limits.max_pages)
    text = "\n\n".join(t for t in pages if t.strip())
    if _letters(text) >= max(1, MIN_LETTERS_PER_PAGE * len(pages) // 4):
        return text, False
    return ocr_pages(data, len(pages), limits), True
