"""The SQLite store: migrations, durable requests, brief cache, settings, usage."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from bot.schema import BriefEnvelope
from bot.store import MIGRATIONS, ChatSettings, Store
from tests.conftest import example_brief
from tests.test_render import envelope


def make_env(content_hash: str = "h1", url: str | None = None) -> BriefEnvelope:
    env = envelope(example_brief())
    env.article.content_hash = content_hash
    env.article.url = url
    return env


def test_opens_with_wal_and_current_schema(tmp_path: Path) -> None:
    store = Store(tmp_path / "sub" / "db.sqlite3")
    assert store.schema_version == len(MIGRATIONS)
    mode = sqlite3.connect(tmp_path / "sub" / "db.sqlite3").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    store.close()
    assert Store(tmp_path / "sub" / "db.sqlite3").schema_version == len(MIGRATIONS)  # reopening is idempotent


def test_requests_survive_reopening_until_done(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    rid = store.add_request(5, 7, 99, {"text": "مقال"}).id  # type: ignore[union-attr]
    done = store.add_request(5, 7, 100, {"url": "https://example.com"}).id  # type: ignore[union-attr]
    store.finish_request(done, "done")
    assert store.start_attempt(rid) == 1
    store.close()
    again = Store(tmp_path / "db")
    (pending,) = again.pending_requests()
    assert (pending.id, pending.payload, pending.attempts) == (rid, {"text": "مقال"}, 1)


def test_brief_found_by_hash_or_url_for_the_same_model_and_prompts(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    bid = store.save_brief(make_env("abc", "https://x.example/a"))
    key = {"model": "m", "prompt_version": "p"}
    found = store.find_brief(content_hash="abc", **key)
    assert found is not None and found[0] == bid and found[1].brief.actors[0].id == "usa"
    assert store.find_brief(url="https://x.example/a", **key) is not None
    assert store.find_brief(content_hash="abc", model="other", prompt_version="p") is None
    assert store.find_brief(content_hash="zzz", **key) is None
    assert json.loads(store.get_brief(bid).model_dump_json())["brief"]["language"] == "ar"  # type: ignore[union-attr]


def test_chat_settings_and_usage(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    assert store.chat(1).lang == "both"
    store.save_chat(ChatSettings(chat_id=1, lang="en", digest_enabled=True, digest_time="07:30", timezone="Asia/Amman"))
    assert store.chat(1).lang == "en" and [c.chat_id for c in store.digest_chats()] == [1]
    store.add_usage(10, 1, requests=1, prompt_tokens=100, completion_tokens=50)
    store.add_usage(10, 1, requests=1, prompt_tokens=100, completion_tokens=50)
    store.add_usage(11, 2, requests=1, prompt_tokens=1, completion_tokens=1)
    assert store.usage(user_id=10).requests == 2 and store.usage(user_id=10).tokens == 300
    assert store.usage(chat_id=2).tokens == 2 and store.usage().requests == 3
    assert store.usage(user_id=10, day="1999-01-01").requests == 0


def test_digest_items_since(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    a, b = store.save_brief(make_env("a")), store.save_brief(make_env("b"))
    store.add_digest_item(-5, a)
    store.add_digest_item(-5, a)  # the same brief twice counts once
    store.add_digest_item(-5, b)
    items = store.digest_entries(-5, since=0)
    assert len(items) == 2
    assert store.digest_entries(-5, since=items[-1].shared_at) == []


def test_a_redelivered_message_is_one_request(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    first = store.add_request(5, 7, 99, {"url": "https://example.com/a"})
    assert first is not None
    assert store.add_request(5, 7, 99, {"url": "https://example.com/a"}) is None
    assert store.add_request(5, 7, 99, {"url": "https://example.com/b"}) is not None  # another link, same message
    assert store.add_request(6, 7, 99, {"url": "https://example.com/a"}) is not None  # another chat


def test_upgrade_from_schema_1(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(f"BEGIN; {MIGRATIONS[0]}; PRAGMA user_version=1; COMMIT;")
    db.execute("INSERT INTO requests (chat_id, payload, created_at, updated_at) VALUES (1, '{}', 0, 0)")
    db.commit()
    db.close()
    store = Store(path)
    assert store.schema_version == len(MIGRATIONS) and len(store.pending_requests()) == 1
