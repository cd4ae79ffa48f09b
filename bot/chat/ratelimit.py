"""Telegram's limits (~30 requests/s overall, ~20 messages/min per group), for one process or many.

One process: python-telegram-bot's AIORateLimiter. Several processes on one PostgreSQL store (a
receiver and workers): each call also books a slot in the store's shared schedule first, so the
limits hold for the whole deployment, not per process. RetryAfter is waited out either way.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import AIORateLimiter

from bot.ops.errors import StorageUnavailable
from bot.ops.logs import Throttle
from bot.ops.metrics import Metrics
from bot.store import Store

log = logging.getLogger(__name__)

WARN_EVERY_S = 60.0
OVERALL_PER_S = 30  # Bot API: about 30 messages per second overall
GROUP_PER_MIN = 20  # and about 20 per minute in one group


class CountingRateLimiter(AIORateLimiter):
    """AIORateLimiter that also counts the flood waits it sits out."""

    def __init__(self, metrics: Metrics, **kwargs: Any) -> None:
        super().__init__(overall_max_rate=OVERALL_PER_S, group_max_rate=GROUP_PER_MIN, **kwargs)
        self.metrics = metrics

    async def _run_request(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super()._run_request(*args, **kwargs)
        except RetryAfter:
            self.metrics.flood_waits.inc()
            raise


@dataclass(frozen=True)
class _Limit:
    """One shared schedule: this process's key for it, its name in the store, seconds between slots,
    and how many calls may go at once after a quiet spell."""

    key: str | int
    name: str
    interval: float
    burst: int


def _limits(group: str | int | bool | None) -> list[_Limit]:
    """The limits a call to a chat is under: overall, and its group's when it is one (PTB passes the
    group's chat id, or False)."""
    limits = [_Limit("", "overall", 1 / OVERALL_PER_S, OVERALL_PER_S)]
    if group and not isinstance(group, bool):
        limits.append(_Limit(group, f"group:{group}", 60 / GROUP_PER_MIN, GROUP_PER_MIN))
    return limits


class SharedRateLimiter(CountingRateLimiter):
    """The same limits, booked in the shared store so that every process counts against one budget."""

    def __init__(self, store: Store, metrics: Metrics, **kwargs: Any) -> None:
        super().__init__(metrics, **kwargs)
        self.store = store
        self._unavailable = Throttle(WARN_EVERY_S)
        #: calls still booking their shared slot, overall ("") and per group: `has_room` counts them as used
        self.booking: Counter[str | int] = Counter()
        #: how far each shared schedule ran ahead of the clock at this process's last booking, and when
        self._ahead: dict[str | int, tuple[float, float]] = {}

    def has_room(self, chat_id: int, share: float) -> bool:
        """Whether at most `share` of the deployment's budget is in use, overall and in a group, as
        the shared schedule stood at this process's last booking (`status.has_room`). This process's
        own buckets see only its own calls: with four workers each saw a quarter of the load, and
        status messages went out in bursts that had no room for them."""
        now = time.monotonic()
        for limit in _limits(chat_id if chat_id < 0 else None):
            ahead, at = self._ahead.get(limit.key, (0.0, now))
            used = max(0.0, ahead - (now - at)) / limit.interval + self.booking.get(limit.key, 0)
            if limit.burst - used < max(1.0, limit.burst * (1 - share)):
                return False
        return True

    async def _run_request(self, chat: bool, group: str | int | bool, allow_paid_broadcast: bool,
                           callback: Callable[..., Coroutine[Any, Any, Any]], args: Any,
                           kwargs: dict[str, Any]) -> Any:
        if chat:  # calls that send to a chat; getUpdates, getMe and the like are not limited
            limits = _limits(group)
            keys = [limit.key for limit in limits]
            self.booking.update(keys)
            try:
                await self._book(limits)
            finally:
                self.booking.subtract(keys)
        return await super()._run_request(chat, group, allow_paid_broadcast, callback, args, kwargs)

    async def _book(self, limits: list[_Limit]) -> None:
        """Wait for this call's slot in each shared schedule it is under."""
        wait = 0.0
        try:
            for limit in limits:
                ahead = await self.store.rate_slot(limit.name, limit.interval)
                self._ahead[limit.key] = ahead, time.monotonic()
                wait = max(wait, ahead - limit.burst * limit.interval)
        except StorageUnavailable as exc:
            # the bot must still be able to say that it cannot accept work: this process's own
            # limiter holds meanwhile
            wait = 0.0
            if self._unavailable.ready():
                log.warning("shared rate limit unavailable (%s); limiting this process alone", exc)
        if wait > 0:
            await asyncio.sleep(wait)
