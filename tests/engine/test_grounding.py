"""Checks of a brief against schema and article, and settling what still fails."""

from __future__ import annotations

import json

from bot.engine import grounding, partial_json
from bot.engine.normalize import Matcher
from bot.engine.parties import states
from bot.engine.schema import Brief
from tests.conftest import EXAMPLE_ARTICLE, example_brief

ARTICLE = EXAMPLE_ARTICLE.read_text(encoding="utf-8")


def brief(data: dict) -> Brief:
    b, issues = grounding.parse(json.dumps(data, ensure_ascii=False))
    assert b is not None, issues
    return b


def settled(data: dict, outlets: tuple[str, ...] = ()) -> grounding.Settled:
    return grounding.settle(brief(data), Matcher(ARTICLE), outlets)


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
    del data["actors"][1]["mention"]
    b, issues = grounding.parse(json.dumps(data))
    assert b is None
    paths = {i.path for i in issues}
    assert {"headline.en", "pressures[0].event", "actors[0].kind", "actors[1].mention"} <= paths


def test_parse_of_non_json() -> None:
    b, issues = grounding.parse("Sorry, I cannot do that")
    assert b is None and issues[0].message == "the answer is not valid JSON"


def test_parse_strips_bidi_controls_from_every_model_string() -> None:
    data = example_brief()
    data["headline"]["en"] = "\u202eUS presses Israel\u202c"
    data["actors"][0]["name"]["ar"] = "\u2067الولايات المتحدة\u2069"
    data["positions"][1]["quote"] = "\u200fالباب لم يُغلق بعد\u200e"
    b = brief(data)
    assert b.headline.en == "US presses Israel"
    assert b.actors[0].name.ar == "الولايات المتحدة"
    assert b.positions[1].quote == "الباب لم يُغلق بعد"


def test_bidi_controls_are_stripped_whether_written_as_characters_or_escapes() -> None:
    data = example_brief()
    data["headline"]["en"] = "\u202eUS presses Israel\u202c"
    for raw in (json.dumps(data, ensure_ascii=False), json.dumps(data)):  # a control as itself, and as \u202e
        parsed = grounding.read(raw)
        assert parsed.brief is not None and parsed.brief.headline.en == "US presses Israel"


def test_invented_quote_and_evidence_are_flagged() -> None:
    data = example_brief()
    data["positions"][1]["quote"] = "سنواصل الحرب حتى النصر الكامل"
    data["pressures"][0]["evidence"] = "قطر تهدد بطرد قادة حماس"
    issues = grounding.check(brief(data), Matcher(ARTICLE))
    assert {(i.path, i.kind) for i in issues} == {("positions[1].quote", "not_found"),
                                                   ("pressures[0].evidence", "not_found")}


def test_spliced_quote_is_flagged() -> None:
    data = example_brief()
    # two real sentences of two different speakers, hundreds of characters apart
    data["positions"][1]["quote"] = "الباب لم يُغلق بعد أمام إمكانية … بدأت حملة التجويع التي تنفذها إسرائيل"
    issues = grounding.check(brief(data), Matcher(ARTICLE))
    assert [(i.path, i.kind) for i in issues] == [("positions[1].quote", "not_found")]


def test_mentions_and_source_names_are_checked() -> None:
    data = example_brief()
    data["actors"][1]["mention"] = "دولة قطر"  # the article never writes this, nor these names
    data["actors"][1]["name"] = {"ar": "دولة قطر", "en": "State of Qatar"}
    data["sources"][0]["name"] = {"ar": "وكالة الأنباء الرسمية", "en": "Official News Agency"}
    issues = {(i.path, i.kind) for i in grounding.check(brief(data), Matcher(ARTICLE))}
    assert issues == {("actors[1].mention", "not_found"), ("sources[0].name", "not_found")}
    # the outlet known from metadata needs no mention in the text
    known = grounding.check(brief(data), Matcher(ARTICLE), ["Official News Agency"])
    assert [i.path for i in known] == ["actors[1].mention"]


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


def test_every_span_carries_its_verification_and_offsets() -> None:
    s = settled(example_brief())
    assert s.dropped == [] and s.grounding.spans_checked == s.grounding.spans_verified == 12
    assert s.grounding.names_checked == s.grounding.names_verified == 16
    checks = ([p.evidence_check for p in s.brief.pressures] + [a.mention_check for a in s.brief.actors]
              + [q.quote_check for q in s.brief.positions if q.quote_check]
              + [x.name_check for x in s.brief.sources] + [x.evidence_check for x in s.brief.sources if x.evidence_check])
    assert len(checks) == 12 + 16 and all(c.verified and c.found_in == "article" for c in checks)
    quote = s.brief.positions[1]
    assert quote.quote_check is not None and quote.quote_check.start is not None
    assert ARTICLE[quote.quote_check.start:quote.quote_check.end] == quote.quote
    mention = s.brief.actors[4].mention_check  # "حركة حماس", first met as "وحركة حماس"
    assert ARTICLE[mention.start:mention.end] == "حركة حماس"  # type: ignore[misc]


def test_settle_drops_unfound_quotes_and_marks_unfound_evidence() -> None:
    data = example_brief()
    data["positions"][1]["quote"] = "سنواصل الحرب حتى النصر الكامل"
    data["pressures"][2]["evidence"] = "invented evidence"
    data["sources"][3]["evidence"] = "invented source line"
    s = settled(data)
    assert s.brief.positions[1].quote is None and s.brief.positions[1].quote_check is None
    assert [(d.path, d.item, d.cause) for d in s.dropped] == [("positions[1].quote", "quote", "not_found")]
    assert not s.brief.pressures[2].evidence_check.verified
    assert s.brief.pressures[2].evidence_check.start is None
    assert s.brief.sources[3].evidence_check is not None and not s.brief.sources[3].evidence_check.verified
    assert (s.grounding.spans_checked, s.grounding.spans_verified) == (12, 9)
    # nothing marked verified that is not in the article
    matcher = Matcher(ARTICLE)
    assert all(matcher.find(p.evidence) for p in s.brief.pressures if p.evidence_check.verified)
    assert all(matcher.find(x.evidence) for x in s.brief.sources if x.evidence_check and x.evidence_check.verified)


def test_a_quote_given_twice_to_the_same_actor_is_shown_once() -> None:
    data = example_brief()
    n = len(data["positions"])
    quoted = next(q for q in data["positions"] if q["quote"])
    data["positions"].append({**quoted, "stance": {"en": "The same, again", "ar": "الأمر نفسه مجددا"}})
    other = next(a["id"] for a in data["actors"] if a["id"] != quoted["actor"])
    data["positions"].append({**quoted, "actor": other})  # another mouth: kept, for the speaker check to judge
    s = settled(data)
    assert len(s.brief.positions) == n + 1 and s.brief.positions[-1].actor == other
    assert [(d.path, d.item, d.cause, d.text) for d in s.dropped] == [
        (f"positions[{n}]", "position", "repeated", quoted["quote"])]


def test_actor_without_a_mention_is_dropped_with_its_references() -> None:
    data = example_brief()
    data["actors"][3]["mention"] = "الكيان"  # israel: not in the article, nor are its names
    data["actors"][3]["name"] = {"ar": "الكيان", "en": "the entity"}
    s = settled(data)
    assert "israel" not in {a.id for a in s.brief.actors}
    # the first pressure keeps its other targets; Israel's own pressure and positions go
    assert s.brief.pressures[0].targets == ["hamas"]
    assert all(p.actor != "israel" for p in s.brief.positions) and len(s.brief.positions) == 1
    assert len(s.brief.pressures) == 2
    by = {(d.item, d.cause) for d in s.dropped}
    assert by == {("actor", "not_found"), ("pressure", "unknown_reference"), ("position", "unknown_reference")}
    assert s.grounding.names_verified == s.grounding.names_checked - 1


def test_an_actor_whose_mention_is_not_the_article_s_words_is_kept_by_a_name_that_is() -> None:
    data = example_brief()
    data["actors"][3]["mention"] = "دولة الاحتلال"  # a small model's paraphrase; its name "إسرائيل" is in the article
    data["actors"][4]["mention"] = "Hamas movement"  # English for an Arabic article; "حركة حماس" is there
    assert not [i for i in grounding.check(brief(data), Matcher(ARTICLE)) if i.path.startswith("actors")]
    s = settled(data)
    israel, hamas = s.brief.actors[3], s.brief.actors[4]
    assert (israel.id, hamas.id) == ("israel", "hamas") and s.dropped == []
    # what is shown as the article's words is the article's words
    assert (israel.mention, hamas.mention) == ("إسرائيل", "حركة حماس")
    assert ARTICLE[israel.mention_check.start:israel.mention_check.end] == "إسرائيل"  # type: ignore[misc]


def test_a_reference_by_name_is_read_as_the_id_of_the_one_actor_or_source_so_named() -> None:
    data = example_brief()
    data["pressures"][0]["actors"] = ["الولايات المتحدة"]  # usa's Arabic name, where its id belongs
    data["pressures"][0]["targets"] = ["Israel", "حركة حماس"]  # an English name and a mention
    data["positions"][1]["actor"] = " ISRAEL "
    source = data["sources"][0]
    data["positions"][1]["source_ids"] = [source["name"]["en"]]
    data["positions"][2]["actor"] = "Gaza"  # no actor is named so: the reference stays, and fails
    b = grounding.read(json.dumps(data, ensure_ascii=False)).brief
    assert b is not None
    assert b.pressures[0].actors == ["usa"] and b.pressures[0].targets == ["israel", "hamas"]
    assert b.positions[1].actor == "israel" and b.positions[1].source_ids == [source["id"]]
    issues = {(i.path, i.kind) for i in grounding.check(b, Matcher(ARTICLE))}
    assert issues == {("positions[2].actor", "reference")}
    # two actors of one name: which one is meant cannot be told, so neither is chosen
    data = example_brief()
    data["actors"][1]["name"]["en"] = data["actors"][0]["name"]["en"]
    data["pressures"][0]["actors"] = [data["actors"][0]["name"]["en"]]
    b = grounding.read(json.dumps(data, ensure_ascii=False)).brief
    assert b is not None and b.pressures[0].actors == [data["actors"][0]["name"]["en"]]


def test_a_state_the_prompt_offered_is_added_when_the_answer_refers_to_it_without_defining_it() -> None:
    offered = [s.actor() for s in states(Matcher(ARTICLE))]  # the United States, Qatar, Egypt, Israel
    data = example_brief()
    data["actors"] = [a for a in data["actors"] if a["id"] not in ("egypt", "israel")]
    data["pressures"][0]["actors"] = ["usa", "qatar", "Egypt"]  # by its name, as a small model writes it
    b = grounding.read(json.dumps(data, ensure_ascii=False), offered=offered).brief
    assert b is not None and b.pressures[0].actors == ["usa", "qatar", "egypt"]
    assert b.pressures[0].targets == ["israel", "hamas"]
    added = [a for a in b.actors if a.id in ("egypt", "israel")]
    assert [(a.id, a.mention, a.name.en, a.kind, a.country) for a in added] == [
        ("egypt", "مصر", "Egypt", "state", "EGY"), ("israel", "إسرائيل", "Israel", "state", "ISR")]
    assert not [i for i in grounding.check(b, Matcher(ARTICLE)) if i.kind == "reference"]
    # one the answer defines itself is its own: "qatar" is not offered again beside the answer's
    assert [a.id for a in b.actors].count("qatar") == 1
    # without the offer, the same answer's references dangle, for the repair round to name
    bare = grounding.read(json.dumps(data, ensure_ascii=False)).brief
    assert bare is not None and {i.path for i in grounding.check(bare, Matcher(ARTICLE)) if i.kind == "reference"}
    # the answer's own actor for a state is that state: an offered id or name is read as it
    data = example_brief()  # defines the United States as `usa`
    data["pressures"][0]["actors"] = ["united_states", "United_States", "qatar"]
    b = grounding.read(json.dumps(data, ensure_ascii=False), offered=offered).brief
    assert b is not None and b.pressures[0].actors == ["usa", "usa", "qatar"]
    assert [a.id for a in b.actors] == [a["id"] for a in data["actors"]]  # nothing added


def test_an_offered_state_is_not_added_beyond_the_list_s_bound() -> None:
    offered = [s.actor() for s in states(Matcher(ARTICLE))]
    data = example_brief()
    data["actors"] = [dict(data["actors"][4], id=f"hamas_{n}") for n in range(15)]  # as many as a brief holds
    data["pressures"][0]["actors"], data["pressures"][0]["targets"] = ["hamas_0"], ["egypt"]
    b = grounding.read(json.dumps(data, ensure_ascii=False), offered=offered).brief
    assert b is not None and len(b.actors) == 15 and b.pressures[0].targets == ["egypt"]  # left to dangle


def test_source_not_named_in_the_article_is_dropped_unless_known_from_metadata() -> None:
    data = example_brief()
    data["sources"][0] = {"id": "publisher", "name": {"ar": "الجزيرة", "en": "Al Jazeera"}, "kind": "media",
                          "evidence": ""}
    s = settled(data)
    assert "publisher" not in {x.id for x in s.brief.sources}
    assert all("publisher" not in p.source_ids for p in s.brief.pressures)
    assert [(d.item, d.cause) for d in s.dropped] == [("source", "not_found")]
    known = settled(data, outlets=("Al Jazeera",))
    publisher = known.brief.sources[0]
    assert publisher.name_check.found_in == "metadata" and publisher.evidence_check is None
    assert known.grounding.spans_checked == 11  # an empty evidence is no span


def test_settle_removes_dangling_references() -> None:
    data = example_brief()
    data["pressures"][0]["actors"] = ["nato"]  # no known actor left → pressure dropped
    data["pressures"][2]["evidence"] = "not in the article"
    data["positions"][0]["actor"] = "ghost"
    data["positions"][2]["source_ids"].append("ghost_source")
    s = settled(data)
    assert len(s.brief.pressures) == 2
    # the third pressure is now the second: its mark travels with it
    assert [p.evidence_check.verified for p in s.brief.pressures] == [True, False]
    assert len(s.brief.positions) == 4
    assert all(x in {y.id for y in s.brief.sources} for p in s.brief.positions for x in p.source_ids)
    assert {(d.item, d.cause) for d in s.dropped} == {("pressure", "unknown_reference"),
                                                     ("position", "unknown_reference")}


# --- a model's answer, read item by item ------------------------------------------------------------
def test_partial_json_keeps_what_is_complete() -> None:
    value, complete = partial_json.load_partial('{"a": [1, {"b": "x"}, {"c": "unfinish')  # type: ignore[misc]
    items = value["a"]
    assert not complete and isinstance(items, partial_json.Cut) and items.value[:2] == [1, {"b": "x"}]
    assert items.value[2] == partial_json.Cut({"c": partial_json.Cut("unfinish")})  # a cut string: its text so far
    assert partial_json.load_partial('{"a": "x\\u06') == ({"a": partial_json.Cut("x")}, False)  # not half an escape
    assert partial_json.load_partial('{"a": tr') == ({}, False)
    assert partial_json.load_partial('{"a": 12') == ({"a": partial_json.Cut(12)}, False)  # a number at the end may go on
    assert partial_json.load_partial("{oops") is None  # not JSON before the end: nothing is guessed


def test_cut_answer_drops_only_the_item_it_stopped_in() -> None:
    text = json.dumps(example_brief(), ensure_ascii=False)
    stop = text.index('"evidence"', text.index('"sources"'))  # inside the first source
    parsed = grounding.read(text[:stop], cut_off=True)
    assert parsed.brief is not None and not parsed.complete
    assert len(parsed.brief.positions) == len(example_brief()["positions"]) and parsed.brief.sources == []
    assert [(d.path, d.item, d.cause) for d in parsed.dropped] == [("sources[0]", "source", "cut_off")]
    assert parsed.issues[0].kind == "cut_off"


def test_paths_point_into_the_answer_as_given() -> None:
    data = example_brief()
    data["actors"][1]["kind"] = "planet"
    parsed = grounding.read(json.dumps(data, ensure_ascii=False))
    assert parsed.brief is not None and len(parsed.brief.actors) == len(data["actors"]) - 1
    assert parsed.origin["actors"][:3] == [0, 2, 3]
    assert parsed.remap("actors[1].mention") == "actors[2].mention"
    assert [(d.path, d.cause) for d in parsed.dropped] == [("actors[1]", "invalid")]


def test_invalid_quote_is_nulled_and_the_position_stays() -> None:
    data = example_brief()
    data["positions"][1]["quote"] = "x" * 500  # beyond the bound
    parsed = grounding.read(json.dumps(data, ensure_ascii=False))
    assert parsed.brief is not None and parsed.brief.positions[1].quote is None
    assert [(d.path, d.item, d.cause) for d in parsed.dropped] == [("positions[1].quote", "quote", "invalid")]


def test_a_summary_the_answer_stopped_in_keeps_its_whole_sentences() -> None:
    data = example_brief()
    sentences = "Mediators pressed both sides to return to talks. Hamas said it studies the offer. "
    data["summary"]["en"] = sentences + "Mediators pressed both"  # where a looping model starts again
    answer = json.dumps(data, ensure_ascii=False)
    cut = answer[: answer.index("Mediators pressed both\"") + len("Mediators pressed both")]
    parsed = grounding.read(cut, cut_off=True)
    assert parsed.brief is not None and parsed.brief.summary.en == sentences.strip()
    assert parsed.brief.summary.ar == data["summary"]["ar"] and parsed.brief.actors == []
    assert any(i.path == "summary.en" and i.kind == "cut_off" for i in parsed.issues)
    assert grounding.read(cut, cut_off=False).brief is None  # an answer that claims to be whole is not mended
    no_sentence = answer[: answer.index(sentences) + 20]  # not one whole sentence in English yet
    assert grounding.read(no_sentence, cut_off=True).brief is None


def test_bounds_hold_for_answers_not_for_stored_briefs() -> None:
    data = example_brief()
    data["summary"]["en"] = "word " * 400
    assert grounding.read(json.dumps(data)).brief is None  # a model's answer: no valid summary
    assert grounding.parse(json.dumps(data))[0] is not None  # a brief from elsewhere still loads


def test_an_over_long_summary_is_cut_at_a_sentence_end_not_lost() -> None:
    data = example_brief()
    sentence = "Mediators pressed both sides to return to talks before the deadline. "
    data["summary"]["en"] = sentence * 20  # 1,380 characters: over the bound of 1,200
    parsed = grounding.read(json.dumps(data, ensure_ascii=False))
    assert parsed.brief is not None  # the brief is kept
    summary = parsed.brief.summary.en
    assert len(summary) <= 1200 and summary.endswith("deadline.") and summary == (sentence * 17).strip()
    assert any(i.path == "summary.en" and "cut after its last whole sentence" in i.message for i in parsed.issues)
    data["summary"]["en"] = "x" * 1300  # no sentence to keep: the bound holds
    assert grounding.read(json.dumps(data, ensure_ascii=False)).brief is None


def test_a_headline_run_on_past_its_bound_is_cut_not_lost() -> None:
    # as a small model does: its English headline runs on in one sentence, in both rounds
    data = example_brief()
    data["headline"]["en"] = "Gulf states cut air links with Qatar, " + "and the airlines of the region, " * 13
    parsed = grounding.read(json.dumps(data, ensure_ascii=False))
    assert parsed.brief is not None and len(data["headline"]["en"]) > 400
    headline = parsed.brief.headline.en
    kept = headline.removesuffix("…")
    assert len(headline) <= 400 and kept != headline and data["headline"]["en"].startswith(kept)
    assert data["headline"]["en"][len(kept)] == " "  # after a whole word
    assert any(i.path == "headline.en" and "last whole word" in i.message for i in parsed.issues)
    assert parsed.brief.headline.ar == example_brief()["headline"]["ar"]  # the other language as it was
