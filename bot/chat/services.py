"""What the handlers share: settings, store, gate, runner, digests and buttons, in one value.

The Application keeps it in `bot_data`, so handlers stay plain `async def handler(update, context)`
functions, as in python-telegram-bot's examples.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ContextTypes

from bot.chat.buttons import Signer
from bot.chat.gate import Gate
from bot.chat.runner import ChatLocks, Runner
from bot.ops.config import Settings
from bot.ops.logs import Throttle
from bot.ops.metrics import Metrics
from bot.render import texts
from bot.store import ChatSettings, Store

if TYPE_CHECKING:
    from bot.chat.digests import Digests
    from bot.chat.intake import PasteJoiner

log = logging.getLogger(__name__)
KEY = "newsbot"
STORAGE_LOG_EVERY_S = 60.0


@dataclass
class Services:
    settings: Settings
    store: Store
    gate: Gate
    runner: Runner
    digests: Digests
    signer: Signer
    joiner: PasteJoiner
    metrics: Metrics
    llm_concurrency: Callable[[], int]
    _storage_log: Throttle = field(default_factory=lambda: Throttle(STORAGE_LOG_EVERY_S), repr=False)
    #: Held by a message handler from its first line until its requests are stored. Updates are
    #: handled concurrently; this lock is taken before the handler's first `await`, in the order
    #: Telegram delivered the messages, and asyncio's locks are first come, first served. So a
    #: chat's requests reach the store in the order they were sent, before any worker can claim a
    #: later one first.
    in_order: ChatLocks = field(default_factory=ChatLocks, repr=False)

    async def view(self, chat_id: int) -> texts.View:
        return await self.runner.view(chat_id)

    async def remember_chat(self, update: Update) -> ChatSettings:
        """A new private chat's view follows the user's Telegram language (see texts.default_view)."""
        chat, user = update.effective_chat, update.effective_user
        assert chat is not None
        cs = await self.store.chat(chat.id)
        if not cs.known and chat.type == ChatType.PRIVATE and user is not None:
            cs.lang = texts.default_view(user.language_code)
            await self.store.save_chat(cs)
        return cs

    def storage_trouble(self, exc: Exception) -> None:
        """Log a store that cannot write once a minute, not once per update."""
        if self._storage_log.ready():
            log.error("the store cannot write (%s); refusing new work until it can", exc)


def services(context: ContextTypes.DEFAULT_TYPE) -> Services:
    return context.application.bot_data[KEY]  # type: ignore[no-any-return]
