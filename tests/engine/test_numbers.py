"""Numbers in the headline and summary must be in the article, in any form."""

from __future__ import annotations

import json
from pathlib import Path

from bot.engine.numbers import missing, numbers, values
from bot.engine.schema import BriefEnvelope
from bot.ops.config import Settings
from bot.render.classic import render_messages, render_text
from tests.conftest import example_brief
from tests.engine.test_brief import run
from tests.fakes.openai_server import FakeLLM, completion

ROOT = Path(__file__).resolve().parents[2]
# "246 people, including 73 children", "about 4% of the stockpile - 30 tonnes", "at least 3,000 detainees", "by 1 March"
SYRIA = (ROOT / "eval/en/26065545.en.txt").read_text(encoding="utf-8")
# "مشروع قرار ... ستوصت عليه 193 دولة"
UN_VOTE = (ROOT / "eval/ar/JA-internationalNews-156-20161209.ar.txt").read_text(encoding="utf-8")


def not_in(article: str, summary: str) -> list[str]:
    return [n.text for n in missing(summary, values(article))]


def test_invented_count_date_and_percentage_are_caught_in_both_languages() -> None:
    assert not_in(SYRIA, "Syria says 500 people were killed in Aleppo.") == ["500"]
    assert not_in(SYRIA, "Forty children were killed.") == ["Forty"]
    assert not_in(SYRIA, "The transfer must end by 15 March.") == ["15"]
    assert not_in(SYRIA, "Only 40% of the stockpile has left.") == ["40"]
    assert not_in(SYRIA, "قُتل خمسمئة شخص في حلب.") == ["خمسمئة"]
    assert not_in(SYRIA, "لم يغادر إلا ٤٠٪ من المخزون.") == ["٤٠"]
    assert not_in(UN_VOTE, "تصوت 200 دولة على القرار.") == ["200"]
    assert not_in(UN_VOTE, "Ninety-three states vote on the resolution.") == ["Ninety-three"]


def test_a_number_the_article_states_in_another_form_is_found() -> None:
    for summary in ("246 people were killed, 73 of them children.", "Seventy-three children were killed.",
                    "قتل ٢٤٦ شخصا بينهم ٧٣ طفلا.", "قُتل مئتان وستة وأربعون شخصًا بينهم ثلاثة وسبعون طفلًا.",
                    "The prison holds three thousand detainees.", "يضم السجن ثلاثة آلاف معتقل.",
                    "About four percent of the stockpile, thirty tonnes, has left.", "غادر 4 في المئة، أي ثلاثين طنا.",
                    "Hundreds of detainees were freed; thousands remain.", "أُفرج عن مئات المعتقلين وبقي الآلاف."):
        assert not_in(SYRIA, summary) == [], summary
    assert not_in(UN_VOTE, "تصوت مئة وثلاث وتسعون دولة على القرار.") == []
    assert not_in(UN_VOTE, "One hundred and ninety-three states vote.") == []


def test_number_words_by_value() -> None:
    def read(text: str) -> list[float]:
        return [n.value for n in numbers(text)]

    assert read("٣٠ / 30 / thirty / ثلاثين") == [30, 30, 30, 30]
    assert read("ثلاثة آلاف / 3,000 / three thousand / ٣٬٠٠٠") == [3000] * 4
    assert read("hundreds, مئات, thousands, آلاف, عشرات") == []
    assert read("two and three") == [2, 3]
    assert read("1.5 million, 1.5 مليون") == [1_500_000, 1_500_000]


def summary_with(en: str, ar: str) -> dict:
    data = example_brief()
    data["summary"] = {"en": en, "ar": ar}
    return data


async def test_an_invented_number_is_repaired_once(settings: Settings, llm_server: FakeLLM) -> None:
    bad = summary_with("Mediators press Israel and Hamas; 40 ministers oppose a deal.",
                       "يضغط الوسطاء على إسرائيل وحماس؛ ويعارض 40 وزيرا الاتفاق.")
    llm_server.script = [completion(json.dumps(bad, ensure_ascii=False))]  # the repair gets the example brief
    env = await run(settings)
    assert llm_server.calls == 2 and env.checks.repaired and env.checks.unconfirmed_numbers == []
    asked = llm_server.requests[1]["messages"][-1]["content"]
    assert "summary.en [number]" in asked and "'40'" in asked


async def test_a_number_still_invented_after_the_repair_is_marked_in_both_languages(
        settings: Settings, llm_server: FakeLLM) -> None:
    bad = summary_with("Mediators press Israel and Hamas; 40 ministers oppose a deal.",
                       "يضغط الوسطاء على إسرائيل وحماس؛ ويعارض أربعون وزيرا الاتفاق.")
    llm_server.script = [completion(json.dumps(bad, ensure_ascii=False))] * 2
    env: BriefEnvelope = await run(settings)
    assert [(n.path, n.text) for n in env.checks.unconfirmed_numbers] == [("summary.en", "40"), ("summary.ar", "أربعون")]
    shown = "\n".join(render_messages(env)) + render_text(env)
    assert "Numbers not found in the article: 40" in shown and "أرقام لم يُعثر عليها في المقال: أربعون" in shown
    # the summary itself stays: nothing is dropped for it
    assert env.brief.summary.en.startswith("Mediators press")
