"""Running the real Application against the loopback Bot API and LLM servers."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from bot.config import Settings
from bot.telegram import NewsBot
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
        "LLM_TIMEOUT_S": "30", "DATABASE_PATH": str(settings.db_path), "LOG_LEVEL": "WARNING", **env_extra,
    })
    return subprocess.Popen([sys.executable, "-m", "bot", "run", *args], env=env, cwd=settings.db_path.parent,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def configure(settings: Settings, **updates: object) -> Settings:
    """A validated copy (model_copy does not validate, so SecretStr fields would stay str)."""
    return Settings.model_validate({**settings.model_dump(), **updates})


@pytest.fixture
def bot_settings(settings: Settings, botapi: FakeBotAPI, tmp_path: Path) -> Settings:
    return configure(settings, telegram_bot_token=botapi.token, telegram_api_base_url=botapi.base_url,
                     fetch_allow_private_addresses=True, llm_max_concurrency=32,
                     database_path=tmp_path / "bot.sqlite3")


@pytest.fixture
async def newsbot(bot_settings: Settings) -> AsyncIterator[NewsBot]:
    bot = NewsBot(bot_settings)
    await bot.start()
    yield bot
    await bot.stop()


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
