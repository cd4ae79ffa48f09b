"""Bot benchmarks: overhead per brief, concurrency, and the python-telegram-bot echo floor.

Loopback Bot API server and an OpenAI-compatible server that answers after a fixed delay.
Run:  .venv/bin/python bench/bench_bot.py [--requests 200] [--llm-delay 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import (
    first_call_time,
    message,
    reply_time,
    servers,
    settings_for,
    summary,
    unique_article,
    wait_replies,
)
from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from bot.telegram import NewsBot
from tests.fakes.botapi_server import FakeBotAPI


async def latencies(api: FakeBotAPI, n: int, batch: int, *, first_chat: int,
                    when: Callable[[FakeBotAPI, int], float | None]) -> list[float]:
    """Send n articles, `batch` chats at a time; seconds from each update to its answer."""
    out: list[float] = []
    for start in range(0, n, batch):
        chats = list(range(first_chat + start, first_chat + min(n, start + batch)))
        pushed = {}
        for c in chats:
            pushed[c] = time.monotonic()
            api.push("message", message(c, unique_article(c)))
        done = await wait_replies(api, chats, when=when)
        out += [done[c] - pushed[c] for c in chats]
    return out


async def overhead(n: int, llm_delay: float, batch: int) -> list[float]:
    """Update arrives → reply sent, minus the LLM's time; `batch` chats at a time."""
    api, llm = servers(llm_delay)
    with tempfile.TemporaryDirectory() as tmp:
        bot = NewsBot(settings_for(api, llm, Path(tmp)))
        await bot.start()
        try:
            return [t - llm_delay for t in await latencies(api, n, batch, first_chat=10_000, when=reply_time)]
        finally:
            await bot.stop()
            api.stop()
            llm.stop()


async def concurrency(n: int, llm_delay: float) -> float:
    """N chats send at once; seconds until every one has its brief."""
    api, llm = servers(llm_delay)
    with tempfile.TemporaryDirectory() as tmp:
        bot = NewsBot(settings_for(api, llm, Path(tmp)))
        await bot.start()
        try:
            chats = list(range(20_000, 20_000 + n))
            t0 = time.monotonic()
            for c in chats:
                api.push("message", message(c, unique_article(c)))
            done = await wait_replies(api, chats)
            return max(done.values()) - t0
        finally:
            await bot.stop()
            api.stop()
            llm.stop()


async def echo_floor(n: int, batch: int) -> list[float]:
    """The same harness against a minimal python-telegram-bot echo bot."""
    api, llm = servers(0)

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Echo the first words back."""
        if update.message and update.message.text:
            await update.message.reply_text(update.message.text[:100])

    app = Application.builder().token(api.token).base_url(api.base_url).concurrent_updates(True).build()
    app.add_handler(MessageHandler(filters.TEXT, echo))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0.0, timeout=1)
        try:
            out = await latencies(api, n, batch, first_chat=30_000, when=first_call_time)
        finally:
            await app.updater.stop()
            await app.stop()
    api.stop()
    llm.stop()
    return out


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--llm-delay", type=float, default=1.0)
    p.add_argument("--batch", type=int, default=5, help="chats at a time for the overhead runs")
    p.add_argument("--levels", default="1,10,50,200")
    args = p.parse_args()
    logging.basicConfig(level=logging.ERROR)

    print(f"# command: {' '.join([sys.executable, *sys.argv])}")
    print(f"# loopback Bot API + OpenAI-compatible servers; LLM answers after {args.llm_delay:g} s\n")
    ours = await overhead(args.requests, args.llm_delay, args.batch)
    floor = await echo_floor(args.requests, args.batch)
    print(f"{'overhead (update → brief sent, minus LLM)':<46} {summary(ours)}   n={len(ours)}")
    print(f"{'echo bot floor (update → echo sent)':<46} {summary(floor)}   n={len(floor)}")
    med = sorted(ours)[len(ours) // 2]
    fmed = sorted(floor)[len(floor) // 2]
    print(f"{'overhead / floor (medians)':<46} {med / fmed:8.1f} x\n")
    print(f"{'chats at once':>14} {'seconds':>9} {'briefs/s':>9} {'ideal N/L':>10} {'efficiency':>11}")
    for n in (int(x) for x in args.levels.split(",")):
        secs = await concurrency(n, args.llm_delay)
        ideal = n / args.llm_delay
        print(f"{n:>14} {secs:>9.2f} {n / secs:>9.1f} {ideal:>10.1f} {n / secs / ideal:>10.0%}")


if __name__ == "__main__":
    asyncio.run(main())
