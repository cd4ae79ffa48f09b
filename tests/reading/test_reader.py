"""Input → Article: links through the safe fetcher, files, and what is not an article."""

from __future__ import annotations

import asyncio
import ipaddress
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.ops.config import Settings
from bot.ops.errors import (
    BrokenDocument,
    DocumentError,
    InputError,
    NotAnArticle,
    PageTooComplex,
    Paywalled,
    UnsupportedFile,
)
from bot.reading.fetch import Fetcher, Response
from bot.reading.reader import article_from_response, find_urls, read_file, read_url, telegram_post
from bot.reading.worker import pool
from tests.conftest import EXAMPLE_ARTICLE, TESTDATA
from tests.fakes.web_server import FakeWeb
from tests.reading import material


@pytest.fixture
async def fetcher(tmp_path: Path) -> AsyncIterator[Fetcher]:
    f = Fetcher(Settings(_env_file=None, data_dir=tmp_path),  # type: ignore[call-arg]
                allow_networks=[ipaddress.ip_network("127.0.0.1/32")])
    yield f
    await f.close()


async def test_real_page_becomes_an_article(web: FakeWeb, fetcher: Fetcher) -> None:
    a = await read_url(web.url("/page/html__arabic_article.html"), fetcher)
    assert a.title == "معارضون يسيطرون على مخازن للصواريخ بريف دمشق"
    assert a.language == "ar" and a.status == "full" and a.url and a.url.endswith("html__arabic_article.html")
    assert a.kind == "html" and not a.ocr


@pytest.mark.parametrize("language", ["ar", "en"])
async def test_a_link_to_a_pdf_is_read_as_the_pdf(web: FakeWeb, fetcher: Fetcher, language: str) -> None:
    """A statement published as a PDF reads as it would sent in the chat; the link stays its address."""
    source = material.sources(language)[0]
    web.routes["/statement"] = (200, "application/pdf", material.pdf(source))
    a = await read_url(web.url("/statement"), fetcher)
    assert a.kind == "pdf" and a.language == language and a.url and a.url.endswith("/statement")
    assert material.trigram_f1(a.text, source.text) > 0.9


@pytest.mark.parametrize("ctype", ["application/pdf", ""])
async def test_a_link_to_a_broken_pdf_says_so(web: FakeWeb, fetcher: Fetcher, ctype: str) -> None:
    web.routes["/broken"] = (200, ctype, b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj")
    with pytest.raises(BrokenDocument):
        await read_url(web.url("/broken"), fetcher)


@pytest.mark.parametrize("ctype", ["application/pdf", "binary/octet-stream"])
async def test_a_page_labelled_as_a_pdf_is_read_as_the_page(web: FakeWeb, fetcher: Fetcher, ctype: str) -> None:
    web.routes["/mislabelled"] = (200, ctype, (TESTDATA / "html" / "html__arabic_article.html").read_bytes())
    a = await read_url(web.url("/mislabelled"), fetcher)
    assert a.kind == "html" and a.title == "معارضون يسيطرون على مخازن للصواريخ بريف دمشق"


@pytest.mark.parametrize(("ctype", "body"), [
    ("image/png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
    ("video/mp4", b"\x00\x00\x00\x18ftypmp42"),
])
async def test_not_an_article(web: FakeWeb, fetcher: Fetcher, ctype: str, body: bytes) -> None:
    web.routes["/file"] = (200, ctype, body)
    with pytest.raises(NotAnArticle):
        await read_url(web.url("/file"), fetcher)


async def test_page_with_no_article(web: FakeWeb, fetcher: Fetcher) -> None:
    web.routes["/empty"] = (200, "text/html", b"<html><body><nav>Home | About</nav></body></html>")
    with pytest.raises(NotAnArticle):
        await read_url(web.url("/empty"), fetcher)


async def test_plain_text_and_xhtml_are_read(web: FakeWeb, fetcher: Fetcher) -> None:
    web.routes["/t.txt"] = (200, "text/plain; charset=utf-8", EXAMPLE_ARTICLE.read_bytes())
    a = await read_url(web.url("/t.txt"), fetcher)
    assert a.text.startswith("ضغوط دولية مكثفة") and a.status == "full"
    web.routes["/x"] = (200, "application/xhtml+xml", (TESTDATA / "html" / "bbc.com.52241221.html").read_bytes())
    assert "New York" in (await read_url(web.url("/x"), fetcher)).text


def paywalled_page(sentences: int) -> bytes:
    return ("<html><body><article><h1>Deal near</h1><p>" + "Officials said a deal was close. " * sentences +
            "</p><div class='paywall'>Subscribe to continue reading</div></article></body></html>").encode()


async def test_paywalled_body_is_flagged(web: FakeWeb, fetcher: Fetcher) -> None:
    web.routes["/pw"] = (200, "text/html", paywalled_page(20))
    assert (await read_url(web.url("/pw"), fetcher)).status == "paywalled"


async def test_paywall_teaser_is_refused(web: FakeWeb, fetcher: Fetcher) -> None:
    web.routes["/teaser"] = (200, "text/html", paywalled_page(5))
    with pytest.raises(Paywalled):
        await read_url(web.url("/teaser"), fetcher)


def test_telegram_post_links() -> None:
    assert telegram_post("https://t.me/some_channel/1234") == ("some_channel", "1234")
    assert telegram_post("https://t.me/s/some_channel/1234") == ("some_channel", "1234")
    assert telegram_post("https://t.me/some_channel") is None
    assert telegram_post("https://example.com/a/1") is None


def test_telegram_preview_page_is_read() -> None:
    page = """<html><body><div class="tgme_widget_message">
      <div class="tgme_widget_message_owner_name"><span>قناة الأخبار</span></div>
      <div class="tgme_widget_message_text js-message_text" dir="auto">عاجل: الوسطاء يضغطون لاستئناف المفاوضات<br/>
      وأفادت مصادر مطلعة بأن جولة جديدة ستعقد في القاهرة.</div></div></body></html>"""
    resp = Response(url="https://t.me/news_channel/77?embed=1", status=200, content_type="text/html",
                    body=page.encode(), fetched_at=time.time())
    a = article_from_response(resp, source="https://t.me/news_channel/77")
    assert a.outlet == "قناة الأخبار"
    assert a.text.splitlines()[0] == "عاجل: الوسطاء يضغطون لاستئناف المفاوضات"
    assert a.status == "full"  # a short post is a whole post, not a paywall


def test_find_urls() -> None:
    text = "اقرأ https://example.com/a?b=1، ثم (https://t.me/chan/5). Again: https://example.com/a?b=1"
    assert find_urls(text) == ["https://example.com/a?b=1", "https://t.me/chan/5"]


def test_files(tmp_path: Path) -> None:
    assert read_file(str(EXAMPLE_ARTICLE)).language == "ar"
    ant = read_file(str(TESTDATA / "articles" / "ar" / "JA-politic-36-20170124.txt"))
    assert ant.title == "الوضع في ليبيا أبرز محاور لقاء محمد الناصر بوزير خارجية مصر"
    assert "<TEXT>" not in ant.text and ant.outlet == "Jawhara FM"
    pdf = tmp_path / "a.txt"
    pdf.write_bytes(b"%PDF-1.5 binary")
    with pytest.raises(BrokenDocument):  # read as the PDF it is, whatever its name says
        read_file(str(pdf))
    with pytest.raises(InputError):
        read_file(str(tmp_path / "missing.txt"))


@pytest.mark.parametrize("name", ["noise.txt", "noise", "noise.md"])
def test_binary_data_is_not_read_as_text(tmp_path: Path, name: str) -> None:
    """A program or random bytes under a text name never reach the model as an 'article'."""
    noise = bytes(b for b in random.Random(7).randbytes(20_000) if b)  # no NUL: it passes for text at a glance
    path = tmp_path / name
    path.write_bytes(noise)
    with pytest.raises(DocumentError) as caught:
        read_file(str(path))
    assert "binary data" in str(caught.value)


@pytest.mark.parametrize(("name", "kind"), [("statement.pdf", "pdf"), ("photo.png", "image"), ("letter.docx", "docx")])
def test_a_file_whose_bytes_are_not_its_type_is_called_damaged(tmp_path: Path, name: str, kind: str) -> None:
    path = tmp_path / name
    path.write_bytes(random.Random(8).randbytes(2_000))
    with pytest.raises(BrokenDocument, match=f"not a valid {kind} file"):
        read_file(str(path))


@pytest.mark.parametrize(("name", "head", "what"), [("photo.png", b"GIF89a", "GIF"),
                                                    ("letter.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "old Office")])
def test_a_file_of_another_kind_is_named_for_what_it_is(tmp_path: Path, name: str, head: bytes, what: str) -> None:
    path = tmp_path / name
    path.write_bytes(head + bytes(500))
    with pytest.raises(UnsupportedFile, match=what):
        read_file(str(path))


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
@pytest.mark.parametrize("name", ["notes.txt", "notes.md", "notes"])
def test_a_utf16_text_file_is_read(tmp_path: Path, encoding: str, name: str) -> None:
    """What Windows Notepad saves as "Unicode": a byte-order mark, then NUL bytes all through."""
    text = EXAMPLE_ARTICLE.read_text(encoding="utf-8")
    path = tmp_path / name
    path.write_bytes((b"" if encoding == "utf-16" else b"\xfe\xff") + text.encode(encoding))
    article = read_file(str(path))
    assert article.language == "ar" and text.split()[5] in article.text


async def test_a_pdf_after_a_stray_line_is_read_when_its_type_says_pdf(web: FakeWeb, fetcher: Fetcher,
                                                                      tmp_path: Path) -> None:
    source = material.sources("en")[0]
    body = b"\xef\xbb\xbfnotice: undefined index\n" + material.pdf(source)  # a script's output before the file
    web.routes["/stray"] = (200, "application/pdf", body)
    assert (await read_url(web.url("/stray"), fetcher)).kind == "pdf"
    (tmp_path / "stray.pdf").write_bytes(body)
    assert read_file(str(tmp_path / "stray.pdf")).kind == "pdf"


# --- hostile pages: bounded extraction, off the event loop --------------------------------------
def tiny_paragraphs(n: int) -> bytes:
    return b"<html><head><title>t</title></head><body>" + b"<p>a</p>" * n + b"</body></html>"


async def test_page_of_120k_tiny_elements_is_too_complex(web: FakeWeb, fetcher: Fetcher, tmp_path: Path) -> None:
    """0.5 MB of 120,000 <p> would hold a worker for seconds: refused before parsing."""
    web.routes["/many"] = (200, "text/html", tiny_paragraphs(120_000))
    started = time.monotonic()
    with pytest.raises(PageTooComplex, match="120004 elements; EXTRACT_MAX_ELEMENTS is 50000") as caught:
        await read_url(web.url("/many"), fetcher)
    assert time.monotonic() - started < 3
    assert "too complex" in caught.value.en and "معقدة" in caught.value.ar
    page = tmp_path / "many.html"
    page.write_bytes(tiny_paragraphs(120_000))
    with pytest.raises(PageTooComplex):  # a local file takes the same path
        read_file(str(page))


async def test_slow_extraction_is_killed_while_the_loop_goes_on(web: FakeWeb, tmp_path: Path) -> None:
    """20,000 elements pass the cap but take trafilatura seconds: the worker is killed at
    EXTRACT_TIMEOUT_S, and meanwhile the event loop keeps serving other coroutines."""
    settings = Settings(_env_file=None, data_dir=tmp_path, extract_timeout_s=0.5)  # type: ignore[call-arg]
    f = Fetcher(settings, allow_networks=[ipaddress.ip_network("127.0.0.1/32")])
    web.routes["/slow"] = (200, "text/html", tiny_paragraphs(20_000))
    ticks: list[float] = []

    async def other_chat() -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(other_chat())
    try:
        started = time.monotonic()
        with pytest.raises(PageTooComplex, match=r"more than 0\.5 s"):
            await read_url(web.url("/slow"), f)
        ended = time.monotonic()
        assert ended - started < 2.5
        during = [t for t in ticks if started <= t <= ended]
        assert len(during) >= 10, len(during)  # 0 when extraction held the loop
        # the pool replaced the killed worker: the next page is read as usual
        assert (await read_url(web.url("/page/html__arabic_article.html"), f)).language == "ar"
    finally:
        ticker.cancel()
        await f.close()


async def test_workers_are_reused_between_pages(web: FakeWeb, fetcher: Fetcher) -> None:
    await read_url(web.url("/page/bbc.com.52241221.html"), fetcher)
    started = pool().started
    for name in ("html__arabic_article.html", "html__cnn_article.html"):
        await read_url(web.url(f"/page/{name}"), fetcher)
    assert pool().started == started


# --- charset lies -----------------------------------------------------------------------------------
ARABIC_PAGE = (TESTDATA / "html" / "html__arabic_article.html").read_bytes()
TITLE = "معارضون يسيطرون على مخازن للصواريخ بريف دمشق"


@pytest.mark.parametrize("declared", ["iso-8859-1", "windows-1252", "latin-1", "windows-1256"])
async def test_utf8_arabic_under_a_lying_header(web: FakeWeb, fetcher: Fetcher, declared: str) -> None:
    a = await read_url(web.url(f"/page/html__arabic_article.html?ctype=text/html;+charset={declared}"), fetcher)
    assert a.title == TITLE and a.language == "ar" and "أكدت جهات سورية معارضة" in a.text


@pytest.mark.parametrize("declared", ["windows-1256", "iso-8859-1"])
async def test_genuine_windows_1256_page(web: FakeWeb, fetcher: Fetcher, declared: str) -> None:
    """The same article in windows-1256: right when declared, and right when a server's Latin-1
    default lies about it."""
    body = ARABIC_PAGE.decode().encode("windows-1256", errors="xmlcharrefreplace")
    web.routes["/cp1256"] = (200, f"text/html; charset={declared}", body)
    a = await read_url(web.url("/cp1256"), fetcher)
    assert a.title == TITLE and a.language == "ar" and "أكدت جهات سورية معارضة" in a.text
