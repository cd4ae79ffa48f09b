"""The brief engine: article → LLM → checks → one repair → settled brief in its envelope.

A partly bad answer still gives a brief: items are validated one by one (`grounding.parse`), an
answer cut off by the token limit or stopped in a loop is read as far as it went, and a repair that
fails in any way keeps the first answer. Only an answer without a valid headline and summary fails.

It knows nothing of Telegram or HTTP fetching; callers hand it an `Article` and get a
`BriefEnvelope` or a `NewsbotError`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from bot.engine import grounding, passages, prompts, references
from bot.engine.article import Article, estimate_tokens, fit_tokens
from bot.engine.candidates import Candidates, candidates_block, fence
from bot.engine.held import article_spans, held_schema
from bot.engine.llm import LLMClient, LLMReply
from bot.engine.normalize import Matcher
from bot.engine.preview import Previewer, Watch
from bot.engine.schema import (
    Actor,
    BriefEnvelope,
    CheckIssue,
    CheckReport,
    Provenance,
    brief_json_schema,
)
from bot.ops.config import Settings
from bot.ops.errors import ConfigError, LLMBadOutput, LLMError

log = logging.getLogger(__name__)

Progress = Callable[[str], Awaitable[None]]


async def _no_progress(stage: str) -> None:
    return None


_T = TypeVar("_T")
#: threads of their own for the checks, so that in a burst they never queue ahead of the default
#: executor's other work (the fetcher's DNS lookups)
_CHECKS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="newsbot-checks")


async def _off_loop(fn: Callable[..., _T], *args: Any) -> _T:
    """`fn(*args)` in a checks thread: CPU work that would hold up every chat on the event loop."""
    return await asyncio.get_running_loop().run_in_executor(_CHECKS, functools.partial(fn, *args))


_META_CAP = 300

def known_outlets(article: Article) -> list[str]:
    """Publishers known from metadata, not from the article's text: a fetched page's site name,
    a forwarded post's channel. A source named so is verified as `found_in: metadata`."""
    return [o for o in dict.fromkeys((article.outlet, article.publisher_hint)) if o and o.strip()]


def user_message(article: Article, text: str, truncated: bool, offered: Candidates = Candidates()) -> str:
    """Metadata, the candidates found in the article, then the article, each fenced: the article
    is untrusted material (the system prompt says so). The article comes last."""

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
    block = candidates_block(offered.within(len(text)), article.language)
    if block:
        parts.append(block)
    if truncated:
        parts.append("Note: the article was cut to fit; brief only the text inside <article>.")
    parts.append(f"<article>\n{fence(text)}\n</article>")
    return "\n\n".join(parts)


@dataclass(frozen=True)
class Ready:
    """What the prompt offered ready to copy, for reading the answer: the states' actors, and the
    ids of the speakers and the people named by their office, with their mentions and states
    (`references.resolve`)."""

    actors: Sequence[Actor] = ()
    spoken: dict[str, tuple[str, str | None]] = field(default_factory=dict)

    @classmethod
    def of(cls, sent: Candidates) -> Ready:
        """What `sent`, the candidates in the part of the article sent, offers ready to copy."""
        actors = [*(s.actor() for s in sent.states), *(a for s in sent.lines if (a := s.actor()) is not None)]
        return cls(actors, {s.id: (s.mention, s.country) for s in sent.lines})


#: tokens a chat template adds around each message (role markers, separators), on the high side
TEMPLATE_TOKENS_PER_MESSAGE = 8
#: the repair round is worth its call only when it still sees this share of what the first saw
REPAIR_MIN_ARTICLE_SHARE = 0.25


@dataclass
class Answer:
    """One completion, read and checked: `parsed.brief` is None when it is unusable."""

    reply: LLMReply
    parsed: grounding.Parsed
    issues: list[CheckIssue]  # schema failures and check failures, paths into the answer as given
    _settled: grounding.Settled | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def usable(self) -> bool:
        return self.parsed.brief is not None

    def settled(self, grounds: grounding.Grounds) -> grounding.Settled:
        """The usable brief made safe to show (`grounding.settle`), worked out once: the repair
        decision and the envelope both need it. One engine run has one `grounds` for all its answers."""
        if self._settled is None:
            assert self.parsed.brief is not None
            self._settled = grounding.settle(self.parsed.brief, grounds)
        return self._settled


class BriefEngine:
    """Turns articles into checked briefs; one engine serves every request."""

    def __init__(self, settings: Settings, llm: LLMClient, *, candidates: bool = True) -> None:
        self.settings = settings
        self.llm = llm
        # what the program finds in the article (attributed statements, the states and speakers it
        # names) is offered to the model as candidates (the checks are the same without them; `newsbot eval`
        # can compare)
        self.candidates = candidates
        # response_format json_schema gets the form strict mode accepts; the prompt shows all rules
        self.schema = brief_json_schema(strict=True)
        # only constrained decoding (json_schema) can hold the model to the article's spans; opt-in,
        # since each article then has a schema of its own (a hosted API compiles every new schema)
        self.spans = settings.llm_response_format == "json_schema" and settings.llm_spans_in_schema

    # --- fitting the context -------------------------------------------------------------------
    def _article_tokens(self, fixed: list[str]) -> int | None:
        """Tokens left for the article when the messages `fixed` (all but the article) and the
        completion must fit LLM_CONTEXT_TOKENS; None when no context size is set."""
        context = self.settings.llm_context_tokens
        if context is None:
            return None
        used = sum(estimate_tokens(m) + TEMPLATE_TOKENS_PER_MESSAGE for m in fixed)
        return context - self.settings.llm_max_completion_tokens - used

    def _fit(self, article: Article, extra: Sequence[str] = (),
             offered: Candidates = Candidates()) -> tuple[str, bool]:
        """The article's text as sent: cut at a paragraph boundary to ARTICLE_MAX_CHARS and, with
        LLM_CONTEXT_TOKENS set, so that the prompt (`extra` messages included) and the completion
        fit. Without room for any of it: "" for the repair round, a ConfigError for the first."""
        shell = user_message(article, "", True)  # metadata, fences and the "cut to fit" note
        shell += "\n\n" + candidates_block(offered, article.language)
        budget = self._article_tokens([prompts.system_prompt(), shell, *extra])
        if budget is not None and budget < 1:
            if extra:
                return "", True
            raise ConfigError(
                f"LLM_CONTEXT_TOKENS ({self.settings.llm_context_tokens}) leaves no room for the article after "
                f"the instructions and LLM_MAX_COMPLETION_TOKENS ({self.settings.llm_max_completion_tokens})")
        return fit_tokens(article.text, self.settings.article_max_chars, budget)

    # --- the pipeline --------------------------------------------------------------------------
    async def run(self, article: Article, progress: Progress = _no_progress,
                  preview: Previewer | None = None) -> BriefEnvelope:
        """The checked brief of `article`. `progress` hears the stages; `preview`, what the first
        answer shows while the model is still writing it (unchecked: `bot.engine.preview`)."""
        started = time.monotonic()
        # reading the article's statements and checking answers is CPU work (milliseconds a brief):
        # it runs in a thread so that other chats' messages keep moving meanwhile
        grounds = grounding.Grounds(Matcher(article.text), tuple(known_outlets(article)))
        found = await _off_loop(Candidates.find, grounds)  # offered unless `candidates` is off
        offered = found if self.candidates else Candidates()
        text, truncated = self._fit(article, offered=offered)
        if truncated:
            log.info("article cut to %d of %d characters to fit", len(text), len(article.text))
        messages = [
            {"role": "system", "content": prompts.system_prompt()},
            {"role": "user", "content": user_message(article, text, truncated, offered)},
        ]
        sent = found.within(len(text))  # what the program finds in the part of the article sent
        schema = self._schema(article.language, text, grounds, sent)

        await progress("writing")
        watch = Watch(preview) if preview is not None else None
        reply = await self.llm.complete(messages, schema, allow_cut_off=True, on_text=watch)
        answered = time.monotonic()
        ready = Ready.of(sent) if self.candidates else Ready()
        first = await _off_loop(self._checked, reply, grounds, ready)
        usage, llm_seconds, calls = first.reply.usage, first.reply.seconds, 1
        await progress("checking")
        best = first

        missing = self._missing(first, grounds)
        if first.issues or missing:
            asked = self._repair_messages(article, first, len(text), missing, offered)
            if asked is None:
                log.info("brief failed %d check(s); no room in LLM_CONTEXT_TOKENS for a repair", len(first.issues))
            else:
                log.info("brief failed %d check(s)%s; asking for one repair", len(first.issues),
                         f", nothing checked in {' or '.join(missing)}" if missing else "")
                repair, repair_text = asked
                try:
                    held = self._schema(article.language, repair_text, grounds, found.within(len(repair_text)))
                    reply = await self.llm.complete(repair, held, allow_cut_off=True)
                    answered = time.monotonic()
                except LLMError as exc:
                    answered = time.monotonic()  # the checks of the first answer are done; what follows is the envelope
                    # a failed repair never costs the first brief: settle that one
                    if not first.usable:
                        raise
                    log.warning("the repair failed (%s); keeping the first answer", exc.code)
                else:
                    usage, llm_seconds, calls = usage + reply.usage, llm_seconds + reply.seconds, 2
                    second = await _off_loop(self._checked, reply, grounds, ready)
                    if self._better(second, first, grounds):
                        best = second

        if not best.usable:
            raise self._unusable(best)

        settled = best.settled(grounds)
        # the reader decides the article's language, never the model
        settled.brief.language = article.language
        report = CheckReport(
            passed_first_time=not first.issues,
            repaired=bool(first.issues) and not best.issues,
            first_failures=first.issues,
            remaining=best.issues,
            dropped=best.parsed.dropped + best.parsed.remap_dropped(settled.dropped),
            grounding=settled.grounding,
            unconfirmed_numbers=settled.unconfirmed_numbers,
        )
        if report.grounding.low:
            log.info("brief is mostly unchecked: %d of %d span(s) verified",
                     report.grounding.spans_verified, report.grounding.spans_checked)
        info = article.info(chars_sent=len(text), truncated=truncated)
        info.passages = await _off_loop(passages.of_brief, article.text, settled.brief)
        provenance = Provenance(
            model=best.reply.model, prompt_version=prompts.version(),
            response_format=self.settings.llm_response_format, usage=usage, llm_calls=calls,
            llm_seconds=round(llm_seconds, 3), total_seconds=round(time.monotonic() - started, 3),
            check_seconds=round(time.monotonic() - answered, 4),
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        return BriefEnvelope(brief=settled.brief, article=info, provenance=provenance, checks=report)

    @staticmethod
    def _missing(first: Answer, grounds: grounding.Grounds) -> list[str]:
        """The parts of a usable answer that come out empty once checked: "pressures" and
        "positions" when it shows neither (none written, or all lost with actors the article does
        not name). Such a brief passes every check and says nothing, so it gets the repair round
        too, asked for what is missing."""
        if not first.usable:
            return []
        shown = first.settled(grounds).brief
        if shown.pressures or shown.positions:
            return []
        return ["pressures", "positions"]

    def _schema(self, language: str, text: str, grounds: grounding.Grounds, sent: Candidates) -> dict[str, Any]:
        """The schema sent with `text`, the part of the article a round sends: in json_schema mode with
        LLM_SPANS_IN_SCHEMA, held to that text's spans and to `sent`, what the program finds in it."""
        if not self.spans:
            return self.schema
        return held_schema(self.schema, article_spans(text, grounds.matcher), language,
                           sent if self.candidates else Candidates(), said=bool(sent.statements))

    def _repair_messages(self, article: Article, first: Answer, sent_chars: int, missing: Sequence[str] = (),
                         offered: Candidates = Candidates()) -> tuple[list[dict[str, str]], str] | None:
        """The repair round's messages: the article, the first answer and its failures (and the parts
        that came out empty), with the part of the article they send. With LLM_CONTEXT_TOKENS set,
        the article is cut further when the first answer would not fit beside it; None when it
        would have to be cut so far that a repair is not worth a call."""
        answer = self._as_sent(first.reply)
        # an unusable answer that looped or ran on is not shown again: a model shown the start of
        # its loop writes the same loop again
        echo = first.usable or first.reply.cut_off is None
        lines = [grounding.describe(first.issues)] if first.issues else []
        if not echo:
            lines.append(f"- $ [{first.reply.cut_off}]: your first answer "
                         f"{'repeated itself' if first.reply.cut_off == 'repetition' else 'ran too long'} and was "
                         f"stopped, so it is not shown. Write every text once and short: a headline of one line, "
                         f"a summary of 2 sentences in each language.")
        lines += [f"- {part} [missing]: none in your brief passed the checks. If the article says that one "
                  f"party presses another or what a party states, add them, with evidence and quotes copied "
                  f"from the article, and their actors with their mentions as the article writes them."
                  for part in [" and ".join(missing)] if missing]
        ask = prompts.repair_prompt("\n".join(lines))
        text, truncated = self._fit(article, [answer, ask] if echo else [ask], offered)
        if not text or len(text) < sent_chars * REPAIR_MIN_ARTICLE_SHARE:
            return None
        shown = [{"role": "assistant", "content": answer}] if echo else []
        return [
            {"role": "system", "content": prompts.system_prompt()},
            {"role": "user", "content": user_message(article, text, truncated, offered)},
            *shown,
            {"role": "user", "content": ask},
        ], text

    @staticmethod
    def _as_sent(reply: LLMReply) -> str:
        """The first answer as the repair round shows it: a loop only once."""
        if reply.cut_off == "repetition" and reply.loop_start is not None:
            return reply.text[: reply.loop_start]
        return reply.text

    @staticmethod
    def _worth(answer: Answer, grounds: grounding.Grounds) -> tuple[int, int, int]:
        """How much of a usable answer can be shown as checked, for comparing two: whether at least
        half of its spans verified (the brief carries no warning), how many spans and names verified,
        and fewer failures. An answer that says nothing passes every check but is worth least."""
        g = answer.settled(grounds).grounding
        return (0 if g.low else 1, g.spans_verified + g.names_verified, -len(answer.issues))

    @classmethod
    def _better(cls, second: Answer, first: Answer, grounds: grounding.Grounds) -> bool:
        """Whether the repair's answer replaces the first: a usable brief beats none; a repair that
        did not finish (cut off, looping) never replaces a usable first answer; otherwise the one
        worth more once checked (`_worth`) wins, and a tie goes to the repair."""
        if not second.usable:
            return False
        if not first.usable:
            return True
        return second.reply.cut_off is None and cls._worth(second, grounds) >= cls._worth(first, grounds)

    def _unusable(self, best: Answer) -> LLMBadOutput:
        """Why there is no brief, with the failures as data and advice that fits what happened."""
        issues = best.issues
        cut = best.reply.cut_off
        if cut == "repetition":
            detail = ("the model repeated itself and was stopped before a usable brief; a higher "
                      "LLM_MAX_COMPLETION_TOKENS would not help: try again, or use a stronger model")
            return LLMBadOutput(detail, failures=list(issues), cut_off=cut)
        if cut == "length":
            limit = self.settings.llm_max_completion_tokens
            detail = (f"the answer hit the token limit ({limit}) before a usable brief: raise "
                      f"LLM_MAX_COMPLETION_TOKENS if briefs are that long; a model that rambles needs a stronger model")
            return LLMBadOutput(detail, failures=list(issues), cut_off=cut, setting="LLM_MAX_COMPLETION_TOKENS")
        return LLMBadOutput(grounding.describe(issues)[:300], failures=list(issues))

    @classmethod
    def _checked(cls, reply: LLMReply, grounds: grounding.Grounds, offered: Ready) -> Answer:
        """An answer read, checked and, when usable, settled (what the repair decision and the
        envelope need), all at once: the work a thread does for `run`. `offered`: what the prompt
        offered ready to copy."""
        answer = cls._evaluate(reply, grounds, offered)
        if answer.usable:
            answer.settled(grounds)
        return answer

    @staticmethod
    def _evaluate(reply: LLMReply, grounds: grounding.Grounds, offered: Ready) -> Answer:
        text = reply.text[: reply.loop_start] if reply.cut_off == "repetition" and reply.loop_start else reply.text
        parsed = grounding.read(text, cut_off=reply.cut_off is not None, offered=offered.actors, spoken=offered.spoken)
        if parsed.brief is None:
            return Answer(reply, parsed, parsed.issues)
        references.complete(parsed.brief.actors, offered.actors, offered.spoken)
        references.restate(parsed.brief.actors, offered.actors, lambda a: grounds.actor(a).verified)
        return Answer(reply, parsed, parsed.issues + parsed.remap_issues(grounding.check(parsed.brief, grounds)))
