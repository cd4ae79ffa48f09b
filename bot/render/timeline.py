"""The ledger in the chat: an actor's timeline, tracking alerts, the digest's "What changed", /actors.

Telegram HTML within 4,096 characters a message, in the chat's language view; lines of the other
script are isolated as in briefs and digests. The ledger's own words are here, in both languages.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Literal

from bot.ledger.values import Change, Event, Identity
from bot.render import lines, texts
from bot.render.classic import EVENTS, LANG_RULE, TELEGRAM_LIMIT, pack, utf16_len
from bot.render.lines import line
from bot.render.rich import RichMessage
from bot.render.rich_limits import measure

Lang = Literal["ar", "en"]
MAX_TIMELINE = 40  # events in one timeline; older ones are counted
MAX_CHANGES = 12  # lines of "What changed" in one digest
MAX_ACTORS = 60  # identities listed by /actors (and compared for its merge buttons), the newest
FIELD_CAP = 200

#: key → (Arabic, English); `{name}` values are HTML-escaped by `say`
WORDS: dict[str, tuple[str, str]] = {
    "timeline_title": ("🕰 سجل {name}", "🕰 Record of {name}"),
    "timeline_empty": ("لا شيء في سجل هذه المحادثة عن {name} بعد.", "Nothing about {name} in this chat's record yet."),
    "timeline_more": ("أحداث أقدم لم تُعرض هنا.", "Older events are not shown here."),
    "related": ("مرتبط بـ{name}", "related to {name}"),
    "pressures_on": ("ضغط على", "pressed"),
    "position": ("موقف", "position"),
    "unverified": ("(لم يُتحقق منه)", "(unverified)"),
    "not_found": ("لا أعرف فاعلًا بهذا الاسم في هذه المحادثة. جرّب /actors.",
                  "No actor by that name in this chat. Try /actors."),
    "timeline_usage": ("اكتب: /timeline اسم الفاعل (مثل /timeline مصر)", "Usage: /timeline <actor> (e.g. /timeline Egypt)"),
    "track_usage": ("اكتب: /track اسم الفاعل", "Usage: /track <actor>"),
    "track_on": ("سأنبهك حين يظهر {name} في ضغط جديد هنا.", "I'll alert you when {name} is in a new pressure here."),
    "track_already": ("{name} متابَع بالفعل.", "{name} is tracked already."),
    "untrack_done": ("أوقفت متابعة: {ar_names}", "Stopped tracking: {en_names}"),
    "untrack_none": ("لا تتابع أي فاعل.", "You track no actor."),
    "alert": ("🔔 {name} في ضغط جديد", "🔔 {name} in a new pressure"),
    "changed_title": ("🆕 ما الذي تغيّر", "🆕 What changed"),
    "new_pair": ("ضغط جديد", "new pressure"),
    "changed_more": ("وتغييرات أخرى: {n}", "and {n} more {changes}"),
    "escalation": ("تصعيد", "escalation"),
    "deescalation": ("تهدئة", "de-escalation"),
    "position_changed": ("تغيّر الموقف", "position changed"),
    "actors_title": ("👥 الفاعلون في سجل هذه المحادثة", "👥 Actors in this chat's record"),
    "actors_newest": ("أحدث {n} من {total}؛ ابحث عن غيرها بـ /timeline.", "The newest {n} of {total}; find others with /timeline."),
    "actors_empty": ("لا فاعلين في سجل هذه المحادثة بعد.", "No actors in this chat's record yet."),
    "actors_hint": ("الأزرار: 🔗 دمج اثنين متشابهين، ✂️ فصل اسم عن فاعل (للمشرفين).",
                    "Buttons: 🔗 merge two look-alikes, ✂️ split a name off an actor (admins)."),
    "merged": ("دُمج {gone} في {keep}.", "Merged {gone} into {keep}."),
    "split": ("فُصل «{alias}» عن {name}.", "Split “{alias}” off {name}."),
    "split_pick": ("أي اسم يُفصل عن {name}؟", "Which name to split off {name}?"),
    "admins_only": ("هذا للمشرفين فقط.", "Admins only."),
    "button_expired": ("انتهت صلاحية هذا الزر.", "This button has expired."),
    "actors_of_brief": ("سجل أي فاعل؟", "Whose record?"),
    "col_date": ("التاريخ", "Date"),
    "col_source": ("المصدر", "Source"),
    "col_pair": ("من ← على من", "Who → whom"),
    "col_type": ("النوع", "Type"),
    "positions": ("🗣 المواقف", "🗣 Positions"),
    "pressures": ("🎯 الضغوط", "🎯 Pressures"),
    "forget_done": ("حُذف سجل هذه المحادثة وملخصاتها وعناصر موجزها.",
                    "This chat's record, briefs and digest items are deleted."),
}


def say(key: str, view: texts.View, **values: object) -> str:
    ar, en = WORDS[key]
    esc = {k: html.escape(str(v)) for k, v in values.items()}
    return texts.both(ar.format(**esc), en.format(**esc), view)


def one(key: str, lang: Lang, **values: object) -> str:
    return WORDS[key][0 if lang == "ar" else 1].format(**{k: html.escape(str(v)) for k, v in values.items()})


def esc(text: str, lang: Lang, cap: int = FIELD_CAP) -> str:
    return lines.esc(text, lang, cap)


def _langs(view: texts.View) -> list[Lang]:
    return ["ar", "en"] if view == "both" else [view]


def when(e: Event, lang: Lang) -> str:
    """The date the article was published when known, else when it was shared here."""
    day = None
    if e.published:
        try:
            day = datetime.fromisoformat(e.published.replace("Z", "+00:00")).date()
        except ValueError:
            day = None
    if day is None:
        day = datetime.fromtimestamp(e.shared_at, UTC).date()
    return f"{texts.date(day.day, day.month, lang)} {day.year}"


def _dated(e: Event, lang: Lang) -> str:
    """"3 Mar 2026, Reuters" with the outlet linked to the article."""
    return f"{when(e, lang)}{'، ' if lang == 'ar' else ', '}{_source(e, lang)}"


def _source(e: Event, lang: Lang) -> str:
    outlet = (e.outlet_ar or e.outlet) if lang == "ar" else e.outlet
    label = esc(outlet, lang, 60) if outlet else "🔗"
    if e.link and e.link.lower().startswith(("https://", "http://")):
        label = f'<a href="{html.escape(e.link, quote=True)}">{label}</a>'
    return label


NameOf = Callable[[int, Lang], str]


def event_line(e: Event, name: NameOf, lang: Lang) -> str:
    """"• 3 Mar 2026 · Reuters — Egypt → Hamas (threat)", or an actor's stated position."""
    arrow = "←" if lang == "ar" else "→"
    head = f"• {when(e, lang)} · {_source(e, lang)} — "
    if e.kind == "pressure" and e.target is not None and e.event:
        body = (f"<b>{esc(name(e.actor, lang), lang)}</b> {arrow} <b>{esc(name(e.target, lang), lang)}</b> "
                f"({EVENTS[e.event][lang]})")
    else:
        stance = (e.stance_ar if lang == "ar" else e.stance_en) or e.stance_en or ""
        body = f"🗣 <b>{esc(name(e.actor, lang), lang)}</b>: {esc(stance, lang)}"
    if e.evidence and not e.verified:
        body += " " + one("unverified", lang)
    return line(head + body, lang)


def _per_view(view: texts.View, atoms_of: Callable[[Lang], list[str]], limit: int) -> list[str]:
    """Both languages in one message when they fit, else each language its own messages (as briefs)."""
    per_lang = [atoms_of(lang) for lang in _langs(view)]
    together = pack([a for n, atoms in enumerate(per_lang) for a in ([LANG_RULE] if n else []) + atoms], limit, "\n")
    messages = together if len(together) == 1 else [m for atoms in per_lang for m in pack(atoms, limit, "\n")]
    assert all(utf16_len(m) <= limit for m in messages)
    return messages


def timeline(ident: Identity, events: Sequence[Event], names: dict[int, Identity], view: texts.View, *,
             limit: int = TELEGRAM_LIMIT) -> list[str]:
    """An actor's record, newest first: pressures as actor and as target, and positions (the newest
    MAX_TIMELINE; `events` may hold one more, to tell that older ones exist)."""
    def name(i: int, lang: Lang) -> str:
        known = names.get(i)
        return known.name(lang) if known else "?"

    def atoms(lang: Lang) -> list[str]:
        out = [line(f"<b>{one('timeline_title', lang, name=ident.name(lang))}</b>", lang)]
        if ident.related is not None and ident.related in names:
            out[0] += "\n" + line(one("related", lang, name=names[ident.related].name(lang)), lang)
        if not events:
            return [*out, line(one("timeline_empty", lang, name=ident.name(lang)), lang)]
        out += [event_line(e, name, lang) for e in events[:MAX_TIMELINE]]
        if len(events) > MAX_TIMELINE:
            out.append(line(one("timeline_more", lang), lang))
        return out

    return _per_view(view, atoms, limit)


def timeline_rich(ident: Identity, events: Sequence[Event], names: dict[int, Identity],
                  view: texts.View) -> RichMessage | None:
    """The record as one rich message: pressures as a table (date, source, who → whom, type) and
    positions as a list, per language of the view; None when it would not fit (the classic one goes)."""
    def name(i: int, lang: Lang) -> str:
        known = names.get(i)
        return known.name(lang) if known else "?"

    shown = list(events[:MAX_TIMELINE])
    parts = []
    for lang in _langs(view):
        arrow = "←" if lang == "ar" else "→"
        out = [f"<h2>{one('timeline_title', lang, name=ident.name(lang))}</h2>"]
        if ident.related is not None and ident.related in names:
            out.append(f"<p><i>{one('related', lang, name=names[ident.related].name(lang))}</i></p>")
        pressures = [e for e in shown if e.kind == "pressure" and e.target is not None and e.event]
        said = [e for e in shown if e.kind == "position"]
        if not shown:
            out.append(f"<p>{one('timeline_empty', lang, name=ident.name(lang))}</p>")
        if pressures:
            head = "".join(f"<th>{one(k, lang)}</th>" for k in ("col_date", "col_source", "col_pair", "col_type"))
            rows = [f"<tr>{head}</tr>"]
            for e in pressures:
                note = " " + one("unverified", lang) if e.evidence and not e.verified else ""
                pair = f"<b>{esc(name(e.actor, lang), lang)}</b> {arrow} <b>{esc(name(e.target, lang), lang)}</b>"  # type: ignore[arg-type]
                rows.append(f"<tr><td>{when(e, lang)}</td><td>{_source(e, lang)}</td><td>{pair}</td>"
                            f"<td>{EVENTS[e.event][lang]}{note}</td></tr>")  # type: ignore[index]
            out.append(f"<h3>{one('pressures', lang)}</h3><table bordered striped>{''.join(rows)}</table>")
        if said:
            items = "".join(f"<li>{_dated(e, lang)} — <b>{esc(name(e.actor, lang), lang)}</b>: "
                            f"{esc((e.stance_ar if lang == 'ar' else e.stance_en) or e.stance_en or '', lang)}</li>"
                            for e in said)
            out.append(f"<h3>{one('positions', lang)}</h3><ul>{items}</ul>")
        if len(events) > MAX_TIMELINE:
            out.append(f"<p><i>{one('timeline_more', lang)}</i></p>")
        parts.append("".join(out))
    message = "<hr/>".join(parts)
    usage = measure(message)
    return RichMessage(html=message, is_rtl=_langs(view)[0] == "ar", usage=usage, cut=False) if usage.fits() else None


def alert(tracked: Identity, events: Sequence[Event], names: dict[int, Identity], view: texts.View) -> str:
    """A tracked actor in a new brief's pressures: the pairs, types and links."""
    def name(i: int, lang: Lang) -> str:
        known = names.get(i)
        return known.name(lang) if known else "?"

    def atoms(lang: Lang) -> list[str]:
        return [line(f"<b>{one('alert', lang, name=tracked.name(lang))}</b>", lang),
                *(event_line(e, name, lang) for e in events[:6])]

    return _per_view(view, atoms, TELEGRAM_LIMIT)[0]


#: what a desk reads first: moves along the intensity order, then stances, then new pairs
KIND_ORDER = {"escalation": 0, "deescalation": 1, "position": 2, "new_pair": 3}


def changed(changes: Sequence[Change], names: dict[int, Identity], lang: Lang) -> str | None:
    """The digest's "What changed": each change with the two dated sources that show it, the most
    telling first (MAX_CHANGES of them; how many more there are is said)."""
    if not changes:
        return None
    changes = sorted(changes, key=lambda c: KIND_ORDER[c.kind])  # stable: oldest first within a kind

    def name(i: int, lg: Lang) -> str:
        known = names.get(i)
        return known.name(lg) if known else "?"

    arrow = "←" if lang == "ar" else "→"
    lines = [line(f"<b>{one('changed_title', lang)}</b>", lang)]
    for c in changes[:MAX_CHANGES]:
        a = f"<b>{esc(name(c.actor, lang), lang)}</b>"
        if c.kind == "position":
            before = (c.before.stance_ar if lang == "ar" else c.before.stance_en) or "" if c.before else ""
            after = (c.after.stance_ar if lang == "ar" else c.after.stance_en) or ""
            text = (f"🔄 {a} — {one('position_changed', lang)}: {esc(before, lang)} "
                    f"({_dated(c.before, lang)}) {arrow} {esc(after, lang)} ({_dated(c.after, lang)})") if c.before else ""
        else:
            assert c.target is not None and c.after.event
            pair = f"{a} {arrow} <b>{esc(name(c.target, lang), lang)}</b>"
            after = f"{EVENTS[c.after.event][lang]} ({_dated(c.after, lang)})"
            if c.before is None or not c.before.event:
                text = f"➕ {one('new_pair', lang)}: {pair}: {after}"
            else:
                mark = "⬆️" if c.kind == "escalation" else "⬇️"
                text = (f"{mark} {one(c.kind, lang)}: {pair}: {EVENTS[c.before.event][lang]} "
                        f"({_dated(c.before, lang)}) {arrow} {after}")
        if text:
            lines.append(line(text, lang))
    if len(changes) > MAX_CHANGES:
        extra = len(changes) - MAX_CHANGES
        lines.append(line(one("changed_more", lang, n=texts.number(extra, lang),
                               changes="change" if extra == 1 else "changes"), lang))
    return "\n".join(lines)


def actors_list(idents: Sequence[Identity], view: texts.View) -> list[str]:
    """/actors: the newest MAX_ACTORS identities, each with its names in both languages, country and
    related one (older ones are found by name with /timeline)."""
    by_id = {i.id: i for i in idents}
    shown = list(idents)[-MAX_ACTORS:]

    def atoms(lang: Lang) -> list[str]:
        if not idents:
            return [line(one("actors_empty", lang), lang)]
        out = [line(f"<b>{one('actors_title', lang)}</b>", lang)]
        if len(shown) < len(idents):
            out.append(line(one("actors_newest", lang, n=texts.number(len(shown), lang),
                                 total=texts.number(len(idents), lang)), lang))
        for i in shown:
            other = i.name_en if lang == "ar" else i.name_ar
            extra = f" · {esc(i.country, lang)}" if i.country else ""
            if i.related in by_id:
                extra += " · " + one("related", lang, name=by_id[i.related].name(lang))  # type: ignore[index]
            out.append(line(f"• <b>{esc(i.name(lang), lang)}</b> ({esc(other, lang)}){extra}", lang))
        out.append(line(one("actors_hint", lang), lang))
        return out

    return _per_view(view, atoms, TELEGRAM_LIMIT)
