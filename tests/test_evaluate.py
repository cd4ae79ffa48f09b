"""`newsbot eval` against the loopback model: the references score 1, a worse brief scores less."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot import grounding
from bot.evaluate import METRICS, names_match, pairs_in
from bot.normalize import Matcher
from bot.reader import read_file
from tests.fakes.openai_server import FakeLLM, Reply, completion

EVAL = Path(__file__).resolve().parent.parent / "eval" / "ar"


def references() -> dict[str, dict[str, Any]]:
    out = {}
    for name, a, r in pairs_in(EVAL):
        article = read_file(str(a))
        out[name] = {"article": article.text, "outlet": article.outlet, "brief": json.loads(r.read_text())}
    return out


def test_reference_briefs_pass_every_check() -> None:
    refs = references()
    assert len(refs) >= 4 and sum(n.startswith("JA-") for n in refs) >= 3
    for name, item in refs.items():
        brief, issues = grounding.parse(json.dumps(item["brief"]))
        assert brief is not None and not issues, name
        outlets = [item["outlet"]] if item["outlet"] else []
        assert grounding.check(brief, Matcher(item["article"]), outlets) == [], name
        settled = grounding.settle(brief, Matcher(item["article"]), outlets)
        assert settled.dropped == [] and settled.grounding.spans_verified == settled.grounding.spans_checked > 0


def test_example_copy_is_the_example() -> None:
    example = Path(__file__).resolve().parent / "data" / "examples" / "gaza-mediators.summary.json"
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


def run_eval(llm_server: FakeLLM, tmp_path: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLM_"))}
    env.update({"OPENAI_BASE_URL": llm_server.base_url, "OPENAI_API_KEY": "k", "LLM_RETRY_BASE_S": "0.01"})
    r = subprocess.run([sys.executable, "-m", "bot", "eval", str(EVAL), "--json"], env=env, cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_perfect_model_scores_one(llm_server: FakeLLM, tmp_path: Path) -> None:
    llm_server.default = model_answering(references())
    out = run_eval(llm_server, tmp_path)
    assert set(out["total"]) == set(METRICS)
    assert out["total"] == {m: 1.0 for m in METRICS}
    assert len(out["articles"]) == len(references())


def test_worse_model_scores_lower(llm_server: FakeLLM, tmp_path: Path) -> None:
    llm_server.default = model_answering(references(), degrade=True)
    total = run_eval(llm_server, tmp_path)["total"]
    assert total["schema_valid_rate"] == 1.0 and total["bilingual_rate"] == 1.0
    assert total["actor_precision"] < 1.0 and total["actor_recall"] == 1.0
    assert total["pressure_pair_f1"] < 1.0 and total["source_recall"] < 1.0
    assert total["grounding_rate"] < 1.0  # read from the envelope's counts, not from reason strings


def test_unusable_answers_count_as_invalid(llm_server: FakeLLM, tmp_path: Path) -> None:
    llm_server.default = lambda payload: completion("not json")
    total = run_eval(llm_server, tmp_path)["total"]
    assert total["schema_valid_rate"] == 0.0


@pytest.mark.parametrize("folder", ["does-not-exist", "."])
def test_bad_folder_is_one_line(tmp_path: Path, folder: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["OPENAI_API_KEY"] = "k"
    r = subprocess.run([sys.executable, "-m", "bot", "eval", folder], env=env, cwd=tmp_path, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 3 and "Traceback" not in r.stderr
