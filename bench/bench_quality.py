"""Quality of the configured model: `newsbot eval --json` over the reference folders, one table per language.

Calls whatever endpoint is configured (OPENAI_BASE_URL, LLM_MODEL, LLM_RESPONSE_FORMAT, LLM_CONTEXT_TOKENS,
LLM_TIMEOUT_S, ... from the environment, else from --env-file, else from .env), so it is slow and it is a
bench, never a test. Each folder is scored by `newsbot eval DIR --json` in a child process with an empty
DATA_DIR (no cached brief can answer); the metrics are whatever that command reports, so new ones show up
here without a change. bench/QUALITY.md says how to reproduce the small local model's figures.
Run:  .venv/bin/python bench/bench_quality.py [eval/ar eval/en] [--limit N] [--jobs N] [--env-file PATH]
      .venv/bin/python bench/bench_quality.py --attribution [eval/ar eval/en]   (no model: the speaker check's
      mutation test on the references, per language)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.engine import prompts  # noqa: E402

_ARTICLE = re.compile(r"([a-z]{2})\.(txt|html?)")
_SHORT = {"schema_valid_rate": "valid", "grounding_rate": "ground", "actor_recall": "act_R",
          "actor_precision": "act_P", "pressure_pair_f1": "press_F1", "source_recall": "src_R",
          "bilingual_rate": "biling", "quote_precision": "quote_P", "speaker_precision": "spkr_P",
          "speaker_confirmed": "spkr_ok", "example_ids": "ex_ids"}
#: `newsbot eval`'s arguments with the candidates offered to the model (the bot's way) and without
CANDIDATES: dict[str, tuple[str, ...]] = {"on": (), "off": ("--no-candidates",)}
#: what a small model should reach with the candidates, per language
GOALS = {"speaker_confirmed": 0.6, "quote_precision": 0.6, "actor_recall": 0.5}


def references(folder: Path) -> list[tuple[str, list[Path]]]:
    """(name, files) for every NAME.summary.json with a NAME.<lang>.txt (or .html) beside it."""
    out = []
    for ref in sorted(folder.glob("*.summary.json")):
        name = ref.name.removesuffix(".summary.json")
        articles = [p for p in folder.glob(f"{name}.*") if _ARTICLE.fullmatch(p.name[len(name) + 1:])]
        if articles:
            out.append((name, [ref, *sorted(articles)]))
    return out


def language(folder: Path) -> str:
    """The language of a folder's articles (NAME.<lang>.txt), or the folder's name when they are mixed."""
    langs = {p.name[len(name) + 1:].split(".")[0] for name, files in references(folder) for p in files[1:]}
    return langs.pop() if len(langs) == 1 else folder.name


def default_folders() -> list[Path]:
    return [p for p in sorted((ROOT / "eval").iterdir()) if p.is_dir() and references(p)]


def read_env_file(path: str | None) -> dict[str, str]:
    """KEY=VALUE lines of an env file; the environment overrides them, as it does for the bot."""
    if path is None:
        return {}
    from dotenv import dotenv_values

    if not Path(path).is_file():
        sys.exit(f"bench_quality: no such env file: {path}")
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def served_models(base_url: str | None) -> str:
    """What the server says it serves (GET /models), or '' when it does not say."""
    if not base_url:
        return ""
    try:
        with urllib.request.urlopen(base_url.rstrip("/") + "/models", timeout=5) as resp:
            data = json.load(resp).get("data") or []
        return ", ".join(str(m.get("id")) for m in data if isinstance(m, dict))
    except Exception:
        return ""


def commit() -> str:
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--oneline"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head + (" (work tree has uncommitted changes)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def run_eval(folder: Path, limit: int | None, env: dict[str, str], jobs: int = 1,
             extra: tuple[str, ...] = ()) -> tuple[dict | None, float, int, str]:
    """`newsbot eval FOLDER --json` (on the first `limit` references only, when given): (report, seconds,
    exit code, stderr). With `jobs` > 1 the references are split round-robin over that many `newsbot eval`
    processes running at once and their reports merged, as one run would report them."""
    refs = references(folder)[:limit] if limit is not None else references(folder)
    jobs = max(1, min(jobs, len(refs)))
    if jobs == 1:
        return _run_one(folder, refs if limit is not None else None, env, extra=extra)
    with ThreadPoolExecutor(jobs) as pool:
        start = time.monotonic()
        parts = list(pool.map(lambda i: _run_one(folder, refs[i::jobs], env, f"{i + 1}/{jobs}", extra), range(jobs)))
        wall = time.monotonic() - start
    reports = [r for r, *_ in parts]
    code = max(c for _, _, c, _ in parts)
    stderr = "\n".join(e for *_, e in parts if e)
    if any(r is None for r in reports):
        return None, wall, code or 1, stderr
    return merge(reports), wall, code, stderr  # type: ignore[arg-type]


def merge(reports: list[dict]) -> dict:
    """Reports of several `newsbot eval --json` runs as one: articles by name, totals recomputed the way
    `newsbot eval` computes them."""
    from bot.engine.evaluate import Score, by_language, total

    articles = sorted((a for r in reports for a in r.get("articles") or []), key=lambda a: str(a.get("name")))
    scores = [Score(**a) for a in articles]
    return {"model": reports[0].get("model"), "prompt_version": reports[0].get("prompt_version"),
            "articles": articles, "total": total(scores), "by_language": by_language(scores),
            "scored": sum(s.scored for s in scores), "errors": sum(not s.scored for s in scores)}


def _run_one(folder: Path, refs: list[tuple[str, list[Path]]] | None, env: dict[str, str],
             label: str = "", extra: tuple[str, ...] = ()) -> tuple[dict | None, float, int, str]:
    """One `newsbot eval --json` process over `folder`, or over a copy holding only `refs`."""
    with tempfile.TemporaryDirectory(prefix="bench-quality-") as tmp:
        target = folder
        if refs is not None:
            target = Path(tmp) / folder.name
            target.mkdir()
            for _, files in refs:
                for f in files:
                    shutil.copy(f, target / f.name)
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        # the child runs in the temporary folder, so a .env of the repository is not read behind
        # --env-file's back (the settings come in through `env`)
        child_env = {**env, "DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)}
        cmd = [sys.executable, "-m", "bot", "eval", str(target.resolve()), "--json", *extra]
        start = time.monotonic()
        out_path = Path(tmp) / "report.json"
        err: list[str] = []
        with out_path.open("w", encoding="utf-8") as out:
            proc = subprocess.Popen(cmd, cwd=tmp, env=child_env, stdout=out, stderr=subprocess.PIPE, text=True)
            assert proc.stderr is not None
            for line in proc.stderr:  # each article's line as it is scored: minutes apart with a slow model
                err.append(line)
                tag = " ".join(x for x in (label, *extra) if x)
                print(f"  {folder.name}{' ' + tag if tag else ''}: {line.rstrip()}", file=sys.stderr, flush=True)
            code = proc.wait()
        wall = time.monotonic() - start
        stdout = out_path.read_text(encoding="utf-8")
    try:
        report = json.loads(stdout)
    except json.JSONDecodeError:
        report = None
    return report, wall, code, "".join(err).strip()


def metrics_of(report: dict) -> list[str]:
    """The metrics the report carries, in its own order (a metric is None when nothing was scored)."""
    total = report.get("total") or {}
    return [k for k, v in total.items() if v is None or (isinstance(v, int | float) and not isinstance(v, bool))]


def _cell(value: object) -> str:
    if isinstance(value, list):  # per article, `example_ids` lists the ids found: shown as their count
        value = len(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:>10d}"
    return f"{value:>10.2f}" if isinstance(value, float) else f"{'-':>10}"


def _note(a: dict) -> str:
    """What went wrong with one article: its error (and whether it was scored), drops and remaining failures."""
    parts = []
    if a.get("error"):
        parts.append(a["error"] + ("" if a.get("scored", True) else ", not scored")
                     + (f": {str(a['detail'])[:100]}" if a.get("detail") else ""))
    if a.get("dropped"):
        parts.append(f"{len(a['dropped'])} dropped")
    if a.get("failures"):
        kinds = sorted({str(f.get("kind", "?")) for f in a["failures"]})
        parts.append(f"{len(a['failures'])} failing ({', '.join(kinds)})")
    if a.get("example_ids"):
        parts.append(f"example ids: {', '.join(map(str, a['example_ids']))}")
    return f"  ({'; '.join(parts)})" if parts else ""


def tables(title: str, report: dict, wall: float, version: str) -> None:
    """One table per language of the report's articles (their `language`), with that language's totals."""
    articles = report.get("articles") or []
    names = metrics_of(report)
    by_language = report.get("by_language") or {}
    groups: dict[str, list[dict]] = {}
    for a in articles:
        groups.setdefault(a.get("language") or "?", []).append(a)
    if not by_language or len(groups) == 1:  # one language (or a report without them): the folder's totals
        groups = {next(iter(groups), "?"): articles}
        by_language = {lang: report.get("total") or {} for lang in groups}
    for lang, group in sorted(groups.items()):
        scored = sum(1 for a in group if a.get("scored", not a.get("error")))
        print(f"\n## {lang}: {title}")
        print(f"model {report.get('model', '?')}; prompt version {report.get('prompt_version', version)}; "
              f"{len(group)} articles, {scored} scored, {len(group) - scored} errors; wall time {wall:.0f} s"
              + (f" ({wall / len(articles):.0f} s per article)" if articles else ""))
        print(f"{'article':<40}" + "".join(f"{_SHORT.get(m, m[:9]):>10}" for m in names))
        for a in group:
            unscored = not a.get("scored", True)
            print(f"{str(a.get('name', '?'))[:39]:<40}"
                  + "".join(_cell(None if unscored else a.get(m)) for m in names) + _note(a))
        totals = by_language.get(lang) or {}
        print(f"{'TOTAL (' + str(scored) + ' scored)':<40}" + "".join(_cell(totals.get(m)) for m in names))
    for k, v in report.items():  # anything else the report adds, as it says it
        if k not in ("model", "prompt_version", "articles", "total", "by_language", "scored", "errors"):
            print(f"{k}: {json.dumps(v, ensure_ascii=False)}")


def goals(lang: str, reports: dict[str, dict]) -> None:
    """The goal metrics with and without the candidates, side by side."""
    print(f"\n## {lang}: with and without the candidates")
    print(f"{'metric':<20}" + "".join(f"{'candidates ' + c:>16}" for c in reports) + "    goal")
    for m, goal in GOALS.items():
        values = [(r.get("total") or {}).get(m) for r in reports.values()]
        print(f"{_SHORT.get(m, m):<20}" + "".join(f"{_cell(v):>16}" for v in values)
              + f"    >= {goal}: {'met' if isinstance(values[0], float) and values[0] >= goal else 'NOT met'}")


#: what the speaker check must reach on the references: swaps caught, unmutated quotes flagged
SWAPS_CAUGHT_TARGET = 0.95
FALSE_ALARMS_TARGET = 0.05


def attribution(folders: list[Path]) -> int:
    """The speaker check's mutation test, without a model: on each reference brief as it is (its
    quotes should all be confirmed: a flagged one is a false alarm) and with the speakers of every
    two of its quotes of different actors swapped, actor and cited sources (each swap should be
    caught). One line per language, the targets beside the figures."""
    from bot.engine.evaluate import Mutations, load, mutations

    print(f"# command: {sys.executable} {' '.join(sys.argv)}")
    print(f"# commit: {commit()}")
    print(f"{'language':<10}{'refs':>6}{'quotes':>8}{'flagged':>9}{'false_alarm':>13}{'swaps':>7}{'caught':>8}"
          f"{'caught_rate':>13}  targets: caught >= {SWAPS_CAUGHT_TARGET}, false alarms <= {FALSE_ALARMS_TARGET}")
    failed = 0
    for folder in folders:
        items = load(str(folder))
        total = Mutations()
        for _, article, ref in items:
            total += mutations(article, ref)
        alarm = total.flagged / total.quotes if total.quotes else 0.0
        caught = total.caught / total.swaps if total.swaps else 1.0
        met = caught >= SWAPS_CAUGHT_TARGET and alarm <= FALSE_ALARMS_TARGET
        failed += not met
        print(f"{language(folder):<10}{len(items):>6}{total.quotes:>8}{total.flagged:>9}{alarm:>13.3f}{total.swaps:>7}"
              f"{total.caught:>8}{caught:>13.3f}  {'met' if met else 'NOT met'}")
    return 1 if failed else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folders", nargs="*", type=Path,
                   help="reference folders (default: every folder under eval/ that holds references)")
    p.add_argument("--limit", type=int, default=None, metavar="N",
                   help="only the first N references of each folder (by name), for a slow model")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="score N articles at once, each in its own `newsbot eval` process (a llama-server with "
                        "N slots batches them: on CPU, generation is nearly N times faster)")
    p.add_argument("--env-file", default=None, metavar="PATH",
                   help="settings file (default: .env of the repository when it exists); the environment overrides it")
    p.add_argument("--candidates", choices=("on", "off", "both"), default="on",
                   help="offer the model the candidates found in the article (on, the bot's way), not (off), or "
                        "run both at once and print them side by side with the goals")
    p.add_argument("--attribution", action="store_true",
                   help="no model: the speaker check's mutation test on the references, per language")
    args = p.parse_args()
    if args.attribution:
        return attribution(args.folders or default_folders())
    env_file = args.env_file
    if env_file is None and (ROOT / ".env").is_file():
        env_file = str(ROOT / ".env")
    env = {**read_env_file(env_file), **os.environ}
    folders = args.folders or default_folders()
    if not folders:
        sys.exit("bench_quality: no reference folder (NAME.summary.json beside NAME.<lang>.txt) under eval/")
    version = prompts.version()

    print(f"# command: {sys.executable} {' '.join(sys.argv)}")
    print(f"# commit: {commit()}")
    print(f"# endpoint {env.get('OPENAI_BASE_URL', '(OpenAI)')}; LLM_MODEL {env.get('LLM_MODEL', '(default)')}; "
          f"served: {served_models(env.get('OPENAI_BASE_URL')) or '?'}")
    settings = ["LLM_RESPONSE_FORMAT", "LLM_CONTEXT_TOKENS", "LLM_TIMEOUT_S", "LLM_MAX_CONCURRENCY",
                "LLM_MAX_COMPLETION_TOKENS", "LLM_TEMPERATURE", "LLM_FREQUENCY_PENALTY", "LLM_PRESENCE_PENALTY",
                "LLM_EXTRA_BODY", "LLM_SPANS_IN_SCHEMA", "ARTICLE_MAX_CHARS"]
    print("# " + "; ".join([*(f"{k}={env[k]}" for k in settings if k in env), f"prompt version {version}"]))
    failed = 0
    for folder in folders:
        if not folder.is_dir() or not references(folder):
            print(f"\n## {folder}: no references here")
            failed += 1
            continue
        n = len(references(folder))
        shown = folder.resolve().relative_to(ROOT) if folder.resolve().is_relative_to(ROOT) else folder
        title = (f"{shown}" + (f" (first {args.limit} of {n})" if args.limit else f" ({n})")
                 + (f", {args.jobs} at once" if args.jobs > 1 else ""))
        chosen = list(CANDIDATES) if args.candidates == "both" else [args.candidates]
        with ThreadPoolExecutor(len(chosen)) as pool:
            futures = {c: pool.submit(run_eval, folder, args.limit, env, args.jobs, CANDIDATES[c]) for c in chosen}
            done = {c: f.result() for c, f in futures.items()}
        for c, (report, wall, code, stderr) in done.items():
            label = f"{title}, candidates {c}"
            if report is None:
                print(f"\n## {language(folder)}: {label}\nnewsbot eval failed (exit {code}) after {wall:.0f} s: "
                      f"{stderr[-2000:] or '(no output)'}")
                failed += 1
                continue
            tables(label, report, wall, version)
            if code != 0:
                print(f"newsbot eval exit {code}: {stderr[-2000:]}")
                failed += 1
        if len(chosen) > 1:
            goals(language(folder), {c: r for c, (r, *_) in done.items() if r is not None})
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
