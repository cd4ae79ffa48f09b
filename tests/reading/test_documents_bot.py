"""Documents and photos through the real bot: downloaded with getFile from the Bot API server on
loopback, read in the worker (real pypdf, real Tesseract), briefed, quotes checked against the
recognised text; every bad file answered in both languages, and the next request still works."""

from __future__ import annotations

import io
import signal
from typing import Any

from bot.chat.app import NewsBot
from bot.engine.article import readable
from bot.ops.config import Settings
from tests.fakes import updates as U
from tests.fakes.botapi_server import FakeBotAPI
from tests.fakes.briefs import STORIES, story_reply
from tests.fakes.openai_server import FakeLLM
from tests.reading import material
from tests.reading.test_documents import png_header
from tests.telegram_harness import BRIEF_MARK, bot_process, until

UNVERIFIED = "unverified: evidence not found verbatim"


def story(name: str) -> material.Source:
    text = readable(STORIES[name]["article"])[0]
    return material.Source(name, "en", "", text)


def send_document(botapi: FakeBotAPI, chat_id: int, file_id: str, data: bytes, name: str, mime: str,
                  **extra: Any) -> dict[str, Any]:
    doc = {**botapi.add_file(file_id, data), "file_name": name, "mime_type": mime}
    msg = U.message(chat_id, document=doc, **extra)
    if "caption" not in extra:
        del msg["text"]
    botapi.push("message", msg)
    return msg


def send_photo(botapi: FakeBotAPI, chat_id: int, file_id: str, data: bytes) -> None:
    from PIL import Image

    width, height = Image.open(io.BytesIO(data)).size
    size = {**botapi.add_file(file_id, data), "width": width, "height": height}
    thumb = {"file_id": f"{file_id}-s", "file_unique_id": f"u-{file_id}-s", "width": 90, "height": 90}
    msg = U.message(chat_id, photo=[thumb, size])
    del msg["text"]
    botapi.push("message", msg)


async def test_a_pdf_and_a_screenshot_each_get_a_brief_with_verified_quotes(
        newsbot: NewsBot, botapi: FakeBotAPI, llm_server: FakeLLM) -> None:
    llm_server.default = story_reply
    send_document(botapi, 901, "pdf1", material.pdf(story("sudan")), "statement.pdf", "application/pdf",
                  caption="UN statement on Darfur")
    await until(lambda: BRIEF_MARK in botapi.visible_text(901), within=30)
    text = botapi.visible_text(901)
    assert STORIES["sudan"]["quote"] in text and UNVERIFIED not in text
    assert "OCR" not in text  # a text layer, not an image
    sent = llm_server.requests[-1]["messages"][-1]["content"]
    assert "UN statement on Darfur" in sent  # the caption is the title
    assert botapi.downloads == ["documents/pdf1"]

    send_photo(botapi, 902, "photo1", material.screenshot(story("ukraine"), width=1080))
    await until(lambda: BRIEF_MARK in botapi.visible_text(902), within=30)
    text = botapi.visible_text(902)
    assert STORIES["ukraine"]["quote"] in text and UNVERIFIED not in text
    assert "Read from an image by OCR" in text and "التعرّف الضوئي" in text


async def test_every_bad_file_is_answered_and_the_next_request_works(
        newsbot: NewsBot, botapi: FakeBotAPI, llm_server: FakeLLM) -> None:
    from PIL import Image
    from pypdf import PdfReader, PdfWriter

    llm_server.default = story_reply
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(material.pdf(story("sudan")))))
    writer.encrypt(user_password="secret", owner_password="owner")
    locked = io.BytesIO()
    writer.write(locked)
    blank = io.BytesIO()
    Image.new("RGB", (800, 600), "#87ceeb").save(blank, "PNG")
    cases = [
        ("locked", locked.getvalue(), "locked.pdf", "application/pdf", "encrypted"),
        ("broken", b"%PDF-1.7\n" + b"\x00garbage" * 50, "broken.pdf", "application/pdf", "damaged"),
        ("bomb", material.docx_bomb(60_000_000), "bomb.docx",
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "zip bomb"),
        ("huge", png_header(30_000, 30_000), "huge.png", "image/png", "too many pixels"),
        ("blank", blank.getvalue(), "sky.png", "image/png", "no readable text"),
        ("exe", b"MZ\x90\x00" + b"\x00" * 200, "setup.exe", "application/octet-stream", "do not read this kind"),
    ]
    for n, (file_id, data, name, mime, _) in enumerate(cases):
        send_document(botapi, 910 + n, file_id, data, name, mime)
    too_big = {"file_id": "big", "file_unique_id": "u-big", "file_size": 25_000_000, "file_name": "big.pdf",
               "mime_type": "application/pdf"}
    msg = U.message(920, document=too_big)
    del msg["text"]
    botapi.push("message", msg)
    for n, (_, _, _, _, words) in enumerate(cases):
        await until(lambda n=n, words=words: words in botapi.visible_text(910 + n), within=30)
        assert "⚠️" in botapi.visible_text(910 + n)
    await until(lambda: "larger than the allowed limit" in botapi.visible_text(920))
    assert "أكبر من الحد المسموح" in botapi.visible_text(920)
    assert "25٫0 ميغابايت" in botapi.visible_text(920) and "25.0 MB" in botapi.visible_text(920)
    assert "big" not in [d.split("/")[-1] for d in botapi.downloads]  # refused before any download
    assert llm_server.calls == 0

    send_document(botapi, 910, "good", material.pdf(story("sudan")), "statement.pdf", "application/pdf")
    await until(lambda: BRIEF_MARK in botapi.visible_text(910), within=30)
    assert STORIES["sudan"]["quote"] in botapi.visible_text(910)


async def test_a_document_survives_a_crash_its_file_is_downloaded_again(bot_settings: Settings, botapi: FakeBotAPI,
                                                                         llm_server: FakeLLM) -> None:
    """The request holds the file's id, not its bytes: the process that takes it over downloads it."""
    llm_server.default = story_reply
    llm_server.delay = 30  # the first process never gets its answer
    first = bot_process(bot_settings, llm_server)
    try:
        send_document(botapi, 930, "crash", material.pdf(story("sudan")), "statement.pdf", "application/pdf")
        await until(lambda: llm_server.in_flight == 1, within=30)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    llm_server.delay = 0
    second = bot_process(bot_settings, llm_server)
    try:
        await until(lambda: BRIEF_MARK in botapi.visible_text(930), within=30)
    finally:
        second.terminate()
        assert second.wait(timeout=20) == 0
    assert STORIES["sudan"]["quote"] in botapi.visible_text(930)
    assert botapi.downloads == ["documents/crash", "documents/crash"]
