"""Documents and screenshots made from the real articles in tests/data, for tests and the bench.

Nothing here is committed output: each file is rendered from an article's text, so the text is
the ground truth the extraction is scored against.

- PDFs (fpdf2, DejaVu Sans): English as is; Arabic as a word processor without a shaping engine
  writes it, the letters shaped into presentation forms (arabic-reshaper) and each line drawn in
  visual order (python-bidi), which is what text extraction then reads back.
- A scanned PDF: a page image without a text layer.
- Screenshots (Pillow with libraqm shaping; Noto Naskh Arabic with DejaVu Sans as the fallback
  for what it lacks, as phones do): a phone screen 1080 px wide, light or dark, and a news card
  (white title and text on a coloured panel).
- DOCX: the smallest valid WordprocessingML package, and a zip bomb.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bot.engine.article import readable
from bot.engine.normalize import detect_language, normalize

DATA = Path(__file__).resolve().parents[1] / "data"
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
DEJAVU_BOLD = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
NASKH = Path("/usr/share/fonts/truetype/noto/NotoNaskhArabic-Regular.ttf")
NASKH_BOLD = Path("/usr/share/fonts/truetype/noto/NotoNaskhArabic-Bold.ttf")
MAX_CHARS = 2400  # about a page each: the bench stays quick and every article still has paragraphs


@dataclass(frozen=True)
class Source:
    name: str
    language: str
    title: str
    text: str


def _cut(text: str) -> str:
    if len(text) <= MAX_CHARS:
        return text
    paras, out = text.split("\n"), ""
    for para in paras:
        if out and len(out) + len(para) > MAX_CHARS:
            break
        out = f"{out}\n{para}" if out else para
    return out if out else text[:MAX_CHARS].rsplit(" ", 1)[0]


def sources(language: str) -> list[Source]:
    """The real articles of one language in tests/data (Arabic: ANT + CNN Arabic; English: FRANK,
    CNN and the extraction benchmark's English gold texts)."""
    found: list[Source] = []
    if language == "ar":
        for path in sorted((DATA / "articles" / "ar").glob("*.txt")):
            text, meta = readable(path.read_text(encoding="utf-8"))
            found.append(Source(path.stem, "ar", meta.get("title") or "", _cut(text)))
        text = (DATA / "html" / "txt__arabic_article.txt").read_text(encoding="utf-8")
        found.append(Source("cnn-arabic", "ar", "", _cut(readable(text)[0])))
        return found
    for path in sorted((DATA / "articles" / "en").glob("*.article.txt")):
        found.append(Source(path.name.split(".")[0], "en", "", _cut(readable(path.read_text(encoding="utf-8"))[0])))
    found.append(Source("cnn", "en", "", _cut(readable((DATA / "html" / "txt__cnn_article.txt").read_text())[0])))
    for path in sorted((DATA / "html").glob("*.gold.json")):
        for gold in json.loads(path.read_text(encoding="utf-8")).values():  # {page hash: gold}
            body = gold.get("articleBody") or ""
            latin = sum(ch.isascii() for ch in body)
            if len(body) > 800 and latin > 0.97 * len(body) and detect_language(body) == "en":
                found.append(Source(path.name[:12], "en", gold.get("headline") or "", _cut(readable(body)[0])))
    return found


# --- PDF -------------------------------------------------------------------------------------
def _wrap(text: str, width: float, measure: object) -> list[str]:
    """Greedy word wrap of one paragraph by a width function."""
    lines, cur = [], ""
    for word in text.split():
        trial = f"{cur} {word}" if cur else word
        if cur and measure(trial) > width:  # type: ignore[operator]
            lines.append(cur)
            cur = word
        else:
            cur = trial
    if cur:
        lines.append(cur)
    return lines


def pdf(source: Source, *, pages_of_text: bool = True) -> bytes:
    """A text-layer PDF of the article; Arabic in presentation forms and visual order."""
    import arabic_reshaper
    from bidi import get_display
    from fpdf import FPDF

    doc = FPDF(format="A4")
    doc.set_margins(20, 20, 20)
    doc.set_auto_page_break(True, 20)
    doc.add_font("DejaVu", "", str(DEJAVU))
    doc.add_page()
    doc.set_font("DejaVu", size=12)
    width = doc.w - 40
    rtl = source.language == "ar"
    reshaper = arabic_reshaper.ArabicReshaper({"delete_harakat": False})
    for para in source.text.split("\n"):
        if not para.strip():
            continue
        if rtl:
            for line in _wrap(para, width, lambda s: doc.get_string_width(reshaper.reshape(s))):
                visual = get_display(reshaper.reshape(line), base_dir="R")
                doc.cell(width, 7, visual, align="R", new_x="LMARGIN", new_y="NEXT")
        else:
            doc.multi_cell(width, 7, para, new_x="LMARGIN", new_y="NEXT")
        doc.ln(3)
    return bytes(doc.output())


def scanned_pdf(image_png: bytes) -> bytes:
    """A PDF whose page is only an image (a scan): no text layer."""
    from fpdf import FPDF

    doc = FPDF(format="A4")
    doc.add_page()
    doc.image(io.BytesIO(image_png), x=10, y=10, w=doc.w - 20)
    return bytes(doc.output())


# --- screenshots -----------------------------------------------------------------------------
_ARABIC_LETTER = re.compile(r"[\u0621-\u064A\u0660-\u0669\u0671-\u06D3]")
_LATIN_START = re.compile(r"^[\"'(«“]*[A-Za-z0-9]")
_TRAILING = re.compile(r"[.,،:؛!?)»”\"']+$")


class _Fonts:
    """A line of Arabic text drawn right to left with a fallback font, as a phone does: Noto Naskh
    Arabic has no Latin letters, quotes or brackets (Pillow would draw empty boxes for them), so
    those runs are drawn with DejaVu Sans; a run of Latin words reads left to right."""

    def __init__(self, size: int, bold: bool = False) -> None:
        from PIL import ImageFont

        naskh = NASKH_BOLD if bold else NASKH
        self.primary = ImageFont.truetype(str(naskh if naskh.exists() else DEJAVU), size)
        self.fallback = ImageFont.truetype(str(DEJAVU_BOLD if bold else DEJAVU), size)
        self._tofu = bytes(self.primary.getmask("\ue000"))
        self._covered: dict[str, bool] = {}

    def covers(self, ch: str) -> bool:
        if ch not in self._covered:
            self._covered[ch] = ch.isspace() or bytes(self.primary.getmask(ch)) != self._tofu
        return self._covered[ch]

    def _font(self, text: str) -> object:
        return self.primary if all(self.covers(c) for c in text) else self.fallback

    def _runs(self, word: str) -> list[str]:
        runs: list[str] = []
        for ch in word:
            if runs and self.covers(ch) == self.covers(runs[-1][-1]):
                runs[-1] += ch
            else:
                runs.append(ch)
        return runs

    def layout(self, line: str) -> list[tuple[str, object, str]]:
        """(text, font, direction) units from right to left."""
        units: list[tuple[str, object, str]] = []
        latin: list[str] = []

        def flush() -> None:
            if latin:
                text = " ".join(latin)
                units.extend([(text, self._font(text), "ltr"), (" ", self.primary, "rtl")])
                latin.clear()

        for word in line.split():
            if not _ARABIC_LETTER.search(word) and _LATIN_START.match(word):
                tail = _TRAILING.search(word)
                latin.append(word[:tail.start()] if tail else word)
                if tail:
                    flush()
                    units[-1:] = [(tail.group(), self._font(tail.group()), "rtl"), (" ", self.primary, "rtl")]
                continue
            flush()
            units += [(run, self._font(run), "rtl") for run in self._runs(word)] + [(" ", self.primary, "rtl")]
        flush()
        while units and units[-1][0] == " ":
            units.pop()
        return units

    def width(self, line: str) -> float:
        return sum(font.getlength(text, direction=d) for text, font, d in self.layout(line))  # type: ignore[attr-defined]

    def draw(self, draw: object, right: float, y: float, line: str, fill: str) -> None:
        x = right
        for text, font, d in self.layout(line):
            w = font.getlength(text, direction=d)  # type: ignore[attr-defined]
            draw.text((x - w, y), text, font=font, fill=fill, direction=d, anchor="la")  # type: ignore[attr-defined]
            x -= w


def screenshot(source: Source, *, style: str = "light", width: int = 1080, size: int = 34,
               max_chars: int = 900) -> bytes:
    """A phone screenshot (PNG) of the article's start: style 'light', 'dark' or 'card'."""
    from PIL import Image, ImageDraw, ImageFont

    rtl = source.language == "ar"
    margin = 48 if style != "card" else 90
    text = source.text[:max_chars].rsplit(" ", 1)[0] if len(source.text) > max_chars else source.text
    step = int(size * 1.75)
    if rtl:
        body, head = _Fonts(size), _Fonts(int(size * 1.2), bold=True)
        measure = {id(body): body.width, id(head): head.width}
    else:
        body_font = ImageFont.truetype(str(DEJAVU), size)
        head_font = ImageFont.truetype(str(DEJAVU_BOLD), int(size * 1.2))
    blocks: list[tuple[object, list[str]]] = []
    for fonts, para in ([((head if rtl else head_font), source.title)] if source.title else []) + \
            [((body if rtl else body_font), p) for p in text.split("\n")]:
        fit = measure[id(fonts)] if rtl else fonts.getlength  # type: ignore[attr-defined]
        blocks.append((fonts, _wrap(para, width - 2 * margin, fit)))
    height = 2 * margin + 160 + sum(len(lines) * step + step // 2 for _, lines in blocks)
    bg, fg = {"light": ("#ffffff", "#111111"), "dark": ("#17212b", "#f5f5f5"), "card": ("#0b3d6b", "#ffffff")}[style]
    image = Image.new("RGB", (width, max(height, 600)), "#f2f2f2" if style == "card" else bg)
    draw = ImageDraw.Draw(image)
    if style == "card":
        draw.rounded_rectangle((40, 40, width - 40, image.height - 40), radius=36, fill=bg)
    else:
        draw.rectangle((0, 0, width, 110), fill="#2b5278" if style == "dark" else "#517da2")  # the app's bar
    y = margin + 120
    for fonts, lines in blocks:
        for line in lines:
            if rtl:
                fonts.draw(draw, width - margin, y, line, fg)  # type: ignore[attr-defined]
            else:
                draw.text((margin, y), line, font=fonts, fill=fg)
            y += step
        y += step // 2
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def expected_screenshot_text(source: Source, *, max_chars: int = 900) -> str:
    """The text a screenshot made by `screenshot` shows (title and the article's start)."""
    text = source.text[:max_chars].rsplit(" ", 1)[0] if len(source.text) > max_chars else source.text
    return f"{source.title}\n{text}" if source.title else text


# --- DOCX ------------------------------------------------------------------------------------
_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_CONTENT_TYPES = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                  '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                  '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                  '<Default Extension="xml" ContentType="application/xml"/>'
                  '<Override PartName="/word/document.xml" ContentType="application/'
                  'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>')
_RELS = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
         '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
         '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
         'officeDocument" Target="word/document.xml"/></Relationships>')


def docx(source: Source) -> bytes:
    """A minimal DOCX: one paragraph (w:p) per paragraph of the article, the title first."""
    from xml.sax.saxutils import escape

    paras = ([source.title] if source.title else []) + [p for p in source.text.split("\n") if p.strip()]
    rtl = "<w:pPr><w:bidi/></w:pPr>" if source.language == "ar" else ""
    body = "".join(f'<w:p>{rtl}<w:r><w:t xml:space="preserve">{escape(p)}</w:t></w:r></w:p>' for p in paras)
    document = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="{_W}">'
                f"<w:body>{body}</w:body></w:document>")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", _CONTENT_TYPES)
        z.writestr("_rels/.rels", _RELS)
        z.writestr("word/document.xml", document)
    return out.getvalue()


def docx_bomb(uncompressed: int = 200_000_000) -> bytes:
    """A DOCX whose document.xml inflates to `uncompressed` bytes (about 200 KB compressed per 200 MB)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", _CONTENT_TYPES)
        z.writestr("_rels/.rels", _RELS)
        with z.open("word/document.xml", "w", force_zip64=True) as f:
            f.write(f'<?xml version="1.0"?><w:document xmlns:w="{_W}"><w:body><w:p><w:r><w:t>'.encode())
            chunk = b"A" * 1_000_000
            for _ in range(uncompressed // len(chunk)):
                f.write(chunk)
            f.write(b"</w:t></w:r></w:p></w:body></w:document>")
    return out.getvalue()


def trigram_f1(got: str, want: str) -> float:
    """F1 over character trigrams after the quote check's normalisation: how much of an article a reader got."""
    a, b = normalize(got), normalize(want)
    ga, gb = Counter(a[i:i + 3] for i in range(len(a) - 2)), Counter(b[i:i + 3] for i in range(len(b) - 2))
    common = sum((ga & gb).values())
    if not common:
        return 0.0
    precision, recall = common / sum(ga.values()), common / sum(gb.values())
    return 2 * precision * recall / (precision + recall)
