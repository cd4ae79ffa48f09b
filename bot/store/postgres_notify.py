"""LISTEN/NOTIFY for the PostgreSQL store: one connection per process that hears other processes.

`newsbot_work` wakes workers when a request is added, released or finished; `newsbot_settings`
tells every process running digests that a chat's settings (its schedule) changed. A dropped
connection is reconnected on the next wait, and every waiter is woken once, since notifications
may have been missed meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from typing import Any

import psycopg

log = logging.getLogger(__name__)

CHANNEL = "newsbot_work"  # NOTIFY: a request was added, released or finished
SETTINGS_CHANNEL = "newsbot_settings"  # NOTIFY: a chat's settings (its digest schedule) changed


class Listener:
    def __init__(self, url: str, timeout_s: float) -> None:
        self._url = url  # may hold a password: not for logs
        self.timeout_s = timeout_s
        self.work = asyncio.Event()
        self.settings = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._listened = False  # a listen connection existed: notifications may have been missed since
        self._lock = asyncio.Lock()

    @property
    def listening(self) -> bool:
        return self._task is not None and not self._task.done()

    async def wait(self, event: asyncio.Event, at_most_s: float) -> None:
        """Until `event` (set by a notification, or when notifications may have been missed), or
        `at_most_s`; then it is cleared for the next wait."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + at_most_s
        if not self.listening:
            async with self._lock:  # several waiters in one process: one connection
                if not self.listening:
                    await self._listen(at_most_s)
        with suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), max(0.0, deadline - loop.time()))
        event.clear()

    async def _listen(self, at_most_s: float) -> None:
        """(Re)connect the LISTEN connection; on failure the caller just waits, the next call tries again."""
        if self._conn is not None:
            with suppress(Exception):
                await self._conn.close()
            self._conn = None
        try:
            conn = await asyncio.wait_for(psycopg.AsyncConnection.connect(
                self._url, autocommit=True, connect_timeout=max(1, round(min(at_most_s, self.timeout_s))),
                keepalives=1, keepalives_idle=30, keepalives_interval=10, keepalives_count=3),
                max(at_most_s, 0.5))
            await conn.execute(f"LISTEN {CHANNEL}")
            await conn.execute(f"LISTEN {SETTINGS_CHANNEL}")
        except (psycopg.Error, OSError, TimeoutError) as exc:
            log.warning("postgres: cannot listen for work (%s); polling", exc)
            return
        self._conn = conn
        if self._listened:  # work or settings may have come while the connection was down: look once
            self.work.set()
            self.settings.set()
        self._listened = True
        self._task = asyncio.create_task(self._notifications(conn), name="newsbot-listen")

    async def _notifications(self, conn: psycopg.AsyncConnection[Any]) -> None:
        try:
            async for note in conn.notifies():
                (self.settings if note.channel == SETTINGS_CHANNEL else self.work).set()
        except psycopg.Error as exc:
            log.warning("postgres: the listen connection dropped (%s); reconnecting on the next wait", exc)
            self.work.set()
            self.settings.set()
        finally:
            with suppress(Exception):
                await conn.close()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._conn is not None:
            with suppress(Exception):
                await self._conn.close()
            self._conn = None
