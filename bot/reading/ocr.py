"""Images → text with Tesseract (Arabic and English), after the preparation screenshots need.

Preparation (Pillow): transparency flattened onto white; light text on a dark background (dark
mode, a news card's panel) inverted so that the text is dark; levels set so that the background is
white; narrow images (a Telegram photo is
at most 1,280 px on its long side, so a phone screenshot arrives about 580 px wide) scaled up
so that body text has the height Tesseract reads best; an image without a flat background (a
photo of a page, a gradient card) binarised at Otsu's threshold. A flat-background screenshot
keeps its anti-aliased text: binarising it, or scaling up an image already about 1,080 px wide,
lost letters (bench/bench_documents.py; figures in docs/benchmarks.md).

Recognition: the script is read from a band of the image with `ara+eng`; mostly Arabic text is
then read with `ara` alone, other text with `ara+eng`. The combined model takes Arabic words for
Latin garbage, so `ara` alone reads Arabic screenshots better (bench/bench_documents.py). The
image's size is checked from its header before it is decoded.
Blocking code, run in a worker process (bot.reading.worker) that is killed at its time limit;
Tesseract itself gets the time left, so that it never outlives the worker.
"""

from __future__ import annotations

import ctypes
import io
import os
import re
import signal
import subprocess
import time

from bot.ops.errors import BrokenDocument, ImageTooLarge, NoTextFound, PageTooComplex
from bot.render.texts import number

#: narrower images are scaled up to this width (phone screens are 720-1440 px wide; Telegram's
#: photos of them about 580-720 px)
TARGET_WIDTH = 1000
MAX_SCALE = 3.0
#: a background (the commonest grey) covering less of the image than this is not flat: binarise
FLAT_BACKGROUND = 0.4
#: the script is read from a band this tall (prepared pixels, 6-7 lines of body text) across the
#: middle of a taller image
SCRIPT_BAND = 400
#: fewer letters than this is not text (a photo, a logo, noise)
MIN_LETTERS = 20
#: a mostly Arabic first reading is read again with Arabic alone
ARABIC_SHARE = 0.6
_ARABIC = re.compile(r"[\u0600-\u06FF]")
_LATIN = re.compile(r"[A-Za-z]")


def _otsu(histogram: list[int]) -> int:
    """Otsu's threshold of a 256-bin grey histogram: the split with the largest between-class variance."""
    total = sum(histogram)
    weighted = sum(i * n for i, n in enumerate(histogram))
    best, threshold, below, below_weighted = -1.0, 128, 0, 0
    for i, n in enumerate(histogram):
        below += n
        if below == 0:
            continue
        above = total - below
        if above == 0:
            break
        below_weighted += i * n
        mean_below = below_weighted / below
        mean_above = (weighted - below_weighted) / above
        between = below * above * (mean_below - mean_above) ** 2
        if between > best:
            best, threshold = between, i
    return threshold


def prepare(data: bytes, max_pixels: int) -> bytes:
    """Image bytes → a grey, upright, dark-on-light, scaled and binarised PNG for Tesseract."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = None  # Pillow's own bomb check: replaced by max_pixels, below
    try:
        image = Image.open(io.BytesIO(data))
        width, height = image.size  # from the header: nothing decoded yet
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise BrokenDocument("not a readable image", detail_ar="ليست صورة سليمة") from exc
    if width * height > max_pixels:
        raise ImageTooLarge(f"{width} × {height} pixels; MAX_IMAGE_PIXELS is {max_pixels:,}",
                            detail_ar=f"{width} × {height} بكسل؛ الحد {number(max_pixels, 'ar')}")
    try:
        image = ImageOps.exif_transpose(image)
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            rgba = image.convert("RGBA")
            flat = Image.new("RGBA", rgba.size, "white")
            flat.alpha_composite(rgba)
            image = flat
        grey = image.convert("L")
    except (OSError, ValueError, SyntaxError) as exc:
        raise BrokenDocument("the image is damaged", detail_ar="الصورة تالفة") from exc
    histogram = grey.histogram()
    background = max(range(256), key=histogram.__getitem__)  # the commonest grey is the background
    flat = histogram[background] >= FLAT_BACKGROUND * grey.width * grey.height
    if background < 128:
        grey = ImageOps.invert(grey)
        background = 255 - background
    # levels: the background becomes white, text keeps its anti-aliased edges (on a grey background
    # Tesseract lost a bold title on a dark screen)
    grey = grey.point(lambda v: min(255, round(v * 255 / max(background, 1))))
    scale = min(MAX_SCALE, TARGET_WIDTH / grey.width)
    if scale > 1.15 and grey.width * grey.height * scale * scale <= max_pixels:
        grey = grey.resize((round(grey.width * scale), round(grey.height * scale)), Image.Resampling.LANCZOS)
    if not flat:
        cut = _otsu(grey.histogram())
        grey = grey.point(lambda v: 255 if v > cut else 0)
    out = io.BytesIO()
    grey.save(out, "PNG")
    return out.getvalue()


def _band(png: bytes) -> bytes:
    """A horizontal band across the middle of a tall prepared image (enough lines to tell the script)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png))
    if image.height <= SCRIPT_BAND * 1.5:
        return png
    top = (image.height - SCRIPT_BAND) // 2
    out = io.BytesIO()
    image.crop((0, top, image.width, top + SCRIPT_BAND)).save(out, "PNG")
    return out.getvalue()


_PRCTL = ctypes.CDLL(None, use_errno=True).prctl  # looked up here, not in the forked child


def _die_with_parent() -> None:
    """In the child, before exec: killed when the worker is (PR_SET_PDEATHSIG), so that a worker
    killed at its time limit leaves no tesseract or pdftoppm running."""
    _PRCTL(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def run_tool(cmd: list[str], *, deadline: float, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """A tool (tesseract, pdftoppm) with the time left before `deadline`, on one core, dying with us."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise PageTooComplex("no time was left to read it", detail_ar="لم يبقَ وقت لقراءته")
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}  # one core: other work shares the machine
    try:
        return subprocess.run(cmd, input=stdin, capture_output=True, timeout=left, env=env, check=False,
                              preexec_fn=_die_with_parent)  # the worker process has a single thread
    except subprocess.TimeoutExpired as exc:
        raise PageTooComplex("reading it took too long", detail_ar="استغرقت قراءته وقتًا طويلًا") from exc
    except OSError as exc:  # not installed: the operator's problem, said plainly
        raise BrokenDocument(f"{cmd[0]} is not installed", detail_ar=f"البرنامج {cmd[0]} غير مثبّت") from exc


def tesseract(png: bytes, languages: str, deadline: float, psm: str = "6") -> str:
    """Tesseract on one prepared image; it gets the time left before `deadline`. Page segmentation
    6 (one block of text) suits a screenshot: automatic layout analysis (3) dropped short lines
    and titles; a scanned page keeps 3."""
    done = run_tool(["tesseract", "stdin", "stdout", "-l", languages, "--psm", psm], deadline=deadline, stdin=png)
    if done.returncode != 0:
        raise BrokenDocument("the image could not be read", detail_ar="تعذّرت قراءة الصورة")
    return done.stdout.decode("utf-8", errors="replace")


def _tidy(text: str) -> str:
    """Tesseract's output: form feeds and the bidi marks it puts around Latin words dropped,
    spaces made single, the lines of a paragraph joined (paragraphs are blank-line separated)."""
    text = text.replace("\f", "\n").replace("\u200e", "").replace("\u200f", "")
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r"(?<=\S)[ ]?\n(?=[ ]?\S)", " ", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def ocr_image(data: bytes, *, max_pixels: int, deadline: float, page: bool = False) -> str:
    """The text of an image (Arabic and English); NoTextFound when there is none. A `page` of a
    scanned PDF may be blank, and its layout (columns) is analysed."""
    png = prepare(data, max_pixels)
    band = _band(png)
    psm = "3" if page else "6"
    sample = _tidy(tesseract(band, "ara+eng", deadline, psm))
    arabic, latin = len(_ARABIC.findall(sample)), len(_LATIN.findall(sample))
    mostly_arabic = bool(arabic + latin) and arabic / (arabic + latin) >= ARABIC_SHARE
    if band is png and not mostly_arabic:
        text = sample
    else:
        text = _tidy(tesseract(png, "ara" if mostly_arabic else "ara+eng", deadline, psm))
    if sum(ch.isalpha() for ch in text) < MIN_LETTERS and not page:
        raise NoTextFound("OCR found no text in the image", detail_ar="لم يجد التعرّف الضوئي نصًا في الصورة")
    return text
