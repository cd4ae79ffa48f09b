"""Scaling out: the single-process SQLite bot beside a receiver and 1, 2, 4 workers on PostgreSQL.

Every bot is a real process (`python -m bot run [--role receiver|worker]`, configured through its
environment only, with the bot's own defaults: STATUS_GRACE_S, LLM_MAX_CONCURRENCY, WORKER_*), against
the loopback Bot API and LLM stand-ins of `common.py`. PostgreSQL is a real server started here
(`tests.postgres.PostgresServer`: initdb into a temporary folder, a fresh database per deployment,
all dropped at the end). For each deployment one run measures:

  - idle latency: one request at a time, instant LLM, update pushed → final brief visible (median):
    what the path itself costs (receiver → store → NOTIFY → a worker's claim, against one process);
  - a burst: N chats send one different article each at once, the LLM answers after L seconds:
    briefs/s (first update → last final brief), update → final brief p50 / p95;
  - the most Bot API calls to chats that reached the server in any 1-second window, and in any
    5-second window (per second), from all the deployment's processes together: the shared limiter
    (a slot booked in PostgreSQL per call) should keep the whole deployment near Telegram's ~30/s;
  - Bot API calls per brief, the LLM's peak concurrency, CPU (bot processes, PostgreSQL, the machine);
  - checks: one final brief per chat (none lost, none doubled), one LLM call per brief, no refused
    call, every process still alive, how the briefs were shared among the workers.

"Final brief" is the message carrying the buttons (reply_markup) reaching the Bot API stand-in. The
machine has 2 cores shared with whatever else runs, and up to 4 workers + a receiver + PostgreSQL +
the stand-ins compete for them: the figures are what they are on such a machine.

Run:  .venv/bin/python bench/bench_scale.py                   (several minutes)
      .venv/bin/python bench/bench_scale.py --quick           (40 chats, 1 and 2 workers)
      .venv/bin/python bench/bench_scale.py --chats 100 --workers 1,4 --llm-delay 1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import ROOT, call_chat, counts, is_final, median, message, pct, servers, unique_article, wait_replies

from bot.chat.ratelimit import OVERALL_PER_S
from bot.ops.config import Settings
from tests.fakes.botapi_server import Call, FakeBotAPI
from tests.fakes.openai_server import FakeLLM
from tests.postgres import PostgresServer

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
READY_WITHIN_S = 90.0  # launch → "is running" in every process's log (5 processes starting on 2 cores)
SETTLE_S = 2.0  # after the last final brief: time for a doubled reply to show
STOP_WITHIN_S = 20.0  # SIGTERM → exit, then SIGKILL
# the environment a bot process must not inherit: the bench sets what it needs, the rest stays default
OWN_SETTINGS = tuple(name.upper() for name in Settings.model_fields)


# --- processes ----------------------------------------------------------------------------------
@dataclass
class BotProcess:
    name: str  # "all", "receiver", "worker 1", ...
    proc: subprocess.Popen[bytes]
    log: Path

    def lines(self) -> list[str]:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            return []

    def records(self) -> list[dict[str, Any]]:
        """The process's JSON log lines (LOG_FORMAT=json); other lines (a traceback) as {"raw": ...}."""
        out = []
        for line in self.lines():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"raw": line})
        return out

    def ready(self) -> bool:
        return any("is running" in str(r.get("message", "")) for r in self.records())

    def tail(self, n: int = 15) -> str:
        return "\n".join("    " + line for line in self.lines()[-n:])


def bot_env(api: FakeBotAPI, llm: FakeLLM, folder: Path, database_url: str | None) -> dict[str, str]:
    """A bot's environment: the stand-ins' addresses, a data folder, the database; nothing else of ours."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(OWN_SETTINGS)}
    env.update({"TELEGRAM_BOT_TOKEN": api.token, "TELEGRAM_API_BASE_URL": api.base_url,
                "OPENAI_BASE_URL": llm.base_url, "OPENAI_API_KEY": "sk-bench", "LLM_MODEL": "fake-model",
                "DATA_DIR": str(folder), "LOG_LEVEL": "INFO", "LOG_FORMAT": "json"})
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def launch(name: str, env: dict[str, str], folder: Path, *args: str) -> BotProcess:
    log = folder / f"{name.replace(' ', '-')}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "bot", "run", *args], env=env, cwd=folder,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    return BotProcess(name, proc, log)


def stop_all(procs: list[BotProcess]) -> None:
    """SIGTERM every process, wait for them together, SIGKILL what is left."""
    for p in procs:
        if p.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                p.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_WITHIN_S
    for p in procs:
        try:
            p.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"  ! {p.name} (pid {p.proc.pid}) did not stop within {STOP_WITHIN_S:g} s of SIGTERM: killed")
            p.proc.kill()
            p.proc.wait()


async def wait_ready(procs: list[BotProcess]) -> float:
    started = time.monotonic()
    while not all(p.ready() for p in procs):
        for p in procs:
            if p.proc.poll() is not None:
                raise RuntimeError(f"{p.name} exited ({p.proc.returncode}) while starting:\n{p.tail()}")
        if time.monotonic() - started > READY_WITHIN_S:
            late = [p.name for p in procs if not p.ready()]
            raise TimeoutError(f"not running after {READY_WITHIN_S:g} s: {', '.join(late)}")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


# --- CPU ----------------------------------------------------------------------------------------
def proc_ticks(pid: int, children: bool = False) -> int:
    """utime + stime of a process (and of its reaped children), in clock ticks; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    if children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks


def postgres_ticks(server: PostgresServer) -> int:
    """The postmaster, its running backends, and the backends it has reaped."""
    try:
        master = int((server.data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0
    total = proc_ticks(master, children=True)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == master:  # ppid
            total += int(fields[11]) + int(fields[12])
    return total


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all cores together, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values) - idle, sum(values)


@dataclass
class Cpu:
    bots: int
    postgres: int
    machine: tuple[int, int]


def cpu_now(procs: list[BotProcess], pg: PostgresServer | None) -> Cpu:
    return Cpu(sum(proc_ticks(p.proc.pid, children=True) for p in procs),
               postgres_ticks(pg) if pg is not None else 0, machine_ticks())


# --- one deployment -----------------------------------------------------------------------------
@dataclass
class Result:
    label: str
    workers: int  # processes that brief (the all-in-one process counts as one)
    chats: int
    startup: float = 0.0
    idle: list[float] = field(default_factory=list)  # s, one at a time, LLM 0 s
    latencies: list[float] = field(default_factory=list)  # s, the burst, update → final brief
    seconds: float = 0.0  # first update of the burst → last final brief
    calls: list[Call] = field(default_factory=list)  # the burst's calls to its chats
    llm_calls: int = 0
    llm_peak: int = 0
    bot_cpu: float = 0.0  # s
    pg_cpu: float = 0.0  # s
    machine_busy: float = 0.0  # share of all cores
    finals: Counter[int] = field(default_factory=Counter)  # chat → final briefs seen (1 each expected)
    failures: int = 0  # ⚠️ replies in the burst's chats
    refused: list[tuple[str, str]] = field(default_factory=list)
    per_process: dict[str, int] = field(default_factory=dict)  # briefs delivered, by process (burst included)
    problems: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.chats / self.seconds if self.seconds else 0.0

    @property
    def per_brief(self) -> float:
        return len(self.calls) / self.chats

    def window_peak(self, width: float) -> float:
        """The most calls to chats that reached the server within any `width`-second window, per window."""
        times = sorted(c.at for c in self.calls)
        best, lo = 0, 0
        for hi, t in enumerate(times):
            while t - times[lo] >= width:
                lo += 1
            best = max(best, hi - lo + 1)
        return best


async def deployment(label: str, workers: int, args: argparse.Namespace, pg: PostgresServer | None) -> Result:
    """Start one deployment (workers=0: the all-in-one process on SQLite), measure it, stop it."""
    res = Result(label, max(1, workers), args.chats)
    api, llm = servers(0.0)
    folder = Path(tempfile.mkdtemp(prefix="newsbot-scale-"))
    database = f"scale_w{workers}" if pg is not None else None
    procs: list[BotProcess] = []
    try:
        url = None
        if pg is not None and database is not None:
            url = pg.url(pg.create_database(database))
        env = bot_env(api, llm, folder, url)
        if workers == 0:
            procs.append(launch("all", env, folder))
        else:
            procs.append(launch("receiver", env, folder, "--role", "receiver"))
            procs += [launch(f"worker {i}", env, folder, "--role", "worker") for i in range(1, workers + 1)]
        res.startup = await wait_ready(procs)

        # idle latency: one request at a time, instant LLM (the first ones also warm every process up)
        for i in range(args.warmup + args.idle):
            chat = 1_000 + i
            pushed = time.monotonic()
            api.push("message", message(chat, unique_article(chat)))
            done = await wait_replies(api, [chat], within=60)
            if i >= args.warmup:
                res.idle.append(done[chat] - pushed)
        await asyncio.sleep(1.5)  # Telegram's limiters (the shared one and each process's) refill

        # the burst
        llm.delay = args.llm_delay
        llm.max_in_flight = 0
        llm_before, seen = llm.calls, len(api.calls)
        chats = list(range(100_000, 100_000 + args.chats))
        cpu0 = cpu_now(procs, pg)
        pushed_at: dict[int, float] = {}
        t0 = time.monotonic()
        for chat in chats:
            pushed_at[chat] = time.monotonic()
            api.push("message", message(chat, unique_article(chat)))
        done = await wait_replies(api, chats, within=max(300.0, args.chats * 2.0))
        cpu1 = cpu_now(procs, pg)
        res.seconds = max(done.values()) - t0
        res.latencies = [done[c] - pushed_at[c] for c in chats]
        await asyncio.sleep(SETTLE_S)

        wanted = set(chats)
        res.calls = [c for c in api.calls[seen:] if call_chat(c) in wanted]
        res.finals = Counter(call_chat(c) for c in res.calls if is_final(c))
        res.failures = sum(1 for c in res.calls if str(c.params.get("text", "")).startswith("⚠️"))
        res.llm_calls, res.llm_peak = llm.calls - llm_before, llm.max_in_flight
        res.refused = list(api.errors)
        res.bot_cpu = (cpu1.bots - cpu0.bots) / CLOCK_TICKS
        res.pg_cpu = (cpu1.postgres - cpu0.postgres) / CLOCK_TICKS
        busy, total = cpu1.machine[0] - cpu0.machine[0], cpu1.machine[1] - cpu0.machine[1]
        res.machine_busy = busy / total if total else 0.0
        for p in procs:
            if p.proc.poll() is not None:
                res.problems.append(f"{p.name} exited ({p.proc.returncode}) during the run:\n{p.tail()}")
    finally:
        stop_all(procs)
        api.stop()
        llm.stop()
        for p in procs:
            records = p.records()
            res.per_process[p.name] = sum(1 for r in records if r.get("message") == "brief delivered")
            bad = [r for r in records if r.get("level") in ("ERROR", "CRITICAL") or "raw" in r
                   or (r.get("level") == "WARNING" and "stopping" not in str(r.get("message")))]
            if bad:
                shown = "\n".join("    " + (r.get("raw") or f"{r.get('level')} {r.get('message')}") for r in bad[:8])
                res.problems.append(f"{p.name}: {len(bad)} warning/error log line(s), first ones:\n{shown}")
            if p.proc.returncode not in (0, None):
                res.problems.append(f"{p.name} ended with exit code {p.proc.returncode}")
        if pg is not None and database is not None:
            with contextlib.suppress(Exception):
                pg.drop_database(database)
        shutil.rmtree(folder, ignore_errors=True)
    return res


# --- printing -----------------------------------------------------------------------------------
def briefs_bound(res: Result, args: argparse.Namespace, ceiling: int) -> tuple[float, str]:
    """The most briefs/s this deployment could reach, and what sets it."""
    limits = {
        "N/L": args.chats / args.llm_delay,
        "LLM cap": res.workers * ceiling / args.llm_delay,
        "Telegram": OVERALL_PER_S / res.per_brief if res.calls else float("inf"),
    }
    which = min(limits, key=lambda k: limits[k])
    return limits[which], which


def print_table(results: list[Result], args: argparse.Namespace, ceiling: int) -> None:
    base = results[0]
    head = (f"{'deployment':<26} {'start':>6} {'idle p50':>9} {'briefs/s':>8} {'bound':>6} {'by':>8}"
            f" {'p50':>7} {'p95':>7} {'Δp50':>7} {'Δp95':>7} {'calls/1s':>8} {'/s (5s)':>8} {'calls/brief':>11}"
            f" {'LLM peak':>8} {'bot CPU':>8} {'PG CPU':>7} {'machine':>7}")
    print(head)
    for r in results:
        bound, by = briefs_bound(r, args, ceiling)
        d50 = median(r.latencies) - median(base.latencies)
        d95 = pct(r.latencies, 0.95) - pct(base.latencies, 0.95)
        delta = ("(base)", "") if r is base else (f"{d50:+.2f}", f"{d95:+.2f}")
        print(f"{r.label:<26} {r.startup:>5.1f}s {median(r.idle) * 1000:>6.0f} ms {r.rate:>8.2f} {bound:>6.2f}"
              f" {by:>8} {median(r.latencies):>6.2f}s {pct(r.latencies, 0.95):>6.2f}s {delta[0]:>7} {delta[1]:>7}"
              f" {r.window_peak(1.0):>8.0f} {r.window_peak(5.0) / 5:>8.1f} {r.per_brief:>11.2f} {r.llm_peak:>8}"
              f" {r.bot_cpu / r.seconds:>8.0%} {r.pg_cpu / r.seconds:>7.0%} {r.machine_busy:>7.0%}")


def print_notes(results: list[Result], args: argparse.Namespace, ceiling: int) -> None:
    n, lat = args.chats, args.llm_delay
    methods = Counter(c.method for r in results for c in r.calls)
    per = ", ".join(f"{m} {k / sum(r.chats for r in results):.2f}" for m, k in methods.most_common())
    print(f"""
What bounds each figure:
  start      launch → every process logs "is running" (imports, store migration, first Bot API calls; the
             processes start together on the same 2 cores).
  idle p50   median of {args.idle} requests sent one at a time with an instant LLM, update → final brief:
             the path's own cost. One process: update → request stored → claimed in the same process.
             Split: the receiver's getUpdates → INSERT + NOTIFY → a worker's LISTEN wakes → claim → brief.
             Δ against the first row is what the queue between processes adds to a lone request.
  briefs/s   {n} chats at once / (first update → last final brief). bound = min(N/L = {n / lat:.0f},
             workers × LLM_MAX_CONCURRENCY ({ceiling}) / L, {OVERALL_PER_S} requests/s / calls per brief);
             "by" names the smallest. Every Bot API call to a chat is rate-limited, and a slow brief (L = {lat:g} s >
             STATUS_GRACE_S) costs a status message, its edit into the brief and the second part of a brief longer
             than 4,096 characters, plus typing actions while queued: ~3 calls, so Telegram's {OVERALL_PER_S}/s allow
             ~{OVERALL_PER_S / 3:.0f} briefs/s (~15 at the ideal 2 calls) however many workers there are. The shared
             limiter holds for the deployment, so adding workers cannot raise this.
  p50, p95   update → final brief in the burst, each chat's own push → its final brief. With R briefs/s the
             k-th brief waits ~L + k/R, so these are set by the Telegram bound, not by the queue; Δ against the
             first row is what the split deployment adds or saves under load.
  calls/1s   the most Bot API calls to chats that reached the server in any 1-second window, all processes
             together. Each limiter (python-telegram-bot's AIORateLimiter in every process, and with
             PostgreSQL the shared slot schedule, 1/{OVERALL_PER_S} s apart with a burst of {OVERALL_PER_S}) lets a full bucket
             of {OVERALL_PER_S} go at once and then {OVERALL_PER_S}/s, so a window that starts on a full bucket can hold up
             to ~{2 * OVERALL_PER_S}; without the shared limiter K workers could send up to K × that.
  /s (5s)    the most calls in any 5-second window, per second: the sustained rate (≤ ~{OVERALL_PER_S} + {OVERALL_PER_S}/5 = {OVERALL_PER_S * 1.2:.0f}).
  calls/brief  the burst's Bot API calls to its chats / briefs; all rows together, by method: {per}.
  LLM peak   most LLM requests in flight at once at the stand-in (≤ N, ≤ workers × the adaptive cap).
  CPU        bot processes' and PostgreSQL's CPU time / burst wall time (100 % = one core); machine: all cores
             busy over the burst, everything on the machine included (2 cores; other work was running too).""")


def print_checks(results: list[Result]) -> None:
    print("\nChecks (burst; per process: briefs delivered over the whole run, warm-up and idle requests included):")
    for r in results:
        lost = r.chats - len(r.finals)
        doubled = sum(1 for k in r.finals.values() if k > 1)
        share = ", ".join(f"{name} {k}" for name, k in r.per_process.items())
        verdict = "ok" if not (lost or doubled or r.failures or r.refused or r.problems
                               or r.llm_calls != r.chats) else "PROBLEM"
        print(f"  {r.label}: {verdict} - {len(r.finals)}/{r.chats} chats got a final brief, {doubled} got more than "
              f"one, {r.failures} failure replies, {r.llm_calls} LLM calls for {r.chats} briefs, "
              f"{len(r.refused)} calls refused by the Bot API stand-in; briefs by process: {share}")
        by_method = Counter(c.method for c in r.calls)
        print("    Bot API calls per brief: " + ", ".join(f"{m} {k / r.chats:.2f}" for m, k in by_method.most_common()))
        for what, why in r.refused[:5]:
            print(f"    refused: {what}: {why}")
        for problem in r.problems:
            print("    " + problem.replace("\n", "\n    "))


# --- main ---------------------------------------------------------------------------------------
async def run(args: argparse.Namespace) -> None:
    ceiling = Settings.model_fields["llm_max_concurrency"].default
    grace = Settings.model_fields["status_grace_s"].default
    print(f"# command: {shlex.join([sys.executable, *sys.argv])}   (from {ROOT})")
    print(f"# {args.chats} chats send one different article each at once, LLM latency {args.llm_delay:g} s; every bot a "
          f"real process with the bot's defaults (STATUS_GRACE_S={grace:g}, LLM_MAX_CONCURRENCY={ceiling}, "
          f"WORKER_CONCURRENCY={Settings.model_fields['worker_concurrency'].default}); "
          f"{os.cpu_count()} cores, shared with other work")
    started = time.monotonic()
    results = [await deployment("1 process, SQLite", 0, args, None)]
    print(f"#   {results[-1].label}: {results[-1].seconds:.1f} s burst", flush=True)
    pg = PostgresServer()
    try:
        pg.start()
        print(f"# PostgreSQL {pg.version} on 127.0.0.1:{pg.port} (fsync off; dropped at the end)", flush=True)
        for n in args.workers:
            results.append(await deployment(f"receiver + {n} worker{'s' if n > 1 else ''}, PG", n, args, pg))
            print(f"#   {results[-1].label}: {results[-1].seconds:.1f} s burst", flush=True)
    finally:
        pg.stop()
    print()
    print_table(results, args, ceiling)
    print_notes(results, args, ceiling)
    print_checks(results)
    print(f"\n# {time.monotonic() - started:.0f} s")


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--chats", type=int, default=None, metavar="N",
                   help="chats sending one article each at once; default 200 (--quick: 40)")
    p.add_argument("--llm-delay", type=float, default=2.0, metavar="L", help="seconds the LLM takes; default 2")
    p.add_argument("--workers", type=counts("worker", "1,2,4"), default=None, metavar="N,N,...",
                   help="worker counts to run beside one receiver; default 1,2,4 (--quick: 1,2)")
    p.add_argument("--idle", type=int, default=None, metavar="N",
                   help="requests sent one at a time for the idle latency; default 10 (--quick: 4)")
    p.add_argument("--warmup", type=int, default=2, metavar="N", help="unmeasured requests first; default 2")
    p.add_argument("--quick", action="store_true", help="a smaller run: 40 chats, 1 and 2 workers, 4 idle requests")
    args = p.parse_args()
    args.chats = args.chats or (40 if args.quick else 200)
    args.workers = args.workers or ([1, 2] if args.quick else [1, 2, 4])
    args.idle = args.idle or (4 if args.quick else 10)
    if args.chats < 1 or args.llm_delay <= 0:
        p.error("--chats must be ≥ 1 and --llm-delay > 0")

    # SIGTERM as Ctrl-C: the run is cancelled, and every `finally` stops its processes and the server
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    await run(args)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("\n# interrupted: every process and the PostgreSQL server were stopped", file=sys.stderr)
        sys.exit(130)
