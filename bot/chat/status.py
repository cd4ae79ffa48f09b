"""One request's progress in the chat: a status message only when the work is slow.

A quick brief (cached, or a fast model) arrives as one new message and costs one `sendMessage`.
When the brief is not ready after the grace period, a status message appears and later becomes
the brief (one `sendMessage`, one final edit); while Telegram's rate limits are busy (a burst of
work), the status message waits for room, and a brief ready before that comes as new messages.
Slow work refreshes the typing action while Telegram's rate limits have room to spare (it never
waits in their queue). A status message belongs to one request: once its brief is shown, nothing
edits it again.

A private chat that gets rich messages has no status message: the brief forms as a draft
(sendRichMessageDraft), the model's headline and summary as soon as they are written, then its
pressures and positions, labelled as not yet checked, with the stage the work is at, and the
checked brief follows as one rich message.
Drafts are progress too: they yield to finished briefs while Telegram's budget is busy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from telegram import Bot, InlineKeyboardMarkup, ReplyParameters
from telegram.constants import ChatAction
from telegram.error import BadRequest, EndPointNotFound, TelegramError

from bot.chat import rich as wire
from bot.engine.preview import Preview
from bot.render import texts
from bot.render.rich import RichMessage, render_draft

log = logging.getLogger(__name__)

#: typing is cosmetic: it is sent only while at most this share of Telegram's budget is in use (a
#: quarter: when many chats refresh at once, most of the budget stays for the briefs coming next)
TYPING_MAX_USE = 0.25
#: a status message waits while more than this share is in use: in a burst, a third of every slow
#: two-part brief's calls would go to showing progress and slow every brief by as much; the brief
#: that comes first needs no status message at all
STATUS_MAX_USE = 0.5
#: drafts of one chat at most this often (each is one rate-limited call, like an edit)
DRAFT_INTERVAL_S = 0.4
#: Telegram shows a draft for 30 s: one this old is sent again while the work goes on
DRAFT_REFRESH_S = 20.0
#: the model's first words show this long after they are read unless the brief is done by then:
#: a quick model's brief (or one whose answer came all at once) costs its one call only, a
#: streaming one's headline shows within half a second
PREVIEW_WAIT_S = 0.3


def has_room(bot: Bot, chat_id: int, share: float = TYPING_MAX_USE) -> bool:
    """Whether Telegram's limits, as this bot's rate limiter counts them, are used at most `share`:
    overall, and in a group its own per-group budget too. A call made then never waits in the
    limiter's queue, so it cannot delay anyone's brief. A limiter may answer for itself with a
    `has_room(chat_id, share)` method (one that shares its budget with other processes); a bot
    without a limiter always has room."""
    limiter = getattr(bot, "rate_limiter", None)
    if limiter is None:
        return True
    own = getattr(limiter, "has_room", None)
    if callable(own):
        return bool(own(chat_id, share))
    buckets = [getattr(limiter, "_base_limiter", None)]
    if chat_id < 0:
        groups = getattr(limiter, "_group_limiters", {})
        buckets.append(groups.get(chat_id) if isinstance(groups, dict) else None)
    for bucket in buckets:
        if bucket is None or not hasattr(bucket, "has_capacity"):
            continue  # no such limit (or a group that has not been written to yet: all of it is free)
        if not bucket.has_capacity(max(1.0, bucket.max_rate * (1 - share))):
            return False
    return True


class Pacer:
    """At most one edit per chat per interval: Telegram throttles edits in one chat."""

    def __init__(self, interval_s: float = 1.0) -> None:
        self.interval_s = interval_s
        self._last: dict[int, float] = {}

    def mark(self, chat_id: int) -> None:
        now = self._last[chat_id] = time.monotonic()
        if len(self._last) > 10_000:  # forget chats whose last edit no longer limits anything
            self._last = {c: t for c, t in self._last.items() if now - t < self.interval_s}

    def undo(self, chat_id: int) -> None:
        """Forget the last mark: the edit it paced was refused, so the next one goes at once."""
        self._last.pop(chat_id, None)

    async def turn(self, chat_id: int) -> None:
        wait = self._last.get(chat_id, 0.0) + self.interval_s - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        self.mark(chat_id)


class Status:
    """Typing, status message and final delivery of one request."""

    def __init__(self, bot: Bot, chat_id: int, *, pacer: Pacer, grace_s: float, typing_every_s: float,
                 reply: ReplyParameters | None = None, thread_id: int | None = None,
                 message_id: int | None = None, on_shown: Callable[[int], None] | None = None,
                 spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]] = asyncio.create_task,
                 draft_id: int | None = None, view: texts.View = "both", draft_pacer: Pacer | None = None) -> None:
        self.bot, self.chat_id, self.pacer = bot, chat_id, pacer
        self.grace_s, self.typing_every_s = grace_s, typing_every_s
        self.reply, self.thread_id = reply, thread_id
        self.message_id = message_id  # set: a resumed request's status message, edited into its brief
        self.on_shown = on_shown
        self.spawn = spawn
        self._stage = "reading"
        self._shown_stage: str | None = "resumed" if message_id else None
        self._done = False
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._edit_task: asyncio.Task[None] | None = None
        # drafts (a private chat that gets rich messages): progress streamed instead of a status message
        self.draft_id, self.view = draft_id, view
        self.draft_pacer = draft_pacer or Pacer(DRAFT_INTERVAL_S)
        self._preview: Preview | None = None
        self._drafted: tuple[str, Preview | None] | None = None
        self._drafted_at = 0.0
        self._draft_task: asyncio.Task[None] | None = None

    def begin(self) -> None:
        """Start the clock: the status message after the grace period, typing while it stays slow."""
        if self.message_id is None:
            self._tasks.append(self.spawn(self._show_after_grace()))
        self._tasks.append(self.spawn(self._keep_typing()))

    async def stage(self, name: str) -> None:
        """The pipeline moved on (the brief engine's progress callback); a shown status message follows."""
        self._stage = name
        self._request_edit()
        self._request_draft()

    def preview(self, seen: Preview) -> None:
        """What the model has written so far (the brief engine's preview callback)."""
        self._preview = seen
        self._request_draft()

    def _request_draft(self) -> None:
        # one draft call at a time; it shows whatever is newest by then. Only the model's own words
        # are worth a call: a stage alone would be a status message's call in every slow brief, and
        # in a burst those calls come just before the briefs that need Telegram's budget
        if self.draft_id is None or self._done or self._draft_task is not None or self._preview is None:
            return
        self._draft_task = self.spawn(self._send_drafts(0.0 if self._drafted else PREVIEW_WAIT_S))

    async def _send_drafts(self, wait: float) -> None:
        try:
            if wait:
                await asyncio.sleep(wait)
            while not self._done:
                shown = (self._stage, self._preview)
                stale = time.monotonic() - self._drafted_at > DRAFT_REFRESH_S
                if shown == self._drafted and not stale:
                    return
                # progress yields to finished briefs: no draft while Telegram's budget is busy
                if not has_room(self.bot, self.chat_id, STATUS_MAX_USE):
                    return
                await self.draft_pacer.turn(self.chat_id)
                if self._done:
                    return
                shown = (self._stage, self._preview)
                draft = render_draft(self._stage_text(), self.view, self._preview)
                assert self.draft_id is not None
                self._drafted, self._drafted_at = shown, time.monotonic()
                try:
                    await wire.draft(self.bot, self.chat_id, self.draft_id, draft, thread_id=self.thread_id)
                except TelegramError:
                    return  # cosmetic: the brief still comes, as rich or classic
        finally:
            self._draft_task = None

    def _request_edit(self) -> None:
        # one pending edit at most, throttled per chat; it shows whatever stage is current by then.
        # A resumed status message shows an unknown stage, so it is only edited into the brief.
        if self.message_id is not None and self._shown_stage != "resumed" and not self._done \
                and self._edit_task is None:
            self._edit_task = self.spawn(self._edit_stage())

    async def settle(self) -> None:
        """The result is next: no more progress edits (a status message being sent is waited for)."""
        async with self._lock:
            self._done = True
        self.close()

    async def finish(self, messages: list[str], markup: InlineKeyboardMarkup | None = None, *, shown: int = 0,
                     on_part: Callable[[int], Awaitable[None]] | None = None) -> None:
        """Show the result: the status message becomes its first part, or all parts are new messages.

        `shown`: parts already in the chat (an earlier attempt died while sending them); only the
        rest go out. `on_part(n)` is awaited once the first n parts are in the chat.
        """
        await self.settle()
        done = min(shown, len(messages))
        if self.message_id is not None and done == 0:
            await self.pacer.turn(self.chat_id)
            if await self._edit(messages[0], markup if len(messages) == 1 else None):
                done = 1
                if on_part is not None:
                    await on_part(done)
        for i in range(done, len(messages)):
            await self.bot.send_message(self.chat_id, messages[i], reply_parameters=self.reply,
                                        message_thread_id=self.thread_id,
                                        reply_markup=markup if i == len(messages) - 1 else None)
            if on_part is not None:
                await on_part(i + 1)

    async def finish_rich(self, message: RichMessage, markup: InlineKeyboardMarkup | None,
                          refused: Callable[[TelegramError], None]) -> bool:
        """Show the result as one rich message: the status message becomes it where it can.

        False when Telegram refuses rich messages (`refused` is told why): nothing new is in the
        chat then, and the caller sends the same result classic, into the same status message.
        """
        await self.settle()
        if self.message_id is not None:
            await self.pacer.turn(self.chat_id)
            try:
                await wire.edit(self.bot, self.chat_id, self.message_id, message, markup)
                return True
            except BadRequest as exc:
                text = str(exc).lower()
                if "not modified" in text:
                    return True
                if "not found" not in text and "can't be edited" not in text:
                    # a server without rich messages ignores rich_message and finds no text
                    self.pacer.undo(self.chat_id)
                    refused(exc)
                    return False
                # the status message is gone (deleted by someone): the brief comes as a new message
        try:
            await wire.send(self.bot, self.chat_id, message, reply=self.reply, thread_id=self.thread_id, markup=markup)
        except (BadRequest, EndPointNotFound) as exc:
            if not wire.refusal(exc):
                raise
            refused(exc)
            return False
        return True

    def close(self) -> None:
        """Stop typing and pending edits (also when the request is interrupted)."""
        self._done = True
        for task in [*self._tasks, self._edit_task, self._draft_task]:
            if task is not None and not task.done():
                task.cancel()
        self._tasks.clear()
        self._edit_task = self._draft_task = None

    # --- background -----------------------------------------------------------------------------
    async def _show_after_grace(self) -> None:
        await asyncio.sleep(self.grace_s)
        if self.draft_id is not None:
            return  # a private chat with rich messages: drafts of the model's words, no status message
        while not has_room(self.bot, self.chat_id, STATUS_MAX_USE):
            await asyncio.sleep(self.typing_every_s)
            if self._done:
                return
        async with self._lock:
            if self._done:
                return
            try:
                sent = await self.bot.send_message(self.chat_id, self._stage_text(), reply_parameters=self.reply,
                                                   message_thread_id=self.thread_id)
            except TelegramError as exc:
                # progress only: the brief then comes as a new message (a background task's error
                # would otherwise go unread)
                log.info("chat %s: no status message (%r)", self.chat_id, exc)
                return
            self.pacer.mark(self.chat_id)
            self.message_id, self._shown_stage = sent.message_id, self._stage
        if self.on_shown is not None:
            self.on_shown(sent.message_id)

    async def _keep_typing(self) -> None:
        # Telegram shows "typing" for 5 s; only slow work needs it next to the status message. It is
        # cosmetic: skipped while the rate limiter is busy, so that it never takes a brief's turn.
        while True:
            await asyncio.sleep(self.grace_s + self.typing_every_s if not self._shown_stage else self.typing_every_s)
            if self._done:
                return
            if self.draft_id is not None:
                self._request_draft()  # a draft older than DRAFT_REFRESH_S is shown again
            if not has_room(self.bot, self.chat_id):
                continue
            with contextlib.suppress(Exception):  # cosmetic: never fail a brief over it
                await self.bot.send_chat_action(self.chat_id, ChatAction.TYPING, message_thread_id=self.thread_id)

    async def _edit_stage(self) -> None:
        try:
            await self.pacer.turn(self.chat_id)
            async with self._lock:
                if self._done or self._stage == self._shown_stage:
                    return
                self._shown_stage = self._stage
                await self._edit(self._stage_text(), None)
        finally:
            self._edit_task = None

    def _stage_text(self) -> str:
        return texts.say(f"stage_{self._stage}")

    async def _edit(self, text: str, markup: InlineKeyboardMarkup | None) -> bool:
        """False when the status message is gone (deleted by someone): the caller sends anew."""
        assert self.message_id is not None
        try:
            await self.bot.edit_message_text(text, chat_id=self.chat_id, message_id=self.message_id,
                                             reply_markup=markup)
        except BadRequest as exc:
            if "not modified" in str(exc).lower():
                return True
            if "not found" in str(exc).lower() or "can't be edited" in str(exc).lower():
                return False
            raise
        return True
