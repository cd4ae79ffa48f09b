"""The brief engine: article → LLM → checks → one repair → settled brief in its envelope.

A partly bad answer still gives a brief: items are validated one by one (`grounding.parse`), an
answer cut off by the token limit or stopped in a loop is read as far as it went, and a repair that
fails in any way keeps the first answer. Only an answer without a valid headline and summary fails.

It knows nothing of Telegram or HTTP fetching; callers hand it an `Article` and get a
`BriefEnvelope` or a `NewsbotError`.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from bot.engine import grounding, parties, passages, prompts
from bot.engine.article import Article, estimate_tokens, fit_tokens
from bot.engine.attribution import Statement, statements
from bot.engine.llm import LLMClient, LLMReply
from bot.engine.normalize import Matcher
from bot.engine.parties import NamedState, Speaker
from bot.engine.preview import Previewer, Watch
from bot.engine.schema import (
    ASKED,
    MAX_TEXT,
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


#: Any spelling of the tags that fence untrusted text: <article>, </ARTICLE >, <article_metadata
#: x="">, fullwidth ＜／ａｒｔｉｃｌｅ＞. Nothing inside the fence can close it or open another.
_FENCE_TAG = re.compile(r"<\s*/?\s*article(?:_metadata|_statements|_parties)?\b[^>]*>?", re.IGNORECASE)
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


#: at most this many attributed statements are offered to the model as candidates
MAX_STATEMENTS = 20


@dataclass(frozen=True)
class Candidates:
    """What the program finds in the article before the model is asked, offered to it in the
    prompt: the attributed statements (`bot.engine.attribution`), the states it names and the
    speakers of those statements (`bot.engine.parties`). A model, above all a small one, picks from
    them; the checks are the same."""

    statements: Sequence[Statement] = ()
    states: Sequence[NamedState] = ()
    speakers: Sequence[Speaker] = ()

    @classmethod
    def find(cls, grounds: grounding.Grounds) -> Candidates:
        """What the program finds in the article behind `grounds`."""
        found = statements(grounds.attributions, MAX_STATEMENTS, MAX_TEXT)
        named = parties.states(grounds.matcher)
        return cls(found, named, parties.speakers(found, named))

    def within(self, chars: int) -> Candidates:
        """Those found in the article's first `chars` characters: the part the model is sent (a
        speaker keeps its id, whatever part of the article is sent)."""
        found = [s for s in self.statements if s.start + len(s.passage) <= chars]
        named = [n for s in self.states if (n := s.within(chars)) is not None]
        kept = {s.passage for s in found}
        ids = {s.id for s in named}
        speakers = [replace(sp, passages=tuple(p for p in sp.passages if p in kept)) for sp in self.speakers
                    if any(p in kept for p in sp.passages) and (not sp.state or sp.id in ids)]
        return Candidates(found, named, speakers)

    @functools.cached_property
    def speaker_of(self) -> dict[str, str]:
        """The id of each statement's speaker, by its passage."""
        return {p: s.id for s in self.speakers for p in s.passages}


def statements_block(offered: Candidates) -> str:
    """The article's attributed statements as numbered candidates, fenced like the article: the id
    of its speaker's actor line when it has one, who the article says speaks, the verb, and the
    passage in the article's words."""
    if not offered.statements:
        return ""
    lines = []
    for n, s in enumerate(offered.statements, 1):
        actor = f"[{offered.speaker_of[s.passage]}] " if s.passage in offered.speaker_of else ""
        lines.append(f'{n}. {actor}{" ".join(fence(s.speaker).split())} ({fence(s.verb)}): '
                     f'"{" ".join(fence(s.passage).split())}"')
    return "<article_statements>\n" + "\n".join(lines) + "\n</article_statements>"


def _in_order(language: str) -> tuple[str, str]:
    """The two languages of a brief, the article's first: the order the held schema writes them."""
    return ("ar", "en") if language == "ar" else ("en", "ar")


def _article_language(language: str) -> str:
    """The language of the brief a speaker's name is written in: the article's when it is one of them."""
    return "ar" if language == "ar" else "en"


def parties_block(offered: Candidates, language: str = "en") -> str:
    """The states the article names, each written as an actor of the brief, ready to copy (its
    names in the order the held schema writes them), then the speakers of its statements: ready
    too when the program can name them in English from their state and role, else with their name
    in the article's language only (the model adds the other, the kind and the country)."""
    lines = []
    for s in offered.states:
        names = {"en": s.en, "ar": s.ar}
        actor = {"mention": fence(s.mention), "id": s.id, "name": {k: names[k] for k in _in_order(language)},
                 "kind": "state", "country": s.iso}
        lines.append(json.dumps(actor, ensure_ascii=False))
    for sp in offered.speakers:
        if sp.state:
            continue
        line: dict[str, Any] = {"mention": fence(sp.mention), "id": sp.id}
        if (actor := sp.actor()) is not None:  # a name in English made of its state and role
            names = {"en": actor.name.en, "ar": fence(actor.name.ar)}
            line |= {"name": {k: names[k] for k in _in_order(language)}, "kind": actor.kind, "country": actor.country}
        else:
            line["name"] = {_article_language(language): fence(sp.mention)}
        lines.append(json.dumps(line, ensure_ascii=False))
    if not lines:
        return ""
    return "<article_parties>\n" + "\n".join(lines) + "\n</article_parties>"


def candidates_block(offered: Candidates, language: str = "en") -> str:
    blocks = (parties_block(offered, language), statements_block(offered))
    return "\n\n".join(b for b in blocks if b)


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


# --- spans the article offers ------------------------------------------------------------------
#: where a sentence ends (also run together: "diplomats.Nikolai"), and where a clause of it ends
_SENTENCE_END = re.compile(r"(?<=[.!?؟])\s*|\s*\n+\s*")
_CLAUSE_END = re.compile(r"\s*[,،;؛:]\s+|\s*[“”\"«»]\s*|\s+(?=و\w{3,})")  # a comma, a quotation, an Arabic "and ..."
_EDGES = " \t\"'“”‘’«»()[]-–—.,،;؛:!?؟…"
#: a span offered as evidence or a quote has at least this many words (one clause: "X said Y")
SPAN_MIN_WORDS = 3
#: at most this many spans of at most this many characters in all: the schema stays a small
#: grammar, and within what OpenAI's strict mode takes for one enum; beyond it, clauses are left
#: out, then every span (the model writes its spans freely and the checks judge them as ever)
SPAN_MAX_COUNT = 400
SPAN_MAX_CHARS = 14000


def article_spans(text: str, matcher: Matcher | None = None) -> list[str]:
    """The article's sentences and their clauses, as the article writes them, each of which passes
    the verbatim check (`Matcher.find`): what a quote or evidence may be, in the schema sent in
    `json_schema` mode. Sentences first, then clauses; [] when there are too many to offer."""
    matcher = matcher or Matcher(text)
    sentences: list[str] = []
    clauses: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        sentences.append(sentence)
        parts = _CLAUSE_END.split(sentence)
        if len(parts) > 1:
            clauses += parts
    for group in ([*sentences, *clauses], sentences):
        spans: dict[str, None] = {}
        for piece in group:
            piece = piece.strip(_EDGES)
            if (len(piece.split()) >= SPAN_MIN_WORDS and len(piece) <= MAX_TEXT and "…" not in piece
                    and "..." not in piece and matcher.find(piece) is not None):
                spans.setdefault(piece)
        if len(spans) <= SPAN_MAX_COUNT and sum(map(len, spans)) <= SPAN_MAX_CHARS:
            return list(spans)
    return []


#: what the held schema makes of ids and of each language's texts (regular expressions that
#: llama.cpp's grammars and OpenAI's strict mode both take): a small model otherwise writes an
#: Arabic name as an id, or Arabic where English belongs. The scripts are spelt out rather than
#: excluded, since a model kept from one script wanders into another (Chinese, Cyrillic). The
#: quotation mark and the backslash are left out: a grammar writes a pattern's characters unescaped,
#: and a bare quotation mark lets a text run on over the next keys.
_SLUG = {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"}
# no-break space, Latin-1's signs (° £ « »), dashes, curly quotes, …, currency signs (€)
_SIGNS = "\u00a0-\u00bf\u2010-\u2027\u20a0-\u20bf"
_LETTERS = {"en": "!#-\\[\\]-~\u00c0-\u024f\u02b0-\u02ff\u1e00-\u1eff",  # ASCII and accented Latin
            "ar": "\u0600-\u06ff\u0750-\u077f!#-@"}  # Arabic, and ASCII's digits and punctuation, no letter
#: a text starts with a character that is not a space (a blank text fails the schema), then any
_SCRIPT = {lang: {"type": "string", "pattern": f"^[{chars}{_SIGNS}][ {chars}{_SIGNS}]*$"}
           for lang, chars in _LETTERS.items()}


def held_schema(schema: dict[str, Any], spans: Sequence[str], language: str = "en",
                offered: Candidates = Candidates(), *, said: bool = False) -> dict[str, Any]:
    """`schema` as LLM_SPANS_IN_SCHEMA sends it, holding a model to the article:
    - every quote and evidence one of `spans` (a source's evidence may also be "", a quote null), so
      that constrained decoding writes article text where the brief says it copies, instead of a
      small model's near-copy (without spans, quotes and evidence are free);
    - every id and reference a slug; each list at most as long as the prompt asks (`ASKED`);
    - every English text in Latin script and every Arabic one in Arabic script, the article's
      `language` first (a small model held to English before it has written the Arabic of an
      Arabic article invents), and a mention in the article's script;
    - when the article has attributed statements (`said`), at least one position (a small model
      otherwise spends its answer on pressures);
    - with the `offered` candidates: a speaker's actor line, once begun, copied as the prompt gives
      it (the model writes its name in the other language, its kind and country), and a quote is a
      statement's passage given to that statement's speaker, or none (a small model gives a quote
      to the wrong one of its actors).
    The checks are the same."""
    out = copy.deepcopy(schema)
    defs = out["$defs"]
    order = _in_order(language)
    for name in ("Bilingual", "Summary"):
        defs[name]["properties"] = {lang: dict(_SCRIPT[lang]) for lang in order}
        defs[name]["required"] = list(order)
    defs["Actor"]["properties"]["id"] = defs["Source"]["properties"]["id"] = dict(_SLUG)
    defs["Actor"]["properties"]["mention"] = dict(_SCRIPT[order[0]])  # the article's words: in its script
    for name, fields in (("Pressure", ("actors", "targets", "source_ids")), ("Position", ("source_ids",))):
        for field_name in fields:
            defs[name]["properties"][field_name]["items"] = dict(_SLUG)
    defs["Position"]["properties"]["actor"] = dict(_SLUG)
    for key, n in ASKED.items():
        out["properties"][key]["maxItems"] = n
    if spans:
        defs["ArticleSpan"] = {"type": "string", "enum": list(spans)}
        ref = {"$ref": "#/$defs/ArticleSpan"}
        defs["Pressure"]["properties"]["evidence"] = ref
        defs["Position"]["properties"]["quote"] = {"anyOf": [ref, {"type": "null"}]}
        defs["Source"]["properties"]["evidence"] = {"anyOf": [ref, {"type": "string", "enum": [""]}]}
    lines = [_speaker_line(sp, defs["Actor"], language) for sp in offered.speakers if not sp.state]
    if lines:
        out["properties"]["actors"]["items"] = {"anyOf": [*lines, {"$ref": "#/$defs/Actor"}]}
    if said:
        out["properties"]["positions"]["minItems"] = 1
    bound = [_said(s.passage, offered.speaker_of[s.passage], defs["Position"])
             for s in offered.statements if s.passage in offered.speaker_of]
    if bound:
        defs["Position"]["properties"]["quote"] = {"type": "null"}
        out["properties"]["positions"]["items"] = {"anyOf": [*bound, {"$ref": "#/$defs/Position"}]}
    return out


def _speaker_line(speaker: Speaker, actor: dict[str, Any], language: str) -> dict[str, Any]:
    """An actor of the held schema that is `speaker`'s offered line: its mention, id and name in the
    article's language as offered, the rest the model's."""
    first, other = _in_order(language)
    line = copy.deepcopy(actor)
    line["properties"]["mention"] = {"type": "string", "enum": [speaker.mention]}
    line["properties"]["id"] = {"type": "string", "enum": [speaker.id]}
    line["properties"]["name"] = {"type": "object", "additionalProperties": False, "required": [first, other],
                                  "properties": {first: {"type": "string", "enum": [speaker.mention]},
                                                 other: dict(_SCRIPT[other])}}
    return line


def _said(passage: str, speaker: str, position: dict[str, Any]) -> dict[str, Any]:
    """A position of the held schema that quotes a statement's `passage`, given to its `speaker`."""
    line = copy.deepcopy(position)
    line["properties"]["quote"] = {"type": "string", "enum": [passage]}
    line["properties"]["actor"] = {"type": "string", "enum": [speaker]}
    return line


@dataclass(frozen=True)
class Ready:
    """What the prompt offered ready to copy, for reading the answer: the states' actors, and the
    speakers' ids with their mentions and states (`references.resolve`)."""

    actors: Sequence[Actor] = ()
    spoken: dict[str, tuple[str, str | None]] = field(default_factory=dict)


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
        # what the program finds in the article (attributed statements, the states it names) is
        # offered to the model as candidates (the checks are the same without them; `newsbot eval`
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
        # in json_schema mode, what the brief copies is chosen from the text the model sees
        sent = found.within(len(text))  # what the program finds in the part of the article sent
        schema = self.schema
        if self.spans:
            schema = held_schema(schema, article_spans(text, grounds.matcher), article.language,
                                 sent if self.candidates else Candidates(), said=bool(sent.statements))

        await progress("writing")
        watch = Watch(preview) if preview is not None else None
        reply = await self.llm.complete(messages, schema, allow_cut_off=True, on_text=watch)
        answered = time.monotonic()
        ready = Ready([*(s.actor() for s in sent.states), *(a for s in sent.speakers if (a := s.actor()) is not None)],
                      {s.id: (s.mention, s.country) for s in sent.speakers if not s.state}) if self.candidates else Ready()
        first = await _off_loop(self._checked, reply, grounds, ready)
        usage, llm_seconds, calls = first.reply.usage, first.reply.seconds, 1
        await progress("checking")
        best = first

        missing = self._missing(first, grounds)
        if first.issues or missing:
            repair = self._repair_messages(article, first, len(text), missing, offered)
            if repair is None:
                log.info("brief failed %d check(s); no room in LLM_CONTEXT_TOKENS for a repair", len(first.issues))
            else:
                log.info("brief failed %d check(s)%s; asking for one repair", len(first.issues),
                         f", nothing checked in {' or '.join(missing)}" if missing else "")
                try:
                    reply = await self.llm.complete(repair, schema, allow_cut_off=True)
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

    def _repair_messages(self, article: Article, first: Answer, sent_chars: int, missing: Sequence[str] = (),
                         offered: Candidates = Candidates()) -> list[dict[str, str]] | None:
        """The repair round: the article, the first answer and its failures (and the parts that came
        out empty). With LLM_CONTEXT_TOKENS set, the article is cut further when the first answer
        would not fit beside it; None when it would have to be cut so far that a repair is not
        worth a call."""
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
        ]

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
        return Answer(reply, parsed, parsed.issues + parsed.remap_issues(grounding.check(parsed.brief, grounds)))
