"""A delivered brief written into its chat's ledger: actors resolved, pressures and positions as events.

Each pressure becomes one event per actor → target pair (a brief's "Egypt and Qatar press Hamas"
is two pairs); each position one event of its actor. An event keeps what shows it: the evidence
or quote with whether it was found in the article, the outlet, the link and the dates.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from bot.engine.schema import BriefEnvelope
from bot.ledger.changes import detect
from bot.ledger.identity import Resolver, keys_of
from bot.ledger.values import Event, Identity

if TYPE_CHECKING:
    from bot.store.base import Store


def _key(keys: set[str]) -> str:
    return next((k for k in sorted(keys) if k.startswith("en:")), next(iter(sorted(keys)), ""))


def events_of(env: BriefEnvelope, resolver: Resolver, *, chat_id: int, brief_id: int, shared_at: float,
              link: str | None = None, outlet: str | None = None, outlet_ar: str | None = None) -> list[Event]:
    """The brief's events, its actors resolved (new identities get negative ids until stored)."""
    b = env.brief
    ids: dict[str, Identity] = {a.id: resolver.resolve(a, chat_id) for a in b.actors}
    keys = {a.id: _key(keys_of(a)) for a in b.actors}
    common = {"chat_id": chat_id, "brief_id": brief_id, "shared_at": shared_at, "published": env.article.published,
              "outlet": outlet or env.article.outlet,
              "outlet_ar": outlet_ar or outlet or env.article.outlet, "link": link or env.article.url}
    found: list[Event] = []
    for p in b.pressures:
        for a in p.actors:
            for t in p.targets:
                if a in ids and t in ids and ids[a].id != ids[t].id:
                    found.append(Event(kind="pressure", actor=ids[a].id, target=ids[t].id, event=p.event,
                                       evidence=p.evidence, verified=p.evidence_check.verified,
                                       actor_key=keys[a], target_key=keys[t], **common))  # type: ignore[arg-type]
    for q in b.positions:
        if q.actor in ids:
            found.append(Event(kind="position", actor=ids[q.actor].id, evidence=q.quote,
                               verified=bool(q.quote_check and q.quote_check.verified),
                               stance_en=q.stance.en, stance_ar=q.stance.ar, actor_key=keys[q.actor],
                               **common))  # type: ignore[arg-type]
    return found


async def record(store: Store, env: BriefEnvelope, *, chat_id: int, brief_id: int, shared_at: float,
                 link: str | None = None, outlet: str | None = None, outlet_ar: str | None = None) -> list[Event]:
    """Write one brief into the chat's ledger (once: a brief already recorded in the chat is left
    as it is); its events, with the chat's identity ids."""
    if await store.ledger_has_brief(chat_id, brief_id):
        return []
    resolver = Resolver(await store.ledger_identities(chat_id))
    events = events_of(env, resolver, chat_id=chat_id, brief_id=brief_id, shared_at=shared_at, link=link,
                       outlet=outlet, outlet_ar=outlet_ar)
    touched = {e.actor for e in events} | {e.target for e in events if e.target is not None} | resolver.changed
    real: dict[int, int] = {}
    # a country's state before the bodies related to it, so theirs can point at its stored id
    for ident in sorted(resolver.identities.values(), key=lambda i: i.related is not None):
        if ident.id in touched or ident.id < 0:
            if ident.related is not None:
                ident.related = real.get(ident.related, ident.related)
            real[ident.id] = await store.ledger_save_identity(ident)
    for e in events:
        e.actor = real.get(e.actor, e.actor)
        e.target = real.get(e.target, e.target) if e.target is not None else None
    await store.ledger_add_events(chat_id, events)
    return events


async def what_changed(store: Store, chat_id: int, since: float) -> Callable[[Literal["ar", "en"]], str | None]:
    """The digest's "What changed" since `since`, in one language at a time (None: nothing changed)."""
    from bot.render.timeline import changed

    found = detect(await store.ledger_window(chat_id, since), since)
    names = {i.id: i for i in await store.ledger_identities(chat_id)} if found else {}
    return lambda lang: changed(found, names, lang)
