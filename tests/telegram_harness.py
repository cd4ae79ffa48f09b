"""Running the real Application against the loopback Bot API and LLM servers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from bot.config import Settings
from bot.telegram import NewsBot
from tests.conftest import TESTDATA
from tests.fakes.botapi_server import FakeBotAPI

SPEC = TESTDATA / "bot-api" / "api.json"
BRIEF_MARK = "Who is pressuring whom"


async def until(predicate: Callable[[], object], timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
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


@pytest.fixture
def bot_settings(settings: Settings, botapi: FakeBotAPI, tmp_path: Path) -> Settings:
    return settings.model_copy(update={
        "telegram_bot_token": botapi.token, "telegram_api_base_url": botapi.base_url,
        "fetch_allow_private_addresses": True, "llm_max_concurrency": 32, "database_path": tmp_path / "bot.sqlite3",
    })


@pytest.fixture
async def newsbot(bot_settings: Settings) -> AsyncIterator[NewsBot]:
    bot = NewsBot(Settings.model_validate(bot_settings.model_dump()))
    await bot.start()
    yield bot
    await bot.stop()
