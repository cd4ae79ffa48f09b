"""How well the ledger resolves actors and finds what changed, on the labelled stream in `eval/ledger/`.

`briefs.json` holds hand-written schema-v2 briefs as one chat received them over weeks (outlet, link,
when shared, and the part each belongs to: `tune` or `test`); `labels.json` gives every brief's
actors their true identity (`identities`: brief → actor id → identity) and lists the changes a
careful reader finds (`changes`: new pairs, escalations, de-escalations, position changes, by brief).

The stream runs through the ledger as it would in a chat, oldest first. Actor resolution is scored
pairwise over the actor mentions of one part (two mentions put together that are one actor, or kept
apart that are two); change detection by matching (brief, kind, actor, target) with the labels. The
name-similarity threshold is chosen on the `tune` part and the scores reported on the `test` part.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from itertools import combinations
from pathlib import Path

from bot.digests.evaluate import envelope
from bot.engine.schema import BriefEnvelope
from bot.ledger.changes import detect
from bot.ledger.identity import THRESHOLD, Resolver
from bot.ledger.record import events_of
from bot.ledger.values import Event

TARGET = 0.9  # the precision and recall a release should keep
GRID = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
CHAT = 1


@dataclass
class Entry:
    key: str
    shared_at: float
    part: str
    env: BriefEnvelope
    url: str | None
    outlet: str | None


@dataclass
class Labels:
    identities: dict[str, dict[str, str]]  # brief → actor id → true identity
    changes: set[tuple[str, str, str, str | None]]  # brief, kind, actor, target


def load(folder: Path | str) -> tuple[list[Entry], Labels]:
    folder = Path(folder)
    entries = []
    for e in json.loads((folder / "briefs.json").read_text(encoding="utf-8")):
        entries.append(Entry(e["id"], datetime.fromisoformat(e["shared"]).timestamp(), e.get("part", "test"),
                             envelope(e["brief"], url=e.get("url"), outlet=e.get("outlet"), content_hash=e["id"]),
                             e.get("url"), e.get("outlet")))
    raw = json.loads((folder / "labels.json").read_text(encoding="utf-8"))
    labels = Labels(raw["identities"], {(c["brief"], c["kind"], c["actor"], c.get("target")) for c in raw["changes"]})
    missing = [e.key for e in entries if e.key not in labels.identities or
               {a.id for a in e.env.brief.actors} != set(labels.identities[e.key])]
    if missing:
        raise ValueError(f"labels.json lacks the identities of some actors of: {missing}")
    return sorted(entries, key=lambda e: e.shared_at), labels


@dataclass
class PR:
    precision: float
    recall: float
    tp: int
    fp: int
    fn: int


def _pr(tp: int, fp: int, fn: int) -> PR:
    return PR(round(tp / (tp + fp) if tp + fp else 1.0, 3), round(tp / (tp + fn) if tp + fn else 1.0, 3), tp, fp, fn)


@dataclass
class Run:
    resolution: dict[str, PR]  # part → pairwise scores
    changes: dict[str, PR]  # part → change detection scores
    mistakes: list[str]


def run(entries: list[Entry], labels: Labels, threshold: float) -> Run:
    """The stream through the ledger at one threshold, scored per part."""
    resolver = Resolver([], threshold=threshold)
    mention: dict[tuple[str, str], int] = {}  # (brief, actor id) → identity given
    truth: dict[tuple[str, int], str] = {}  # (brief, identity) → its true identity
    events: list[Event] = []
    index = {e.key: n for n, e in enumerate(entries)}
    for n, e in enumerate(entries):
        for a in e.env.brief.actors:
            ident = resolver.resolve(a, CHAT)
            mention[(e.key, a.id)] = ident.id
            truth[(e.key, ident.id)] = labels.identities[e.key][a.id]
        events += events_of(e.env, resolver, chat_id=CHAT, brief_id=n, shared_at=e.shared_at, link=e.url,
                            outlet=e.outlet)
    part = {e.key: e.part for e in entries}
    mistakes: list[str] = []
    resolution = {}
    for p in sorted(set(part.values())):
        ms = [(k, mention[k], labels.identities[k[0]][k[1]]) for k in mention if part[k[0]] == p]
        tp = fp = fn = 0
        for (ka, pa, ga), (kb, pb, gb) in combinations(ms, 2):
            tp += pa == pb and ga == gb
            fp += pa == pb and ga != gb
            fn += pa != pb and ga == gb
            if (pa == pb) != (ga == gb):
                mistakes.append(f"{'merged' if pa == pb else 'apart'}: {ka[0]}/{ka[1]} ({ga}) and "
                                f"{kb[0]}/{kb[1]} ({gb})")
        resolution[p] = _pr(tp, fp, fn)
    found = set()
    for c in detect(events):
        key = entries[c.after.brief_id].key
        actor = truth.get((key, c.actor), "?")
        target = truth.get((key, c.target), "?") if c.target is not None else None
        found.add((key, c.kind, actor, target))
    changes = {}
    for p in sorted(set(part.values())):
        said = {c for c in found if part[c[0]] == p}
        true = {c for c in labels.changes if part[c[0]] == p}
        changes[p] = _pr(len(said & true), len(said - true), len(true - said))
        mistakes += [f"change found, not labelled: {c}" for c in sorted(said - true, key=lambda c: index[c[0]])]
        mistakes += [f"change labelled, not found: {c}" for c in sorted(true - said, key=lambda c: index[c[0]])]
    return Run(resolution, changes, mistakes)


def _score(r: Run, part: str) -> float:
    return sum(x.precision + x.recall for x in (r.resolution[part], r.changes[part]))


def choose(entries: list[Entry], labels: Labels) -> tuple[float, dict[float, Run]]:
    """The threshold that scores best on the tuning part (the higher one on a tie: fewer merges)."""
    runs = {t: run(entries, labels, t) for t in GRID}
    best = max(GRID, key=lambda t: (round(_score(runs[t], "tune"), 6), t))
    return best, runs


def run_ledger_eval(folder: Path | str, *, as_json: bool = False) -> int:
    entries, labels = load(folder)
    best, runs = choose(entries, labels)
    shipped = runs.get(THRESHOLD) or run(entries, labels, THRESHOLD)
    days = (entries[-1].shared_at - entries[0].shared_at) / 86_400
    if as_json:
        print(json.dumps({"ledger": {"briefs": len(entries), "days": round(days, 1), "chosen_threshold": best,
                                     "shipped_threshold": THRESHOLD,
                                     "resolution": {p: asdict(v) for p, v in shipped.resolution.items()},
                                     "changes": {p: asdict(v) for p, v in shipped.changes.items()},
                                     "mistakes": shipped.mistakes}}, ensure_ascii=False, indent=2))
        return 0
    parts = {p: sum(e.part == p for e in entries) for p in ("tune", "test")}
    print(f"pressure ledger on {len(entries)} briefs over {days:.0f} days ({folder}): "
          f"{parts['tune']} to tune, {parts['test']} to report")
    print(f"  threshold chosen on the tuning part: {best}; shipped (bot/ledger/identity.py): {THRESHOLD}")
    for name, scores in (("actor resolution (pairwise)", shipped.resolution), ("change detection", shipped.changes)):
        for p in ("tune", "test"):
            s = scores[p]
            print(f"  {name:<28} {p:<5} precision {s.precision:.3f}  recall {s.recall:.3f}  "
                  f"({s.tp} right, {s.fp} wrong, {s.fn} missed)  target ≥ {TARGET}")
    for t in GRID:
        r = runs[t]
        print(f"  at {t:.1f}: tune resolution {r.resolution['tune'].precision:.3f}/{r.resolution['tune'].recall:.3f}"
              f" changes {r.changes['tune'].precision:.3f}/{r.changes['tune'].recall:.3f} · "
              f"test resolution {r.resolution['test'].precision:.3f}/{r.resolution['test'].recall:.3f}"
              f" changes {r.changes['test'].precision:.3f}/{r.changes['test'].recall:.3f}")
    for m in shipped.mistakes:
        print(f"  ✗ {m}")
    return 0

