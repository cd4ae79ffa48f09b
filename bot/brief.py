"""The brief engine: article → LLM → checks → one repair → settled brief in its envelope.

It knows nothing of Telegram or HTTP fetching; callers hand it an `Article` and get a
`BriefEnvelope` or a `NewsbotError`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from bot import grounding, prompts
from bot.article import Article, fit
from bot.config import Settings
from bot.errors import LLMBadOutput
from bot.llm import LLMClient
from bot.normalize import Matcher
from bot.schema import (
    ArticleInfo,
    Brief,
    BriefEnvelope,
    CheckIssue,
    CheckReport,
    Provenance,
    brief_json_schema,
)

log = logging.getLogger(__name__)

Progress = Callable[[str], Awaitable[None]]


async def _no_progress(stage: str) -> None:
    return None


def user_message(article: Article, text: str, truncated: bool) -> str:
    """The article last, after its metadata, so the static prefix stays cacheable."""
    meta = [
        ("Title", article.title), ("Outlet", article.outlet or article.publisher_hint),
        ("Author", article.author), ("Published", article.published), ("URL", article.url),
    ]
    lines = [f"{k}: {v}" for k, v in meta if v]
    if article.publisher_hint:
        lines.append(f"Forwarded from: {article.publisher_hint} (count it as the publisher source)")
    if truncated:
        lines.append("Note: the article was cut to fit; brief only the text below.")
    header = "\n".join(lines)
    return f"{header}\n\nARTICLE:\n{text}" if header else f"ARTICLE:\n{text}"


class BriefEngine:
    """Turns articles into checked briefs; one engine serves every request."""

    def __init__(self, settings: Settings, llm: LLMClient) -> None:
        self.settings = settings
        self.llm = llm
        self.schema = brief_json_schema()

    async def run(self, article: Article, progress: Progress = _no_progress) -> BriefEnvelope:
        started = time.monotonic()
        text, truncated = fit(article.text, self.settings.article_max_chars)
        messages = [
            {"role": "system", "content": prompts.system_prompt()},
            {"role": "user", "content": user_message(article, text, truncated)},
        ]
        matcher = Matcher(article.text)

        await progress("writing")
        reply = await self.llm.complete(messages, self.schema)
        usage, llm_seconds, calls = reply.usage, reply.seconds, 1
        await progress("checking")
        brief, issues = self._evaluate(reply.text, matcher)
        first_issues = list(issues)

        if issues:
            log.info("brief failed %d check(s); asking for one repair", len(issues))
            messages += [
                {"role": "assistant", "content": reply.text},
                {"role": "user", "content": prompts.repair_prompt(grounding.describe(issues))},
            ]
            repair = await self.llm.complete(messages, self.schema)
            usage, llm_seconds, calls = usage + repair.usage, llm_seconds + repair.seconds, 2
            fixed, fixed_issues = self._evaluate(repair.text, matcher)
            # keep whichever answer is better: a valid brief beats none, fewer failures win
            if fixed is not None and (brief is None or len(fixed_issues) <= len(issues)):
                brief, issues = fixed, fixed_issues
            reply = repair

        if brief is None:
            raise LLMBadOutput(grounding.describe(issues)[:300])

        settled = grounding.settle(brief, issues)
        n_spans = len(grounding.spans(settled.brief))
        report = CheckReport(
            passed_first_time=not first_issues,
            repaired=bool(first_issues) and not issues,
            first_failures=first_issues,
            remaining=issues,
            dropped=settled.dropped,
            unverified=settled.unverified,
            verified_spans=n_spans - len(settled.unverified),
        )
        info = ArticleInfo(
            source=article.source, url=article.url, title=article.title, outlet=article.outlet,
            author=article.author, published=article.published,
            language=settled.brief.language or article.language, chars=len(article.text),
            chars_sent=len(text), truncated=truncated,
            status="truncated" if truncated and article.status in ("text", "full") else article.status,
            content_hash=article.content_hash,
        )
        provenance = Provenance(
            model=reply.model, prompt_version=prompts.version(),
            response_format=self.settings.llm_response_format, usage=usage, llm_calls=calls,
            llm_seconds=round(llm_seconds, 3), total_seconds=round(time.monotonic() - started, 3),
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        return BriefEnvelope(brief=settled.brief, article=info, provenance=provenance, checks=report)

    @staticmethod
    def _evaluate(raw: str, matcher: Matcher) -> tuple[Brief | None, list[CheckIssue]]:
        brief, issues = grounding.parse(raw)
        if brief is None:
            return None, issues
        return brief, grounding.check(brief, matcher)
