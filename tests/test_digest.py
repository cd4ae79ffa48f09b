"""Digest composition: stories grouped, pressures combined, changes shown, limits kept."""

from __future__ import annotations

import pytest

from bot.digest import ScheduleError, compose, group_stories, parse_schedule
from bot.schema import Brief, BriefEnvelope
from tests.fakes.briefs import STORIES, brief_for
from tests.fakes.telegram_html import parse, utf16_len
from tests.test_render import envelope


def env_of(story: str, content_hash: str | None = None) -> BriefEnvelope:
    env = envelope(brief_for(story), STORIES[story]["article"])
    env.article.content_hash = content_hash or story
    return env


def test_same_event_from_two_outlets_is_one_story() -> None:
    a, b, c = env_of("gaza"), env_of("gaza", "other-outlet"), env_of("sudan")
    b.brief.sources[0].name.en = "Other Outlet"
    stories = group_stories([a, c, b])
    assert [len(s.briefs) for s in stories] == [2, 1]
    assert stories[0].sources("en") == ["News Agency", "Other Outlet"]


def test_digest_names_every_story_with_sources_and_pressures() -> None:
    messages = compose([env_of("gaza"), env_of("sudan"), env_of("ukraine")])
    text = "\n".join(parse(m) for m in messages)
    for headline in ("Egypt and Qatar urge Israel and Hamas back to talks",
                     "UN threatens Rapid Support Forces with sanctions over Darfur aid corridors",
                     "EU accuses Russia of blocking Black Sea grain shipments"):
        assert headline in text
    for source in ("News Agency", "Reuters", "Associated Press", "رويترز"):
        assert source in text
    assert "United Nations → Rapid Support Forces (threaten)" in text
    assert "Positions that changed" not in text


def test_changed_positions_are_shown() -> None:
    early, late = env_of("gaza", "1"), env_of("gaza", "2")
    late.brief = Brief.model_validate({**brief_for("gaza"), "positions": [
        {"actor": "egypt", "stance": {"ar": "يرفض المقترح", "en": "rejects the proposal"}, "quote": None,
         "source_ids": []}]})
    text = parse(compose([early, late])[0])
    assert "Egypt: calls for action now → rejects the proposal" in text


def test_nothing_to_report_is_no_post() -> None:
    assert compose([]) == []


def test_long_digest_is_split_within_limits() -> None:
    envs = [env_of(s, f"{s}{i}") for i in range(80) for s in ("gaza", "sudan", "ukraine")]
    for i, env in enumerate(envs):  # make each its own story
        env.brief.headline.en = f"Story number {i} " + "word " * 20
        env.brief.actors[0].name.en = f"Actor {i}"
    messages = compose(envs)
    assert len(messages) > 1 and all(utf16_len(m) <= 4096 for m in messages)
    for m in messages:
        parse(m)


def test_parse_schedule() -> None:
    assert parse_schedule([]) == ("18:00", "UTC")
    assert parse_schedule(["7:05", "Asia/Amman"]) == ("07:05", "Asia/Amman")
    with pytest.raises(ScheduleError):
        parse_schedule(["25:00"])
    with pytest.raises(ScheduleError):
        parse_schedule(["Mars/Olympus"])
