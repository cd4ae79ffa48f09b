"""A small OpenAI-compatible server on loopback, run in a thread, scripted per test.

Each request to /v1/chat/completions takes the next scripted `Reply` (or asks `default`),
so a test can say "429 twice, then the brief" and watch what the real openai client does.
A request with `"stream": true` gets the same reply as server-sent events (`data: {chunk}`
lines, then `data: [DONE]`), paced by the reply's chunk delay and stall, as a slow model would.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.server import LoopbackServer


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict → JSON; str → raw
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # before the headers (a queued or slow-to-start model)
    # --- streamed answers only ---
    chunk_chars: int = 32  # content characters per chunk (real servers send a token or a few: ~4)
    chunk_delay: float = 0.0  # between chunks: a model producing tokens at this pace
    stall_after: int | None = None  # after this many chunks the model hangs ...
    stall: float = 0.0  # ... for this long, then carries on
    drop_after: int | None = None  # after this many chunks the connection breaks (a crashed server or proxy)
    stream_usage: bool = True  # send the usage chunk when the client asks for it (some servers never do)
    sse: list[str] | None = None  # raw `data:` payloads instead of chunks made from `body`
    stream: bool = True  # False: one JSON body even when the client asks for a stream (older servers)
    # --- both ---
    echo_headers: bool = False  # append the request's headers to the error message (a careless proxy)


def completion(content: str | None, *, finish_reason: str = "stop", refusal: str | None = None,
               prompt_tokens: int = 1000, completion_tokens: int = 500, cached_tokens: int = 0,
               model: str = "fake-model", **stream: Any) -> Reply:
    """A chat completion; `stream` takes the streaming fields of `Reply` (chunk_delay, stall, ...)."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if refusal is not None:
        message["refusal"] = refusal
    return Reply(body={
        "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens,
                  "prompt_tokens_details": {"cached_tokens": cached_tokens}},
    }, **stream)


def error(status: int, message: str = "error", code: str | None = None, **headers: str) -> Reply:
    return Reply(status=status, body={"error": {"message": message, "type": "test", "code": code}},
                 headers={k.replace("_", "-"): v for k, v in headers.items()})


def chunks(body: Any, reply: Reply, include_usage: bool) -> list[dict[str, Any]]:
    """A completion body as the chunks a streaming server sends: role, content pieces, finish, usage."""
    body = body if isinstance(body, dict) else {}
    base = {"id": body.get("id", "chatcmpl-test"), "object": "chat.completion.chunk",
            "created": body.get("created", int(time.time())), "model": body.get("model", "fake-model")}
    out: list[dict[str, Any]] = []

    def delta(d: dict[str, Any], finish: str | None = None) -> None:
        out.append({**base, "choices": [{"index": 0, "delta": d, "finish_reason": finish}]})

    for choice in body.get("choices", []):
        message = choice.get("message", {})
        delta({"role": "assistant", "content": ""})
        content = message.get("content") or ""
        step = max(reply.chunk_chars, 1)
        for i in range(0, len(content), step):
            delta({"content": content[i:i + step]})
        if message.get("refusal"):
            delta({"refusal": message["refusal"]})
        delta({}, choice.get("finish_reason"))
    if include_usage and reply.stream_usage and body.get("usage"):
        out.append({**base, "choices": [], "usage": body["usage"]})
    return out


class FakeLLM(LoopbackServer):
    def __init__(self, default: Callable[[dict[str, Any]], Reply] | None = None) -> None:
        self.script: list[Reply] = []
        self.default = default
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.delay = 0.0  # added to every answer (slow-model tests)
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.hung_up = threading.Event()  # a client closed a stream before its end
        self.stream_ends: list[float] = []  # time.monotonic() when each stream's last byte was written
        self.released = threading.Event()  # set on stop: delays and stalls end at once
        self.answering = threading.Event()  # cleared: every call waits (held mid-request) until it is set
        self.answering.set()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _body(self, reply: Reply) -> str:
                body = reply.body
                if reply.echo_headers and isinstance(body, dict) and isinstance(body.get("error"), dict):
                    seen = ", ".join(f"{k}: {v}" for k, v in self.headers.items())
                    body = {**body, "error": {**body["error"], "message": f"{body['error']['message']} ({seen})"}}
                return body if isinstance(body, str) else json.dumps(body)

            def _send(self, reply: Reply) -> None:
                data = self._body(reply).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

            @staticmethod
            def _events(reply: Reply, payload: dict[str, Any]) -> list[str]:
                include_usage = bool((payload.get("stream_options") or {}).get("include_usage"))
                return reply.sse if reply.sse is not None else [
                    json.dumps(c) for c in chunks(reply.body, reply, include_usage)]

            def _stream(self, reply: Reply, events: list[str]) -> None:
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Transfer-Encoding", "chunked")
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    for n, event in enumerate([*events, "[DONE]"]):
                        if n and reply.chunk_delay:
                            fake.released.wait(reply.chunk_delay)
                        if reply.stall_after is not None and n == reply.stall_after:
                            fake.released.wait(reply.stall)
                        if reply.drop_after is not None and n == reply.drop_after:
                            self.close_connection = True
                            self.connection.shutdown(socket.SHUT_RDWR)
                            return
                        self._chunk(f"data: {event}\n\n".encode())
                    self._chunk(b"")  # end of the chunked body
                    fake.stream_ends.append(time.monotonic())
                except (BrokenPipeError, ConnectionResetError):
                    fake.hung_up.set()

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._send(Reply(body={"object": "list", "data": [{"id": "fake-model", "object": "model"}]}))
                else:
                    self._send(error(404, "not found"))

            def do_POST(self) -> None:
                arrived = time.monotonic()
                length = int(self.headers.get("Content-Length", 0))
                payload = json.loads(self.rfile.read(length) or b"{}")
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(error(404, "not found"))
                    return
                with fake.lock:
                    fake.requests.append(payload)
                    fake.headers.append({k.lower(): v for k, v in self.headers.items()})
                    reply = fake.script.pop(0) if fake.script else None
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                try:
                    fake.answering.wait()
                    if reply is None:
                        reply = fake.default(payload) if fake.default else error(500, "no scripted reply")
                    streamed = bool(payload.get("stream")) and reply.status == 200 and reply.stream
                    # the events are made before the model's time is up: with many answers due at the
                    # same moment, encoding them then would delay every stream (one interpreter lock)
                    events = self._events(reply, payload) if streamed else []
                    # the model's time counts from the request's arrival, as a provider's latency does:
                    # this server's own work (parsing, encoding), slow with many requests at once, is in it
                    if reply.delay + fake.delay:
                        fake.released.wait(max(0.0, arrived + reply.delay + fake.delay - time.monotonic()))
                    if streamed:
                        self._stream(reply, events)
                    else:
                        self._send(reply)
                finally:
                    with fake.lock:
                        fake.in_flight -= 1

        self._serve(Handler)

    def stop(self) -> None:
        self.released.set()
        self.answering.set()
        super().stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def calls(self) -> int:
        return len(self.requests)
