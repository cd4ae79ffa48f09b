"""The stores: migrations, durable requests, claims, quotas, brief cache, settings, usage, digests and
shared limits, on SQLite and on a real PostgreSQL server (`tests/postgres.py`), by the same tests."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg
import pytest

from bot.engine.schema import BriefEnvelope
from bot.ops import clock
from bot.ops.errors import CollectBudgetReached, QuotaReached, StorageUnavailable
from bot.store import ChatSettings, Quota, Store
from bot.store.postgres import MIGRATIONS as PG_MIGRATIONS
from bot.store.postgres import PostgresStore
from bot.store.sqlite import MIGRATIONS, SQLiteStore
from tests.conftest import example_brief
from tests.fakes.briefs import envelope
from tests.postgres import StoreFactory, free_port

BIG_CHAT = -1001234567890  # supergroup ids and recent user ids do not fit in 32 bits
BIG_USER = 7_123_456_789


def make_env(content_hash: str = "h1", url: str | None = None) -> BriefEnvelope:
    env = envelope(example_brief())
    env.article.content_hash = content_hash
    env.article.url = url
    return env


def migrations_of(store: Store) -> list[str]:
    return PG_MIGRATIONS if isinstance(store, PostgresStore) else MIGRATIONS


@asynccontextmanager
async def postgres_stores(url: str, n: int, **options: object) -> AsyncIterator[list[PostgresStore]]:
    """`n` stores on one database, each with its own pool: like `n` processes."""
    stores = [PostgresStore(url, **options) for _ in range(n)]  # type: ignore[arg-type]
    try:
        await asyncio.gather(*(s.open() for s in stores))
        yield stores
    finally:
        for s in stores:
            await s.close()


# --- schema -------------------------------------------------------------------------------------
async def test_opens_with_wal_and_current_schema(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "sub" / "db.sqlite3")
    await store.open()
    assert await store.schema_version() == len(MIGRATIONS)
    mode = sqlite3.connect(tmp_path / "sub" / "db.sqlite3").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    await store.close()
    again = SQLiteStore(tmp_path / "sub" / "db.sqlite3")  # reopening is idempotent
    assert await again.schema_version() == len(MIGRATIONS)
    await again.close()


async def test_current_schema_and_reopening(store_factory: StoreFactory) -> None:
    store = await store_factory()
    assert await store.schema_version() == len(migrations_of(store))
    await store.open()  # safe twice
    again = await store_factory()
    assert await again.schema_version() == len(migrations_of(store))


async def test_upgrade_from_schema_1(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(f"BEGIN; {MIGRATIONS[0]}; PRAGMA user_version=1; COMMIT;")
    db.execute("INSERT INTO requests (chat_id, payload, created_at, updated_at) VALUES (1, '{}', 0, 0)")
    db.commit()
    db.close()
    store = SQLiteStore(path)
    assert await store.schema_version() == len(MIGRATIONS) and len(await store.pending_requests()) == 1
    await store.close()


async def test_processes_starting_at_once_migrate_once(postgres_url: str) -> None:
    async with postgres_stores(postgres_url, 6, pool_size=2) as stores:
        assert {await s.schema_version() for s in stores} == {len(PG_MIGRATIONS)}
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    assert [r[0] for r in rows] == list(range(1, len(PG_MIGRATIONS) + 1))


# --- requests -----------------------------------------------------------------------------------
async def test_requests_survive_reopening_until_done(store_factory: StoreFactory) -> None:
    store = await store_factory()
    rid = (await store.add_request(5, 7, 99, {"text": "مقال"})).id
    done = (await store.add_request(5, 7, 100, {"url": "https://example.com"})).id
    claimed = await store.claim("w1", 60)
    assert claimed is not None and claimed.id == rid and claimed.attempts == 1 and claimed.claimed_by == "w1"
    await store.finish_request(done, "done")
    await store.close()
    again = await store_factory()
    (pending,) = await again.pending_requests()
    assert (pending.id, pending.payload, pending.attempts) == (rid, {"text": "مقال"}, 1)
    assert await again.pending_count() == 1
    assert await again.request_status(done) == "done" and await again.request_status(rid) == "pending"


async def test_a_redelivered_message_is_one_request(store: Store) -> None:
    first = await store.add_request(5, 7, 99, {"url": "https://example.com/a"})
    assert first is not None
    assert await store.add_request(5, 7, 99, {"url": "https://example.com/a"}) is None
    assert await store.add_request(5, 7, 99, {"url": "https://example.com/b"}) is not None  # another link, same message
    assert await store.add_request(6, 7, 99, {"url": "https://example.com/a"}) is not None  # another chat
    assert (await store.usage(user_id=7)).requests == 3  # the redelivery was not counted


async def test_big_telegram_ids_round_trip(store: Store) -> None:
    req = await store.add_request(BIG_CHAT, BIG_USER, 2**40, {"text": "x"}, thread_id=2**33, mode="collect")
    assert req is not None
    await store.set_status_message(req.id, 2**41)
    (got,) = await store.pending_requests()
    assert (got.chat_id, got.user_id, got.message_id, got.thread_id, got.mode, got.status_message_id) == \
        (BIG_CHAT, BIG_USER, 2**40, 2**33, "collect", 2**41)
    assert (await store.usage(user_id=BIG_USER, chat_id=BIG_CHAT)).requests == 1


async def test_finishing_turns_the_reservation_into_what_was_spent(store: Store) -> None:
    req = await store.add_request(1, 10, 1, {"text": "a"}, reserve_tokens=500)
    assert req is not None and req.reserved_tokens == 500
    chat = await store.usage(chat_id=1)
    assert (chat.requests, chat.reserved_tokens, chat.committed_tokens) == (1, 500, 500)
    await store.finish_request(req.id, "done", prompt_tokens=300, completion_tokens=100, brief_id=None)
    chat = await store.usage(chat_id=1)
    assert (chat.reserved_tokens, chat.tokens, chat.committed_tokens) == (0, 400, 400)
    await store.finish_request(req.id, "done", prompt_tokens=300, completion_tokens=100)  # a second finish: no-op
    assert (await store.usage(chat_id=1)).tokens == 400
    assert await store.pending_count() == 0


async def test_quotas_count_requests_and_reserved_tokens(store: Store) -> None:
    quota = Quota(requests_per_user=2)
    assert await store.add_request(1, 10, 1, {"text": "a"}, quota=quota) is not None
    assert await store.add_request(2, 10, 2, {"text": "b"}, quota=quota) is not None  # per user, in any chat
    with pytest.raises(QuotaReached):
        await store.add_request(3, 10, 3, {"text": "c"}, quota=quota)
    assert await store.add_request(3, 11, 3, {"text": "c"}, quota=quota) is not None  # another user
    tokens = Quota(tokens_per_chat=1000)
    assert await store.add_request(9, 1, 1, {"text": "a"}, reserve_tokens=600, quota=tokens) is not None
    assert await store.add_request(9, 2, 2, {"text": "b"}, reserve_tokens=600, quota=tokens) is not None
    with pytest.raises(QuotaReached):  # 1200 committed: the chat is over its tokens
        await store.add_request(9, 3, 3, {"text": "c"}, reserve_tokens=1, quota=tokens)
    assert await store.pending_count() == 5



async def test_a_chats_collected_articles_hold_to_its_budget_and_each_article_once(
        store_factory: StoreFactory) -> None:
    stores = [await store_factory(pool_size=4) for _ in range(4)]  # on PostgreSQL: like 4 processes
    budget = Quota(requests_per_user=3, collected_per_chat=6)

    async def post(i: int, key: str) -> str:
        try:
            got = await stores[i % len(stores)].add_request(-5, 100 + i % 4, 500 + i, {"text": key}, mode="collect",
                                                            quota=budget, article_key=key)
        except CollectBudgetReached:
            return "budget"
        except QuotaReached:
            return "user"
        return "added" if got is not None else "duplicate"

    # 30 posts at once: 10 articles posted three times each
    outcome = await asyncio.gather(*(post(i, f"k{i % 10}") for i in range(30)))
    assert outcome.count("added") == 6 and outcome.count("budget") > 0
    keys = await asyncio.gather(*(post(100 + i, f"k{i}") for i in range(10)))
    assert keys.count("added") == 0 and keys.count("duplicate") == 6  # the six collected, once each
    # a post refused by its sender's quota is not collected: the same article from someone else is
    limited = Quota(requests_per_user=1, collected_per_chat=100)
    assert await stores[0].add_request(-7, 70, 1, {"text": "a"}, mode="collect", quota=limited, article_key="a")
    with pytest.raises(QuotaReached):
        await stores[1].add_request(-7, 70, 2, {"text": "z"}, mode="collect", quota=limited, article_key="z")
    assert await stores[2].add_request(-7, 71, 3, {"text": "z"}, mode="collect", quota=limited, article_key="z")
    assert await stores[0].first_notice(-5, "collect_budget")
    assert not any(await asyncio.gather(*(s.first_notice(-5, "collect_budget") for s in stores)))
    assert await stores[0].first_notice(-6, "collect_budget")  # each chat its own

async def test_quotas_hold_exactly_under_a_burst_from_several_processes(store_factory: StoreFactory) -> None:
    stores = [await store_factory(pool_size=4) for _ in range(5)]
    per_user = Quota(requests_per_user=7)

    async def ask(i: int, quota: Quota, chat: int, user: int, reserve: int = 0) -> bool:
        try:
            got = await stores[i % len(stores)].add_request(chat + i % 3, user, 1000 + i, {"text": f"t{i}"},
                                                            reserve_tokens=reserve, quota=quota)
        except QuotaReached:
            return False
        return got is not None

    admitted = await asyncio.gather(*(ask(i, per_user, 100, 42) for i in range(40)))
    assert sum(admitted) == 7
    assert (await stores[0].usage(user_id=42)).requests == 7
    # tokens per chat: admitted while the committed tokens are under the limit (0, 300, 600, 900)
    per_chat = Quota(tokens_per_chat=1000)

    async def ask_chat(i: int) -> bool:
        try:
            return await stores[i % len(stores)].add_request(
                -77, i, i, {"text": "t"}, reserve_tokens=300, quota=per_chat) is not None
        except QuotaReached:
            return False

    assert sum(await asyncio.gather(*(ask_chat(i) for i in range(30)))) == 4
    assert (await stores[0].usage(chat_id=-77)).reserved_tokens == 1200


# --- claims -------------------------------------------------------------------------------------
async def test_claims_keep_chat_order_one_request_per_chat(store: Store) -> None:
    a = await store.add_request(1, 10, 1, {"text": "a"})
    b = await store.add_request(1, 10, 2, {"text": "b"})
    c = await store.add_request(2, 10, 3, {"text": "c"})
    first = await store.claim("w1", 60)
    second = await store.claim("w2", 60)
    assert (first.id, second.id) == (a.id, c.id)  # b waits for a: one request per chat at a time
    assert await store.claim("w3", 60) is None
    await store.finish_request(c.id, "done")
    assert await store.claim("w3", 60) is None
    await store.finish_request(a.id, "failed", error="boom\x00")  # a NUL in a message is no storage error
    nxt = await store.claim("w3", 60)
    assert nxt.id == b.id and nxt.claimed_by == "w3" and nxt.attempts == 1
    assert await store.request_status(a.id) == "failed"


async def test_an_expired_lease_goes_to_another_worker(store: Store) -> None:
    req = await store.add_request(1, 10, 1, {"text": "a"})
    later = await store.add_request(1, 10, 2, {"text": "b"})
    assert (await store.claim("w1", 0.05)).attempts == 1
    assert await store.claim("w2", 60) is None  # the lease is live
    assert await store.renew(req.id, "w1", 0.05)
    await asyncio.sleep(0.1)  # w1 died: its lease runs out
    taken = await store.claim("w2", 60)
    assert (taken.id, taken.claimed_by, taken.attempts) == (req.id, "w2", 2)
    assert not await store.renew(req.id, "w1", 60)  # w1 lost it
    assert await store.renew(req.id, "w2", 60)
    assert await store.claim("w3", 60) is None  # the chat's next request still waits
    await store.finish_request(req.id, "done")
    assert not await store.renew(req.id, "w2", 60)  # finished: nothing to renew
    assert (await store.claim("w3", 60)).id == later.id


async def test_release_gives_back_after_retry_in_s(store: Store) -> None:
    req = await store.add_request(1, 10, 1, {"text": "a"})
    await store.add_request(1, 10, 2, {"text": "b"})
    await store.claim("w1", 60)
    await store.release(req.id, "someone-else", retry_in_s=0)  # not theirs: nothing happens
    assert await store.claim("w2", 60) is None
    await store.release(req.id, "w1", retry_in_s=0.2)
    assert await store.claim("w2", 60) is None  # neither it nor the chat's next request before the retry
    (pending, _) = await store.pending_requests()
    assert pending.claimed_by is None
    await asyncio.sleep(0.25)
    again = await store.claim("w2", 60)
    assert (again.id, again.attempts) == (req.id, 2)
    await store.release(req.id, "w2")  # at once
    assert (await store.claim("w3", 60)).attempts == 3


async def test_chat_order_follows_message_ids_not_arrival(store: Store) -> None:
    later = await store.add_request(1, 10, 8, {"text": "sent second, stored first"})
    earlier = await store.add_request(1, 10, 7, {"text": "sent first"})
    assert (await store.claim("w1", 60)).id == earlier.id
    assert await store.claim("w2", 60) is None
    await store.finish_request(earlier.id, "done")
    assert (await store.claim("w2", 60)).id == later.id


async def test_a_takeover_knows_what_was_already_sent(store: Store) -> None:
    req = await store.add_request(1, 10, 1, {"text": "a"})
    assert (await store.claim("w1", 0.05)).delivered_parts == 0
    await store.set_status_message(req.id, 555)
    await store.set_delivered(req.id, 1)  # w1 showed the first part of a two-part brief, then died
    await asyncio.sleep(0.1)
    taken = await store.claim("w2", 60)
    assert (taken.status_message_id, taken.delivered_parts) == (555, 1)


async def test_release_all_drops_claims(store: Store) -> None:
    for chat in (1, 2, 3):
        await store.add_request(chat, 10, chat, {"text": "a"})
    await store.claim("w1", 60)
    await store.claim("w1", 60)
    await store.claim("w2", 60)
    assert await store.claim("w3", 60) is None
    assert await store.release_all("w2") == 1
    assert (await store.claim("w3", 60)).claimed_by == "w3"
    assert await store.release_all() == 3
    assert {r.claimed_by for r in await store.pending_requests()} == {None}


async def test_concurrent_workers_claim_each_request_once_in_chat_order(store_factory: StoreFactory) -> None:
    workers = [await store_factory(pool_size=3) for _ in range(8)]  # separate pools: like 8 processes
    feeder = workers[0]
    ids_by_chat: dict[int, list[int]] = {}
    for n in range(200):
        chat = -100 - n % 20
        req = await feeder.add_request(chat, n, n, {"text": f"r{n}"})
        ids_by_chat.setdefault(chat, []).append(req.id)
    claimed: list[int] = []
    order: dict[int, list[int]] = {}
    at_work: set[int] = set()
    clashes: list[int] = []

    async def work(store: Store, name: str) -> None:
        rng = random.Random(name)
        while len(claimed) < 200:
            req = await store.claim(name, 60)
            if req is None:
                await store.wait_for_work(0.05)
                continue
            if req.chat_id in at_work:
                clashes.append(req.chat_id)
            at_work.add(req.chat_id)
            claimed.append(req.id)
            order.setdefault(req.chat_id, []).append(req.id)
            await asyncio.sleep(rng.random() * 0.003)
            at_work.discard(req.chat_id)
            await store.finish_request(req.id, "done")

    await asyncio.wait_for(asyncio.gather(*(work(s, f"w{i}") for i, s in enumerate(workers))), 60)
    assert clashes == []
    assert sorted(claimed) == sorted(i for ids in ids_by_chat.values() for i in ids)  # each exactly once
    assert order == ids_by_chat  # each chat in its order
    assert await feeder.pending_count() == 0


# --- notifications ------------------------------------------------------------------------------
async def test_wait_for_work_wakes_on_a_new_request(store: Store) -> None:
    await store.wait_for_work(0.01)  # listening (PostgreSQL: its LISTEN connection is up)
    waiting = asyncio.create_task(store.wait_for_work(30))
    await asyncio.sleep(0.01)
    await store.add_request(1, 1, 1, {"text": "a"})
    await asyncio.wait_for(waiting, 5)
    started = time.monotonic()
    await store.wait_for_work(0.05)  # nothing new: it waits its time
    assert time.monotonic() - started >= 0.04


async def test_wait_for_work_wakes_on_work_from_another_process(postgres_url: str) -> None:
    async with postgres_stores(postgres_url, 2, pool_size=2) as (worker, receiver):
        await worker.wait_for_work(0.01)
        for step in ("add", "finish"):
            waiting = asyncio.create_task(worker.wait_for_work(30))
            await asyncio.sleep(0.01)
            if step == "add":
                req = await receiver.add_request(1, 1, 1, {"text": "a"})
            else:
                await receiver.finish_request(req.id, "done")  # the chat's next request may go
            await asyncio.wait_for(waiting, 5)
        # the listen connection drops: the next wait reconnects, and wakes again on new work
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN %'"
                          " AND datname = current_database()")
        await asyncio.wait_for(worker.wait_for_work(30), 5)  # woken by the drop itself
        await worker.wait_for_work(0.01)  # listening again
        waiting = asyncio.create_task(worker.wait_for_work(30))
        await asyncio.sleep(0.01)
        await receiver.add_request(1, 1, 2, {"text": "b"})
        await asyncio.wait_for(waiting, 5)



@pytest.mark.parametrize("skew", [60.0, -60.0])
async def test_a_process_with_a_wrong_clock_goes_by_the_databases(postgres_url: str, skew: float,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    async with postgres_stores(postgres_url, 1) as (on_time,):
        req = await on_time.add_request(1, 1, 1, {"text": "a"})
        await on_time.add_request(2, 1, 2, {"text": "b"})
        assert (claimed := await on_time.claim("on-time", 30)) is not None and claimed.id == req.id
        assert await on_time.rate_slot("overall", 10) == pytest.approx(10, abs=2)
        monkeypatch.setattr(clock, "skew", skew)
        with caplog.at_level(logging.WARNING, logger="bot.store.postgres"):
            async with postgres_stores(postgres_url, 1) as (off,):
                # the on-time process's lease is live; the off process's own lease is live for others
                assert (mine := await off.claim("off", 30)) is not None and mine.chat_id == 2
                assert await on_time.claim("on-time", 30) is None
                # the shared schedule is where the database's clock puts it, a minute neither way
                assert await off.rate_slot("overall", 10) == pytest.approx(20, abs=2)
                assert await on_time.rate_slot("overall", 10) == pytest.approx(30, abs=2)
                assert abs(await off.now() - time.time()) < 1.0
        assert [r.getMessage()[:28] for r in caplog.records] == [f"this host's clock is {skew:+.1f} s"]

# --- briefs, settings, usage, digests -------------------------------------------------------------
async def test_brief_found_by_hash_or_url_for_the_same_model_and_prompts(store: Store) -> None:
    bid = await store.save_brief(make_env("abc", "https://x.example/a"))
    key = {"model": "m", "prompt_version": "p"}
    found = await store.find_brief(content_hash="abc", **key)
    assert found is not None and found[0] == bid and found[1].brief.actors[0].id == "usa"
    assert await store.find_brief(url="https://x.example/a", **key) is not None
    assert await store.find_brief(url="https://x.example/a", max_age_s=3600, **key) is not None
    assert await store.find_brief(url="https://x.example/a", max_age_s=-1, **key) is None  # too old
    assert await store.find_brief(content_hash="abc", model="other", prompt_version="p") is None
    assert await store.find_brief(content_hash="zzz", **key) is None
    assert await store.find_brief(model="m", prompt_version="p") is None
    brief = await store.get_brief(bid)
    assert json.loads(brief.model_dump_json())["brief"]["language"] == "ar"
    assert await store.get_brief(bid + 1000) is None
    newer = await store.save_brief(make_env("abc"), url="https://x.example/b")
    assert (await store.find_brief(content_hash="abc", **key))[0] == newer  # the newest
    assert (await store.find_brief(url="https://x.example/b", **key))[0] == newer



async def test_a_brief_made_with_request_metadata_is_found_only_with_the_same(store: Store) -> None:
    key = {"model": "m", "prompt_version": "p"}
    alone = await store.save_brief(make_env("abc", "https://x.example/a"))
    channel = await store.save_brief(make_env("abc", "https://x.example/a"), context="publisher:1")
    assert (await store.find_brief(content_hash="abc", **key))[0] == alone
    assert (await store.find_brief(url="https://x.example/a", **key))[0] == alone
    assert (await store.find_brief(content_hash="abc", context="publisher:1", **key))[0] == channel
    assert await store.find_brief(url="https://x.example/a", context="publisher:2", **key) is None


async def test_briefs_stored_before_the_metadata_key_are_never_reused(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript("BEGIN; " + "; ".join(MIGRATIONS[:5]) + "; PRAGMA user_version=5; COMMIT;")
    db.execute("INSERT INTO briefs (content_hash, url, model, prompt_version, envelope, created_at)"
               " VALUES ('abc', NULL, 'm', 'p', ?, 0)", (make_env("abc").model_dump_json(),))
    db.commit()
    db.close()
    store = SQLiteStore(path)
    await store.open()
    try:
        assert await store.find_brief(content_hash="abc", model="m", prompt_version="p") is None
    finally:
        await store.close()

async def test_chat_settings_and_usage(store: Store) -> None:
    assert (await store.chat(1)).lang == "both" and not (await store.chat(1)).known
    await store.save_chat(ChatSettings(chat_id=1, lang="en", digest_enabled=True, digest_time="07:30",
                                       timezone="Asia/Amman"))
    await store.save_chat(ChatSettings(chat_id=BIG_CHAT, lang="ar", format="classic", digest_thread_id=2**40))
    got = await store.chat(1)
    assert (got.lang, got.digest_enabled, got.digest_time, got.timezone, got.known, got.format,
            got.digest_thread_id) == ("en", True, "07:30", "Asia/Amman", True, "rich", None)
    assert (await store.chat(BIG_CHAT)).format == "classic"
    assert (await store.chat(BIG_CHAT)).digest_thread_id == 2**40  # a forum topic's id
    assert [c.chat_id for c in await store.digest_chats()] == [1]
    await store.set_last_digest(1, 100.5)
    await store.set_last_digest(1, 50.0)  # never back
    assert (await store.chat(1)).last_digest_at == 100.5
    await store.add_usage(10, 1, requests=1, prompt_tokens=100, completion_tokens=50)
    await store.add_usage(10, 1, requests=1, prompt_tokens=100, completion_tokens=50)
    await store.add_usage(11, 2, requests=1, prompt_tokens=1, completion_tokens=1)
    assert (await store.usage(user_id=10)).requests == 2 and (await store.usage(user_id=10)).tokens == 300
    assert (await store.usage(chat_id=2)).tokens == 2 and (await store.usage()).requests == 3
    assert (await store.usage(user_id=10, day="1999-01-01")).requests == 0



async def test_a_turn_goes_to_one_caller_per_interval(store_factory: StoreFactory) -> None:
    stores = [await store_factory() for _ in range(3)]  # like three processes
    waits = await asyncio.gather(*(s.take_turn("now:-5", 300) for s in stores for _ in range(3)))
    assert sorted(waits)[0] == 0.0 and all(295 < w < 301 for w in sorted(waits)[1:])
    assert await stores[0].take_turn("now:-6", 300) == 0.0  # each key its own turns
    assert await stores[0].take_turn("now:-7", 0.05) == 0.0
    await asyncio.sleep(0.1)
    assert await stores[1].take_turn("now:-7", 0.05) == 0.0  # the interval is over

async def test_digest_items_since(store: Store) -> None:
    a, b = await store.save_brief(make_env("a")), await store.save_brief(make_env("b"))
    await store.add_digest_item(-5, a, link="https://x.example/a", outlet="X")
    await store.add_digest_item(-5, a)  # the same brief twice counts once
    await store.add_digest_item(-5, b)
    items = await store.digest_entries(-5, since=0)
    assert len(items) == 2 and (items[0].link, items[0].outlet) == ("https://x.example/a", "X")
    assert items[0].envelope.article.content_hash == "a"
    assert await store.digest_entries(-5, since=items[-1].shared_at) == []
    assert await store.digest_entries(-6, since=0) == []


async def test_one_process_claims_each_digest_run(store_factory: StoreFactory) -> None:
    stores = [await store_factory(pool_size=2) for _ in range(4)]
    wins = await asyncio.gather(*(stores[i % 4].claim_digest_run(-5, "2024-05-01T18:00") for i in range(12)))
    assert sum(wins) == 1
    assert await stores[0].claim_digest_run(-5, "2024-05-02T18:00")  # the next run
    assert await stores[1].claim_digest_run(-6, "2024-05-01T18:00")  # another chat
    assert not await stores[2].claim_digest_run(-5, "2024-05-02T18:00")


async def test_subscriptions_and_usernames(store: Store) -> None:
    assert await store.subscribe(10, -5)
    assert not await store.subscribe(10, -5)
    assert await store.subscribe(10, BIG_CHAT) and await store.subscribe(11, -5)
    assert await store.subscriptions(10) == [-5, BIG_CHAT]
    assert await store.subscribers(-5) == [10, 11]
    assert await store.unsubscribe(10, -5) == [-5]
    assert await store.unsubscribe(10) == [BIG_CHAT]
    assert await store.subscriptions(10) == [] and await store.unsubscribe(10) == []
    await store.remember_username(-5, "@NewsRoom")
    assert await store.username_of(-5) == "NewsRoom"
    assert await store.chat_by_username("@newsroom") == -5 and await store.chat_by_username("NEWSROOM") == -5
    await store.remember_username(-5, "renamed")  # a chat has one username
    assert await store.chat_by_username("newsroom") is None and await store.username_of(-5) == "renamed"
    await store.remember_username(-6, "Renamed")  # the name moved to another chat
    assert await store.chat_by_username("renamed") == -6 and await store.username_of(-5) is None
    assert await store.username_of(-7) is None


# --- shared limits ------------------------------------------------------------------------------
async def test_rate_slots_are_spaced_by_the_interval_beyond_the_burst(store_factory: StoreFactory) -> None:
    stores = [await store_factory(pool_size=2) for _ in range(3)]
    interval, burst = 10.0, 3  # waits are only numbers here: a long interval makes the timing of the calls moot
    aheads = await asyncio.gather(*(stores[i % 3].rate_slot("chat:-5", interval) for i in range(9)))
    # booked at (almost) the same moment: each call runs the schedule one interval further ahead ...
    assert sorted(aheads) == pytest.approx([(n + 1) * interval for n in range(9)], abs=1.0)
    # ... so with a burst of 3, 3 go at once, then one every interval
    waits = sorted(max(0.0, a - burst * interval) for a in aheads)
    assert waits == pytest.approx([max(0.0, (n + 1 - burst) * interval) for n in range(9)], abs=1.0)
    assert await stores[0].rate_slot("other", interval) == pytest.approx(interval, abs=1.0)  # keys are separate


async def test_ping(store: Store) -> None:
    await store.ping()
    await store.ping()


# --- storage problems ---------------------------------------------------------------------------
async def test_sqlite_that_cannot_write_is_unavailable(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "db")
    store._db.execute("PRAGMA query_only = ON")  # every write now fails, as on a full disk
    with pytest.raises(StorageUnavailable):
        await store.add_request(1, 1, 1, {"text": "a"})
    with pytest.raises(StorageUnavailable):
        await store.ping()
    await store.close()


async def test_postgres_unreachable_is_unavailable() -> None:
    store = PostgresStore(f"postgresql://postgres@127.0.0.1:{free_port()}/none", timeout_s=0.3)
    with pytest.raises(StorageUnavailable):
        await store.open()
    await store.close()


async def test_postgres_server_gone_is_unavailable(postgres_url: str) -> None:
    store = PostgresStore(postgres_url, pool_size=2, timeout_s=0.3)
    try:
        await store.open()
        await store.add_request(1, 1, 1, {"text": "a"})
        await store.wait_for_work(0.01)
        with psycopg.connect(postgres_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
            # the server goes away for this database: its connections are cut and no new one is let in
            name = postgres_url.rsplit("/", 1)[1]
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        for call in (store.add_request(1, 1, 2, {"text": "b"}), store.claim("w", 60), store.ping()):
            with pytest.raises(StorageUnavailable):
                await call
        await asyncio.wait_for(store.wait_for_work(0.2), 5)  # waits (it does not raise) while the server is gone
        await asyncio.wait_for(store.wait_for_work(0.2), 5)
    finally:
        await store.close()
