"""The pressure ledger on SQLite: identities, events, tracked actors and alerts (see `bot.ledger`)."""

from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from bot.ledger.values import Event, Identity
from bot.ops import clock

#: the ledger's tables; indexes serve a timeline (an actor's events as actor or target, newest
#: first), a digest's window (a chat's events after a time) and a pair's history
SCHEMA = """
    CREATE TABLE ledger_identities (
        id INTEGER PRIMARY KEY,
        chat_id INTEGER NOT NULL,
        name_en TEXT NOT NULL,
        name_ar TEXT NOT NULL,
        kind TEXT NOT NULL,
        country TEXT,
        aliases TEXT NOT NULL,                       -- JSON list of name keys (en:…, ar:…, id:…)
        related INTEGER,                             -- belongs to this identity without being it
        created_at REAL NOT NULL
    );
    CREATE INDEX ledger_identities_chat ON ledger_identities(chat_id);
    CREATE TABLE ledger_events (
        id INTEGER PRIMARY KEY,
        chat_id INTEGER NOT NULL,
        brief_id INTEGER NOT NULL,
        kind TEXT NOT NULL,                          -- pressure | position
        actor INTEGER NOT NULL,
        target INTEGER,
        event TEXT,                                  -- PLOVER type of a pressure
        shared_at REAL NOT NULL,
        published TEXT,
        outlet TEXT,
        outlet_ar TEXT,
        link TEXT,
        evidence TEXT,                               -- a pressure's evidence, a position's quote
        verified INTEGER NOT NULL DEFAULT 0,
        stance_en TEXT,
        stance_ar TEXT,
        actor_key TEXT NOT NULL DEFAULT '',
        target_key TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX ledger_events_actor ON ledger_events(chat_id, actor, shared_at);
    CREATE INDEX ledger_events_target ON ledger_events(chat_id, target, shared_at);
    CREATE INDEX ledger_events_time ON ledger_events(chat_id, shared_at);
    CREATE INDEX ledger_events_brief ON ledger_events(chat_id, brief_id);
    CREATE TABLE ledger_tracks (
        chat_id INTEGER NOT NULL,
        actor INTEGER NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (chat_id, actor)
    );
    CREATE TABLE ledger_alerts (
        chat_id INTEGER NOT NULL,
        actor INTEGER NOT NULL,
        story TEXT NOT NULL,
        sent_at REAL NOT NULL,                       -- when the story was last reported in the chat
        PRIMARY KEY (chat_id, actor, story)
    );
"""

COLUMNS = ("chat_id", "brief_id", "kind", "actor", "target", "event", "shared_at", "published", "outlet", "outlet_ar", "link",
           "evidence", "verified", "stance_en", "stance_ar", "actor_key", "target_key")


def event_of(r: Any) -> Event:
    return Event(id=r["id"], chat_id=r["chat_id"], brief_id=r["brief_id"], kind=r["kind"], actor=r["actor"],
                 target=r["target"], event=r["event"], shared_at=float(r["shared_at"]), published=r["published"],
                 outlet=r["outlet"], outlet_ar=r["outlet_ar"], link=r["link"], evidence=r["evidence"], verified=bool(r["verified"]),
                 stance_en=r["stance_en"], stance_ar=r["stance_ar"], actor_key=r["actor_key"],
                 target_key=r["target_key"])


def identity_of(r: Any) -> Identity:
    return Identity(id=r["id"], chat_id=r["chat_id"], name_en=r["name_en"], name_ar=r["name_ar"], kind=r["kind"],
                    country=r["country"], aliases=set(json.loads(r["aliases"])), related=r["related"])


def row_of(e: Event) -> tuple[Any, ...]:
    return tuple(getattr(e, c) for c in COLUMNS)


class SQLiteLedger:
    """Mixed into `SQLiteStore`: the same connection, lock and transactions."""

    _db: sqlite3.Connection
    _lock: threading.RLock

    if TYPE_CHECKING:
        def _tx(self) -> AbstractContextManager[sqlite3.Connection]: ...

    async def ledger_identities(self, chat_id: int) -> list[Identity]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM ledger_identities WHERE chat_id = ? ORDER BY id",
                                    (chat_id,)).fetchall()
        return [identity_of(r) for r in rows]

    async def ledger_save_identity(self, ident: Identity) -> int:
        aliases = json.dumps(sorted(ident.aliases), ensure_ascii=False)
        with self._tx() as db:
            if ident.id > 0:
                db.execute("UPDATE ledger_identities SET name_en = ?, name_ar = ?, kind = ?, country = ?, aliases = ?,"
                           " related = ? WHERE id = ? AND chat_id = ?",
                           (ident.name_en, ident.name_ar, ident.kind, ident.country, aliases, ident.related, ident.id,
                            ident.chat_id))
                return ident.id
            cur = db.execute("INSERT INTO ledger_identities (chat_id, name_en, name_ar, kind, country, aliases, related,"
                             " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             (ident.chat_id, ident.name_en, ident.name_ar, ident.kind, ident.country, aliases,
                              ident.related, clock.now()))
            return int(cur.lastrowid or 0)

    async def ledger_has_brief(self, chat_id: int, brief_id: int) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM ledger_events WHERE chat_id = ? AND brief_id = ? LIMIT 1",
                                    (chat_id, brief_id)).fetchone() is not None

    async def ledger_add_events(self, chat_id: int, events: list[Event]) -> None:
        with self._tx() as db:
            db.executemany(f"INSERT INTO ledger_events ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                           [row_of(e) for e in events if e.chat_id == chat_id])

    async def ledger_timeline(self, chat_id: int, actor: int, limit: int = 40) -> list[Event]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM (SELECT * FROM ledger_events WHERE chat_id = ? AND actor = ?"
                " ORDER BY shared_at DESC LIMIT ?) UNION ALL SELECT * FROM (SELECT * FROM ledger_events"
                " WHERE chat_id = ? AND target = ? ORDER BY shared_at DESC LIMIT ?)"
                " ORDER BY shared_at DESC, id DESC LIMIT ?",
                (chat_id, actor, limit, chat_id, actor, limit, limit)).fetchall()
        return [event_of(r) for r in rows]

    async def ledger_window(self, chat_id: int, since: float) -> list[Event]:
        with self._lock:
            fresh = [event_of(r) for r in self._db.execute(
                "SELECT * FROM ledger_events WHERE chat_id = ? AND shared_at > ? ORDER BY shared_at, id",
                (chat_id, since))]
            history: list[Event] = []
            pairs = {(e.actor, e.target) for e in fresh if e.kind == "pressure"}
            for actor, target in pairs:
                history += [event_of(r) for r in self._db.execute(
                    "SELECT * FROM ledger_events WHERE chat_id = ? AND actor = ? AND target = ? AND shared_at = ("
                    " SELECT MAX(shared_at) FROM ledger_events WHERE chat_id = ? AND actor = ? AND target = ?"
                    " AND shared_at <= ?)", (chat_id, actor, target, chat_id, actor, target, since))]
            for actor in {e.actor for e in fresh if e.kind == "position"}:
                history += [event_of(r) for r in self._db.execute(
                    "SELECT * FROM ledger_events WHERE chat_id = ? AND actor = ? AND kind = 'position' AND shared_at = ("
                    " SELECT MAX(shared_at) FROM ledger_events WHERE chat_id = ? AND actor = ? AND kind = 'position'"
                    " AND shared_at <= ?)", (chat_id, actor, chat_id, actor, since))]
        return history + fresh

    async def ledger_merge(self, chat_id: int, keep: int, gone: int) -> bool:
        with self._tx() as db:
            rows = {r["id"]: r for r in db.execute("SELECT * FROM ledger_identities WHERE chat_id = ? AND id IN (?, ?)",
                                                   (chat_id, keep, gone))}
            if keep == gone or len(rows) != 2:
                return False
            aliases = sorted(set(json.loads(rows[keep]["aliases"])) | set(json.loads(rows[gone]["aliases"])))
            db.execute("UPDATE ledger_identities SET aliases = ? WHERE id = ?", (json.dumps(aliases, ensure_ascii=False),
                                                                                 keep))
            db.execute("UPDATE ledger_events SET actor = ? WHERE chat_id = ? AND actor = ?", (keep, chat_id, gone))
            db.execute("UPDATE ledger_events SET target = ? WHERE chat_id = ? AND target = ?", (keep, chat_id, gone))
            db.execute("UPDATE ledger_identities SET related = ? WHERE chat_id = ? AND related = ?", (keep, chat_id, gone))
            db.execute("INSERT OR IGNORE INTO ledger_tracks (chat_id, actor, created_at) SELECT chat_id, ?, created_at"
                       " FROM ledger_tracks WHERE chat_id = ? AND actor = ?", (keep, chat_id, gone))
            db.execute("DELETE FROM ledger_tracks WHERE chat_id = ? AND actor = ?", (chat_id, gone))
            db.execute("DELETE FROM ledger_identities WHERE id = ?", (gone,))
            return True

    async def ledger_split(self, chat_id: int, actor: int, key: str) -> int | None:
        with self._tx() as db:
            row = db.execute("SELECT * FROM ledger_identities WHERE chat_id = ? AND id = ?", (chat_id, actor)).fetchone()
            if row is None or key not in (aliases := set(json.loads(row["aliases"]))) or len(aliases) < 2:
                return None
            name = key.split(":", 1)[1]
            cur = db.execute("INSERT INTO ledger_identities (chat_id, name_en, name_ar, kind, country, aliases, related,"
                             " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             (chat_id, name, name, row["kind"], row["country"], json.dumps([key], ensure_ascii=False),
                              actor, clock.now()))
            new = int(cur.lastrowid or 0)
            db.execute("UPDATE ledger_identities SET aliases = ? WHERE id = ?",
                       (json.dumps(sorted(aliases - {key}), ensure_ascii=False), actor))
            db.execute("UPDATE ledger_events SET actor = ? WHERE chat_id = ? AND actor = ? AND actor_key = ?",
                       (new, chat_id, actor, key))
            db.execute("UPDATE ledger_events SET target = ? WHERE chat_id = ? AND target = ? AND target_key = ?",
                       (new, chat_id, actor, key))
            return new

    async def ledger_track(self, chat_id: int, actor: int, on: bool = True) -> bool:
        with self._tx() as db:
            if on:
                cur = db.execute("INSERT OR IGNORE INTO ledger_tracks (chat_id, actor, created_at) VALUES (?, ?, ?)",
                                 (chat_id, actor, clock.now()))
            else:
                cur = db.execute("DELETE FROM ledger_tracks WHERE chat_id = ? AND actor = ?", (chat_id, actor))
            return cur.rowcount > 0

    async def ledger_tracked(self, chat_id: int) -> list[int]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT actor FROM ledger_tracks WHERE chat_id = ? ORDER BY created_at",
                                                   (chat_id,))]

    async def ledger_alert_once(self, chat_id: int, actor: int, story: str, quiet_s: float) -> bool:
        now = clock.now()
        with self._tx() as db:
            row = db.execute("SELECT sent_at FROM ledger_alerts WHERE chat_id = ? AND actor = ? AND story = ?",
                             (chat_id, actor, story)).fetchone()
            db.execute("INSERT INTO ledger_alerts (chat_id, actor, story, sent_at) VALUES (?, ?, ?, ?)"
                       " ON CONFLICT (chat_id, actor, story) DO UPDATE SET sent_at = excluded.sent_at",
                       (chat_id, actor, story, now))
            return row is None or now - row[0] >= quiet_s

    async def forget_chat(self, chat_id: int) -> int:
        with self._tx() as db:
            # briefs this chat asked for or collected, unless another chat has them too
            briefs = {r[0] for r in db.execute(
                "SELECT brief_id FROM requests WHERE chat_id = ? AND brief_id IS NOT NULL UNION"
                " SELECT brief_id FROM digest_items WHERE chat_id = ?", (chat_id, chat_id))}
            shared = {r[0] for r in db.execute(
                "SELECT brief_id FROM requests WHERE chat_id <> ? AND brief_id IS NOT NULL UNION"
                " SELECT brief_id FROM digest_items WHERE chat_id <> ?", (chat_id, chat_id))}
            gone = 0
            for table in ("ledger_events", "ledger_identities", "ledger_tracks", "ledger_alerts", "digest_items"):
                gone += db.execute(f"DELETE FROM {table} WHERE chat_id = ?", (chat_id,)).rowcount
            gone += db.execute("DELETE FROM requests WHERE chat_id = ? AND status <> 'pending'", (chat_id,)).rowcount
            db.executemany("DELETE FROM briefs WHERE id = ?", [(b,) for b in briefs - shared])
            return gone + len(briefs - shared)
