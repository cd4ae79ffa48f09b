"""The labelled stream in eval/ledger: the shipped threshold is the one the tuning part chooses, and
actor resolution and change detection meet their targets on the part it was not chosen on."""

from __future__ import annotations

from pathlib import Path

from bot.ledger.evaluate import TARGET, choose, load, run
from bot.ledger.identity import THRESHOLD

FOLDER = Path(__file__).resolve().parents[2] / "eval" / "ledger"


def test_the_stream_is_long_and_bilingual_enough() -> None:
    entries, labels = load(FOLDER)
    assert len(entries) >= 40 and (entries[-1].shared_at - entries[0].shared_at) >= 21 * 86_400
    assert {e.env.brief.language for e in entries} == {"ar", "en"} and len({e.outlet for e in entries}) >= 5
    assert {k for _, k, _, _ in labels.changes} == {"new_pair", "escalation", "deescalation", "position"}


def test_threshold_chosen_on_the_tuning_part_meets_the_targets_on_the_rest() -> None:
    entries, labels = load(FOLDER)
    best, _ = choose(entries, labels)
    assert best == THRESHOLD
    scores = run(entries, labels, THRESHOLD)
    for part in (scores.resolution["test"], scores.changes["test"]):
        assert part.precision >= TARGET and part.recall >= TARGET, scores.mistakes


def test_a_stricter_threshold_splits_one_actor_named_two_ways() -> None:
    entries, labels = load(FOLDER)
    strict = run(entries, labels, 1.0)
    assert strict.resolution["test"].recall < TARGET  # "Sudanese army" and "Sudanese Armed Forces" apart
    assert any("sudanese_army" in m for m in strict.mistakes)
