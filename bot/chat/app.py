"""The Telegram bot: builds the python-telegram-bot Application, wires the parts, runs it.

Handlers (`bot.chat.handlers`) turn updates into requests through the gate (`bot.chat.gate`); the runner
(`bot.chat.runner`) works them and replies with status messages (`bot.chat.status`); buttons are
`bot.chat.buttons`, scheduled digests `bot.chat.digests`. `run_bot` is `newsbot run`: start-up checks
that fail in one line, long polling or a webhook, metrics and health, and a shutdown that ends
within seconds whatever Telegram does.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import re
import secrets
import signal
import time
from typing import Any, Literal
from urllib.parse import urlsplit

from telegram import BotCommand, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import InvalidToken, NetworkError, TelegramError, TimedOut
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    Defaults,
    MessageHandler,
    filters,
)

from bot.chat import handlers, ledger
from bot.chat.buttons import Signer
from bot.chat.digests import Digests
from bot.chat.gate import Gate
from bot.chat.intake import PasteJoiner
from bot.chat.ratelimit import CountingRateLimiter, SharedRateLimiter
from bot.chat.request import AiohttpRequest
from bot.chat.runner import Runner
from bot.chat.services import KEY, Services
from bot.engine.brief import BriefEngine
from bot.engine.llm import LLMClient
from bot.ops.config import Settings
from bot.ops.errors import ConfigError, StorageUnavailable
from bot.ops.logs import redact_also, setup_logging
from bot.ops.metrics import HealthServer, Metrics
from bot.reading.fetch import Fetcher
from bot.store import Store, location, open_store

Role = Literal["all", "receiver", "worker"]
STORE_CLOSE_S = 2.0  # at shutdown, the database gets this long per step

log = logging.getLogger(__name__)

TOKEN_FORMAT = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{5,}$")
COMMANDS = {
    "en": [("summarize", "Brief an article (reply to it, or add text or a link)"),
           ("settings", "Language view and digest, with buttons"), ("lang", "Language view: ar, en or both"),
           ("digest", "Daily digest: on [HH:MM] [timezone], off, now, status"),
           ("subscribe", "Get a group's or channel's digest here: @name"),
           ("unsubscribe", "Stop a digest you get here"), ("timeline", "An actor's record in this chat"),
           ("track", "Alert me when an actor is in a new pressure"), ("untrack", "Stop alerts about an actor"),
           ("actors", "The actors in this chat's record"), ("forget", "Delete this chat's record and briefs"),
           ("usage", "Your usage today"), ("help", "The full guide"), ("start", "What this bot does")],
    "ar": [("summarize", "لخّص مقالًا (ردًا عليه أو مع نص أو رابط)"),
           ("settings", "لغة العرض والموجز بالأزرار"), ("lang", "لغة العرض: ar أو en أو both"),
           ("digest", "الموجز اليومي: on [الوقت] [المنطقة الزمنية] أو off أو now أو status"),
           ("subscribe", "استلم هنا موجز مجموعة أو قناة: ‎@الاسم"), ("unsubscribe", "أوقف موجزًا تستلمه هنا"),
           ("timeline", "سجل فاعل في هذه المحادثة"), ("track", "نبّهني حين يظهر فاعل في ضغط جديد"),
           ("untrack", "أوقف التنبيه عن فاعل"), ("actors", "الفاعلون في سجل هذه المحادثة"),
           ("forget", "احذف سجل هذه المحادثة وملخصاتها"), ("usage", "استهلاكك اليوم"), ("help", "الدليل الكامل"), ("start", "ما يفعله هذا البوت")],
}


class WatchedRequest(AiohttpRequest):
    """The getUpdates connection, noting when Telegram last answered it (for /healthz)."""

    def __init__(self) -> None:
        super().__init__(connection_pool_size=1)
        self.last_answer = time.monotonic()

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        status, body = await super().do_request(*args, **kwargs)
        if status < 500:
            self.last_answer = time.monotonic()
        return status, body


def startup_problems(settings: Settings) -> list[str]:
    """Everything that stops `newsbot run` before it connects anywhere, named at once."""
    problems = []
    if settings.telegram_bot_token is None:
        problems.append("TELEGRAM_BOT_TOKEN is not set (the bot's token, from @BotFather)")
    elif not TOKEN_FORMAT.match(settings.telegram_bot_token.get_secret_value()):
        problems.append("TELEGRAM_BOT_TOKEN is malformed (expected digits, a colon and the secret, from @BotFather)")
    if not settings.llm_configured:
        problems.append("OPENAI_API_KEY or OPENAI_BASE_URL is not set (the language model's key, or a local "
                        "OpenAI-compatible server's address)")
    return problems


def make_store(settings: Settings) -> Store:
    try:
        return open_store(settings)
    except OSError as exc:
        raise ConfigError(f"cannot write the database at {location(settings)}: {exc.strerror or exc}") from None
    except Exception as exc:  # sqlite3.DatabaseError: not a database, etc.
        raise ConfigError(f"cannot open the database at {location(settings)}: {exc}") from None


async def check_store(store: Store, settings: Settings) -> None:
    """Connect, migrate and write once, or stop with one line (exit 2)."""
    try:
        await store.open()
        await store.ping()
    except StorageUnavailable as exc:
        raise ConfigError(f"cannot write the database at {location(settings)}: {exc}") from None
    except Exception as exc:
        raise ConfigError(f"cannot open the database at {location(settings)}: {exc}") from None


class NewsBot:
    """`role`: "all" takes updates and works them (the default); with a shared store (PostgreSQL),
    "receiver" only takes updates and answers commands, and "worker" only works requests and posts
    digests, as many as wanted."""

    def __init__(self, settings: Settings, *, role: Role = "all", store: Store | None = None,
                 fetcher: Fetcher | None = None, engine: BriefEngine | None = None) -> None:
        if settings.telegram_bot_token is None:
            raise ConfigError("set TELEGRAM_BOT_TOKEN (from @BotFather)")
        self.settings, self.role = settings, role
        self.store = store or make_store(settings)
        if role != "all" and not self.store.shared:
            raise ConfigError(f"--role {role} needs a database that processes share: set DATABASE_URL="
                              "postgresql://… (SQLite serves one process: use `newsbot run` alone)")
        self.fetcher = fetcher or Fetcher(settings)
        self.engine = engine or BriefEngine(settings, LLMClient(settings))
        self.metrics = Metrics()
        self.gate = Gate(settings, self.store)
        self.signer = Signer(settings.telegram_bot_token.get_secret_value().encode())
        self.runner = Runner(settings, self.store, self.gate, self.engine, self.fetcher, self.metrics,
                             self.signer.brief_keyboard)
        self.webhook_secret = (settings.webhook_secret.get_secret_value() if settings.webhook_secret
                               else secrets.token_urlsafe(32))
        redact_also(self.webhook_secret)  # PTB logs setWebhook's parameters at DEBUG
        self.updates_request = WatchedRequest()
        self.app: Application = self._build()  # type: ignore[type-arg]
        self.digests = Digests(self.app, self.store, self.gate, self.runner)
        self.services = Services(settings=settings, store=self.store, gate=self.gate, runner=self.runner,
                                 digests=self.digests, signer=self.signer,
                                 joiner=PasteJoiner(settings.paste_join_window_s), metrics=self.metrics,
                                 llm_concurrency=self.llm_concurrency)
        self.app.bot_data[KEY] = self.services
        ledger.install(self.app, self.store, self.signer, settings.telegram_bot_token.get_secret_value().encode(),
                       self.runner)
        self.engine.llm.on_retry = lambda code: self.metrics.llm_calls.labels(result=f"retried_{code}").inc()
        self.health_server: HealthServer | None = None
        self.poll_timeout = 1
        #: long polling is unhealthy when Telegram has not answered getUpdates for this long
        self.updates_stale_after_s = 30.0

    def _build(self) -> Application:  # type: ignore[type-arg]
        assert self.settings.telegram_bot_token is not None
        app = (
            ApplicationBuilder()
            .token(self.settings.telegram_bot_token.get_secret_value())
            .base_url(self.settings.telegram_api_base_url)
            .base_file_url(self.settings.telegram_file_base_url)
            .request(AiohttpRequest())
            .rate_limiter(SharedRateLimiter(self.store, self.metrics, max_retries=5) if self.store.shared
                          else CountingRateLimiter(self.metrics, max_retries=5))
            .get_updates_request(self.updates_request)
            .concurrent_updates(True)
            .defaults(Defaults(parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True)))
            .build()
        )
        app.add_handler(CommandHandler("start", handlers.on_start))
        app.add_handler(CommandHandler("help", handlers.on_help))
        app.add_handler(CommandHandler("settings", handlers.on_settings))
        app.add_handler(CommandHandler("lang", handlers.on_lang))
        app.add_handler(CommandHandler("usage", handlers.on_usage))
        app.add_handler(CommandHandler("digest", handlers.on_digest))
        app.add_handler(CommandHandler("subscribe", handlers.on_subscribe))
        app.add_handler(CommandHandler("unsubscribe", handlers.on_unsubscribe))
        app.add_handler(CommandHandler("summarize", handlers.on_summarize))
        ledger.add_handlers(app)
        app.add_handler(CallbackQueryHandler(handlers.on_button))
        app.add_handler(MessageHandler(filters.UpdateType.CHANNEL_POST, handlers.on_channel_post))
        app.add_handler(MessageHandler(filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE & ~filters.COMMAND,
                                       handlers.on_private))
        app.add_handler(MessageHandler(filters.ChatType.GROUPS & filters.UpdateType.MESSAGE & ~filters.COMMAND,
                                       handlers.on_group))
        app.add_handler(MessageHandler(filters.ChatType.PRIVATE & filters.COMMAND, handlers.on_unknown_command))
        app.add_error_handler(handlers.on_error)
        return app

    def llm_concurrency(self) -> int:
        limiter = getattr(self.engine.llm, "concurrency", None)
        return int(getattr(limiter, "limit", self.settings.llm_max_concurrency))

    # --- health ---------------------------------------------------------------------------------
    async def health(self) -> str | None:
        """None when healthy, else a short reason (for /healthz)."""
        try:
            await self.store.ping()
        except StorageUnavailable:
            return "the store cannot write"
        if self.role == "worker":
            return None  # a worker takes no updates
        if self.app.updater is None or not self.app.updater.running:
            return "not receiving updates from Telegram"
        silent = time.monotonic() - self.updates_request.last_answer
        if not self.settings.webhook_url and silent > self.poll_timeout + self.updates_stale_after_s:
            return f"Telegram has not answered getUpdates for {silent:.0f} s"
        return None

    async def refresh_gauges(self) -> None:
        with contextlib.suppress(Exception):
            self.metrics.queue_depth.set(await self.store.pending_count())
        self.metrics.llm_concurrency.set(self.llm_concurrency())

    # --- life cycle -----------------------------------------------------------------------------
    async def connect(self, stop: asyncio.Event | None = None) -> bool:
        """Initialize against Telegram, retrying with backoff while it is unreachable; False if stopped."""
        delay = 1.0
        while True:
            try:
                await self.app.initialize()
                return True
            except InvalidToken:
                raise ConfigError("TELEGRAM_BOT_TOKEN was rejected by Telegram (check it with @BotFather)") from None
            except (NetworkError, TimedOut) as exc:
                log.warning("Telegram is unreachable (%s); retrying in %.0f s", type(exc).__name__, delay)
            if stop is None:
                await asyncio.sleep(delay)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                if stop.is_set():
                    return False
            delay = min(delay * 2, 30.0)

    async def start(self, *, stop: asyncio.Event | None = None, poll_timeout: int = 1) -> bool:
        """Connect, register commands, restore schedules, work what is pending, and take updates."""
        await check_store(self.store, self.settings)
        if self.settings.metrics_port is not None and self.health_server is None:
            self.health_server = HealthServer(self.metrics, self.health, self.settings.metrics_listen,
                                              self.settings.metrics_port, refresh=self.refresh_gauges)
            await self.health_server.start()
        if not await self.connect(stop):
            return False
        self.runner.bot = self.app.bot
        for lang, commands in COMMANDS.items() if self.role != "worker" else ():
            try:
                await self.app.bot.set_my_commands([BotCommand(c, d) for c, d in commands],
                                                   language_code=None if lang == "en" else lang)
            except TelegramError as exc:  # the menu is a convenience: the bot works without it
                log.warning("could not register the command menu (%s): %r", lang, exc)
        await self.app.start()
        if self.role != "receiver":
            await self.digests.restore(follow=self.store.shared)
            # one process on SQLite: what the last run claimed is nobody's now; on a shared store,
            # only what this worker's name claimed before a restart
            await self.store.release_all(None if not self.store.shared else self.runner.worker)
            self.runner.start()
        if self.role == "worker":
            log.info("newsbot worker %s is running", self.runner.worker)
            return True
        assert self.app.updater is not None
        if self.settings.webhook_url:
            await self.app.updater.start_webhook(
                listen=self.settings.webhook_listen, port=self.settings.webhook_port, url_path="telegram",
                webhook_url=self.settings.webhook_url.rstrip("/") + "/telegram", secret_token=self.webhook_secret,
                allowed_updates=Update.ALL_TYPES)
        else:
            self.poll_timeout = poll_timeout
            await self.app.updater.start_polling(poll_interval=0.0, timeout=poll_timeout,
                                                 allowed_updates=Update.ALL_TYPES)
        log.info("newsbot is running (%s)", "webhook" if self.settings.webhook_url else "long polling")
        return True

    async def stop(self) -> None:
        """Stop taking updates and end; requests in flight stay pending and resume at the next start."""
        self.runner.closing = True
        try:
            await asyncio.wait_for(self.services.joiner.store_pending(), STORE_CLOSE_S * 2)
        except TimeoutError:
            log.warning("pastes waiting for their next part could not all be stored before the stop")
        await self.runner.cancel_all()
        await self._release()
        try:
            await asyncio.wait_for(self._stop_telegram(), self.settings.shutdown_timeout_s)
        except TimeoutError:
            log.warning("Telegram did not answer while stopping; stopped anyway")
            # cut short before it closed the HTTP sessions, which need no answer from Telegram
            with contextlib.suppress(Exception):
                await self.app.bot.shutdown()
        await self.runner.cancel_all()  # what the last updates started (already stored, not begun)
        await self._release()
        if self.health_server is not None:
            await self.health_server.stop()
        with contextlib.suppress(Exception):
            await self.fetcher.close()
        with contextlib.suppress(Exception):
            await self.engine.llm.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.store.close(), STORE_CLOSE_S)

    async def _release(self) -> None:
        """Give this worker's claims back, so another worker may take them now (not after the lease);
        a database that does not answer does not hold up the stop (the leases run out instead)."""
        with contextlib.suppress(StorageUnavailable, TimeoutError):
            await asyncio.wait_for(self.store.release_all(self.runner.worker), STORE_CLOSE_S)

    async def _stop_telegram(self) -> None:
        if self.app.updater is not None and self.app.updater.running:
            await self.app.updater.stop()
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()
        # a bot that never reached Telegram is not initialized, and the Application leaves its HTTP sessions open
        await self.app.bot.shutdown()


def freeze_startup_objects() -> None:
    """Set what start-up made (modules, the SDKs' thousands of types, settings) outside the cyclic
    garbage collector's view: it lives as long as the process, and a full collection that walked it
    would pause every chat. Once per process."""
    gc.collect()
    gc.freeze()


async def serve(settings: Settings, role: Role = "all") -> None:
    """Run until SIGTERM or SIGINT."""
    bot = NewsBot(settings, role=role)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        if await bot.start(stop=stop, poll_timeout=10):
            freeze_startup_objects()
            await stop.wait()
        log.info("stopping")
    finally:
        await bot.stop()


def run_bot(settings: Settings, role: Role = "all") -> None:
    """`newsbot run`: long polling, or a webhook when WEBHOOK_URL is set."""
    problems = startup_problems(settings)
    if problems:
        raise ConfigError("; ".join(problems))
    setup_logging(settings)
    if settings.database_url and (password := urlsplit(settings.database_url.get_secret_value()).password):
        redact_also(password)
    asyncio.run(serve(settings, role))
