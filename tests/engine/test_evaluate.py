"""`newsbot eval` against the loopback model: the references score 1, a worse brief scores less,
invented pressure pairs count one by one, and an outage is an error, not a score."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.engine import grounding, prompts
from bot.engine.article import from_text
from bot.engine.evaluate import METRICS, names_match, pairs_in, score, total
from bot.engine.normalize import Matcher
from bot.engine.schema import Brief, BriefEnvelope, CheckReport, Provenance, Usage
from bot.ops.errors import LLMBadOutput, LLMUnavailable
from bot.reading.reader import read_file
from tests.conftest import EXAMPLE_ARTICLE, TESTDATA, example_brief
from tests.fakes.openai_server import FakeLLM, Reply, completion, error

ROOT = Path(__file__).resolve().parents[2] / "eval"
EVAL = ROOT / "ar"
FOLDERS = {"ar": ROOT / "ar", "en": ROOT / "en"}


def references(folder: Path = EVAL) -> dict[str, dict[str, Any]]:
    out = {}
    for name, a, r in pairs_in(folder):
        article = read_file(str(a))
        out[name] = {"article": article.text, "outlet": article.outlet, "language": article.language,
                     "brief": json.loads(r.read_text())}
    return out


@pytest.mark.parametrize(("lang", "at_least"), [("ar", 8), ("en", 6)])
def test_reference_briefs_pass_every_check(lang: str, at_least: int) -> None:
    refs = references(FOLDERS[lang])
    assert len(refs) >= at_least
    spans = 0
    for name, item in refs.items():
        assert item["language"] == lang, name  # the reader agrees with the file name
        brief, issues = grounding.parse(json.dumps(item["brief"]))
        assert brief is not None and not issues, name
        # within the bounds a model's answer is held to, item by item
        read = grounding.read(json.dumps(item["brief"], ensure_ascii=False))
        assert read.brief is not None and read.issues == [] and read.dropped == [], name
        outlets = [item["outlet"]] if item["outlet"] else []
        # who said it is measured over the references by bench_quality.py --attribution, not required of each
        issues = grounding.check(brief, Matcher(item["article"]), outlets)
        assert [i for i in issues if i.kind not in ("speaker", "parties")] == [], name
        settled = grounding.settle(brief, Matcher(item["article"]), outlets)
        assert settled.dropped == [] and settled.grounding.spans_verified == settled.grounding.spans_checked > 0
        assert settled.grounding.names_verified == settled.grounding.names_checked
        spans += settled.grounding.spans_checked
    assert spans >= 5 * at_least


def test_arabic_references_are_unchanged_corpus_articles() -> None:
    copies = [p for p in EVAL.glob("JA-*.ar.txt")]
    assert len(copies) >= 7
    for copy in copies:
        original = TESTDATA / "articles" / "ar" / copy.name.replace(".ar.txt", ".txt")
        assert copy.read_bytes() == original.read_bytes(), copy.name
    for copy in FOLDERS["en"].glob("*.en.txt"):
        original = TESTDATA / "articles" / "en" / copy.name.replace(".en.txt", ".article.txt")
        assert copy.read_bytes() == original.read_bytes(), copy.name


def test_example_copy_is_the_example() -> None:
    example = Path(__file__).resolve().parents[1] / "data" / "examples" / "gaza-mediators.summary.json"
    assert (EVAL / "gaza-mediators.summary.json").read_bytes() == example.read_bytes()


def test_names_match_across_languages_and_articles() -> None:
    assert names_match(("حركة حماس", "Hamas"), ("حماس", "Hamas movement"))
    assert names_match(("الولايات المتحدة", "US"), ("الولايات المتحده", "United States"))
    assert not names_match(("قطر", "Qatar"), ("مصر", "Egypt"))


def model_answering(refs: dict[str, dict[str, Any]], degrade: bool = False) -> Any:
    def answer(payload: dict[str, Any]) -> Reply:
        content = payload["messages"][-1]["content"]
        for item in refs.values():
            if item["article"][-80:] in content:
                brief = json.loads(json.dumps(item["brief"]))
                if degrade:
                    # a real mention under the wrong name: it verifies, and is still not a reference actor
                    brief["actors"].append({"id": "invented", "name": {"ar": "كوكب المريخ", "en": "Mars"},
                                            "kind": "other", "country": None,
                                            "mention": brief["actors"][0]["mention"]})
                    brief["pressures"][0]["targets"] = ["invented"]
                    brief["pressures"][0]["evidence"] = "دليل لم يرد في المقال أبدا"
                    brief["sources"] = brief["sources"][:1]
                    brief["positions"] = [p for p in brief["positions"] if p["source_ids"][0] in
                                          {s["id"] for s in brief["sources"]}] or brief["positions"][:0]
                return completion(json.dumps(brief, ensure_ascii=False))
        return completion("{}")
    return answer


#: every rate 1.0, and no id of the prompt's invented example in any brief
PERFECT: dict[str, float] = {**{m: 1.0 for m in METRICS}, "example_ids": 0}


def perfect(total: dict[str, float]) -> bool:
    return total == PERFECT


def eval_process(llm_server: FakeLLM, tmp_path: Path, folder: Path = EVAL, *extra: str,
                 **settings: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLM_"))}
    env.update({"OPENAI_BASE_URL": llm_server.base_url, "OPENAI_API_KEY": "k", "LLM_RETRY_BASE_S": "0.01",
                **settings})
    return subprocess.run([sys.executable, "-m", "bot", "eval", str(folder), *extra], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)


def run_eval(llm_server: FakeLLM, tmp_path: Path, folder: Path = EVAL) -> dict[str, Any]:
    r = eval_process(llm_server, tmp_path, folder, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.mark.parametrize("lang", ["ar", "en"])
def test_perfect_model_scores_one(llm_server: FakeLLM, tmp_path: Path, lang: str) -> None:
    refs = references(FOLDERS[lang])
    llm_server.default = model_answering(refs)
    out = run_eval(llm_server, tmp_path, FOLDERS[lang])
    assert set(out["total"]) == {*METRICS, "example_ids"}
    assert perfect(out["total"])
    assert list(out["by_language"]) == [lang] and perfect(out["by_language"][lang])
    assert len(out["articles"]) == len(refs) == out["scored"] and out["errors"] == 0
    assert {a["language"] for a in out["articles"]} == {lang}


@pytest.mark.parametrize("flag", [(), ("--no-candidates",)])
def test_the_candidates_can_be_left_out_to_measure_what_they_add(llm_server: FakeLLM, tmp_path: Path,
                                                                  flag: tuple[str, ...]) -> None:
    """`newsbot eval --no-candidates` asks the model without the article's attributed statements."""
    llm_server.default = model_answering(references(FOLDERS["ar"]))
    r = eval_process(llm_server, tmp_path, FOLDERS["ar"], "--json", *flag)
    assert r.returncode == 0, r.stderr
    # each article's first request ends with the article (a repair round ends with what to repair)
    asked = [c for c in (req["messages"][-1]["content"] for req in llm_server.requests)
             if c.rstrip().endswith("</article>")]
    assert len(asked) == len(references(FOLDERS["ar"]))
    assert sum("<article_statements>" in a for a in asked) == (0 if flag else len(asked))
    assert sum("<article_parties>" in a for a in asked) == (0 if flag else len(asked))
    assert json.loads(r.stdout)["total"]["speaker_confirmed"] == 1.0


def test_worse_model_scores_lower(llm_server: FakeLLM, tmp_path: Path) -> None:
    llm_server.default = model_answering(references(), degrade=True)
    total = run_eval(llm_server, tmp_path)["total"]
    assert total["schema_valid_rate"] == 1.0 and total["bilingual_rate"] == 1.0
    assert total["actor_precision"] < 1.0 and total["actor_recall"] == 1.0
    assert total["pressure_pair_f1"] < 1.0 and total["source_recall"] < 1.0
    assert total["grounding_rate"] < 1.0  # read from the envelope's counts, not from reason strings


def test_unusable_answers_count_as_invalid_and_keep_their_failures(llm_server: FakeLLM, tmp_path: Path) -> None:
    bad = example_brief()
    bad["summary"]["en"] = ""  # no valid summary: the one failure that costs the brief
    llm_server.default = lambda payload: completion(json.dumps(bad, ensure_ascii=False))
    out = run_eval(llm_server, tmp_path)
    assert out["total"]["schema_valid_rate"] == 0.0 and out["scored"] == len(out["articles"])
    for article in out["articles"]:
        assert article["error"] == "llm_bad_output" and article["scored"]
        assert {"path": "summary.en", "kind": "schema"}.items() <= article["failures"][0].items()


def test_an_outage_is_an_error_not_a_score(llm_server: FakeLLM, tmp_path: Path) -> None:
    refs = references()
    answer = model_answering(refs)
    down = next(iter(refs.values()))["article"][-80:]

    def flaky(payload: dict[str, Any]) -> Reply:
        # one article meets an endpoint that is down; the others are answered perfectly
        return error(503, "overloaded") if down in payload["messages"][-1]["content"] else answer(payload)

    llm_server.default = flaky
    r = eval_process(llm_server, tmp_path, EVAL, "--json", LLM_MAX_ATTEMPTS="1")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    errors = [a for a in out["articles"] if not a["scored"]]
    assert [a["error"] for a in errors] == ["llm_unavailable"] and out["errors"] == 1
    assert perfect(out["total"])  # left out, not scored as a zero
    assert out["scored"] == len(refs) - 1
    # a slow model takes minutes an article: each one is reported on stderr as it is scored
    progress = [line for line in r.stderr.splitlines() if line.startswith("eval ")]
    assert [line.split()[1] for line in progress] == [f"{i}/{len(refs)}" for i in range(1, len(refs) + 1)]
    assert sum("error=llm_unavailable" in line for line in progress) == 1


def test_nothing_scored_exits_non_zero(llm_server: FakeLLM, tmp_path: Path) -> None:
    llm_server.default = lambda payload: error(503, "overloaded")
    r = eval_process(llm_server, tmp_path, EVAL, LLM_MAX_ATTEMPTS="1")
    assert r.returncode == 5, r.stdout + r.stderr
    assert "nothing could be scored" in r.stderr and "not scored" in r.stdout


# --- scores of one brief ---------------------------------------------------------------------------
ARTICLE = EXAMPLE_ARTICLE.read_text(encoding="utf-8")


def envelope_of(data: dict[str, Any], text: str = ARTICLE) -> BriefEnvelope:
    brief, issues = grounding.parse(json.dumps(data, ensure_ascii=False))
    assert brief is not None, issues
    settled = grounding.settle(brief, Matcher(text))
    article = from_text(text, "test")
    return BriefEnvelope(brief=settled.brief, article=article.info(chars_sent=len(text), truncated=False),
                         provenance=Provenance(model="m", prompt_version="p", response_format="json_schema",
                                               usage=Usage(), llm_calls=1, llm_seconds=0, total_seconds=0,
                                               created_at="now"),
                         checks=CheckReport(passed_first_time=True, repaired=False, dropped=settled.dropped,
                                            grounding=settled.grounding))


def test_two_invented_pairs_score_as_two() -> None:
    ref = Brief.model_validate(example_brief())
    article = from_text(ARTICLE, "test")
    got = example_brief()
    mentions = {"usa": "الولايات المتحدة", "qatar": "وقطر"}
    ref_pairs = {(a, t) for p in ref.pressures for a in p.actors for t in p.targets}
    # two actors the reference does not have (real mentions under other names), one invented pair each
    for i, (ident, name) in enumerate((("mars", "Mars"), ("venus", "Venus"))):
        got["actors"].append({"id": ident, "name": {"ar": f"كوكب {i}", "en": name}, "kind": "other", "country": None,
                              "mention": list(mentions.values())[i]})
        got["pressures"].append({**got["pressures"][0], "actors": [ident], "targets": [got["actors"][0]["id"]]})
    s = score("x", envelope_of(got), ref, article=article)
    n = len(ref_pairs)
    precision = n / (n + 2)
    assert s.pressure_pair_f1 == pytest.approx(2 * precision / (precision + 1))
    assert s.pressure_pair_f1 < 0.9  # merged into one "?" pair, the two would cost as one


def test_quote_precision_counts_verbatim_quotes_of_the_right_actor() -> None:
    ref = Brief.model_validate(example_brief())
    article = from_text(ARTICLE, "test")
    assert score("x", envelope_of(example_brief()), ref, article=article).quote_precision == 1.0
    got = example_brief()
    quoted = [i for i, p in enumerate(got["positions"]) if p["quote"]]
    first = got["positions"][quoted[0]]
    first["actor"] = next(a["id"] for a in got["actors"] if a["id"] != first["actor"])  # right words, wrong mouth
    s = score("x", envelope_of(got), ref, article=article)
    assert s.quote_precision == pytest.approx((len(quoted) - 1) / len(quoted))


def test_a_party_named_at_a_finer_level_is_matched_to_the_closest_reference_actor() -> None:
    ref = Brief.model_validate(example_brief())
    article = from_text(ARTICLE, "test")
    got = example_brief()
    # Dermer named by his role and state, first: he is the reference's Dermer, not its Israel
    dermer = next(a for a in got["actors"] if a["id"] == "dermer")
    dermer["name"] = {"ar": "وزير الشؤون الاستراتيجية الإسرائيلي، رون ديرمر", "en": "Minister (Israel)"}
    dermer["mention"] = "وزير الشؤون الاستراتيجية الإسرائيلي، رون ديرمر"
    got["actors"].remove(dermer)
    got["actors"].insert(0, dermer)
    s = score("x", envelope_of(got), ref, article=article)
    assert s.actor_recall == s.actor_precision == s.quote_precision == 1.0


def test_outages_are_left_out_of_the_totals() -> None:
    ref = Brief.model_validate(example_brief())
    article = from_text(ARTICLE, "test")
    good = score("good", envelope_of(example_brief()), ref, article=article)
    down = score("down", None, ref, error=LLMUnavailable("HTTP 503"), article=article)
    bad = score("bad", None, ref, error=LLMBadOutput("no summary", failures=[]), article=article)
    assert not down.scored and bad.scored and down.language == "ar"
    assert total([good, down]) == total([good])
    assert total([good, bad])["schema_valid_rate"] == 0.5
    assert total([down])["schema_valid_rate"] is None


@pytest.mark.parametrize("folder", ["does-not-exist", "."])
def test_bad_folder_is_one_line(tmp_path: Path, folder: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["OPENAI_API_KEY"] = "k"
    r = subprocess.run([sys.executable, "-m", "bot", "eval", folder], env=env, cwd=tmp_path, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 3 and "Traceback" not in r.stderr


def test_nothing_to_count_is_not_a_perfect_score() -> None:
    ref = Brief.model_validate(example_brief())
    article = from_text(ARTICLE, "test")
    empty = {**example_brief(), "actors": [], "pressures": [], "positions": [], "sources": []}
    s = score("x", envelope_of(empty), ref, article=article)
    # a brief that names nobody and quotes nothing has no precision to speak of, and no grounding
    assert s.actor_precision is None and s.quote_precision is None and s.grounding_rate is None
    assert s.actor_recall == 0.0 and s.pressure_pair_f1 == 0.0 and s.source_recall == 0.0
    full = score("y", envelope_of(example_brief()), ref, article=article)
    both = total([s, full])
    assert both["actor_precision"] == full.actor_precision  # the empty brief is left out of that mean
    assert both["actor_recall"] == pytest.approx(full.actor_recall / 2)  # but counts where it missed


def test_ids_of_the_prompt_s_example_in_a_brief_are_counted() -> None:
    # the prompt's example is invented: its ids never belong in a brief of a real article
    examples = prompts.example_ids()
    assert examples and all(ident.islower() for ident in examples)
    ref = Brief.model_validate(example_brief())
    article = from_text(ARTICLE, "test")
    clean = score("clean", envelope_of(example_brief()), ref, article=article)
    assert clean.example_ids == []
    leaked = example_brief()
    leak = sorted(examples)[0]
    leaked["actors"][0]["id"] = leak  # a real party under the example's id
    for p in leaked["pressures"]:
        p["actors"] = [leak if a == example_brief()["actors"][0]["id"] else a for a in p["actors"]]
        p["targets"] = [leak if a == example_brief()["actors"][0]["id"] else a for a in p["targets"]]
    for q in leaked["positions"]:
        q["actor"] = leak if q["actor"] == example_brief()["actors"][0]["id"] else q["actor"]
    s = score("leaked", envelope_of(leaked), ref, article=article)
    assert s.example_ids == [leak]
    assert total([clean, s])["example_ids"] == 1
