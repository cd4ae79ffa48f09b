"""/timeline over a chat with 10,000 stored briefs, on SQLite and PostgreSQL side by side.

One store of each kind is filled with a busy chat (BRIEFS briefs: three pressures and a position
each, among ACTORS identities, one of them in a third of all events) and other chats around it.
Timed is what `/timeline <actor>` does before it sends: the chat's identities, finding the actor by
name, its newest events as actor or target, and the rendered messages. The baseline is the same
query on the same data without the ledger's actor and target indexes. PostgreSQL is a real server
started here (`tests.postgres.PostgresServer`, fsync off, dropped at the end).

Run:  .venv/bin/python bench/bench_ledger.py            (about a minute)
      .venv/bin/python bench/bench_ledger.py --briefs 2000 --runs 100
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.ledger.identity import find
from bot.ledger.values import Event, Identity
from bot.render.timeline import MAX_TIMELINE, timeline
from bot.store.base import Store
from bot.store.postgres import PostgresStore
from bot.store.sqlite import SQLiteStore
from tests.postgres import PostgresServer

CHAT = -1001000000042
OTHER_CHATS = (-1001000000043, -1001000000044, 5_550_042)
ACTORS = 300
TARGET_MS = 50.0
EVENTS = ("REQUEST", "ACCUSE", "REJECT", "THREATEN", "PROTEST", "SANCTION", "MOBILIZE", "COERCE", "ASSAULT")
OUTLETS = ("Reuters", "Al Jazeera", "Associated Press", "Al Arabiya", "BBC News")


async def fill(store: Store, chat: int, briefs: int, seed: int) -> list[Identity]:
    rng = random.Random(seed)
    idents = []
    for n in range(ACTORS):
        ident = Identity(0, chat, f"Actor {n} of the region", f"الفاعل {n} في المنطقة", "state" if n % 3 else "person",
                         f"C{n % 50:02d}", {f"en:actor {n} of the region", f"ar:الفاعل {n} في المنطقه", f"id:actor_{n}"})
        ident.id = await store.ledger_save_identity(ident)
        idents.append(ident)
    hub = idents[0]  # in a third of all events, as a great power is in a region's news
    start = time.time() - briefs * 600
    batch: list[Event] = []
    for b in range(briefs):
        at = start + b * 600
        outlet = OUTLETS[b % len(OUTLETS)]
        link = f"https://news.example/{chat}/{b}"
        for _ in range(3):
            a, t = rng.sample(idents, 2)
            if rng.random() < 0.33:
                a = hub if t is not hub else a
            batch.append(Event(chat, b + 1, "pressure", a.id, at, target=t.id, event=rng.choice(EVENTS),
                               outlet=outlet, link=link, evidence="An evidence sentence of some length, as briefs "
                               "quote from the article.", verified=True, actor_key=f"en:{a.name_en.lower()}",
                               target_key=f"en:{t.name_en.lower()}"))
        batch.append(Event(chat, b + 1, "position", rng.choice(idents).id, at, stance_en="calls for restraint",
                           stance_ar="يدعو إلى ضبط النفس", outlet=outlet, link=link))
        if len(batch) >= 2000:
            await store.ledger_add_events(chat, batch)
            batch = []
    await store.ledger_add_events(chat, batch)
    return idents


async def timeline_once(store: Store, query: str) -> int:
    idents = await store.ledger_identities(CHAT)
    found = find(idents, query)
    assert found is not None
    events = await store.ledger_timeline(CHAT, found.id, limit=MAX_TIMELINE + 1)
    messages = timeline(found, events, {i.id: i for i in idents}, "both")
    return len(messages)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def measure(store: Store, runs: int, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    queries = ["Actor 0 of the region"] + [f"actor {rng.randrange(ACTORS)} of the region" for _ in range(runs - 1)]
    await timeline_once(store, queries[0])  # warm caches and the pool
    times = []
    for q in queries:
        t0 = time.perf_counter()
        await timeline_once(store, q)
        times.append((time.perf_counter() - t0) * 1000)
    return {"p50": pct(times, 50), "p95": pct(times, 95), "max": max(times)}


async def drop_indexes(store: Store) -> None:
    if isinstance(store, SQLiteStore):
        store._db.execute("DROP INDEX ledger_events_actor")
        store._db.execute("DROP INDEX ledger_events_target")
        return
    assert isinstance(store, PostgresStore)

    async def body(conn: Any) -> None:
        await conn.execute("DROP INDEX ledger_events_actor")
        await conn.execute("DROP INDEX ledger_events_target")
        await conn.execute("ANALYZE ledger_events")

    await store._run(body)


async def bench(label: str, store: Store, args: argparse.Namespace) -> list[tuple[str, dict[str, float], float]]:
    t0 = time.monotonic()
    await fill(store, CHAT, args.briefs, 1)
    for n, other in enumerate(OTHER_CHATS):
        await fill(store, other, args.briefs // 4, 2 + n)
    if isinstance(store, PostgresStore):
        await store._run(lambda conn: conn.execute("ANALYZE"))
    filled = time.monotonic() - t0
    rows = [(label, await measure(store, args.runs, 7), filled)]
    await drop_indexes(store)
    rows.append((f"{label}, baseline: no actor/target index", await measure(store, max(20, args.runs // 5), 7), 0.0))
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--briefs", type=int, default=10_000, help="briefs in the busy chat (default 10,000)")
    parser.add_argument("--runs", type=int, default=200, help="timelines timed per store (default 200)")
    args = parser.parse_args()
    print(f"# /timeline over a chat with {args.briefs:,} briefs ({args.briefs * 4:,} events, {ACTORS} actors) and "
          f"{len(OTHER_CHATS)} other chats of {args.briefs // 4:,} briefs; {args.runs} timelines per store; "
          f"{os.cpu_count()} cores, shared with other work")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = SQLiteStore(Path(tmp) / "bench.sqlite3")
        try:
            rows += await bench("SQLite", sqlite, args)
        finally:
            await sqlite.close()
    pg = PostgresServer()
    try:
        pg.start()
        store = PostgresStore(pg.url(pg.create_database("bench_ledger")), pool_size=4)
        await store.open()
        try:
            rows += await bench(f"PostgreSQL {pg.version}", store, args)
        finally:
            await store.close()
    finally:
        pg.stop()
    print(f"\n{'store':<52} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'fill s':>7}  target p95 ≤ {TARGET_MS:g} ms")
    for label, m, filled in rows:
        mark = "" if "baseline" in label else ("  ok" if m["p95"] <= TARGET_MS else "  MISSED")
        print(f"{label:<52} {m['p50']:>8.2f} {m['p95']:>8.2f} {m['max']:>8.2f} {filled:>7.1f}{mark}")


if __name__ == "__main__":
    asyncio.run(main())
