"""Files → text: PDFs (Arabic in presentation forms and visual order), DOCX, Markdown, images by
real Tesseract OCR, and every kind of bad file, each refused with its own error."""

from __future__ import annotations

import io
import struct
import zlib

import pytest

from bot.engine.normalize import normalize
from bot.ops.errors import BrokenDocument, FileTooLarge, ImageTooLarge, NoTextFound, UnsupportedFile
from bot.reading.arabic_order import repair, visual_score
from bot.reading.documents import DocLimits, read_document, sniff
from bot.reading.reader import read_file
from tests.reading import material

LIMITS = DocLimits()


@pytest.fixture(scope="session")
def arabic() -> material.Source:
    return material.sources("ar")[0]


@pytest.fixture(scope="session")
def english() -> material.Source:
    return material.sources("en")[0]


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares `width` × `height` pixels (its one row of data would fail to decode)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00\xff")) + chunk(b"IEND", b"")


# --- Arabic order --------------------------------------------------------------------------------
def test_visual_order_presentation_forms_become_logical_letters() -> None:
    import arabic_reshaper
    from bidi import get_display

    line = "قال الوزير (في بيان) إن 25 شخصا قتلوا في BBC News"
    visual = get_display(arabic_reshaper.reshape(line), base_dir="R")
    assert visual != line and visual_score(visual) > 0
    assert repair(visual) == line


def test_logical_text_is_left_as_it_is_and_visual_letters_without_forms_are_detected() -> None:
    line = "قال الوزير إن الحكومة ستعقد اجتماعا مع الوفد"
    assert repair(line) == line
    reversed_letters = "\n".join(line[::-1] for line in [line, line])
    assert visual_score(reversed_letters) > 0
    assert repair(reversed_letters) == f"{line}\n{line}"


# --- PDF, DOCX, Markdown -------------------------------------------------------------------------
def test_arabic_pdf_from_a_word_processor_reads_as_the_article(arabic: material.Source) -> None:
    doc = read_document(material.pdf(arabic), "statement.pdf", "application/pdf", LIMITS)
    assert doc.kind == "pdf" and not doc.ocr and doc.language == "ar"
    assert not any("\ufb50" <= ch <= "\ufeff" for ch in doc.text)  # no presentation forms left
    assert material.trigram_f1(doc.text, arabic.text) >= 0.99
    first_words = " ".join(arabic.text.split()[:6])
    assert normalize(first_words) in normalize(doc.text)  # a quote from the article is found verbatim


def test_english_pdf_and_docx_and_markdown(english: material.Source, arabic: material.Source) -> None:
    doc = read_document(material.pdf(english), "a.pdf", None, LIMITS)
    assert material.trigram_f1(doc.text, english.text) >= 0.99
    doc = read_document(material.docx(arabic), "a.docx", None, LIMITS)
    assert doc.kind == "docx" and material.trigram_f1(doc.text, f"{arabic.title}\n{arabic.text}") >= 0.99
    md = f"# {english.title or 'Headline'}\n\n**{english.text[:300]}** [link](https://example.com/x)\n"
    doc = read_document(md.encode(), "note.md", "text/markdown", LIMITS)
    assert doc.kind == "markdown" and "**" not in doc.text and "https://example.com" not in doc.text


def test_scanned_pdf_is_read_by_ocr(english: material.Source) -> None:
    doc = read_document(material.scanned_pdf(material.screenshot(english)), "scan.pdf", None, LIMITS)
    assert doc.kind == "pdf" and doc.ocr
    assert material.trigram_f1(doc.text, material.expected_screenshot_text(english)) >= 0.97


# --- images --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("language", "style", "floor"), [("en", "dark", 0.99), ("ar", "card", 0.95)])
def test_screenshots_are_read_by_ocr(language: str, style: str, floor: float) -> None:
    source = material.sources(language)[1]
    doc = read_document(material.screenshot(source, style=style), "shot.png", "image/png", LIMITS)
    assert doc.kind == "image" and doc.ocr and doc.language == language
    assert material.trigram_f1(doc.text, material.expected_screenshot_text(source)) >= floor


def test_a_telegram_photo_jpeg_scaled_down_is_still_read(english: material.Source) -> None:
    from PIL import Image

    shot = Image.open(io.BytesIO(material.screenshot(english)))
    small = shot.resize((shot.width * 1280 // shot.height, 1280) if shot.height > shot.width else (640, 640 * shot.height // shot.width))
    out = io.BytesIO()
    small.convert("RGB").save(out, "JPEG", quality=87)
    doc = read_document(out.getvalue(), None, None, LIMITS)  # a photo: no name, no MIME type
    assert doc.ocr and material.trigram_f1(doc.text, material.expected_screenshot_text(english)) >= 0.9


# --- bad files -----------------------------------------------------------------------------------
def test_bad_files_each_get_their_own_error(english: material.Source) -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(material.pdf(english))))
    writer.encrypt(user_password="secret", owner_password="owner")
    encrypted = io.BytesIO()
    writer.write(encrypted)
    with pytest.raises(BrokenDocument, match="encrypted"):
        read_document(encrypted.getvalue(), "locked.pdf", None, LIMITS)
    with pytest.raises(BrokenDocument):
        read_document(b"%PDF-1.7\n" + b"\x00garbage" * 100, "broken.pdf", None, LIMITS)
    with pytest.raises(BrokenDocument, match="zip bomb"):
        read_document(material.docx_bomb(60_000_000), "bomb.docx", None, LIMITS)
    with pytest.raises(ImageTooLarge, match="30000 × 30000"):
        read_document(png_header(30_000, 30_000), "huge.png", None, LIMITS)
    with pytest.raises(UnsupportedFile):
        read_document(b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 100, "setup.exe", "application/octet-stream", LIMITS)
    with pytest.raises(UnsupportedFile):
        sniff(b"PK\x03\x04rest", "photos.zip", "application/zip")


def test_an_image_without_text_says_so() -> None:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (900, 600), "#87ceeb")
    draw = ImageDraw.Draw(image)
    draw.ellipse((300, 150, 600, 450), fill="#ffd700")
    draw.rectangle((0, 480, 900, 600), fill="#228b22")
    out = io.BytesIO()
    image.save(out, "PNG")
    with pytest.raises(NoTextFound):
        read_document(out.getvalue(), "sunset.png", "image/png", LIMITS)


def test_cli_files_go_through_the_worker_with_the_size_limit(tmp_path, arabic: material.Source) -> None:
    path = tmp_path / "statement.pdf"
    path.write_bytes(material.pdf(arabic))
    article = read_file(str(path))
    assert article.kind == "pdf" and article.language == "ar" and not article.ocr
    assert material.trigram_f1(article.text, arabic.text) >= 0.99
    with pytest.raises(FileTooLarge) as refused:
        read_file(str(path), max_bytes=1000)
    assert refused.value.detail_ar.endswith("الحد 1٬000")  # digits grouped the Arabic way


def test_cli_extract_reads_a_pdf_and_a_bad_file_is_one_line_and_exit_code_6(
        tmp_path, capsys, monkeypatch, arabic: material.Source) -> None:
    from bot.ops.cli import main

    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    (tmp_path / "statement.pdf").write_bytes(material.pdf(arabic))
    assert main(["extract", "statement.pdf"]) == 0
    out = capsys.readouterr().out
    assert "kind: pdf" in out and normalize(arabic.text.split("\n")[0][:80]) in normalize(out)
    (tmp_path / "bomb.docx").write_bytes(material.docx_bomb(60_000_000))
    assert main(["extract", "bomb.docx"]) == 6
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "zip bomb" in err
    (tmp_path / "archive.zip").write_bytes(b"PK\x03\x04" + b"\x00" * 64)
    assert main(["extract", "archive.zip"]) == 6


def test_a_file_that_takes_too_long_is_stopped_and_the_next_one_is_read(english: material.Source) -> None:
    from bot.ops.errors import PageTooComplex
    from bot.reading.worker import read_document_bounded

    shot = material.screenshot(english)
    with pytest.raises(PageTooComplex, match="DOCUMENT_TIMEOUT_S"):
        read_document_bounded(shot, "shot.png", None, DocLimits(timeout_s=0.2))
    doc = read_document_bounded(material.pdf(english), "a.pdf", None, LIMITS)
    assert material.trigram_f1(doc.text, english.text) >= 0.99
