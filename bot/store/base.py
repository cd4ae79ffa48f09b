"""Storage: requests, briefs, chat settings, usage, digests and shared limits, behind one interface.

`Store` says what the bot needs from a database; `bot.store.sqlite` (one file, one process: the
default) and `bot.store.postgres` (shared by a receiver and any number of workers) implement it with
plain SQL. `open_store` picks one from DATABASE_URL. Every method is a short transaction, so a crash
between two calls leaves a consistent state that the next run picks up.

Work is handed out by claims: `claim` gives a worker the oldest pending request of some chat whose
older requests are all finished, under a lease that the worker renews while it works. A worker that
dies loses its claim when the lease runs out and another finishes the request; one request per chat
is at work at a time, across every process, so replies keep their order.
"""

from __future__ import annotations

import abc
import asyncio
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bot.engine.schema import BriefEnvelope
from bot.ledger.values import Event, Identity
from bot.ops import clock
from bot.ops.errors import CollectBudgetReached, QuotaReached
from bot.render.texts import REQUESTS, TOKENS, count

if TYPE_CHECKING:
    pass

@dataclass
class Request:
    """A message that asked for a brief (or a post collected for a digest), as stored."""

    id: int
    chat_id: int
    user_id: int | None
    message_id: int | None
    thread_id: int | None
    mode: str
    payload: dict[str, Any]
    status: str
    attempts: int
    status_message_id: int | None = None
    reserved_tokens: int = 0
    claimed_by: str | None = None  # the worker holding its lease
    delivered_parts: int = 0  # messages of its reply already in the chat (a reply can be several)


@dataclass
class ChatSettings:
    chat_id: int
    lang: str = "both"
    digest_enabled: bool = False
    digest_time: str = "18:00"
    timezone: str = "UTC"
    last_digest_at: float = 0.0
    format: str = "rich"  # "rich": one rich message per brief where Telegram takes it; "classic"
    digest_thread_id: int | None = None  # the forum topic digests post in (None: General, or no topics)
    known: bool = True  # False: the chat has no stored settings yet (defaults shown)


@dataclass
class DigestEntry:
    """One article shared in a digest chat: its brief, when, the link to it and who published it."""

    shared_at: float
    envelope: BriefEnvelope
    link: str | None = None
    outlet: str | None = None


@dataclass
class UsageFigures:
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    reserved_tokens: int = 0  # accepted requests still at work: their estimate counts against quotas

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def committed_tokens(self) -> int:
        return self.tokens + self.reserved_tokens


def today() -> str:
    return day_of(clock.now())


def day_of(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")


@dataclass(frozen=True)
class Quota:
    """Daily limits (0 = none), checked inside the transaction that accepts a request."""

    requests_per_user: int = 0
    tokens_per_chat: int = 0
    collected_per_chat: int = 0  # articles collected for a chat's digest

    def check_collected(self, collected_today: int) -> None:
        if self.collected_per_chat and collected_today >= self.collected_per_chat:
            raise CollectBudgetReached(self.collected_per_chat)

    def check(self, user: UsageFigures, chat: UsageFigures, user_id: int | None) -> None:
        if self.requests_per_user and user_id is not None and user.requests >= self.requests_per_user:
            raise QuotaReached(f"{count(self.requests_per_user, REQUESTS, 'en')} per user per day",
                               detail_ar=f"{count(self.requests_per_user, REQUESTS, 'ar')} لكل مستخدم في اليوم")
        if self.tokens_per_chat and chat.committed_tokens >= self.tokens_per_chat:
            raise QuotaReached(f"{count(self.tokens_per_chat, TOKENS, 'en')} per chat per day",
                               detail_ar=f"{count(self.tokens_per_chat, TOKENS, 'ar')} لكل محادثة في اليوم")


def request_of(r: Any) -> Request:
    """A stored row (SQLite or PostgreSQL, read by column name) as a Request."""
    return Request(id=r["id"], chat_id=r["chat_id"], user_id=r["user_id"], message_id=r["message_id"],
                   thread_id=r["thread_id"], mode=r["mode"], payload=json.loads(r["payload"]), status=r["status"],
                   attempts=r["attempts"], status_message_id=r["status_message_id"],
                   delivered_parts=r["delivered_parts"],
                   reserved_tokens=r["reserved_tokens"], claimed_by=r["claimed_by"])


def dedupe_key(chat_id: int, message_id: int | None, mode: str, text: str) -> str | None:
    """The same message asking for the same thing twice (Telegram redelivers after a crash) is one request."""
    if message_id is None:
        return None
    return hashlib.sha256(f"{chat_id}:{message_id}:{mode}:{text}".encode()).hexdigest()


class Store(abc.ABC):
    """What the bot keeps. Implementations: `SQLiteStore`, `PostgresStore`.

    Raises `StorageUnavailable` when the database cannot write (disk full, server gone), so callers
    can tell the user instead of losing the work.
    """

    #: True when several processes may share this store (claims, digest runs and rate slots matter)
    shared: bool = False

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and migrate. Safe to call twice."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def schema_version(self) -> int: ...

    @abc.abstractmethod
    async def now(self) -> float:
        """The store's clock, in seconds since the epoch: the one every process sharing the store
        goes by (the database's with PostgreSQL; this process's own with SQLite, which no other
        process shares)."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """A real write, for health checks."""

    # --- requests -------------------------------------------------------------------------------
    @abc.abstractmethod
    async def add_request(self, chat_id: int, user_id: int | None, message_id: int | None, payload: dict[str, Any],
                          *, mode: str = "reply", thread_id: int | None = None, reserve_tokens: int = 0,
                          quota: Quota | None = None, article_key: str | None = None) -> Request | None:
        """Write a request before any work starts; None if this message asked for it already.

        Counting the request and reserving its estimated tokens happen in the same transaction as
        the quota check, so a burst of messages gets exactly the allowed number (QuotaReached for
        the rest) however many arrive at once, in however many processes. Wakes `wait_for_work`.

        `article_key` (articles collected for a digest): None too when the chat collected the same
        article today; CollectBudgetReached when it collected its daily budget.
        """

    @abc.abstractmethod
    async def claim(self, worker: str, lease_s: float) -> Request | None:
        """The next request to work on, claimed for `lease_s` seconds, with its attempt counted.

        Only the oldest unfinished request of a chat can be claimed, and only when no live lease
        holds it and its `retry_at` has come, so a chat's requests are worked one at a time, in order.
        Oldest means the lowest message id (then request id): Telegram numbers a chat's messages in
        the order they were sent, while a receiver handling updates concurrently may store them in
        another order.
        """

    @abc.abstractmethod
    async def renew(self, request_id: int, worker: str, lease_s: float) -> bool:
        """Extend a lease; False when the claim was lost (the lease ran out and another took it)."""

    @abc.abstractmethod
    async def release(self, request_id: int, worker: str, retry_in_s: float = 0.0) -> None:
        """Give a claimed request back unfinished; it may be claimed again after `retry_in_s`."""

    @abc.abstractmethod
    async def release_all(self, worker: str | None = None) -> int:
        """Drop the claims of one worker (or all): a single process starting again owns no work yet."""

    @abc.abstractmethod
    async def wait_for_work(self, at_most_s: float) -> None:
        """Return when a request may have been added or finished (or after `at_most_s`)."""

    @abc.abstractmethod
    async def set_status_message(self, request_id: int, message_id: int) -> None:
        """Remember the status message, so a resumed request turns that one into its brief."""

    @abc.abstractmethod
    async def set_delivered(self, request_id: int, parts: int) -> None:
        """Note that the first `parts` messages of the reply are in the chat: whoever takes the
        request over after a crash sends only the rest."""

    @abc.abstractmethod
    async def finish_request(self, request_id: int, status: str, *, error: str | None = None,
                             brief_id: int | None = None, prompt_tokens: int = 0, completion_tokens: int = 0) -> None:
        """Close a request (done or failed), drop its claim and turn its token reservation into
        what was really spent."""

    @abc.abstractmethod
    async def pending_count(self) -> int: ...

    @abc.abstractmethod
    async def pending_requests(self) -> list[Request]: ...

    @abc.abstractmethod
    async def request_status(self, request_id: int) -> str: ...

    @abc.abstractmethod
    async def first_notice(self, chat_id: int, kind: str) -> bool:
        """True the first time today a notice of `kind` is due in a chat (once across processes)."""

    # --- briefs ---------------------------------------------------------------------------------
    @abc.abstractmethod
    async def save_brief(self, env: BriefEnvelope, url: str | None = None, *, context: str = "") -> int:
        """Keep a brief; `context`: the key of what the request added to the article ("" for none)."""

    @abc.abstractmethod
    async def find_brief(self, *, content_hash: str | None = None, url: str | None = None, model: str,
                         prompt_version: str, max_age_s: float | None = None,
                         context: str = "") -> tuple[int, BriefEnvelope] | None:
        """A brief of the same text (or the same URL, not older than `max_age_s`) by the same model
        and prompts, made with the same `context` (bot.engine.service.context_key)."""

    @abc.abstractmethod
    async def get_brief(self, brief_id: int) -> BriefEnvelope | None: ...

    # --- chat settings --------------------------------------------------------------------------
    @abc.abstractmethod
    async def chat(self, chat_id: int) -> ChatSettings: ...

    @abc.abstractmethod
    async def save_chat(self, cs: ChatSettings) -> None: ...

    @abc.abstractmethod
    async def set_last_digest(self, chat_id: int, at: float) -> None:
        """Move only the digest mark (never back), so a digest posted late undoes no other setting."""

    @abc.abstractmethod
    async def digest_chats(self) -> list[ChatSettings]: ...

    async def wait_for_settings(self, at_most_s: float) -> None:
        """Return when some chat's settings may have changed in another process (or after
        `at_most_s`). One process alone changes its schedules itself: it only waits."""
        await asyncio.sleep(at_most_s)

    # --- usage ----------------------------------------------------------------------------------
    @abc.abstractmethod
    async def add_usage(self, user_id: int, chat_id: int, *, requests: int = 0, prompt_tokens: int = 0,
                        completion_tokens: int = 0) -> None: ...

    @abc.abstractmethod
    async def usage(self, *, user_id: int | None = None, chat_id: int | None = None,
                    day: str | None = None) -> UsageFigures: ...

    # --- digests --------------------------------------------------------------------------------
    @abc.abstractmethod
    async def add_digest_item(self, chat_id: int, brief_id: int, *, link: str | None = None,
                              outlet: str | None = None) -> None: ...

    @abc.abstractmethod
    async def digest_entries(self, chat_id: int, since: float) -> list[DigestEntry]:
        """What was shared in a chat after `since`, oldest first, with links and publishers."""

    @abc.abstractmethod
    async def claim_digest_run(self, chat_id: int, slot: str) -> bool:
        """True for exactly one caller per chat and scheduled run (`slot`), however many processes ask."""

    @abc.abstractmethod
    async def take_turn(self, key: str, every_s: float) -> float:
        """Take the turn of `key` when its last was at least `every_s` ago (by the store's clock): 0.0.
        Otherwise the turn is not taken and the answer is the seconds until it may be. One caller
        wins however many processes ask at once."""

    # --- private subscriptions to a chat's digest -------------------------------------------------
    @abc.abstractmethod
    async def subscribe(self, user_id: int, chat_id: int) -> bool:
        """True when this is a new subscription."""

    @abc.abstractmethod
    async def unsubscribe(self, user_id: int, chat_id: int | None = None) -> list[int]:
        """Remove one subscription (or all of the user's); the chats it was removed from."""

    @abc.abstractmethod
    async def subscriptions(self, user_id: int) -> list[int]: ...

    @abc.abstractmethod
    async def subscribers(self, chat_id: int) -> list[int]: ...

    @abc.abstractmethod
    async def remember_username(self, chat_id: int, username: str) -> None: ...

    @abc.abstractmethod
    async def username_of(self, chat_id: int) -> str | None: ...

    @abc.abstractmethod
    async def chat_by_username(self, username: str) -> int | None: ...

    # --- limits shared by every process ---------------------------------------------------------
    @abc.abstractmethod
    async def rate_slot(self, key: str, interval_s: float) -> float:
        """Book the next send slot of a rate limit shared by all processes; how far, in seconds, the
        key's schedule now runs ahead of the clock, this call included.

        A virtual schedule (GCRA): each call moves the key's next free time on by `interval_s`. One
        atomic statement, no lock held: `next_at = max(next_at, now) + interval_s`. With a burst of
        `b` calls allowed after a quiet spell, the call waits `ahead - b * interval_s` when that is
        positive, and `ahead / interval_s` is how many of the `b` are in use (`ratelimit`).
        """

    # --- the pressure ledger (bot.ledger): a chat's identities and events, never another chat's ----
    @abc.abstractmethod
    async def ledger_identities(self, chat_id: int) -> list[Identity]: ...

    @abc.abstractmethod
    async def ledger_save_identity(self, ident: Identity) -> int:
        """Store a new identity (id ≤ 0) or update a known one; its id."""

    @abc.abstractmethod
    async def ledger_has_brief(self, chat_id: int, brief_id: int) -> bool: ...

    @abc.abstractmethod
    async def ledger_add_events(self, chat_id: int, events: list[Event]) -> None: ...

    @abc.abstractmethod
    async def ledger_timeline(self, chat_id: int, actor: int, limit: int = 40) -> list[Event]:
        """The actor's events in the chat, as actor or target, newest first."""

    @abc.abstractmethod
    async def ledger_window(self, chat_id: int, since: float) -> list[Event]:
        """The chat's events after `since`, with the last earlier brief's events of each pair and
        position actor among them: what `bot.ledger.changes.detect` compares."""

    @abc.abstractmethod
    async def ledger_merge(self, chat_id: int, keep: int, gone: int) -> bool:
        """`gone` becomes part of `keep` (names, events, tracking); False when either is not the chat's."""

    @abc.abstractmethod
    async def ledger_split(self, chat_id: int, actor: int, key: str) -> int | None:
        """The name `key` of `actor` becomes an identity of its own with the events that used it; its id."""

    @abc.abstractmethod
    async def ledger_track(self, chat_id: int, actor: int, on: bool = True) -> bool:
        """Track (or stop tracking) an actor; True when that changed anything."""

    @abc.abstractmethod
    async def ledger_tracked(self, chat_id: int) -> list[int]: ...

    @abc.abstractmethod
    async def ledger_alert_once(self, chat_id: int, actor: int, story: str, quiet_s: float) -> bool:
        """Note that `story` was reported again in the chat; True when that is news for `actor`'s
        alert: the first report, or the first after `quiet_s` without any."""

    @abc.abstractmethod
    async def forget_chat(self, chat_id: int) -> int:
        """Delete what the chat gave the bot: its ledger, finished requests, digest items, and the
        briefs no other chat has; how many rows went."""
