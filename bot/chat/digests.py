"""Scheduled digests in groups and channels: `/digest`, the daily job, and posting.

Composition (stories, pressures, changed positions) is `bot.digests.stories`; this module decides when,
where and whether a chat may have one (the same gate as every other path that spends tokens).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from telegram import Bot, Message, ReplyParameters
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import BadRequest, EndPointNotFound, Forbidden, TelegramError
from telegram.ext import Application, ContextTypes

from bot.chat import rich as wire
from bot.chat.gate import Gate
from bot.chat.runner import Runner, error_text
from bot.digests.schedule import ScheduleError, parse_schedule, schedule_time
from bot.digests.stories import Item, Verdicts, borderline_pairs, settle
from bot.ledger.record import what_changed
from bot.ops.errors import NotAllowed, StorageUnavailable
from bot.render import texts
from bot.render.digest import compose
from bot.render.digest_rich import compose_rich
from bot.render.rich import RichMessage
from bot.store import ChatSettings, DigestEntry, Store

log = logging.getLogger(__name__)

#: with a shared store, schedules set through another process arrive at once (NOTIFY); without a
#: notification (the listen connection down) they are read again this often
FOLLOW_EVERY_S = 60.0
CHANNEL_NOTICE_S = 8.0  # a confirmation in a channel disappears after this long
MAX_CHAT_ID = 2**52  # Telegram's user and chat ids have at most 52 significant bits
NOW_EVERY_S = 300.0  # `/digest now` shows the digest so far at most this often per chat
MEMBER = (ChatMemberStatus.MEMBER, ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER,
          ChatMemberStatus.RESTRICTED)


#: the digest as classic messages, and as one rich message (None: it does not fit one), in a view
Classic = Callable[[texts.View, str | None], list[str]]
Rich = Callable[[texts.View, str | None], RichMessage | None]


def topic_of(msg: Message) -> tuple[bool, int | None]:
    """Whether the chat has topics (a forum group), and the topic a message is in (None: General)."""
    return bool(msg.chat.is_forum), msg.message_thread_id if msg.is_topic_message else None


class Digests:
    def __init__(self, app: Application, store: Store, gate: Gate, runner: Runner) -> None:  # type: ignore[type-arg]
        self.app, self.store, self.gate, self.runner = app, store, gate, runner
        self._posting: dict[int, asyncio.Lock] = {}  # digest chats only: a handful
        self._scheduled: dict[int, tuple[str, str]] = {}  # chat → (time, timezone) as scheduled here

    @property
    def bot(self) -> Bot:
        return self.app.bot

    async def restore(self, *, follow: bool = False) -> None:
        """Re-create the schedules of every chat with digests on (after a restart). `follow`: the
        store is shared, and schedules set through another process are followed as they change."""
        await self.sync()
        if follow:
            self.runner.spawn(self._follow(), lasting=True)

    async def _follow(self) -> None:
        while True:
            await self.store.wait_for_settings(FOLLOW_EVERY_S)
            try:
                await self.sync()
            except StorageUnavailable as exc:
                log.warning("could not read digest schedules (%s); keeping the ones known", exc)

    async def sync(self) -> None:
        """This process's schedules as the store has them."""
        wanted = {cs.chat_id: (cs.digest_time, cs.timezone) for cs in await self.store.digest_chats()}
        for chat_id in set(self._scheduled) - set(wanted):
            self.unschedule(chat_id)
        for chat_id, when in wanted.items():
            if self._scheduled.get(chat_id) != when:
                self.schedule(ChatSettings(chat_id, digest_time=when[0], timezone=when[1]))

    def schedule(self, cs: ChatSettings) -> None:
        jq = self.app.job_queue
        if jq is None:
            return
        self.unschedule(cs.chat_id)
        jq.run_daily(self._job, time=schedule_time(cs.digest_time, cs.timezone), chat_id=cs.chat_id,
                     name=f"digest:{cs.chat_id}")
        self._scheduled[cs.chat_id] = (cs.digest_time, cs.timezone)

    def unschedule(self, chat_id: int) -> None:
        self._scheduled.pop(chat_id, None)
        for job in self.app.job_queue.get_jobs_by_name(f"digest:{chat_id}") if self.app.job_queue else ():
            job.schedule_removal()

    async def command(self, msg: Message, args: list[str], *, is_admin: bool) -> None:
        """/digest on [HH:MM] [tz] | off | now | status."""
        chat_id = msg.chat_id
        cs = await self.store.chat(chat_id)
        view = texts.view_of(cs.lang)
        if msg.chat.username:  # so that readers can `/subscribe @name` to this chat's digest
            await self.store.remember_username(chat_id, msg.chat.username)
        if msg.chat.type == ChatType.CHANNEL:
            # subscribers see digests only: the command goes at once, whatever it asks for
            try:
                await self.bot.delete_message(chat_id, msg.message_id)
            except TelegramError as exc:
                log.info("could not delete a /digest post in channel %s: %s", chat_id, exc)
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
            cs.digest_thread_id = topic_of(msg)[1]  # a forum's digests post in the topic this was sent in
            cs.last_digest_at = cs.last_digest_at or await self.store.now()
            await self.store.save_chat(cs)
            self.schedule(cs)
            await self._say(msg, texts.say("digest_on", view, time=cs.digest_time, tz=cs.timezone))
        elif action == "off":
            cs.digest_enabled = False
            await self.store.save_chat(cs)
            self.unschedule(chat_id)
            await self._say(msg, texts.say("digest_off", view))
        elif action == "now":
            await self.show_so_far(msg, view)
        elif cs.digest_enabled:
            await self._say(msg, texts.say("digest_status_on", view, time=cs.digest_time, tz=cs.timezone))
        else:
            await self._say(msg, texts.say("digest_status_off", view))

    async def _say(self, msg: Message, text: str) -> None:
        """Reply to a command; in a channel (whose command post is gone already) the answer disappears
        after CHANNEL_NOTICE_S, so subscribers see digests only."""
        if msg.chat.type != ChatType.CHANNEL:
            await self.bot.send_message(msg.chat_id, text, reply_parameters=ReplyParameters(
                message_id=msg.message_id, allow_sending_without_reply=True))
            return
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
        if context.job is not None and context.job.chat_id is not None:
            await self.run_scheduled(context.job.chat_id)

    async def run_scheduled(self, chat_id: int) -> bool:
        """The daily run: post the digest if there is anything to report, from one process only
        however many run this schedule; False when another process has this run or nothing was new."""
        cs = await self.store.chat(chat_id)
        if not cs.digest_enabled:
            # turned off (through any process) after this process scheduled the run
            log.info("digest run of chat %s skipped: digests are off", chat_id)
            self.unschedule(chat_id)
            return False
        # the run is named by its day and time in the chat's zone, by the store's clock: every
        # process computes the same, whatever its host's clock says
        day = datetime.fromtimestamp(await self.store.now(), ZoneInfo(cs.timezone)).strftime("%Y-%m-%d")
        slot = f"{day}T{cs.digest_time}"
        if not await self.store.claim_digest_run(chat_id, slot):
            log.info("digest run %s of chat %s is another process's", slot, chat_id)
            return False
        return await self.post(chat_id)

    async def post(self, chat_id: int) -> bool:
        """Post what was shared since the last digest, to the chat and its private subscribers;
        False when there was nothing."""
        if not self.gate.allowed(chat_id, None):
            return False
        # one digest at a time per chat: `/digest now` and the daily job do not interleave their messages
        async with self._posting.setdefault(chat_id, asyncio.Lock()):
            return await self._post(chat_id)

    async def _post(self, chat_id: int) -> bool:
        cs = await self.store.chat(chat_id)
        entries = await self._entries(cs)
        if not entries:
            return False
        digest, rich = await self._digest(cs, entries)
        await self._send(chat_id, cs, digest, rich, thread_id=cs.digest_thread_id)
        await self.store.set_last_digest(chat_id, entries[-1].shared_at)
        await self._deliver(chat_id, digest, rich)
        return True

    async def show_so_far(self, msg: Message, view: texts.View) -> None:
        """`/digest now`: the digest so far, where it was asked, without moving the period (the
        scheduled digest still has these articles); once per NOW_EVERY_S per chat, in every process."""
        chat_id = msg.chat_id
        async with self._posting.setdefault(chat_id, asyncio.Lock()):
            cs = await self.store.chat(chat_id)
            entries = await self._entries(cs)
            if not entries:
                await self._say(msg, texts.say("digest_nothing", view))
                return
            wait = await self.store.take_turn(f"digest-now:{chat_id}", NOW_EVERY_S)
            if wait > 0:
                minutes = max(1, math.ceil(wait / 60))
                await self._say(msg, texts.say("digest_now_wait", view, **texts.counts(minutes, texts.MINUTES,
                                                                                      "minutes")))
                return
            digest, rich = await self._digest(cs, entries)
            await self._send(chat_id, cs, digest, rich, thread_id=topic_of(msg)[1])

    async def _entries(self, cs: ChatSettings) -> list[DigestEntry]:
        """What was shared since the last digest; articles still being briefed in the chat first make it in."""
        async with self.runner.chat_lock(cs.chat_id):
            return await self.store.digest_entries(cs.chat_id, cs.last_digest_at)

    async def _digest(self, cs: ChatSettings, entries: list[DigestEntry]) -> tuple[Classic, Rich]:
        """The digest of `entries`, classic and rich, in any view (for a subscriber, naming the chat)."""
        items = [Item(e.envelope, e.shared_at, e.link, e.outlet) for e in entries]
        verdicts = await self._settle(cs.chat_id, items)
        now = await self.store.now()
        # the ledger records a brief just after its digest item: the period's first item starts it
        changed = await what_changed(self.store, cs.chat_id, entries[0].shared_at)

        def digest(view: texts.View, chat: str | None = None) -> list[str]:
            return compose(items, view, since=cs.last_digest_at, now=now, tz=cs.timezone, chat=chat,
                           verdicts=verdicts, changed=changed)

        def rich(view: texts.View, chat: str | None = None) -> RichMessage | None:
            return compose_rich(items, view, since=cs.last_digest_at, now=now, tz=cs.timezone, chat=chat,
                                verdicts=verdicts, changed=changed)

        return digest, rich

    async def _send(self, to: int, cs: ChatSettings, digest: Classic, rich: Rich, chat: str | None = None, *,
                    thread_id: int | None = None) -> None:
        """The digest in `to`'s view, in a forum topic when one is given: a topic that is gone
        (deleted since) gets nothing, so General has it instead."""
        try:
            await self._send_in(to, cs, digest, rich, chat, thread_id)
        except BadRequest as exc:
            if thread_id is None:
                raise
            log.warning("chat %s: cannot post in topic %s (%s); posting in General", to, thread_id, exc)
            await self._send_in(to, cs, digest, rich, chat, None)

    async def _send_in(self, to: int, cs: ChatSettings, digest: Classic, rich: Rich, chat: str | None,
                       thread_id: int | None) -> None:
        """One rich message where that chat gets them, else (or when Telegram refuses it) the classic
        messages, paced by AIORateLimiter within Telegram's ~20 messages a minute per group."""
        view = texts.view_of(cs.lang)
        if self.runner.rich.wants(to, cs.format) and (message := rich(view, chat)) is not None:
            try:
                await wire.send(self.bot, to, message, thread_id=thread_id)
                return
            except (BadRequest, EndPointNotFound) as exc:
                if not wire.refusal(exc):
                    raise
                self.runner.rich.refused(to, exc)
        for text in digest(view, chat):
            await self.bot.send_message(to, text, message_thread_id=thread_id)

    async def _settle(self, chat_id: int, items: list[Item]) -> Verdicts:
        """With DIGEST_LLM_MERGE, one small LLM call settles the pairs the scores leave open."""
        settings = self.runner.settings
        if not settings.digest_llm_merge:
            return {}
        pairs = borderline_pairs(items)
        if not pairs:
            return {}
        verdicts, tokens = await settle(items, self.runner.engine.llm, pairs)
        if tokens:
            await self.store.add_usage(0, chat_id, prompt_tokens=tokens)  # the chat's spending, like its briefs
        return verdicts

    async def _deliver(self, chat_id: int, digest: Classic, rich: Rich) -> None:
        """The digest to each subscriber privately, in their own view, while they are still members."""
        name = await self.store.username_of(chat_id)
        title = f"@{name}" if name else str(chat_id)
        for user_id in await self.store.subscribers(chat_id):
            try:
                if not await self._is_member(chat_id, user_id):
                    await self.store.unsubscribe(user_id, chat_id)
                    continue
                await self._send(user_id, await self.store.chat(user_id), digest, rich, title)
            except Forbidden:  # the user blocked the bot or never started it: stop trying
                await self.store.unsubscribe(user_id, chat_id)
            except TelegramError as exc:
                log.info("could not deliver the digest of %s to %s: %s", chat_id, user_id, exc)

    async def _is_member(self, chat_id: int, user_id: int) -> bool:
        member = await self.bot.get_chat_member(chat_id, user_id)
        return member.status in MEMBER and getattr(member, "is_member", True)

    # --- private subscriptions ------------------------------------------------------------------
    async def _resolve(self, ref: str) -> tuple[int, str] | None:
        """`@name`, `name`, `t.me/name` or a chat id → (chat id, how to name it)."""
        ref = ref.strip().removeprefix("https://").removeprefix("http://").removeprefix("t.me/").lstrip("@")
        if ref.lstrip("-").isdigit():
            # Telegram's ids have at most 52 significant bits: a longer number names no chat (and
            # does not fit the store's 64-bit integers)
            return (int(ref), ref) if abs(int(ref)) < MAX_CHAT_ID else None
        if not ref:
            return None
        known = await self.store.chat_by_username(ref)
        if known is not None:
            return known, f"@{ref}"
        try:
            chat = await self.bot.get_chat(f"@{ref}")
        except TelegramError:
            return None
        return chat.id, f"@{chat.username or ref}"

    async def subscribe(self, msg: Message, user_id: int, args: list[str]) -> None:
        """/subscribe @chat: the chat's digest privately, for members of a chat whose digests are on."""
        view = texts.view_of((await self.store.chat(msg.chat_id)).lang)
        if msg.chat.type != ChatType.PRIVATE:
            await self._say(msg, texts.say("subscribe_private_only", view))
            return
        if not args:
            mine = await self.store.subscriptions(user_id)
            text = texts.say("subscribe_usage", view)
            if mine:
                names = [f"@{n}" if (n := await self.store.username_of(c)) else str(c) for c in mine]
                text += "\n\n" + texts.say("subscriptions", view, ar_chats=texts.join(names, "ar"),
                                                  en_chats=texts.join(names, "en"))
            await self._say(msg, text)
            return
        found = await self._resolve(args[0])
        if found is None:
            await self._say(msg, texts.say("subscribe_not_found", view))
            return
        chat_id, name = found
        # membership first: a stranger gets the same answer whether or not the chat uses digests
        try:
            member = await self._is_member(chat_id, user_id)
        except TelegramError:  # the bot is not in that chat (any more), or no such chat
            await self._say(msg, texts.say("subscribe_not_found", view))
            return
        if not member:
            await self._say(msg, texts.say("subscribe_not_member", view))
            return
        cs = await self.store.chat(chat_id)
        if not cs.digest_enabled:
            await self._say(msg, texts.say("subscribe_digest_off", view))
            return
        await self.store.subscribe(user_id, chat_id)
        await self._say(msg, texts.say("subscribe_done", view, chat=name, time=cs.digest_time, tz=cs.timezone))

    async def unsubscribe(self, msg: Message, user_id: int, args: list[str]) -> None:
        """/unsubscribe [@chat]: one subscription, or all of them."""
        view = texts.view_of((await self.store.chat(msg.chat_id)).lang)
        chat_id = None
        if args:
            found = await self._resolve(args[0])
            if found is None:
                await self._say(msg, texts.say("subscribe_not_found", view))
                return
            chat_id = found[0]
        removed = await self.store.unsubscribe(user_id, chat_id)
        if not removed:
            await self._say(msg, texts.say("unsubscribe_none", view))
            return
        names = [f"@{n}" if (n := await self.store.username_of(c)) else str(c) for c in removed]
        await self._say(msg, texts.say("unsubscribe_done", view, ar_chats=texts.join(names, "ar"),
                                                 en_chats=texts.join(names, "en")))
