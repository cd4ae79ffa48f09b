"""`newsbot run` as a real process: start-up time and resident memory, idle and after many briefs.

Run:  .venv/bin/python bench/bench_process.py [--briefs 1000] [--chats 100]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, message, servers, unique_article, wait_replies


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--briefs", type=int, default=1000)
    p.add_argument("--chats", type=int, default=100)
    args = p.parse_args()
    api, llm = servers(0.0)
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLM_", "TELEGRAM_"))}
        env.update({"TELEGRAM_BOT_TOKEN": api.token, "TELEGRAM_API_BASE_URL": api.base_url,
                    "OPENAI_BASE_URL": llm.base_url, "OPENAI_API_KEY": "sk-bench", "LLM_MODEL": "fake-model",
                    "LLM_MAX_CONCURRENCY": "64", "DATA_DIR": tmp, "LOG_LEVEL": "WARNING"})
        started = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "bot", "run"], env=env, cwd=tmp,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while api.first_poll_at is None:
                if proc.poll() is not None:
                    raise SystemExit("the bot exited during start-up")
                await asyncio.sleep(0.005)
            startup = api.first_poll_at - started
            await asyncio.sleep(2)
            idle = rss_mib(proc.pid)
            chats = list(range(40_000, 40_000 + args.chats))
            t0 = time.monotonic()
            for i in range(args.briefs):
                api.push("message", message(chats[i % len(chats)], unique_article(i)))
            await wait_replies(api, chats, within=3600)
            while sum(1 for c in api.calls if c.params.get("reply_markup")) < args.briefs:
                await asyncio.sleep(0.1)
            elapsed = time.monotonic() - t0
            busy = rss_mib(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            api.stop()
            llm.stop()
    print(f"# command: {sys.executable} {' '.join(sys.argv)}   (from {ROOT})")
    print(f"{'start-up: launch → first getUpdates':<42} {startup:8.2f} s")
    print(f"{'resident memory, idle':<42} {idle:8.1f} MiB")
    print(f"{f'resident memory after {args.briefs} briefs':<42} {busy:8.1f} MiB")
    print(f"{f'{args.briefs} briefs in {args.chats} chats took':<42} {elapsed:8.1f} s "
          f"({args.briefs / elapsed:.1f} briefs/s; Telegram's ~30 messages/s bounds this)")


if __name__ == "__main__":
    asyncio.run(main())
