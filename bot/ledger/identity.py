"""One actor across languages and outlets: a brief's actors resolved to a chat's identities.

An actor is the same identity as a known one when they share a name key (the English or Arabic
name, normalised; the brief's id slug), or when they are a state and its government (the same
country), or when their names' words mostly agree (`THRESHOLD`, chosen on `eval/ledger`'s tuning
part). Never across kinds that cannot be one actor: a state and a person of that state are
*related* (Qatar's prime minister belongs to Qatar) but stay two identities, and two actors of
different countries are never one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bot.digests.stories import words_ar, words_en
from bot.engine.normalize import normalize, strip_bidi
from bot.ledger.values import Identity

#: names' word overlap (Dice) at or above which two actors of one kind and country are one
#: identity ("Ansar Allah (Houthis)" and "Houthis" are 0.5); chosen on the tuning part of
#: eval/ledger, where it is the highest of the best (`newsbot eval eval/ledger`)
THRESHOLD = 0.5

#: words that say what an actor is rather than which one: "Hamas movement" is Hamas
_GENERIC = {"movement", "group", "forc", "force", "forces", "the", "of", "al", "حرك", "حركه", "جماع", "قوات", "قو"}
#: kinds that can name one actor: a state and its government are one side
_KIND_GROUP = {"state": "gov", "government": "gov", "armed_group": "group", "political_party": "group"}
#: id slugs too generic to identify anyone across briefs
_WEAK_IDS = {"pm", "fm", "president", "minister", "government", "army", "military", "source", "official",
             "officials", "spokesman", "spokesperson", "un", "us"}


def name_key(name: str) -> str:
    """A name compared across outlets: case, diacritics, hamza forms and punctuation do not count."""
    return " ".join(re.findall(r"\w+", normalize(strip_bidi(name)).lower()))


def keys_of(actor: Any) -> set[str]:
    """The name keys of a brief's actor (`en:…`, `ar:…`, `id:…`)."""
    keys = {f"en:{name_key(actor.name.en)}", f"ar:{name_key(actor.name.ar)}"}
    slug = actor.id.strip().lower()
    if len(slug) >= 3 and slug not in _WEAK_IDS:
        keys.add(f"id:{slug}")
    return {k for k in keys if not k.endswith(":")}


def group_of(kind: str) -> str:
    return _KIND_GROUP.get(kind, kind)


def _tokens(keys: Iterable[str]) -> tuple[set[str], set[str]]:
    en: set[str] = set()
    ar: set[str] = set()
    for k in keys:
        if k.startswith("en:"):
            en |= words_en(k[3:]) - _GENERIC
        elif k.startswith("ar:"):
            ar |= words_ar(k[3:]) - _GENERIC
    return en, ar


def _dice(a: set[str], b: set[str]) -> float:
    return 2 * len(a & b) / (len(a) + len(b)) if a and b else 0.0


def _acronym(keys: Iterable[str]) -> set[str]:
    found = set()
    for k in keys:
        if k.startswith("en:"):
            words = [w for w in k[3:].split() if w not in ("the", "of", "and", "for")]
            if len(words) > 1:
                found.add("".join(w[0] for w in words))
    return found


def _short_names(keys: Iterable[str]) -> set[str]:
    return {k[3:] for k in keys if k.startswith("en:") and " " not in k[3:]}


@dataclass
class Candidate:
    """A brief's actor in the forms resolution compares."""

    keys: set[str]
    kind: str
    country: str | None
    name_en: str
    name_ar: str

    @classmethod
    def of(cls, actor: Any) -> Candidate:
        return cls(keys_of(actor), actor.kind, actor.country, actor.name.en, actor.name.ar)


def similarity(known: Identity, c: Candidate) -> float:
    """How surely a brief's actor is a known identity, 0..1."""
    if group_of(known.kind) != group_of(c.kind) and "other" not in (known.kind, c.kind):
        return 0.0
    if known.country and c.country and known.country != c.country:
        return 0.0
    if known.aliases & c.keys:
        return 1.0
    if group_of(c.kind) == "gov" and c.country and known.country == c.country:
        return 1.0  # Egypt, "مصر", Egypt's government and its foreign ministry: one side
    if _acronym(c.keys) & _short_names(known.aliases) or _acronym(known.aliases) & _short_names(c.keys):
        return 0.9  # "United Nations" and "UN"
    (en_a, ar_a), (en_b, ar_b) = _tokens(known.aliases), _tokens(c.keys)
    return max(_dice(en_a, en_b), _dice(ar_a, ar_b))


class Resolver:
    """A chat's identities, resolving one brief's actors at a time (new ones get ids from `next_id`)."""

    def __init__(self, identities: Iterable[Identity], *, threshold: float = THRESHOLD) -> None:
        self.identities = {i.id: i for i in identities}
        self.threshold = threshold
        self._next = -1  # new identities carry negative ids until the store gives them theirs
        self.changed: set[int] = set()  # known identities given a relation here (to be saved)

    def match(self, c: Candidate) -> Identity | None:
        best, score = None, 0.0
        for ident in self.identities.values():
            s = similarity(ident, c)
            if s > score:
                best, score = ident, s
        return best if best is not None and score >= self.threshold else None

    def resolve(self, actor: Any, chat_id: int) -> Identity:
        """The identity of a brief's actor; a new one when none matches. Aliases grow with each name."""
        c = Candidate.of(actor)
        found = self.match(c)
        if found is not None:
            found.aliases |= c.keys
            if not found.country and c.country:
                found.country = c.country
            if found.kind != c.kind and c.kind == "state":
                found.kind, found.name_en, found.name_ar = "state", c.name_en, c.name_ar  # the state names the side
            return found
        ident = Identity(id=self._next, chat_id=chat_id, name_en=c.name_en, name_ar=c.name_ar, kind=c.kind,
                         country=c.country, aliases=set(c.keys), related=self.related_to(c))
        self._next -= 1
        if group_of(c.kind) == "gov" and c.country:
            # a country's people and bodies seen before its state now belong to it
            for other in self.identities.values():
                if other.related is None and other.country == c.country and other.kind == "person":
                    other.related = ident.id
                    self.changed.add(other.id)
        self.identities[ident.id] = ident
        return ident

    def related_to(self, c: Candidate) -> int | None:
        """A person of a country (its prime minister, an envoy) belongs to its state, without being it."""
        if c.kind != "person" or not c.country:
            return None
        return next((i.id for i in self.identities.values() if group_of(i.kind) == "gov" and i.country == c.country),
                    None)


def find(identities: Iterable[Identity], query: str) -> Identity | None:
    """The identity a person means by `query` ("Egypt", "مصر", "hamas"): a name or slug first,
    then the one whose names hold every word of it."""
    key = name_key(query)
    if not key:
        return None
    idents = list(identities)
    for ident in idents:
        if {f"en:{key}", f"ar:{key}", f"id:{key.replace(' ', '_')}", f"id:{key}"} & ident.aliases:
            return ident
    words = set(key.split())
    found = [i for i in idents if words <= set(name_key(f"{i.name_en} {i.name_ar}").split())]
    return min(found, key=lambda i: len(i.name_en)) if found else None
