"""How many LLM calls run at once: adapted to what the endpoint takes (additive increase, halving on trouble)."""

from __future__ import annotations

import asyncio
import logging
import statistics
from collections import deque

log = logging.getLogger(__name__)

START_CONCURRENCY = 64  # generous: a hosted API takes it; a small local server brings it down quickly
# Time to first chunk this many times the recent median, and at least QUEUE_MIN_EXTRA_S above it,
# means our requests wait in the server's queue: fewer at once would serve everyone as fast.
QUEUE_FACTOR = 4.0
QUEUE_MIN_EXTRA_S = 1.0
QUEUE_MIN_SAMPLES = 5

class AdaptiveConcurrency:
    """How many LLM calls may be in flight: additive increase, multiplicative decrease (AIMD).

    Starts at min(32, ceiling); each success adds one, never above the ceiling (`LLM_MAX_CONCURRENCY`);
    a 429, 503/529, "overloaded", a timeout or a time to first chunk far above the recent median halves
    it (not below 1). Calls that started before the last halving do not halve it again: a burst of 429s
    from one over-full moment counts once. Calls beyond the cap wait, first come first served.
    `limit`, `in_flight` and `waiting` are for /usage and metrics.
    """

    def __init__(self, ceiling: int, *, start: int = START_CONCURRENCY) -> None:
        self.ceiling = max(1, ceiling)
        self.limit = max(1, min(start, self.ceiling))
        self.in_flight = 0
        self.decreases = 0  # halvings so far
        self.last_decrease: str | None = None  # why the last one happened
        self._epoch = 0  # counts halvings; a call remembers the epoch it started in
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._first_chunk_s: deque[float] = deque(maxlen=32)
        # what counts as queueing (tunable: a fast hosted API and a CPU model differ)
        self.queue_factor = QUEUE_FACTOR
        self.queue_min_extra_s = QUEUE_MIN_EXTRA_S

    @property
    def waiting(self) -> int:
        return sum(1 for f in self._waiters if not f.done())

    def snapshot(self) -> dict[str, int]:
        return {"limit": self.limit, "in_flight": self.in_flight, "waiting": self.waiting,
                "ceiling": self.ceiling, "decreases": self.decreases}

    async def acquire(self) -> int:
        """Wait for a slot; returns the epoch the call starts in (for `overloaded`)."""
        if self.in_flight < self.limit and not self.waiting:
            self.in_flight += 1
            return self._epoch
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():  # granted a slot, then cancelled: give it back
                self.release()
            raise
        return self._epoch

    def release(self) -> None:
        self.in_flight -= 1
        self._wake()

    def succeeded(self) -> None:
        if self.limit < self.ceiling:
            self.limit += 1
            self._wake()

    def overloaded(self, epoch: int, why: str) -> None:
        if epoch < self._epoch:
            return  # started under a cap that has been halved since: already accounted for
        before, self.limit = self.limit, max(1, self.limit // 2)
        self._epoch += 1
        self.decreases += 1
        self.last_decrease = why
        if before != self.limit:
            log.info("LLM concurrency %d → %d (%s)", before, self.limit, why)

    def first_chunk(self, seconds: float, epoch: int) -> None:
        """A time to first chunk far above the recent ones: the server is queueing our calls."""
        recent = self._first_chunk_s
        if len(recent) >= QUEUE_MIN_SAMPLES:
            median = statistics.median(recent)
            if seconds > self.queue_factor * median and seconds - median > self.queue_min_extra_s:
                self.overloaded(epoch, f"queueing: first chunk after {seconds:.1f} s, median {median:.1f} s")
        recent.append(seconds)

    def _wake(self) -> None:
        while self._waiters and self.in_flight < self.limit:
            fut = self._waiters.popleft()
            if not fut.done():
                self.in_flight += 1
                fut.set_result(None)

