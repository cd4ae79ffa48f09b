"""The Telegram bot: python-telegram-bot Application, handlers, and the request lifecycle.

Handlers only turn updates into requests; `NewsBot.process` runs one request through
input → article → brief → render → send. Requests are written to the store before work
starts and marked done after the reply is sent, so a restart resumes what a crash cut off.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import logging
import time
import weakref
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    MessageOriginChannel,
    MessageOriginChat,
    MessageOriginHiddenUser,
    MessageOriginUser,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatAction, ChatMemberStatus, ChatType, ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    MessageHandler,
    filters,
)

from bot import prompts
from bot.article import Article, from_text
from bot.brief import BriefEngine
from bot.config import Settings
from bot.digest import ScheduleError, compose, parse_schedule, schedule_time
from bot.errors import ConfigError, EmptyInput, NewsbotError, NotAllowed, NotAnArticle, QuotaReached, TooShort
from bot.fetch import Fetcher
from bot.llm import LLMClient
from bot.reader import find_urls, read_url
from bot.render import RLM, render_messages, render_sources
from bot.schema import BriefEnvelope
from bot.store import Request, Store

log = logging.getLogger(__name__)

EDIT_INTERVAL_S = 1.0  # at most one status edit per second per chat
PROGRESS_GRACE_S = 1.5  # a stage shorter than this is never shown
LONG_POST = 600  # a post with links whose own text is this long is an article itself

STAGES = {
    "reading": ("📖 أقرأ المقال…", "📖 Reading the article…"),
    "writing": ("✍️ أكتب الملخص…", "✍️ Writing the brief…"),
    "checking": ("🔎 أتحقق من الاقتباسات…", "🔎 Checking quotes…"),
}
HELP = (
    f"{RLM}👋 أرسل لي رابط خبر أو نص مقال أو منشورًا معاد توجيهه، وسأرد بملخص موثّق بالعربية والإنجليزية: "
    "العنوان والملخص، ومن يضغط على من، والمواقف المعلنة مع اقتباسات حرفية، والمصادر.\n"
    f"{RLM}في المجموعات: /summarize ردًا على رسالة، أو اذكرني.\n"
    f"{RLM}الأوامر: /lang ar|en|both · /digest on [HH:MM] [المنطقة الزمنية] · /usage\n\n"
    "👋 Send me a news link, an article's text or a forwarded post, and I reply with a checked brief "
    "in Arabic and English: headline and summary, who is pressuring whom, stated positions with verbatim "
    "quotes, and sources.\n"
    "In groups: /summarize as a reply to a message, or mention me.\n"
    "Commands: /lang ar|en|both · /digest on [HH:MM] [timezone] · /usage"
)
COMMANDS = {
    "en": [("summarize", "Brief an article (reply to it, or add text or a link)"), ("lang", "Language: ar, en or both"),
           ("digest", "Scheduled digest: on [HH:MM] [tz], off, now, status"), ("usage", "Your usage today"),
           ("help", "How to use this bot")],
    "ar": [("summarize", "لخّص مقالًا (ردًا عليه أو مع نص أو رابط)"), ("lang", "اللغة: ar أو en أو both"),
           ("digest", "الموجز المجدول: on أو off أو now أو status"), ("usage", "استهلاكك اليوم"),
           ("help", "طريقة الاستخدام")],
}


def bilingual(ar: str, en: str) -> str:
    return f"{RLM}{html.escape(ar)}\n{html.escape(en)}"


def error_text(exc: NewsbotError) -> str:
    en = exc.en if not exc.detail else f"{exc.en} ({exc.detail})"
    return "⚠️ " + bilingual(exc.ar, en)


def forward_publisher(message: Message) -> str | None:
    """Who published a forwarded post (channel title, user or chat name)."""
    origin = message.forward_origin
    if isinstance(origin, MessageOriginChannel):
        return origin.chat.title or origin.chat.username
    if isinstance(origin, MessageOriginChat):
        return origin.sender_chat.title
    if isinstance(origin, MessageOriginUser):
        return origin.sender_user.full_name
    if isinstance(origin, MessageOriginHiddenUser):
        return origin.sender_user_name
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
    """What one message asks for: payloads to brief, and whether links were left out."""

    payloads: list[dict[str, Any]]
    skipped_links: int = 0


class NewsBot:
    def __init__(self, settings: Settings, *, store: Store | None = None, fetcher: Fetcher | None = None,
                 engine: BriefEngine | None = None) -> None:
        if settings.telegram_bot_token is None:
            raise ConfigError("set TELEGRAM_BOT_TOKEN (from @BotFather)")
        self.settings = settings
        self.store = store or Store(settings.db_path)
        self.fetcher = fetcher or Fetcher(settings)
        self.engine = engine or BriefEngine(settings, LLMClient(settings))
        # a chat's lock lives while some task holds or awaits it, so idle chats cost nothing
        self._chat_locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
        self.last_edit: dict[int, float] = defaultdict(float)
        self.deferred: dict[int, tuple[Message, str]] = {}
        self._button_key = hashlib.sha256(b"buttons:" + settings.telegram_bot_token.get_secret_value().encode()).digest()
        self.app: Application = self._build()  # type: ignore[type-arg]

    def chat_lock(self, chat_id: int) -> asyncio.Lock:
        """Work for one chat runs one request at a time, so its replies keep their order."""
        lock = self._chat_locks.get(chat_id)
        if lock is None:
            lock = self._chat_locks[chat_id] = asyncio.Lock()
        return lock

    # --- buttons --------------------------------------------------------------------------------
    def _sign(self, chat_id: int, brief_id: int) -> str:
        """Buttons carry a short signature, so a crafted callback cannot open another chat's brief."""
        return hmac.new(self._button_key, f"{chat_id}:{brief_id}".encode(), hashlib.sha256).hexdigest()[:10]

    def keyboard(self, chat_id: int, brief_id: int) -> InlineKeyboardMarkup:
        """Buttons under a brief; callback data (kind:brief:view:signature) stays under 40 bytes."""
        sig = self._sign(chat_id, brief_id)

        def data(kind: str, view: str = "") -> str:
            return f"{kind}:{brief_id}:{view}:{sig}"

        return InlineKeyboardMarkup([
            [InlineKeyboardButton("عربي", callback_data=data("v", "ar")),
             InlineKeyboardButton("English", callback_data=data("v", "en")),
             InlineKeyboardButton("عربي + English", callback_data=data("v", "both"))],
            [InlineKeyboardButton("📚 المصادر · Sources", callback_data=data("s")),
             InlineKeyboardButton("{ } JSON", callback_data=data("j"))],
        ])

    # --- wiring ---------------------------------------------------------------------------------
    def _build(self) -> Application:  # type: ignore[type-arg]
        assert self.settings.telegram_bot_token is not None
        app = (
            ApplicationBuilder()
            .token(self.settings.telegram_bot_token.get_secret_value())
            .base_url(self.settings.telegram_api_base_url)
            .rate_limiter(AIORateLimiter(max_retries=5))
            .concurrent_updates(True)
            .defaults(Defaults(parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True)))
            .post_init(self._post_init)
            .post_shutdown(self._post_shutdown)
            .build()
        )
        app.add_handler(CommandHandler(["start", "help"], self.on_help))
        app.add_handler(CommandHandler("lang", self.on_lang))
        app.add_handler(CommandHandler("usage", self.on_usage))
        app.add_handler(CommandHandler("digest", self.on_digest))
        app.add_handler(CommandHandler("summarize", self.on_summarize))
        app.add_handler(CallbackQueryHandler(self.on_button))
        app.add_handler(MessageHandler(filters.UpdateType.CHANNEL_POST, self.on_channel_post))
        app.add_handler(MessageHandler(filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE & ~filters.COMMAND,
                                       self.on_private))
        app.add_handler(MessageHandler(filters.ChatType.GROUPS & filters.UpdateType.MESSAGE & ~filters.COMMAND,
                                       self.on_group))
        app.add_error_handler(self.on_error)
        return app

    async def _post_init(self, app: Application) -> None:  # type: ignore[type-arg]
        for lang, commands in COMMANDS.items():
            await app.bot.set_my_commands([BotCommand(c, d) for c, d in commands],
                                          language_code=None if lang == "en" else lang)
        for cs in self.store.digest_chats():
            self.schedule_digest(cs.chat_id, cs.digest_time, cs.timezone)
        # resumed once the application runs, so that shutdown waits for these tasks too
        if app.job_queue is not None:
            app.job_queue.run_once(self._resume, when=0)

    async def _resume(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Pick up requests that an earlier run accepted but never finished."""
        pending = self.store.pending_requests()
        if pending:
            log.info("resuming %d unfinished request(s)", len(pending))
        for req in pending:
            self.app.create_task(self.process(req))

    async def start(self) -> None:
        """Run the bot inside an existing event loop (tests, benchmarks); `run_bot` is for production."""
        await self.app.initialize()
        await self._post_init(self.app)
        await self.app.start()
        assert self.app.updater is not None
        await self.app.updater.start_polling(poll_interval=0.0, timeout=1, allowed_updates=Update.ALL_TYPES)

    async def stop(self) -> None:
        assert self.app.updater is not None
        if self.app.updater.running:
            await self.app.updater.stop()
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()
        await self._post_shutdown(self.app)

    async def _post_shutdown(self, app: Application) -> None:  # type: ignore[type-arg]
        await self.fetcher.close()
        await self.engine.llm.close()
        self.store.close()

    # --- handlers -------------------------------------------------------------------------------
    async def on_help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/start and /help: what the bot does, in both languages."""
        if update.effective_message:
            await update.effective_message.reply_text(HELP)

    async def on_lang(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/lang ar|en|both: the chat's language view."""
        msg, chat = update.effective_message, update.effective_chat
        if not msg or not chat:
            return
        choice = (context.args or [""])[0].lower()
        if choice not in ("ar", "en", "both"):
            await msg.reply_text(bilingual("الاستخدام: /lang ar أو en أو both", "Usage: /lang ar, en or both"))
            return
        cs = self.store.chat(chat.id)
        cs.lang = choice
        self.store.save_chat(cs)
        await msg.reply_text(bilingual(f"لغة العرض: {choice}", f"Language view: {choice}"))

    async def on_usage(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/usage: the user's own figures today; admins also see totals."""
        msg, user = update.effective_message, update.effective_user
        if not msg or not user:
            return
        mine = self.store.usage(user_id=user.id)
        text = bilingual(f"اليوم: {mine.requests} طلب، {mine.tokens} رمز",
                         f"Today: {mine.requests} request(s), {mine.tokens} token(s)")
        if self.settings.daily_requests_per_user:
            text += f"\n{self.settings.daily_requests_per_user - mine.requests} left / متبقٍ"
        if user.id in self.settings.admin_user_ids:
            total = self.store.usage()
            text += f"\n\nAll users today: {total.requests} request(s), {total.tokens} token(s)"
        await msg.reply_text(text)

    async def on_summarize(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/summarize: brief the replied-to message, or the command's own text and links."""
        msg = update.effective_message
        if not msg:
            return
        own = (msg.text or "").split(maxsplit=1)
        has_args = len(own) > 1 or any(e.type == MessageEntity.TEXT_LINK for e in msg.entities)
        source = msg if has_args or not msg.reply_to_message else msg.reply_to_message
        await self.submit(update, source, strip_command=source is msg)

    async def on_private(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Anything sent in a private chat: text, links, captions, forwarded posts."""
        if update.effective_message:
            await self.submit(update, update.effective_message)

    async def on_group(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Groups: answer mentions and replies to the bot; otherwise collect for digests quietly."""
        msg = update.effective_message
        if not msg:
            return
        bot = context.bot
        mentioned = any(
            (e.type == MessageEntity.MENTION and v.lower() == f"@{bot.username}".lower())
            or (e.type == MessageEntity.TEXT_MENTION and e.user and e.user.id == bot.id)
            for e, v in {**msg.parse_entities(), **msg.parse_caption_entities()}.items())
        replied_to_bot = bool(msg.reply_to_message and msg.reply_to_message.from_user
                              and msg.reply_to_message.from_user.id == bot.id)
        text = (msg.text or msg.caption or "").replace(f"@{bot.username}", "").strip()
        own_input = bool(message_links(msg)) or len(text) >= self.settings.article_min_chars
        if mentioned or (replied_to_bot and own_input):  # a short reply to the bot is conversation, not work
            source = msg if own_input or not msg.reply_to_message or replied_to_bot else msg.reply_to_message
            await self.submit(update, source, strip_mention=True)
        elif self.store.chat(msg.chat_id).digest_enabled:
            self.collect(update, msg)

    async def on_channel_post(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Channel posts are read for digests; the bot never replies under them."""
        post = update.channel_post
        if not post:
            return
        text = post.text or ""
        if text.startswith("/digest"):
            await self.digest_command(post, text.split()[1:], is_admin=True)
        elif self.store.chat(post.chat_id).digest_enabled:
            self.collect(update, post)

    async def on_digest(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/digest on [HH:MM] [tz] | off | now | status; only chat admins change the schedule."""
        msg, user, chat = update.effective_message, update.effective_user, update.effective_chat
        if not msg or not chat:
            return
        is_admin = chat.type == ChatType.PRIVATE or (msg.sender_chat is not None and msg.sender_chat.id == chat.id)
        if not is_admin and user is not None:
            member = await context.bot.get_chat_member(chat.id, user.id)
            is_admin = member.status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)
        await self.digest_command(msg, list(context.args or []), is_admin=is_admin)

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Buttons under a brief: language view, sources in full, JSON file."""
        query = update.callback_query
        if not query or not query.data:
            return
        parts = query.data.split(":")
        message = query.message if isinstance(query.message, Message) else None
        env = None
        if len(parts) == 4 and parts[1].isdigit() and message is not None and \
                hmac.compare_digest(parts[3], self._sign(message.chat_id, int(parts[1]))):
            env = self.store.get_brief(int(parts[1]))
        if env is None or message is None:
            await query.answer("انتهت صلاحية هذا الملخص · This brief is no longer available", show_alert=True)
            return
        await query.answer()
        kind, brief_id, view = parts[0], int(parts[1]), parts[2]
        reply = ReplyParameters(message_id=message.message_id, allow_sending_without_reply=True)
        if kind == "v" and view in ("ar", "en", "both"):
            messages = render_messages(env, view)  # type: ignore[arg-type]
            if len(messages) == 1:
                try:
                    await message.edit_text(messages[0], reply_markup=self.keyboard(message.chat_id, brief_id))
                except BadRequest as exc:
                    if "not modified" not in str(exc):
                        raise
            else:
                await self._send_all(message.chat_id, messages, brief_id, reply)
        elif kind == "s":
            for text in render_sources(env, self.store.chat(message.chat_id).lang):  # type: ignore[arg-type]
                await context.bot.send_message(message.chat_id, text, reply_parameters=reply)
        elif kind == "j":
            data = env.model_dump_json(indent=2).encode()
            await context.bot.send_document(message.chat_id, InputFile(data, filename=f"brief-{brief_id}.json"),
                                            reply_parameters=reply)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log a failed update with its id; the bot goes on."""
        uid = update.update_id if isinstance(update, Update) else None
        log.error("update %s failed: %r", uid, context.error, exc_info=context.error)

    # --- requests -------------------------------------------------------------------------------
    def work_of(self, message: Message, *, strip_command: bool = False, strip_mention: bool = False) -> Work:
        """Turn a message into what to brief: links (capped) or its own text."""
        text = message.text or message.caption or ""
        if strip_command and text.startswith("/"):
            text = text.split(maxsplit=1)[1] if len(text.split(maxsplit=1)) > 1 else ""
        if strip_mention:
            text = text.replace(f"@{self.app.bot.username}", "")
        publisher = forward_publisher(message)
        links = message_links(message)
        own_text = text
        for link in links:
            own_text = own_text.replace(link, "")
        if links and len(own_text.strip()) < LONG_POST:
            cap = self.settings.max_links_per_message
            return Work([{"url": u, "publisher_hint": publisher} for u in links[:cap]], max(0, len(links) - cap))
        if text.strip():
            return Work([{"text": text, "publisher_hint": publisher}])
        return Work([])

    def allowed(self, chat_id: int, user_id: int | None) -> bool:
        chats, users = self.settings.allowed_chat_ids, self.settings.allowed_user_ids
        if not chats and not users:
            return True
        return chat_id in chats or (user_id is not None and user_id in users)

    def quota_problem(self, chat_id: int, user_id: int | None) -> QuotaReached | None:
        s = self.settings
        if s.daily_requests_per_user and user_id is not None and \
                self.store.usage(user_id=user_id).requests >= s.daily_requests_per_user:
            return QuotaReached(f"{s.daily_requests_per_user} requests per user per day")
        if s.daily_tokens_per_chat and self.store.usage(chat_id=chat_id).tokens >= s.daily_tokens_per_chat:
            return QuotaReached(f"{s.daily_tokens_per_chat} tokens per chat per day")
        return None

    async def submit(self, update: Update, source: Message, **strip: bool) -> None:
        """Check access and quota, write requests to the store, then work on them in the background."""
        msg, user = update.effective_message, update.effective_user
        assert msg is not None
        user_id = user.id if user else None
        reply = ReplyParameters(message_id=msg.message_id, allow_sending_without_reply=True)
        if not self.allowed(msg.chat_id, user_id):
            await msg.reply_text(error_text(NotAllowed()))
            return
        problem = self.quota_problem(msg.chat_id, user_id)
        if problem:
            await msg.reply_text(error_text(problem))
            return
        work = self.work_of(source, **strip)
        if not work.payloads:
            media = source.document or source.photo or source.video or source.audio or source.voice
            await msg.reply_text(error_text(NotAnArticle("send the article's text or its link") if media
                                            else EmptyInput()))
            return
        thread_id = msg.message_thread_id if msg.is_topic_message else None
        for payload in work.payloads:
            req = self.store.add_request(msg.chat_id, user_id, msg.message_id, payload, thread_id=thread_id)
            if req is None:
                return  # a redelivered update: its requests exist and are being handled
            self.app.create_task(self.process(req), update=update)
        if work.skipped_links:
            n = self.settings.max_links_per_message
            await self.app.bot.send_message(msg.chat_id, "ℹ️ " + bilingual(
                f"سألخص أول {n} روابط فقط؛ تُرك {work.skipped_links}.",
                f"I brief the first {n} links only; {work.skipped_links} left out."), reply_parameters=reply)

    def collect(self, update: Update, msg: Message) -> None:
        """Queue an article shared in a digest chat for a quiet background brief."""
        work = self.work_of(msg)
        for payload in work.payloads:
            if "text" in payload and len(payload["text"]) < self.settings.digest_min_chars:
                continue
            req = self.store.add_request(msg.chat_id, None, msg.message_id, payload, mode="collect")
            if req is not None:
                self.app.create_task(self.process(req), update=update)

    async def _article(self, payload: dict[str, Any]) -> Article:
        if "url" in payload:
            article = await read_url(payload["url"], self.fetcher)
        else:
            article = from_text(payload.get("text", ""), "telegram")
            if len(article.text) < self.settings.article_min_chars:
                raise TooShort(f"{len(article.text)} < {self.settings.article_min_chars} characters")
        article.publisher_hint = payload.get("publisher_hint")
        return article

    async def _brief(self, payload: dict[str, Any], progress: Any) -> tuple[int, BriefEnvelope, bool]:
        """From the store when the same link (recently) or the same text was briefed before by the
        same model and prompts; else read the article and ask the LLM."""
        key = {"model": self.settings.llm_model, "prompt_version": prompts.version()}
        url = payload.get("url")
        found = url and self.store.find_brief(url=url, max_age_s=self.settings.fetch_cache_ttl_s, **key)
        if not found:
            article = await self._article(payload)
            found = self.store.find_brief(content_hash=article.content_hash, **key)
        if found:
            return found[0], found[1], True
        env = await self.engine.run(article, progress)
        # keyed by the link as shared, so the next share of it needs no fetch either
        return self.store.save_brief(env, url or article.url), env, False

    async def process(self, req: Request) -> None:
        """One request from the store to the chat; every failure becomes a clear reply."""
        async with self.chat_lock(req.chat_id):
            if self.store.request_status(req.id) != "pending":
                return  # already finished by an earlier run
            attempts = self.store.start_attempt(req.id)
            bot = self.app.bot
            quiet = req.mode == "collect"
            reply = ReplyParameters(message_id=req.message_id, allow_sending_without_reply=True) \
                if req.message_id else None
            status: Message | None = None
            if attempts > self.settings.request_max_attempts:
                await self._give_up(req, attempts - 1, reply)
                return
            started = time.monotonic()
            try:
                if not quiet:
                    await bot.send_chat_action(req.chat_id, ChatAction.TYPING, message_thread_id=req.thread_id)
                    status = await bot.send_message(req.chat_id, self._stage("reading"), reply_parameters=reply,
                                                    message_thread_id=req.thread_id)
                    self.last_edit[req.chat_id] = time.monotonic()

                async def progress(stage: str) -> None:
                    if status is not None:
                        await self._edit(status, self._stage(stage))

                brief_id, env, cached = await self._brief(req.payload, progress)
                usage = env.provenance.usage
                self.store.add_usage(req.user_id or 0, req.chat_id, requests=1,
                                     prompt_tokens=0 if cached else usage.prompt_tokens,
                                     completion_tokens=0 if cached else usage.completion_tokens)
                if quiet:
                    self.store.add_digest_item(req.chat_id, brief_id)
                else:
                    assert status is not None
                    messages = render_messages(env, self.store.chat(req.chat_id).lang)  # type: ignore[arg-type]
                    await self._deliver(status, messages, brief_id, reply, req.thread_id)
                self.store.finish_request(req.id, "done", brief_id=brief_id)
                log.info("request %s chat %s: brief %s in %.1f s (%s, %d tokens)", req.id, req.chat_id, brief_id,
                         time.monotonic() - started, "cached" if cached else env.provenance.model,
                         0 if cached else usage.total_tokens)
            except NewsbotError as exc:
                log.info("request %s: %s", req.id, exc.code)
                self.store.finish_request(req.id, "failed", error=exc.code)
                if not quiet:
                    await self._show(req, status, error_text(exc), reply)
            except (BadRequest, Forbidden) as exc:
                # permanent: retrying would fail the same way (bot removed, message gone)
                log.warning("request %s: Telegram refused: %s", req.id, exc)
                self.store.finish_request(req.id, "failed", error="telegram")
                return
            except TelegramError as exc:
                # transient (network, flood control beyond the limiter): try again later
                log.warning("request %s: Telegram error %r; will retry", req.id, exc)
                self.app.create_task(self._retry_later(req, attempts))
                return
            except Exception:
                log.exception("request %s failed", req.id)
                self.store.finish_request(req.id, "failed", error="internal")
                if not quiet:
                    await self._show(req, status, error_text(NewsbotError()), reply)

    async def _give_up(self, req: Request, failures: int, reply: ReplyParameters | None) -> None:
        """A request that failed (or crashed the bot) too often: stop, and say so."""
        self.store.finish_request(req.id, "failed", error="gave up")
        if req.mode != "collect":
            await self.app.bot.send_message(req.chat_id, "⚠️ " + bilingual(
                f"تعذّر إنجاز هذا الطلب بعد {failures} محاولات؛ توقفت عن المحاولة.",
                f"This request failed {failures} times; I have given up on it."),
                reply_parameters=reply, message_thread_id=req.thread_id)

    async def _retry_later(self, req: Request, attempts: int) -> None:
        await asyncio.sleep(min(60.0, 2.0 * attempts))
        await self.process(req)

    @staticmethod
    def _stage(stage: str) -> str:
        ar, en = STAGES.get(stage, STAGES["writing"])
        return bilingual(ar, en)

    async def _edit(self, message: Message, text: str, markup: InlineKeyboardMarkup | None = None,
                    final: bool = False) -> None:
        """Edit a status message, at most once a second per chat.

        A progress edit is shown only if its stage lasts PROGRESS_GRACE_S; it is deferred, and
        replaced by any later one, so the pipeline never waits for it and quick stages cost no
        edit (nor push the final edit back). The final edit waits for its turn.
        """
        chat_id = message.chat_id
        wait = self.last_edit[chat_id] + EDIT_INTERVAL_S - time.monotonic()
        if not final:
            first = chat_id not in self.deferred
            self.deferred[chat_id] = (message, text)
            if first:
                self.app.create_task(self._deferred_edit(chat_id, max(wait, PROGRESS_GRACE_S)))
            return
        self.deferred.pop(chat_id, None)
        if wait > 0:
            await asyncio.sleep(wait)
        now = self.last_edit[chat_id] = time.monotonic()
        if len(self.last_edit) > 10_000:  # forget chats whose last edit no longer limits anything
            self.last_edit = defaultdict(float, {c: t for c, t in self.last_edit.items() if now - t < EDIT_INTERVAL_S})
        try:
            await message.edit_text(text, reply_markup=markup)
        except BadRequest as exc:
            if "not modified" not in str(exc):
                raise

    async def _deferred_edit(self, chat_id: int, wait: float) -> None:
        await asyncio.sleep(wait)
        pending = self.deferred.pop(chat_id, None)
        if pending is not None:  # not superseded by the final edit
            await self._edit(pending[0], pending[1], final=True)

    async def _show(self, req: Request, status: Message | None, text: str, reply: ReplyParameters | None) -> None:
        if status is not None:
            await self._edit(status, text, final=True)
        else:
            await self.app.bot.send_message(req.chat_id, text, reply_parameters=reply, message_thread_id=req.thread_id)

    async def _deliver(self, status: Message, messages: list[str], brief_id: int,
                       reply: ReplyParameters | None, thread_id: int | None) -> None:
        """The status message becomes the brief's first message; the rest follow; buttons on the last."""
        first, rest = messages[0], messages[1:]
        await self._edit(status, first, None if rest else self.keyboard(status.chat_id, brief_id), final=True)
        await self._send_all(status.chat_id, rest, brief_id, reply, thread_id)

    async def _send_all(self, chat_id: int, messages: list[str], brief_id: int, reply: ReplyParameters | None,
                        thread_id: int | None = None) -> None:
        """Send a brief's messages in order, with its buttons under the last one."""
        for i, text in enumerate(messages):
            markup = self.keyboard(chat_id, brief_id) if i == len(messages) - 1 else None
            await self.app.bot.send_message(chat_id, text, reply_parameters=reply, message_thread_id=thread_id,
                                            reply_markup=markup)

    # --- digests --------------------------------------------------------------------------------
    async def digest_command(self, msg: Message, args: list[str], *, is_admin: bool) -> None:
        chat_id = msg.chat_id
        cs = self.store.chat(chat_id)
        action = (args[0].lower() if args else "status")
        in_channel = msg.chat.type == ChatType.CHANNEL

        async def say(ar: str, en: str) -> None:
            await self.app.bot.send_message(chat_id, bilingual(ar, en),
                                            reply_parameters=None if in_channel else ReplyParameters(
                                                message_id=msg.message_id, allow_sending_without_reply=True))

        if action in ("on", "off") and not is_admin:
            await say("يغيّر مشرفو المحادثة فقط جدول الموجز.", "Only the chat's admins can change the digest schedule.")
            return
        if action == "on":
            try:
                cs.digest_time, cs.timezone = parse_schedule(args[1:], cs.digest_time, cs.timezone)
            except ScheduleError as exc:
                await say("وقت أو منطقة زمنية غير صالحة.", f"Invalid time or timezone: {exc}")
                return
            cs.digest_enabled = True
            cs.last_digest_at = cs.last_digest_at or time.time()
            self.store.save_chat(cs)
            self.schedule_digest(chat_id, cs.digest_time, cs.timezone)
            await say(f"الموجز مفعّل يوميًا الساعة {cs.digest_time} ({cs.timezone}).",
                      f"Digest on: daily at {cs.digest_time} ({cs.timezone}).")
        elif action == "off":
            cs.digest_enabled = False
            self.store.save_chat(cs)
            for job in self.app.job_queue.get_jobs_by_name(f"digest:{chat_id}") if self.app.job_queue else ():
                job.schedule_removal()
            await say("أُوقف الموجز.", "Digest off.")
        elif action == "now":
            if not await self.post_digest(chat_id):
                await say("لا جديد منذ آخر موجز.", "Nothing new since the last digest.")
        else:
            state = f"on, {cs.digest_time} {cs.timezone}" if cs.digest_enabled else "off"
            await say(f"الموجز: {'مفعّل' if cs.digest_enabled else 'متوقف'}", f"Digest: {state}")

    def schedule_digest(self, chat_id: int, when: str, tz: str) -> None:
        jq = self.app.job_queue
        if jq is None:
            return
        for job in jq.get_jobs_by_name(f"digest:{chat_id}"):
            job.schedule_removal()
        jq.run_daily(self._digest_job, time=schedule_time(when, tz), chat_id=chat_id, name=f"digest:{chat_id}")

    async def _digest_job(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Scheduled: post the digest if there is anything to report."""
        if context.job and context.job.chat_id is not None:
            await self.post_digest(context.job.chat_id)

    async def post_digest(self, chat_id: int) -> bool:
        """Post what was shared since the last digest; False when there was nothing."""
        cs = self.store.chat(chat_id)
        # wait for articles still being briefed in this chat, so they make it in
        async with self.chat_lock(chat_id):
            items = self.store.digest_items(chat_id, cs.last_digest_at)
        messages = compose([env for _, env in items])
        if not messages:
            return False
        for text in messages:
            await self.app.bot.send_message(chat_id, text)
        cs.last_digest_at = items[-1][0]
        self.store.save_chat(cs)
        return True


def run_bot(settings: Settings) -> None:
    """`newsbot run`: long polling, or a webhook when WEBHOOK_URL is set."""
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every request URL, and Telegram URLs carry the token
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    bot = NewsBot(settings)
    if settings.webhook_url:
        bot.app.run_webhook(
            listen=settings.webhook_listen, port=settings.webhook_port, url_path="telegram",
            webhook_url=settings.webhook_url.rstrip("/") + "/telegram",
            secret_token=settings.webhook_secret.get_secret_value() if settings.webhook_secret else None,
            allowed_updates=Update.ALL_TYPES,
        )
    else:
        bot.app.run_polling(allowed_updates=Update.ALL_TYPES)
