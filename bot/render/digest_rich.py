"""A digest as one rich message (Rich HTML, Bot API 10.1). Pure functions.

The period's stories as a table (headline, articles, the outlets that told it, linked), then each
story's pressures and positions in a collapsed section of its own. The same stories, order and
words as the classic digest (bot/render/digest.py); only the form differs. The message stays
within Telegram's limits: when it would not, fewer stories are shown (the largest first) and the
header says so.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from bot.digests.stories import Item, Lang, Story, Verdicts, as_item, group_stories, positions, pressures
from bot.engine.schema import BriefEnvelope
from bot.render import texts
from bot.render.classic import EVENTS
from bot.render.digest import (
    MAX_POSITIONS,
    MAX_PRESSURES,
    MAX_STORIES,
    Changed,
    article_links,
    esc_field,
    when,
)
from bot.render.rich import RichMessage
from bot.render.rich_limits import measure
from bot.render.texts import View

COLUMNS = {"story": ("القصة", "Story"), "articles": ("المقالات", "Articles"), "outlets": ("نشرتها", "Told by")}


def _details(n: int, story: Story, lang: Lang) -> str:
    b = story.lead.env.brief
    arrow = "←" if lang == "ar" else "→"
    semicolon = "؛ " if lang == "ar" else "; "
    body = []
    found = pressures(story)
    if found:
        items = []
        for p in found[:MAX_PRESSURES]:
            by = texts.join([esc_field(getattr(o, lang), lang, 60) for o in p.outlets], lang)
            items.append(f"<li><b>{esc_field(getattr(p.actors, lang), lang)}</b> {arrow} "
                         f"<b>{esc_field(getattr(p.targets, lang), lang)}</b> "
                         f"({EVENTS[p.event][lang]}{semicolon + by if by else ''})</li>")
        body.append(f"<p><i>🎯 {texts.one('digest_pressures', lang)}</i></p><ul>{''.join(items)}</ul>")
    latest = positions(story)
    if latest:
        items = [f"<li><b>{esc_field(getattr(s.names, lang), lang)}</b>: {esc_field(getattr(s.stance, lang), lang)}</li>"
                 for s in latest[:MAX_POSITIONS]]
        body.append(f"<p><i>🗣 {texts.one('digest_positions', lang)}</i></p><ul>{''.join(items)}</ul>")
    if not body:
        return ""
    return (f"<details><summary>{texts.number(n, lang)}. {esc_field(getattr(b.headline, lang), lang)}</summary>"
            f"{''.join(body)}</details>")


def _language(stories: list[Story], total: int, lang: Lang, *, since: float, now: float, tz: str, articles: int,
              chat: str | None, changed: Changed | None) -> str:
    title = texts.one("digest_title_of", lang, chat=chat) if chat else texts.one("digest_title", lang)
    period = texts.one("digest_period", lang, **{f"{lang}_since": when(since, lang, tz, now),
                                                 f"{lang}_articles": texts.count(articles, texts.ARTICLES, lang),
                                                 f"{lang}_stories": texts.count(total, texts.STORIES, lang)})
    out = [f"<h2>🗞 {html.escape(title, quote=False)}</h2>", f"<p>{html.escape(period, quote=False)}</p>"]
    if len(stories) < total:
        cut = texts.one("digest_cut", lang, **{f"{lang}_shown": texts.count(len(stories), texts.STORIES, lang),
                                               f"{lang}_total": texts.number(total, lang)})
        out.append(f"<p><i>{html.escape(cut, quote=False)}</i></p>")
    what = changed(lang) if changed else None
    if what:  # the ledger's "What changed": inline Telegram HTML, one change a line
        out.append("<p>" + what.replace(texts.RLM, "").replace("\n", "<br/>") + "</p>")
    head = "".join(f"<th>{COLUMNS[k][0 if lang == 'ar' else 1]}</th>" for k in ("story", "articles", "outlets"))
    rows = [f"<tr><th>#</th>{head}</tr>"]
    for n, s in enumerate(stories, 1):
        b = s.lead.env.brief
        rows.append(f"<tr><td>{texts.number(n, lang)}</td><td><b>{esc_field(getattr(b.headline, lang), lang)}</b></td>"
                    f"<td>{texts.number(len(s.items), lang)}</td><td>{article_links(s, lang, tz, now)}</td></tr>")
    out.append(f"<table bordered striped>{''.join(rows)}</table>")
    out += [_details(n, s, lang) for n, s in enumerate(stories, 1)]
    return "".join(out)


def compose_rich(items: Sequence[Item | BriefEnvelope], view: View = "both", *, since: float | None = None,
                 now: float | None = None, tz: str = "UTC", chat: str | None = None,
                 verdicts: Verdicts | None = None, max_stories: int = MAX_STORIES,
                 changed: Changed | None = None) -> RichMessage | None:
    """The digest as one rich message in the chat's view; None when there is nothing to report."""
    its = [as_item(i) for i in items]
    if not its:
        return None
    now = now if now is not None else max(i.shared_at for i in its)
    since = since if since else min(i.shared_at for i in its)
    stories = sorted(group_stories(its, verdicts), key=lambda s: (-len(s.items), s.lead.shared_at))
    langs: list[Lang] = ["ar", "en"] if view == "both" else [view]  # type: ignore[list-item]
    shown = min(len(stories), max_stories)
    while True:
        message = "<hr/>".join(_language(stories[:shown], len(stories), lang, since=since, now=now, tz=tz,
                                         articles=len(its), chat=chat, changed=changed) for lang in langs)
        usage = measure(message)
        if usage.fits() or shown == 1:
            break
        shown = max(1, shown - max(1, shown // 4))
    return RichMessage(html=message, is_rtl=langs[0] == "ar", usage=usage, cut=shown < len(stories))
