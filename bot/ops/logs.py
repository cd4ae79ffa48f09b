"""Logging for `newsbot run`: LOG_LEVEL, LOG_FORMAT=text|json, and secrets never written.

A line's structured fields (`extra={"fields": {...}}`) are keys of the JSON object, or `key=value`
pairs after the message in the text format, so both formats carry the same facts.

The Telegram token travels in every Bot API URL and some libraries put it in their messages
(python-telegram-bot's InvalidToken, httpx's request lines); a filter on the handler replaces
the token and the API key wherever they appear, whoever logs them.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime

from bot.ops.config import Settings

REDACTED = "[redacted]"


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if len(s) >= 6]

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        record.msg, record.args = self.redact(message), None
        fields = getattr(record, "fields", None)
        if fields:
            record.fields = {k: self.redact(v) if isinstance(v, str) else v for k, v in fields.items()}
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line; `extra={"fields": {...}}` adds structured fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message key=value ...`; a value with spaces, quotes or `=` is JSON-quoted."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, "fields", {})
        if not fields:
            return line
        head, sep, trace = line.partition("\n")
        pairs = " ".join(f"{key}={_text_value(value)}" for key, value in fields.items())
        return f"{head} {pairs}{sep}{trace}"


def _text_value(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    text = str(value)
    if not text or any(c.isspace() or c in '"=' for c in text):
        return json.dumps(text, ensure_ascii=False)
    return text


def secrets_of(settings: Settings) -> list[str]:
    values = [settings.telegram_bot_token, settings.openai_api_key, settings.webhook_secret]
    found = [v.get_secret_value() for v in values if v is not None]
    # the part after the colon identifies the bot as much as the whole token does
    if settings.telegram_bot_token is not None and ":" in settings.telegram_bot_token.get_secret_value():
        found.append(settings.telegram_bot_token.get_secret_value().split(":", 1)[1])
    return found


def setup_logging(settings: Settings, extra_secrets: Iterable[str] = ()) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    handler.addFilter(RedactSecrets([*secrets_of(settings), *extra_secrets]))
    logging.basicConfig(level=settings.log_level.upper(), handlers=[handler], force=True)
    # one line per request from httpx is noise at INFO (and its URLs carry the token)
    for noisy in ("httpx", "httpcore", "apscheduler", "telegram.ext.Updater"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


def redact_also(secret: str) -> None:
    """A secret made after logging was set up (the generated webhook secret) is redacted too."""
    for handler in logging.getLogger().handlers:
        for f in handler.filters:
            if isinstance(f, RedactSecrets) and len(secret) >= 6:
                f.secrets.append(secret)


class Throttle:
    """Says yes at most once per `every_s` seconds: for a warning that would otherwise repeat on every
    update while a trouble lasts."""

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self._last: float | None = None

    def ready(self) -> bool:
        now = time.monotonic()
        if self._last is not None and now - self._last < self.every_s:
            return False
        self._last = now
        return True
