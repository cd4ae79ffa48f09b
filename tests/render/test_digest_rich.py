"""A digest as one rich message: a table of stories, each story's detail collapsed, links kept."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.digests.evaluate import load
from bot.digests.stories import Item, group_stories
from bot.render.digest import MAX_LINKS
from bot.render.digest_rich import compose_rich
from tests.fakes.rich_html import check

BRIEFS, _ = load("eval/grouping")


def at(day: int, hour: int) -> float:
    return datetime(2026, 3, day, hour, tzinfo=UTC).timestamp()


def items() -> list[Item]:
    return [Item(b.env, b.shared_at, b.link, b.outlet) for b in BRIEFS.values()]


@pytest.mark.parametrize("view", ["ar", "en", "both"])
def test_every_reference_brief_in_one_digest_renders_within_limits(view: str) -> None:
    msg = compose_rich(items(), view, since=at(2, 0), now=at(5, 23), chat="@news",  # type: ignore[arg-type]
                       max_stories=100)
    assert msg is not None and not msg.cut  # every story of the set, in one message
    got = check(msg.html)
    assert msg.is_rtl == (view != "en")
    stories = msg.html.count("<tr>") - 1
    assert stories >= 9  # the labelled set's nine events, each its own row
    assert msg.html.count("<details><summary>") >= 1 and "<details open" not in msg.html
    # every story's articles keep their links (up to MAX_LINKS a story, as in the classic digest)
    linked = [i.link for s in group_stories(items()) for i in s.items[:MAX_LINKS] if i.link]
    assert linked and all(f'href="{link}"' in msg.html for link in linked)
    if view != "ar":
        assert "News digest from @news" in got.text and "Who is pressuring whom" in got.text


def test_three_shares_of_every_reference_brief_stay_one_message_within_limits() -> None:
    many = [Item(b.env, b.shared_at + k, b.link, b.outlet) for k in range(3) for b in BRIEFS.values()]
    msg = compose_rich(many, "both", since=at(2, 0), now=at(5, 23), max_stories=200)
    assert msg is not None
    check(msg.html)
    assert msg.usage.fits()


def test_nothing_shared_is_no_digest() -> None:
    assert compose_rich([], "en") is None
