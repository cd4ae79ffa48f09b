"""The brief, schema v1: the contract in `docs/schema.md`, as pydantic models.

Field names and enums are fixed by that document. The envelope (`BriefEnvelope`) adds what code
knows around the LLM's answer: article metadata, provenance and the results of the checks.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

SCHEMA_VERSION = "1"

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
    ar: str
    en: str

    @field_validator("ar", "en")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
        return value


class Actor(_Strict):
    id: str
    name: Bilingual
    kind: ActorKind
    country: str | None

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
    actors: list[str]
    targets: list[str]
    event: PressureEvent
    means: Bilingual
    demand: Bilingual
    evidence: str
    source_ids: list[str]


class Position(_Strict):
    actor: str
    stance: Bilingual
    quote: str | None
    source_ids: list[str]


class Source(_Strict):
    id: str
    name: Bilingual
    kind: SourceKind
    evidence: str


class Brief(_Strict):
    """What the LLM returns."""

    language: str
    headline: Bilingual
    summary: Bilingual
    actors: list[Actor]
    pressures: list[Pressure]
    positions: list[Position]
    sources: list[Source]

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


# --- the envelope ----------------------------------------------------------------------------
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
    content_hash: str


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
    created_at: str


class CheckIssue(BaseModel):
    """One failed check: `path` points into the brief (`positions[1].quote`)."""

    path: str
    kind: Literal["schema", "not_found", "reference", "duplicate_id", "script"]
    message: str


class Dropped(BaseModel):
    path: str
    text: str
    reason: str


class CheckReport(BaseModel):
    passed_first_time: bool
    repaired: bool
    first_failures: list[CheckIssue] = Field(default_factory=list)
    remaining: list[CheckIssue] = Field(default_factory=list)
    dropped: list[Dropped] = Field(default_factory=list)
    unverified: list[str] = Field(default_factory=list)
    verified_spans: int = 0

    @property
    def clean(self) -> bool:
        return not self.remaining and not self.dropped and not self.unverified


class BriefEnvelope(BaseModel):
    """The full JSON output: the brief plus everything code knows around it."""

    schema_version: str = SCHEMA_VERSION
    brief: Brief
    article: ArticleInfo
    provenance: Provenance
    checks: CheckReport

    def is_verified(self, path: str) -> bool:
        return path not in self.checks.unverified


def _strictify(node: Any) -> Any:
    """OpenAI strict mode: every property required, no extra keys, no defaults."""
    if isinstance(node, dict):
        # "title"/"default" as annotations (strings, scalars), not as property names (dicts)
        node = {
            k: _strictify(v)
            for k, v in node.items()
            if not (k in ("default", "title") and not isinstance(v, dict))
        }
        if node.get("type") == "object" and "properties" in node:
            node["required"] = list(node["properties"])
            node["additionalProperties"] = False
        return node
    if isinstance(node, list):
        return [_strictify(v) for v in node]
    return node


def brief_json_schema() -> dict[str, Any]:
    """JSON Schema of the brief, in the form OpenAI's strict structured outputs accept."""
    return _strictify(copy.deepcopy(Brief.model_json_schema()))
