"""The brief engine end to end: real AsyncOpenAI client, loopback server, real checks."""

from __future__ import annotations

import json

import pytest

from bot import prompts
from bot.article import from_text
from bot.brief import BriefEngine
from bot.config import Settings
from bot.errors import LLMBadOutput
from bot.llm import LLMClient
from bot.render import render_messages, render_text
from bot.schema import BriefEnvelope
from tests.conftest import EXAMPLE_ARTICLE, example_brief
from tests.fakes.openai_server import FakeLLM, completion

ARTICLE = EXAMPLE_ARTICLE.read_text(encoding="utf-8")


async def run(settings: Settings, text: str = ARTICLE) -> BriefEnvelope:
    llm = LLMClient(settings)
    try:
        return await BriefEngine(settings, llm).run(from_text(text, "test"))
    finally:
        await llm.close()


async def test_example_article_gives_example_brief(settings: Settings, llm_server: FakeLLM) -> None:
    env = await run(settings)
    assert env.brief.model_dump() == json.loads(json.dumps(example_brief()))
    assert env.checks.passed_first_time and env.checks.clean
    assert env.checks.verified_spans == 12
    assert env.provenance.prompt_version == prompts.version()
    assert env.provenance.usage.prompt_tokens == 1000 and env.provenance.llm_calls == 1
    assert env.article.language == "ar" and env.article.chars == len(from_text(ARTICLE, "x").text)
    # static instructions first, the article last (prompt caching)
    sent = llm_server.requests[0]["messages"]
    assert sent[0]["role"] == "system" and sent[0]["content"] == prompts.system_prompt()
    assert sent[1]["content"].endswith(ARTICLE.strip()[-200:])
    assert llm_server.requests[0]["response_format"]["json_schema"]["strict"] is True


async def test_invalid_json_then_repaired(settings: Settings, llm_server: FakeLLM) -> None:
    llm_server.script = [completion('{"language": "ar", "headline": ')]
    env = await run(settings)
    assert llm_server.calls == 2 and env.checks.repaired
    repair = llm_server.requests[1]["messages"]
    assert repair[-2]["role"] == "assistant" and repair[-1]["role"] == "user"
    assert "not valid JSON" in repair[-1]["content"]
    assert env.provenance.llm_calls == 2 and env.provenance.usage.prompt_tokens == 2000


async def test_missing_fields_then_repaired(settings: Settings, llm_server: FakeLLM) -> None:
    broken = example_brief()
    del broken["sources"]
    del broken["summary"]["en"]
    llm_server.script = [completion(json.dumps(broken, ensure_ascii=False))]
    env = await run(settings)
    assert env.checks.repaired and len(env.brief.sources) == 6
    feedback = llm_server.requests[1]["messages"][-1]["content"]
    assert "sources" in feedback and "summary.en" in feedback


async def test_invented_quotes_never_shown_as_verbatim(settings: Settings, llm_server: FakeLLM) -> None:
    bad = example_brief()
    invented = "سنحتل غزة بالكامل مهما كان الثمن"
    bad["positions"][1]["quote"] = invented
    bad["pressures"][1]["evidence"] = "Witkoff threatened Qatar"
    llm_server.script = [completion(json.dumps(bad, ensure_ascii=False))] * 2  # the repair repeats it
    env = await run(settings)
    assert not env.checks.repaired and env.checks.remaining
    assert env.brief.positions[1].quote is None
    assert env.checks.dropped[0].text == invented
    assert env.checks.unverified == ["pressures[1].evidence"]
    shown = "\n".join(render_messages(env)) + render_text(env)
    assert invented not in shown and "Witkoff threatened Qatar" not in shown
    assert "unverified" in shown and "غير موثّق" in shown


async def test_repair_that_is_worse_keeps_the_first_answer(settings: Settings, llm_server: FakeLLM) -> None:
    bad = example_brief()
    bad["positions"][0]["actor"] = "ghost"
    llm_server.script = [completion(json.dumps(bad, ensure_ascii=False)), completion("not json at all")]
    env = await run(settings)
    assert len(env.brief.positions) == 4  # the ghost's position is dropped, the rest is kept
    assert any(d.reason == "position of an unknown actor" for d in env.checks.dropped)


async def test_unusable_twice_is_an_error(settings: Settings, llm_server: FakeLLM) -> None:
    llm_server.script = [completion("no"), completion("still no")]
    with pytest.raises(LLMBadOutput):
        await run(settings)


async def test_json_object_server(settings: Settings, llm_server: FakeLLM) -> None:
    def strict_server(payload: dict) -> object:
        assert payload["response_format"] == {"type": "json_object"}
        return completion("```json\n" + json.dumps(example_brief(), ensure_ascii=False) + "\n```")

    llm_server.default = strict_server  # type: ignore[assignment]
    env = await run(settings.model_copy(update={"llm_response_format": "json_object"}))
    assert env.checks.passed_first_time and env.provenance.response_format == "json_object"


async def test_long_article_cut_at_paragraph_and_brief_says_so(settings: Settings, llm_server: FakeLLM) -> None:
    paragraphs = [ARTICLE.strip()] + [f"فقرة إضافية رقم {i} " + "نص " * 300 for i in range(20)]
    text = "\n\n".join(paragraphs)
    env = await run(settings.model_copy(update={"article_max_chars": 6000}), text)
    assert env.article.truncated and env.article.chars_sent <= 6000 < env.article.chars
    sent = llm_server.requests[0]["messages"][1]["content"]
    assert sent.rstrip().endswith("نص")  # ends at a paragraph's end, not mid-word
    assert "cut to fit" in sent
    assert "first part" in render_text(env)
