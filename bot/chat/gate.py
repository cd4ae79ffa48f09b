"""Who may spend tokens: the one place that admits work into the store.

Every path that can lead to an LLM call (a message, a group mention, collecting for a digest, a
channel post, `/digest`, a button, a request resumed after a restart) asks `Gate.allowed`, and
every new request is admitted through `Gate.admit`, which checks the allow-lists and reserves the
request against the daily quotas in the same transaction that writes it.

An article collected for a digest counts against its sender's daily requests (a channel's post
against the channel) and against the chat's daily budget of collected articles; the same article
collected twice in a day (the same link, or the same text as the brief cache compares it) is
briefed once. The allow-list for collecting is the chat's: a digest is the chat's spending.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from bot.engine.normalize import normalize
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


#: query parameters that only say where a click came from: the same article without them
_TRACKING = ("utm_", "fbclid", "gclid", "igshid", "mc_cid", "mc_eid", "ref_src")


def article_key(payload: dict[str, Any]) -> str:
    """What makes two collected posts the same article: the link without its tracking parameters
    and fragment, the file (Telegram's id of its content, the same in every message that carries
    it), or the text as the brief cache compares it (bot.engine.normalize)."""
    if "url" in payload:
        parts = urlsplit(payload["url"].strip())
        query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                           if not k.lower().startswith(_TRACKING)])
        url = urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), query, ""))
        return "url:" + hashlib.sha256(url.encode()).hexdigest()
    if "file" in payload:
        file = payload["file"]
        return "file:" + hashlib.sha256(str(file.get("unique") or file["id"]).encode()).hexdigest()
    return "text:" + hashlib.sha256(normalize(payload.get("text", "")).encode()).hexdigest()


class Gate:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.quota = Quota(requests_per_user=settings.daily_requests_per_user,
                           tokens_per_chat=settings.daily_tokens_per_chat,
                           collected_per_chat=settings.daily_collected_per_chat)

    def allowed(self, chat_id: int, user_id: int | None, mode: str = "reply") -> bool:
        """With no allow-list everyone may use the bot; otherwise the chat or the user must be on one
        (for an article collected for a digest, the chat)."""
        chats, users = self.settings.allowed_chat_ids, self.settings.allowed_user_ids
        if not chats and not users:
            return True
        return chat_id in chats or (mode != "collect" and user_id is not None and user_id in users)

    async def admit(self, chat_id: int, user_id: int | None, message_id: int | None, payload: dict[str, Any], *,
              mode: str = "reply", thread_id: int | None = None) -> Request | None:
        """Write a request if the chat may spend tokens and has quota left; None if it exists already.

        Raises NotAllowed, QuotaReached (CollectBudgetReached) or StorageUnavailable. For an article
        collected for a digest, `user_id` is its sender, and None also means the chat collected the
        same article today.
        """
        if not self.allowed(chat_id, user_id, mode):
            raise NotAllowed()
        return await self.store.add_request(chat_id, user_id, message_id, payload, mode=mode, thread_id=thread_id,
                                            reserve_tokens=estimate_tokens(payload, self.settings), quota=self.quota,
                                            article_key=article_key(payload) if mode == "collect" else None)
