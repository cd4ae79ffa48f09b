"""The one place that decides "cache or compute", as the bot and the CLI use it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.engine.article import Article, from_text
from bot.engine.brief import BriefEngine
from bot.engine.llm import LLMClient
from bot.engine.service import BriefService
from bot.ops.config import Settings
from bot.ops.errors import TooShort
from bot.store.sqlite import SQLiteStore
from tests.conftest import EXAMPLE_ARTICLE
from tests.fakes.openai_server import FakeLLM

TEXT = EXAMPLE_ARTICLE.read_text(encoding="utf-8")


class Reads:
    """An article source that counts how often it is read (a fetch, in the bot)."""

    def __init__(self, text: str = TEXT, source: str = "test") -> None:
        self.text, self.source, self.count = text, source, 0

    async def __call__(self) -> Article:
        self.count += 1
        return from_text(self.text, self.source)


@pytest.fixture
async def service(settings: Settings, tmp_path: Path):  # type: ignore[no-untyped-def]
    llm = LLMClient(settings)
    store = SQLiteStore(tmp_path / "briefs.sqlite3")
    yield BriefService(settings, store, BriefEngine(settings, llm))
    await store.close()
    await llm.close()


async def test_same_text_from_anywhere_is_briefed_once(service: BriefService, llm_server: FakeLLM) -> None:
    first = await service.brief(Reads(source="a.txt"))
    again = await service.brief(Reads(TEXT.replace("\n", "\n\n"), source="stdin"))  # same text, other spacing
    assert not first.cached and again.cached and llm_server.calls == 1
    assert again.brief_id == first.brief_id and again.envelope == first.envelope


async def test_a_brief_made_with_a_caption_is_served_only_with_that_caption(
        service: BriefService, llm_server: FakeLLM) -> None:
    """A file's caption is its title, seen by the model and kept in the envelope: another chat
    sending the same file without it, or with another, gets a brief of its own."""
    def titled(caption: str | None) -> Reads:
        async def read() -> Article:
            article = from_text(TEXT, "telegram")
            article.title = caption
            return article
        return read  # type: ignore[return-value]

    first = await service.brief(titled("a note only chat A wrote"), caption="a note only chat A wrote")
    bare = await service.brief(titled(None))
    other = await service.brief(titled("chat B's own words"), caption="chat B's own words")
    again = await service.brief(titled("a note only chat A wrote"), caption="a note only chat A wrote")
    assert not bare.cached and not other.cached and llm_server.calls == 3
    assert bare.envelope.article.title is None and other.envelope.article.title == "chat B's own words"
    assert again.cached and again.brief_id == first.brief_id


async def test_a_shared_link_needs_no_second_fetch(service: BriefService, llm_server: FakeLLM) -> None:
    url = "https://example.com/news/1"
    read = Reads()
    await service.brief(read, url=url)
    done = await service.brief(read, url=url)
    assert done.cached and read.count == 1 and llm_server.calls == 1


async def test_another_model_or_prompt_is_a_new_brief(service: BriefService, llm_server: FakeLLM,
                                                      settings: Settings) -> None:
    await service.brief(Reads())
    service.settings = settings.model_copy(update={"llm_model": "other-model"})
    assert not (await service.brief(Reads())).cached and llm_server.calls == 2


async def test_minimum_length_before_any_model_call(service: BriefService, llm_server: FakeLLM) -> None:
    with pytest.raises(TooShort) as caught:
        await service.brief(Reads("قال الوزير إن المحادثات مستمرة."), min_chars=120)
    assert caught.value.min_chars == 120 and llm_server.calls == 0


async def test_without_a_store_every_brief_is_made(settings: Settings, llm_server: FakeLLM) -> None:
    llm = LLMClient(settings)
    try:
        service = BriefService(settings, None, BriefEngine(settings, llm))
        assert not (await service.brief(Reads())).cached and not (await service.brief(Reads())).cached
    finally:
        await llm.close()
    assert llm_server.calls == 2
