"""The common part of the loopback fakes: a threaded HTTP server that runs in the background."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class QuietServer(ThreadingHTTPServer):
    """Clients that hang up early (timeout and cap tests) are expected here, not errors."""

    daemon_threads = True
    # The default backlog of 5 drops the SYNs of a burst (the client retries after a second): tests
    # that send many requests at once would measure the kernel's retransmit timer, not the code.
    request_queue_size = 128

    def handle_error(self, request: object, client_address: object) -> None:
        pass


class LoopbackServer:
    """Owns a `QuietServer` on 127.0.0.1 with a free port and its serving thread."""

    def _serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = QuietServer(("127.0.0.1", 0), handler)
        # a short poll: `stop()` waits for the serving loop to notice, once per test and server
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> Self:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
