"""The SQLite store: one file, one process (the default; `newsbot run` without DATABASE_URL).

Calls are short and run on the event loop on purpose: SQLite in WAL mode answers in well under a
millisecond, and one connection with a lock keeps it simple. A file is not shared by processes on
several machines, so the split deployment (receiver and workers) needs PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

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
from bot.store.ledger_sqlite import SCHEMA as LEDGER_SCHEMA
from bot.store.ledger_sqlite import SQLiteLedger

MIGRATIONS: list[str] = [
    # 1: the first schema
    """
    CREATE TABLE requests (
        id INTEGER PRIMARY KEY,
        chat_id INTEGER NOT NULL,
        user_id INTEGER,
        message_id INTEGER,
        thread_id INTEGER,
        mode TEXT NOT NULL DEFAULT 'reply',          -- reply | collect (digest only)
        payload TEXT NOT NULL,                       -- JSON: text | url, publisher_hint
        status TEXT NOT NULL DEFAULT 'pending',      -- pending | done | failed
        attempts INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        brief_id INTEGER,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX requests_status ON requests(status);
    CREATE TABLE briefs (
        id INTEGER PRIMARY KEY,
        content_hash TEXT NOT NULL,
        url TEXT,
        model TEXT NOT NULL,
        prompt_version TEXT NOT NULL,
        envelope TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE INDEX briefs_hash ON briefs(content_hash, model, prompt_version);
    CREATE INDEX briefs_url ON briefs(url, model, prompt_version);
    CREATE TABLE chat_settings (
        chat_id INTEGER PRIMARY KEY,
        lang TEXT NOT NULL DEFAULT 'both',
        digest_enabled INTEGER NOT NULL DEFAULT 0,
        digest_time TEXT NOT NULL DEFAULT '18:00',
        timezone TEXT NOT NULL DEFAULT 'UTC',
        last_digest_at REAL NOT NULL DEFAULT 0
    );
    CREATE TABLE usage (
        day TEXT NOT NULL,
        user_id INTEGER NOT NULL,
        chat_id INTEGER NOT NULL,
        requests INTEGER NOT NULL DEFAULT 0,
        prompt_tokens INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (day, user_id, chat_id)
    );
    CREATE TABLE digest_items (
        id INTEGER PRIMARY KEY,
        chat_id INTEGER NOT NULL,
        brief_id INTEGER NOT NULL,
        shared_at REAL NOT NULL,
        UNIQUE (chat_id, brief_id)
    );
    CREATE INDEX digest_items_chat ON digest_items(chat_id, shared_at);
    """,
    # 2: a message redelivered after a crash (Telegram resends unconfirmed updates) is one request
    """
    ALTER TABLE requests ADD COLUMN dedupe_key TEXT;
    CREATE UNIQUE INDEX requests_dedupe ON requests(dedupe_key);
    """,
    # 3: a resumed request edits its own status message; quotas reserve tokens when a request is accepted
    """
    ALTER TABLE requests ADD COLUMN status_message_id INTEGER;
    ALTER TABLE requests ADD COLUMN reserved_tokens INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE usage ADD COLUMN reserved_tokens INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE heartbeat (id INTEGER PRIMARY KEY CHECK (id = 1), at REAL NOT NULL);
    """,
    # 4: digests link to what was shared (URL or t.me post) and name its publisher; readers subscribe
    # privately to a chat's digest; `/subscribe @name` finds chats by the username the bot saw
    """
    ALTER TABLE digest_items ADD COLUMN link TEXT;
    ALTER TABLE digest_items ADD COLUMN outlet TEXT;
    CREATE TABLE subscriptions (
        user_id INTEGER NOT NULL,
        chat_id INTEGER NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (user_id, chat_id)
    );
    CREATE INDEX subscriptions_chat ON subscriptions(chat_id);
    CREATE TABLE chat_usernames (
        username TEXT PRIMARY KEY COLLATE NOCASE,
        chat_id INTEGER NOT NULL
    );
    """,
    # 5: several workers may share the queue (claims with leases, retries at a time); one process per
    # scheduled digest run; rate limits shared by every process
    """
    ALTER TABLE requests ADD COLUMN claimed_by TEXT;
    ALTER TABLE requests ADD COLUMN lease_until REAL NOT NULL DEFAULT 0;
    ALTER TABLE requests ADD COLUMN retry_at REAL NOT NULL DEFAULT 0;
    ALTER TABLE requests ADD COLUMN delivered_parts INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX requests_queue ON requests(status, chat_id, id);
    CREATE TABLE digest_runs (
        chat_id INTEGER NOT NULL,
        slot TEXT NOT NULL,
        claimed_at REAL NOT NULL,
        PRIMARY KEY (chat_id, slot)
    );
    CREATE TABLE rate_slots (key TEXT PRIMARY KEY, next_at REAL NOT NULL);
    """,
    # 6: the pressure ledger (bot/store/ledger_sqlite.py)
    LEDGER_SCHEMA,
    # 7: a chat's choice of message format, rich (one Bot API rich message per brief) or classic
    """
    ALTER TABLE chat_settings ADD COLUMN format TEXT NOT NULL DEFAULT 'rich';
    """,
    # 8: a brief is reused only with the same request metadata ("" = the article alone); a brief
    # stored without this key may carry a requester's metadata, so it is never reused
    """
    ALTER TABLE briefs ADD COLUMN context TEXT NOT NULL DEFAULT '';
    UPDATE briefs SET context = 'unknown';
    """,
    # 9: what each chat collected for its digest today (its daily budget, near-duplicates briefed
    # once), and notices given once a day
    """
    CREATE TABLE collected (chat_id INTEGER NOT NULL, day TEXT NOT NULL, key TEXT NOT NULL,
                            PRIMARY KEY (chat_id, day, key));
    CREATE TABLE notices (chat_id INTEGER NOT NULL, kind TEXT NOT NULL, day TEXT NOT NULL,
                          PRIMARY KEY (chat_id, kind, day));
    """,
    # 10: in a forum group, digests post in the topic `/digest on` was sent in (NULL: General)
    """
    ALTER TABLE chat_settings ADD COLUMN digest_thread_id INTEGER;
    """,
]

# only the oldest unfinished request of a chat may be claimed, and only when no live lease holds it;
# "oldest" by the user's message id, since a receiver admits a chat's messages concurrently
CLAIMABLE = """
    SELECT * FROM requests r WHERE r.status = 'pending' AND r.lease_until < :now AND r.retry_at <= :now
    AND NOT EXISTS (SELECT 1 FROM requests o WHERE o.status = 'pending' AND o.chat_id = r.chat_id
              AND (COALESCE(o.message_id, 0), o.id) < (COALESCE(r.message_id, 0), r.id))
    ORDER BY r.id LIMIT 1
"""


class SQLiteStore(SQLiteLedger, Store):
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=10)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._migrate()
        self._work = asyncio.Event()  # set when a request is added or finished: the runner looks again

    async def open(self) -> None:
        """Nothing to do: the file is opened and migrated when the store is made."""

    async def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                # disk full, read-only or locked: callers tell the user instead of losing the work
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise StorageUnavailable(str(exc)) from exc

    def _migrate(self) -> None:
        with self._lock:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                self._db.executescript(f"BEGIN; {script}; PRAGMA user_version={number}; COMMIT;")

    async def schema_version(self) -> int:
        with self._lock:
            return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    async def now(self) -> float:
        return clock.now()

    async def ping(self) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO heartbeat (id, at) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET at = excluded.at",
                       (clock.now(),))

    # --- requests -------------------------------------------------------------------------------
    async def add_request(self, chat_id: int, user_id: int | None, message_id: int | None, payload: dict[str, Any],
                          *, mode: str = "reply", thread_id: int | None = None, reserve_tokens: int = 0,
                          quota: Quota | None = None, article_key: str | None = None) -> Request | None:
        now = clock.now()
        text = json.dumps(payload, ensure_ascii=False, sort_keys=True)
        key = dedupe_key(chat_id, message_id, mode, text)
        with self._tx() as db:
            if key is not None and db.execute("SELECT 1 FROM requests WHERE dedupe_key = ?", (key,)).fetchone():
                return None  # a redelivered update: it was admitted (and counted) the first time
            if article_key is not None:
                if db.execute("SELECT 1 FROM collected WHERE chat_id = ? AND day = ? AND key = ?",
                              (chat_id, day_of(now), article_key)).fetchone():
                    return None  # collected today already: briefed once
                if quota is not None:
                    quota.check_collected(db.execute("SELECT COUNT(*) FROM collected WHERE chat_id = ? AND day = ?",
                                                     (chat_id, day_of(now))).fetchone()[0])
                db.execute("INSERT INTO collected (chat_id, day, key) VALUES (?, ?, ?)",
                           (chat_id, day_of(now), article_key))
            if quota is not None:
                quota.check(self._usage_in(db, user_id=user_id), self._usage_in(db, chat_id=chat_id), user_id)
            cur = db.execute(
                "INSERT OR IGNORE INTO requests (chat_id, user_id, message_id, thread_id, mode, payload, dedupe_key,"
                " reserved_tokens, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (chat_id, user_id, message_id, thread_id, mode, text, key, reserve_tokens, now, now))
            if cur.rowcount == 0:
                return None
            self._add_usage(db, day_of(now), user_id or 0, chat_id, requests=1, reserved_tokens=reserve_tokens)
        self._wake()
        return Request(id=int(cur.lastrowid or 0), chat_id=chat_id, user_id=user_id, message_id=message_id,
                       thread_id=thread_id, mode=mode, payload=payload, status="pending", attempts=0,
                       reserved_tokens=reserve_tokens)

    async def claim(self, worker: str, lease_s: float) -> Request | None:
        now = clock.now()
        with self._tx() as db:
            row = db.execute(CLAIMABLE, {"now": now}).fetchone()
            if row is None:
                return None
            db.execute("UPDATE requests SET claimed_by = ?, lease_until = ?, attempts = attempts + 1, updated_at = ?"
                       " WHERE id = ?", (worker, now + lease_s, now, row["id"]))
            row = db.execute("SELECT * FROM requests WHERE id = ?", (row["id"],)).fetchone()
        return request_of(row)

    async def renew(self, request_id: int, worker: str, lease_s: float) -> bool:
        with self._tx() as db:
            cur = db.execute("UPDATE requests SET lease_until = ? WHERE id = ? AND claimed_by = ? AND status = 'pending'",
                             (clock.now() + lease_s, request_id, worker))
            return cur.rowcount > 0

    async def release(self, request_id: int, worker: str, retry_in_s: float = 0.0) -> None:
        now = clock.now()
        with self._tx() as db:
            db.execute("UPDATE requests SET claimed_by = NULL, lease_until = 0, retry_at = ?, updated_at = ?"
                       " WHERE id = ? AND claimed_by = ?", (now + retry_in_s, now, request_id, worker))
        if retry_in_s <= 0:
            self._wake()

    async def release_all(self, worker: str | None = None) -> int:
        with self._tx() as db:
            where, args = ("status = 'pending' AND claimed_by IS NOT NULL", ()) if worker is None else \
                ("status = 'pending' AND claimed_by = ?", (worker,))
            cur = db.execute(f"UPDATE requests SET claimed_by = NULL, lease_until = 0 WHERE {where}", args)
            return cur.rowcount

    def _wake(self) -> None:
        self._work.set()

    async def wait_for_work(self, at_most_s: float) -> None:
        # one process shares this file: an event in memory is the whole notification
        with suppress(TimeoutError):
            await asyncio.wait_for(self._work.wait(), at_most_s)
        self._work.clear()

    async def set_status_message(self, request_id: int, message_id: int) -> None:
        with self._tx() as db:
            db.execute("UPDATE requests SET status_message_id = ? WHERE id = ?", (message_id, request_id))

    async def set_delivered(self, request_id: int, parts: int) -> None:
        with self._tx() as db:
            db.execute("UPDATE requests SET delivered_parts = ? WHERE id = ?", (parts, request_id))

    async def finish_request(self, request_id: int, status: str, *, error: str | None = None,
                             brief_id: int | None = None, prompt_tokens: int = 0, completion_tokens: int = 0) -> None:
        with self._tx() as db:
            row = db.execute("SELECT chat_id, user_id, reserved_tokens, created_at, status FROM requests"
                             " WHERE id = ?", (request_id,)).fetchone()
            db.execute("UPDATE requests SET status = ?, error = ?, brief_id = COALESCE(?, brief_id), updated_at = ?,"
                       " reserved_tokens = 0, claimed_by = NULL, lease_until = 0 WHERE id = ?",
                       (status, error, brief_id, clock.now(), request_id))
            if row is not None and row["status"] == "pending":
                self._add_usage(db, day_of(row["created_at"]), row["user_id"] or 0, row["chat_id"],
                                prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                                reserved_tokens=-row["reserved_tokens"])
        self._wake()  # the chat's next request may go now

    async def pending_count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM requests WHERE status = 'pending'").fetchone()[0])

    async def pending_requests(self) -> list[Request]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM requests WHERE status = 'pending' ORDER BY id").fetchall()
        return [request_of(r) for r in rows]

    async def request_status(self, request_id: int) -> str:
        with self._lock:
            return str(self._db.execute("SELECT status FROM requests WHERE id = ?", (request_id,)).fetchone()[0])

    async def first_notice(self, chat_id: int, kind: str) -> bool:
        with self._tx() as db:
            return db.execute("INSERT OR IGNORE INTO notices (chat_id, kind, day) VALUES (?, ?, ?)",
                              (chat_id, kind, today())).rowcount > 0

    # --- briefs ---------------------------------------------------------------------------------
    async def save_brief(self, env: BriefEnvelope, url: str | None = None, *, context: str = "") -> int:
        envelope = env.model_dump_json()
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO briefs (content_hash, url, model, prompt_version, envelope, created_at, context)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (env.article.content_hash, url or env.article.url, env.provenance.model, env.provenance.prompt_version,
                 envelope, clock.now(), context))
            return int(cur.lastrowid or 0)

    async def find_brief(self, *, content_hash: str | None = None, url: str | None = None, model: str,
                         prompt_version: str, max_age_s: float | None = None,
                         context: str = "") -> tuple[int, BriefEnvelope] | None:
        column, value = ("content_hash", content_hash) if content_hash else ("url", url)
        if value is None:
            return None
        since = clock.now() - max_age_s if max_age_s is not None else 0.0
        with self._lock:
            row = self._db.execute(
                f"SELECT id, envelope FROM briefs WHERE {column} = ? AND model = ? AND prompt_version = ?"
                " AND context = ? AND created_at >= ? ORDER BY id DESC LIMIT 1",
                (value, model, prompt_version, context, since)).fetchone()
        return (row["id"], BriefEnvelope.model_validate_json(row["envelope"])) if row else None

    async def get_brief(self, brief_id: int) -> BriefEnvelope | None:
        with self._lock:
            row = self._db.execute("SELECT envelope FROM briefs WHERE id = ?", (brief_id,)).fetchone()
        return BriefEnvelope.model_validate_json(row["envelope"]) if row else None

    # --- chat settings --------------------------------------------------------------------------
    async def chat(self, chat_id: int) -> ChatSettings:
        with self._lock:
            row = self._db.execute("SELECT * FROM chat_settings WHERE chat_id = ?", (chat_id,)).fetchone()
        if row is None:
            return ChatSettings(chat_id=chat_id, known=False)
        return ChatSettings(chat_id=chat_id, lang=row["lang"], digest_enabled=bool(row["digest_enabled"]),
                            digest_time=row["digest_time"], timezone=row["timezone"],
                            last_digest_at=row["last_digest_at"], format=row["format"],
                            digest_thread_id=row["digest_thread_id"])

    async def set_last_digest(self, chat_id: int, at: float) -> None:
        with self._tx() as db:
            db.execute("UPDATE chat_settings SET last_digest_at = MAX(last_digest_at, ?) WHERE chat_id = ?",
                       (at, chat_id))

    async def save_chat(self, cs: ChatSettings) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO chat_settings (chat_id, lang, digest_enabled, digest_time, timezone, last_digest_at, format,"
                " digest_thread_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(chat_id) DO UPDATE SET"
                " lang = excluded.lang, digest_enabled = excluded.digest_enabled, digest_time = excluded.digest_time,"
                " timezone = excluded.timezone, last_digest_at = excluded.last_digest_at, format = excluded.format,"
                " digest_thread_id = excluded.digest_thread_id",
                (cs.chat_id, cs.lang, int(cs.digest_enabled), cs.digest_time, cs.timezone, cs.last_digest_at,
                 cs.format, cs.digest_thread_id))

    async def digest_chats(self) -> list[ChatSettings]:
        with self._lock:
            ids = [r[0] for r in self._db.execute("SELECT chat_id FROM chat_settings WHERE digest_enabled = 1")]
        return [await self.chat(i) for i in ids]

    # --- usage ----------------------------------------------------------------------------------
    async def add_usage(self, user_id: int, chat_id: int, *, requests: int = 0, prompt_tokens: int = 0,
                        completion_tokens: int = 0) -> None:
        with self._tx() as db:
            self._add_usage(db, today(), user_id, chat_id, requests=requests, prompt_tokens=prompt_tokens,
                            completion_tokens=completion_tokens)

    @staticmethod
    def _add_usage(db: sqlite3.Connection, day: str, user_id: int, chat_id: int, *, requests: int = 0,
                   prompt_tokens: int = 0, completion_tokens: int = 0, reserved_tokens: int = 0) -> None:
        db.execute(
            "INSERT INTO usage (day, user_id, chat_id, requests, prompt_tokens, completion_tokens, reserved_tokens)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(day, user_id, chat_id) DO UPDATE SET"
            " requests = requests + excluded.requests, prompt_tokens = prompt_tokens + excluded.prompt_tokens,"
            " completion_tokens = completion_tokens + excluded.completion_tokens,"
            " reserved_tokens = MAX(0, reserved_tokens + excluded.reserved_tokens)",
            (day, user_id, chat_id, requests, prompt_tokens, completion_tokens, reserved_tokens))

    async def usage(self, *, user_id: int | None = None, chat_id: int | None = None,
                    day: str | None = None) -> UsageFigures:
        with self._lock:
            return self._usage_in(self._db, user_id=user_id, chat_id=chat_id, day=day)

    @staticmethod
    def _usage_in(db: sqlite3.Connection, *, user_id: int | None = None, chat_id: int | None = None,
                  day: str | None = None) -> UsageFigures:
        where, args = ["day = ?"], [day or today()]
        if user_id is not None:
            where.append("user_id = ?")
            args.append(user_id)  # type: ignore[arg-type]
        if chat_id is not None:
            where.append("chat_id = ?")
            args.append(chat_id)  # type: ignore[arg-type]
        row = db.execute(
            "SELECT COALESCE(SUM(requests),0), COALESCE(SUM(prompt_tokens),0), COALESCE(SUM(completion_tokens),0),"
            f" COALESCE(SUM(reserved_tokens),0) FROM usage WHERE {' AND '.join(where)}", args).fetchone()
        return UsageFigures(requests=row[0], prompt_tokens=row[1], completion_tokens=row[2], reserved_tokens=row[3])

    # --- digests --------------------------------------------------------------------------------
    async def add_digest_item(self, chat_id: int, brief_id: int, *, link: str | None = None,
                              outlet: str | None = None) -> None:
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO digest_items (chat_id, brief_id, shared_at, link, outlet)"
                       " VALUES (?, ?, ?, ?, ?)", (chat_id, brief_id, clock.now(), link, outlet))

    async def digest_entries(self, chat_id: int, since: float) -> list[DigestEntry]:
        with self._lock:
            rows = self._db.execute(
                "SELECT d.shared_at, b.envelope, d.link, d.outlet FROM digest_items d JOIN briefs b"
                " ON b.id = d.brief_id WHERE d.chat_id = ? AND d.shared_at > ? ORDER BY d.shared_at",
                (chat_id, since)).fetchall()
        return [DigestEntry(r[0], BriefEnvelope.model_validate_json(r[1]), r[2], r[3]) for r in rows]

    async def claim_digest_run(self, chat_id: int, slot: str) -> bool:
        with self._tx() as db:
            cur = db.execute("INSERT OR IGNORE INTO digest_runs (chat_id, slot, claimed_at) VALUES (?, ?, ?)",
                             (chat_id, slot, clock.now()))
            return cur.rowcount > 0

    async def take_turn(self, key: str, every_s: float) -> float:
        now = clock.now()
        with self._tx() as db:
            row = db.execute(
                "INSERT INTO rate_slots (key, next_at) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET"
                " next_at = excluded.next_at WHERE rate_slots.next_at <= ? RETURNING next_at",
                (key, now + every_s, now)).fetchone()
            if row is not None:
                return 0.0
            return max(0.0, float(db.execute("SELECT next_at FROM rate_slots WHERE key = ?", (key,)).fetchone()[0])
                       - now)

    # --- private subscriptions to a chat's digest -------------------------------------------------
    async def subscribe(self, user_id: int, chat_id: int) -> bool:
        with self._tx() as db:
            cur = db.execute("INSERT OR IGNORE INTO subscriptions (user_id, chat_id, created_at) VALUES (?, ?, ?)",
                             (user_id, chat_id, clock.now()))
            return cur.rowcount > 0

    async def unsubscribe(self, user_id: int, chat_id: int | None = None) -> list[int]:
        with self._tx() as db:
            where, args = ("user_id = ?", [user_id]) if chat_id is None else \
                ("user_id = ? AND chat_id = ?", [user_id, chat_id])
            chats = [r[0] for r in db.execute(f"SELECT chat_id FROM subscriptions WHERE {where}", args)]
            db.execute(f"DELETE FROM subscriptions WHERE {where}", args)
        return chats

    async def subscriptions(self, user_id: int) -> list[int]:
        with self._lock:
            return [r[0] for r in self._db.execute(
                "SELECT chat_id FROM subscriptions WHERE user_id = ? ORDER BY created_at", (user_id,))]

    async def subscribers(self, chat_id: int) -> list[int]:
        with self._lock:
            return [r[0] for r in self._db.execute(
                "SELECT user_id FROM subscriptions WHERE chat_id = ? ORDER BY created_at", (chat_id,))]

    async def remember_username(self, chat_id: int, username: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM chat_usernames WHERE chat_id = ?", (chat_id,))
            db.execute("INSERT INTO chat_usernames (username, chat_id) VALUES (?, ?) ON CONFLICT(username)"
                       " DO UPDATE SET chat_id = excluded.chat_id", (username.lstrip("@"), chat_id))

    async def username_of(self, chat_id: int) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT username FROM chat_usernames WHERE chat_id = ?", (chat_id,)).fetchone()
        return str(row[0]) if row else None

    async def chat_by_username(self, username: str) -> int | None:
        with self._lock:
            row = self._db.execute("SELECT chat_id FROM chat_usernames WHERE username = ?",
                                   (username.lstrip("@"),)).fetchone()
        return int(row[0]) if row else None

    # --- limits shared by every process ---------------------------------------------------------
    async def rate_slot(self, key: str, interval_s: float) -> float:
        now = clock.now()
        with self._tx() as db:
            row = db.execute(
                "INSERT INTO rate_slots (key, next_at) VALUES (?, ? + ?) ON CONFLICT(key) DO UPDATE SET"
                " next_at = MAX(next_at, ?) + ? RETURNING next_at", (key, now, interval_s, now, interval_s)).fetchone()
        return float(row[0]) - now
