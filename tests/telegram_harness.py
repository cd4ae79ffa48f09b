"""Running the real Application against the loopback Bot API and LLM servers."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import io
import json
import os
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from bot.chat.app import NewsBot
from bot.ops.config import Settings
from tests.conftest import TESTDATA
from tests.fakes.botapi_server import FakeBotAPI
from tests.fakes.openai_server import FakeLLM

SPEC = TESTDATA / "bot-api" / "api.json"
BRIEF_MARK = "Who is pressuring whom"


async def until(predicate: Callable[[], object], within: float = 15.0) -> None:
    """Wait until `predicate()` (a value, or an awaitable for the store's answers) is true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within

    async def holds() -> bool:
        value = predicate()
        return bool(await value if inspect.isawaitable(value) else value)

    while not await holds():
        if loop.time() > deadline:
            raise AssertionError("timed out waiting for the bot")
        await asyncio.sleep(0.02)


async def idle(bot: NewsBot, botapi: FakeBotAPI) -> None:
    """Wait until the bot has taken every update pushed so far, handled it, and finished what it
    stored: what has not happened by then will not (rather than sleeping to show an absence)."""
    last = max((u["update_id"] for u in botapi.updates), default=0)
    await until(lambda: botapi.confirmed > last)  # the next poll confirmed them: PTB has queued them
    await asyncio.wait_for(bot.app.update_queue.join(), 15)  # every handler has returned

    async def nothing_left() -> bool:  # no request stored and not done, no timer or edit still to come
        return not bot.runner.busy and not bot.services.joiner.waiting and await bot.store.pending_count() == 0

    await until(nothing_left)


@pytest.fixture
def botapi() -> Iterator[FakeBotAPI]:
    server = FakeBotAPI(SPEC).start()
    yield server
    server.stop()
    # every call the bot made was a real method with real parameters and valid text
    unexpected = [e for e in server.errors if "injected" not in e[1]]
    assert unexpected == [], unexpected


def bot_process(settings: Settings, llm: FakeLLM, *args: str, **env_extra: str) -> subprocess.Popen[bytes]:
    """`newsbot run [args]` as a real process, configured only through its environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLM_", "TELEGRAM_", "WEBHOOK_"))}
    env.update({
        "TELEGRAM_BOT_TOKEN": settings.telegram_bot_token.get_secret_value(),  # type: ignore[union-attr]
        "TELEGRAM_API_BASE_URL": settings.telegram_api_base_url,
        "OPENAI_BASE_URL": llm.base_url, "OPENAI_API_KEY": "sk-test", "LLM_MODEL": "fake-model",
        "LLM_TIMEOUT_S": "30", "DATABASE_PATH": str(settings.db_path), "LOG_LEVEL": "WARNING",
        "DATABASE_URL": settings.database_url.get_secret_value() if settings.database_url else "",
        "WORKER_NAME": "test-bot",  # a restarted bot takes its own unfinished requests back at once
        "RICH_MESSAGES": "off",  # as bot_settings: tests of rich messages ask for them
        **env_extra,
    })
    return subprocess.Popen([sys.executable, "-m", "bot", "run", *args], env=env, cwd=settings.db_path.parent,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


async def sql(settings: Settings, query: str, *args: object) -> list[tuple[object, ...]]:
    """Rows from the bot's store (SQLite or PostgreSQL), for tests that look beneath its interface."""
    if settings.database_url:
        async with await psycopg.AsyncConnection.connect(settings.database_url.get_secret_value(),
                                                         autocommit=True) as con:
            cur = await con.execute(query.replace("?", "%s"), args)  # type: ignore[arg-type]
            return list(await cur.fetchall()) if cur.description else []
    with contextlib.closing(sqlite3.connect(settings.db_path)) as db, db:
        return list(db.execute(query, args).fetchall())


async def store_writable(bot: NewsBot, writable: bool) -> None:
    """Make every write of the bot's store fail (as on a full disk or a read-only server), or work again."""
    if not bot.settings.database_url:
        bot.store._db.execute(f"PRAGMA query_only = {'OFF' if writable else 'ON'}")  # type: ignore[attr-defined]
        return
    url = bot.settings.database_url.get_secret_value()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as con:
        await con.execute("SET default_transaction_read_only = off")  # this session may change it back
        name = (await (await con.execute("SELECT current_database()")).fetchone())[0]  # type: ignore[index]
        await con.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = {"off" if writable else "on"}')
        # the pool's connections keep their old setting: they are replaced
        await con.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                          " WHERE datname = current_database() AND pid <> pg_backend_pid()")


def configure(settings: Settings, **updates: object) -> Settings:
    """A validated copy (model_copy does not validate, so SecretStr fields would stay str)."""
    return Settings.model_validate({**settings.model_dump(), **updates})


#: NEWSBOT_TEST_STORE=postgres runs every bot test on a PostgreSQL store (tests/postgres.py starts it)
STORE = os.environ.get("NEWSBOT_TEST_STORE", "sqlite")


@pytest.fixture
def bot_settings(settings: Settings, botapi: FakeBotAPI, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    shared = {"database_url": request.getfixturevalue("postgres_url")} if STORE == "postgres" else {}
    # the bot's tests read classic messages; tests of rich messages configure RICH_MESSAGES themselves
    return configure(settings, telegram_bot_token=botapi.token, telegram_api_base_url=botapi.base_url,
                     fetch_allow_private_addresses=True, llm_max_concurrency=32, rich_messages="off",
                     database_path=tmp_path / "bot.sqlite3", **shared)


@pytest.fixture
async def newsbot(bot_settings: Settings) -> AsyncIterator[NewsBot]:
    bot = NewsBot(bot_settings)
    await bot.start()
    yield bot
    await stop_or_tell(bot)


async def stop_or_tell(bot: NewsBot, within: float = 30.0) -> None:
    """Stop the bot; a stop that hangs fails the test with every task's stack instead of waiting for the timeout."""
    try:
        await asyncio.wait_for(bot.stop(), within)
    except TimeoutError:
        stacks = io.StringIO()
        for task in asyncio.all_tasks():
            task.print_stack(file=stacks)
        pytest.fail(f"the bot did not stop within {within:.0f} s; its tasks:\n{stacks.getvalue()}")


def post_webhook(port: int, update: dict[str, object], secret: str | None) -> int:
    """POST an update to the bot's webhook as Telegram would; the HTTP status, 0 while nothing listens."""
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    req = urllib.request.Request(f"http://127.0.0.1:{port}/telegram", data=json.dumps(update).encode(),
                                 headers=headers)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only
    try:
        with opener.open(req, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except urllib.error.URLError:
        return 0
