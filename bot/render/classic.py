"""Rendering: a brief envelope → Telegram HTML messages (≤ 4096) or plain text. Pure functions.

Telegram picks a paragraph's direction from its first strong character, so every Arabic line
starts with RLM, and runs of the other direction (an English quote in the Arabic view, an Arabic
name in the English one) are wrapped in Unicode isolates. Those are the only bidi controls in the
output: any that come with the text are removed first.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from bot.engine.normalize import script_share, strip_bidi
from bot.engine.schema import BriefEnvelope, DroppedItem
from bot.render.texts import CHARACTERS, ITEMS, NAMES, SPANS, TOKENS, Noun, count, join, number

View = Literal["ar", "en", "both"]
TELEGRAM_LIMIT = 4096
FIELD_CAP = 1200  # a single field longer than this is cut with "…": no field may break a message

RLM, FSI, PDI = "\u200f", "\u2068", "\u2069"
_ASCII_LETTER = re.compile("[A-Za-z]")
LANG_RULE = "— — —"

LABELS: dict[str, dict[str, str]] = {
    "summary": {"ar": "الملخص", "en": "Summary"},
    "pressures": {"ar": "من يضغط على من", "en": "Who is pressuring whom"},
    "positions": {"ar": "المواقف المعلنة", "en": "Stated positions"},
    "sources": {"ar": "المصادر", "en": "Sources"},
    "means": {"ar": "الوسيلة", "en": "Means"},
    "demand": {"ar": "المطلب", "en": "Demand"},
    "via": {"ar": "عبر", "en": "via"},
    "unverified": {"ar": "⚠️ غير موثّق: لم يُعثر على الدليل حرفيًا في المقال",
                   "en": "⚠️ unverified: evidence not found verbatim in the article"},
    "speaker": {"ar": "⚠️ اقتباس؛ لم يؤكد المقال قائله", "en": "⚠️ quote; speaker not confirmed by the article"},
    "parties": {"ar": "⚠️ دليل؛ لم يؤكد المقال أطرافه", "en": "⚠️ evidence; parties not confirmed by the article"},
    "speakers_low": {"ar": "⚠️ تنبيه: لم يؤكد المقال قائل إلا {v} من {n} من الاقتباسات",
                     "en": "⚠️ Caution: the article confirms the speaker of only {v} of {n} quotes"},
    "numbers": {"ar": "⚠️ أرقام لم يُعثر عليها في المقال: {items}", "en": "⚠️ Numbers not found in the article: {items}"},
    "dropped": {"ar": "أُسقط لأنه غير موجود في المقال: {items}", "en": "Left out as not found in the article: {items}"},
    "orphans": {"ar": "وما لم يبقَ له طرف ({n})", "en": "and what was left without its parties ({n})"},
    "unusable": {"ar": "وما جاء مخالفًا للمخطط أو مقطوعًا أو زائدًا عن الحد ({n})",
                 "en": "and what was malformed, cut off or over the limit ({n})"},
    "low": {"ar": "⚠️ تنبيه: لم يُعثر في المقال إلا على {v} من {n} من الاقتباسات والأدلة؛ معظم هذا الملخص غير موثّق",
            "en": "⚠️ Caution: only {v} of {n} quotes and evidence spans were found in the article; "
                  "most of this brief is unchecked"},
    "nothing": {"ar": "⚠️ تنبيه: لا شيء في هذا الملخص أمكن التحقق منه في نص المقال",
                "en": "⚠️ Caution: nothing in this brief could be checked against the article"},
    "truncated": {"ar": "✂️ المقال طويل؛ لُخّص أوله فقط ({sent} من {total})",
                  "en": "✂️ Long article: only its first part was briefed ({sent} of {total})"},
    "paywalled": {"ar": "🔒 يبدو أن المقال مقتطع أو خلف جدار دفع", "en": "🔒 The article looks truncated or paywalled"},
    "ocr": {"ar": "🖼️ قُرئ النص من صورة بالتعرّف الضوئي؛ تُقارَن الاقتباسات بالنص المقروء",
            "en": "🖼️ Read from an image by OCR; quotes are checked against the recognised text"},
    "none": {"ar": "لا شيء في المقال", "en": "none in the article"},
    "more_sources": {"ar": "و{n} غيرها", "en": "and {n} more"},
    "prompt": {"ar": "الموجّه", "en": "prompt"},
    # the footer's counts: in Arabic the counted noun goes with the checked items, in English with all
    "spans": {"ar": "وُثّق {v} من {n}", "en": "{v} of {n} verified"},
    "names": {"ar": "وُجد {v} من {n}", "en": "{v} of {n} found"},
    "dropped_n": {"ar": "أُسقط {n}", "en": "{n} dropped"},
}
DROPPED_ITEMS: dict[DroppedItem, dict[str, str]] = {
    "actor": {"ar": "أطراف", "en": "actors"}, "source": {"ar": "مصادر", "en": "sources"},
    "quote": {"ar": "اقتباسات", "en": "quotes"}, "pressure": {"ar": "ضغوط", "en": "pressures"},
    "position": {"ar": "مواقف", "en": "positions"},
}
SOURCE_KINDS: dict[str, dict[str, str]] = {
    "media": {"ar": "وسائل إعلام", "en": "Media"},
    "named_official": {"ar": "مسؤولون مسمّون", "en": "Named officials"},
    "anonymous_official": {"ar": "🕶 مسؤولون مجهولون", "en": "🕶 Anonymous officials"},
    "anonymous_source": {"ar": "🕶 مصادر مجهولة", "en": "🕶 Anonymous sources"},
    "document": {"ar": "وثائق", "en": "Documents"},
    "social_media": {"ar": "وسائل التواصل", "en": "Social media"},
    "other": {"ar": "أخرى", "en": "Other"},
}
EVENTS: dict[str, dict[str, str]] = {
    "REQUEST": {"ar": "مطالبة", "en": "request"}, "ACCUSE": {"ar": "اتهام", "en": "accusation"},
    "REJECT": {"ar": "رفض", "en": "rejection"}, "THREATEN": {"ar": "تهديد", "en": "threat"},
    "PROTEST": {"ar": "احتجاج", "en": "protest"}, "SANCTION": {"ar": "عقوبات", "en": "sanctions"},
    "MOBILIZE": {"ar": "حشد", "en": "mobilisation"}, "COERCE": {"ar": "إكراه", "en": "coercion"},
    "ASSAULT": {"ar": "هجوم", "en": "assault"},
}


@dataclass
class _Fmt:
    """Builds either Telegram HTML or plain text from the same calls."""

    html: bool
    lang: str

    def esc(self, text: str) -> str:
        text = _cap(text)
        if text.isascii():  # no Arabic letter: other-direction only in the Arabic view, and only with a letter
            foreign = self.lang == "ar" and _ASCII_LETTER.search(text) is not None
        else:
            arabic, latin = script_share(text)
            foreign = (self.lang == "ar" and latin > arabic) or (self.lang != "ar" and arabic > latin)
        if foreign:
            text = f"{FSI}{text}{PDI}"
        return html.escape(text, quote=False) if self.html else text

    def b(self, text: str) -> str:
        return f"<b>{self.esc(text)}</b>" if self.html else self.esc(text)

    def i(self, text: str) -> str:
        return f"<i>{self.esc(text)}</i>" if self.html else self.esc(text)

    def quote(self, text: str) -> str:
        return f"<blockquote>{self.esc(text)}</blockquote>" if self.html else f"   “{self.esc(text)}”"

    def line(self, text: str) -> str:
        return f"{RLM}{text}" if self.lang == "ar" else text


def _cap(text: str) -> str:
    text = strip_bidi(text)  # stored briefs from before parse-time stripping, article metadata
    text = " ".join(text.split()) if "\n" not in text else text.strip()
    return text if len(text) <= FIELD_CAP else text[: FIELD_CAP - 1].rstrip() + "…"


def _sections(env: BriefEnvelope, lang: str, as_html: bool, full_sources: bool) -> list[list[str]]:
    """The brief in one language as sections, each a list of self-contained atoms."""
    f = _Fmt(html=as_html, lang=lang)
    b = env.brief
    L = {k: v[lang] for k, v in LABELS.items()}
    lng: Literal["ar", "en"] = "ar" if lang == "ar" else "en"
    out: list[list[str]] = []

    head = []
    g = env.checks.grounding
    if g.low:
        warning = L["low"].format(v=g.spans_verified, n=g.spans_checked) if g.spans_checked else L["nothing"]
        head.append(f.line(f.b(warning)))
    if g.speakers_low:
        head.append(f.line(f.b(L["speakers_low"].format(v=g.speakers_confirmed, n=g.speakers_checked))))
    head += [f.line(f"📰 {f.b(getattr(b.headline, lang))}"), f.line(f.esc(getattr(b.summary, lang)))]
    numbers = [n.text for n in env.checks.unconfirmed_numbers if n.path.endswith(f".{lang}")]
    if numbers:
        head.append(f.line(f.i(L["numbers"].format(items=("، " if lang == "ar" else ", ").join(numbers)))))
    notes = []
    if env.article.truncated:
        notes.append(L["truncated"].format(sent=number(env.article.chars_sent, lng),
                                           total=count(env.article.chars, CHARACTERS, lng)))
    if env.article.status == "paywalled":
        notes.append(L["paywalled"])
    if env.article.ocr:
        notes.append(L["ocr"])
    head += [f.line(f.i(n)) for n in notes]
    out.append(head)

    pressures = [f.line(f"🎯 {f.b(L['pressures'])}")]
    arrow = "←" if lang == "ar" else "→"
    for p in b.pressures:
        actors = join([b.actor_name(a, lang) for a in p.actors], lng)
        targets = join([b.actor_name(t, lang) for t in p.targets], lng)
        atom = [f.line(f"• {f.b(actors)} {arrow} {f.b(targets)} ({f.esc(EVENTS[p.event][lang])})"),
                f.line(f"{f.esc(L['means'])}: {f.esc(getattr(p.means, lang))}"),
                f.line(f"{f.esc(L['demand'])}: {f.esc(getattr(p.demand, lang))}")]
        if p.evidence_check.verified and p.parties_check is not None and not p.parties_check.confirmed:
            atom += [f.line(f.i(L["parties"])), f.line(f.i(f"“{p.evidence}”"))]
        elif p.evidence_check.verified:
            atom.append(f.quote(p.evidence))
        else:
            atom.append(f.line(f.i(L["unverified"])))
        pressures.append("\n".join(atom))
    if not b.pressures:
        pressures.append(f.line(f.i(L["none"])))
    out.append(pressures)

    positions = [f.line(f"🗣 {f.b(L['positions'])}")]
    for p in b.positions:
        atom = [f.line(f"• {f.b(b.actor_name(p.actor, lang))}: {f.esc(getattr(p.stance, lang))}")]
        names = [s.name for s in (b.source(sid) for sid in p.source_ids) if s]
        if names:
            atom[0] += " " + f.i(f"({L['via']} {join([getattr(n, lang) for n in names], lng)})")
        if p.quote and p.quote_check is not None and p.quote_check.verified:
            if p.speaker_check is not None and not p.speaker_check.confirmed:
                # the words are the article's, the speaker may not be: never the plain verified mark
                atom += [f.line(f.i(L["speaker"])), f.line(f.i(f"“{p.quote}”"))]
            else:
                atom.append(f.quote(p.quote))
        positions.append("\n".join(atom))
    if not b.positions:
        positions.append(f.line(f.i(L["none"])))
    out.append(positions)

    sources = [f.line(f"📚 {f.b(L['sources'])}")]
    by_kind: dict[str, list[int]] = {}
    for i, s in enumerate(b.sources):
        by_kind.setdefault(s.kind, []).append(i)
    for kind in SOURCE_KINDS:
        if kind not in by_kind:
            continue
        items = by_kind[kind]
        if full_sources:
            sources.append(f.line(f.b(SOURCE_KINDS[kind][lang])))
            for i in items:
                s = b.sources[i]
                atom = [f.line(f"• {f.esc(getattr(s.name, lang))}")]
                if s.evidence_check is None:
                    pass  # an outlet known from metadata: no span to show
                elif s.evidence_check.verified:
                    atom.append(f.quote(s.evidence))
                else:
                    atom.append(f.line(f.i(L["unverified"])))
                sources.append("\n".join(atom))
        else:
            names = ("، " if lang == "ar" else "; ").join(getattr(b.sources[i].name, lang) for i in items)
            sources.append(f.line(f"{f.b(SOURCE_KINDS[kind][lang])}: {f.esc(names)}"))
    if not b.sources:
        sources.append(f.line(f.i(L["none"])))
    note = _dropped_note(env, lang)
    if note:
        sources.append(f.line(f.i(note)))
    out.append(sources)
    return out


def _dropped_note(env: BriefEnvelope, lang: str) -> str:
    """What was left out, by kind: what the article does not contain, then what fell with it."""
    missing: dict[DroppedItem, int] = {}
    orphans = unusable = 0
    for d in env.checks.dropped:
        if d.cause == "not_found":
            missing[d.item] = missing.get(d.item, 0) + 1
        elif d.cause in ("invalid", "over_limit", "cut_off"):
            unusable += 1
        elif d.cause == "repeated":
            continue  # shown once: nothing is missing
        else:
            orphans += 1
    parts = []
    if missing:
        lng: Literal["ar", "en"] = "ar" if lang == "ar" else "en"
        items = join([f"{DROPPED_ITEMS[item][lang]} ({n})" for item, n in missing.items()], lng)
        parts.append(LABELS["dropped"][lang].format(items=items))
    if orphans:
        parts.append(LABELS["orphans"][lang].format(n=orphans))
    if unusable:
        parts.append(LABELS["unusable"][lang].format(n=unusable))
    return ("ℹ️ " + ("؛ " if lang == "ar" else "; ").join(parts)) if parts else ""


def _langs(view: View) -> list[str]:
    return ["ar", "en"] if view == "both" else [view]


def utf16_len(text: str) -> int:
    """Telegram counts message length in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def pack(atoms: Iterable[str], limit: int = TELEGRAM_LIMIT, sep: str = "\n\n") -> list[str]:
    """Join atoms into as few messages as fit in `limit`, never splitting inside an atom.

    An atom longer than the limit (only possible for a caller's own long atoms) is split at
    line breaks; each line is short because every field is capped.
    """
    messages: list[str] = []
    current, size = "", 0  # the message being filled and its length in UTF-16 units
    gap = utf16_len(sep)
    for atom in atoms:
        atom_size = utf16_len(atom)
        pieces = [(atom, atom_size)] if atom_size <= limit else [(p, utf16_len(p)) for p in atom.split("\n")]
        for piece, piece_size in pieces:
            if current and size + gap + piece_size <= limit:
                current, size = f"{current}{sep}{piece}", size + gap + piece_size
            elif not current and piece_size <= limit:
                current, size = piece, piece_size
            else:
                if current:
                    messages.append(current)
                current, size = piece, piece_size
    if current:
        messages.append(current)
    return messages


def _atoms(sections: list[list[str]]) -> list[str]:
    """A section's heading travels with its first item so a heading never ends a message."""
    atoms: list[str] = []
    for section in sections:
        if len(section) >= 2:
            atoms.append(f"{section[0]}\n{section[1]}")
            atoms.extend(section[2:])
        else:
            atoms.extend(section)
    return atoms


def render_messages(env: BriefEnvelope, view: View = "both", *, full_sources: bool = False,
                    limit: int = TELEGRAM_LIMIT) -> list[str]:
    """The brief as Telegram HTML messages, each at most `limit` UTF-16 units.

    Both languages share one message when they fit; otherwise each language starts its own
    message, so no reader has to piece a language together across a break.
    """
    per_lang = [_atoms(_sections(env, lang, True, full_sources)) for lang in _langs(view)]
    together = pack([a for i, atoms in enumerate(per_lang) for a in ([LANG_RULE] if i else []) + atoms], limit)
    if len(together) == 1:
        return together
    return [m for atoms in per_lang for m in pack(atoms, limit)]


def render_sources(env: BriefEnvelope, view: View = "both", limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Only the sources section, in full (with the spans where the article cites each)."""
    messages: list[str] = []
    for lang in _langs(view):
        messages += pack(_atoms(_sections(env, lang, True, True)[-1:]), limit)
    return messages


def render_text(env: BriefEnvelope, view: View = "both") -> str:
    """The brief as plain text for a terminal."""
    blocks = []
    for lang in _langs(view):
        blocks.append("\n\n".join("\n".join(s) for s in _sections(env, lang, False, True)))
    footers = [_footer(env, lang) for lang in _langs(view)]
    return "\n\n".join([*blocks, "\n".join(footers)]) + "\n"


def _footer(env: BriefEnvelope, lang: str) -> str:
    """Model, prompt, tokens and what the checks found, with each count in its language's plural form."""
    lng: Literal["ar", "en"] = "ar" if lang == "ar" else "en"
    L = {k: v[lang] for k, v in LABELS.items()}
    g, p = env.checks.grounding, env.provenance

    def counted(key: str, found: int, checked: int, noun: Noun) -> str:
        if lng == "ar":
            return L[key].format(v=count(found, noun, lng), n=number(checked, lng))
        return L[key].format(v=number(found, lng), n=count(checked, noun, lng))

    model, version = (f"{FSI}{p.model}{PDI}", f"{FSI}{p.prompt_version}{PDI}") if lng == "ar" \
        else (p.model, p.prompt_version)
    parts = [f"— {model}", f"{L['prompt']} {version}", count(p.usage.total_tokens, TOKENS, lng),
             counted("spans", g.spans_verified, g.spans_checked, SPANS),
             counted("names", g.names_verified, g.names_checked, NAMES)]
    if env.checks.dropped:
        parts.append(L["dropped_n"].format(n=count(len(env.checks.dropped), ITEMS, lng)))
    return (RLM if lng == "ar" else "") + " · ".join(parts)
