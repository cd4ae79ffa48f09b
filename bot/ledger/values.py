"""The ledger's records, as plain values shared by the store, the detection and the rendering."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

EventKind = Literal["pressure", "position"]


@dataclass
class Identity:
    """One actor of a chat, whatever the language or outlet that named it.

    `aliases` are normalised name keys (`en:…`, `ar:…`, `id:…`) seen for it; `related` is another
    identity it belongs to without being it (Qatar's prime minister → Qatar)."""

    id: int
    chat_id: int
    name_en: str
    name_ar: str
    kind: str
    country: str | None = None
    aliases: set[str] = field(default_factory=set)
    related: int | None = None

    def name(self, lang: str) -> str:
        return self.name_ar if lang == "ar" else self.name_en


@dataclass
class Event:
    """A pressure (actor → target, PLOVER type) or a stated position, as one brief reported it.

    `actor_key` / `target_key` are the name keys the brief used, so a merge can be split again."""

    chat_id: int
    brief_id: int
    kind: EventKind
    actor: int
    shared_at: float
    target: int | None = None
    event: str | None = None  # PLOVER type of a pressure
    published: str | None = None
    outlet: str | None = None
    outlet_ar: str | None = None  # the outlet's Arabic name when the brief gives it
    link: str | None = None
    evidence: str | None = None  # a pressure's evidence, a position's quote
    verified: bool = False
    stance_en: str | None = None
    stance_ar: str | None = None
    actor_key: str = ""
    target_key: str = ""
    id: int = 0


Pair = tuple[int, int]


@dataclass
class Change:
    """What changed for a pair or an actor, with the two dated events that show it (`before` is
    None for a new pair)."""

    kind: Literal["new_pair", "escalation", "deescalation", "position"]
    actor: int
    target: int | None
    after: Event
    before: Event | None = None
