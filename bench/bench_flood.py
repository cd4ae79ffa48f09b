"""The cost of a flood of collected articles: many members posting different articles at once in a
group with digests on. Counts what reaches the LLM with the chat's daily budget of collected
articles off (only each sender's DAILY_REQUESTS_PER_USER) and at its default, side by side.

Run:  .venv/bin/python bench/bench_flood.py [--users 50] [--posts 20] [--per-user 5]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from common import message, servers, settings_for, unique_article

from bot.chat.app import NewsBot
from bot.ops.config import Settings
from bot.store import ChatSettings

GROUP = -1001234599999


@dataclass
class Run:
    label: str
    budget: int
    posts: int = 0
    collected: int = 0
    llm_calls: int = 0
    articles_briefed: int = 0
    most_per_sender: int = 0
    prompt_tokens: int = 0
    seconds: float = 0.0


async def flood(label: str, users: int, posts: int, per_user: int, budget: int) -> Run:
    api, llm = servers(0.0)
    run = Run(label, budget)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = settings_for(api, llm, Path(tmp), daily_requests_per_user=per_user,
                                    daily_collected_per_chat=budget)
            bot = NewsBot(settings)
            await bot.start()
            try:
                await bot.store.save_chat(ChatSettings(chat_id=GROUP, digest_enabled=True))
                started = time.monotonic()
                last = 0
                for n in range(users * posts):  # every member posts a different article, all at once
                    last = api.push("message", message(GROUP, unique_article(n), uid=1000 + n % users))
                run.posts = users * posts
                while api.confirmed <= last or await bot.store.pending_count():
                    await asyncio.sleep(0.05)
                run.seconds = time.monotonic() - started
                run.llm_calls = llm.calls
                run.articles_briefed = len({r["messages"][1]["content"] for r in llm.requests})
                run.prompt_tokens = (await bot.store.usage(chat_id=GROUP)).prompt_tokens
            finally:
                await bot.stop()
            with sqlite3.connect(settings.db_path) as db:
                senders = Counter(u for (u,) in db.execute(
                    "SELECT user_id FROM requests WHERE chat_id = ? AND mode = 'collect'", (GROUP,)))
            run.collected = sum(senders.values())
            run.most_per_sender = max(senders.values(), default=0)
    finally:
        api.stop()
        llm.stop()
    return run


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--users", type=int, default=50)
    p.add_argument("--posts", type=int, default=20, help="different articles each user posts")
    p.add_argument("--per-user", type=int, default=5, help="DAILY_REQUESTS_PER_USER")
    args = p.parse_args()
    default_budget = Settings.model_fields["daily_collected_per_chat"].default
    runs = [await flood("budget off (senders' quota only)", args.users, args.posts, args.per_user, 0),
            await flood(f"default budget ({default_budget})", args.users, args.posts, args.per_user, default_budget)]
    print(f"# command: {sys.executable} {' '.join(sys.argv)}")
    print(f"# {args.users} users x {args.posts} different articles posted at once in one group with digests on;"
          f" DAILY_REQUESTS_PER_USER={args.per_user}; the loopback LLM answers at once")
    print(f"{'run':<36}{'posts':>7}{'collected':>11}{'LLM calls':>11}{'articles':>10}{'max/sender':>12}"
          f"{'prompt tok':>12}{'seconds':>9}")
    for r in runs:
        print(f"{r.label:<36}{r.posts:>7}{r.collected:>11}{r.llm_calls:>11}{r.articles_briefed:>10}"
              f"{r.most_per_sender:>12}{r.prompt_tokens:>12}{r.seconds:>9.1f}")


if __name__ == "__main__":
    asyncio.run(main())
