"""Scheduled digests in groups and channels: `/digest`, the daily job, and posting.

Composition (stories, pressures, changed positions) is `bot.digest`; this module decides when,
where and whether a chat may have one (the same gate as every other path that spends tokens).
"""

from __future__ import annotations

import logging
import time

from telegram import Bot, Message, ReplyParameters
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import Application, ContextTypes

from bot import texts
from bot.digest import ScheduleError, compose, parse_schedule, schedule_time
from bot.errors import NotAllowed
from bot.gate import Gate
from bot.runner import Runner, error_text
from bot.store import ChatSettings, Store

log = logging.getLogger(__name__)

CHANNEL_NOTICE_S = 8.0  # a confirmation in a channel disappears after this long


class Digests:
    def __init__(self, app: Application, store: Store, gate: Gate, runner: Runner) -> None:  # type: ignore[type-arg]
        self.app, self.store, self.gate, self.runner = app, store, gate, runner

    @property
    def bot(self) -> Bot:
        return self.app.bot

    def restore(self) -> None:
        """Re-create the schedules of every chat with digests on (after a restart)."""
        for cs in self.store.digest_chats():
            self.schedule(cs)

    def schedule(self, cs: ChatSettings) -> None:
        jq = self.app.job_queue
        if jq is None:
            return
        self.unschedule(cs.chat_id)
        jq.run_daily(self._job, time=schedule_time(cs.digest_time, cs.timezone), chat_id=cs.chat_id,
                     name=f"digest:{cs.chat_id}")

    def unschedule(self, chat_id: int) -> None:
        for job in self.app.job_queue.get_jobs_by_name(f"digest:{chat_id}") if self.app.job_queue else ():
            job.schedule_removal()

    async def command(self, msg: Message, args: list[str], *, is_admin: bool) -> None:
        """/digest on [HH:MM] [tz] | off | now | status."""
        chat_id = msg.chat_id
        cs = self.store.chat(chat_id)
        view: texts.View = cs.lang if cs.lang in texts.VIEWS else "both"  # type: ignore[assignment]
        action = args[0].lower() if args else "status"
        if action not in ("on", "off", "now", "status"):
            await self._say(msg, texts.say("digest_usage", view))
            return
        if action != "status" and not self.gate.allowed(chat_id, None):
            # a stranger's chat: digests would spend tokens
            if msg.chat.type != ChatType.CHANNEL:
                await self._say(msg, error_text(NotAllowed(), view))
            return
        if action in ("on", "off") and not is_admin:
            await self._say(msg, texts.say("digest_admins_only", view))
            return
        if action == "on":
            try:
                cs.digest_time, cs.timezone = parse_schedule(args[1:], cs.digest_time, cs.timezone)
            except ScheduleError:
                await self._say(msg, texts.say("digest_usage", view))
                return
            cs.digest_enabled = True
            cs.last_digest_at = cs.last_digest_at or time.time()
            self.store.save_chat(cs)
            self.schedule(cs)
            await self._say(msg, texts.say("digest_on", view, time=cs.digest_time, tz=cs.timezone))
        elif action == "off":
            cs.digest_enabled = False
            self.store.save_chat(cs)
            self.unschedule(chat_id)
            await self._say(msg, texts.say("digest_off", view))
        elif action == "now":
            if not await self.post(chat_id):
                await self._say(msg, texts.say("digest_nothing", view))
        elif cs.digest_enabled:
            await self._say(msg, texts.say("digest_status_on", view, time=cs.digest_time, tz=cs.timezone))
        else:
            await self._say(msg, texts.say("digest_status_off", view))

    async def _say(self, msg: Message, text: str) -> None:
        """Reply to a command; in a channel, subscribers see neither the command nor (for long) the answer."""
        if msg.chat.type != ChatType.CHANNEL:
            await self.bot.send_message(msg.chat_id, text, reply_parameters=ReplyParameters(
                message_id=msg.message_id, allow_sending_without_reply=True))
            return
        try:
            await self.bot.delete_message(msg.chat_id, msg.message_id)
        except TelegramError as exc:
            log.info("could not delete a /digest post in channel %s: %s", msg.chat_id, exc)
        sent = await self.bot.send_message(msg.chat_id, text, disable_notification=True)
        if self.app.job_queue is not None:
            self.app.job_queue.run_once(self._delete, CHANNEL_NOTICE_S, chat_id=msg.chat_id,
                                        data=sent.message_id)

    async def _delete(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        job = context.job
        if job is not None and job.chat_id is not None:
            try:
                await self.bot.delete_message(job.chat_id, int(job.data))  # type: ignore[arg-type]
            except TelegramError as exc:
                log.info("could not delete a notice in channel %s: %s", job.chat_id, exc)

    async def _job(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Scheduled: post the digest if there is anything to report."""
        if context.job and context.job.chat_id is not None:
            await self.post(context.job.chat_id)

    async def post(self, chat_id: int) -> bool:
        """Post what was shared since the last digest; False when there was nothing."""
        if not self.gate.allowed(chat_id, None):
            return False
        cs = self.store.chat(chat_id)
        # wait for articles still being briefed in this chat, so they make it in
        async with self.runner.chat_lock(chat_id):
            items = self.store.digest_items(chat_id, cs.last_digest_at)
        messages = compose([env for _, env in items])
        if not messages:
            return False
        for text in messages:
            await self.bot.send_message(chat_id, text)
        cs.last_digest_at = items[-1][0]
        self.store.save_chat(cs)
        return True
