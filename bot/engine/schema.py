"""The brief, schema v2: the contract in `docs/schema.md`, as pydantic models.

Field names and enums are fixed by that document. `Brief` is what the LLM answers; `CheckedBrief`
is the same brief after the checks, each verbatim span carrying its own `SpanCheck`. The envelope
(`BriefEnvelope`) adds what code knows around it: article metadata, provenance, the checks.
"""

from __future__ import annotations

import copy
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    computed_field,
    field_validator,
    model_validator,
)

SCHEMA_VERSION = "2"

# --- bounds of the answer --------------------------------------------------------------------
# Every rule a JSON Schema can say is in the schema sent to the model, so constrained decoding
# enforces it and a runaway answer cannot grow past it (normal briefs are far below these).
MAX_ACTORS = 15
MAX_PRESSURES = 12
MAX_POSITIONS = 15
MAX_SOURCES = 12
MAX_REFS = 10  # ids in one pressure's actors, targets or source_ids, or in one position's source_ids
MAX_ID = 40
MAX_MENTION = 160  # a name of at most 12 words
MAX_TEXT = 400  # one line or one sentence: names, means, demands, stances, quotes, evidence
MAX_SUMMARY = 1200  # 2 to 4 sentences
LIST_LIMITS = {"actors": MAX_ACTORS, "pressures": MAX_PRESSURES, "positions": MAX_POSITIONS,
               "sources": MAX_SOURCES}
#: how many of each the prompt asks for: the schema sent with LLM_SPANS_IN_SCHEMA holds the model
#: to them, so that a small model that repeats an item moves on to the next list
ASKED = {"actors": 8, "pressures": 4, "positions": 4, "sources": 3}
#: keywords OpenAI's strict mode does not take (its string keywords are `pattern` and `format`):
#: they stay in the schema the prompt shows and in the checks, not in response_format json_schema
NOT_IN_STRICT_MODE = ("minLength", "maxLength")

#: Validation context of the model's answer: the bounds apply to it. Stored envelopes are read
#: without it, so a brief stored before a bound was added still loads.
ANSWER: dict[str, Any] = {"answer": True}


def _in_answer(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("answer"))


def _text(high: int, low: int = 1) -> Any:
    """A string of `low` to `high` characters in the model's answer."""

    def check(value: str, info: ValidationInfo) -> str:
        if _in_answer(info) and not low <= len(value) <= high:
            raise ValueError(f"must be {low} to {high} characters long, not {len(value)}")
        return value

    return Annotated[str, AfterValidator(check), Field(json_schema_extra={"minLength": low, "maxLength": high})]


def _ids(high: int = MAX_REFS, low: int = 0) -> Any:
    """A list of ids, `low` to `high` of them in the model's answer."""

    def check(value: list[str], info: ValidationInfo) -> list[str]:
        if _in_answer(info) and not low <= len(value) <= high:
            raise ValueError(f"must have {low} to {high} items, not {len(value)}")
        return value

    extra: dict[str, Any] = {"maxItems": high} | ({"minItems": low} if low else {})
    return Annotated[list[Id], AfterValidator(check), Field(json_schema_extra=extra)]


Id = _text(MAX_ID)
Country = Annotated[str, Field(json_schema_extra={"pattern": "^[A-Z]{3}$"})]
LanguageCode = Annotated[str, Field(json_schema_extra={"pattern": "^[a-z]{2}$"})]

ActorKind = Literal[
    "state", "government", "armed_group", "political_party", "international_org", "person",
    "media", "other",
]
PressureEvent = Literal[
    "REQUEST", "ACCUSE", "REJECT", "THREATEN", "PROTEST", "SANCTION", "MOBILIZE", "COERCE",
    "ASSAULT",
]
SourceKind = Literal[
    "media", "named_official", "anonymous_official", "anonymous_source", "document",
    "social_media", "other",
]

#: PLOVER pressure events ordered by conflict intensity (0 = verbal, 1 = material, 2 = violent).
#: Derived values come from tables in code, never from the LLM.
EVENT_INTENSITY: dict[str, int] = {
    "REQUEST": 0, "ACCUSE": 0, "REJECT": 0, "PROTEST": 0, "THREATEN": 1, "SANCTION": 1,
    "MOBILIZE": 1, "COERCE": 2, "ASSAULT": 2,
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Bilingual(_Strict):
    # English first, as the prompt shows it; the schema sent with LLM_SPANS_IN_SCHEMA puts the
    # article's language first instead (`bot.engine.held.held_schema`)
    en: _text(MAX_TEXT)  # type: ignore[valid-type]
    ar: _text(MAX_TEXT)  # type: ignore[valid-type]

    @field_validator("ar", "en")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
        return value


class Summary(Bilingual):
    # 2 to 4 sentences in each language: the one longer text of the brief
    en: _text(MAX_SUMMARY)  # type: ignore[valid-type]
    ar: _text(MAX_SUMMARY)  # type: ignore[valid-type]


# Field order is the order a model writes them in under constrained decoding: what is copied from
# the article (mention, evidence, quote) comes first, so the rest of the item is written from it.
class Actor(_Strict):
    mention: _text(MAX_MENTION)  # type: ignore[valid-type]
    id: Id  # type: ignore[valid-type]
    name: Bilingual
    kind: ActorKind
    country: Country | None

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
        return value

    @field_validator("country", mode="before")
    @classmethod
    def _iso3(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip().upper()
            if not value:
                return None
            if len(value) != 3 or not value.isalpha():
                raise ValueError("must be an ISO 3166-1 alpha-3 code or null")
        return value


class Pressure(_Strict):
    evidence: _text(MAX_TEXT)  # type: ignore[valid-type]
    actors: _ids(low=1)  # type: ignore[valid-type]
    targets: _ids(low=1)  # type: ignore[valid-type]
    event: PressureEvent
    means: Bilingual
    demand: Bilingual
    source_ids: _ids()  # type: ignore[valid-type]


class Position(_Strict):
    quote: _text(MAX_TEXT) | None  # type: ignore[valid-type]
    actor: Id  # type: ignore[valid-type]
    stance: Bilingual
    source_ids: _ids()  # type: ignore[valid-type]


class Source(_Strict):
    id: Id  # type: ignore[valid-type]
    name: Bilingual
    kind: SourceKind
    evidence: _text(MAX_TEXT, 0)  # type: ignore[valid-type]  # "" for an outlet known from metadata


class Brief(_Strict):
    """What the LLM returns."""

    # the model's guess; the envelope carries the reader's detection instead (bot.engine.brief)
    language: LanguageCode  # type: ignore[valid-type]
    headline: Bilingual
    summary: Summary
    actors: list[Actor] = Field(json_schema_extra={"maxItems": MAX_ACTORS})
    pressures: list[Pressure] = Field(json_schema_extra={"maxItems": MAX_PRESSURES})
    positions: list[Position] = Field(json_schema_extra={"maxItems": MAX_POSITIONS})
    sources: list[Source] = Field(json_schema_extra={"maxItems": MAX_SOURCES})

    @field_validator("language", mode="before")
    @classmethod
    def _lang(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip().lower()
            if not (2 <= len(value) <= 3 and value.isalpha()):
                raise ValueError("must be an ISO 639-1 code such as 'ar' or 'en'")
        return value

    def actor_name(self, actor_id: str, lang: str) -> str:
        for actor in self.actors:
            if actor.id == actor_id:
                return getattr(actor.name, lang)
        return actor_id

    def source(self, source_id: str) -> Source | None:
        return next((s for s in self.sources if s.id == source_id), None)


# --- the brief after the checks --------------------------------------------------------------
class SpanCheck(BaseModel):
    """Whether one verbatim span (quote, evidence, mention, source name) was found, and where:
    `start`/`end` are character offsets into the article's text (`article.chars` long)."""

    verified: bool
    found_in: Literal["article", "metadata"] | None = None  # metadata: the known outlet
    start: int | None = None
    end: int | None = None


class Offsets(BaseModel):
    """Character offsets [start, end) into the article's text."""

    start: int
    end: int


class SpeakerCheck(BaseModel):
    """Whether the article attributes a quote to its position's actor (or to a source the position
    cites). `found_at`: the attribution the check relied on (speaker phrase and attributing verb),
    null when the article attributes the passage to no one; `speaker`: that speaker phrase as the
    article writes it ("" for a verb without a subject, such as "وأضاف")."""

    confirmed: bool
    found_at: Offsets | None = None
    speaker: str | None = None


class PartiesCheck(BaseModel):
    """Whether a pressure's evidence (or the sentence it stands in) names each of its actors and
    targets. `found_at`: that sentence; `missing`: the ids of the parties it does not name."""

    confirmed: bool
    found_at: Offsets | None = None
    missing: list[str] = Field(default_factory=list)


class CheckedActor(Actor):
    mention_check: SpanCheck


class CheckedPressure(Pressure):
    evidence_check: SpanCheck
    parties_check: PartiesCheck | None = None  # null: unverified evidence, or stored before the check


class CheckedPosition(Position):
    quote_check: SpanCheck | None  # null when there is no quote
    speaker_check: SpeakerCheck | None = None  # null: no verified quote, or stored before the check


class CheckedSource(Source):
    name_check: SpanCheck
    evidence_check: SpanCheck | None  # null when the evidence is empty (an outlet known from metadata)


class CheckedBrief(Brief):
    """The brief as shown: what failed is dropped, and every span says whether it verified."""

    actors: list[CheckedActor]  # type: ignore[assignment]
    pressures: list[CheckedPressure]  # type: ignore[assignment]
    positions: list[CheckedPosition]  # type: ignore[assignment]
    sources: list[CheckedSource]  # type: ignore[assignment]


# --- the envelope ----------------------------------------------------------------------------
class Passage(BaseModel):
    """One of the article's paragraphs that holds a checked span, as the article has it:
    `start` is its offset in the article's text, so a span's `start`/`end` fall inside it."""

    start: int
    text: str


class ArticleInfo(BaseModel):
    source: str
    url: str | None = None
    title: str | None = None
    outlet: str | None = None
    author: str | None = None
    published: str | None = None
    language: str | None = None
    chars: int
    chars_sent: int
    truncated: bool = False
    status: Literal["full", "truncated", "paywalled", "text"] = "text"
    #: what it was read from: text, html, telegram, pdf, docx, markdown or image
    kind: str = "text"
    #: read by OCR (a photo, a screenshot, a scanned PDF): quotes are checked against the recognised text
    ocr: bool = False
    content_hash: str
    #: the paragraphs that hold the brief's verified quotes and evidence (none in briefs stored
    #: before they were kept): the rich message shows each span in its place
    passages: list[Passage] = Field(default_factory=list)


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
        )


class Provenance(BaseModel):
    model: str
    prompt_version: str
    response_format: str
    usage: Usage
    llm_calls: int
    llm_seconds: float
    total_seconds: float
    #: from the model's last answer to the checked brief (its parsing and every check)
    check_seconds: float = 0.0
    created_at: str


class CheckIssue(BaseModel):
    """One failed check: `path` points into the brief (`positions[1].quote`)."""

    path: str
    kind: Literal["schema", "not_found", "reference", "duplicate_id", "script", "cut_off", "speaker", "parties",
                  "number"]
    message: str


#: `country` is an optional field set to null when invalid; the others are whole items
DroppedItem = Literal["quote", "actor", "source", "pressure", "position", "country"]
#: not_found: not in the article · duplicate_id · unknown_reference: its parties are gone ·
#: invalid: fails the schema · over_limit: beyond a list's maxItems · cut_off: the answer stopped
#: (token limit, or a loop) in the middle of it · repeated: the same quote for the same actor again
DropCause = Literal["not_found", "duplicate_id", "unknown_reference", "invalid", "over_limit", "cut_off",
                    "repeated"]


class Dropped(BaseModel):
    """Something the model wrote that is not shown; `path` points into the model's answer."""

    path: str
    item: DroppedItem
    cause: DropCause
    text: str
    reason: str  # for people; code reads `item` and `cause`


#: Below this share of verified spans the brief warns at the top that it is mostly unchecked.
LOW_GROUNDING = 0.5


class Grounding(BaseModel):
    """How much of what the model presented as verbatim was found. `spans` are quotes and
    evidence; `names` are actors (found by the mention, else by a name) and source names. Counted
    over the model's answer (with an offered state it refers to), before anything is dropped."""

    spans_checked: int = 0
    spans_verified: int = 0
    names_checked: int = 0
    names_verified: int = 0
    #: verified quotes whose speaker was checked, and those the article attributes to their actor
    speakers_checked: int = 0
    speakers_confirmed: int = 0
    #: pressures with verified evidence whose parties were checked, and those whose evidence names them all
    parties_checked: int = 0
    parties_confirmed: int = 0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ratio(self) -> float | None:
        return round(self.spans_verified / self.spans_checked, 4) if self.spans_checked else None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def low(self) -> bool:
        """Less than half of the spans verified, or none to check: the brief says so."""
        return self.ratio is None or self.ratio < LOW_GROUNDING

    @computed_field  # type: ignore[prop-decorator]
    @property
    def speakers_low(self) -> bool:
        """Most checked quotes' speakers not confirmed by the article: the brief says so."""
        return bool(self.speakers_checked) and self.speakers_confirmed / self.speakers_checked < LOW_GROUNDING


class UnconfirmedNumber(BaseModel):
    """A number in the headline or summary that is not in the article, in any form."""

    path: str  # "headline.en", "summary.ar"
    text: str  # as the brief writes it


class CheckReport(BaseModel):
    passed_first_time: bool
    repaired: bool
    first_failures: list[CheckIssue] = Field(default_factory=list)
    remaining: list[CheckIssue] = Field(default_factory=list)
    dropped: list[Dropped] = Field(default_factory=list)
    grounding: Grounding = Field(default_factory=Grounding)
    unconfirmed_numbers: list[UnconfirmedNumber] = Field(default_factory=list)

    @property
    def verified_spans(self) -> int:
        return self.grounding.spans_verified

    @property
    def clean(self) -> bool:
        g = self.grounding
        return (not self.remaining and not self.dropped and g.spans_verified == g.spans_checked
                and g.names_verified == g.names_checked and g.speakers_confirmed == g.speakers_checked
                and g.parties_confirmed == g.parties_checked and not self.unconfirmed_numbers)


class BriefEnvelope(BaseModel):
    """The full JSON output: the brief plus everything code knows around it."""

    schema_version: str = SCHEMA_VERSION
    brief: CheckedBrief
    article: ArticleInfo
    provenance: Provenance
    checks: CheckReport

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        # envelopes stored before schema 2 (the bot's database) still load and render
        if isinstance(data, dict) and data.get("schema_version") == "1":
            return upgrade_v1(data)
        return data


def upgrade_v1(data: dict[str, Any]) -> dict[str, Any]:
    """A schema-1 envelope in schema-2 shape. Schema 1 kept verification as a list of paths
    (`checks.unverified`) and never checked names, so those are marked unverified here."""
    from bot.engine.normalize import strip_bidi

    def clean(node: Any) -> Any:
        if isinstance(node, str):
            return strip_bidi(node)
        if isinstance(node, list):
            return [clean(v) for v in node]
        if isinstance(node, dict):
            return {k: clean(v) for k, v in node.items()}
        return node

    data = clean(copy.deepcopy(data))
    brief, checks = data["brief"], data.get("checks", {})
    unverified = set(checks.pop("unverified", []))
    verified_spans = checks.pop("verified_spans", 0)
    unchecked = {"verified": False}
    found = {"verified": True, "found_in": "article"}  # where was not recorded
    for a in brief.get("actors", []):
        a.setdefault("mention", "")
        a["mention_check"] = unchecked
    for i, p in enumerate(brief.get("pressures", [])):
        p["evidence_check"] = found if f"pressures[{i}].evidence" not in unverified else unchecked
    for q in brief.get("positions", []):
        q["quote_check"] = found if q.get("quote") else None  # v1 dropped unfound quotes
    for i, s in enumerate(brief.get("sources", [])):
        s["name_check"] = unchecked
        s["evidence_check"] = found if f"sources[{i}].evidence" not in unverified else unchecked
    legacy = {"quote not found in the article": ("quote", "not_found"),
              "duplicate id": ("actor", "duplicate_id"),
              "pressure without a known actor or target": ("pressure", "unknown_reference"),
              "position of an unknown actor": ("position", "unknown_reference")}
    for d in checks.get("dropped", []):
        item, cause = legacy.get(d.get("reason", ""), ("position", "unknown_reference"))
        if cause == "duplicate_id" and str(d.get("path", "")).startswith("sources"):
            item = "source"
        d.setdefault("item", item)
        d.setdefault("cause", cause)
    dropped_quotes = sum(1 for d in checks.get("dropped", []) if d["item"] == "quote")
    checks["grounding"] = {"spans_checked": verified_spans + len(unverified) + dropped_quotes,
                           "spans_verified": verified_spans}
    data["schema_version"] = SCHEMA_VERSION
    return data


def _strictify(node: Any, drop: tuple[str, ...] = ()) -> Any:
    """OpenAI strict mode: every property required, no extra keys, no defaults; without the
    keywords in `drop` (those strict mode does not take)."""
    if isinstance(node, dict):
        # "title"/"default" as annotations (strings, scalars), not as property names (dicts)
        node = {
            k: _strictify(v, drop)
            for k, v in node.items()
            if not (k in ("default", "title", *drop) and not isinstance(v, dict))
        }
        if node.get("type") == "object" and "properties" in node:
            node["required"] = list(node["properties"])
            node["additionalProperties"] = False
        return node
    if isinstance(node, list):
        return [_strictify(v, drop) for v in node]
    return node


def brief_json_schema(*, strict: bool = False) -> dict[str, Any]:
    """JSON Schema of the brief with every rule a schema can say (`newsbot schema`, the system
    prompt). `strict=True`: the form sent as response_format json_schema, without the keywords
    OpenAI's strict mode does not accept (`NOT_IN_STRICT_MODE`); the checks enforce those."""
    return _strictify(copy.deepcopy(Brief.model_json_schema()), NOT_IN_STRICT_MODE if strict else ())
