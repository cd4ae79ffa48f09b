"""Who may spend tokens: the one place that admits work into the store.

Every path that can lead to an LLM call (a message, a group mention, collecting for a digest, a
channel post, `/digest`, a button, a request resumed after a restart) asks `Gate.allowed`, and
every new request is admitted through `Gate.admit`, which checks the allow-lists and reserves the
request against the daily quotas in the same transaction that writes it.
"""

from __future__ import annotations

from typing import Any

from bot.ops.config import Settings
from bot.ops.errors import NotAllowed
from bot.store import Quota, Request, Store

#: tokens of the static prompt and of a typical answer, for the reservation made at acceptance
PROMPT_OVERHEAD_TOKENS = 1_500
ANSWER_TOKENS = 1_500


def estimate_tokens(payload: dict[str, Any], settings: Settings) -> int:
    """A generous estimate, settled with the real count when the brief is done."""
    chars = len(payload["text"]) if "text" in payload else settings.article_max_chars
    return PROMPT_OVERHEAD_TOKENS + min(chars, settings.article_max_chars) // 3 + ANSWER_TOKENS


class Gate:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.quota = Quota(requests_per_user=settings.daily_requests_per_user,
                           tokens_per_chat=settings.daily_tokens_per_chat)

    def allowed(self, chat_id: int, user_id: int | None) -> bool:
        """With no allow-list everyone may use the bot; otherwise the chat or the user must be on one."""
        chats, users = self.settings.allowed_chat_ids, self.settings.allowed_user_ids
        if not chats and not users:
            return True
        return chat_id in chats or (user_id is not None and user_id in users)

    async def admit(self, chat_id: int, user_id: int | None, message_id: int | None, payload: dict[str, Any], *,
              mode: str = "reply", thread_id: int | None = None) -> Request | None:
        """Write a request if the chat may spend tokens and has quota left; None if it exists already.

        Raises NotAllowed, QuotaReached or StorageUnavailable.
        """
        if not self.allowed(chat_id, user_id):
            raise NotAllowed()
        return await self.store.add_request(chat_id, user_id, message_id, payload, mode=mode, thread_id=thread_id,
                                      reserve_tokens=estimate_tokens(payload, self.settings), quota=self.quota)
