"""Update handlers: commands, messages and buttons, each a plain `async def handler(update, context)`.

Messages that carry articles go to `intake`; commands are answered here.
"""

from __future__ import annotations

import logging

from telegram import (
    InlineKeyboardMarkup,
    InputFile,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import BadRequest, EndPointNotFound
from telegram.ext import ContextTypes

from bot.chat import rich as wire
from bot.chat.buttons import apply_setting, settings_keyboard, settings_text
from bot.chat.digests import topic_of
from bot.chat.intake import collect, message_links, reply, submit
from bot.chat.services import Services, services
from bot.engine.schema import BriefEnvelope
from bot.ops.errors import StorageUnavailable
from bot.render import texts
from bot.render.classic import render_messages, render_sources
from bot.render.rich import render_rich

log = logging.getLogger(__name__)


# --- handlers ---------------------------------------------------------------------------------
async def on_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start: a greeting, what to send (with an example) and the settings buttons."""
    msg, chat = update.effective_message, update.effective_chat
    if msg and chat:
        s = services(context)
        cs = await s.remember_chat(update)
        group = chat.type != ChatType.PRIVATE
        rich = s.settings.rich_messages != "off"
        forum, topic = topic_of(msg)
        await msg.reply_text(texts.say("start", await s.view(chat.id)) + "\n\n"
                             + settings_text(cs, group=group, rich=rich, forum=forum),
                             reply_markup=settings_keyboard(cs, group=group, rich=rich, forum=forum, topic=topic))


async def on_help(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/help: the full reference."""
    if update.effective_message and update.effective_chat:
        s = services(context)
        await s.remember_chat(update)
        await update.effective_message.reply_text(texts.say("help", await s.view(update.effective_chat.id),
                                                            links=s.settings.max_links_per_message))


async def on_settings(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/settings: language view (and, in groups, the digest) as buttons."""
    msg, chat = update.effective_message, update.effective_chat
    if msg and chat:
        s = services(context)
        cs = await s.remember_chat(update)
        group, rich = chat.type != ChatType.PRIVATE, s.settings.rich_messages != "off"
        forum, topic = topic_of(msg)
        await msg.reply_text(settings_text(cs, group=group, rich=rich, forum=forum),
                             reply_markup=settings_keyboard(cs, group=group, rich=rich, forum=forum, topic=topic))


async def on_lang(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/lang ar|en|both: the chat's language view."""
    msg, chat = update.effective_message, update.effective_chat
    if not msg or not chat:
        return
    s = services(context)
    choice = (context.args or [""])[0].lower()
    if choice not in texts.VIEWS:
        await msg.reply_text(texts.say("lang_usage", await s.view(chat.id)))
        return
    if chat.type != ChatType.PRIVATE and not await is_admin(update, context):
        await msg.reply_text(texts.say("settings_admins_only", await s.view(chat.id)))
        return
    cs = await s.store.chat(chat.id)
    cs.lang = choice
    await s.store.save_chat(cs)
    await msg.reply_text(texts.say("lang_set", choice, **texts.language_name(choice)))  # type: ignore[arg-type]


async def on_usage(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/usage: the user's own figures today; admins also see totals and the LLM concurrency cap."""
    msg, user, chat = update.effective_message, update.effective_user, update.effective_chat
    if not msg or not user or not chat:
        return
    s = services(context)
    view = await s.view(chat.id)
    mine = await s.store.usage(user_id=user.id)
    text = texts.say("usage_today", view, **texts.counts(mine.requests, texts.REQUESTS, "requests"),
                     **texts.counts(mine.tokens, texts.TOKENS, "tokens"))
    if s.settings.daily_requests_per_user:
        left = max(0, s.settings.daily_requests_per_user - mine.requests)
        text += "\n" + texts.say("usage_left", view, **texts.counts(left, texts.REQUESTS, "left"))
    if user.id in s.settings.admin_user_ids:
        total = await s.store.usage()
        cap = s.llm_concurrency()
        text += "\n\n" + texts.say("usage_admin", view, **texts.counts(total.requests, texts.REQUESTS, "requests"),
                                   **texts.counts(total.tokens, texts.TOKENS, "tokens"),
                                   ar_cap=texts.number(cap, "ar"), en_cap=texts.number(cap, "en"))
    await msg.reply_text(text)


async def on_summarize(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/summarize: brief the replied-to message, or the command's own text and links."""
    msg = update.effective_message
    if not msg:
        return
    own = (msg.text or "").split(maxsplit=1)
    has_args = len(own) > 1 or any(e.type == MessageEntity.TEXT_LINK for e in msg.entities)
    source = msg if has_args or not msg.reply_to_message else msg.reply_to_message
    async with services(context).in_order(msg.chat_id):
        await submit(update, context, source, strip_command=source is msg)


async def on_private(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Anything sent in a private chat: text, links, captions, forwarded posts."""
    msg = update.effective_message
    if not msg:
        return
    s = services(context)
    async with s.in_order(msg.chat_id):
        await s.remember_chat(update)
        if s.joiner.wants(msg):
            s.joiner.add(update, context, msg)
        else:
            await s.joiner.end(msg)  # a paste waiting before this message goes first
            await submit(update, context, msg)


async def on_group(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Groups: answer mentions and replies to the bot; otherwise collect for digests quietly."""
    msg = update.effective_message
    if not msg:
        return
    s = services(context)
    async with s.in_order(msg.chat_id):
        await _on_group(update, context, s, msg)


async def _on_group(update: Update, context: ContextTypes.DEFAULT_TYPE, s: Services, msg: Message) -> None:
    bot = context.bot
    if s.joiner.continues(msg):  # the next part of a paste (asked for, or collected)
        s.joiner.add(update, context, msg)
        return
    await s.joiner.end(msg)  # a paste waiting before this message goes first
    mentioned = any(
        (e.type == MessageEntity.MENTION and v.lower() == f"@{bot.username}".lower())
        or (e.type == MessageEntity.TEXT_MENTION and e.user and e.user.id == bot.id)
        for e, v in {**msg.parse_entities(), **msg.parse_caption_entities()}.items())
    replied_to_bot = bool(msg.reply_to_message and msg.reply_to_message.from_user
                          and msg.reply_to_message.from_user.id == bot.id)
    text = (msg.text or msg.caption or "").replace(f"@{bot.username}", "").strip()
    own_input = bool(message_links(msg)) or len(text) >= s.settings.article_min_chars
    if mentioned or (replied_to_bot and own_input):  # a short reply to the bot is conversation, not work
        source = msg if own_input or not msg.reply_to_message or replied_to_bot else msg.reply_to_message
        if source is msg and s.joiner.starts(msg):
            s.joiner.add(update, context, msg, mention=f"@{bot.username}")
        else:
            await submit(update, context, source, strip_mention=True)
    elif (await s.store.chat(msg.chat_id)).digest_enabled:
        if s.joiner.starts(msg):
            s.joiner.add(update, context, msg, mode="collect")
        else:
            await collect(update, context, msg)


async def on_channel_post(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Channel posts are read for digests; the bot never replies under them."""
    post = update.channel_post
    if not post:
        return
    s = services(context)
    text = post.text or ""
    async with s.in_order(post.chat_id):
        if text.startswith("/digest"):
            await s.digests.command(post, text.split()[1:], is_admin=True)
        elif (await s.store.chat(post.chat_id)).digest_enabled:
            await collect(update, context, post)


async def is_admin(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """Private chats belong to their user; in groups ask Telegram; anonymous admins post as the chat."""
    msg, user, chat = update.effective_message, update.effective_user, update.effective_chat
    if chat is None:
        return False
    if chat.type == ChatType.PRIVATE or (msg is not None and msg.sender_chat is not None
                                         and msg.sender_chat.id == chat.id):
        return True
    if user is None:
        return False
    member = await context.bot.get_chat_member(chat.id, user.id)
    return member.status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)


async def on_digest(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/digest on [HH:MM] [tz] | off | now | status; only chat admins change the schedule."""
    msg = update.effective_message
    if msg:
        await services(context).digests.command(msg, list(context.args or []),
                                                is_admin=await is_admin(update, context))


async def on_subscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/subscribe @chat (or a chat id) in a private chat: that chat's digest, delivered here."""
    msg, user = update.effective_message, update.effective_user
    if msg and user:
        s = services(context)
        await s.remember_chat(update)
        await s.digests.subscribe(msg, user.id, list(context.args or []))


async def on_unsubscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/unsubscribe [@chat]: stop one private digest, or all of them."""
    msg, user = update.effective_message, update.effective_user
    if msg and user:
        await services(context).digests.unsubscribe(msg, user.id, list(context.args or []))


async def on_unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A command the bot does not know, in a private chat: point to /help."""
    msg, chat = update.effective_message, update.effective_chat
    if msg and chat:
        await msg.reply_text(texts.say("unknown_command", await services(context).view(chat.id)))


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Buttons: under a brief (language view, sources, JSON) and in /settings."""
    query = update.callback_query
    if query is None:
        return
    message = query.message if isinstance(query.message, Message) else None
    if not query.data or message is None:
        await query.answer()  # an old message Telegram no longer shows us: stop the spinner
        return
    s = services(context)
    if query.data.startswith("cfg:"):
        await on_settings_button(update, context, message)
        return
    button = s.signer.parse(query.data, message.chat_id)
    env = await s.store.get_brief(button.brief_id) if button else None
    if env is None or button is None or not s.gate.allowed(message.chat_id, query.from_user.id):
        await query.answer(texts.say("brief_expired", "both").replace("\n\n", " · ").replace(texts.RLM, ""),
                           show_alert=True)
        return
    await query.answer()
    reply_to = ReplyParameters(message_id=message.message_id, allow_sending_without_reply=True)
    if button.kind == "v" and button.view in texts.VIEWS:
        keyboard = s.signer.brief_keyboard(message.chat_id, button.brief_id)
        if await _rich_view(s, message, env, button.view, keyboard):  # type: ignore[arg-type]
            return
        messages = render_messages(env, button.view)  # type: ignore[arg-type]
        if len(messages) == 1:
            try:
                await message.edit_text(messages[0], reply_markup=keyboard)
            except BadRequest as exc:
                if "not modified" not in str(exc):
                    raise
        else:
            for i, text in enumerate(messages):
                await context.bot.send_message(message.chat_id, text, reply_parameters=reply_to,
                                               reply_markup=keyboard if i == len(messages) - 1 else None)
    elif button.kind == "s":
        for text in render_sources(env, await s.view(message.chat_id)):
            await context.bot.send_message(message.chat_id, text, reply_parameters=reply_to)
    elif button.kind == "j":
        data = env.model_dump_json(indent=2).encode()
        await context.bot.send_document(message.chat_id, InputFile(data, filename=f"brief-{button.brief_id}.json"),
                                        reply_parameters=reply_to)


async def _rich_view(s: Services, message: Message, env: BriefEnvelope, view: texts.View,
                     keyboard: InlineKeyboardMarkup) -> bool:
    """A rich brief under the button, edited into `view`; False when the brief is classic (a
    message with text), the chat now gets classic messages, or Telegram refuses the rich one:
    the caller then shows it classic."""
    if message.text is not None or not s.runner.rich.wants(message.chat_id,
                                                          (await s.store.chat(message.chat_id)).format):
        return False
    rich = render_rich(env, view)
    if rich is None:
        return False
    try:
        await wire.edit(message.get_bot(), message.chat_id, message.message_id, rich, keyboard)
    except (BadRequest, EndPointNotFound) as exc:
        if "not modified" in str(exc).lower():
            return True
        if not wire.refusal(exc):
            raise
        s.runner.rich.refused(message.chat_id, exc)
        return False
    return True


async def on_settings_button(update: Update, context: ContextTypes.DEFAULT_TYPE, message: Message) -> None:
    """A /settings choice: applied in place by editing the settings message (admins only in groups)."""
    query = update.callback_query
    assert query is not None and query.data is not None
    s = services(context)
    group = message.chat.type != ChatType.PRIVATE
    view = await s.view(message.chat_id)
    if group and not await is_admin(update, context):
        await query.answer(texts.say("settings_admins_only", view).replace(texts.RLM, ""), show_alert=True)
        return
    cs = await s.store.chat(message.chat_id)
    digest_before = (cs.digest_enabled, cs.digest_time)
    digest_choice = query.data.startswith(("cfg:digest:", "cfg:time:"))
    # the digest spends tokens: only where the allow-list lets the chat (as /digest on)
    refused = digest_choice and (not group or not s.gate.allowed(message.chat_id, None))
    if refused or not apply_setting(cs, query.data):
        await query.answer()
        return
    if cs.digest_enabled and not digest_before[0]:
        cs.last_digest_at = cs.last_digest_at or await s.store.now()
    await s.store.save_chat(cs)
    if (cs.digest_enabled, cs.digest_time) != digest_before:
        if cs.digest_enabled:
            s.digests.schedule(cs)
        else:
            s.digests.unschedule(cs.chat_id)
    await query.answer()
    try:
        rich = s.settings.rich_messages != "off"
        forum, topic = topic_of(message)
        await message.edit_text(settings_text(cs, group=group, rich=rich, forum=forum),
                                reply_markup=settings_keyboard(cs, group=group, rich=rich, forum=forum, topic=topic))
    except BadRequest as exc:
        if "not modified" not in str(exc):
            raise


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log a failed update with its id; the bot goes on."""
    uid = update.update_id if isinstance(update, Update) else None
    if isinstance(context.error, StorageUnavailable):
        services(context).storage_trouble(context.error)
        if isinstance(update, Update) and update.effective_message and update.effective_chat and \
                update.effective_chat.type != ChatType.CHANNEL:
            await reply(update.effective_message, "⚠️ " + texts.say("cannot_accept", "both"))
        return
    log.error("update %s failed: %r", uid, context.error, exc_info=context.error)
