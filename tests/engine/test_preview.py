"""The headline, the summary, then each pressure and position reach a preview while the model is still writing."""

from __future__ import annotations

import asyncio
import json

from bot.engine import partial_json
from bot.engine.article import from_text
from bot.engine.brief import BriefEngine
from bot.engine.llm import LLMClient
from bot.engine.preview import Preview, Watch, preview_of
from bot.ops.config import Settings
from tests.conftest import EXAMPLE_ARTICLE, example_brief
from tests.fakes.openai_server import FakeLLM, completion

HELD_S = 60.0  # the model stops writing after the summary for this long, unless a preview lets it go on


async def test_headline_then_summary_are_previewed_as_they_stream(settings: Settings, llm_server: FakeLLM) -> None:
    data = example_brief()
    text = json.dumps(data, ensure_ascii=False)
    chunk_chars = 16
    summary_end = text.index(json.dumps(data["summary"], ensure_ascii=False)) + len(
        json.dumps(data["summary"], ensure_ascii=False))
    held_after = summary_end // chunk_chars + 4  # chunks: the role first, then the summary and the next key
    assert held_after < len(text) // chunk_chars  # the rest of the brief is still to come
    llm_server.default = lambda payload: completion(text, chunk_chars=chunk_chars, chunk_delay=0.004,
                                                    stall_after=held_after, stall=HELD_S)
    seen: list[Preview] = []

    def preview(p: Preview) -> None:
        seen.append(p)
        if p.summary is not None:
            llm_server.released.set()  # seen while the model is held: it may finish now

    llm = LLMClient(settings)
    try:
        # without previews during the stream, the model would stay held for HELD_S and this would time out
        env = await asyncio.wait_for(
            BriefEngine(settings, llm).run(from_text(EXAMPLE_ARTICLE.read_text(encoding="utf-8"), "t"),
                                           preview=preview), HELD_S / 2)
    finally:
        await llm.close()
    # the headline alone, then with the summary, then the items as each is whole
    assert [p.summary is None for p in seen[:2]] == [True, False] and all(p.summary for p in seen[1:])
    assert seen[0].headline == data["headline"] and seen[1].summary == data["summary"]
    counts = [(len(p.pressures), len(p.positions)) for p in seen]
    assert counts == sorted(counts) and counts[-1] == (len(data["pressures"]), len(data["positions"]))
    names = {a["id"]: a["name"] for a in data["actors"]}
    last = seen[-1]
    assert [x.actors for x in last.pressures] == [tuple(names[a] for a in p["actors"]) for p in data["pressures"]]
    assert [(x.actor, x.stance) for x in last.positions] == [(names[q["actor"]], q["stance"]) for q in data["positions"]]
    quotes = [q["quote"] for q in data["positions"] if q["quote"]]
    assert quotes and not any(q in repr(p) for p in seen for q in quotes)  # a quote is never shown unchecked
    assert env.brief.headline.en == data["headline"]["en"]


def test_a_list_being_written_shows_its_whole_items_only() -> None:
    data = example_brief()
    text = json.dumps(data, ensure_ascii=False)
    second = json.dumps(data["pressures"][1], ensure_ascii=False)
    cut = text[:text.index(second) + len(second) // 2]  # in the middle of the second pressure
    loaded = partial_json.load_partial(cut)
    assert loaded is not None
    seen = preview_of(loaded[0])
    assert seen is not None and seen.summary == data["summary"] and seen.positions == ()
    assert len(seen.pressures) == 1 and seen.pressures[0].demand == data["pressures"][0]["demand"]


def test_an_answer_with_odd_types_shows_what_it_can() -> None:
    data = example_brief()
    data["positions"][0]["actor"] = ["not", "an", "id"]  # what json_object mode may let through
    text = json.dumps(data, ensure_ascii=False)
    shown: list[Preview] = []
    watch = Watch(shown.append)
    parts = [text[i:i + 16] for i in range(0, len(text), 16)]
    for n in range(1, len(parts) + 1):
        watch(parts[:n])
    assert shown and shown[-1].headline == data["headline"] and not watch.stopped
    assert len(shown[-1].positions) == len(data["positions"]) - 1  # the odd one left out, the rest shown


async def test_a_preview_that_fails_stops_the_previews_never_the_brief(settings: Settings,
                                                                        llm_server: FakeLLM) -> None:
    data = example_brief()
    llm_server.default = lambda payload: completion(json.dumps(data, ensure_ascii=False), chunk_chars=16)
    calls = 0

    def broken(p: Preview) -> None:  # a draft that cannot be shown (the chat's side of the preview)
        nonlocal calls
        calls += 1
        raise RuntimeError("the draft could not be made")

    llm = LLMClient(settings)
    try:
        env = await BriefEngine(settings, llm).run(from_text(EXAMPLE_ARTICLE.read_text(encoding="utf-8"), "t"),
                                                   preview=broken)
    finally:
        await llm.close()
    assert calls == 1  # asked once, then no more previews
    assert env.brief.headline.en == data["headline"]["en"]
