"""Rendering: Telegram HTML within limits, escaped, right-to-left where Arabic."""

from __future__ import annotations

import pytest

from bot.render import RLM, render_messages, render_sources, render_text
from bot.schema import ArticleInfo, Brief, BriefEnvelope, CheckReport, Provenance, Usage
from tests.conftest import example_brief
from tests.fakes.telegram_html import parse, utf16_len


def envelope(data: dict, **checks: object) -> BriefEnvelope:
    return BriefEnvelope(
        brief=Brief.model_validate(data),
        article=ArticleInfo(source="t", chars=100, chars_sent=100, content_hash="x"),
        provenance=Provenance(model="m", prompt_version="p", response_format="json_schema", usage=Usage(),
                              llm_calls=1, llm_seconds=0, total_seconds=0, created_at="now"),
        checks=CheckReport(passed_first_time=True, repaired=False, **checks),  # type: ignore[arg-type]
    )


def nasty() -> dict:
    data = example_brief()
    evil = 'a <b>bold</b> & "quoted" <script>x</script> &amp; 1 < 2 > 0 '
    data["headline"]["en"] = evil
    data["summary"]["ar"] = ("الوسطاء <يضغطون> & «يطالبون» " * 200)
    data["summary"]["en"] = (evil * 100)
    for p in data["positions"]:
        p["stance"]["en"] = evil * 30
    for i in range(40):
        data["sources"].append({"id": f"s{i}", "name": {"ar": f"مصدر <{i}> & شركاه", "en": f"Source <{i}> & Co"},
                                "kind": "anonymous_source", "evidence": "وأشار مسؤول إسرائيلي إلى أن"})
    return data


@pytest.mark.parametrize("view", ["ar", "en", "both"])
@pytest.mark.parametrize("full", [False, True])
def test_every_message_is_valid_html_within_limit(view: str, full: bool) -> None:
    messages = render_messages(envelope(nasty()), view, full_sources=full)  # type: ignore[arg-type]
    assert len(messages) > 1
    for m in messages:
        assert utf16_len(m) <= 4096
        assert parse(m).strip()
    text = "".join(parse(m) for m in messages)
    # shown literally, not as markup
    if view != "en":
        assert "<يضغطون> &" in text
    if view != "ar":
        assert "<script>" in text and "& \"quoted\"" in text


def test_both_languages_split_at_the_language_boundary() -> None:
    ar, en = render_messages(envelope(example_brief()), "both")
    assert "Who is pressuring whom" not in parse(ar) and "من يضغط على من" in parse(ar)
    assert "من يضغط على من" not in parse(en) and parse(en).startswith("📰 US, Qatar and Egypt press")


def test_example_fits_one_message_each_language() -> None:
    messages = render_messages(envelope(example_brief()), "ar")
    assert len(messages) == 1
    plain = parse(messages[0])
    for name in ("الولايات المتحدة", "حركة حماس", "مصدر الإخبارية"):
        assert name in plain
    assert "الباب لم يُغلق بعد أمام إمكانية التوصل إلى اتفاق" in plain  # the verified quote


def test_arabic_lines_start_right_to_left() -> None:
    (message,) = render_messages(envelope(example_brief()), "ar")
    for line in message.split("\n"):
        if line and not line.startswith("<blockquote>"):
            assert line.startswith(RLM), line


def test_anonymous_sources_are_marked() -> None:
    en = "".join(parse(m) for m in render_messages(envelope(example_brief()), "en"))
    assert "🕶 Anonymous officials: unnamed Israeli officials" in en
    assert "🕶 Anonymous sources: sources familiar with the negotiations" in en


def test_sources_in_full_show_their_evidence() -> None:
    msgs = render_sources(envelope(example_brief()), "en")
    assert "ونقلت الهيئة عن مصادر مطلعة على سير المفاوضات" in parse(msgs[0])


def test_unverified_evidence_is_not_quoted() -> None:
    env = envelope(example_brief(), unverified=["pressures[0].evidence"])
    text = "".join(parse(m) for m in render_messages(env, "en"))
    assert "تمارس الولايات المتحدة الأميركية وقطر ومصر ضغوطًا مكثفة" not in text
    assert "unverified" in text


def test_plain_text_has_no_markup() -> None:
    out = render_text(envelope(example_brief()))
    assert "<b>" not in out and "Who is pressuring whom" in out and "من يضغط على من" in out
