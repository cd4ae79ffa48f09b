"""Prometheus metrics and the health endpoint of `newsbot run` (`METRICS_PORT`).

`GET /metrics` is the Prometheus text format; `GET /healthz` answers 200 while updates arrive
(polling or webhook) and the store can write, 503 with a short JSON reason otherwise. Each bot
has its own registry, so several bots in one process (tests, benches) do not share counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

log = logging.getLogger(__name__)

HEALTH_TIMEOUT_S = 5.0  # a store that does not answer within this long is unhealthy


class Metrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.requests = Counter("newsbot_requests", "Requests finished, by outcome", ["outcome"], registry=r)
        self.briefs = Counter("newsbot_briefs", "Briefs delivered, cached or fresh", ["kind"], registry=r)
        self.llm_calls = Counter("newsbot_llm_calls", "LLM calls by result", ["result"], registry=r)
        self.llm_seconds = Histogram("newsbot_llm_seconds", "Time the LLM took per brief", registry=r,
                                     buckets=(0.5, 1, 2, 5, 10, 20, 40, 80, 160, 320))
        self.check_seconds = Histogram("newsbot_check_seconds", "Time from the model's answer to the checked brief",
                                       registry=r, buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1))
        self.tokens = Counter("newsbot_llm_tokens", "Tokens spent", ["kind"], registry=r)
        self.fetch_failures = Counter("newsbot_fetch_failures", "Links that could not be read, by kind", ["kind"],
                                      registry=r)
        self.telegram_errors = Counter("newsbot_telegram_errors", "Bot API errors by kind", ["kind"], registry=r)
        self.flood_waits = Counter("newsbot_telegram_flood_waits", "RetryAfter answers waited out", registry=r)
        self.queue_depth = Gauge("newsbot_pending_requests", "Requests accepted and not finished", registry=r)
        self.llm_concurrency = Gauge("newsbot_llm_concurrency_limit", "Current adaptive LLM concurrency cap",
                                     registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class HealthServer:
    """A tiny HTTP/1.1 server for /healthz and /metrics (GET only, loopback by default)."""

    def __init__(self, metrics: Metrics, health: Callable[[], Awaitable[str | None]], host: str, port: int,
                 refresh: Callable[[], Awaitable[None]] | None = None) -> None:
        self.metrics, self.health, self.refresh = metrics, health, refresh
        self.host, self.port = host, port
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("metrics and health on http://%s:%d/metrics and /healthz", self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass  # headers are not needed
            parts = line.decode("latin-1").split()
            path = parts[1].split("?")[0] if len(parts) >= 2 else ""
            if len(parts) < 2 or parts[0] != "GET":
                status, ctype, body = "405 Method Not Allowed", "text/plain", b"GET only\n"
            elif path == "/metrics":
                if self.refresh is not None:
                    await self.refresh()
                status, ctype, body = "200 OK", CONTENT_TYPE_LATEST, self.metrics.render()
            elif path == "/healthz":
                try:
                    problem = await asyncio.wait_for(self.health(), HEALTH_TIMEOUT_S)
                except TimeoutError:
                    problem = f"no answer from the health check within {HEALTH_TIMEOUT_S:.0f} s"
                status = "503 Service Unavailable" if problem else "200 OK"
                ctype = "application/json"
                body = json.dumps({"ok": problem is None, "reason": problem}).encode()
            else:
                status, ctype, body = "404 Not Found", "text/plain", b"not found\n"
            writer.write(f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                         "Connection: close\r\n\r\n".encode() + body)
            await writer.drain()
        except (TimeoutError, ConnectionError, ValueError, asyncio.IncompleteReadError):
            pass  # a client that hung up, stalled, or sent a line longer than the reader's limit
        finally:
            writer.close()
