"""The brief engine: article → LLM → checks → one repair → settled brief in its envelope.

It knows nothing of Telegram or HTTP fetching; callers hand it an `Article` and get a
`BriefEnvelope` or a `NewsbotError`.
"""

from __future__ import annotations

import logging
import re
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


#: Any spelling of the tags that fence untrusted text: <article>, </ARTICLE >, <article_metadata
#: x="">, fullwidth ＜／ａｒｔｉｃｌｅ＞. Nothing inside the fence can close it or open another.
_FENCE_TAG = re.compile(r"<\s*/?\s*article(?:_metadata)?\b[^>]*>?", re.IGNORECASE)
# fullwidth and small forms look like ASCII to a model: match on their ASCII twins (same length)
_ASCII_TWINS = {0xFF01 + i: 0x21 + i for i in range(94)} | {0xFE64: ord("<"), 0xFE65: ord(">")}
_META_CAP = 300


def fence(text: str) -> str:
    """`text` with every fence tag removed, so it can sit between the fences."""
    while True:
        twins = text.translate(_ASCII_TWINS)
        cuts = [m.span() for m in _FENCE_TAG.finditer(twins)]
        if not cuts:
            return text
        for start, end in reversed(cuts):
            text = text[:start] + text[end:]  # "<arti<article>cle>" is a tag once the inner one goes


def known_outlets(article: Article) -> list[str]:
    """Publishers known from metadata, not from the article's text: a fetched page's site name,
    a forwarded post's channel. A source named so is verified as `found_in: metadata`."""
    return [o for o in dict.fromkeys((article.outlet, article.publisher_hint)) if o and o.strip()]


def user_message(article: Article, text: str, truncated: bool) -> str:
    """Metadata, then the article, each fenced: the article is untrusted material (the system
    prompt says so). The article comes last so the static prefix stays cacheable."""

    def one_line(value: str) -> str:
        return " ".join(fence(value).split())[:_META_CAP]

    meta = [("Title", article.title), ("Author", article.author), ("Published", article.published),
            ("URL", article.url)]
    lines = [f"{k}: {one_line(v)}" for k, v in meta if v]
    if article.outlet:
        lines.append(f"Outlet: {one_line(article.outlet)} (known outlet)")
    if article.publisher_hint:
        lines.append(f"Forwarded from: {one_line(article.publisher_hint)} (known outlet)")
    parts = []
    if lines:
        parts.append("<article_metadata>\n" + "\n".join(lines) + "\n</article_metadata>")
    if truncated:
        parts.append("Note: the article was cut to fit; brief only the text inside <article>.")
    parts.append(f"<article>\n{fence(text)}\n</article>")
    return "\n\n".join(parts)


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
        grounds = grounding.Grounds(Matcher(article.text), tuple(known_outlets(article)))

        await progress("writing")
        reply = await self.llm.complete(messages, self.schema)
        usage, llm_seconds, calls = reply.usage, reply.seconds, 1
        await progress("checking")
        brief, issues = self._evaluate(reply.text, grounds)
        first_issues = list(issues)

        if issues:
            log.info("brief failed %d check(s); asking for one repair", len(issues))
            messages += [
                {"role": "assistant", "content": reply.text},
                {"role": "user", "content": prompts.repair_prompt(grounding.describe(issues))},
            ]
            repair = await self.llm.complete(messages, self.schema)
            usage, llm_seconds, calls = usage + repair.usage, llm_seconds + repair.seconds, 2
            fixed, fixed_issues = self._evaluate(repair.text, grounds)
            # keep whichever answer is better: a valid brief beats none, fewer failures win
            if fixed is not None and (brief is None or len(fixed_issues) <= len(issues)):
                brief, issues = fixed, fixed_issues
            reply = repair

        if brief is None:
            raise LLMBadOutput(grounding.describe(issues)[:300])

        settled = grounding.settle(brief, grounds)
        report = CheckReport(
            passed_first_time=not first_issues,
            repaired=bool(first_issues) and not issues,
            first_failures=first_issues,
            remaining=issues,
            dropped=settled.dropped,
            grounding=settled.grounding,
        )
        if report.grounding.low:
            log.info("brief is mostly unchecked: %d of %d span(s) verified",
                     report.grounding.spans_verified, report.grounding.spans_checked)
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
    def _evaluate(raw: str, grounds: grounding.Grounds) -> tuple[Brief | None, list[CheckIssue]]:
        brief, issues = grounding.parse(raw)
        if brief is None:
            return None, issues
        return brief, grounding.check(brief, grounds)
