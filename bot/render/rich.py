"""Rendering: a brief envelope → one Telegram rich message (Rich HTML, Bot API 10.1). Pure functions.

One message holds the brief in the chat's language view: headline and summary; who pressures whom
as a table; positions as block quotations credited "actor · source" under their stance; sources by
kind; then a collapsed "In the article" section with the article's paragraphs that hold a checked
span, each span marked (with both quotation marks of a pair or neither) and anchored, so every
verified quote and evidence in the brief links to its place. Unverified evidence is never marked and
never shown as a quotation. A short footer says what was checked.

The message never exceeds Telegram's limits (bot/render/rich_limits.py): when it would, the article
section keeps the text around each span and then fewer paragraphs, and says so; the brief itself is
never cut. A brief that alone does not fit (only near the schema's maxima in both languages) has no
rich form: `render_rich` returns None and the classic messages carry it.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Literal

from bot.engine.passages import highlight
from bot.engine.preview import Preview
from bot.engine.schema import BriefEnvelope, Passage
from bot.render.classic import EVENTS, FSI, LABELS, PDI, RLM, SOURCE_KINDS, View, _dropped_note, _Fmt, _langs
from bot.render.rich_limits import Usage, measure
from bot.render.texts import CHARACTERS, PARAGRAPHS, count, join, number

RICH_LABELS: dict[str, dict[str, str]] = {
    "actors": {"ar": "الأطراف", "en": "Actors"},
    "targets": {"ar": "المستهدَفون", "en": "Targets"},
    "event": {"ar": "نوع الحدث", "en": "Event"},
    "evidence": {"ar": "الدليل", "en": "Evidence"},
    "in_article": {"ar": "🔎 في المقال", "en": "🔎 In the article"},
    "in_article_note": {"ar": "المقاطع المظلّلة وُجدت حرفيًا في نص المقال.",
                        "en": "Highlighted passages were found verbatim in the article's text."},
    "cut": {"ar": "✂️ اختُصرت الفقرات حول المقاطع الموثّقة لتتسع الرسالة.",
            "en": "✂️ Paragraphs were shortened around the checked spans to fit the message."},
    "dropped_paragraphs": {"ar": "✂️ حُذف لضيق المساحة: {n}. كل مقطع موثّق مقتبس أيضًا في الملخص أعلاه.",
                           "en": "✂️ Left out for room: {n}. Every checked span is also quoted in the brief above."},
    "go": {"ar": "↩︎ في المقال", "en": "↪︎ in the article"},
    "unchecked": {"ar": "⏳ لم يُتحقق منه بعد: يُكتب الباقي ويُقارن بالمقال",
                  "en": "⏳ Not yet checked: the rest is being written and checked against the article"},
    "said": {"ar": "✓ المقال ينسبه إليه", "en": "✓ the article attributes it"},
    "unverified": {"ar": "⚠️ غير موثّق", "en": "⚠️ unverified"},
    "footer": {"ar": "{model} · الموجّه {prompt} · وُجد في المقال {v} من {n} من الاقتباسات والأدلة · {nv} من {nn} من الأسماء",
               "en": "{model} · prompt {prompt} · {v} of {n} quotes and evidence found in the article · "
                     "{nv} of {nn} names"},
}


def _draft_parts(p: Preview, lang: str) -> tuple[list[str], list[str], list[str]]:
    """One language of a draft: its head (headline, summary, the not-checked label) and its
    pressures and positions, the first of each with the section's heading."""
    f = _Fmt(html=True, lang=lang)
    lng: Literal["ar", "en"] = "ar" if lang == "ar" else "en"
    L = {k: v[lang] for k, v in LABELS.items()}
    arrow = "←" if lang == "ar" else "→"  # actor to target, in the reading direction
    head = [f"<h2>📰 {f.esc(p.headline[lang])}</h2>"]
    if p.summary is not None:
        head.append(f"<p>{f.esc(p.summary[lang])}</p>")
    head.append(f"<p>{f.i(RICH_LABELS['unchecked'][lang])}</p>")
    pressures = [f"<p>{f.b(join([a[lang] for a in x.actors], lng))} {arrow} "
                 f"{f.b(join([t[lang] for t in x.targets], lng))}"
                 + (f": {f.esc(x.demand[lang])}" if x.demand else "") + "</p>" for x in p.pressures]
    positions = [f"<p>{f.b(x.actor[lang])}: {f.esc(x.stance[lang])}</p>" for x in p.positions]
    # each section's heading goes with its first item: a heading is never left without one
    if pressures:
        pressures[0] = f"<h3>🎯 {f.esc(L['pressures'])}</h3>" + pressures[0]
    if positions:
        positions[0] = f"<h3>🗣 {f.esc(L['positions'])}</h3>" + positions[0]
    return head, pressures, positions


#: context kept either side of a span when the article section must be shortened, tried in turn
WINDOWS = (400, 160, 60, 0)
_SPACE = re.compile(r"\s")


@dataclass(frozen=True)
class RichMessage:
    html: str
    is_rtl: bool
    usage: Usage
    cut: bool  # the article section was shortened to fit

    def input(self) -> dict[str, object]:
        """The Bot API's InputRichMessage."""
        return {"html": self.html, "is_rtl": self.is_rtl, "skip_entity_detection": True}


@dataclass(frozen=True)
class _Span:
    name: str  # the anchor the brief links to
    start: int
    end: int


def _a(text: str) -> str:
    return html.escape(text, quote=True)


def _spans(env: BriefEnvelope) -> list[_Span]:
    """Every verified span found in the article, named for the brief item that quotes it."""
    b = env.brief
    found = [(f"p{i}", p.evidence_check) for i, p in enumerate(b.pressures, 1)]
    found += [(f"q{i}", p.quote_check) for i, p in enumerate(b.positions, 1)]
    found += [(f"s{i}", s.evidence_check) for i, s in enumerate(b.sources, 1)]
    return [_Span(name, c.start, c.end) for name, c in found
            if c is not None and c.verified and c.found_in == "article" and c.start is not None
            and c.end is not None]


# --- the brief ----------------------------------------------------------------------------------
def _link(name: str, anchors: set[str], lang: str) -> str:
    if name not in anchors:
        return ""
    return f' <a href="#{name}">{html.escape(RICH_LABELS["go"][lang])}</a>'


def _brief(env: BriefEnvelope, lang: str, anchors: set[str]) -> str:
    f = _Fmt(html=True, lang=lang)
    b = env.brief
    L = {k: v[lang] for k, v in LABELS.items()}
    R = {k: v[lang] for k, v in RICH_LABELS.items()}
    out: list[str] = []
    g = env.checks.grounding
    if g.low:
        warning = L["low"].format(v=g.spans_verified, n=g.spans_checked) if g.spans_checked else L["nothing"]
        out.append(f"<p>{f.b(warning)}</p>")
    if g.speakers_low:
        out.append(f"<p>{f.b(L['speakers_low'].format(v=g.speakers_confirmed, n=g.speakers_checked))}</p>")
    out.append(f"<h2>📰 {f.esc(getattr(b.headline, lang))}</h2>")
    out.append(f"<p>{f.esc(getattr(b.summary, lang))}</p>")
    lng: Literal["ar", "en"] = "ar" if lang == "ar" else "en"
    notes = []
    numbers = [n.text for n in env.checks.unconfirmed_numbers if n.path.endswith(f".{lang}")]
    if numbers:
        notes.append(L["numbers"].format(items=join(numbers, lng)))
    if env.article.truncated:
        notes.append(L["truncated"].format(sent=number(env.article.chars_sent, lng),
                                           total=count(env.article.chars, CHARACTERS, lng)))
    if env.article.status == "paywalled":
        notes.append(L["paywalled"])
    if env.article.ocr:
        notes.append(L["ocr"])
    out += [f"<p>{f.i(n)}</p>" for n in notes]

    out.append(f"<h3>🎯 {f.esc(L['pressures'])}</h3>")
    if b.pressures:
        head = "".join(f"<th>{f.esc(h)}</th>" for h in (R["actors"], R["targets"], R["event"], L["means"],
                                                         L["demand"], R["evidence"]))
        rows = [f"<tr>{head}</tr>"]
        for i, p in enumerate(b.pressures, 1):
            if p.evidence_check.verified and p.parties_check is not None and not p.parties_check.confirmed:
                # the words are the article's, its parties may not be: never the plain verified form
                evidence = f"<i>{f.esc(L['parties'])}: “{f.esc(p.evidence)}”</i>{_link(f'p{i}', anchors, lang)}"
            elif p.evidence_check.verified:
                evidence = f"“{f.esc(p.evidence)}”{_link(f'p{i}', anchors, lang)}"
            else:
                evidence = f"<i>{f.esc(R['unverified'])}</i>"
            cells = [f.b(join([b.actor_name(a, lang) for a in p.actors], lng)),
                     f.b(join([b.actor_name(t, lang) for t in p.targets], lng)),
                     f.esc(EVENTS[p.event][lang]), f.esc(getattr(p.means, lang)), f.esc(getattr(p.demand, lang)),
                     evidence]
            rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        out.append(f"<table bordered striped>{''.join(rows)}</table>")
    else:
        out.append(f"<p>{f.i(L['none'])}</p>")

    out.append(f"<h3>🗣 {f.esc(L['positions'])}</h3>")
    for i, p in enumerate(b.positions, 1):
        actor = b.actor_name(p.actor, lang)
        names = [getattr(s.name, lang) for s in (b.source(sid) for sid in p.source_ids) if s]
        said = p.speaker_check
        quoted = bool(p.quote and p.quote_check is not None and p.quote_check.verified)
        credited = quoted and (said is None or said.confirmed)
        # a position without a credited quotation says whom it comes through beside its stance
        via = " " + f.i("(" + L["via"] + " " + join(names, lng) + ")") if names and not credited else ""
        out.append(f"<p>{f.b(actor)}: {f.esc(getattr(p.stance, lang))}{via}</p>")
        if not quoted:
            continue
        if not credited:
            # the words are the article's, the speaker may not be: no quotation credited to the actor
            out.append(f"<p><i>{f.esc(L['speaker'])}: “{f.esc(p.quote)}”</i>{_link(f'q{i}', anchors, lang)}</p>")
            continue
        credit = [f.esc(actor), *([f.esc(join(names, lng))] if names else [])]
        if said is not None and said.confirmed:
            credit.append(f.esc(R["said"]) + (f" ({f.esc(said.speaker)})" if said.speaker else ""))
        out.append(f"<blockquote>{f.esc(p.quote)}<cite>{' · '.join(credit)}{_link(f'q{i}', anchors, lang)}"
                   "</cite></blockquote>")
    if not b.positions:
        out.append(f"<p>{f.i(L['none'])}</p>")

    out.append(f"<h3>📚 {f.esc(L['sources'])}</h3>")
    by_kind: dict[str, list[int]] = {}
    for i, s in enumerate(b.sources, 1):
        by_kind.setdefault(s.kind, []).append(i)
    items = []
    sep = "، " if lang == "ar" else "; "
    for kind in SOURCE_KINDS:
        if kind in by_kind:
            names = sep.join(f.esc(getattr(b.sources[i - 1].name, lang)) + _link(f"s{i}", anchors, lang)
                             for i in by_kind[kind])
            items.append(f"<li>{f.b(SOURCE_KINDS[kind][lang])}: {names}</li>")
    out.append(f"<ul>{''.join(items)}</ul>" if items else f"<p>{f.i(L['none'])}</p>")
    note = _dropped_note(env, lang)
    if note:
        out.append(f"<p>{f.i(note)}</p>")
    return "".join(out)


def _footer(env: BriefEnvelope, lang: str) -> str:
    g, p = env.checks.grounding, env.provenance
    lng: Literal["ar", "en"] = "ar" if lang == "ar" else "en"
    # in Arabic the line starts right to left, and the model's Latin name and version are isolated
    model, prompt = (f"{FSI}{p.model}{PDI}", f"{FSI}{p.prompt_version}{PDI}") if lng == "ar" \
        else (p.model, p.prompt_version)
    text = RICH_LABELS["footer"][lang].format(model=model, prompt=prompt, v=number(g.spans_verified, lng),
                                              n=number(g.spans_checked, lng), nv=number(g.names_verified, lng),
                                              nn=number(g.names_checked, lng))
    return f"<footer>{RLM if lng == 'ar' else ''}{html.escape(text, quote=False)}</footer>"


# --- the article section -----------------------------------------------------------------------
def _merge(spans: list[_Span]) -> list[tuple[int, int, list[str]]]:
    """Overlapping spans as one marked stretch, with the anchors that start in it."""
    merged: list[tuple[int, int, list[str]]] = []
    for s in sorted(spans, key=lambda s: (s.start, s.end)):
        if merged and s.start < merged[-1][1]:
            start, end, names = merged[-1]
            merged[-1] = (start, max(end, s.end), [*names, s.name])
        else:
            merged.append((s.start, s.end, [s.name]))
    return merged


def _cut_left(text: str, at: int) -> int:
    """Move a cut at `at` forward to the next whitespace, so no word is split."""
    m = _SPACE.search(text, at)
    return m.start() + 1 if m else at


def _cut_right(text: str, at: int) -> int:
    m = _SPACE.search(text[:at][::-1])
    return at - m.start() - 1 if m else at


def _paragraph(passage: Passage, spans: list[_Span], window: int | None) -> tuple[str, bool]:
    """One passage with its spans marked; `window`: keep only that much text around each span."""
    text, base = passage.text, passage.start
    marks = _merge([_Span(s.name, *highlight(text, max(0, s.start - base), min(len(text), s.end - base)))
                    for s in spans])
    keep: list[tuple[int, int]] = []
    if window is None:
        keep = [(0, len(text))]
    else:
        for s, e, _ in marks:
            lo = 0 if s - window <= 0 else _cut_left(text, s - window)
            hi = len(text) if e + window >= len(text) else _cut_right(text, e + window)
            lo, hi = min(lo, s), max(hi, e)
            if keep and lo <= keep[-1][1]:
                keep[-1] = (keep[-1][0], max(keep[-1][1], hi))
            else:
                keep.append((lo, hi))
    out, cut = [], False
    for k, (lo, hi) in enumerate(keep):
        if lo > 0 and (k == 0 or lo > keep[k - 1][1]):
            out.append("… ")
            cut = True
        at = lo
        for s, e, names in marks:
            if e <= lo or s >= hi:
                continue
            out.append(html.escape(text[at:s], quote=False))
            out.append("".join(f'<a name="{_a(n)}"></a>' for n in names))
            out.append(f"<mark>{html.escape(text[s:e], quote=False)}</mark>")
            at = e
        out.append(html.escape(text[at:hi], quote=False))
        if hi < len(text):
            out.append(" …")
            cut = True
    return "".join(out), cut


def _article(env: BriefEnvelope, langs: list[str], spans: list[_Span], window: int | None,
             keep: int) -> tuple[str, bool]:
    """The collapsed section with the first `keep` passages that hold a span."""
    paragraphs, cut = [], False
    shown = [p for p in env.article.passages if any(s.start < p.start + len(p.text) and s.end > p.start
                                                    for s in spans)]
    for p in shown[:keep]:
        inside = [s for s in spans if s.start < p.start + len(p.text) and s.end > p.start]
        body, was_cut = _paragraph(p, inside, window)
        cut = cut or was_cut
        paragraphs.append(f"<p>{body}</p>")
    notes = []
    for lang in langs:
        R, f = {k: v[lang] for k, v in RICH_LABELS.items()}, _Fmt(html=True, lang=lang)
        said = [R["in_article_note"]] + ([R["cut"]] if cut else [])
        if keep < len(shown):
            said.append(R["dropped_paragraphs"].format(n=count(len(shown) - keep, PARAGRAPHS, lang)))
        notes += [f"<p>{f.i(n)}</p>" for n in said]
    title = " · ".join(_Fmt(html=True, lang=lang).esc(RICH_LABELS["in_article"][lang]) for lang in langs)
    section = f"<details><summary>{title}</summary>{''.join(notes)}{''.join(paragraphs)}</details>"
    return section, cut or keep < len(shown)


def _anchors_in(section: str) -> set[str]:
    return set(re.findall(r'<a name="([^"]+)"></a>', section))


def render_rich(env: BriefEnvelope, view: View = "both") -> RichMessage | None:
    """The brief as one rich message in `view`, or None when the brief alone exceeds the limits."""
    langs = _langs(view)
    lead = langs[0]
    spans = _spans(env)
    anchors = {s.name for s in spans}

    def brief(linked: set[str]) -> tuple[str, str]:
        return "<hr/>".join(_brief(env, lang, linked) for lang in langs), "".join(_footer(env, lang) for lang in langs)

    # what the pieces use adds up (a fragment of whole elements at the top level), so the brief is
    # measured once and each try of the article section on its own: the HTML parser is the cost
    head, foot = brief(anchors)
    fixed = measure(head + foot)
    if not fixed.fits():
        return None
    article, usage, cut = "", fixed, False
    if spans and env.article.passages:
        # whole paragraphs first; then only the text around each span; then fewer paragraphs
        for keep in range(len(env.article.passages), 0, -1):
            for window in (None, *WINDOWS):
                candidate, was_cut = _article(env, langs, spans, window, keep)
                total = fixed + measure(candidate)
                if total.fits():
                    article, usage, cut = candidate, total, was_cut
                    break
            if article:
                break
    kept = _anchors_in(article)
    if kept != anchors:  # a span whose paragraph did not fit: its links go (the brief only gets shorter)
        head, foot = brief(kept)
        usage = measure(head + foot) + measure(article)
    return RichMessage(html=head + article + foot, is_rtl=lead == "ar", usage=usage, cut=cut)


def render_draft(stage: str, view: View = "both", preview: Preview | None = None) -> RichMessage:
    """A streamed draft (sendRichMessageDraft): the stage the work is at, and once the model has
    written them, the headline, summary, pressures and positions (stances, never quotes), labelled
    as not yet checked. A draft with more items than a message holds keeps the first ones: the
    positions give way before the pressures."""
    langs = _langs(view)
    stage_html = f"<p>{_Fmt(html=True, lang=langs[0]).esc(stage)}</p>"
    if preview is None:
        return RichMessage(html=stage_html, is_rtl=langs[0] == "ar", usage=measure(stage_html), cut=False)
    parts = [_draft_parts(preview, lang) for lang in langs]
    fixed = [stage_html, *("<hr/>" for _ in langs[1:]), *(h for head, _, _ in parts for h in head)]
    usage = sum((measure(x) for x in fixed), Usage())
    # each item is measured once; Usage adds up over whole elements, so the longest prefixes that
    # fit are found without rendering the draft again
    kept = {"pressures": 0, "positions": 0}
    for kind, index in (("pressures", 1), ("positions", 2)):
        items = [part[index] for part in parts]
        for n in range(max(len(i) for i in items)):
            more = sum((measure(i[n]) for i in items if n < len(i)), Usage())
            if not (usage + more).fits():
                break
            usage, kept[kind] = usage + more, n + 1
    html_text = "<hr/>".join("".join([*head, *press[:kept["pressures"]], *pos[:kept["positions"]]])
                             for head, press, pos in parts) + stage_html
    return RichMessage(html=html_text, is_rtl=langs[0] == "ar", usage=usage, cut=False)
