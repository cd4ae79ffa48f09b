"""A loopback web server for fetch tests: real pages from tests/data plus hostile routes."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tests.fakes.server import LoopbackServer


class FakeWeb(LoopbackServer):
    def __init__(self, pages: Path) -> None:
        self.pages = pages
        self.hits: list[str] = []
        self.host_headers: list[str] = []
        self.accept_encodings: list[str] = []
        self.bytes_sent = 0
        self.routes: dict[str, tuple[int, str, bytes]] = {}  # path → (status, content type, body)
        self.headers: dict[str, dict[str, str]] = {}  # path → extra headers (Content-Encoding, ...)
        web = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, status: int, ctype: str, body: bytes, **headers: str) -> None:
                self.send_response(status)
                if ctype:
                    self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers.items():
                    self.send_header(k.replace("_", "-"), v)
                self.end_headers()
                self.wfile.write(body)
                web.bytes_sent += len(body)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                web.hits.append(parts.path)
                web.host_headers.append(self.headers.get("Host", ""))
                web.accept_encodings.append(self.headers.get("Accept-Encoding", ""))
                try:
                    self._route(parts.path, query)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _route(self, path: str, query: dict[str, str]) -> None:
                if path in web.routes:
                    status, ctype, body = web.routes[path]
                    self._reply(status, ctype, body, **web.headers.get(path, {}))
                elif path.startswith("/page/"):
                    name = path.removeprefix("/page/")
                    file = web.pages / name
                    if not file.is_file() or "/" in name:
                        self._reply(404, "text/html", b"<h1>not found</h1>")
                        return
                    self._reply(200, query.get("ctype", "text/html; charset=utf-8"), file.read_bytes())
                elif path == "/redirect":
                    self._reply(int(query.get("code", "302")), "text/html", b"", Location=query["to"])
                elif path == "/loop":
                    self._reply(302, "text/html", b"", Location="/loop")
                elif path.startswith("/status/"):
                    self._reply(int(path.rsplit("/", 1)[1]), "text/html", b"<p>nope</p>")
                elif path == "/endless":
                    # chunked, never-ending: the client must stop reading at its cap
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    chunk = b"<p>" + b"x" * 65536 + b"</p>"
                    deadline = time.monotonic() + 10
                    while time.monotonic() < deadline:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        web.bytes_sent += len(chunk)
                elif path == "/trickle":
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", "100000")
                    self.end_headers()
                    deadline = time.monotonic() + 10
                    while time.monotonic() < deadline:
                        self.wfile.write(b"<")
                        self.wfile.flush()
                        web.bytes_sent += 1
                        time.sleep(0.1)
                else:
                    self._reply(404, "text/html", b"<h1>not found</h1>")

        self._serve(Handler)
        # stop() waits for the serve loop to look up: every test that uses the web pays that once
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


