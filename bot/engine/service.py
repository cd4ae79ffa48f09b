"""The one place that decides "cache or compute": an article in, its brief's envelope out.

The bot's runner and `newsbot summarize` both come here. A brief is reused from the store when the
same model and prompt version already briefed the same link (shared within FETCH_CACHE_TTL_S, so
no fetch is needed) or the same text (by content hash, whatever its source); otherwise the article
is read, held to the one minimum-length rule, and briefed by the engine, and the envelope stored
under both keys.

What a request adds to the article (the publisher a forwarded post names, the caption that titles a
file) reaches the model and so the brief. A brief made from the article alone is shared by every
chat; one made with a request's publisher or caption is stored under their key, and served only to
a request that adds the same: a brief served from the store carries nothing the asking chat did
not send itself.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.engine import prompts
from bot.engine.article import Article, check_length
from bot.engine.brief import BriefEngine, Progress, _no_progress
from bot.engine.preview import Previewer
from bot.engine.schema import BriefEnvelope
from bot.ops.config import Settings
from bot.store import Store

log = logging.getLogger(__name__)

Reader = Callable[[], Awaitable[Article]]


def context_key(publisher: str | None, caption: str | None = None) -> str:
    """The cache key of what a request adds to the article: "" for the article alone. Digests of
    the publisher's name and of the caption, so the store's index holds neither."""
    parts = [f"{kind}:" + hashlib.sha256(value.strip().encode()).hexdigest()
             for kind, value in (("publisher", publisher), ("caption", caption)) if value and value.strip()]
    return " ".join(parts)


@dataclass(frozen=True)
class Briefed:
    brief_id: int  # the envelope's row in the store
    envelope: BriefEnvelope
    cached: bool  # True: from the store, no LLM call


class BriefService:
    def __init__(self, settings: Settings, store: Store | None, engine: BriefEngine) -> None:
        # without a store (the CLI in a read-only place) every brief is made afresh
        self.settings, self.store, self.engine = settings, store, engine

    def _key(self) -> dict[str, str]:
        # a brief is reused only from the same model and prompts: a change of either is a new brief
        return {"model": self.settings.llm_model, "prompt_version": prompts.version()}

    async def cached(self, *, url: str | None = None, content_hash: str | None = None,
                     publisher: str | None = None, caption: str | None = None) -> Briefed | None:
        """A stored brief of this link (recent) or this text, by the same model and prompts, made
        with the same publisher and caption (None: from the article alone)."""
        found = None
        if self.store is None:
            return None
        key = {**self._key(), "context": context_key(publisher, caption)}
        if url:
            found = await self.store.find_brief(url=url, max_age_s=self.settings.fetch_cache_ttl_s, **key)
        if not found and content_hash:
            found = await self.store.find_brief(content_hash=content_hash, **key)
        return Briefed(found[0], found[1], True) if found else None

    async def brief(self, read: Reader, *, url: str | None = None, min_chars: int | None = None,
                    progress: Progress = _no_progress, use_cache: bool = True,
                    publisher: str | None = None, caption: str | None = None,
                    preview: Previewer | None = None) -> Briefed:
        """The brief of the article `read` gives. `url` is the link as shared: a brief of it is
        reused before anything is fetched. `min_chars`: the one minimum-length rule, for callers
        that hold every input to it (the CLI); pasted text is held to it when it is read.
        `publisher`: the channel the request names as the article's publisher, if any; `caption`:
        the caption `read` makes a file's title, if any."""
        if use_cache and (found := await self.cached(url=url, publisher=publisher, caption=caption)):
            return found
        article = await read()
        article.publisher_hint = publisher
        if min_chars is not None:
            check_length(article.text, min_chars)
        if use_cache and (found := await self.cached(content_hash=article.content_hash, publisher=publisher,
                                                     caption=caption)):
            return found
        env = await self.engine.run(article, progress, preview)
        if self.store is None:
            return Briefed(0, env, False)
        # keyed by the link as shared, so the next share of it needs no fetch either
        return Briefed(await self.store.save_brief(env, url or article.url, context=context_key(publisher, caption)),
                       env, False)
