"""Intake: what people send → payloads admitted through the gate as durable requests.

Nothing is briefed here: `accept` admits work through the gate (allow-lists, quotas, durable
write); a runner (in this process, or a worker elsewhere) claims it from the store. Text that
cannot be an article is answered at once. Pasted articles that Telegram split are joined first.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
from dataclasses import dataclass, field
from typing import Any

from telegram import (
    Message,
    MessageEntity,
    MessageOriginChannel,
    MessageOriginChat,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.chat.files import check_file, file_of
from bot.chat.runner import error_text
from bot.chat.services import Services, services
from bot.engine.article import readable
from bot.ops.errors import (
    CollectBudgetReached,
    EmptyInput,
    InputError,
    NewsbotError,
    NotAllowed,
    NotAnArticle,
    QuotaReached,
    StorageUnavailable,
    TooShort,
)
from bot.reading.reader import find_urls
from bot.render import texts

log = logging.getLogger(__name__)

LONG_POST = 600  # a post with links whose own text is this long is an article itself
NEAR_LIMIT = 3_500  # Telegram splits a paste longer than 4,096 characters; its parts are this long
CAPTION_ARTICLE = 200  # a photo's caption this long is the article itself (the photo illustrates it)


# --- reading messages -------------------------------------------------------------------------
def forward_publisher(message: Message) -> str | None:
    """The publisher a post names for itself, when that is a channel: a forwarded channel post's
    channel, a post forwarded from a channel's own message in a group, or a chat posting as itself
    (a channel's post, a group's anonymous admin). A person's or a hidden user's name is never a
    publisher: anyone can set a display name, and it is not an outlet."""
    origin = message.forward_origin
    if isinstance(origin, MessageOriginChannel):
        return origin.chat.title or origin.chat.username
    if isinstance(origin, MessageOriginChat):
        sender = origin.sender_chat
        return (sender.title or sender.username) if sender.type == ChatType.CHANNEL else None
    if origin is None and message.sender_chat is not None and message.sender_chat.id == message.chat.id:
        return message.chat.title or message.chat.username
    return None


def post_link(message: Message) -> str | None:
    """Where a reader finds a post on t.me: a forwarded post at its public channel, else the message
    itself in a public chat (t.me/<username>/<id>) or, for members, a private supergroup or channel
    (t.me/c/<id>/<id>). None in private chats: nobody else could open it."""
    origin = message.forward_origin
    if isinstance(origin, MessageOriginChannel) and origin.chat.username:
        return f"https://t.me/{origin.chat.username}/{origin.message_id}"
    chat = message.chat
    if chat.type == ChatType.PRIVATE:
        return None
    if chat.username:
        return f"https://t.me/{chat.username}/{message.message_id}"
    if str(chat.id).startswith("-100"):
        return f"https://t.me/c/{str(chat.id)[4:]}/{message.message_id}"
    return None


def message_links(message: Message) -> list[str]:
    """Links of a message: URL and text-link entities, in text or caption."""
    urls: list[str] = []
    for ent, value in {**message.parse_entities(), **message.parse_caption_entities()}.items():
        if ent.type == MessageEntity.URL:
            urls.append(value if "://" in value else f"https://{value}")
        elif ent.type == MessageEntity.TEXT_LINK and ent.url:
            urls.append(ent.url)
    return list(dict.fromkeys(urls + find_urls(message.text or message.caption or "")))


@dataclass
class Work:
    """What one message asks for: payloads to brief, and how many links were left out."""

    payloads: list[dict[str, Any]]
    skipped_links: int = 0


def work_of(message: Message, max_links: int, *, strip_command: bool = False,
            strip_mention: str | None = None) -> Work:
    """Turn a message into what to brief: a document, or a photo with at most a short caption (the
    caption is then its title); else links (capped), or its own text."""
    text = message.text or message.caption or ""
    if strip_command and text.startswith("/"):
        text = text.split(maxsplit=1)[1] if len(text.split(maxsplit=1)) > 1 else ""
    if strip_mention:
        text = text.replace(strip_mention, "")
    publisher = forward_publisher(message)
    links = message_links(message)
    file = file_of(message)
    # a PDF or DOCX is the article; a photo is one only when its caption is not (a channel's post is
    # a picture with the news in its caption or behind its link; a screenshot comes with a word or none)
    if file is not None and (message.document is not None or (not links and len(text.strip()) < CAPTION_ARTICLE)):
        link = post_link(message)
        return Work([{"file": file, "caption": text.strip() or None, "publisher_hint": publisher,
                      **({"link": link} if link else {})}])
    own_text = text
    for link in links:
        own_text = own_text.replace(link, "")
    if links and len(own_text.strip()) < LONG_POST:
        return Work([{"url": u, "publisher_hint": publisher} for u in links[:max_links]],
                    max(0, len(links) - max_links))
    if text.strip():
        link = post_link(message)  # a digest links each story to the post it came from
        return Work([{"text": text, "publisher_hint": publisher, **({"link": link} if link else {})}])
    return Work([])


# --- accepting work ---------------------------------------------------------------------------
async def reply(msg: Message, text: str) -> None:
    await msg.get_bot().send_message(msg.chat_id, text, reply_parameters=ReplyParameters(
        message_id=msg.message_id, allow_sending_without_reply=True),
        message_thread_id=msg.message_thread_id if msg.is_topic_message else None)


def check_text(text: str, min_chars: int) -> None:
    """Refuse at once what cannot be an article (no status message, no request)."""
    try:
        readable(text, min_chars=min_chars)  # the one rule: bot.engine.article.check_length
    except TooShort as exc:
        n = exc.chars if exc.chars is not None else len(text.strip())
        raise TooShort(f"{texts.count(n, texts.CHARACTERS, 'en')}, at least {texts.number(min_chars, 'en')} needed",
                       detail_ar=f"{texts.count(n, texts.CHARACTERS, 'ar')}، والحد الأدنى "
                                 f"{texts.number(min_chars, 'ar')}") from None


async def accept(update: Update, s: Services, work: Work, *, mode: str = "reply") -> None:
    """Check each payload and admit it through the gate (durably); a runner claims it from the store."""
    msg, user = update.effective_message, update.effective_user
    assert msg is not None
    quiet = mode == "collect"
    user_id = sender_of(msg) if quiet else user.id if user else None
    view = await s.view(msg.chat_id)
    thread_id = msg.message_thread_id if msg.is_topic_message else None
    for payload in work.payloads:
        try:
            if "text" in payload:
                check_text(payload["text"], s.settings.digest_min_chars if quiet else s.settings.article_min_chars)
            elif "file" in payload:
                check_file(payload["file"], s.settings)
            req = await s.gate.admit(msg.chat_id, user_id, msg.message_id, payload, mode=mode, thread_id=thread_id)
        except StorageUnavailable as exc:
            s.storage_trouble(exc)
            if not quiet:
                await reply(msg, "⚠️ " + texts.say("cannot_accept", view))
            return
        except InputError as exc:
            if not quiet:
                await reply(msg, error_text(exc, view))
            continue
        except CollectBudgetReached as exc:
            s.runner.spawn(budget_notice(msg, s, exc.budget))
            return
        except (NotAllowed, QuotaReached) as exc:
            if not quiet:  # once per message: the next links would be refused the same way
                await reply(msg, error_text(exc, view))
            return
        if req is None:
            if quiet:
                continue  # collected today already (or a redelivered update)
            return  # a redelivered update: its requests exist and are being handled
        # the store wakes the runner (here, or a worker elsewhere) that claims it
    if work.skipped_links and not quiet:
        cap = s.settings.max_links_per_message
        await reply(msg, "ℹ️ " + texts.say("links_capped", view, **texts.counts(cap, texts.LINKS, "cap"),
                                           **texts.counts(work.skipped_links, texts.LINKS, "skipped")))


def sender_of(msg: Message) -> int:
    """Whom a collected post counts against: its sender; a post made as a chat (a channel's post,
    an anonymous admin, a channel writing in a group) against that chat."""
    if msg.sender_chat is not None:
        return msg.sender_chat.id
    return msg.from_user.id if msg.from_user is not None else msg.chat_id


async def budget_notice(msg: Message, s: Services, budget: int) -> None:
    """Once a day per chat, when its budget of collected articles is spent: the chat's admins are
    told privately (a group is told in the chat when no admin can be reached so)."""
    try:
        if not await s.store.first_notice(msg.chat_id, "collect_budget"):
            return
    except StorageUnavailable as exc:
        s.storage_trouble(exc)
        return
    bot, chat = msg.get_bot(), msg.chat
    name = chat.title or (f"@{chat.username}" if chat.username else str(chat.id))
    view = await s.view(msg.chat_id)
    text = "ℹ️ " + texts.say("collect_budget", view, chat=html.escape(name),
                             **texts.counts(budget, texts.ARTICLES, "budget"))
    told = 0
    try:
        admins = await bot.get_chat_administrators(msg.chat_id)
    except TelegramError as exc:
        log.warning("chat %s: cannot list its admins for the budget notice: %r", msg.chat_id, exc)
        admins = ()
    for admin in admins:
        if admin.user.is_bot:
            continue
        try:
            await bot.send_message(admin.user.id, text)
            told += 1
        except TelegramError:
            pass  # an admin who never started the bot cannot be written to
    if not told and chat.type != ChatType.CHANNEL:
        with contextlib.suppress(TelegramError):
            await bot.send_message(msg.chat_id, text,
                                   message_thread_id=msg.message_thread_id if msg.is_topic_message else None)
    log.info("collect budget reached", extra={"fields": {"chat": msg.chat_id, "budget": budget, "admins_told": told}})


async def submit(update: Update, context: ContextTypes.DEFAULT_TYPE, source: Message, *,
                 strip_command: bool = False, strip_mention: bool = False) -> None:
    """Work asked for explicitly (a private message, /summarize, a mention): always answered."""
    s = services(context)
    msg = update.effective_message
    assert msg is not None
    mention = f"@{context.bot.username}" if strip_mention else None
    work = work_of(source, s.settings.max_links_per_message, strip_command=strip_command, strip_mention=mention)
    if not work.payloads:
        media = source.document or source.photo or source.video or source.audio or source.voice
        ar, en = texts.TEXTS["send_article"]
        exc: NewsbotError = NotAnArticle(en, detail_ar=ar) if media else EmptyInput()
        await reply(msg, error_text(exc, await s.view(msg.chat_id)))
        return
    await accept(update, s, work)


async def collect(update: Update, context: ContextTypes.DEFAULT_TYPE, msg: Message) -> None:
    """An article shared in a digest chat: briefed quietly for the next digest (same gate, same quotas)."""
    s = services(context)
    await accept(update, s, work_of(msg, s.settings.max_links_per_message), mode="collect")


# --- pasted articles that Telegram split ------------------------------------------------------
@dataclass
class _Paste:
    update: Update
    context: ContextTypes.DEFAULT_TYPE
    mode: str = "reply"  # collect: a paste shared in a digest chat
    mention: str | None = None  # the bot's @name, taken out of a paste that mentions it
    parts: list[Message] = field(default_factory=list)
    timer: asyncio.Task[None] | None = None


class PasteJoiner:
    """Parts of one long paste (each near Telegram's 4,096 limit) from one user in one chat → one
    article, in private chats and groups. Only plain text joins: a link, a forward or a file sent
    meanwhile is its own request, and the paste waiting before it goes first."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._pending: dict[tuple[int, int], _Paste] = {}
        self._flushing = 0  # pastes taken out of waiting and not yet stored as requests

    @property
    def waiting(self) -> int:
        """Pastes not stored as requests yet: waiting for a next part, or being stored."""
        return len(self._pending) + self._flushing

    @staticmethod
    def _key(msg: Message) -> tuple[int, int] | None:
        if msg.from_user is None or msg.forward_origin is not None or msg.text is None:
            return None
        return msg.chat_id, msg.from_user.id

    @staticmethod
    def _plain(msg: Message) -> bool:
        return msg.text is not None and msg.forward_origin is None and not message_links(msg)

    def continues(self, msg: Message) -> bool:
        """`msg` is the next part of a paste waiting in its chat."""
        key = self._key(msg)
        return key is not None and key in self._pending and self._plain(msg)

    def starts(self, msg: Message) -> bool:
        """`msg` looks like the first part of a split paste: plain text near Telegram's limit."""
        return (self.window_s > 0 and self._key(msg) is not None and self._plain(msg)
                and len(msg.text or "") >= NEAR_LIMIT)

    def wants(self, msg: Message) -> bool:
        return self.continues(msg) or self.starts(msg)

    async def end(self, msg: Message) -> None:
        """Whatever `msg` is, a paste its sender left waiting in the chat is complete: send it now."""
        if msg.from_user is not None and (key := (msg.chat_id, msg.from_user.id)) in self._pending:
            paste = self._pending[key]
            if paste.timer is not None:
                paste.timer.cancel()
            await self._flush(key, 0)

    def add(self, update: Update, context: ContextTypes.DEFAULT_TYPE, msg: Message, *, mode: str = "reply",
            mention: str | None = None) -> None:
        key = self._key(msg)
        assert key is not None
        paste = self._pending.get(key)
        if paste is None:
            paste = self._pending[key] = _Paste(update, context, mode, mention)
        elif paste.timer is not None:
            paste.timer.cancel()
        paste.parts.append(msg)
        s = services(context)
        if len(msg.text or "") < NEAR_LIMIT and len(paste.parts) > 1:
            s.runner.spawn(self._flush(key, 0))  # a shorter part ends the paste
        else:
            paste.timer = s.runner.spawn(self._flush(key, self.window_s))

    @staticmethod
    def _work(paste: _Paste) -> Work:
        texts_ = [m.text or "" for m in paste.parts]
        if paste.mention:
            texts_ = [t.replace(paste.mention, "") for t in texts_]
        payload: dict[str, Any] = {"text": "\n".join(texts_).strip(), "publisher_hint": None,
                                   "parts": len(paste.parts)}
        if paste.mode == "collect" and (link := post_link(paste.parts[0])):
            payload["link"] = link  # a digest links each story to the post it came from
        return Work([payload])

    async def store_pending(self) -> None:
        """At shutdown: pastes still waiting for a next part are written as requests (Telegram has
        confirmed their updates), to be briefed at the next start."""
        while self._pending:  # each taken out before it is stored: its own timer then finds nothing
            _, paste = self._pending.popitem()
            first, s = paste.parts[0], services(paste.context)
            try:
                req = await s.gate.admit(first.chat_id, first.from_user.id if first.from_user else None, first.message_id,
                                   self._work(paste).payloads[0], mode=paste.mode,
                                   thread_id=first.message_thread_id if first.is_topic_message else None)
            except NewsbotError as exc:
                log.warning("a paste waiting at shutdown could not be stored: %s", exc.code)
            else:
                if req is not None:
                    log.info("a paste waiting at shutdown is stored for the next start")

    async def _flush(self, key: tuple[int, int], wait: float) -> None:
        if wait:
            await asyncio.sleep(wait)
        paste = self._pending.pop(key, None)
        if paste is None:
            return
        first = paste.parts[0]
        s = services(paste.context)
        self._flushing += 1
        try:
            await accept(paste.update, s, self._work(paste), mode=paste.mode)
        finally:
            self._flushing -= 1
        if len(paste.parts) > 1:
            log.info("joined a paste", extra={"fields": {"chat": first.chat_id, "parts": len(paste.parts)}})
