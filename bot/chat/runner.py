"""The request runner: a stored request → article → brief → the chat → done.

Handlers only write requests (through the gate); the runner claims them from the store (one
request per chat at a time, across every process sharing the store, so replies keep their order)
and works them under a lease it renews. The all-in-one `newsbot run` and every `--role worker`
run this same loop. Every failure becomes a clear reply; a request interrupted by shutdown or a
crash stays pending and its status message is edited into the brief by whoever claims it next.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import io
import logging
import os
import socket
import time
import weakref
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import Bot, InlineKeyboardMarkup, ReplyParameters
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

from bot.chat.files import read_telegram_file
from bot.chat.gate import Gate
from bot.chat.rich import RichChoice
from bot.chat.status import DRAFT_INTERVAL_S, Pacer, Status
from bot.engine.article import Article, from_text
from bot.engine.brief import BriefEngine
from bot.engine.preview import Previewer
from bot.engine.schema import BriefEnvelope
from bot.engine.service import BriefService
from bot.ops.config import Settings
from bot.ops.errors import FetchError, LLMError, NewsbotError, StorageUnavailable
from bot.ops.metrics import Metrics
from bot.reading.fetch import Fetcher
from bot.reading.reader import read_url
from bot.render import texts
from bot.render.classic import render_messages
from bot.render.rich import render_rich
from bot.store import Request, Store

log = logging.getLogger(__name__)

#: The pause between starting one claimed request and claiming the next. A claim from SQLite never
#: waits, so without it a burst is claimed and prepared in one turn of the event loop and no LLM
#: request goes out until all are ready; the pause lets each one's connection open meanwhile.
CLAIM_PAUSE_S = 0.001
#: at shutdown, how long cancelled work gets to end before the stop goes on without it
CANCEL_WAIT_S = 5.0


def error_text(exc: NewsbotError, view: texts.View = "both") -> str:
    """A failure in the chat's language; a detail is shown only when it exists in both languages."""
    ar = exc.ar + (f" ({exc.detail_ar})" if exc.detail_ar else "")
    en = exc.en + (f" ({exc.detail})" if exc.detail and exc.detail_ar else "")
    return "⚠️ " + texts.both(html.escape(ar), html.escape(en), view)


class ChatLocks:
    """One asyncio lock per chat; it lives while some task holds or awaits it, so idle chats cost nothing."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    def __call__(self, chat_id: int) -> asyncio.Lock:
        lock = self._locks.get(chat_id)
        if lock is None:
            lock = self._locks[chat_id] = asyncio.Lock()
        return lock


class Runner:
    def __init__(self, settings: Settings, store: Store, gate: Gate, engine: BriefEngine, fetcher: Fetcher,
                 metrics: Metrics, keyboard: Callable[[int, int], InlineKeyboardMarkup], *,
                 worker: str | None = None) -> None:
        self.settings, self.store, self.gate = settings, store, gate
        self.engine, self.fetcher, self.metrics, self.keyboard = engine, fetcher, metrics, keyboard
        self.service = BriefService(settings, store, engine)
        self.pacer = Pacer()
        self.draft_pacer = Pacer(DRAFT_INTERVAL_S)
        self.rich = RichChoice(settings)
        self.bot: Bot | None = None
        #: in this process, a chat's request and its digest do not interleave (claims order requests)
        self.chat_lock = ChatLocks()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._lasting: set[asyncio.Task[Any]] = set()  # of them, the loops that last as long as the process
        self._working: set[asyncio.Task[Any]] = set()  # claimed requests at work
        self._noting: dict[int, asyncio.Task[Any]] = {}  # request → its status message id being stored
        self._wake = asyncio.Event()
        #: this process's name on its claims (WORKER_NAME, else host:pid)
        self.worker = worker or settings.worker_name or f"{socket.gethostname()}:{os.getpid()}"
        self.closing = False
        #: called with each brief delivered or collected in a chat, after its request is done (the ledger)
        self.after_brief: Callable[[Bot, Request, int, BriefEnvelope], Coroutine[Any, Any, None]] | None = None

    # --- tasks ----------------------------------------------------------------------------------
    def spawn(self, coro: Coroutine[Any, Any, Any], *, lasting: bool = False) -> asyncio.Task[Any]:
        """Background work the runner owns, cancelled at shutdown (requests then stay pending).
        `lasting`: a loop that runs as long as the process (claiming work, following schedules).

        Once shutdown has begun nothing new starts: updates PTB still hands over while it stops
        are admitted (stored) but their work waits for the next start.
        """
        task = asyncio.get_running_loop().create_task(coro)
        if self.closing:
            task.cancel()
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if lasting:
            self._lasting.add(task)
            task.add_done_callback(self._lasting.discard)
        return task

    @property
    def busy(self) -> bool:
        """Some work is under way: a request, a status message's timer or edit, a paste's wait."""
        return any(t not in self._lasting for t in self._tasks)

    async def cancel_all(self) -> None:
        self.closing = True
        self._wake.set()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if not tasks:
            return
        # a task that will not end (a library swallowing the cancel) must not hold up the stop: its
        # stack goes to the log, and the process ends anyway
        done, stuck = await asyncio.wait(tasks, timeout=CANCEL_WAIT_S)
        for task in done:
            if not task.cancelled():
                task.exception()  # retrieved: what a task failed with was logged where it failed
        for task in stuck:
            stack = io.StringIO()
            task.print_stack(file=stack)
            log.error("a task did not end when cancelled at shutdown:\n%s", stack.getvalue())
            self._tasks.discard(task)  # the stop goes on without it, and does not wait for it again

    # --- claiming work --------------------------------------------------------------------------
    def start(self) -> asyncio.Task[Any]:
        """Work what the store holds, now and as it comes (the all-in-one process and every worker)."""
        return self.spawn(self._claim_loop(), lasting=True)

    async def _claim_loop(self) -> None:
        cap = self.settings.worker_concurrency
        while not self.closing:
            if len(self._working) >= cap:
                self._wake.clear()
                await self._wake.wait()  # a request finished
                continue
            try:
                req = await self.store.claim(self.worker, self.settings.worker_lease_s)
            except StorageUnavailable as exc:
                log.warning("cannot claim work (%s); trying again in %.0f s", exc, self.settings.worker_poll_s)
                await asyncio.sleep(self.settings.worker_poll_s)
                continue
            if req is None:
                await self.store.wait_for_work(self.settings.worker_poll_s)
                continue
            task = self.spawn(self._work(req))
            self._working.add(task)
            task.add_done_callback(self._done_working)
            # a turn of the loop with time for I/O before the next claim (see CLAIM_PAUSE_S)
            await asyncio.sleep(CLAIM_PAUSE_S)

    def _done_working(self, task: asyncio.Task[Any]) -> None:
        self._working.discard(task)
        self._wake.set()

    async def _work(self, req: Request) -> None:
        """One claimed request, its lease renewed meanwhile; if the lease is lost, another worker
        has the request and this one stops before it could reply twice."""
        work = asyncio.current_task()
        assert work is not None

        async def keep_lease() -> None:
            every = self.settings.worker_lease_s / 3
            while True:
                await asyncio.sleep(every)
                try:
                    if not await self.store.renew(req.id, self.worker, self.settings.worker_lease_s):
                        log.warning("request %s: lease lost to another worker; stopping here", req.id)
                        work.cancel()
                        return
                except StorageUnavailable:
                    pass  # the lease may still be renewed in time

        lease = asyncio.get_running_loop().create_task(keep_lease())
        try:
            await self.process(req)
        finally:
            lease.cancel()

    # --- cache or compute (bot/engine/service.py decides) ------------------------------------------------
    async def article(self, payload: dict[str, Any]) -> Article:
        if "url" in payload:
            return await read_url(payload["url"], self.fetcher)
        if "file" in payload:
            assert self.bot is not None
            return await read_telegram_file(self.bot, payload, self.settings)
        return from_text(payload.get("text", ""), "telegram", min_chars=self.settings.article_min_chars)

    async def brief(self, payload: dict[str, Any], progress: Callable[[str], Coroutine[Any, Any, None]],
                    preview: Previewer | None = None) -> tuple[int, BriefEnvelope, bool]:
        """From the store when the same link (recently) or the same text was briefed before by the
        same model and prompts and with the same publisher and caption; else read the article and ask
        the LLM."""
        done = await self.service.brief(lambda: self.article(payload), url=payload.get("url"), progress=progress,
                                        publisher=payload.get("publisher_hint"),
                                        caption=payload.get("caption") if "file" in payload else None, preview=preview)
        return done.brief_id, done.envelope, done.cached

    # --- one request ----------------------------------------------------------------------------
    async def process(self, req: Request) -> None:
        """One request from the store to the chat; every failure becomes a clear reply."""
        assert self.bot is not None
        async with self.chat_lock(req.chat_id):
            if await self.store.request_status(req.id) != "pending":
                return  # finished meanwhile (by the copy this process held when its lease ran out)
            if not self.gate.allowed(req.chat_id, req.user_id, req.mode):
                # the allow-list changed since it was accepted: no tokens for it
                await self.store.finish_request(req.id, "failed", error="not_allowed")
                return
            attempts = req.attempts  # counted by the claim, so a crash mid-work still counts
            quiet = req.mode == "collect"
            reply = ReplyParameters(message_id=req.message_id, allow_sending_without_reply=True) \
                if req.message_id else None
            chat = await self.store.chat(req.chat_id)
            view = texts.view_of(chat.lang)
            # a private chat that gets rich messages sees drafts (the brief forming) instead of a
            # status message; drafts exist in private chats only, and a resumed request has its message
            drafts = req.chat_id > 0 and req.status_message_id is None and self.rich.wants(req.chat_id, chat.format)
            status = None if quiet else Status(
                self.bot, req.chat_id, pacer=self.pacer, grace_s=self.settings.status_grace_s,
                typing_every_s=self.settings.typing_interval_s, reply=reply, thread_id=req.thread_id,
                message_id=req.status_message_id, spawn=self.spawn, on_shown=lambda mid: self._shown(req, mid),
                draft_id=req.id if drafts else None, view=view, draft_pacer=self.draft_pacer)
            if attempts > self.settings.request_max_attempts:
                await self._give_up(req, attempts - 1, status, view)
                return
            started = time.monotonic()
            try:
                if status is not None:
                    status.begin()
                brief_id, env, cached = await self.brief(req.payload, status.stage if status else _quiet,
                                                         status.preview if status and drafts else None)
                usage = env.provenance.usage
                if quiet:
                    # the digest links to what was shared (the URL, or the post on t.me) and names its publisher
                    await self.store.add_digest_item(req.chat_id, brief_id,
                                               link=req.payload.get("url") or req.payload.get("link"),
                                               outlet=req.payload.get("publisher_hint"))
                else:
                    assert status is not None
                    # one rich message, unless the chat is classic or part of a classic reply is out
                    rich = render_rich(env, view) if req.delivered_parts == 0 and \
                        self.rich.wants(req.chat_id, chat.format) else None
                    await status.settle()  # a progress edit must not take the brief's turn meanwhile
                    await self._noted(req)
                    # fencing: if the lease ran out while this process was slow, another worker has
                    # the request now, and a second brief must not go out
                    if self.store.shared and not await self.store.renew(req.id, self.worker,
                                                                        self.settings.worker_lease_s):
                        log.warning("request %s: lease lost before replying; another worker has it", req.id)
                        return
                    markup = self.keyboard(req.chat_id, brief_id)
                    if rich is None or not await status.finish_rich(
                            rich, markup, lambda exc: self.rich.refused(req.chat_id, exc)):
                        messages = render_messages(env, view)
                        await status.finish(messages, markup, shown=req.delivered_parts,
                                            on_part=lambda n: self._delivered(req, n, len(messages)))
                await self.store.finish_request(req.id, "done", brief_id=brief_id,
                                          prompt_tokens=0 if cached else usage.prompt_tokens,
                                          completion_tokens=0 if cached else usage.completion_tokens)
                self._count_brief(env, cached)
                if self.after_brief is not None:
                    await self.after_brief(self.bot, req, brief_id, env)
                log.info("brief delivered", extra={"fields": {
                    "request": req.id, "chat": req.chat_id, "brief": brief_id, "cached": cached,
                    "seconds": round(time.monotonic() - started, 3), "model": env.provenance.model,
                    "tokens": 0 if cached else usage.total_tokens, "mode": req.mode}})
            except NewsbotError as exc:
                await self._fail(req, exc)
                if status is not None and not isinstance(exc, StorageUnavailable):
                    await self._say_failure(status, error_text(exc, view), req)
            except (BadRequest, Forbidden) as exc:
                # permanent: retrying would fail the same way (bot removed, message gone)
                log.warning("request %s: Telegram refused: %s", req.id, exc)
                self.metrics.telegram_errors.labels(kind="refused").inc()
                self.metrics.requests.labels(outcome="telegram").inc()
                await self.store.finish_request(req.id, "failed", error="telegram")
            except TelegramError as exc:
                # transient (network, flood control beyond the limiter): any worker tries again later
                log.warning("request %s: Telegram error %r; will retry", req.id, exc)
                self.metrics.telegram_errors.labels(kind=type(exc).__name__).inc()
                if isinstance(exc, RetryAfter):
                    self.metrics.flood_waits.inc()
                with contextlib.suppress(StorageUnavailable):
                    await self.store.release(req.id, self.worker, retry_in_s=min(60.0, 2.0 * attempts))
            except Exception:
                log.exception("request %s failed", req.id)
                await self._fail(req, NewsbotError("internal"))
                if status is not None:
                    await self._say_failure(status, error_text(NewsbotError(), view), req)
            finally:
                if status is not None:
                    status.close()

    def _shown(self, req: Request, message_id: int) -> None:
        # in memory too: a retry after a Telegram error edits this message instead of sending anew
        req.status_message_id = message_id
        self._noting[req.id] = self.spawn(self.store.set_status_message(req.id, message_id))

    async def _delivered(self, req: Request, parts: int, of: int) -> None:
        # a worker taking the request over after a crash sends only the parts not yet in the chat;
        # the last part needs no note of its own: finishing the request follows at once
        if parts < of:
            await self.store.set_delivered(req.id, parts)

    async def _noted(self, req: Request) -> None:
        """The status message's id is in the store before the brief goes into it: a worker that takes
        the request over after a crash then edits that message instead of sending a second brief."""
        task = self._noting.pop(req.id, None)
        if task is not None:
            await task

    async def _say_failure(self, status: Status, text: str, req: Request) -> None:
        """The failure reply; if Telegram refuses even that, the log says so (the request is closed)."""
        try:
            await status.finish([text])
        except TelegramError as exc:
            log.warning("request %s: could not send its failure reply: %r", req.id, exc)

    async def view(self, chat_id: int) -> texts.View:
        return texts.view_of((await self.store.chat(chat_id)).lang)

    async def _fail(self, req: Request, exc: NewsbotError) -> None:
        log.info("request failed", extra={"fields": {"request": req.id, "chat": req.chat_id, "error": exc.code}})
        self.metrics.requests.labels(outcome=exc.code).inc()
        if isinstance(exc, FetchError):
            self.metrics.fetch_failures.labels(kind=exc.code).inc()
        elif isinstance(exc, LLMError):
            self.metrics.llm_calls.labels(result=exc.code).inc()
        try:
            await self.store.finish_request(req.id, "failed", error=exc.code)
        except StorageUnavailable:
            log.warning("request %s: could not record its failure; it stays pending", req.id)

    def _count_brief(self, env: BriefEnvelope, cached: bool) -> None:
        m = self.metrics
        m.requests.labels(outcome="done").inc()
        m.briefs.labels(kind="cached" if cached else "fresh").inc()
        if not cached:
            m.llm_calls.labels(result="ok").inc(env.provenance.llm_calls)
            m.llm_seconds.observe(env.provenance.llm_seconds)
            m.check_seconds.observe(env.provenance.check_seconds)
            m.tokens.labels(kind="prompt").inc(env.provenance.usage.prompt_tokens)
            m.tokens.labels(kind="completion").inc(env.provenance.usage.completion_tokens)

    async def _give_up(self, req: Request, failures: int, status: Status | None, view: texts.View) -> None:
        """A request that failed (or crashed the bot) too often: stop, and say so."""
        await self.store.finish_request(req.id, "failed", error="gave up")
        self.metrics.requests.labels(outcome="gave_up").inc()
        if status is not None:
            await status.finish(["⚠️ " + texts.say("gave_up", view, **texts.counts(failures, texts.ATTEMPTS,
                                                                                   "attempts"))])


async def _quiet(stage: str) -> None:
    return None
