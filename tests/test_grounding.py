"""Checks of a brief against schema and article, and settling what still fails."""

from __future__ import annotations

import json

from bot import grounding
from bot.normalize import Matcher
from bot.schema import Brief
from tests.conftest import EXAMPLE_ARTICLE, example_brief

ARTICLE = EXAMPLE_ARTICLE.read_text(encoding="utf-8")


def brief(data: dict) -> Brief:
    b, issues = grounding.parse(json.dumps(data, ensure_ascii=False))
    assert b is not None, issues
    return b


def test_example_brief_passes_every_check() -> None:
    assert grounding.check(brief(example_brief()), Matcher(ARTICLE)) == []


def test_parse_accepts_fenced_json_and_prose_around_it() -> None:
    text = json.dumps(example_brief(), ensure_ascii=False)
    assert grounding.parse(f"```json\n{text}\n```")[0] is not None
    assert grounding.parse(f"Here is the brief:\n{text}\nHope this helps")[0] is not None


def test_parse_reports_paths_of_schema_errors() -> None:
    data = example_brief()
    del data["headline"]["en"]
    data["pressures"][0]["event"] = "PERSUADE"
    data["actors"][0]["kind"] = "country"
    b, issues = grounding.parse(json.dumps(data))
    assert b is None
    paths = {i.path for i in issues}
    assert {"headline.en", "pressures[0].event", "actors[0].kind"} <= paths


def test_parse_of_non_json() -> None:
    b, issues = grounding.parse("Sorry, I cannot do that")
    assert b is None and issues[0].message == "the answer is not valid JSON"


def test_invented_quote_and_evidence_are_flagged() -> None:
    data = example_brief()
    data["positions"][1]["quote"] = "سنواصل الحرب حتى النصر الكامل"
    data["pressures"][0]["evidence"] = "قطر تهدد بطرد قادة حماس"
    issues = grounding.check(brief(data), Matcher(ARTICLE))
    assert {(i.path, i.kind) for i in issues} == {("positions[1].quote", "not_found"),
                                                   ("pressures[0].evidence", "not_found")}


def test_references_and_duplicates() -> None:
    data = example_brief()
    data["pressures"][0]["targets"].append("iran")
    data["positions"][0]["source_ids"] = ["nyt"]
    data["actors"].append(dict(data["actors"][0]))
    issues = grounding.check(brief(data), Matcher(ARTICLE))
    kinds = {(i.path, i.kind) for i in issues}
    assert ("pressures[0].targets[2]", "reference") in kinds
    assert ("positions[0].source_ids[0]", "reference") in kinds
    assert ("actors[10].id", "duplicate_id") in kinds


def test_script_of_each_language() -> None:
    data = example_brief()
    data["headline"]["ar"] = "US presses Israel"
    data["summary"]["en"] = "تمارس الولايات المتحدة ضغوطا"
    data["actors"][0]["name"]["ar"] = "CNN"  # a Latin name in the Arabic field is still wrong
    data["actors"][1]["name"]["en"] = "G7"  # letters are Latin; fine
    issues = {(i.path, i.kind) for i in grounding.check(brief(data), Matcher(ARTICLE))}
    assert issues == {("headline.ar", "script"), ("summary.en", "script"), ("actors[0].name.ar", "script")}


def test_settle_drops_unfound_quotes_and_marks_unfound_evidence() -> None:
    data = example_brief()
    data["positions"][1]["quote"] = "سنواصل الحرب حتى النصر الكامل"
    data["pressures"][2]["evidence"] = "invented evidence"
    data["sources"][3]["evidence"] = "invented source line"
    b = brief(data)
    settled = grounding.settle(b, grounding.check(b, Matcher(ARTICLE)))
    assert settled.brief.positions[1].quote is None
    assert [d.path for d in settled.dropped] == ["positions[1].quote"]
    assert settled.unverified == ["pressures[2].evidence", "sources[3].evidence"]
    # nothing left in the brief as verbatim that is not in the article
    left = [t for p, t in grounding.spans(settled.brief) if p not in settled.unverified]
    assert all(Matcher(ARTICLE).find(t) for t in left)


def test_settle_removes_dangling_references_and_keeps_indices_right() -> None:
    data = example_brief()
    data["pressures"][0]["actors"] = ["nato"]  # no known actor left → pressure dropped
    data["pressures"][2]["evidence"] = "not in the article"
    data["positions"][0]["actor"] = "ghost"
    data["positions"][2]["source_ids"].append("ghost_source")
    b = brief(data)
    settled = grounding.settle(b, grounding.check(b, Matcher(ARTICLE)))
    assert len(settled.brief.pressures) == 2
    # the third pressure is now the second: its unverified mark follows it
    assert settled.unverified == ["pressures[1].evidence"]
    assert len(settled.brief.positions) == 4
    assert all(s in {x.id for x in settled.brief.sources}
               for p in settled.brief.positions for s in p.source_ids)
    reasons = {d.reason for d in settled.dropped}
    assert {"pressure without a known actor or target", "position of an unknown actor"} <= reasons
