"""CPU-heavy work in worker processes, with a time limit that a kill enforces: page extraction
and the checks of an LLM's answer.

lxml and trafilatura cannot be interrupted: on the event loop one hostile page froze every chat,
and in a thread it could not be stopped at all. A worker process can be killed. The checks of an
answer (parse, find every span in the article, settle) cost ~5 ms of pure Python a brief: on the
event loop, ten briefs whose answers came in together waited on each other's checks; in a worker
they use another core. Workers are kept between jobs (a new one costs an interpreter start and an
import, about half a second); one is replaced after it was killed, died, or served JOBS_PER_WORKER
jobs.

Workers are plain `python -m bot.cpu_pool` processes speaking multiprocessing's message format
over their stdin and stdout: unlike multiprocessing's spawn and forkserver, that never re-runs the
parent's main script in the worker, and nothing is forked from a threaded process.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.errors import LLMBadOutput, NewsbotError, NotAnArticle, PageTooComplex
from bot.extract import Extracted, Kind, extract_page
from bot.grounding import Judged, judge

log = logging.getLogger(__name__)

#: a worker is replaced after this much work, giving back whatever memory odd pages left fragmented
WORK_PER_WORKER = 1000
#: what one job counts towards WORK_PER_WORKER: 200 pages, or 1,000 answers (which leave little)
WORK = {"extract": 5, "judge": 1}
#: jobs at once; more wait for a free worker (each is bounded by its time limit)
POOL_SIZE = max(1, min(4, os.cpu_count() or 1))
#: an interpreter start and an import; far more means the machine cannot run workers at all
START_TIMEOUT_S = 60.0
#: workers the bot starts with: two answers' checks at once use both cores of a small machine, and
#: one worker checks ~200 answers a second, far more than Telegram lets a bot send
START_WORKERS = 2
#: an answer's checks take ~5 ms; one that takes this long is hostile, not long
JUDGE_TIMEOUT_S = 20.0


class WorkerError(Exception):
    """A job that came back without an answer."""


class Overran(WorkerError):
    """The job ran past its time limit; its worker was killed."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the job took more than {seconds:g} s")
        self.seconds = seconds


class WorkerLost(WorkerError):
    """The worker did not start (`started` False) or died during the job."""

    def __init__(self, started: bool) -> None:
        super().__init__("the worker died during the job" if started else "the worker did not start")
        self.started = started


class JobCrashed(WorkerError):
    """The job raised an exception that is not a NewsbotError (a bug, or a parser's on an odd page)."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"the job raised {kind}")
        self.kind = kind


@dataclass(frozen=True)
class Limits:
    """EXTRACT_TIMEOUT_S and EXTRACT_MAX_ELEMENTS (the defaults are the settings' defaults)."""

    timeout_s: float = Settings.model_fields["extract_timeout_s"].default
    max_elements: int = Settings.model_fields["extract_max_elements"].default

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(settings.extract_timeout_s, settings.extract_max_elements)


#: what a worker can be asked to run, by name
TASKS: dict[str, Callable[..., Any]] = {"extract": extract_page, "judge": judge}


def _serve(inbox: Connection, outbox: Connection) -> None:
    """The worker: one job at a time until the parent hangs up."""
    outbox.send("ready")  # imports done: the parent's clock for a job starts after this
    while True:
        try:
            task, args, timeout_s = inbox.recv()
        except (EOFError, OSError):
            return
        # the parent kills us at the deadline; should it be gone, the kernel does it a little later
        signal.setitimer(signal.ITIMER_REAL, timeout_s + 2)
        try:
            reply: tuple[Any, ...] = ("ok", TASKS[task](*args))
        except NewsbotError as exc:
            reply = ("error", type(exc), exc.detail)
        except Exception as exc:  # a parser bug on a strange page: this job fails, the worker lives
            reply = ("crash", type(exc).__name__)
        signal.setitimer(signal.ITIMER_REAL, 0)
        outbox.send(reply)


def main() -> None:
    """`python -m bot.cpu_pool`: jobs come in on stdin, replies go out on stdout."""
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
        root = str(Path(__file__).resolve().parent.parent)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot.cpu_pool"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, env=env,
            start_new_session=True,  # out of the terminal's process group: Ctrl-C goes to the parent only
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.outbox = Connection(os.dup(self.process.stdin.fileno()), readable=False)
        self.inbox = Connection(os.dup(self.process.stdout.fileno()), writable=False)
        self.process.stdin.close()
        self.process.stdout.close()
        self.ready = False
        self.work = 0

    def wait_ready(self) -> None:
        if self.ready:
            return
        try:
            self.ready = self.inbox.poll(START_TIMEOUT_S) and self.inbox.recv() == "ready"
        except (EOFError, OSError):
            pass
        if not self.ready:
            self.stop()
            raise WorkerLost(started=False)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.process.kill()
        self.process.wait()
        self.outbox.close()
        self.inbox.close()


class CPUPool:
    """Reusable worker processes; `run` blocks, `run_async` waits in a thread, off the event loop.

    A job takes an idle worker, else waits for one. Workers start in the background, up to `size`:
    a job never waits half a second for a new worker when a busy one is free again in 5 ms.
    """

    def __init__(self, size: int = POOL_SIZE) -> None:
        self.size = size
        self._cond = threading.Condition()
        self._idle: list[_Worker] = []  # started and ready
        self._live = 0  # starting, idle and busy
        self._starting = 0
        self._failed_starts = 0
        self.started = 0  # workers started so far (tests: are workers reused?)

    def _start(self) -> None:
        """Start a worker in the background; it joins the idle ones once ready. Lock held."""
        self._live += 1
        self._starting += 1
        self.started += 1
        threading.Thread(target=self._boot, name="newsbot-worker-start", daemon=True).start()

    def _boot(self) -> None:
        worker: _Worker | None = None
        try:
            worker = _Worker()
            worker.wait_ready()
        except (OSError, WorkerLost):
            worker = None
        with self._cond:
            self._starting -= 1
            if worker is None:
                self._live -= 1
                self._failed_starts += 1
            else:
                self._idle.append(worker)
            self._cond.notify_all()

    def _stop(self, worker: _Worker) -> None:
        worker.stop()
        with self._cond:
            self._live -= 1
            self._cond.notify_all()

    def _take(self) -> _Worker:
        with self._cond:
            failed = self._failed_starts
            while True:
                while self._idle:
                    worker = self._idle.pop()
                    if worker.alive():
                        return worker
                    worker.stop()
                    self._live -= 1
                if self._failed_starts != failed:
                    raise WorkerLost(started=False)
                if not self._starting and self._live < self.size:
                    self._start()  # one at a time: a busy worker is often free before it is ready
                self._cond.wait()

    def _give_back(self, worker: _Worker, task: str) -> None:
        worker.work += WORK[task]
        if worker.work >= WORK_PER_WORKER:
            self._stop(worker)
            self.prewarm()  # its successor starts now, not when the next job needs it
            return
        with self._cond:
            self._idle.append(worker)
            self._cond.notify()

    def prewarm(self, workers: int = 1) -> None:
        """Have `workers` idle or starting (within `size`), so that their start overlaps other work
        (a page's download, an LLM call, the bot's own start)."""
        with self._cond:
            while len(self._idle) + self._starting < workers and self._live < self.size:
                self._start()

    def run(self, task: str, args: tuple[Any, ...], timeout_s: float) -> Any:
        """`task` (a name in TASKS) on `args` in a worker; kill it at `timeout_s` (Overran).
        A NewsbotError the job raised is raised again here. Blocks the caller."""
        worker = self._take()
        try:
            worker.outbox.send((task, args, timeout_s))
            if not worker.inbox.poll(timeout_s):
                self._stop(worker)
                raise Overran(timeout_s)
            reply = worker.inbox.recv()
        except (EOFError, OSError) as exc:  # killed from outside, or out of memory
            self._stop(worker)
            raise WorkerLost(started=True) from exc
        self._give_back(worker, task)
        if reply[0] == "ok":
            return reply[1]
        if reply[0] == "crash":
            raise JobCrashed(reply[1])
        raise reply[1](reply[2])

    async def run_async(self, task: str, args: tuple[Any, ...], timeout_s: float) -> Any:
        """`run` in a daemon thread: the event loop goes on, and an exit never waits for a job."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()

        def settle(result: Any, error: BaseException | None) -> None:
            if future.done():  # the caller gave up (cancelled); the worker was still bounded
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

        def work() -> None:
            try:
                result, error = self.run(task, args, timeout_s), None
            except BaseException as exc:
                result, error = None, exc
            try:
                loop.call_soon_threadsafe(settle, result, error)
            except RuntimeError:
                pass  # the loop is closed: nobody is waiting any more

        threading.Thread(target=work, name=f"newsbot-{task}-wait", daemon=True).start()
        return await future

    def close(self) -> None:
        """Stop the idle workers (busy ones stop when their job is done or killed)."""
        with self._cond:
            idle, self._idle = self._idle, []
        for worker in idle:
            self._stop(worker)


_pool: CPUPool | None = None
_pool_lock = threading.Lock()


def pool() -> CPUPool:
    """The process-wide pool, started on first use."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = CPUPool()
        return _pool


# --- page extraction ------------------------------------------------------------------------------
def _extract_args(body: bytes, content_type: str | None, url: str | None, kind: Kind,
                  limits: Limits) -> tuple[Any, ...]:
    return (body, content_type, url, kind, limits.max_elements)


def _page_error(exc: WorkerError) -> NewsbotError:
    if isinstance(exc, Overran):
        return PageTooComplex(f"reading it took more than {exc.seconds:g} s (EXTRACT_TIMEOUT_S)")
    if isinstance(exc, JobCrashed):
        return NotAnArticle(f"the page could not be parsed ({exc.kind})")
    if isinstance(exc, WorkerLost) and exc.started:
        return PageTooComplex("the page reader stopped on it")
    return NewsbotError("the page reader did not start")


def extract_bounded(body: bytes, content_type: str | None, url: str | None, kind: Kind,
                    limits: Limits = Limits()) -> Extracted:
    """Decode and extract a page in a worker, within the limits (blocking; for the CLI's files)."""
    try:
        return pool().run("extract", _extract_args(body, content_type, url, kind, limits),  # type: ignore[no-any-return]
                          limits.timeout_s)
    except WorkerError as exc:
        raise _page_error(exc) from exc


async def extract_bounded_async(body: bytes, content_type: str | None, url: str | None, kind: Kind,
                                limits: Limits = Limits()) -> Extracted:
    """Decode and extract a page in a worker, within the limits, without blocking the event loop."""
    try:
        return await pool().run_async(  # type: ignore[no-any-return]
            "extract", _extract_args(body, content_type, url, kind, limits), limits.timeout_s)
    except WorkerError as exc:
        raise _page_error(exc) from exc


# --- an answer's checks ---------------------------------------------------------------------------
async def judge_async(answer: str, article: str, outlets: Sequence[str] = (), *, cut_off: bool = False) -> Judged:
    """`grounding.judge` in a worker, off the event loop. A worker that cannot start or dies, or a
    bug in the checks, gets the same checks in a thread here instead: a brief is not lost to the
    pool (and a bug's traceback is logged where it happens)."""
    args = (answer, article, tuple(outlets), cut_off)
    try:
        return await pool().run_async("judge", args, JUDGE_TIMEOUT_S)  # type: ignore[no-any-return]
    except Overran:
        raise LLMBadOutput(f"the answer could not be checked within {JUDGE_TIMEOUT_S:g} s") from None
    except (WorkerLost, JobCrashed) as exc:
        log.warning("answer checks in a worker failed (%s); checking in this process", exc)
    return await asyncio.to_thread(judge, answer, article, outlets, cut_off=cut_off)


if __name__ == "__main__":
    main()
