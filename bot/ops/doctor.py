"""`newsbot check`: one line per thing a person setting the bot up must get right."""

from __future__ import annotations

import json
import os
import re

from dotenv import dotenv_values
from pydantic import ValidationError

from bot.ops.config import Settings, invalid_settings
from bot.ops.errors import NewsbotError
from bot.ops.logs import redact_also, secrets_of

OK, FAIL = "✓", "✗"

SHOWN = ["OPENAI_BASE_URL", "OPENAI_API_KEY", "LLM_MODEL", "LLM_RESPONSE_FORMAT",
         "TELEGRAM_BOT_TOKEN", "TELEGRAM_API_BASE_URL", "DATABASE_PATH", "DATA_DIR"]


def _shown(name: str, value: object) -> str:
    """A setting in user words: secrets are only said to be set, blanks are "not set"."""
    if value is None or value == "":
        return "not set"
    if "KEY" in name or "TOKEN" in name or "SECRET" in name:
        return "is set"
    return f"= {value}"


def _origin(name: str, file_values: dict[str, str | None]) -> str | None:
    if name in os.environ:
        return "environment"
    if file_values.get(name) is not None:
        return ".env"
    return None


class Report:
    def __init__(self) -> None:
        self.failed = 0

    def line(self, ok: bool, what: str, fix: str = "") -> None:
        if not ok:
            self.failed += 1
        print(f"{OK if ok else FAIL} {what}" + (f" — fix: {fix}" if fix and not ok else ""))


async def run_checks(env_file: str = ".env") -> int:
    rep = Report()
    file_values = dotenv_values(env_file)  # {} when there is no such file
    try:
        settings = Settings(_env_file=env_file)  # type: ignore[call-arg]
    except ValidationError as exc:
        rep.line(False, f"settings: {invalid_settings(exc)}",
                 "correct the values in .env or the environment (see .env.example)")
        return 1
    for secret in secrets_of(settings):  # whatever the checks log (-v), no token or key shows
        redact_also(secret)
    found = []
    for name in SHOWN:
        where = _origin(name, file_values)
        if where:
            found.append(f"{name} {_shown(name, getattr(settings, name.lower()))} (from {where})")
    rep.line(True, "settings: " + (", ".join(found) if found else "all defaults"))

    await _check_llm(settings, rep)
    await _check_telegram(settings, rep)
    _check_webhook(settings, rep)
    await _check_database(settings, rep)
    failed = f"{rep.failed} check failed" if rep.failed == 1 else f"{rep.failed} checks failed"
    print(f"\n{'all checks passed' if not rep.failed else failed}")
    return 0 if not rep.failed else 1


async def _check_llm(settings: Settings, rep: Report) -> None:
    from bot.engine.llm import LLMClient

    if not settings.llm_configured:
        rep.line(False, "LLM endpoint: not configured", "set OPENAI_API_KEY, or OPENAI_BASE_URL for a local server")
        return
    where = settings.openai_base_url or "https://api.openai.com/v1"
    llm = LLMClient(settings)
    try:
        try:
            await llm.list_models()
            rep.line(True, f"LLM endpoint reachable: {where}")
        except Exception as exc:
            import openai
            if isinstance(exc, openai.APIConnectionError):
                fix = ("start the server or correct OPENAI_BASE_URL" if settings.openai_base_url else
                       "check this host's network, proxy (HTTPS_PROXY) and DNS: OpenAI is not reachable from here")
                rep.line(False, f"LLM endpoint unreachable: {where}", fix)
                return
            rep.line(True, f"LLM endpoint reachable: {where} (models list: {type(exc).__name__})")
        schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"],
                  "additionalProperties": False}
        try:
            reply = await llm.complete(
                [{"role": "system", "content": "Answer with a JSON object only."},
                 {"role": "user", "content": 'Reply with {"ok": true} as JSON.'}],
                schema, max_tokens=300, name="ping")
            data = json.loads(reply.text.strip().strip("`").removeprefix("json").strip())
            if isinstance(data, dict) and "ok" in data:
                rep.line(True, f"model {settings.llm_model} answers in mode {settings.llm_response_format}")
            else:
                # the server took the request format; the model did not follow it
                rep.line(False, f"model {settings.llm_model} answered JSON, but not the requested object "
                                f"({reply.text.strip()[:80]!r})",
                         "check LLM_MODEL: the model may be too small to follow a schema")
        except json.JSONDecodeError:
            fix = ("this server ignores JSON modes: set LLM_RESPONSE_FORMAT=json_schema or json_object"
                   if settings.llm_response_format == "none" else
                   "check LLM_MODEL: the model answered, but not with JSON")
            rep.line(False, f"model {settings.llm_model} did not answer with JSON in mode "
                            f"{settings.llm_response_format}", fix)
        except NewsbotError as exc:
            said = f"{exc.en} {exc.detail}".lower()
            if any(w in said for w in ("response_format", "json_schema", "json_object", "schema")):
                fix = ("the server does not take this JSON mode: set LLM_RESPONSE_FORMAT=json_object"
                       if settings.llm_response_format == "json_schema" else "set LLM_RESPONSE_FORMAT=none")
            elif "model" in said and ("not found" in said or "does not exist" in said):
                fix = f"the server has no model {settings.llm_model!r}: correct LLM_MODEL"
            else:
                fix = "check LLM_MODEL and the server's log"
            rep.line(False, f"model {settings.llm_model} did not answer a structured request at {where}: "
                            f"{exc.en} {exc.detail}".strip(), fix)
    finally:
        await llm.close()


async def _check_telegram(settings: Settings, rep: Report) -> None:
    if settings.telegram_bot_token is None:
        rep.line(False, "Telegram: TELEGRAM_BOT_TOKEN is not set", "ask @BotFather for a token and set it")
        return
    from telegram import Bot
    from telegram.error import InvalidToken, TelegramError

    from bot.chat.request import AiohttpRequest

    # the HTTP stack `newsbot run` uses (its proxies too), so that a pass here holds there
    bot = Bot(settings.telegram_bot_token.get_secret_value(), base_url=settings.telegram_api_base_url,
              request=AiohttpRequest(connection_pool_size=1))
    try:
        async with bot:  # initialize() calls getMe
            me = bot.bot
        rep.line(True, f"Telegram token accepted: @{me.username}")
    except InvalidToken:
        rep.line(False, "Telegram rejected the token", "copy the token from @BotFather again")
    except TelegramError as exc:
        # the library's message may start with its exception class ("aiohttp.….Error: …"): only the reason is kept
        reason = re.sub(r"^[\w.]+\.\w+: ", "", str(exc), count=1)
        rep.line(False, f"Telegram not reachable: {reason}", "check the network or TELEGRAM_API_BASE_URL")


def _check_webhook(settings: Settings, rep: Report) -> None:
    if not settings.webhook_url:
        rep.line(True, "updates: long polling (no WEBHOOK_URL)")
        return
    url = settings.webhook_url.rstrip("/") + "/telegram"
    secret = "WEBHOOK_SECRET configured" if settings.webhook_secret else "a random secret made at each start"
    ok = url.startswith("https://")
    rep.line(ok, f"updates: webhook at {url}, listening on {settings.webhook_listen}:{settings.webhook_port}, "
                 f"updates must carry {secret}",
             "Telegram sends webhooks only to https:// addresses; put a TLS proxy in front and use its URL")


async def _check_database(settings: Settings, rep: Report) -> None:
    from bot.store import location, open_store

    try:
        store = open_store(settings)
        try:
            await store.open()
            await store.ping()
            version = await store.schema_version()
        finally:
            await store.close()
        rep.line(True, f"database writable: {location(settings)}, schema {version}")
    except Exception as exc:
        fix = "check DATABASE_URL, the server and the user's rights" if settings.database_url else \
            "set DATABASE_PATH or DATA_DIR to a writable place"
        rep.line(False, f"database not writable: {location(settings)} ({exc})", fix)
