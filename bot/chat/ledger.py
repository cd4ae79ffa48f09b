"""The ledger in the chat: recording delivered briefs, alerts for tracked actors, and the commands
/timeline, /track, /untrack, /actors (merge and split, admins) and /forget (admins in groups).

Every read and write names the chat it happens in: a chat sees only its own ledger. Buttons carry
an HMAC of the chat and their numbers (as brief buttons do), so a forged or forwarded button
cannot reach another chat's identities; their data stays under Telegram's 64 bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import logging

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, ReplyParameters, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes, MessageHandler, filters

from bot.chat import rich as rich_wire
from bot.chat.buttons import Signer
from bot.chat.handlers import is_admin
from bot.chat.runner import Runner
from bot.digests.stories import Item, outlet_of
from bot.engine.schema import BriefEnvelope
from bot.ledger.identity import Candidate, Resolver, find, similarity
from bot.ledger.record import record
from bot.ledger.values import Event, Identity
from bot.ops.errors import StorageUnavailable
from bot.render import texts
from bot.render import timeline as render
from bot.store import Request, Store

log = logging.getLogger(__name__)
KEY = "ledger"
MAX_SUGGESTIONS = 6  # merge and split buttons under /actors
#: a story, for alerts, is one pressure (the same pair and type) reported with gaps shorter than this;
#: reported again after a longer silence it is news again
STORY_QUIET_S = 3 * 86_400
LOOK_ALIKE = 0.3  # names this similar but below the merge threshold are offered for merging


class LedgerButtons:
    """Signed callback data: `<kind>:<n>[:<m>]:<sig>`, at most ~45 bytes."""

    def __init__(self, secret: bytes) -> None:
        self._key = hashlib.sha256(b"ledger:" + secret).digest()

    def _sign(self, chat_id: int, body: str) -> str:
        return hmac.new(self._key, f"{chat_id}:{body}".encode(), hashlib.sha256).hexdigest()[:10]

    def data(self, chat_id: int, kind: str, *numbers: int) -> str:
        body = ":".join([kind, *map(str, numbers)])
        return f"{body}:{self._sign(chat_id, body)}"

    def parse(self, data: str, chat_id: int) -> tuple[str, list[int]] | None:
        body, _, sig = data.rpartition(":")
        parts = body.split(":")
        if len(parts) < 2 or not all(p.lstrip("-").isdigit() and len(p) <= 20 for p in parts[1:]):
            return None
        if not hmac.compare_digest(sig, self._sign(chat_id, body)):
            return None
        return parts[0], [int(p) for p in parts[1:]]


class Ledger:
    def __init__(self, store: Store, signer: Signer, secret: bytes, rich: rich_wire.RichChoice | None = None) -> None:
        self.store, self.signer, self.rich = store, signer, rich
        self.buttons = LedgerButtons(secret)

    async def view(self, chat_id: int) -> texts.View:
        return texts.view_of((await self.store.chat(chat_id)).lang)

    # --- recording (the runner's hook) --------------------------------------------------------------
    async def after_brief(self, bot: Bot, req: Request, brief_id: int, env: BriefEnvelope) -> None:
        """Record a brief delivered (or collected) in a chat, then alert on its tracked actors.
        The brief is in the chat already: a failure here is logged, never the request's."""
        try:
            link = req.payload.get("url") or req.payload.get("link")
            outlet = outlet_of(Item(env, link=link, outlet=req.payload.get("publisher_hint")))
            events = await record(self.store, env, chat_id=req.chat_id, brief_id=brief_id, shared_at=await self.store.now(),
                                  link=link, outlet=outlet.en if outlet else None,
                                  outlet_ar=outlet.ar if outlet else None)
            await self._alert(bot, req, events)
        except (StorageUnavailable, TelegramError) as exc:
            log.warning("ledger: brief %s of chat %s not recorded or alerted: %s", brief_id, req.chat_id, exc)
        except Exception:  # the request is done and its brief in the chat: nothing here may undo that
            log.exception("ledger: brief %s of chat %s not recorded", brief_id, req.chat_id)

    async def _alert(self, bot: Bot, req: Request, events: list[Event]) -> None:
        pressures = [e for e in events if e.kind == "pressure"]
        tracked = set(await self.store.ledger_tracked(req.chat_id)) if pressures else set()
        if not tracked:
            return
        idents = {i.id: i for i in await self.store.ledger_identities(req.chat_id)}
        view = await self.view(req.chat_id)
        for actor in sorted(tracked):
            involved = [e for e in pressures if actor in (e.actor, e.target)]
            # one story, for alerts, is one pressure: the same pair and type, whoever reports it
            fresh = [e for e in involved if await self.store.ledger_alert_once(
                req.chat_id, actor, f"{e.actor}>{e.target}:{e.event}", STORY_QUIET_S)]
            if fresh and actor in idents:
                await bot.send_message(req.chat_id, render.alert(idents[actor], fresh, idents, view),
                                       message_thread_id=req.thread_id)

    # --- commands -------------------------------------------------------------------------------
    async def _reply(self, msg: Message, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
        await msg.reply_text(text, reply_markup=markup,
                             reply_parameters=ReplyParameters(message_id=msg.message_id,
                                                              allow_sending_without_reply=True))

    async def _find(self, msg: Message, query: str, view: texts.View) -> Identity | None:
        found = find(await self.store.ledger_identities(msg.chat_id), query)
        if found is None:
            await self._reply(msg, render.say("not_found", view))
        return found

    async def send_timeline(self, bot: Bot, chat_id: int, actor: int, reply_to: int | None = None) -> bool:
        idents = {i.id: i for i in await self.store.ledger_identities(chat_id)}
        if actor not in idents:
            return False
        events = await self.store.ledger_timeline(chat_id, actor, limit=render.MAX_TIMELINE + 1)
        reply = ReplyParameters(message_id=reply_to, allow_sending_without_reply=True) if reply_to else None
        cs = await self.store.chat(chat_id)
        view = texts.view_of(cs.lang)
        if self.rich is not None and self.rich.wants(chat_id, cs.format):
            rich = render.timeline_rich(idents[actor], events, idents, view)
            if rich is not None:
                try:
                    await rich_wire.send(bot, chat_id, rich, reply=reply)
                    return True
                except TelegramError as exc:
                    if not rich_wire.refusal(exc):
                        raise
                    self.rich.refused(chat_id, exc)  # the classic record goes instead
        for text in render.timeline(idents[actor], events, idents, view):
            await bot.send_message(chat_id, text, reply_parameters=reply)
        return True

    async def timeline(self, msg: Message, args: list[str]) -> None:
        view = await self.view(msg.chat_id)
        if not args:
            await self._reply(msg, render.say("timeline_usage", view))
            return
        found = await self._find(msg, " ".join(args), view)
        if found is not None:
            await self.send_timeline(msg.get_bot(), msg.chat_id, found.id, msg.message_id)

    async def track(self, msg: Message, args: list[str]) -> None:
        view = await self.view(msg.chat_id)
        if not args:
            await self._reply(msg, render.say("track_usage", view))
            return
        found = await self._find(msg, " ".join(args), view)
        if found is not None:
            new = await self.store.ledger_track(msg.chat_id, found.id)
            await self._reply(msg, render.say("track_on" if new else "track_already", view, name=_both_names(found)))

    async def untrack(self, msg: Message, args: list[str]) -> None:
        view = await self.view(msg.chat_id)
        tracked = await self.store.ledger_tracked(msg.chat_id)
        idents = {i.id: i for i in await self.store.ledger_identities(msg.chat_id)}
        if args:
            found = find([idents[t] for t in tracked if t in idents], " ".join(args))
            tracked = [found.id] if found else []
        for actor in tracked:
            await self.store.ledger_track(msg.chat_id, actor, on=False)
        if not tracked:
            await self._reply(msg, render.say("untrack_none", view))
            return
        names = [_both_names(idents[t]) for t in tracked if t in idents]
        await self._reply(msg, render.say("untrack_done", view, ar_names=texts.join(names, "ar"),
                                          en_names=texts.join(names, "en")))

    async def actors(self, msg: Message) -> None:
        idents = await self.store.ledger_identities(msg.chat_id)
        view = await self.view(msg.chat_id)
        messages = render.actors_list(idents, view)
        markup = self.actors_keyboard(msg.chat_id, idents)
        for n, text in enumerate(messages):
            await self._reply(msg, text, markup if n == len(messages) - 1 else None)

    def actors_keyboard(self, chat_id: int, idents: list[Identity]) -> InlineKeyboardMarkup | None:
        """🔗 merge buttons for look-alikes the resolver kept apart; ✂️ split buttons for actors
        known by several names; among the newest identities (every pair of them is compared)."""
        idents = idents[-render.MAX_ACTORS:]
        pairs = []
        for n, a in enumerate(idents):
            for b in idents[n + 1:]:
                s = similarity(a, Candidate(b.aliases, b.kind, b.country, b.name_en, b.name_ar))
                if s >= LOOK_ALIKE or (a.related == b.id or b.related == a.id):
                    pairs.append((s, a, b))
        pairs.sort(key=lambda p: -p[0])
        rows = [[InlineKeyboardButton(f"🔗 {a.name_en} + {b.name_en}"[:60],
                                      callback_data=self.buttons.data(chat_id, "lm", a.id, b.id))]
                for _, a, b in pairs[:MAX_SUGGESTIONS]]
        several = [i for i in idents if len({k for k in i.aliases if not k.startswith("id:")}) > 2]
        rows += [[InlineKeyboardButton(f"✂️ {i.name_en}"[:60], callback_data=self.buttons.data(chat_id, "lx", i.id))]
                 for i in several[:MAX_SUGGESTIONS]]
        return InlineKeyboardMarkup(rows) if rows else None

    async def forget(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        msg, chat = update.effective_message, update.effective_chat
        assert msg is not None and chat is not None
        view = await self.view(chat.id)
        # a private chat is its user's; only a channel's admins post in it
        if chat.type not in (ChatType.PRIVATE, ChatType.CHANNEL) and not await is_admin(update, context):
            await self._reply(msg, render.say("admins_only", view))
            return
        gone = await self.store.forget_chat(chat.id)
        log.info("chat %s forgotten (%d rows)", chat.id, gone)
        if chat.type == ChatType.CHANNEL:  # subscribers see digests only: the command post goes, no answer
            try:
                await msg.delete()
            except TelegramError as exc:
                log.info("could not delete a /forget post in channel %s: %s", chat.id, exc)
            return
        await self._reply(msg, render.say("forget_done", view))

    # --- buttons --------------------------------------------------------------------------------
    async def button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None and query.data is not None
        message = query.message if isinstance(query.message, Message) else None
        if message is None:
            await query.answer()
            return
        chat_id = message.chat_id
        view = await self.view(chat_id)
        expired = render.say("button_expired", "both").replace(texts.RLM, "")
        if query.data.startswith("lb:"):  # under a brief, signed as the brief's other buttons
            env = await self._signed_brief(query.data, chat_id)
            if env is None:
                await query.answer(expired, show_alert=True)
                return
            await query.answer()
            await self._brief_actors(env, message)
            return
        parsed = self.buttons.parse(query.data, chat_id)
        if parsed is None:
            await query.answer(expired, show_alert=True)
            return
        kind, numbers = parsed
        if kind == "lt":
            await query.answer()
            if not await self.send_timeline(context.bot, chat_id, numbers[0], message.message_id):
                await context.bot.send_message(chat_id, render.say("not_found", view))
            return
        if not await is_admin(update, context):
            await query.answer(render.say("admins_only", view).replace(texts.RLM, ""), show_alert=True)
            return
        idents = {i.id: i for i in await self.store.ledger_identities(chat_id)}
        await query.answer()
        if kind == "lm" and len(numbers) == 2 and all(n in idents for n in numbers):
            keep, gone = numbers
            if await self.store.ledger_merge(chat_id, keep, gone):
                await self._reply(message, render.say("merged", view, keep=_both_names(idents[keep]),
                                                      gone=_both_names(idents[gone])))
        elif kind == "lx" and numbers[0] in idents:
            ident = idents[numbers[0]]
            keys = sorted(k for k in ident.aliases if not k.startswith("id:"))
            rows = [[InlineKeyboardButton(k.split(":", 1)[1][:60], callback_data=self.buttons.data(
                chat_id, "ls", ident.id, n))] for n, k in enumerate(keys)]
            await self._reply(message, render.say("split_pick", view, name=_both_names(ident)),
                              InlineKeyboardMarkup(rows[:20]))
        elif kind == "ls" and len(numbers) == 2 and numbers[0] in idents:
            ident = idents[numbers[0]]
            keys = sorted(k for k in ident.aliases if not k.startswith("id:"))
            if 0 <= numbers[1] < len(keys) and await self.store.ledger_split(chat_id, ident.id, keys[numbers[1]]):
                await self._reply(message, render.say("split", view, alias=keys[numbers[1]].split(":", 1)[1],
                                                      name=_both_names(ident)))

    async def _signed_brief(self, data: str, chat_id: int) -> BriefEnvelope | None:
        parts = data.split(":")
        if len(parts) != 3 or not parts[1].isdigit() or len(parts[1]) > 12:
            return None
        if not hmac.compare_digest(parts[2], self.signer.sign(chat_id, int(parts[1]))):
            return None
        return await self.store.get_brief(int(parts[1]))

    async def _brief_actors(self, env: BriefEnvelope, message: Message) -> None:
        """A brief's actors as buttons, each opening its timeline."""
        bot = message.get_bot()
        resolver = Resolver(await self.store.ledger_identities(message.chat_id))
        found: dict[int, Identity] = {}
        for a in env.brief.actors:
            ident = resolver.match(Candidate.of(a))
            if ident is not None:
                found.setdefault(ident.id, ident)
        view = await self.view(message.chat_id)
        rows = [[InlineKeyboardButton(f"🕰 {i.name_ar} · {i.name_en}"[:60],
                                      callback_data=self.buttons.data(message.chat_id, "lt", i.id))]
                for i in list(found.values())[:10]]
        await bot.send_message(message.chat_id, render.say("actors_of_brief" if rows else "not_found", view),
                               reply_markup=InlineKeyboardMarkup(rows) if rows else None,
                               reply_parameters=ReplyParameters(message_id=message.message_id,
                                                                allow_sending_without_reply=True))


def _both_names(i: Identity) -> str:
    return i.name_en if i.name_en == i.name_ar else f"{i.name_ar} · {i.name_en}"


def ledger(context: ContextTypes.DEFAULT_TYPE) -> Ledger:
    return context.application.bot_data[KEY]  # type: ignore[no-any-return]


# --- handlers ---------------------------------------------------------------------------------
async def on_timeline(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/timeline <actor>: the actor's pressures and positions in this chat, newest first."""
    if update.effective_message:
        await ledger(context).timeline(update.effective_message, list(context.args or []))


async def on_track(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/track <actor>: an alert when a new brief here puts the actor in a pressure."""
    if update.effective_message:
        await ledger(context).track(update.effective_message, list(context.args or []))


async def on_untrack(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/untrack [actor]: stop one alert, or all of them."""
    if update.effective_message:
        await ledger(context).untrack(update.effective_message, list(context.args or []))


async def on_actors(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/actors: the chat's actors, with merge and split buttons for admins."""
    if update.effective_message:
        await ledger(context).actors(update.effective_message)


async def on_forget(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/forget: delete this chat's ledger, briefs and digest items (admins in groups)."""
    if update.effective_message and update.effective_chat:
        await ledger(context).forget(update, context)


async def on_ledger_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Ledger buttons: a brief's actors, a timeline, merge and split."""
    if update.callback_query and update.callback_query.data:
        await ledger(context).button(update, context)


def add_handlers(app: Application) -> None:  # type: ignore[type-arg]
    """The ledger's commands and buttons, ahead of the bot's catch-all button handler."""
    for name, handler in (("timeline", on_timeline), ("track", on_track), ("untrack", on_untrack),
                          ("actors", on_actors), ("forget", on_forget)):
        app.add_handler(CommandHandler(name, handler))
    app.add_handler(CallbackQueryHandler(on_ledger_button, pattern=r"^l[btmxs]:"))
    # a channel's posts are its admins': /forget there, ahead of the handler that collects posts
    app.add_handler(MessageHandler(filters.UpdateType.CHANNEL_POST & filters.Regex(r"^/forget(@\w+)?$"), on_forget))


def install(app: Application, store: Store, signer: Signer, secret: bytes,  # type: ignore[type-arg]
            runner: Runner) -> Ledger:
    """The ledger for this bot: shared with handlers through bot_data, fed by the runner."""
    found = app.bot_data[KEY] = Ledger(store, signer, secret, runner.rich)
    runner.after_brief = found.after_brief
    return found
