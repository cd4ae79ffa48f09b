"""The pressure ledger in the stores (SQLite and PostgreSQL): a brief's events recorded per chat,
one identity across languages, timelines, merges and splits, tracking, and forgetting a chat."""

from __future__ import annotations

from bot.ledger.changes import detect
from bot.ledger.record import record
from bot.store import Store
from tests.fakes.ledger import brief

CHAT, OTHER = -1001000000001, 42
DAY = 86_400.0


async def ids_by_name(store: Store, chat: int) -> dict[str, int]:
    return {i.name_en: i.id for i in await store.ledger_identities(chat)}


async def test_a_brief_becomes_the_chats_events_and_only_its_own(store: Store) -> None:
    env = brief(["egypt", "qatar", "israel", "hamas"], [(["egypt", "qatar"], ["israel", "hamas"], "REQUEST")],
                [("egypt", "calls for talks now")], url="https://news.example/1", outlet="News Agency")
    events = await record(store, env, chat_id=CHAT, brief_id=7, shared_at=1000.0)
    assert len(events) == 5  # four pairs and one position
    names = await ids_by_name(store, CHAT)
    assert set(names) == {"Egypt", "Qatar", "Israel", "Hamas"}
    timeline = await store.ledger_timeline(CHAT, names["Israel"])
    assert {(e.actor, e.target, e.event) for e in timeline} == {
        (names["Egypt"], names["Israel"], "REQUEST"), (names["Qatar"], names["Israel"], "REQUEST")}
    assert all(e.link == "https://news.example/1" and e.outlet == "News Agency" and e.verified for e in timeline)
    # recording the same brief again in the chat adds nothing; another chat sees nothing of it
    assert await record(store, env, chat_id=CHAT, brief_id=7, shared_at=2000.0) == []
    assert await store.ledger_identities(OTHER) == []
    assert await store.ledger_timeline(OTHER, names["Israel"]) == []


async def test_one_actor_across_languages_and_outlets_but_look_alikes_stay_apart(store: Store) -> None:
    await record(store, brief(["egypt", "hamas"], [(["egypt"], ["hamas"], "REQUEST")]), chat_id=CHAT, brief_id=1,
                 shared_at=1.0)
    # another outlet: other slugs, "Hamas movement", the foreign ministry speaking for Egypt
    await record(store, brief(["egypt_fm", "hamas_movement"], [(["egypt_fm"], ["hamas_movement"], "THREATEN")],
                              ids={"egypt_fm": "cairo", "hamas_movement": "hamas_group"}),
                 chat_id=CHAT, brief_id=2, shared_at=DAY)
    await record(store, brief(["qatar", "qatar_pm", "hamas"], [(["qatar_pm"], ["hamas"], "REQUEST")]),
                 chat_id=CHAT, brief_id=3, shared_at=2 * DAY)
    idents = {i.name_en: i for i in await store.ledger_identities(CHAT)}
    assert set(idents) == {"Egypt", "Hamas", "Qatar", "Qatar's prime minister"}
    assert idents["Qatar's prime minister"].related == idents["Qatar"].id
    assert "ar:وزاره الخارجيه المصريه" in idents["Egypt"].aliases
    egypt = await store.ledger_timeline(CHAT, idents["Egypt"].id)
    assert [e.event for e in egypt] == ["THREATEN", "REQUEST"]  # newest first
    changes = detect(await store.ledger_window(CHAT, DAY / 2), since=DAY / 2)
    assert [(c.kind, c.before.event if c.before else None, c.after.event) for c in changes] == [
        ("escalation", "REQUEST", "THREATEN"), ("new_pair", None, "REQUEST")]


async def test_merge_split_track_and_forget(store: Store) -> None:
    await record(store, brief(["un", "rsf"], [(["un"], ["rsf"], "THREATEN")]), chat_id=CHAT, brief_id=1,
                 shared_at=1.0)
    await record(store, brief(["rsf", "hamas"], [(["rsf"], ["hamas"], "ACCUSE")]), chat_id=CHAT, brief_id=2,
                 shared_at=2.0)
    await record(store, brief(["un", "rsf"], [(["un"], ["rsf"], "THREATEN")]), chat_id=OTHER, brief_id=1,
                 shared_at=1.0)
    names = await ids_by_name(store, CHAT)
    assert await store.ledger_track(CHAT, names["Hamas"]) and not await store.ledger_track(CHAT, names["Hamas"])
    assert not await store.ledger_merge(OTHER, names["Rapid Support Forces"], names["Hamas"])  # not that chat's
    assert await store.ledger_merge(CHAT, names["Rapid Support Forces"], names["Hamas"])
    rsf = names["Rapid Support Forces"]
    assert await store.ledger_tracked(CHAT) == [rsf]  # tracking follows the merge
    assert len(await store.ledger_timeline(CHAT, rsf)) == 3
    new = await store.ledger_split(CHAT, rsf, "en:hamas")
    assert new is not None
    assert [(e.actor, e.target) for e in await store.ledger_timeline(CHAT, new)] == [(rsf, new)]
    assert await store.ledger_alert_once(CHAT, rsf, "s", 60) and not await store.ledger_alert_once(CHAT, rsf, "s", 60)
    assert await store.ledger_alert_once(CHAT, rsf, "s", 0)  # reported again after the quiet time: news
    await store.add_digest_item(CHAT, 1)
    assert await store.forget_chat(CHAT) > 0
    assert await store.ledger_identities(CHAT) == [] and await store.ledger_tracked(CHAT) == []
    assert await store.digest_entries(CHAT, 0) == []
    assert len(await store.ledger_identities(OTHER)) == 2  # another chat keeps its own


async def test_a_person_seen_before_their_state_is_related_to_it_once_it_appears(store: Store) -> None:
    await record(store, brief(["qatar_pm", "hamas"], [(["qatar_pm"], ["hamas"], "REQUEST")]), chat_id=CHAT,
                 brief_id=1, shared_at=1.0)
    await record(store, brief(["qatar", "israel"], [(["qatar"], ["israel"], "PROTEST")]), chat_id=CHAT,
                 brief_id=2, shared_at=2.0)
    idents = {i.name_en: i for i in await store.ledger_identities(CHAT)}
    assert idents["Qatar's prime minister"].related == idents["Qatar"].id
    assert idents["Hamas"].related is None and idents["Israel"].related is None
