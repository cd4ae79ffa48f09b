"""A digest rendered: the period's stories → Telegram HTML messages in the chat's language view.

Each story shows its headline, the articles that told it (linked, by outlet, with when they were
shared), the union of its pressures with the outlets that report each, and its positions. Every
word comes from `bot.render.texts`; lines of the other script are isolated as in briefs.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.digests.stories import Item, Lang, Story, Verdicts, as_item, group_stories, outlet_of, positions, pressures
from bot.engine.schema import BriefEnvelope
from bot.render import texts
from bot.render.classic import EVENTS, LANG_RULE, TELEGRAM_LIMIT, pack, utf16_len
from bot.render.lines import esc, line
from bot.render.texts import View

MAX_STORIES = 12  # more than this in one digest is a list nobody reads: the largest are kept
MAX_MESSAGES = 6  # per digest, well under Telegram's ~20 messages per minute in a group
MAX_LINKS = 5  # articles linked per story; the rest are counted
MAX_PRESSURES = 4  # per story
MAX_POSITIONS = 4  # per story
FIELD_CAP = 300  # a digest line quotes a brief's field; longer ones are cut with "…"
#: the ledger's "What changed" in one language (HTML), or None when nothing changed
Changed = Callable[[Lang], "str | None"]


def esc_field(text: str, lang: Lang, cap: int = FIELD_CAP) -> str:
    """A brief's field in a digest line, cut at FIELD_CAP."""
    return esc(text, lang, cap)


def _local(ts: float, tz: str) -> datetime:
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        zone = ZoneInfo("UTC")
    return datetime.fromtimestamp(ts, zone)


def when(ts: float, lang: Lang, tz: str, now: float) -> str:
    """"09:14 today", "18:02 yesterday", "09:14, 3 Mar" — in the chat's time zone."""
    t, today = _local(ts, tz), _local(now, tz).date()
    hhmm = t.strftime("%H:%M")
    if t.date() == today:
        return texts.one("digest_today", lang, time=hhmm)
    if t.date() == today - timedelta(days=1):
        return texts.one("digest_yesterday", lang, time=hhmm)
    return texts.one("digest_on_day", lang, time=hhmm, date=texts.date(t.day, t.month, lang))


def day(ts: float, lang: Lang, tz: str) -> str:
    t = _local(ts, tz)
    return texts.date(t.day, t.month, lang)


def _href(url: str | None) -> str | None:
    return url if url and url.lower().startswith(("https://", "http://")) else None


def article_links(story: Story, lang: Lang, tz: str, now: float) -> str:
    """The story's articles, each its outlet linked and when it was shared; the rest counted."""
    parts = []
    for item in story.items[:MAX_LINKS]:
        outlet = outlet_of(item)
        label = esc_field(getattr(outlet, lang), lang, 60) if outlet else "🔗"
        href = _href(item.link or item.env.article.url)
        if href:
            label = f'<a href="{html.escape(href, quote=True)}">{label}</a>'
        parts.append(f"{label} ({html.escape(when(item.shared_at, lang, tz, now), quote=False)})")
    rest = len(story.items) - MAX_LINKS
    if rest > 0:
        parts.append(texts.one("digest_more_links", lang, ar_n=texts.number(rest, "ar"),
                               en_n=texts.number(rest, "en")))
    return texts.join(parts, lang)


def _articles_line(story: Story, lang: Lang, tz: str, now: float) -> str:
    return line("🔗 " + article_links(story, lang, tz, now), lang)


def _story_atom(n: int, story: Story, lang: Lang, tz: str, now: float) -> str:
    b = story.lead.env.brief
    count = texts.count(len(story.items), texts.ARTICLES, lang)
    lines = [line(f"{texts.number(n, lang)}. <b>{esc_field(getattr(b.headline, lang), lang)}</b> · {count}", lang),
             _articles_line(story, lang, tz, now)]
    arrow = "←" if lang == "ar" else "→"
    semicolon = "؛ " if lang == "ar" else "; "
    found = pressures(story)
    if found:
        lines.append(line(f"🎯 <i>{texts.one('digest_pressures', lang)}</i>", lang))
        for p in found[:MAX_PRESSURES]:
            by = texts.join([esc_field(getattr(o, lang), lang, 60) for o in p.outlets], lang)
            lines.append(line(f"• <b>{esc_field(getattr(p.actors, lang), lang)}</b> {arrow} "
                               f"<b>{esc_field(getattr(p.targets, lang), lang)}</b> "
                               f"({EVENTS[p.event][lang]}{semicolon + by if by else ''})", lang))
    latest = positions(story)
    if latest:
        lines.append(line(f"🗣 <i>{texts.one('digest_positions', lang)}</i>", lang))
        for s in latest[:MAX_POSITIONS]:
            lines.append(line(f"• <b>{esc_field(getattr(s.names, lang), lang)}</b>: "
                               f"{esc_field(getattr(s.stance, lang), lang)}", lang))
    return "\n".join(lines)


def _header(lang: Lang, *, since: float, now: float, tz: str, articles: int, stories: int,
            chat: str | None) -> str:
    title = texts.one("digest_title_of", lang, chat=chat) if chat else texts.one("digest_title", lang)
    period = texts.one("digest_period", lang, **{f"{lang}_since": when(since, lang, tz, now),
                                                 f"{lang}_articles": texts.count(articles, texts.ARTICLES, lang),
                                                 f"{lang}_stories": texts.count(stories, texts.STORIES, lang)})
    return line(f"🗞 <b>{title}</b>", lang) + "\n" + line(period, lang)


def _atoms(stories: list[Story], total: int, lang: Lang, *, since: float, now: float, tz: str, articles: int,
           chat: str | None, changed: Changed | None = None) -> list[str]:
    atoms = [_header(lang, since=since, now=now, tz=tz, articles=articles, stories=total, chat=chat)]
    if len(stories) < total:
        atoms[0] += "\n" + line(texts.one(
            "digest_cut", lang, **{f"{lang}_shown": texts.count(len(stories), texts.STORIES, lang),
                                   f"{lang}_total": texts.number(total, lang)}), lang)
    what = changed(lang) if changed else None
    if what:
        atoms.append(what)  # the ledger's "What changed" (bot.ledger.changes) before the stories
    atoms += [_story_atom(n, s, lang, tz, now) for n, s in enumerate(stories, 1)]
    return atoms


def _langs(view: View) -> list[Lang]:
    return ["ar", "en"] if view == "both" else [view]


def compose(items: Sequence[Item | BriefEnvelope], view: View = "both", *, since: float | None = None,
            now: float | None = None, tz: str = "UTC", chat: str | None = None,
            verdicts: Verdicts | None = None, limit: int = TELEGRAM_LIMIT, max_messages: int = MAX_MESSAGES,
            max_stories: int = MAX_STORIES, changed: Changed | None = None) -> list[str]:
    """The digest as Telegram HTML messages in the chat's view; [] when there is nothing to report.

    Stories come largest first; when they do not fit in `max_messages` (or exceed `max_stories`),
    only the largest are kept and the header says so. Both languages share messages when the whole
    digest fits in one; otherwise each language starts its own, as briefs do.
    """
    its = [as_item(i) for i in items]
    if not its:
        return []
    now = now if now is not None else max(i.shared_at for i in its)
    since = since if since else min(i.shared_at for i in its)
    stories = sorted(group_stories(its, verdicts), key=lambda s: (-len(s.items), s.lead.shared_at))
    total = len(stories)
    shown = min(total, max_stories)
    while True:
        per_lang = [_atoms(stories[:shown], total, lang, since=since, now=now, tz=tz, articles=len(its), chat=chat,
                           changed=changed) for lang in _langs(view)]
        together = pack([a for n, atoms in enumerate(per_lang) for a in ([LANG_RULE] if n else []) + atoms], limit)
        messages = together if len(together) == 1 else [m for atoms in per_lang for m in pack(atoms, limit)]
        if len(messages) <= max_messages or shown == 1:
            break
        shown = max(1, shown - max(1, shown // 4))
    assert all(utf16_len(m) <= limit for m in messages)
    return messages


