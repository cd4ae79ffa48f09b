"""Page extraction in worker processes, with a time limit that a kill enforces.

lxml and trafilatura cannot be interrupted: on the event loop one hostile page froze every chat,
and in a thread it could not be stopped at all. A worker process can be killed. Workers are kept
between pages (a new one costs an interpreter start and an import, about half a second); one is
replaced after it was killed, died, or served JOBS_PER_WORKER pages.

Workers are plain `python -m bot.reading.worker` processes speaking multiprocessing's message
format over their stdin and stdout: unlike multiprocessing's spawn and forkserver, that never
re-runs the parent's main script in the worker, and nothing is forked from a threaded process.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bot.ops.config import Settings
from bot.ops.errors import NewsbotError, NotAnArticle, PageTooComplex
from bot.reading.documents import DocLimits, DocumentText
from bot.reading.extract import Extracted, Kind

log = logging.getLogger(__name__)

#: then the worker is replaced, giving back whatever memory an odd page left fragmented
JOBS_PER_WORKER = 200
#: extractions at once; more wait for a free worker (each is bounded by its time limit)
POOL_SIZE = max(1, min(4, os.cpu_count() or 1))
#: an interpreter start and an import; far more means the machine cannot run workers at all
START_TIMEOUT_S = 60.0

Job = tuple[bytes, str | None, str | None, Kind, int]  # body, content type, url, kind, max elements
DocJob = tuple[bytes, str | None, str | None, DocLimits]  # file, its name, its MIME type, limits


@dataclass(frozen=True)
class Limits:
    """EXTRACT_TIMEOUT_S and EXTRACT_MAX_ELEMENTS (the defaults are the settings' defaults)."""

    timeout_s: float = Settings.model_fields["extract_timeout_s"].default
    max_elements: int = Settings.model_fields["extract_max_elements"].default

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(settings.extract_timeout_s, settings.extract_max_elements)


def _serve(inbox: Connection, outbox: Connection) -> None:
    """The worker: one job at a time until the parent hangs up. A job is a page ("page") or a
    file ("document")."""
    from bot.reading.documents import read_document
    from bot.reading.extract import extract_page

    jobs: dict[str, Any] = {"page": extract_page, "document": read_document}
    outbox.send("ready")  # imports done: the parent's clock for a page starts after this
    while True:
        try:
            (name, job), timeout_s = inbox.recv()
        except (EOFError, OSError):
            return
        # the parent kills us at the deadline; should it be gone, the kernel does it a little later
        signal.setitimer(signal.ITIMER_REAL, timeout_s + 2)
        try:
            reply: tuple[Any, ...] = ("ok", jobs[name](*job))
        except NewsbotError as exc:
            reply = ("error", type(exc), exc.detail, exc.detail_ar)
        except MemoryError:
            reply = ("error", PageTooComplex, "reading it needed too much memory")
        except Exception as exc:  # a parser bug on a strange page: this page is unread, the worker lives
            reply = ("error", NotAnArticle, f"the {name} could not be parsed ({type(exc).__name__})")
        signal.setitimer(signal.ITIMER_REAL, 0)
        outbox.send(reply)


def main() -> None:
    """`python -m bot.reading.worker`: jobs come in on stdin, replies go out on stdout."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it ends us
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    # library log lines would land on the user's terminal unformatted; the reply says enough
    logging.getLogger().addHandler(logging.NullHandler())
    inbox = Connection(os.dup(0), writable=False)
    outbox = Connection(os.dup(1), readable=False)
    # a stray print must not corrupt the replies
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    import trafilatura  # noqa: F401  (loaded before "ready", so that it does not count against a page)

    _serve(inbox, outbox)


class _Worker:
    def __init__(self) -> None:
        root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot.reading.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, env=env,
            start_new_session=True,  # out of the terminal's process group: Ctrl-C goes to the parent only
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.outbox = Connection(os.dup(self.process.stdin.fileno()), readable=False)
        self.inbox = Connection(os.dup(self.process.stdout.fileno()), writable=False)
        self.process.stdin.close()
        self.process.stdout.close()
        self.ready = False
        self.jobs = 0

    def wait_ready(self) -> None:
        if self.ready:
            return
        try:
            self.ready = self.inbox.poll(START_TIMEOUT_S) and self.inbox.recv() == "ready"
        except (EOFError, OSError):
            pass
        if not self.ready:
            self.stop()
            raise NewsbotError("the page reader did not start")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.process.kill()
        self.process.wait()
        self.outbox.close()
        self.inbox.close()


class ExtractPool:
    """Reusable worker processes; `run` blocks, `run_async` waits in a thread, off the event loop."""

    def __init__(self, size: int = POOL_SIZE) -> None:
        self.size = size
        self._slots = threading.BoundedSemaphore(size)
        self._idle: list[_Worker] = []
        self._live = 0  # idle and busy workers
        self._lock = threading.Lock()
        self.started = 0  # workers started so far (tests: are workers reused?)

    def _new(self) -> _Worker:
        with self._lock:
            self._live += 1
            self.started += 1
        try:
            return _Worker()
        except OSError:
            with self._lock:
                self._live -= 1
            raise

    def _stop(self, worker: _Worker) -> None:
        worker.stop()
        with self._lock:
            self._live -= 1

    def _take(self) -> _Worker:
        while True:
            with self._lock:
                worker = self._idle.pop() if self._idle else None
            if worker is None:
                worker = self._new()
            elif not worker.alive():
                self._stop(worker)
                continue
            try:
                worker.wait_ready()
            except NewsbotError:
                with self._lock:
                    self._live -= 1
                raise
            return worker

    def _give_back(self, worker: _Worker) -> None:
        worker.jobs += 1
        if worker.jobs >= JOBS_PER_WORKER:
            self._stop(worker)
            return
        with self._lock:
            self._idle.append(worker)

    def prewarm(self) -> None:
        """Start a worker now if none is idle, so that its start overlaps the download of a page."""
        with self._lock:
            wanted = not self._idle and self._live < self.size
        if wanted:
            worker = self._new()
            with self._lock:
                self._idle.append(worker)

    def run(self, job: tuple[str, Job | DocJob], timeout_s: float, setting: str = "EXTRACT_TIMEOUT_S") -> Any:
        """A job in a worker; kill it at `timeout_s` (PageTooComplex). Blocks the caller."""
        with self._slots:
            worker = self._take()
            deadline = time.monotonic() + timeout_s
            try:
                worker.outbox.send((job, timeout_s))
                if not worker.inbox.poll(max(0.0, deadline - time.monotonic())):
                    self._stop(worker)
                    raise PageTooComplex(f"reading it took more than {timeout_s:g} s ({setting})",
                                         detail_ar=f"استغرقت قراءته أكثر من {timeout_s:g} ث")
                reply = worker.inbox.recv()
            except (EOFError, OSError) as exc:  # killed from outside, or out of memory
                self._stop(worker)
                raise PageTooComplex("the page reader stopped on it") from exc
            self._give_back(worker)
        if reply[0] == "ok":
            return reply[1]
        raise reply[1](reply[2], detail_ar=reply[3] if len(reply) > 3 else "")

    async def run_async(self, job: tuple[str, Job | DocJob], timeout_s: float,
                        setting: str = "EXTRACT_TIMEOUT_S") -> Any:
        """`run` in a daemon thread: the event loop goes on, and an exit never waits for a page."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()

        def settle(result: Any, error: BaseException | None) -> None:
            if future.done():  # the caller gave up (cancelled); the worker was still bounded
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)  # type: ignore[arg-type]

        def work() -> None:
            try:
                result, error = self.run(job, timeout_s, setting), None
            except BaseException as exc:
                result, error = None, exc
            try:
                loop.call_soon_threadsafe(settle, result, error)
            except RuntimeError:
                pass  # the loop is closed: nobody is waiting any more

        threading.Thread(target=work, name="newsbot-extract-wait", daemon=True).start()
        return await future

    def close(self) -> None:
        """Stop the idle workers (busy ones stop when their page is done or killed)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            self._stop(worker)


_pool: ExtractPool | None = None
_pool_lock = threading.Lock()


def pool() -> ExtractPool:
    """The process-wide pool, started on first use."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ExtractPool()
        return _pool


def _job(body: bytes, content_type: str | None, url: str | None, kind: Kind, limits: Limits) -> tuple[str, Job]:
    return "page", (body, content_type, url, kind, limits.max_elements)


def extract_bounded(body: bytes, content_type: str | None, url: str | None, kind: Kind,
                    limits: Limits = Limits()) -> Extracted:
    """Decode and extract a page in a worker, within the limits (blocking; for the CLI's files)."""
    return pool().run(_job(body, content_type, url, kind, limits), limits.timeout_s)


async def extract_bounded_async(body: bytes, content_type: str | None, url: str | None, kind: Kind,
                                limits: Limits = Limits()) -> Extracted:
    """Decode and extract a page in a worker, within the limits, without blocking the event loop."""
    return await pool().run_async(_job(body, content_type, url, kind, limits), limits.timeout_s)


def read_document_bounded(data: bytes, name: str | None, mime: str | None,
                          limits: DocLimits) -> DocumentText:
    """Read a file (PDF, DOCX, image, …) in a worker within the limits (blocking; for the CLI)."""
    return pool().run(("document", (data, name, mime, limits)), limits.timeout_s, "DOCUMENT_TIMEOUT_S")  # type: ignore[no-any-return]


async def read_document_async(data: bytes, name: str | None, mime: str | None,
                              limits: DocLimits) -> DocumentText:
    """Read a file in a worker within the limits, without blocking the event loop."""
    return await pool().run_async(("document", (data, name, mime, limits)), limits.timeout_s,  # type: ignore[no-any-return]
                                  "DOCUMENT_TIMEOUT_S")


if __name__ == "__main__":
    main()
