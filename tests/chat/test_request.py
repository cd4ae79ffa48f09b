"""`AiohttpRequest`: the real `telegram.Bot` over aiohttp, against loopback servers (the strict Bot API
stand-in, and one that holds its answers until a test releases them)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import traceback
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut

from bot.chat.request import AiohttpRequest, scrub
from tests.fakes.botapi_server import BOT_ID, FakeBotAPI
from tests.fakes.server import LoopbackServer
from tests.telegram_harness import until

TOKEN = "123456:TEST-token"


class HeldServer(LoopbackServer):
    """Answers getMe at once; every other call waits until `release` is set (or the test ends)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.received: list[str] = []
        self.paths: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                method = self.path.rsplit("/", 1)[-1]
                server.paths.append(self.path)
                server.received.append(method)
                if method == "getMe":
                    result: object = {"id": BOT_ID, "is_bot": True, "first_name": "News Brief", "username": "b"}
                else:
                    server.release.wait(30)
                    result = True
                body = json.dumps({"ok": True, "result": result}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._serve(Handler)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    def stop(self) -> None:
        self.release.set()
        super().stop()


@pytest.fixture
def held() -> Iterator[HeldServer]:
    server = HeldServer().start()
    yield server
    server.stop()


@pytest.fixture
async def bot(botapi: FakeBotAPI) -> AsyncIterator[Bot]:
    async with Bot(botapi.token, base_url=botapi.base_url, request=AiohttpRequest()) as b:
        yield b


def assert_no_token(exc: BaseException) -> None:
    """Neither in the message nor anywhere in the traceback Python would print for it."""
    printed = "".join(traceback.format_exception(exc))
    assert TOKEN not in printed and TOKEN.split(":")[1] not in printed


async def test_a_message_is_sent_and_its_answer_parsed(bot: Bot, botapi: FakeBotAPI) -> None:
    assert bot.username == botapi.calls[0].result["username"]  # getMe at initialize
    text = "<b>من يضغط على من</b> — who is pressuring whom &amp; why"
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("English", callback_data="v:en:7")]])
    msg = await bot.send_message(501, text, parse_mode="HTML", reply_markup=markup)
    assert msg.chat_id == 501 and msg.message_id >= 10_000 and msg.text == "من يضغط على من — who is pressuring whom & why"
    sent = botapi.sent(501)[0].params
    assert sent["text"] == text and sent["reply_markup"] == markup.to_dict()


async def test_a_document_arrives_with_its_bytes_and_name(bot: Bot, botapi: FakeBotAPI) -> None:
    data = json.dumps({"summary": "نص", "bytes": list(range(5))}, ensure_ascii=False).encode() + b"\x00\xff"
    msg = await bot.send_document(502, InputFile(data, filename="brief-7.json"), caption="<i>the brief</i>",
                                  parse_mode="HTML")
    assert msg.document is not None and msg.document.file_name == "brief-7.json"
    call = botapi.calls[-1]
    assert call.method == "sendDocument" and int(call.params["chat_id"]) == 502
    assert call.params["document"] == {"filename": "brief-7.json", "content": data}
    assert call.params["caption"] == "<i>the brief</i>"


async def test_429_becomes_retry_after(bot: Bot, botapi: FakeBotAPI) -> None:
    botapi.fail("sendMessage", 429, "Too Many Requests: retry after 3 (injected)", retry_after=3)
    with pytest.raises(RetryAfter, match="Retry in 3") as caught:
        await bot.send_message(503, "hello")
    assert_no_token(caught.value)
    assert (await bot.send_message(503, "hello")).text == "hello"  # the same connection pool goes on


async def test_a_refused_request_is_reported_as_telegram_says(bot: Bot, botapi: FakeBotAPI) -> None:
    with pytest.raises(BadRequest, match="Message text is empty"):
        await bot.send_message(504, " ")
    botapi.errors.clear()  # the rejection was the point


async def test_no_answer_within_read_timeout_is_timed_out(held: HeldServer) -> None:
    async with Bot(TOKEN, base_url=held.base_url, request=AiohttpRequest(read_timeout=0.3)) as b:
        with pytest.raises(TimedOut) as caught:
            await b.send_message(505, "hello")
        assert_no_token(caught.value)
        assert held.received == ["getMe", "sendMessage"]


async def test_a_timeout_passed_to_the_call_beats_the_default(held: HeldServer) -> None:
    async with Bot(TOKEN, base_url=held.base_url, request=AiohttpRequest(read_timeout=0.3)) as b:
        patient = asyncio.create_task(b.send_message(506, "hello", read_timeout=30))
        with pytest.raises(TimedOut):
            await b.send_message(506, "hello")  # the default, and it ran out: `patient` has waited as long
        assert not patient.done()
        held.release.set()
        assert await patient is True


async def test_a_full_pool_times_out_without_sending(held: HeldServer) -> None:
    request = AiohttpRequest(connection_pool_size=1, pool_timeout=0.2, read_timeout=30)
    async with Bot(TOKEN, base_url=held.base_url, request=request) as b:
        first = asyncio.create_task(b.send_message(507, "first"))
        await until(lambda: "sendMessage" in held.received)  # it holds the one connection
        with pytest.raises(TimedOut, match="Pool timeout") as caught:
            await b.send_message(507, "second")
        assert_no_token(caught.value)
        held.release.set()
        assert await first is True
        assert held.received == ["getMe", "sendMessage"]  # the second never left


async def test_a_refused_connection_is_a_network_error_not_a_timeout() -> None:
    with socket.socket() as sock:  # bound, not listening: the kernel refuses connections to it
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        b = Bot(TOKEN, base_url=f"http://127.0.0.1:{port}/bot", request=AiohttpRequest())
        with pytest.raises(NetworkError) as caught:
            await b.initialize()
        await b.shutdown()
    assert not isinstance(caught.value, TimedOut)
    # the reason is in the message; the cause is not chained, since aiohttp's messages may hold the URL
    assert "ClientConnectorError" in str(caught.value) and "Connect" in str(caught.value)
    assert caught.value.__cause__ is None
    assert_no_token(caught.value)
    assert_no_token(caught.value)


async def test_a_proxy_set_in_the_environment_is_used(held: HeldServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{held.port}")  # the lower-case name wins
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    async with Bot(TOKEN, base_url="http://api.telegram.invalid/bot", request=AiohttpRequest()) as b:
        assert b.username == "b"
    assert held.paths == [f"http://api.telegram.invalid/bot{TOKEN}/getMe"]  # a proxy's absolute-form request


def test_error_texts_lose_urls_and_token_paths() -> None:
    # aiohttp's own messages, as they come: "Connection timeout to host {url}" and friends
    text = scrub(f"Connection timeout to host http://127.0.0.1:8081/bot{TOKEN}/getMe; URL('https://x/bot{TOKEN}/a')")
    assert TOKEN not in text and "Connection timeout to host <url>" in text
    assert TOKEN not in scrub(f"at /file/bot{TOKEN}/documents/file_1.json")


async def test_calls_before_initialize_or_after_shutdown_fail_plainly() -> None:
    request = AiohttpRequest()
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request("http://127.0.0.1:1/bot/getMe", "POST")
    await request.initialize()
    await request.initialize()  # a retried Application.initialize() opens no second session
    await request.shutdown()
    await request.shutdown()
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request("http://127.0.0.1:1/bot/getMe", "POST")
