"""Documents and screenshots: extracted text scored against the source article, beside the plain tools.

Material is rendered from the real articles in tests/data (tests/reading/material.py): a text-layer
PDF per article (Arabic in presentation forms and visual order, as a word processor without a
shaping engine writes it) and a phone screenshot per article (light, dark, or a news card, in turn).
The score is F1 over character trigrams after bot.engine.normalize's normalisation (the quote
check's), against the text the file shows. Each reader runs over the whole set in a fresh process,
so its peak memory (its own, and its child processes' such as tesseract) is its own.

Readers: newsbot (bot/reading: pdfminer.six + Arabic order repair; OCR with preparation and a
script choice); pypdf + the same repair (the alternative text-layer reader); plain pdfminer.six;
plain `pdftotext`; plain `tesseract -l ara+eng` on the same image.

Run:  .venv/bin/python bench/bench_documents.py [--limit N] [--only pdf|image]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGETS = {("pdf", "ar"): 0.99, ("pdf", "en"): 0.99, ("image", "ar"): 0.97, ("image", "en"): 0.99}
STYLES = ("light", "card", "dark")


# --- readers (each: a path → text) ---------------------------------------------------------------
def newsbot(path: str) -> str:
    from bot.reading.documents import DocLimits, read_document

    return read_document(Path(path).read_bytes(), Path(path).name, None, DocLimits()).text


def pypdf_repaired(path: str) -> str:
    from pypdf import PdfReader

    from bot.reading.arabic_order import repair

    return repair("\n".join(page.extract_text() or "" for page in PdfReader(path).pages))


def pdfminer_plain(path: str) -> str:
    from pdfminer.high_level import extract_text

    return extract_text(path)


def pdftotext_plain(path: str) -> str:
    return subprocess.run(["pdftotext", "-enc", "UTF-8", path, "-"], capture_output=True, check=True,
                          text=True).stdout


def tesseract_plain(path: str) -> str:
    return subprocess.run(["tesseract", path, "stdout", "-l", "ara+eng"], capture_output=True, check=True,
                          text=True, env={"OMP_THREAD_LIMIT": "1", "PATH": "/usr/bin:/bin"}).stdout


READERS: dict[str, Callable[[str], str]] = {
    "newsbot": newsbot, "pypdf + repair": pypdf_repaired, "pdfminer.six (plain)": pdfminer_plain,
    "pdftotext (plain)": pdftotext_plain, "tesseract -l ara+eng (plain)": tesseract_plain,
}
FOR_KIND = {"pdf": ("newsbot", "pypdf + repair", "pdfminer.six (plain)", "pdftotext (plain)"),
            "image": ("newsbot", "tesseract -l ara+eng (plain)")}


def _run_reader(reader: str, items: list[tuple[str, str, str, int]], out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """In a fresh process: read every item, score it; report scores, seconds and peak memory."""
    from tests.reading.material import trigram_f1

    fn = READERS[reader]
    fn(items[0][0])  # imports and first-call costs are not counted against a page
    rows = []
    for path, want, language, pages in items:
        started = time.perf_counter()
        got = fn(path)
        rows.append((language, trigram_f1(got, want), (time.perf_counter() - started) / pages))
    # VmHWM: this process's own peak (ru_maxrss would carry the parent's, inherited through exec)
    status = Path("/proc/self/status").read_text()
    own = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # tesseract, pdftotext
    out.put((rows, own, children))


def measure(reader: str, items: list[tuple[str, str, str, int]]) -> tuple[list[tuple[str, float, float]], float, float]:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_run_reader, args=(reader, items, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result  # type: ignore[no-any-return]


def make_material(folder: Path, limit: int | None) -> dict[str, list[tuple[str, str, str, int]]]:
    from pypdf import PdfReader

    from tests.reading import material

    items: dict[str, list[tuple[str, str, str, int]]] = {"pdf": [], "image": []}
    for language in ("ar", "en"):
        sources = material.sources(language)[:limit]
        for n, source in enumerate(sources):
            pdf = folder / f"{language}-{source.name}.pdf"
            pdf.write_bytes(material.pdf(source))
            items["pdf"].append((str(pdf), source.text, language, len(PdfReader(pdf).pages)))
            png = folder / f"{language}-{source.name}.png"
            png.write_bytes(material.screenshot(source, style=STYLES[n % len(STYLES)]))
            items["image"].append((str(png), material.expected_screenshot_text(source), language, 1))
    return items


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--limit", type=int, default=None, help="articles per language (default: all)")
    p.add_argument("--only", choices=("pdf", "image"), help="PDFs or screenshots only (default: both)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-documents-") as tmp:
        items = make_material(Path(tmp), args.limit)
        for kind, label in (("pdf", "PDFs (text layer)"), ("image", "screenshots (OCR)")):
            if args.only not in (None, kind):
                continue
            counts = Counter(language for _, _, language, _ in items[kind])
            pages = sum(n for *_, n in items[kind])
            print(f"\n{label}: {counts['ar']} Arabic, {counts['en']} English, {pages} pages")
            print(f"{'reader':<30} {'ar F1 mean':>10} {'ar min':>7} {'en F1 mean':>10} {'en min':>7} "
                  f"{'s/page':>7} {'peak MiB (python / tools)':>26}")
            for reader in FOR_KIND[kind]:
                rows, own, children = measure(reader, items[kind])
                cells = []
                for language in ("ar", "en"):
                    scores = [f1 for lang, f1, _ in rows if lang == language]
                    mark = "✓" if statistics.mean(scores) >= TARGETS[(kind, language)] else "✗"
                    cells.append(f"{statistics.mean(scores):>9.4f}{mark if reader == 'newsbot' else ' '} "
                                 f"{min(scores):>7.4f}")
                per_page = statistics.mean(s for *_, s in rows)
                print(f"{reader:<30} {cells[0]} {cells[1]} {per_page:>7.3f} {own:>17.0f} / {children:>6.0f}")
            targets = ", ".join(f"{lang} ≥ {TARGETS[(kind, lang)]}" for lang in ("ar", "en"))
            print(f"targets (newsbot, mean F1): {targets}")


if __name__ == "__main__":
    main()
