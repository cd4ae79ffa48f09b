"""The PostgreSQL store: one database shared by a receiver and any number of workers, on any machine.

psycopg 3 (async) with a connection pool; plain SQL, the same behaviour as `bot.store.sqlite`. What
SQLite gets from having one writer at a time, this store gets from locks held for one transaction:

- `add_request` takes a transaction-scoped advisory lock on the chat (and on the user, when a daily
  request quota applies) before it checks the quota, inserts and reserves usage. A burst from many
  processes is serialised per chat and per user, so exactly the allowed number gets in; and a chat's
  requests get their ids in the order they are committed, so "oldest pending request of the chat"
  cannot change under a worker (a request committed late with a smaller id would jump the queue).
- `claim` locks the oldest claimable request with `FOR UPDATE SKIP LOCKED`. A chat's later requests
  are never claimable while an older one is pending (claimed or not), so locking one row is enough
  to keep one request per chat at work.
- Workers wait on `LISTEN newsbot_work`; adding a request, releasing one and finishing one `NOTIFY`
  in the same transaction, so a worker wakes as soon as it commits.
- Saving a chat's settings `NOTIFY`s `newsbot_settings` on the same connection: every process
  running digests follows a schedule turned on, off or moved at once (`wait_for_settings`).

Times are the database's (`now()`: the start of the statement's transaction), never a process's own:
leases, claims, retries, the shared send schedule and digest runs are compared across processes,
and a host whose clock runs a minute fast would otherwise take every other worker's claims as
expired and push the shared schedule a minute ahead. A host off by more than CLOCK_WARN_S is
logged when the store opens.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from bot.engine.schema import BriefEnvelope
from bot.ops import clock
from bot.ops.errors import StorageUnavailable
from bot.store.base import (
    ChatSettings,
    DigestEntry,
    Quota,
    Request,
    Store,
    UsageFigures,
    day_of,
    dedupe_key,
    request_of,
    today,
)
from bot.store.ledger_postgres import PostgresLedger
from bot.store.postgres_notify import CHANNEL, SETTINGS_CHANNEL, Listener
from bot.store.postgres_schema import MIGRATIONS

log = logging.getLogger(__name__)

T = TypeVar("T")
Conn = psycopg.AsyncConnection[dict[str, Any]]

#: the database's clock, in seconds since the epoch, as every time column holds it
NOW = "extract(epoch from now())::float8"
CLOCK_WARN_S = 5.0  # a host whose clock is further off than this is logged


# only the oldest unfinished request of a chat may be claimed, and only when no live lease holds it;
# SKIP LOCKED passes over a row another worker is claiming right now (its chat's later requests stay
# unclaimable: the locked one is still pending), and a row claimed since this statement's snapshot
# is re-checked on the newest version when it is locked, so its live lease excludes it
CLAIM = f"""
    WITH next AS (
        SELECT r.id FROM requests r
        WHERE r.status = 'pending' AND r.lease_until < {NOW} AND r.retry_at <= {NOW}
        AND NOT EXISTS (SELECT 1 FROM requests o WHERE o.status = 'pending' AND o.chat_id = r.chat_id
                  AND (COALESCE(o.message_id, 0), o.id) < (COALESCE(r.message_id, 0), r.id))
        ORDER BY r.id LIMIT 1 FOR UPDATE SKIP LOCKED
    )
    UPDATE requests SET claimed_by = %(worker)s, lease_until = {NOW} + %(lease)s, attempts = attempts + 1,
        updated_at = {NOW}
    FROM next WHERE requests.id = next.id AND requests.status = 'pending'
    RETURNING requests.*
"""

ADD_USAGE = """
    INSERT INTO usage (day, user_id, chat_id, requests, prompt_tokens, completion_tokens, reserved_tokens)
    VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (day, user_id, chat_id) DO UPDATE SET
    requests = usage.requests + excluded.requests, prompt_tokens = usage.prompt_tokens + excluded.prompt_tokens,
    completion_tokens = usage.completion_tokens + excluded.completion_tokens,
    reserved_tokens = GREATEST(0, usage.reserved_tokens + excluded.reserved_tokens)
"""

# errors that mean "the database cannot take this now": the caller tells the user, the work is not lost
UNAVAILABLE: tuple[type[Exception], ...] = (psycopg.OperationalError, psycopg.InterfaceError,
                                            psycopg.errors.ReadOnlySqlTransaction)


def lock_key(kind: str, value: int | str) -> int:
    """A signed 64-bit key for pg_advisory_xact_lock, one per (kind, value) (migrations, a chat, a user)."""
    digest = hashlib.blake2b(f"newsbot:{kind}:{value}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def text(value: str | None) -> str | None:
    """A string PostgreSQL can keep: TEXT cannot hold NUL characters (SQLite can; an error message or a
    page's publisher name might carry one)."""
    return value.replace("\x00", "") if value else value


class PostgresStore(PostgresLedger, Store):
    shared = True

    def __init__(self, url: str, *, pool_size: int = 10, timeout_s: float = 10.0) -> None:
        """`timeout_s`: how long a call waits for a connection before it raises StorageUnavailable."""
        self._url = url  # may hold a password: not for logs
        self.pool_size = pool_size
        self.timeout_s = timeout_s
        self._pool: AsyncConnectionPool[Conn] | None = None
        self._notes = Listener(url, timeout_s)

    # --- connections ----------------------------------------------------------------------------
    async def open(self) -> None:
        if self._pool is not None:
            return
        # one plain connection first: a wrong address, password or database is one clear error at
        # once, not the pool's retries logged until its timeout
        try:
            probe = await psycopg.AsyncConnection.connect(self._url, connect_timeout=max(1, round(self.timeout_s)))
        except UNAVAILABLE as exc:
            raise StorageUnavailable(f"PostgreSQL: {str(exc).strip().splitlines()[0]}") from exc
        await probe.close()
        pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            self._url, min_size=1, max_size=self.pool_size, open=False, timeout=self.timeout_s,
            kwargs={"autocommit": True, "row_factory": dict_row, "connect_timeout": max(1, round(self.timeout_s))},
            check=AsyncConnectionPool.check_connection, name="newsbot")
        try:
            await pool.open(wait=True, timeout=self.timeout_s)
        except UNAVAILABLE as exc:
            await pool.close()
            raise StorageUnavailable(f"PostgreSQL: {exc}") from exc
        self._pool = pool
        try:
            await self._migrate()
        except BaseException:
            self._pool = None
            await pool.close()
            raise
        await self._check_clock()

    async def _check_clock(self) -> None:
        """Log a host whose clock is off: the store does not go by it, but logs and digest jobs do."""
        before = clock.now()
        db = await self.now()
        offset = (before + clock.now()) / 2 - db
        if abs(offset) > CLOCK_WARN_S:
            log.warning("this host's clock is %+.1f s off the database's; leases, claims, the send schedule and"
                        " digest runs go by the database's, but keep the host in sync (NTP)", offset)

    async def close(self) -> None:
        await self._notes.close()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def _run(self, body: Callable[[Conn], Awaitable[T]], *, tx: bool = True) -> T:
        """Run `body` on a pooled connection, in one transaction unless `tx` is False.

        A deadlock or serialisation failure is retried (the body runs again); a lost server or a
        database that cannot write becomes StorageUnavailable.
        """
        if self._pool is None:
            raise StorageUnavailable("PostgreSQL: the store is not open")
        for attempt in range(4):
            try:
                async with self._pool.connection() as conn:
                    if not tx:
                        return await body(conn)
                    async with conn.transaction():
                        return await body(conn)
            except psycopg.errors.TransactionRollback as exc:
                if attempt == 3:
                    raise StorageUnavailable(f"PostgreSQL: {exc}") from exc
                await asyncio.sleep(0.01 * (attempt + 1))
            except UNAVAILABLE as exc:
                raise StorageUnavailable(f"PostgreSQL: {exc}") from exc
        raise AssertionError("unreachable")

    async def _migrate(self) -> None:
        async def body(conn: Conn) -> None:
            # several processes starting at once: the first migrates, the others wait and find it done
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key("migrate", 0),))
            await conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                               " version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)")
            version = await self._version_in(conn)
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                await conn.execute(script)  # type: ignore[arg-type]
                await conn.execute(f"INSERT INTO schema_migrations (version, applied_at) VALUES (%s, {NOW})",
                                   (number,))
                log.info("postgres: migrated to schema %d", number)

        await self._run(body)

    @staticmethod
    async def _version_in(conn: Conn) -> int:
        row = await (await conn.execute("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations")).fetchone()
        return int(row["v"]) if row else 0

    async def schema_version(self) -> int:
        return await self._run(self._version_in, tx=False)

    async def ping(self) -> None:
        async def body(conn: Conn) -> None:
            await conn.execute(f"INSERT INTO heartbeat (id, at) VALUES (1, {NOW})"
                               " ON CONFLICT (id) DO UPDATE SET at = excluded.at")

        await self._run(body)

    async def _fetchone(self, sql: str, args: tuple[Any, ...] | dict[str, Any] = ()) -> dict[str, Any] | None:
        async def body(conn: Conn) -> dict[str, Any] | None:
            return await (await conn.execute(sql, args)).fetchone()  # type: ignore[arg-type]

        return await self._run(body, tx=False)

    async def _fetchall(self, sql: str, args: tuple[Any, ...] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        async def body(conn: Conn) -> list[dict[str, Any]]:
            return await (await conn.execute(sql, args)).fetchall()  # type: ignore[arg-type]

        return await self._run(body, tx=False)

    async def _execute(self, sql: str, args: tuple[Any, ...] | dict[str, Any] = ()) -> int:
        """One statement in its own transaction; the number of rows it touched."""
        async def body(conn: Conn) -> int:
            return (await conn.execute(sql, args)).rowcount  # type: ignore[arg-type]

        return await self._run(body, tx=False)

    # --- requests -------------------------------------------------------------------------------
    async def add_request(self, chat_id: int, user_id: int | None, message_id: int | None, payload: dict[str, Any],
                          *, mode: str = "reply", thread_id: int | None = None, reserve_tokens: int = 0,
                          quota: Quota | None = None, article_key: str | None = None) -> Request | None:
        text = json.dumps(payload, ensure_ascii=False, sort_keys=True)
        key = dedupe_key(chat_id, message_id, mode, text)

        async def body(conn: Conn) -> int | None:
            # one add per chat at a time (ids in commit order; the chat's token quota), then per user
            # when a request quota counts the user's requests in every chat; always chat before user
            locked = await (await conn.execute(f"SELECT pg_advisory_xact_lock(%s), {NOW} AS now",
                                               (lock_key("chat", chat_id),))).fetchone()
            assert locked is not None
            now = float(locked["now"])
            if quota is not None and quota.requests_per_user and user_id is not None:
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key("user", user_id),))
            if key is not None and await (await conn.execute(
                    "SELECT 1 FROM requests WHERE dedupe_key = %s", (key,))).fetchone():
                return None  # a redelivered update: it was admitted (and counted) the first time
            if article_key is not None:  # under the chat's lock: the count and the key are exact
                row = await (await conn.execute("SELECT COUNT(*) AS n, COUNT(*) FILTER (WHERE key = %s) AS same"
                                                " FROM collected WHERE chat_id = %s AND day = %s",
                                                (article_key, chat_id, day_of(now)))).fetchone()
                if row and row["same"]:
                    return None  # collected today already: briefed once
                if quota is not None:
                    quota.check_collected(int(row["n"]) if row else 0)
                await conn.execute("INSERT INTO collected VALUES (%s, %s, %s)", (chat_id, day_of(now), article_key))
            if quota is not None:
                quota.check(await self._usage_in(conn, user_id=user_id), await self._usage_in(conn, chat_id=chat_id),
                            user_id)
            row = await (await conn.execute(
                "INSERT INTO requests (chat_id, user_id, message_id, thread_id, mode, payload, dedupe_key,"
                " reserved_tokens, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
                (chat_id, user_id, message_id, thread_id, mode, text, key, reserve_tokens, now, now))).fetchone()
            if row is None:
                return None
            await conn.execute(ADD_USAGE, (day_of(now), user_id or 0, chat_id, 1, 0, 0, reserve_tokens))
            await conn.execute(f"NOTIFY {CHANNEL}")
            return int(row["id"])

        request_id = await self._run(body)
        if request_id is None:
            return None
        self._wake()
        return Request(id=request_id, chat_id=chat_id, user_id=user_id, message_id=message_id, thread_id=thread_id,
                       mode=mode, payload=payload, status="pending", attempts=0, reserved_tokens=reserve_tokens)

    async def claim(self, worker: str, lease_s: float) -> Request | None:
        row = await self._fetchone(CLAIM, {"lease": lease_s, "worker": worker})
        return request_of(row) if row else None

    async def renew(self, request_id: int, worker: str, lease_s: float) -> bool:
        return await self._execute(
            f"UPDATE requests SET lease_until = {NOW} + %s WHERE id = %s AND claimed_by = %s AND status = 'pending'",
            (lease_s, request_id, worker)) > 0

    async def release(self, request_id: int, worker: str, retry_in_s: float = 0.0) -> None:
        async def body(conn: Conn) -> None:
            cur = await conn.execute(f"UPDATE requests SET claimed_by = NULL, lease_until = 0, retry_at = {NOW} + %s,"
                                     f" updated_at = {NOW} WHERE id = %s AND claimed_by = %s",
                                     (retry_in_s, request_id, worker))
            if cur.rowcount and retry_in_s <= 0:
                await conn.execute(f"NOTIFY {CHANNEL}")

        await self._run(body)
        if retry_in_s <= 0:
            self._wake()

    async def release_all(self, worker: str | None = None) -> int:
        async def body(conn: Conn) -> int:
            if worker is None:
                cur = await conn.execute("UPDATE requests SET claimed_by = NULL, lease_until = 0"
                                         " WHERE status = 'pending' AND claimed_by IS NOT NULL")
            else:
                cur = await conn.execute("UPDATE requests SET claimed_by = NULL, lease_until = 0"
                                         " WHERE status = 'pending' AND claimed_by = %s", (worker,))
            if cur.rowcount:
                await conn.execute(f"NOTIFY {CHANNEL}")
            return cur.rowcount

        return await self._run(body)

    def _wake(self) -> None:
        """This process's own waiter, when no LISTEN connection will hear the NOTIFY."""
        if not self._notes.listening:
            self._notes.work.set()

    async def wait_for_work(self, at_most_s: float) -> None:
        await self._notes.wait(self._notes.work, at_most_s)

    async def wait_for_settings(self, at_most_s: float) -> None:
        await self._notes.wait(self._notes.settings, at_most_s)

    async def set_status_message(self, request_id: int, message_id: int) -> None:
        await self._execute("UPDATE requests SET status_message_id = %s WHERE id = %s", (message_id, request_id))

    async def set_delivered(self, request_id: int, parts: int) -> None:
        await self._execute("UPDATE requests SET delivered_parts = %s WHERE id = %s", (parts, request_id))

    async def finish_request(self, request_id: int, status: str, *, error: str | None = None,
                             brief_id: int | None = None, prompt_tokens: int = 0, completion_tokens: int = 0) -> None:
        async def body(conn: Conn) -> None:
            # the row lock makes two finishes of one request count its usage once
            row = await (await conn.execute("SELECT chat_id, user_id, reserved_tokens, created_at, status FROM requests"
                                            " WHERE id = %s FOR UPDATE", (request_id,))).fetchone()
            await conn.execute("UPDATE requests SET status = %s, error = %s, brief_id = COALESCE(%s, brief_id),"
                               f" updated_at = {NOW}, reserved_tokens = 0, claimed_by = NULL, lease_until = 0"
                               " WHERE id = %s", (status, text(error), brief_id, request_id))
            if row is not None and row["status"] == "pending":
                await conn.execute(ADD_USAGE, (day_of(row["created_at"]), row["user_id"] or 0, row["chat_id"], 0,
                                               prompt_tokens, completion_tokens, -row["reserved_tokens"]))
            await conn.execute(f"NOTIFY {CHANNEL}")  # the chat's next request may go now

        await self._run(body)
        self._wake()

    async def pending_count(self) -> int:
        row = await self._fetchone("SELECT COUNT(*) AS n FROM requests WHERE status = 'pending'")
        return int(row["n"]) if row else 0

    async def pending_requests(self) -> list[Request]:
        return [request_of(r) for r in await self._fetchall("SELECT * FROM requests WHERE status = 'pending' ORDER BY id")]

    async def request_status(self, request_id: int) -> str:
        row = await self._fetchone("SELECT status FROM requests WHERE id = %s", (request_id,))
        if row is None:
            raise KeyError(request_id)
        return str(row["status"])

    async def first_notice(self, chat_id: int, kind: str) -> bool:
        return await self._execute("INSERT INTO notices (chat_id, kind, day) VALUES (%s, %s, %s)"
                                   " ON CONFLICT DO NOTHING", (chat_id, kind, today())) > 0

    # --- briefs ---------------------------------------------------------------------------------
    async def save_brief(self, env: BriefEnvelope, url: str | None = None, *, context: str = "") -> int:
        async def body(conn: Conn) -> int:
            row = await (await conn.execute(
                "INSERT INTO briefs (content_hash, url, model, prompt_version, envelope, created_at, context)"
                f" VALUES (%s, %s, %s, %s, %s, {NOW}, %s) RETURNING id",
                (env.article.content_hash, text(url or env.article.url), env.provenance.model, env.provenance.prompt_version,
                 env.model_dump_json(), context))).fetchone()
            assert row is not None
            return int(row["id"])

        return await self._run(body, tx=False)

    async def find_brief(self, *, content_hash: str | None = None, url: str | None = None, model: str,
                         prompt_version: str, max_age_s: float | None = None,
                         context: str = "") -> tuple[int, BriefEnvelope] | None:
        column, value = ("content_hash", content_hash) if content_hash else ("url", url)
        if value is None:
            return None
        row = await self._fetchone(
            f"SELECT id, envelope FROM briefs WHERE {column} = %s AND model = %s AND prompt_version = %s"
            f" AND context = %s AND created_at >= {NOW} - %s ORDER BY id DESC LIMIT 1",
            (text(value), model, prompt_version, context, max_age_s if max_age_s is not None else float("inf")))
        return (int(row["id"]), BriefEnvelope.model_validate_json(row["envelope"])) if row else None

    async def get_brief(self, brief_id: int) -> BriefEnvelope | None:
        row = await self._fetchone("SELECT envelope FROM briefs WHERE id = %s", (brief_id,))
        return BriefEnvelope.model_validate_json(row["envelope"]) if row else None

    # --- chat settings --------------------------------------------------------------------------
    @staticmethod
    def _chat_of(row: dict[str, Any]) -> ChatSettings:
        return ChatSettings(chat_id=int(row["chat_id"]), lang=row["lang"], digest_enabled=bool(row["digest_enabled"]),
                            digest_time=row["digest_time"], timezone=row["timezone"],
                            last_digest_at=float(row["last_digest_at"]), format=row["format"],
                            digest_thread_id=row["digest_thread_id"])

    async def chat(self, chat_id: int) -> ChatSettings:
        row = await self._fetchone("SELECT * FROM chat_settings WHERE chat_id = %s", (chat_id,))
        return self._chat_of(row) if row else ChatSettings(chat_id=chat_id, known=False)

    async def set_last_digest(self, chat_id: int, at: float) -> None:
        await self._execute("UPDATE chat_settings SET last_digest_at = GREATEST(last_digest_at, %s) WHERE chat_id = %s",
                            (at, chat_id))

    async def save_chat(self, cs: ChatSettings) -> None:
        async def body(conn: Conn) -> None:
            await conn.execute(
                "INSERT INTO chat_settings (chat_id, lang, digest_enabled, digest_time, timezone, last_digest_at, format,"
                " digest_thread_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (chat_id) DO UPDATE SET"
                " lang = excluded.lang, digest_enabled = excluded.digest_enabled, digest_time = excluded.digest_time,"
                " timezone = excluded.timezone, last_digest_at = excluded.last_digest_at, format = excluded.format,"
                " digest_thread_id = excluded.digest_thread_id",
                (cs.chat_id, cs.lang, cs.digest_enabled, cs.digest_time, cs.timezone, cs.last_digest_at, cs.format,
                 cs.digest_thread_id))
            # every process running digests follows a schedule change at once, not at its next poll
            await conn.execute(f"NOTIFY {SETTINGS_CHANNEL}")

        await self._run(body)

    async def digest_chats(self) -> list[ChatSettings]:
        rows = await self._fetchall("SELECT * FROM chat_settings WHERE digest_enabled ORDER BY chat_id")
        return [self._chat_of(r) for r in rows]

    # --- usage ----------------------------------------------------------------------------------
    async def add_usage(self, user_id: int, chat_id: int, *, requests: int = 0, prompt_tokens: int = 0,
                        completion_tokens: int = 0) -> None:
        await self._execute(ADD_USAGE, (today(), user_id, chat_id, requests, prompt_tokens, completion_tokens, 0))

    async def usage(self, *, user_id: int | None = None, chat_id: int | None = None,
                    day: str | None = None) -> UsageFigures:
        async def body(conn: Conn) -> UsageFigures:
            return await self._usage_in(conn, user_id=user_id, chat_id=chat_id, day=day)

        return await self._run(body, tx=False)

    @staticmethod
    async def _usage_in(conn: Conn, *, user_id: int | None = None, chat_id: int | None = None,
                        day: str | None = None) -> UsageFigures:
        where, args = ["day = %s"], [day or today()]
        if user_id is not None:
            where.append("user_id = %s")
            args.append(user_id)  # type: ignore[arg-type]
        if chat_id is not None:
            where.append("chat_id = %s")
            args.append(chat_id)  # type: ignore[arg-type]
        row = await (await conn.execute(
            "SELECT COALESCE(SUM(requests), 0)::BIGINT AS requests, COALESCE(SUM(prompt_tokens), 0)::BIGINT AS p,"
            " COALESCE(SUM(completion_tokens), 0)::BIGINT AS c, COALESCE(SUM(reserved_tokens), 0)::BIGINT AS r"
            f" FROM usage WHERE {' AND '.join(where)}", args)).fetchone()  # type: ignore[arg-type]
        assert row is not None
        return UsageFigures(requests=row["requests"], prompt_tokens=row["p"], completion_tokens=row["c"],
                            reserved_tokens=row["r"])

    # --- digests --------------------------------------------------------------------------------
    async def add_digest_item(self, chat_id: int, brief_id: int, *, link: str | None = None,
                              outlet: str | None = None) -> None:
        await self._execute("INSERT INTO digest_items (chat_id, brief_id, shared_at, link, outlet)"
                            f" VALUES (%s, %s, {NOW}, %s, %s) ON CONFLICT (chat_id, brief_id) DO NOTHING",
                            (chat_id, brief_id, text(link), text(outlet)))

    async def digest_entries(self, chat_id: int, since: float) -> list[DigestEntry]:
        rows = await self._fetchall(
            "SELECT d.shared_at, b.envelope, d.link, d.outlet FROM digest_items d JOIN briefs b"
            " ON b.id = d.brief_id WHERE d.chat_id = %s AND d.shared_at > %s ORDER BY d.shared_at, d.id",
            (chat_id, since))
        return [DigestEntry(float(r["shared_at"]), BriefEnvelope.model_validate_json(r["envelope"]), r["link"],
                            r["outlet"]) for r in rows]

    async def claim_digest_run(self, chat_id: int, slot: str) -> bool:
        return await self._execute(f"INSERT INTO digest_runs (chat_id, slot, claimed_at) VALUES (%s, %s, {NOW})"
                                   " ON CONFLICT (chat_id, slot) DO NOTHING", (chat_id, slot)) > 0

    async def take_turn(self, key: str, every_s: float) -> float:
        async def body(conn: Conn) -> float:
            # the row lock of the upsert serialises callers: the one whose update applies has the turn
            taken = await (await conn.execute(
                f"INSERT INTO rate_slots (key, next_at) VALUES (%(key)s, {NOW} + %(every)s) ON CONFLICT (key)"
                f" DO UPDATE SET next_at = excluded.next_at WHERE rate_slots.next_at <= {NOW} RETURNING next_at",
                {"key": key, "every": every_s})).fetchone()
            if taken is not None:
                return 0.0
            row = await (await conn.execute(f"SELECT GREATEST(0, next_at - {NOW}) AS wait FROM rate_slots"
                                            " WHERE key = %s", (key,))).fetchone()
            return float(row["wait"]) if row else 0.0

        return await self._run(body)

    # --- private subscriptions to a chat's digest -------------------------------------------------
    async def subscribe(self, user_id: int, chat_id: int) -> bool:
        return await self._execute(f"INSERT INTO subscriptions (user_id, chat_id, created_at) VALUES (%s, %s, {NOW})"
                                   " ON CONFLICT (user_id, chat_id) DO NOTHING", (user_id, chat_id)) > 0

    async def unsubscribe(self, user_id: int, chat_id: int | None = None) -> list[int]:
        if chat_id is None:
            rows = await self._fetchall("DELETE FROM subscriptions WHERE user_id = %s RETURNING chat_id", (user_id,))
        else:
            rows = await self._fetchall("DELETE FROM subscriptions WHERE user_id = %s AND chat_id = %s"
                                        " RETURNING chat_id", (user_id, chat_id))
        return sorted(int(r["chat_id"]) for r in rows)

    async def subscriptions(self, user_id: int) -> list[int]:
        rows = await self._fetchall("SELECT chat_id FROM subscriptions WHERE user_id = %s ORDER BY created_at, chat_id",
                                    (user_id,))
        return [int(r["chat_id"]) for r in rows]

    async def subscribers(self, chat_id: int) -> list[int]:
        rows = await self._fetchall("SELECT user_id FROM subscriptions WHERE chat_id = %s ORDER BY created_at, user_id",
                                    (chat_id,))
        return [int(r["user_id"]) for r in rows]

    async def remember_username(self, chat_id: int, username: str) -> None:
        async def body(conn: Conn) -> None:
            await conn.execute("DELETE FROM chat_usernames WHERE chat_id = %s", (chat_id,))
            await conn.execute("INSERT INTO chat_usernames (username, chat_id) VALUES (%s, %s)"
                               " ON CONFLICT ((lower(username))) DO UPDATE SET chat_id = excluded.chat_id",
                               (text(username.lstrip("@")), chat_id))

        await self._run(body)

    async def username_of(self, chat_id: int) -> str | None:
        row = await self._fetchone("SELECT username FROM chat_usernames WHERE chat_id = %s", (chat_id,))
        return str(row["username"]) if row else None

    async def chat_by_username(self, username: str) -> int | None:
        row = await self._fetchone("SELECT chat_id FROM chat_usernames WHERE lower(username) = lower(%s)",
                                   (text(username.lstrip("@")),))
        return int(row["chat_id"]) if row else None

    # --- limits shared by every process ---------------------------------------------------------
    async def rate_slot(self, key: str, interval_s: float) -> float:
        row = await self._fetchone(
            f"INSERT INTO rate_slots (key, next_at) VALUES (%(key)s, {NOW} + %(interval)s) ON CONFLICT (key)"
            f" DO UPDATE SET next_at = GREATEST(rate_slots.next_at, {NOW}) + %(interval)s"
            f" RETURNING next_at - {NOW} AS ahead", {"key": key, "interval": interval_s})
        return float(row["ahead"]) if row else 0.0

    async def now(self) -> float:
        row = await self._fetchone(f"SELECT {NOW} AS now")
        return float(row["now"]) if row else clock.now()
