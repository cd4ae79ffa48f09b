"""Storage: requests, briefs, chat settings, usage and digest items, in one SQLite file.

Everything goes through `Store`'s small methods, so a server database can replace SQLite
later without touching the handlers. Calls are short and synchronous on purpose: SQLite in
WAL mode answers in well under a millisecond, and one connection with a lock keeps it simple.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.schema import BriefEnvelope

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
]


@dataclass
class Request:
    id: int
    chat_id: int
    user_id: int | None
    message_id: int | None
    thread_id: int | None
    mode: str
    payload: dict[str, Any]
    status: str
    attempts: int


@dataclass
class ChatSettings:
    chat_id: int
    lang: str = "both"
    digest_enabled: bool = False
    digest_time: str = "18:00"
    timezone: str = "UTC"
    last_digest_at: float = 0.0


@dataclass
class UsageFigures:
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


class Store:
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

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _migrate(self) -> None:
        with self._lock:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                self._db.executescript(f"BEGIN; {script}; PRAGMA user_version={number}; COMMIT;")

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    # --- requests -------------------------------------------------------------------------------
    def add_request(self, chat_id: int, user_id: int | None, message_id: int | None, payload: dict[str, Any],
                    *, mode: str = "reply", thread_id: int | None = None) -> Request | None:
        """Write a request before any work starts; None if this message asked for it already."""
        now = time.time()
        text = json.dumps(payload, ensure_ascii=False, sort_keys=True)
        key = None
        if message_id is not None:
            key = hashlib.sha256(f"{chat_id}:{message_id}:{mode}:{text}".encode()).hexdigest()
        with self._tx() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO requests (chat_id, user_id, message_id, thread_id, mode, payload, dedupe_key,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (chat_id, user_id, message_id, thread_id, mode, text, key, now, now))
            if cur.rowcount == 0:
                return None
        return Request(id=int(cur.lastrowid or 0), chat_id=chat_id, user_id=user_id, message_id=message_id,
                       thread_id=thread_id, mode=mode, payload=payload, status="pending", attempts=0)

    def start_attempt(self, request_id: int) -> int:
        """Count an attempt before work starts, so a crash mid-work still counts."""
        with self._tx() as db:
            db.execute("UPDATE requests SET attempts = attempts + 1, updated_at = ? WHERE id = ?",
                       (time.time(), request_id))
            return int(db.execute("SELECT attempts FROM requests WHERE id = ?", (request_id,)).fetchone()[0])

    def finish_request(self, request_id: int, status: str, *, error: str | None = None,
                       brief_id: int | None = None) -> None:
        with self._tx() as db:
            db.execute("UPDATE requests SET status = ?, error = ?, brief_id = COALESCE(?, brief_id), updated_at = ?"
                       " WHERE id = ?", (status, error, brief_id, time.time(), request_id))

    def pending_requests(self) -> list[Request]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM requests WHERE status = 'pending' ORDER BY id").fetchall()
        return [Request(id=r["id"], chat_id=r["chat_id"], user_id=r["user_id"], message_id=r["message_id"],
                        thread_id=r["thread_id"], mode=r["mode"], payload=json.loads(r["payload"]),
                        status=r["status"], attempts=r["attempts"]) for r in rows]

    def request_status(self, request_id: int) -> str:
        with self._lock:
            return str(self._db.execute("SELECT status FROM requests WHERE id = ?", (request_id,)).fetchone()[0])

    # --- briefs ---------------------------------------------------------------------------------
    def save_brief(self, env: BriefEnvelope, url: str | None = None) -> int:
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO briefs (content_hash, url, model, prompt_version, envelope, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (env.article.content_hash, url or env.article.url, env.provenance.model, env.provenance.prompt_version,
                 env.model_dump_json(), time.time()))
            return int(cur.lastrowid or 0)

    def find_brief(self, *, content_hash: str | None = None, url: str | None = None, model: str,
                   prompt_version: str, max_age_s: float | None = None) -> tuple[int, BriefEnvelope] | None:
        """A brief of the same text (or the same URL, not older than `max_age_s`) by the same model
        and prompts."""
        column, value = ("content_hash", content_hash) if content_hash else ("url", url)
        if value is None:
            return None
        since = time.time() - max_age_s if max_age_s is not None else 0.0
        with self._lock:
            row = self._db.execute(
                f"SELECT id, envelope FROM briefs WHERE {column} = ? AND model = ? AND prompt_version = ?"
                " AND created_at >= ? ORDER BY id DESC LIMIT 1", (value, model, prompt_version, since)).fetchone()
        return (row["id"], BriefEnvelope.model_validate_json(row["envelope"])) if row else None

    def get_brief(self, brief_id: int) -> BriefEnvelope | None:
        with self._lock:
            row = self._db.execute("SELECT envelope FROM briefs WHERE id = ?", (brief_id,)).fetchone()
        return BriefEnvelope.model_validate_json(row["envelope"]) if row else None

    # --- chat settings --------------------------------------------------------------------------
    def chat(self, chat_id: int) -> ChatSettings:
        with self._lock:
            row = self._db.execute("SELECT * FROM chat_settings WHERE chat_id = ?", (chat_id,)).fetchone()
        if row is None:
            return ChatSettings(chat_id=chat_id)
        return ChatSettings(chat_id=chat_id, lang=row["lang"], digest_enabled=bool(row["digest_enabled"]),
                            digest_time=row["digest_time"], timezone=row["timezone"],
                            last_digest_at=row["last_digest_at"])

    def save_chat(self, cs: ChatSettings) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO chat_settings (chat_id, lang, digest_enabled, digest_time, timezone, last_digest_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(chat_id) DO UPDATE SET lang = excluded.lang,"
                " digest_enabled = excluded.digest_enabled, digest_time = excluded.digest_time,"
                " timezone = excluded.timezone, last_digest_at = excluded.last_digest_at",
                (cs.chat_id, cs.lang, int(cs.digest_enabled), cs.digest_time, cs.timezone, cs.last_digest_at))

    def digest_chats(self) -> list[ChatSettings]:
        with self._lock:
            ids = [r[0] for r in self._db.execute("SELECT chat_id FROM chat_settings WHERE digest_enabled = 1")]
        return [self.chat(i) for i in ids]

    # --- usage ----------------------------------------------------------------------------------
    def add_usage(self, user_id: int, chat_id: int, *, requests: int = 0, prompt_tokens: int = 0,
                  completion_tokens: int = 0) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO usage (day, user_id, chat_id, requests, prompt_tokens, completion_tokens)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(day, user_id, chat_id) DO UPDATE SET"
                " requests = requests + excluded.requests, prompt_tokens = prompt_tokens + excluded.prompt_tokens,"
                " completion_tokens = completion_tokens + excluded.completion_tokens",
                (today(), user_id, chat_id, requests, prompt_tokens, completion_tokens))

    def usage(self, *, user_id: int | None = None, chat_id: int | None = None, day: str | None = None) -> UsageFigures:
        where, args = ["day = ?"], [day or today()]
        if user_id is not None:
            where.append("user_id = ?")
            args.append(user_id)  # type: ignore[arg-type]
        if chat_id is not None:
            where.append("chat_id = ?")
            args.append(chat_id)  # type: ignore[arg-type]
        with self._lock:
            row = self._db.execute(
                "SELECT COALESCE(SUM(requests),0), COALESCE(SUM(prompt_tokens),0), COALESCE(SUM(completion_tokens),0)"
                f" FROM usage WHERE {' AND '.join(where)}", args).fetchone()
        return UsageFigures(requests=row[0], prompt_tokens=row[1], completion_tokens=row[2])

    # --- digests --------------------------------------------------------------------------------
    def add_digest_item(self, chat_id: int, brief_id: int) -> None:
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO digest_items (chat_id, brief_id, shared_at) VALUES (?, ?, ?)",
                       (chat_id, brief_id, time.time()))

    def digest_items(self, chat_id: int, since: float) -> list[tuple[float, BriefEnvelope]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT d.shared_at, b.envelope FROM digest_items d JOIN briefs b ON b.id = d.brief_id"
                " WHERE d.chat_id = ? AND d.shared_at > ? ORDER BY d.shared_at", (chat_id, since)).fetchall()
        return [(r[0], BriefEnvelope.model_validate_json(r[1])) for r in rows]
