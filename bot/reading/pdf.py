"""PDF → text: the text layer (pypdf), else the pages rendered (pdftoppm) and read by OCR.

pypdf was chosen over pdfminer.six by bench/bench_documents.py (both after `arabic_order.repair`;
figures in docs/benchmarks.md). Arabic comes out of either in presentation forms, often in
visual order: `arabic_order.repair` turns it into logical-order letters.
Blocking code, run in a worker process (bot.reading.worker) that is killed at its time limit.
"""

from __future__ import annotations

import io
import logging
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bot.ops.errors import BrokenDocument, NoTextFound
from bot.reading.arabic_order import repair

log = logging.getLogger(__name__)
logging.getLogger("pypdf").setLevel(logging.CRITICAL)  # its warnings on odd files are ours to word

#: a text layer with fewer letters than this per page is a scan (page numbers, a stamp)
MIN_LETTERS_PER_PAGE = 40
OCR_DPI = 200  # enough for body text of 10 pt and up; more costs time without changing the text


@dataclass(frozen=True)
class PdfLimits:
    max_pages: int
    max_ocr_pages: int
    max_pixels: int
    deadline: float  # time.monotonic() by which the OCR of a scan must stop


def _letters(text: str) -> int:
    return sum(ch.isalpha() for ch in text)


def _tidy(text: str) -> str:
    """A page's text with runs of spaces and of blank lines made single (justified lines are
    extracted with a gap between every two words)."""
    text = re.sub(r"[ \t]+", " ", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def text_layer(data: bytes, max_pages: int) -> tuple[str, int]:
    """The text of the first `max_pages` pages and the number of pages; BrokenDocument when the
    file is encrypted or not a readable PDF."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            # an owner password only (no user password) opens with the empty one
            try:
                if not reader.decrypt(""):
                    raise BrokenDocument("the PDF is encrypted", detail_ar="ملف PDF مشفّر")
            except (NotImplementedError, PdfReadError) as exc:
                raise BrokenDocument("the PDF is encrypted", detail_ar="ملف PDF مشفّر") from exc
        pages = len(reader.pages)
        texts = [reader.pages[i].extract_text() or "" for i in range(min(pages, max_pages))]
    except BrokenDocument:
        raise
    except Exception as exc:  # pypdf raises many kinds on damaged files
        raise BrokenDocument(f"not a readable PDF ({type(exc).__name__})",
                             detail_ar="ليس ملف PDF سليمًا") from exc
    return "\n\n".join(repair(_tidy(t)) for t in texts), pages


def ocr_pages(data: bytes, pages: int, limits: PdfLimits) -> str:
    """A scan: each page rendered by pdftoppm (poppler) and read by OCR, up to max_ocr_pages."""
    from bot.reading.ocr import ocr_image

    texts: list[str] = []
    with tempfile.TemporaryDirectory(prefix="newsbot-pdf-") as tmp:
        src = Path(tmp) / "in.pdf"
        src.write_bytes(data)
        for page in range(1, min(pages, limits.max_ocr_pages) + 1):
            left = limits.deadline - time.monotonic()
            if left <= 0:
                break
            out = Path(tmp) / f"p{page}"
            try:
                subprocess.run(["pdftoppm", "-r", str(OCR_DPI), "-gray", "-png", "-f", str(page), "-l", str(page),
                                "-singlefile", str(src), str(out)], check=True, capture_output=True, timeout=left)
            except (subprocess.SubprocessError, OSError) as exc:
                raise BrokenDocument(f"page {page} could not be rendered",
                                     detail_ar=f"تعذّر عرض الصفحة {page}") from exc
            texts.append(ocr_image(out.with_suffix(".png").read_bytes(), max_pixels=limits.max_pixels,
                                   deadline=limits.deadline, allow_empty=True))
    text = "\n\n".join(t for t in texts if t.strip())
    if not _letters(text):
        raise NoTextFound("the PDF has no text layer and OCR found no text",
                          detail_ar="لا يحتوي ملف PDF على طبقة نص ولم يجد التعرّف الضوئي نصًا")
    return text


def read_pdf(data: bytes, limits: PdfLimits) -> tuple[str, bool]:
    """The PDF's text and whether it was read by OCR (a scan)."""
    text, pages = text_layer(data, limits.max_pages)
    if _letters(text) >= MIN_LETTERS_PER_PAGE * min(pages, limits.max_pages) / 4 and _letters(text):
        return text, False
    return ocr_pages(data, pages, limits), True
