"""The headline and summary reach a preview while the model is still writing the rest."""

from __future__ import annotations

import json
import time

from bot.engine.article import from_text
from bot.engine.brief import BriefEngine, Preview
from bot.engine.llm import LLMClient
from bot.ops.config import Settings
from tests.conftest import EXAMPLE_ARTICLE, example_brief
from tests.fakes.openai_server import FakeLLM, completion


async def test_headline_then_summary_are_previewed_as_they_stream(settings: Settings, llm_server: FakeLLM) -> None:
    data = example_brief()
    text = json.dumps(data, ensure_ascii=False)
    chunk_chars, chunk_delay = 16, 0.004  # ~0.004 s per 4 tokens: the whole answer takes ~2 s
    llm_server.default = lambda payload: completion(text, chunk_chars=chunk_chars, chunk_delay=chunk_delay)
    seen: list[tuple[float, Preview]] = []
    llm = LLMClient(settings)
    try:
        started = time.monotonic()
        env = await BriefEngine(settings, llm).run(from_text(EXAMPLE_ARTICLE.read_text(encoding="utf-8"), "t"),
                                                   preview=lambda p: seen.append((time.monotonic(), p)))
        ended = time.monotonic()
    finally:
        await llm.close()
    assert [p.summary is None for _, p in seen] == [True, False]  # the headline alone, then with the summary
    assert seen[0][1].headline == data["headline"] and seen[1][1].summary == data["summary"]
    # each shows as soon as it is whole: the headline long before the answer ends
    headline_end = text.index('"summary"')
    streamed_by_then = (headline_end // chunk_chars + 1) * chunk_delay
    assert seen[0][0] - started < streamed_by_then + 1.0 < ended - started
    assert env.brief.headline.en == data["headline"]["en"]
