"""Operating `newsbot run`: start-up errors, logs, secrets, health, metrics, webhook secret, SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from bot.chat.app import NewsBot
from bot.ops.config import Settings
from tests.conftest import EXAMPLE_ARTICLE
from tests.fakes import updates as U
from tests.fakes.botapi_server import FakeBotAPI
from tests.fakes.openai_server import FakeLLM, error
from tests.telegram_harness import BRIEF_MARK, bot_process, configure, post_webhook, sql, store_writable, until

ARTICLE = EXAMPLE_ARTICLE.read_text(encoding="utf-8")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> tuple[int, bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only
    try:
        with opener.open(url, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except urllib.error.URLError:
        return 0, b""


def run_cli(tmp_path: Path, env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "TELEGRAM_", "LLM_", "DATA_DIR"))}
    env.update(env_extra)
    return subprocess.run([sys.executable, "-m", "bot", "run"], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)


# --- start-up ------------------------------------------------------------------------------------
def test_all_missing_settings_are_named_in_one_line(tmp_path: Path) -> None:
    r = run_cli(tmp_path, {})
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "TELEGRAM_BOT_TOKEN" in r.stderr and "OPENAI_API_KEY" in r.stderr and "@BotFather" in r.stderr


def test_malformed_token_fails_before_any_connection(tmp_path: Path) -> None:
    r = run_cli(tmp_path, {"TELEGRAM_BOT_TOKEN": "not a token SECRETPART", "OPENAI_API_KEY": "sk-x",
                           "TELEGRAM_API_BASE_URL": "http://127.0.0.1:9/bot"})
    assert r.returncode == 2 and "malformed" in r.stderr and "SECRETPART" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_unwritable_data_dir_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    r = run_cli(tmp_path, {"TELEGRAM_BOT_TOKEN": "123:abcdefgh", "OPENAI_API_KEY": "sk-x",
                           "DATA_DIR": str(blocker / "data")})
    assert r.returncode == 2 and "cannot write the database" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


async def test_rejected_token_is_one_line_and_never_printed(bot_settings: Settings, llm_server: FakeLLM,
                                                            botapi: FakeBotAPI) -> None:
    wrong = "654321:WRONG-secret-token-value"
    proc = bot_process(configure(bot_settings, telegram_bot_token=wrong), llm_server, LOG_LEVEL="DEBUG")
    _, err = await asyncio.to_thread(proc.communicate, timeout=30)
    text = err.decode()
    assert proc.returncode == 2 and "rejected by Telegram" in text
    assert "WRONG-secret-token-value" not in text and "Traceback" not in text


async def test_wrong_api_key_is_never_printed(bot_settings: Settings, llm_server: FakeLLM,
                                              botapi: FakeBotAPI) -> None:
    key = "sk-wrong-key-0123456789"
    llm_server.default = lambda payload: error(401, f"Incorrect API key provided: {key}", code="invalid_api_key")
    proc = bot_process(bot_settings, llm_server, LOG_LEVEL="DEBUG", OPENAI_API_KEY=key)
    try:
        botapi.push("message", U.message(1101, ARTICLE))
        await until(lambda: "rejected the key" in botapi.visible_text(1101), within=20)
    finally:
        proc.terminate()
        _, err = await asyncio.to_thread(proc.communicate, timeout=20)
    everything = err.decode() + json.dumps([c.params for c in botapi.calls], ensure_ascii=False)
    assert key not in everything and botapi.token not in err.decode()


async def test_unreachable_telegram_is_retried_and_sigterm_still_stops_fast(bot_settings: Settings,
                                                                            llm_server: FakeLLM) -> None:
    dead = f"http://127.0.0.1:{free_port()}/bot"  # nothing listens there
    proc = bot_process(configure(bot_settings, telegram_api_base_url=dead), llm_server, LOG_LEVEL="INFO")
    assert proc.stderr is not None
    try:
        line = b""
        for _ in range(50):  # the first lines may be the database's (a PostgreSQL store logs each migration)
            line = await asyncio.to_thread(proc.stderr.readline)
            if b"Telegram" in line:
                break
        assert b"Telegram is unreachable" in line and b"retrying" in line  # logged, not fatal
        assert proc.poll() is None
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.wait, 10)
        assert proc.returncode == 0 and time.monotonic() - started < 5
    finally:
        if proc.poll() is None:
            proc.kill()


async def test_sigterm_with_telegram_down_mid_request_exits_quickly(bot_settings: Settings, llm_server: FakeLLM,
                                                                   botapi: FakeBotAPI) -> None:
    llm_server.delay = 30
    proc = bot_process(bot_settings, llm_server)
    botapi.push("message", U.message(1102, ARTICLE))
    await until(lambda: llm_server.in_flight == 1, within=20)
    botapi.stop()  # Telegram goes away while a request is in flight
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    await asyncio.to_thread(proc.wait, 15)
    assert proc.returncode == 0 and time.monotonic() - started < 5
    assert await sql(bot_settings, "SELECT COUNT(*) FROM requests WHERE status = 'pending'") == [(1,)]  # kept
    botapi.errors.clear()


# --- logs ----------------------------------------------------------------------------------------
async def stderr_through(proc: subprocess.Popen[bytes], needle: bytes, within: float = 20) -> bytes:
    """The process's log up to and including its first line with `needle` (read as it is written),
    then the rest once it has stopped."""
    seen = b""
    deadline = time.monotonic() + within
    try:
        assert proc.stderr is not None
        while needle not in seen and time.monotonic() < deadline:
            line = await asyncio.wait_for(asyncio.to_thread(proc.stderr.readline), deadline - time.monotonic())
            if not line:
                break
            seen += line
    finally:
        proc.terminate()
        _, rest = await asyncio.to_thread(proc.communicate, timeout=20)
    return seen + rest


async def test_json_logs_have_one_line_per_brief(bot_settings: Settings, llm_server: FakeLLM,
                                                 botapi: FakeBotAPI) -> None:
    proc = bot_process(bot_settings, llm_server, LOG_LEVEL="INFO", LOG_FORMAT="json")
    botapi.push("message", U.message(1103, ARTICLE))
    err = await stderr_through(proc, b"brief delivered")
    assert BRIEF_MARK in botapi.visible_text(1103)
    entries = [json.loads(line) for line in err.decode().splitlines() if line.strip()]
    briefs = [e for e in entries if e["message"] == "brief delivered"]
    assert len(briefs) == 1
    assert briefs[0]["chat"] == 1103 and briefs[0]["model"] and briefs[0]["tokens"] > 0
    assert briefs[0]["cached"] is False and briefs[0]["seconds"] >= 0
    assert botapi.token not in err.decode()



async def test_text_logs_show_the_fields_of_the_brief_line(bot_settings: Settings, llm_server: FakeLLM,
                                                            botapi: FakeBotAPI) -> None:
    proc = bot_process(bot_settings, llm_server, LOG_LEVEL="INFO", LOG_FORMAT="text")
    botapi.push("message", U.message(1104, ARTICLE))
    err = await stderr_through(proc, b"brief delivered")
    assert BRIEF_MARK in botapi.visible_text(1104)
    lines = [line for line in err.decode().splitlines() if "brief delivered" in line]
    assert len(lines) == 1, err.decode()[-2000:]
    assert re.search(r" INFO bot\.chat\.runner: brief delivered request=\d+ chat=1104 .*cached=false "
                     r"seconds=[\d.]+ model=\S+ tokens=[1-9]\d*", lines[0]), lines[0]
    assert botapi.token not in err.decode()

# --- health and metrics --------------------------------------------------------------------------
async def test_healthz_and_metrics(bot_settings: Settings, botapi: FakeBotAPI, llm_server: FakeLLM) -> None:
    port = free_port()
    bot = NewsBot(configure(bot_settings, metrics_port=port))
    await bot.start()
    try:
        status, body = await asyncio.to_thread(get, f"http://127.0.0.1:{port}/healthz")
        assert status == 200 and json.loads(body)["ok"] is True
        llm_server.script = [error(503, "busy")]  # one retry before the answer
        botapi.push("message", U.message(1104, ARTICLE))
        await until(lambda: BRIEF_MARK in botapi.visible_text(1104))
        metrics = ""
        for _ in range(100):  # the brief is counted once its request is closed, just after the reply
            status, body = await asyncio.to_thread(get, f"http://127.0.0.1:{port}/metrics")
            metrics = body.decode()
            if 'newsbot_briefs_total{kind="fresh"} 1.0' in metrics:
                break
            await asyncio.sleep(0.05)
        assert status == 200 and 'newsbot_briefs_total{kind="fresh"} 1.0' in metrics
        assert 'newsbot_requests_total{outcome="done"} 1.0' in metrics and "newsbot_pending_requests 0.0" in metrics
        assert "newsbot_llm_seconds_bucket" in metrics and "newsbot_llm_concurrency_limit" in metrics
        assert 'newsbot_llm_calls_total{result="retried_llm_unavailable"} 1.0' in metrics
        await store_writable(bot, False)  # the store can no longer write
        status, body = await asyncio.to_thread(get, f"http://127.0.0.1:{port}/healthz")
        assert status == 503 and "store" in json.loads(body)["reason"]
        await store_writable(bot, True)
        status, _ = await asyncio.to_thread(get, f"http://127.0.0.1:{port}/healthz")
        assert status == 200
        bot.updates_stale_after_s = 0.5
        botapi.fail("getUpdates", 502, "Bad Gateway (injected)", times=1000)  # Telegram stops answering
        for _ in range(100):
            status, body = await asyncio.to_thread(get, f"http://127.0.0.1:{port}/healthz")
            if status == 503:
                break
            await asyncio.sleep(0.05)
        assert status == 503 and "getUpdates" in json.loads(body)["reason"]
        botapi.failures.clear()
    finally:
        await bot.stop()


# --- webhook -------------------------------------------------------------------------------------
async def test_webhook_without_configured_secret_is_not_open(bot_settings: Settings, botapi: FakeBotAPI,
                                                             llm_server: FakeLLM) -> None:
    port = free_port()
    proc = bot_process(bot_settings, llm_server, WEBHOOK_URL=f"http://127.0.0.1:{port}", WEBHOOK_LISTEN="127.0.0.1",
                       WEBHOOK_PORT=str(port))
    try:
        await until(lambda: any(c.method == "setWebhook" for c in botapi.calls), within=20)
        secret = next(c for c in botapi.calls if c.method == "setWebhook").params.get("secret_token")
        assert secret and len(secret) >= 32  # made at start and given to Telegram

        update = {"update_id": 9100, "message": U.message(1105, ARTICLE)}
        await until(lambda: post_webhook(port, update, None) != 0, within=20)
        assert await asyncio.to_thread(post_webhook, port, update, None) == 403  # forged: no secret
        assert await asyncio.to_thread(post_webhook, port, update, secret) == 200
        await until(lambda: BRIEF_MARK in botapi.visible_text(1105), within=20)
        assert llm_server.calls == 1
    finally:
        proc.terminate()
        proc.wait(timeout=20)


async def test_a_generated_webhook_secret_is_never_logged(bot_settings: Settings, botapi: FakeBotAPI,
                                                          llm_server: FakeLLM) -> None:
    port = free_port()
    proc = bot_process(bot_settings, llm_server, WEBHOOK_URL=f"http://127.0.0.1:{port}", WEBHOOK_LISTEN="127.0.0.1",
                       WEBHOOK_PORT=str(port), LOG_LEVEL="DEBUG")
    try:
        await until(lambda: any(c.method == "setWebhook" for c in botapi.calls), within=20)
        secret = next(c for c in botapi.calls if c.method == "setWebhook").params["secret_token"]
    finally:
        proc.terminate()
        _, err = await asyncio.to_thread(proc.communicate, timeout=20)
    assert b"setWebhook" in err and secret.encode() not in err  # DEBUG logs the call, not the secret
