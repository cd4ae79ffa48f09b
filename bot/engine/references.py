"""A model's references read as it meant them: by id, by name, or to an actor the prompt offered.

A small model refers to a party by its name where its id belongs ("حركة حماس" for `hamas`), names
a state the prompt offered ready to copy (`bot.engine.parties`) without copying its line, or copies
it badly. All are read here, before the checks; what still does not resolve is left for them to
report.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from pydantic import BaseModel

from bot.engine.normalize import normalize
from bot.engine.schema import LIST_LIMITS, Actor, Position, Pressure, Source
from bot.engine.speakers import COUNTRIES, actor_party, index_of, words


def _ref_key(text: str) -> str:
    return " ".join(normalize(text).casefold().replace("_", " ").split())


def _names_state(actor: Actor, iso: str) -> bool:
    """Whether the actor's own words (mention, names) name the state `iso`."""
    return any(index_of(words(text), words(form)) is not None
               for text in (actor.mention, actor.name.ar, actor.name.en) for form in COUNTRIES[iso])


def complete(actors: list[Actor], offered: Sequence[Actor], spoken: Mapping[str, tuple[str, str | None]]) -> None:
    """An actor with the id of an offered line and no country has the line's country (`spoken`: a
    speaker's id → its mention and the state its name says it speaks for): a small model copies a
    state's id, mention and names, then writes a null country where the line has one. Without it,
    "مسؤول إسرائيلي" does not name an Israel without a country, and the speaker check fails a
    quote the article gives to Israel. The kind has to be the line's, when it gives one."""
    lines = {a.id: (a.kind, a.country) for a in offered}
    for i, a in enumerate(actors):
        kind, country = lines.get(a.id, (None, spoken.get(a.id, ("", None))[1]))
        if a.country is None and country and (kind is None or kind == a.kind):
            actors[i] = a.model_copy(update={"country": country})


def restate(actors: list[Actor], offered: Sequence[Actor], found: Callable[[Actor], bool]) -> None:
    """An actor the answer gives as an offered state, which the article does not name in its words
    (`found`) but which itself names that state, is that state in the article's words and the
    state's names: a small model writes "الدولة قطر" or "المصر" for a line it could have copied. Its
    id stays, and so do the references to it; an answer that has the state already keeps it once."""
    by_country = {a.country: a for a in offered if a.kind == "state" and a.country}
    for i, a in enumerate(actors):
        offer = by_country.get(a.country) if a.kind == "state" and a.country else None
        if offer is None or not _names_state(a, offer.country or "") or found(a):
            continue
        # not when the answer has that state already: two actors would then be one
        if not any(b is not a and (b.id == offer.id or (b.kind == "state" and b.country == offer.country and found(b)))
                   for b in actors):
            actors[i] = a.model_copy(update={"mention": offer.mention, "name": offer.name.model_copy()})


def resolve(lists: dict[str, list[BaseModel]], offered: Sequence[Actor] = (),
            spoken: Mapping[str, tuple[str, str | None]] | None = None) -> None:
    """A reference by an actor's or a source's id in another spelling, mention or name (a small
    model writes "حركة حماس" where it defined `hamas`) is read as that id, when only one item has
    that name. A reference to an `offered` state is read as the answer's own actor for that state
    when it has one (`usa` for an offered `united_states`), and otherwise adds the offered actor (a
    small model names `israel` as a target and forgets to copy its line), within the list's bound;
    an offered speaker is added so too. A reference to an offered speaker's id (`spoken`: id → its
    mention and the state its name says it speaks for) is read as the answer's own actor with that
    mention, or one of its names; a speaker not offered as an actor is read as that state, as for an
    offered state (an official speaks for their state; the speaker check decides whether the
    article says so). Any other undefined reference stays, for the checks to report."""
    actors, sources = cast(list[Actor], lists["actors"]), cast(list[Source], lists["sources"])

    def by_name(items: Sequence[Actor | Source], names: Callable[[Any], tuple[str, ...]]) -> dict[str, str]:
        ids: dict[str, set[str]] = {}
        for item in items:
            for name in names(item):
                if name.strip():
                    ids.setdefault(_ref_key(name), set()).add(item.id)
        return {k: next(iter(v)) for k, v in ids.items() if len(v) == 1}

    def actor_names(a: Actor) -> tuple[str, ...]:
        return a.id, a.mention, a.name.ar, a.name.en

    defined = {a.id for a in actors}
    names = by_name(actors, actor_names)
    offers = {a.id: a for a in offered}
    offer_names = by_name(offered, actor_names)
    states: dict[str, set[str]] = {}
    for a in actors:
        if a.kind == "state" and a.country:
            states.setdefault(a.country, set()).add(a.id)
    source_ids, source_names = {s.id for s in sources}, by_name(sources, lambda s: (s.name.ar, s.name.en))

    def add(offer: Actor, ref: str) -> str:
        """`offer` added to the answer's actors, within the list's bound (else `ref` stays)."""
        if len(actors) >= LIST_LIMITS["actors"]:
            return ref
        actors.append(offer.model_copy())
        defined.add(offer.id)
        if offer.kind == "state":
            states[offer.country or ""] = {offer.id}
        return offer.id

    def actor(ref: str) -> str:
        if ref in defined:
            return ref
        key = _ref_key(ref)
        if key in names:
            return names[key]
        mention, country = (spoken or {}).get(ref, ("", None))
        if _ref_key(mention) in names:
            return names[_ref_key(mention)]
        # the answer's own actor for that speaker, by a name of it ("Faisal al-Mekdad" in "Syria's
        # Deputy Foreign Minister Faisal al-Mekdad"), when only one names it
        own_speaker = {a.id for a in actors if mention and a.kind != "state" and actor_party(a).score(mention) >= 1}
        if len(own_speaker) == 1:
            return next(iter(own_speaker))
        offer = offers.get(offer_names.get(key, ""))
        if offer is not None and offer.kind != "state":  # a speaker named in both languages
            return add(offer, ref)
        offer = offer or next((a for a in offered if country and a.kind == "state" and a.country == country), None)
        if offer is None:
            return ref
        own = states.get(offer.country or "", set())
        if len(own) == 1:
            return next(iter(own))
        return add(offer, ref) if not own else ref

    def source(ref: str) -> str:
        return ref if ref in source_ids else source_names.get(_ref_key(ref), ref)

    for p in cast(list[Pressure], lists["pressures"]):
        p.actors, p.targets = [actor(r) for r in p.actors], [actor(r) for r in p.targets]
        p.source_ids = [source(r) for r in p.source_ids]
    for q in cast(list[Position], lists["positions"]):
        q.actor = actor(q.actor)
        q.source_ids = [source(r) for r in q.source_ids]
