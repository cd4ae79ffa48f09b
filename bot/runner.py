"""The request runner: a stored request → article → brief → the chat → done.

Handlers only write requests (through the gate); the runner works them, one at a time per chat
so replies keep their order, and resumes what an earlier run left pending. Every failure becomes
a clear reply; a request interrupted by shutdown stays pending and its status message is edited
into the brief by the next run.
"""

from __future__ import annotations

import asyncio
import html
import logging
import time
import weakref
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import Bot, InlineKeyboardMarkup, ReplyParameters
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

from bot import texts
from bot.article import Article, from_text
from bot.brief import BriefEngine
from bot.config import Settings
from bot.errors import FetchError, LLMError, NewsbotError, StorageUnavailable
from bot.fetch import Fetcher
from bot.gate import Gate
from bot.metrics import Metrics
from bot.reader import read_url
from bot.render import render_messages
from bot.schema import BriefEnvelope
from bot.service import BriefService
from bot.status import Pacer, Status
from bot.store import Request, Store

log = logging.getLogger(__name__)


def error_text(exc: NewsbotError, view: texts.View = "both") -> str:
    """A failure in the chat's language; a detail is shown only when it exists in both languages."""
    ar = exc.ar + (f" ({exc.detail_ar})" if exc.detail_ar else "")
    en = exc.en + (f" ({exc.detail})" if exc.detail and exc.detail_ar else "")
    return "⚠️ " + texts.both(html.escape(ar), html.escape(en), view)


class Runner:
    def __init__(self, settings: Settings, store: Store, gate: Gate, engine: BriefEngine, fetcher: Fetcher,
                 metrics: Metrics, keyboard: Callable[[int, int], InlineKeyboardMarkup]) -> None:
        self.settings, self.store, self.gate = settings, store, gate
        self.engine, self.fetcher, self.metrics, self.keyboard = engine, fetcher, metrics, keyboard
        self.service = BriefService(settings, store, engine)
        self.pacer = Pacer()
        self.bot: Bot | None = None
        # a chat's lock lives while some task holds or awaits it, so idle chats cost nothing
        self._chat_locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.closing = False

    # --- tasks ----------------------------------------------------------------------------------
    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Background work the runner owns, cancelled at shutdown (requests then stay pending).

        Once shutdown has begun nothing new starts: updates PTB still hands over while it stops
        are admitted (stored) but their work waits for the next start.
        """
        task = asyncio.get_running_loop().create_task(coro)
        if self.closing:
            task.cancel()
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def submit(self, req: Request) -> None:
        self.spawn(self.process(req))

    async def cancel_all(self) -> None:
        self.closing = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def chat_lock(self, chat_id: int) -> asyncio.Lock:
        lock = self._chat_locks.get(chat_id)
        if lock is None:
            lock = self._chat_locks[chat_id] = asyncio.Lock()
        return lock

    def resume(self) -> int:
        """Pick up requests that an earlier run accepted but never finished."""
        pending = self.store.pending_requests()
        if pending:
            log.info("resuming %d unfinished request(s)", len(pending))
        for req in pending:
            self.submit(req)
        return len(pending)

    # --- cache or compute (bot/service.py decides) ------------------------------------------------
    async def article(self, payload: dict[str, Any]) -> Article:
        if "url" in payload:
            article = await read_url(payload["url"], self.fetcher)
        else:
            article = from_text(payload.get("text", ""), "telegram", min_chars=self.settings.article_min_chars)
        article.publisher_hint = payload.get("publisher_hint")
        return article

    async def brief(self, payload: dict[str, Any], progress: Callable[[str], Coroutine[Any, Any, None]]
                    ) -> tuple[int, BriefEnvelope, bool]:
        """From the store when the same link (recently) or the same text was briefed before by the
        same model and prompts; else read the article and ask the LLM."""
        done = await self.service.brief(lambda: self.article(payload), url=payload.get("url"), progress=progress)
        return done.brief_id, done.envelope, done.cached

    # --- one request ----------------------------------------------------------------------------
    async def process(self, req: Request) -> None:
        """One request from the store to the chat; every failure becomes a clear reply."""
        assert self.bot is not None
        async with self.chat_lock(req.chat_id):
            if self.store.request_status(req.id) != "pending":
                return  # already finished by an earlier run
            if not self.gate.allowed(req.chat_id, req.user_id):
                # the allow-list changed since it was accepted: no tokens for it
                self.store.finish_request(req.id, "failed", error="not_allowed")
                return
            try:
                attempts = self.store.start_attempt(req.id)
            except StorageUnavailable:
                log.warning("request %s: the store cannot write; it waits for the next start", req.id)
                return
            quiet = req.mode == "collect"
            reply = ReplyParameters(message_id=req.message_id, allow_sending_without_reply=True) \
                if req.message_id else None
            status = None if quiet else Status(
                self.bot, req.chat_id, pacer=self.pacer, grace_s=self.settings.status_grace_s,
                typing_every_s=self.settings.typing_interval_s, reply=reply, thread_id=req.thread_id,
                message_id=req.status_message_id, spawn=self.spawn, on_shown=lambda mid: self._shown(req, mid))
            view = self.view(req.chat_id)
            if attempts > self.settings.request_max_attempts:
                await self._give_up(req, attempts - 1, status, view)
                return
            started = time.monotonic()
            try:
                if status is not None:
                    status.begin()
                brief_id, env, cached = await self.brief(req.payload, status.stage if status else _quiet)
                usage = env.provenance.usage
                if quiet:
                    # the digest links to what was shared (the URL, or the post on t.me) and names its publisher
                    self.store.add_digest_item(req.chat_id, brief_id,
                                               link=req.payload.get("url") or req.payload.get("link"),
                                               outlet=req.payload.get("publisher_hint"))
                else:
                    assert status is not None
                    messages = render_messages(env, view)
                    await status.finish(messages, self.keyboard(req.chat_id, brief_id))
                self.store.finish_request(req.id, "done", brief_id=brief_id,
                                          prompt_tokens=0 if cached else usage.prompt_tokens,
                                          completion_tokens=0 if cached else usage.completion_tokens)
                self._count_brief(env, cached)
                log.info("brief delivered", extra={"fields": {
                    "request": req.id, "chat": req.chat_id, "brief": brief_id, "cached": cached,
                    "seconds": round(time.monotonic() - started, 3), "model": env.provenance.model,
                    "tokens": 0 if cached else usage.total_tokens, "mode": req.mode}})
            except NewsbotError as exc:
                self._fail(req, exc)
                if status is not None and not isinstance(exc, StorageUnavailable):
                    await self._say_failure(status, error_text(exc, view), req)
            except (BadRequest, Forbidden) as exc:
                # permanent: retrying would fail the same way (bot removed, message gone)
                log.warning("request %s: Telegram refused: %s", req.id, exc)
                self.metrics.telegram_errors.labels(kind="refused").inc()
                self.metrics.requests.labels(outcome="telegram").inc()
                self.store.finish_request(req.id, "failed", error="telegram")
            except TelegramError as exc:
                # transient (network, flood control beyond the limiter): try again later
                log.warning("request %s: Telegram error %r; will retry", req.id, exc)
                self.metrics.telegram_errors.labels(kind=type(exc).__name__).inc()
                if isinstance(exc, RetryAfter):
                    self.metrics.flood_waits.inc()
                self.spawn(self._retry_later(req, attempts))
            except Exception:
                log.exception("request %s failed", req.id)
                self._fail(req, NewsbotError("internal"))
                if status is not None:
                    await self._say_failure(status, error_text(NewsbotError(), view), req)
            finally:
                if status is not None:
                    status.close()

    def _shown(self, req: Request, message_id: int) -> None:
        # in memory too: a retry after a Telegram error edits this message instead of sending anew
        req.status_message_id = message_id
        self.store.set_status_message(req.id, message_id)

    async def _say_failure(self, status: Status, text: str, req: Request) -> None:
        """The failure reply; if Telegram refuses even that, the log says so (the request is closed)."""
        try:
            await status.finish([text])
        except TelegramError as exc:
            log.warning("request %s: could not send its failure reply: %r", req.id, exc)

    def view(self, chat_id: int) -> texts.View:
        return texts.view_of(self.store.chat(chat_id).lang)

    def _fail(self, req: Request, exc: NewsbotError) -> None:
        log.info("request failed", extra={"fields": {"request": req.id, "chat": req.chat_id, "error": exc.code}})
        self.metrics.requests.labels(outcome=exc.code).inc()
        if isinstance(exc, FetchError):
            self.metrics.fetch_failures.labels(kind=exc.code).inc()
        elif isinstance(exc, LLMError):
            self.metrics.llm_calls.labels(result=exc.code).inc()
        try:
            self.store.finish_request(req.id, "failed", error=exc.code)
        except StorageUnavailable:
            log.warning("request %s: could not record its failure; it stays pending", req.id)

    def _count_brief(self, env: BriefEnvelope, cached: bool) -> None:
        m = self.metrics
        m.requests.labels(outcome="done").inc()
        m.briefs.labels(kind="cached" if cached else "fresh").inc()
        if not cached:
            m.llm_calls.labels(result="ok").inc(env.provenance.llm_calls)
            m.llm_seconds.observe(env.provenance.llm_seconds)
            m.tokens.labels(kind="prompt").inc(env.provenance.usage.prompt_tokens)
            m.tokens.labels(kind="completion").inc(env.provenance.usage.completion_tokens)

    async def _give_up(self, req: Request, failures: int, status: Status | None, view: texts.View) -> None:
        """A request that failed (or crashed the bot) too often: stop, and say so."""
        self.store.finish_request(req.id, "failed", error="gave up")
        self.metrics.requests.labels(outcome="gave_up").inc()
        if status is not None:
            await status.finish(["⚠️ " + texts.say("gave_up", view, **texts.counts(failures, texts.ATTEMPTS,
                                                                                   "attempts"))])

    async def _retry_later(self, req: Request, attempts: int) -> None:
        await asyncio.sleep(min(60.0, 2.0 * attempts))
        await self.process(req)


async def _quiet(stage: str) -> None:
    return None
