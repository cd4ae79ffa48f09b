"""Rich messages on the wire: the Bot API 10.1 calls python-telegram-bot 22 has no wrapper for.

`sendRichMessage`, `sendRichMessageDraft`, `sendMessageDraft` and `editMessageText(rich_message=…)`
go through `Bot.do_api_request`, so they share the bot's request backend and rate limiter.

`RichChoice` decides per chat whether a brief goes out rich (RICH_MESSAGES and the chat's
/settings choice), and remembers Telegram's refusals: a server without the methods (404, method
not found) makes the whole bot classic for RICH_RETRY_S, a Bad Request about one rich message
makes that chat classic for as long. The caller then sends the same brief classic at once: a
refused call put nothing in the chat, so nothing is duplicated and no error is shown.
"""

from __future__ import annotations

import logging
import time
import warnings
from typing import Any

from telegram import Bot, InlineKeyboardMarkup, Message, ReplyParameters
from telegram.error import BadRequest, EndPointNotFound, TelegramError
from telegram.warnings import PTBUserWarning

from bot.ops.config import Settings
from bot.render.rich import RichMessage

log = logging.getLogger(__name__)
# PTB's edit_message_text has no rich_message, so the rich edit goes through do_api_request, which
# warns that editMessageText has a wrapper
warnings.filterwarnings("ignore", message="Please use 'Bot.editMessageText'", category=PTBUserWarning)

#: words of a Bad Request that is about the rich message itself (its HTML, its size, the method)
_RICH_WORDS = ("rich", "can't parse", "too long", "too many", "nested", "unsupported")


def refusal(exc: TelegramError) -> bool:
    """Whether Telegram refused the rich message as such (never a message that is gone)."""
    if isinstance(exc, EndPointNotFound):
        return True
    if isinstance(exc, BadRequest):
        text = str(exc).lower()
        if "not found" in text or "can't be edited" in text or "not modified" in text:
            return False
        return any(w in text for w in _RICH_WORDS)
    return False


class RichChoice:
    """Whether a chat gets rich messages now, and the refusals that say it should not."""

    def __init__(self, settings: Settings) -> None:
        self.mode = settings.rich_messages
        self.retry_s = settings.rich_retry_s
        self._everyone_until = 0.0
        self._chat_until: dict[int, float] = {}

    def wants(self, chat_id: int, chat_format: str) -> bool:
        if self.mode == "off" or chat_format == "classic":
            return False
        if self.mode == "on":
            return True
        now = time.monotonic()
        return now >= self._everyone_until and now >= self._chat_until.get(chat_id, 0.0)

    def refused(self, chat_id: int, exc: TelegramError) -> None:
        log.warning("Telegram refused a rich message in chat %s (%s); sent classic instead", chat_id, exc)
        if self.mode != "auto":
            return
        until = time.monotonic() + self.retry_s
        if isinstance(exc, EndPointNotFound):
            self._everyone_until = until
        else:
            self._chat_until[chat_id] = until
            if len(self._chat_until) > 10_000:
                now = time.monotonic()
                self._chat_until = {c: t for c, t in self._chat_until.items() if t > now}


async def send(bot: Bot, chat_id: int, rich: RichMessage, *, reply: ReplyParameters | None = None,
               thread_id: int | None = None, markup: InlineKeyboardMarkup | None = None) -> Message:
    kwargs: dict[str, Any] = {"chat_id": chat_id, "rich_message": rich.input()}
    if reply is not None:
        kwargs["reply_parameters"] = reply
    if thread_id is not None:
        kwargs["message_thread_id"] = thread_id
    if markup is not None:
        kwargs["reply_markup"] = markup
    return await bot.do_api_request("sendRichMessage", api_kwargs=kwargs, return_type=Message)  # type: ignore[no-any-return]


async def edit(bot: Bot, chat_id: int, message_id: int, rich: RichMessage,
               markup: InlineKeyboardMarkup | None = None) -> None:
    kwargs: dict[str, Any] = {"chat_id": chat_id, "message_id": message_id, "rich_message": rich.input()}
    if markup is not None:
        kwargs["reply_markup"] = markup
    await bot.do_api_request("editMessageText", api_kwargs=kwargs)


async def draft(bot: Bot, chat_id: int, draft_id: int, rich: RichMessage, *, thread_id: int | None = None) -> None:
    """A partial message streamed to a private chat (an ephemeral preview until the brief is sent)."""
    kwargs: dict[str, Any] = {"chat_id": chat_id, "draft_id": draft_id, "rich_message": rich.input()}
    if thread_id is not None:
        kwargs["message_thread_id"] = thread_id
    await bot.do_api_request("sendRichMessageDraft", api_kwargs=kwargs)
