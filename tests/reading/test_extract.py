"""Main-text extraction from real news pages, scored against their gold text."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from bot.ops.errors import NotAnArticle
from bot.reading.extract import count_elements, decode, extract_html
from tests.conftest import TESTDATA

HTML = TESTDATA / "html"
# The bars sit a little below what extraction reaches on these pages, so that a regression, not
# noise, fails the suite.
MIN_F1_PAGE = 0.80
MIN_F1_MEAN = 0.93


def tokens(text: str) -> Counter[str]:
    return Counter(re.findall(r"\w+", text.lower()))


def f1(got: str, gold: str) -> float:
    a, b = tokens(got), tokens(gold)
    common = sum((a & b).values())
    if not common:
        return 0.0
    precision, recall = common / sum(a.values()), common / sum(b.values())
    return 2 * precision * recall / (precision + recall)


def gold_pages() -> list[tuple[str, Path, str]]:
    pages = []
    for gold in sorted(HTML.glob("*.gold.json")):
        body = next(iter(json.loads(gold.read_text()).values()))["articleBody"]
        pages.append((gold.name[:12], gold.with_name(gold.name.replace(".gold.json", ".html")), body))
    for name in ("arabic", "cnn"):
        pages.append((name, HTML / f"html__{name}_article.html", (HTML / f"txt__{name}_article.txt").read_text()))
    return pages


def test_extraction_f1_against_gold(capsys: pytest.CaptureFixture[str]) -> None:
    scores = {}
    for name, page, gold in gold_pages():
        scores[name] = f1(extract_html(decode(page.read_bytes())).text, gold)
    with capsys.disabled():
        print("\nextraction token F1: " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items())
              + f"; mean {sum(scores.values()) / len(scores):.3f}")
    assert len(scores) == 12
    assert min(scores.values()) >= MIN_F1_PAGE, scores
    assert sum(scores.values()) / len(scores) >= MIN_F1_MEAN


def test_arabic_page_metadata() -> None:
    ex = extract_html(decode((HTML / "html__arabic_article.html").read_bytes()))
    meta = json.loads((HTML / "metadata__arabic_article.json").read_text())
    assert ex.title == meta["title"]
    assert ex.language == "ar"
    assert "دمشق" in ex.text
    assert ex.published is None  # the page has no date: its footer's "© 2013" is not one


@pytest.mark.parametrize("name", ["bbc.com.52241221.html", "politico.com.retirement.html"])
def test_trafilatura_eval_pages(name: str) -> None:
    ev = next(iter(json.loads((HTML / f"{name}.evaldata.json").read_text()).values()))
    ex = extract_html(decode((HTML / name).read_bytes()))
    assert all(w in ex.text for w in ev["with"])
    assert not any(w in ex.text for w in ev.get("without", []))
    assert ex.published == ev["date"]


@pytest.mark.parametrize("encoding", ["windows-1256", "iso-8859-6"])
def test_arabic_legacy_charsets(encoding: str) -> None:
    text = "أكدت جهات سورية معارضة أن فصائل مسلحة سيطرت على مخازن للصواريخ في ريف دمشق. " * 6
    page = f"<html><head><title>خبر</title></head><body><article><p>{text}</p></article></body></html>"
    body = page.encode(encoding, errors="ignore")
    declared = decode(body, f"text/html; charset={encoding}")
    assert "فصائل مسلحة" in declared
    meta = f'<html><head><meta charset="{encoding}"></head>'.encode() + body[6:]
    assert "فصائل مسلحة" in decode(meta)
    if encoding == "windows-1256":  # undeclared: detection
        assert "فصائل مسلحة" in extract_html(decode(body)).text


def test_invalid_utf8_is_decoded_not_fatal() -> None:
    body = ("<html><body><article><p>" + "نص عربي صحيح في مقال طويل. " * 20 + "</p></article></body></html>").encode()
    broken = body[:200] + b"\xff\xfe\xc3" + body[200:]
    text = decode(broken, "text/html; charset=utf-8")
    assert "نص عربي صحيح" in text


def test_json_ld_article_body_is_weighed() -> None:
    body = "The foreign ministry said talks would resume in Doha next week. " * 12
    page = f"""<html><head><script type="application/ld+json">
      {{"@context":"https://schema.org","@type":"NewsArticle","headline":"Talks to resume",
        "articleBody":{json.dumps(body)},"publisher":{{"@type":"Organization","name":"Example News"}}}}
    </script></head><body><div id="app">Loading…</div><p>Subscribe</p></body></html>"""
    ex = extract_html(page)
    assert ex.text.startswith("The foreign ministry said") and ex.title == "Talks to resume"


def test_page_without_article() -> None:
    with pytest.raises(NotAnArticle):
        extract_html("<html><body><nav><a href='/'>Home</a></nav><p>Hello</p></body></html>")


# --- charset lies: the bytes win over a label that contradicts them ----------------------------------
def test_utf8_labelled_latin1_is_utf8() -> None:
    body = (HTML / "html__arabic_article.html").read_bytes()
    for label in ("iso-8859-1", "windows-1252", "windows-1256"):
        assert "معارضون يسيطرون" in decode(body, f"text/html; charset={label}")


def test_windows_1256_labelled_latin1_is_arabic() -> None:
    text = "أكدت جهات سورية معارضة أن فصائل مسلحة سيطرت على مخازن للصواريخ في ريف دمشق. " * 4
    page = f"<html><head><title>Syrie</title><script>var a = 'navigation';</script></head><body><p>{text}</p></body></html>"
    assert "فصائل مسلحة" in decode(page.encode("windows-1256"), "text/html; charset=iso-8859-1")


@pytest.mark.parametrize("label", ["iso-8859-1", "windows-1252"])
def test_real_latin1_stays_latin1(label: str) -> None:
    """French and German really in Latin-1 are not taken for Arabic (cp1256 and ISO-8859-6 map
    é, à, ü, ... to letters too)."""
    text = ("Le ministère a précisé que les négociations reprendraient à Doha. Für die Gespräche "
            "wären Vermittler aus Ägypten und Katar zuständig, hieß es. ") * 5
    page = f"<html><body><p>{text}</p></body></html>"
    assert text in decode(page.encode("latin-1"), f"text/html; charset={label}")


def test_element_count_is_taken_without_parsing() -> None:
    assert count_elements(b"<html><body><p>a</p><br/><!-- <x> --><p>b</p></body></html>") == 6
    assert count_elements(b"if (a < b && c <d) {}") == 1  # an upper bound is what the cap needs
