"""Bot benchmarks: newsbot side by side with a minimal python-telegram-bot echo bot.

Both run against the same loopback stand-ins: a strict Bot API server and an OpenAI-compatible server
that answers after a set delay. One run prints:

  1. the echo floor: update → echo reply, median and p95;
  2. newsbot, instant LLM, a different article each time: update → final brief, median and p95, the
     difference to the floor and the targets (median ≤ floor + 40 ms, p95 ≤ floor p95 + 120 ms);
  3. the same for a repeated article (answered from the brief cache, no LLM call);
     the latency runs send one update at a time, 0.1 s after the last answer (`--gap`): back to back,
     at two Bot API calls per brief, newsbot would reach Telegram's 30 requests/s and the figures
     would be the rate limiter's queue;
  4. N chats at once, LLM latency L: briefs/s against 0.9 × min(N / L, 30 / c), c the rate-limited
     calls a slow brief needs: 1 for a rich message (RICH_MESSAGES=on: the brief in both languages is
     one sendRichMessage), 2 for classic messages (RICH_MESSAGES=off: the bench article's brief in both
     languages is two messages; a status message and its edit are two calls too); once for readers
     who get both languages and once for readers who get English, rich and classic side by side;
  5. Bot API calls per brief, by method, quick (instant LLM) and slow (L), for both formats;
  6. streaming in a private chat (rich messages), a model that writes its answer in ~3 s: from the
     headline's last token to the first draft that shows it (target ≤ 0.5 s), and from the answer's
     end to the final brief (target ≤ 50 ms + the checks). Here the stand-ins are threads of this
     process, whose server paces the answer's chunks and says when each was written.

"Final brief" is when the message carrying the buttons (reply_markup) reached the Bot API server.
newsbot runs with its own default settings (STATUS_GRACE_S, LLM_MAX_CONCURRENCY, AIORateLimiter, ...),
so the figures describe what users get. The stand-ins run each in a process of its own (`--stand-ins
process`, the default), as Telegram and the LLM provider are other machines for a real bot; with
`--stand-ins thread` they share the bot's process and interpreter lock, and their work counts in the
bot's latency and CPU. Either way the machine's 2 cores are
shared with whatever else runs: figures are noisy; compare medians across runs.

Run:  .venv/bin/python bench/bench_bot.py                     (a few minutes on 2 cores)
      .venv/bin/python bench/bench_bot.py --stand-ins thread  (stand-ins in the bot's process)
      .venv/bin/python bench/bench_bot.py --requests 30 --levels 1,10   (a quick look)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import common
from common import (
    ARTICLE,
    FIRST_CALL,
    REPLY,
    calls_per_chat,
    counts,
    median,
    message,
    pct,
    servers,
    settings_for,
    unique_article,
    wait_replies,
)
from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from bot.chat.app import NewsBot, freeze_startup_objects
from bot.ops.config import Settings
from tests.fakes.botapi_server import FakeBotAPI
from tests.fakes.openai_server import FakeLLM

MEDIAN_SLACK_S = 0.040  # target: median ≤ floor + 40 ms
P95_SLACK_S = 0.120  # p95 ≤ floor p95 + 120 ms
TELEGRAM_RATE = 30.0  # requests/s, python-telegram-bot's AIORateLimiter (Telegram's overall limit)
#: the fewest rate-limited calls a slow brief can take: one rich message; classic: two messages (both
#: languages) or a status message and its edit
CALLS_PER_SLOW_BRIEF = {"rich": 1, "classic": 2}
FORMATS = {"rich": "on", "classic": "off"}  # the bench's formats → RICH_MESSAGES
THROUGHPUT_SHARE = 0.9
parse_levels = counts("chat", "1,10,50,200")
METHODS = ("sendMessage", "sendRichMessage", "editMessageText", "sendChatAction")
VIEWS = {"ar": "both languages", "en": "English"}  # the reader's language_code → the brief's default view


@dataclass
class Run:
    """What one measured run saw."""

    label: str
    format: str = "rich"
    latencies: list[float] = field(default_factory=list)  # seconds, update → answer
    calls: Counter[str] = field(default_factory=Counter)  # Bot API calls in the measured chats
    briefs: int = 0
    seconds: float = 0.0  # first update → last answer (bursts)
    llm_calls: int = 0
    llm_peak: int = 0  # most LLM requests in flight at once, seen by the LLM server
    cap: dict[str, int] = field(default_factory=dict)  # the bot's adaptive LLM cap at the end
    flood_waits: int = 0
    refused: Counter[str] = field(default_factory=Counter)  # calls the Bot API server refused, by reason
    cpu: float = 0.0  # process CPU seconds over the measured part (bot, stand-ins and harness: all one process)


# --- harness ------------------------------------------------------------------------------------
def article_update(chat: int, text: str, language: str = "ar") -> dict[str, Any]:
    """A private message from a reader whose Telegram app is set to `language` (ar: both languages)."""
    m = message(chat, text)
    m["from"]["language_code"] = language
    return m


async def latencies(api: FakeBotAPI, chats: list[int], text: Callable[[int], str], batch: int,
                    when: str, gap: float = 0.0) -> list[float]:
    """One article per chat, `batch` chats at a time, `gap` s between batches; seconds from each update
    to its answer."""
    out: list[float] = []
    for start in range(0, len(chats), batch):
        if start and gap:
            await asyncio.sleep(gap)  # pacing, not waiting for an event: keeps the calls under Telegram's rate
        group = chats[start:start + batch]
        pushed = {}
        for c in group:
            pushed[c] = time.monotonic()
            api.push("message", article_update(c, text(c)))
        done = await wait_replies(api, group, within=120, when=when)
        out += [done[c] - pushed[c] for c in group]
    return out


@contextlib.asynccontextmanager
async def newsbot(llm_delay: float, overrides: dict[str, Any]) -> AsyncIterator[tuple[FakeBotAPI, FakeLLM, NewsBot]]:
    """newsbot with its default settings on fresh loopback servers and an empty data directory."""
    api, llm = servers(llm_delay)
    with tempfile.TemporaryDirectory() as tmp:
        bot = NewsBot(settings_for(api, llm, Path(tmp), **overrides))
        try:
            await bot.start()
            freeze_startup_objects()  # as `newsbot run` does
            yield api, llm, bot
        finally:
            await bot.stop()  # cancels what is still running: no calls after this
            api.stop()
            llm.stop()


def finish(run: Run, api: FakeBotAPI, llm: FakeLLM, bot: NewsBot, chats: Iterable[int], llm_before: int) -> Run:
    run.calls = calls_per_chat(api, chats)
    run.llm_calls = llm.calls - llm_before
    run.llm_peak = llm.max_in_flight
    concurrency = getattr(bot.engine.llm, "concurrency", None)
    run.cap = concurrency.snapshot() if concurrency is not None and hasattr(concurrency, "snapshot") else {}
    run.flood_waits = int(bot.metrics.flood_waits._value.get())  # prometheus counter, read in place
    run.refused = Counter(f"{method}: {why}" for method, why in api.errors)
    return run


# --- the runs -----------------------------------------------------------------------------------
async def echo_floor(n: int, batch: int, warmup: int, gap: float) -> Run:
    """The same harness against a minimal python-telegram-bot echo bot (no rate limiter, no work)."""
    api, llm = servers(0)

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.message and update.message.text:
            await update.message.reply_text(update.message.text[:100])

    app = Application.builder().token(api.token).base_url(api.base_url).concurrent_updates(True).build()
    app.add_handler(MessageHandler(filters.TEXT, echo))
    run = Run("echo bot: update → echo", briefs=n)
    try:
        async with app:
            await app.start()
            assert app.updater is not None
            await app.updater.start_polling(poll_interval=0.0, timeout=1)
            try:
                await latencies(api, list(range(1_000, 1_000 + warmup)), unique_article, 1, FIRST_CALL)
                chats = list(range(30_000, 30_000 + n))
                cpu = time.process_time()
                run.latencies = await latencies(api, chats, unique_article, batch, FIRST_CALL, gap)
                run.cpu = time.process_time() - cpu
            finally:
                await app.updater.stop()
                await app.stop()
        run.calls = calls_per_chat(api, chats)
    finally:
        api.stop()
        llm.stop()
    return run


async def quick(n: int, batch: int, warmup: int, gap: float, cached: bool, overrides: dict[str, Any]) -> Run:
    """newsbot with an instant LLM: a different article per update, or the same (cached) one."""
    label = "newsbot, cached article" if cached else "newsbot, unique articles, LLM 0 s"  # RICH_MESSAGES=auto
    run = Run(label, briefs=n)
    text: Callable[[int], str] = (lambda _c: ARTICLE) if cached else unique_article
    async with newsbot(0.0, overrides) as (api, llm, bot):
        # the first briefs pay for first use (imports, caches); a cached run also fills the cache here
        await latencies(api, list(range(1_000, 1_000 + max(1, warmup))), text, 1, REPLY)
        await asyncio.sleep(1.0)  # the rate limiter's bucket refills
        before = llm.calls
        chats = list(range(10_000, 10_000 + n))
        cpu = time.process_time()
        run.latencies = await latencies(api, chats, text, batch, REPLY, gap)
        run.cpu = time.process_time() - cpu
    return finish(run, api, llm, bot, chats, before)


async def burst(n: int, llm_delay: float, language: str, overrides: dict[str, Any], fmt: str) -> Run:
    """N chats send a different article at once; the LLM answers each after `llm_delay` s. Readers whose
    app is in Arabic get both languages (two classic messages for this article, or one rich), others
    English (one)."""
    run = Run(f"{n} chats, LLM {llm_delay:g} s, {VIEWS[language]}, {fmt}", format=fmt, briefs=n)
    async with newsbot(0.0, {**overrides, "rich_messages": FORMATS[fmt]}) as (api, llm, bot):
        # one warm-up brief with an instant LLM (one sample only: the cap's queueing check needs five)
        await latencies(api, [1_000], unique_article, 1, REPLY)
        await asyncio.sleep(1.0)
        llm.delay = llm_delay
        llm.max_in_flight = 0
        before = llm.calls
        chats = list(range(20_000, 20_000 + n))
        updates = [article_update(c, unique_article(c), language) for c in chats]
        t0, cpu = time.monotonic(), time.process_time()
        api.push_all("message", updates)  # at once: one getUpdates answer can carry them all
        done = await wait_replies(api, chats, within=600)
        run.seconds = max(done.values()) - t0
        run.cpu = time.process_time() - cpu
        run.latencies = [done[c] - t0 for c in chats]
    return finish(run, api, llm, bot, chats, before)


def histogram(metric: Any) -> tuple[float, float]:
    """A prometheus histogram's count and sum, read in place."""
    samples = {s.name.rsplit("_", 1)[-1]: s.value for family in metric.collect() for s in family.samples}
    return samples["count"], samples["sum"]


async def streaming(n: int, seconds: float = 3.0) -> list[tuple[float, float, float]]:
    """n private chats one after another, rich messages, a model streaming its answer over `seconds`:
    per brief (headline's last token → first draft with the headline, answer's end → final brief, and
    of that the checks: the model's answer → the checked brief, as the bot measures it)."""
    import json
    import re

    from tests.conftest import example_brief
    from tests.fakes.openai_server import completion

    data = example_brief()
    text = json.dumps(data, ensure_ascii=False)
    step = 48  # characters per chunk: a dozen tokens (finer pacing drifts: each wait overshoots a little)
    chunks = -(-len(text) // step)
    pace = seconds / chunks
    headline_chunks = text.index('"summary"') // step + 1  # the chunk that closes the headline
    arrived: dict[int, float] = {}

    def reply(payload: dict[str, Any]) -> Any:
        found = re.search(r"تحديث رقم (\d+)", payload["messages"][-1]["content"])
        if found:
            arrived[int(found.group(1))] = time.monotonic()
        return completion(text, chunk_chars=step, chunk_delay=pace)

    out: list[tuple[float, float, float]] = []
    saved, common.STAND_INS = common.STAND_INS, "thread"
    try:
        async with newsbot(0.0, {"rich_messages": "on"}) as (api, llm, bot):
            llm.default = reply  # type: ignore[attr-defined]
            for i, chat in enumerate(range(40_000, 40_000 + n)):
                _, checks_before = histogram(bot.metrics.check_seconds)
                api.push("message", article_update(chat, unique_article(chat), "en"))
                await wait_replies(api, [chat], within=60)
                while histogram(bot.metrics.check_seconds)[0] < i + 1:  # counted just after the send
                    await asyncio.sleep(0.005)
                checks = histogram(bot.metrics.check_seconds)[1] - checks_before
                calls = [c for c in list(api.calls) if int(c.params.get("chat_id", 0) or 0) == chat]
                draft = next(c.at for c in calls if c.method == "sendRichMessageDraft"
                             and data["headline"]["en"][:40] in c.params["rich_message"]["html"])
                final = next(c.at for c in calls if c.method == "sendRichMessage")
                start = arrived[chat]
                # the answer's end as written (the stand-in's pacing drifts behind its schedule)
                out.append((draft - (start + headline_chunks * pace), final - llm.stream_ends[-1], checks))
    finally:
        common.STAND_INS = saved
    return out


def print_streaming(runs: list[tuple[float, float, float]]) -> None:
    first = [d for d, _, _ in runs]
    last = [f for _, f, _ in runs]
    checks = [c for _, _, c in runs]
    rest = [f - c for _, f, c in runs]
    print(f"{'streaming, private chat, model ~3 s':<38} {'n':>3} {'median':>10} {'max':>10}  target")
    print(f"{'headline written → first draft':<38} {len(first):>3} {ms(median(first)):>10} {ms(max(first)):>10}"
          f"  ≤ 500 ms {verdict(max(first) <= 0.5)}")
    print(f"{'answer written → final brief':<38} {len(last):>3} {ms(median(last)):>10} {ms(max(last)):>10}")
    print(f"{'  of which the checks':<38} {len(checks):>3} {ms(median(checks)):>10} {ms(max(checks)):>10}")
    print(f"{'  the rest (render, send)':<38} {len(rest):>3} {ms(median(rest)):>10} {ms(max(rest)):>10}"
          f"  ≤ 50 ms {verdict(max(rest) <= 0.05)}")
    print("  the headline's time is the stand-in's schedule (a chunk every 3 s / chunks; it drifts behind), the answer's end"
          " when its last byte was written; a draft waits "
          "0.3 s (PREVIEW_WAIT_S) so that a quick brief costs no draft.")


# --- printing -----------------------------------------------------------------------------------
def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def print_latency(runs: list[Run], floor: Run) -> None:
    fmed, fp95 = median(floor.latencies), pct(floor.latencies, 0.95)
    print(f"{'update → final brief':<36} {'n':>4} {'median':>10} {'p95':>10}  {'Δ median':>10} {'Δ p95':>10}"
          f"  {'CPU/update':>10}   targets: median ≤ floor + {MEDIAN_SLACK_S * 1000:.0f} ms, "
          f"p95 ≤ floor p95 + {P95_SLACK_S * 1000:.0f} ms")
    print(f"{floor.label:<36} {len(floor.latencies):>4} {ms(fmed):>10} {ms(fp95):>10}  {'(floor)':>10} {'':>10}"
          f"  {ms(floor.cpu / floor.briefs):>10}")
    for run in runs:
        med, p95 = median(run.latencies), pct(run.latencies, 0.95)
        tmed, tp95 = fmed + MEDIAN_SLACK_S, fp95 + P95_SLACK_S
        print(f"{run.label:<36} {len(run.latencies):>4} {ms(med):>10} {ms(p95):>10}  {signed_ms(med - fmed):>10}"
              f" {signed_ms(p95 - fp95):>10}  {ms(run.cpu / run.briefs):>10}   median ≤ {ms(tmed).strip()} "
              f"{verdict(med <= tmed)}, p95 ≤ {ms(tp95).strip()} {verdict(p95 <= tp95)}")
    for run in runs:
        print(f"  {run.label}: LLM calls {run.llm_calls}, flood waits {run.flood_waits}, {refused(run)}")
    print("  CPU/update: this process's CPU time per update (the bot and the harness; with --stand-ins thread the "
          "stand-ins' too, and the floor's figure is then mostly theirs).")


def refused(run: Run) -> str:
    if not run.refused:
        return "no refused calls"
    return "refused calls: " + "; ".join(f"{n} × {why}" for why, n in run.refused.most_common())


def signed_ms(seconds: float) -> str:
    return f"{seconds * 1000:+.1f} ms"


def throughput_bound(n: int, llm_delay: float, fmt: str) -> float:
    ideal = n / llm_delay if llm_delay > 0 else float("inf")
    return THROUGHPUT_SHARE * min(ideal, TELEGRAM_RATE / CALLS_PER_SLOW_BRIEF[fmt])


def fastest_burst(n: int, llm_delay: float, calls: int, cap: int) -> float:
    """The soonest the last of n briefs asked at once can reach a Bot API that takes TELEGRAM_RATE
    requests/s (a bucket of that many, refilled at that rate: AIORateLimiter), when the LLM answers
    each after `llm_delay` s, at most `cap` at a time, and each brief is `calls` calls: every answer
    of a wave arrives together, so a wave beyond the bucket waits for the rate."""
    answers = [(i // cap + 1) * llm_delay for i in range(n)]
    tokens, clock = TELEGRAM_RATE, 0.0
    for ready in answers:
        for _ in range(calls):
            now = max(clock, ready)
            tokens = min(TELEGRAM_RATE, tokens + (now - clock) * TELEGRAM_RATE)
            if tokens < 1:
                now += (1 - tokens) / TELEGRAM_RATE
                tokens = 1.0
            tokens, clock = tokens - 1, now
    return clock


def print_bursts(runs: list[Run], llm_delay: float, view: str, ceiling: int) -> None:
    print(f"## readers who get {view}")
    print(f"{'chats at once':>13} {'format':>7} {'seconds':>8} {'briefs/s':>9} {'bound':>7} {'':>6}"
          f" {'fastest':>7} {'share':>6} {'TG cap':>7}  {'latency median':>14}"
          f" {'p95':>7}  {'calls/brief':>11} {'calls/s':>7}  {'LLM peak':>8} {'cap':>6}  {'CPU/brief':>9}"
          f" {'CPU busy':>8}")
    for run in runs:
        rate = run.briefs / run.seconds
        bound = throughput_bound(run.briefs, llm_delay, run.format)
        total = sum(run.calls.values())
        per_brief = total / run.briefs
        cap = f"{run.cap.get('limit', '?')}/{run.cap.get('ceiling', '?')}" if run.cap else "?"
        # a classic brief in English is one message: the fastest any bot could go needs one call each
        fewest = CALLS_PER_SLOW_BRIEF[run.format] if view == VIEWS["ar"] else 1
        fastest = run.briefs / fastest_burst(run.briefs, llm_delay, fewest, ceiling)
        print(f"{run.briefs:>13} {run.format:>7} {run.seconds:>8.2f} {rate:>9.2f} {bound:>7.2f} {verdict(rate >= bound):>6}"
              f" {fastest:>7.2f} {rate / fastest:>6.0%} {TELEGRAM_RATE / per_brief:>7.2f}  "
              f"{median(run.latencies):>12.2f} s {pct(run.latencies, 0.95):>5.2f} s  {per_brief:>11.2f}"
              f" {total / run.seconds:>7.1f}  {run.llm_peak:>8} {cap:>6}  {ms(run.cpu / run.briefs):>9}"
              f" {run.cpu / run.seconds:>8.0%}")
    print(f"  bound = {THROUGHPUT_SHARE:g} × min(N / L, {TELEGRAM_RATE:g} requests/s / c), c = the fewest calls a "
          f"slow brief takes ({', '.join(f'{k} {v}' for k, v in CALLS_PER_SLOW_BRIEF.items())}), L = {llm_delay:g} s. "
          "calls: Bot API calls in the chats (all rate-limited).")
    print(f"  fastest: the most briefs/s any bot could reach here: all answers of a wave of LLM_MAX_CONCURRENCY ({ceiling}) "
          f"arrive together after L, and {TELEGRAM_RATE:g} requests/s (a bucket of {TELEGRAM_RATE:g}) then spread their "
          "messages (c each; 1 in English); share: briefs/s of that.")
    print(f"  TG cap: the most briefs/s Telegram's {TELEGRAM_RATE:g} requests/s allow at the calls per brief measured "
          "(a brief longer than 4,096 characters is one call more: its second message).")
    print("  LLM peak: most LLM requests in flight at once; cap: the bot's adaptive LLM cap / its ceiling "
          "(LLM_MAX_CONCURRENCY) at the end. CPU: the bot's process (with --stand-ins thread, the stand-ins' too); "
          "CPU busy: its CPU time / wall time (2 cores = 200 %).")
    for run in runs:
        if run.flood_waits or run.refused or run.llm_calls != run.briefs:
            print(f"  {run.briefs} chats, {run.format}: LLM calls {run.llm_calls}, flood waits {run.flood_waits}, {refused(run)}")


def print_calls(runs: list[Run]) -> None:
    others = sorted({m for r in runs for m in r.calls} - set(METHODS))
    cols = [*METHODS, *others]
    print(f"{'Bot API calls per brief':<38} " + " ".join(f"{m:>15}" for m in cols) + f" {'total':>7}")
    for run in runs:
        per = {m: run.calls.get(m, 0) / run.briefs for m in cols}
        print(f"{run.label:<38} " + " ".join(f"{per[m]:>15.2f}" for m in cols)
              + f" {sum(run.calls.values()) / run.briefs:>7.2f}")


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=100, metavar="N",
                   help="updates per latency run (echo floor, unique, cached); default 100")
    p.add_argument("--batch", type=int, default=1, metavar="K",
                   help="chats at a time in the latency runs; default 1 (one update in flight: the latency "
                        "a user sees; above ~30 briefs/s Telegram's rate limiter would queue them)")
    p.add_argument("--gap", type=float, default=0.1, metavar="S",
                   help="seconds between batches in the latency runs; default 0.1: at 2 Bot API calls per brief "
                        "that stays under Telegram's 30 requests/s, so the runs measure latency, not the rate "
                        "limiter (with --gap 0 a brief every ~40 ms queues behind it)")
    p.add_argument("--views", default="ar,en", metavar="LANG,...",
                   help="readers' language_code in the throughput runs: ar (both languages, two messages "
                        "for the bench article), en (English, one message); default ar,en")
    p.add_argument("--formats", default="rich,classic", metavar="FORMAT,...",
                   help="message formats in the throughput runs: rich (RICH_MESSAGES=on), classic "
                        "(RICH_MESSAGES=off); default rich,classic")
    p.add_argument("--warmup", type=int, default=3, metavar="N",
                   help="unmeasured updates before each latency run; default 3")
    p.add_argument("--levels", type=parse_levels, default=parse_levels("1,10,50,200"), metavar="N,N,...",
                   help="chats at once in the throughput runs; default 1,10,50,200")
    p.add_argument("--llm-delay", type=float, default=2.0, metavar="L",
                   help="seconds the LLM takes in the throughput runs (and the slow calls-per-brief row); default 2")
    p.add_argument("--llm-max-concurrency", type=int, default=None, metavar="C",
                   help="override LLM_MAX_CONCURRENCY, the adaptive cap's ceiling "
                        f"(default: the bot's own, {Settings.model_fields['llm_max_concurrency'].default})")
    p.add_argument("--stand-ins", choices=("process", "thread"), default="process",
                   help="where the loopback Bot API and LLM stand-ins run: each in a process of its own (default) or "
                        "threads of this process, sharing the bot's interpreter lock")
    p.add_argument("--skip", default="", metavar="PART,...",
                   help="leave parts out: latency, throughput, streaming (e.g. --skip latency)")
    p.add_argument("--streams", type=int, default=5, metavar="N",
                   help="private chats in the streaming run, one after another; default 5")
    args = p.parse_args()
    logging.basicConfig(level=logging.ERROR)
    overrides: dict[str, Any] = {}
    if args.llm_max_concurrency is not None:
        overrides["llm_max_concurrency"] = args.llm_max_concurrency
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    views = [v.strip() for v in args.views.split(",") if v.strip()]
    if not views or set(views) - set(VIEWS):
        p.error(f"--views: a comma-separated list of {', '.join(VIEWS)}")
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    if not formats or set(formats) - set(FORMATS):
        p.error(f"--formats: a comma-separated list of {', '.join(FORMATS)}")
    common.STAND_INS = args.stand_ins

    print(f"# command: {' '.join([sys.executable, *sys.argv])}")
    fields = Settings.model_fields
    grace = fields["status_grace_s"].default
    ceiling = overrides.get("llm_max_concurrency", fields["llm_max_concurrency"].default)
    where = "a process each" if args.stand_ins == "process" else "threads of this process"
    print(f"# loopback Bot API + OpenAI-compatible stand-ins in {where}; newsbot defaults: "
          f"STATUS_GRACE_S={grace:g}, LLM_MAX_CONCURRENCY={ceiling}, "
          f"RICH_MESSAGES={fields['rich_messages'].default} (latency runs), "
          f"AIORateLimiter ({TELEGRAM_RATE:g} requests/s)")
    print(f"# final brief = the message with the buttons (reply_markup) reached the Bot API server; "
          f"latency runs: {args.requests} updates, {args.batch} at a time, {args.gap:g} s apart\n")
    started = time.monotonic()
    calls: list[Run] = []
    if "latency" not in skip:
        floor = await echo_floor(args.requests, args.batch, args.warmup, args.gap)
        unique = await quick(args.requests, args.batch, args.warmup, args.gap, False, overrides)
        cached = await quick(args.requests, args.batch, args.warmup, args.gap, True, overrides)
        print_latency([unique, cached], floor)
        print()
        calls += [unique, cached]
    if "throughput" not in skip:
        for language in views:
            bursts = [await burst(n, args.llm_delay, language, overrides, fmt)
                      for n in args.levels for fmt in formats]
            print_bursts(bursts, args.llm_delay, VIEWS[language], ceiling)
            print()
            calls += bursts
    if calls:
        print_calls(calls)
    if "streaming" not in skip:
        print()
        print_streaming(await streaming(args.streams))
    print(f"\n# {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    asyncio.run(main())
