"""The brief as one rich message: valid Rich HTML within Telegram's limits, evidence one tap away."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from bot.engine.evaluate import pairs_in
from bot.engine.preview import Preview, PreviewPosition, PreviewPressure
from bot.engine.schema import Passage
from bot.reading.reader import read_file
from bot.render.rich import render_draft, render_rich
from tests.conftest import EXAMPLE_ARTICLE, example_brief
from tests.fakes.briefs import STORIES, brief_for, envelope
from tests.fakes.rich_html import RichHTMLError, check

ARTICLE = EXAMPLE_ARTICLE.read_text(encoding="utf-8")
EVAL = Path(__file__).resolve().parents[2] / "eval"
VIEWS = ("ar", "en", "both")


@pytest.mark.parametrize("view", VIEWS)
def test_example_is_one_valid_rich_message(view: str) -> None:
    env = envelope(example_brief())
    msg = render_rich(env, view)  # type: ignore[arg-type]
    assert msg is not None and not msg.cut
    assert msg.is_rtl == (view != "en")  # Arabic leads in "ar" and "both"
    got = check(msg.html)
    if view != "ar":
        assert "Who is pressuring whom" in got.text and "Stated positions" in got.text
    if view != "en":
        assert "من يضغط على من" in got.text
    # the pressures as a table with the event type in words
    assert "<table" in msg.html and ("request" in got.text if view != "ar" else "مطالبة" in got.text)
    # every verified quote is a block quotation credited "actor · source" that links to its place
    quotes = [p for p in env.brief.positions if p.quote_check and p.quote_check.verified]
    assert quotes
    for i, p in enumerate(env.brief.positions, 1):
        if p.quote_check and p.quote_check.verified:
            assert f'href="#q{i}"' in msg.html and f'<a name="q{i}"></a><mark>' in msg.html
    assert msg.html.count("<blockquote>") == len(quotes) * (2 if view == "both" else 1)
    assert "<cite>Israel · an unnamed Israeli official" in msg.html or view == "ar"
    # the article section is collapsed and holds each checked span, marked
    assert "<details><summary>" in msg.html and "<details open" not in msg.html
    assert "<mark>الباب لم يُغلق بعد أمام إمكانية التوصل إلى اتفاق، رغم معارضة بعض الوزراء في الكابينيت</mark>" \
        in msg.html
    assert "🕶" in got.text  # anonymous sources are flagged
    assert "<footer>" in msg.html


def test_unverified_evidence_is_never_marked_nor_quoted() -> None:
    data = example_brief()
    invented = "مصر تهدد بقطع العلاقات مع الجميع فورا"
    data["pressures"][0]["evidence"] = invented
    data["positions"][1]["quote"] = "هذا اقتباس لا وجود له في المقال إطلاقا"
    env = envelope(data)
    assert not env.brief.pressures[0].evidence_check.verified
    msg = render_rich(env, "both")
    assert msg is not None
    check(msg.html)
    assert invented not in msg.html and "لا وجود له" not in msg.html
    assert 'name="p1"' not in msg.html and 'href="#p1"' not in msg.html
    assert 'href="#q2"' not in msg.html
    assert "⚠️ unverified" in msg.html and "⚠️ غير موثّق" in msg.html


def test_the_credit_shows_the_speaker_check() -> None:
    env = envelope(example_brief())
    confirmed = [i for i, p in enumerate(env.brief.positions) if p.speaker_check and p.speaker_check.confirmed]
    assert len(confirmed) >= 2
    msg = render_rich(env, "en")
    assert msg is not None
    assert "· ✓ the article attributes it (" in msg.html
    # a quote the article attributes to no one, or to someone else, is no quotation credited to the actor
    doubted = env.brief.positions[confirmed[0]]
    doubted.speaker_check.confirmed = False  # type: ignore[union-attr]
    msg = render_rich(env, "en")
    assert msg is not None
    check(msg.html)
    assert msg.html.count("<blockquote>") == len(confirmed) - 1
    assert "⚠️ quote; speaker not confirmed by the article" in msg.html


def test_a_huge_article_section_is_cut_around_the_spans_never_the_brief() -> None:
    env = envelope(example_brief())
    filler = "جملة طويلة لا علاقة لها بالموضوع. " * 400
    # every paragraph that holds a span grows far beyond what one message can carry
    env.article.passages = [Passage(start=p.start - len(filler), text=filler + p.text + " " + filler)
                            for p in env.article.passages]
    # offsets move with the text: shift the passages' starts back so spans stay inside them
    assert sum(len(p.text) for p in env.article.passages) > 100_000
    whole = render_rich(envelope(example_brief()), "both")
    msg = render_rich(env, "both")
    assert msg is not None and whole is not None and msg.cut
    got = check(msg.html)
    assert got.chars <= 32_768
    assert "✂️" in got.text
    brief_part = whole.html.split("<details>")[0]
    assert msg.html.split("<details>")[0] == brief_part  # the brief is whole
    for i, p in enumerate(env.brief.positions, 1):
        if p.quote_check and p.quote_check.verified:
            assert f"<mark>{p.quote}</mark>" in msg.html
            assert f'href="#q{i}"' in msg.html


def _marked(html_text: str) -> list[str]:
    """Each highlight of "In the article" in [], with the character either side ("\n" at a paragraph's ends)."""
    article = re.sub(r'<a name="[^"]+"></a>', "", html_text.split("<details>", 1)[1])
    article = article.replace("<p>", "\n").replace("</p>", "\n")
    return [f"{m[0]}[{m[1]}]{m[2]}" for m in re.findall(r"(.)<mark>(.*?)</mark>(.)", article, re.S)]


SUDAN_CURLY = STORIES["sudan"]["article"].replace('"Access must be granted now," a UN envoy said.',
                                                   "A UN envoy said the corridors must open “now, not next week.”")


@pytest.mark.parametrize(("story", "article", "quote", "shown"), [
    # a quotation around the span stays outside the highlight: «», "", “”
    ("gaza", None, "الوقت ينفد أمام الجميع", "«[الوقت ينفد أمام الجميع]»"),
    ("sudan", None, "Access must be granted now", '"[Access must be granted now],'),
    # one that opens in the span and closes right after it is in it whole, punctuation included
    ("gaza", None, "وقال مسؤول مصري إن «الوقت ينفد أمام الجميع",
     " [وقال مسؤول مصري إن «الوقت ينفد أمام الجميع»]."),
    ("sudan", SUDAN_CURLY, "the corridors must open “now, not next week",
     " [the corridors must open “now, not next week.”] "),
    ("sudan", None, 'aid corridors in Darfur. "Access must be granted now',
     ' [aid corridors in Darfur. "Access must be granted now,"] '),
    # and one the span closes, from its opening mark
    ("sudan", None, 'Access must be granted now," a UN envoy said',
     ' ["Access must be granted now," a UN envoy said].'),
    # a quotation that goes on past the span: its unchecked words are never highlighted
    ("gaza", None, "وقال مسؤول مصري إن «الوقت ينفد أمام", " [وقال مسؤول مصري إن «الوقت ينفد أمام] "),
], ids=["guillemets-around", "straight-around", "guillemets-closed-after", "curly-closed-after-a-stop",
        "straight-closed-after", "straight-opened-before", "quotation-going-on"])
def test_a_highlight_holds_both_quotation_marks_of_a_pair_or_neither(story: str, article: str | None, quote: str,
                                                                     shown: str) -> None:
    data = brief_for(story)
    data["positions"][0]["quote"] = quote
    env = envelope(data, article or STORIES[story]["article"])
    assert env.brief.positions[0].quote_check.verified  # type: ignore[union-attr]
    for view in VIEWS:
        msg = render_rich(env, view)  # type: ignore[arg-type]
        assert msg is not None
        check(msg.html)
        assert shown in _marked(msg.html)


def test_the_example_article_highlights_a_quoted_name_whole() -> None:
    """The Arabic example writes “كان 11” inside a source's evidence and “…” around its quotes."""
    marked = _marked(render_rich(envelope(example_brief()), "en").html)  # type: ignore[union-attr]
    assert "\n[وأفادت هيئة البث الإسرائيلية “كان 11”] " in marked
    assert "“[الباب لم يُغلق بعد أمام إمكانية التوصل إلى اتفاق، رغم معارضة بعض الوزراء في الكابينيت]”" in marked
    for m in marked:
        inside = m[m.index("[") + 1:m.rindex("]")]
        assert inside.count("“") == inside.count("”"), m


def test_a_draft_shows_the_items_written_so_far_unchecked_and_within_limits() -> None:
    data = example_brief()
    names = {a["id"]: a["name"] for a in data["actors"]}
    press = PreviewPressure((names["egypt"],), (names["hamas"],), {"ar": "وقف <النار>", "en": "a ceasefire & more"})
    pos = PreviewPosition(names["hamas"], {"ar": "ترفض", "en": "rejects"})
    draft = render_draft("writing", "both", Preview(data["headline"], data["summary"], (press,), (pos,)))
    text = check(draft.html).text
    assert "a ceasefire & more" in text and "وقف <النار>" in text and "Not yet checked" in text
    assert text.index(data["headline"]["ar"]) < text.index(data["headline"]["en"]) and draft.is_rtl
    assert "→" in text and "←" in text  # actor to target in each language's reading direction
    # an answer with more items than one message holds: the first pressures stay, the positions go first
    many = Preview(data["headline"], data["summary"], tuple(replace(press, demand={"ar": f"مطلب {n}", "en": f"demand {n}"})
                                                            for n in range(900)), (pos,) * 400)
    big = render_draft("writing", "en", many)
    shown = check(big.html)
    assert big.usage.fits() and shown.blocks <= 500
    kept = [int(n) for n in re.findall(r"demand (\d+)", shown.text)]
    assert kept == list(range(len(kept))) and 400 < len(kept) < 900 and "rejects" not in shown.text


def test_the_footer_is_in_every_language_shown_and_arabic_starts_right_to_left() -> None:
    html_text = render_rich(envelope(example_brief(), ARTICLE), "both").html
    footers = re.findall(r"<footer>(.*?)</footer>", html_text)
    assert len(footers) == 2 and footers[0].startswith("\u200f") and "prompt" in footers[1]
    assert "\u2068" in footers[0]  # the model's Latin name isolated inside the Arabic line


def test_a_position_without_a_quotation_says_whom_it_comes_through() -> None:
    """As the classic brief does: a stance with no credited quote still names its sources."""
    for lang, via in (("en", "(via Axios (US news site))"), ("ar", "(عبر")):
        text = check(render_rich(envelope(example_brief(), ARTICLE), lang).html).text
        dermer = next(line for line in text.splitlines() if "Dermer" in line or "ديرمر" in line)
        assert via in dermer


def test_markup_in_the_brief_is_shown_literally() -> None:
    data = example_brief()
    data["headline"]["en"] = 'a <b>bold</b> & "x" <script>y</script> &nbsp; 1 < 2'
    msg = render_rich(envelope(data), "en")
    assert msg is not None
    got = check(msg.html)
    assert '<script>y</script> &nbsp; 1 < 2' in got.text


def test_the_validator_refuses_what_telegram_would() -> None:
    for bad in ("<p>open", "<p><b>x</p></b>", "<blink>x</blink>", "<b><p>x</p></b>", "<td>x</td>",
                '<a href="#nowhere">x</a>', "<p>&copy;</p>", "<table><tr>" + "<td>x</td>" * 21 + "</tr></table>",
                "<p>" + "x" * 32_769 + "</p>", "<p>x</p>" * 501, "<b>" * 17 + "x" + "</b>" * 17,
                "<p>1 < 2</p>", "<p>a & b</p>", "<p class=x>y</p>", "<!-- c --><p>x</p>"):
        with pytest.raises(RichHTMLError):
            check(bad)


def _references() -> list[tuple[str, str, str]]:
    return [(name, str(a), str(r)) for lang in ("ar", "en") for name, a, r in pairs_in(EVAL / lang)]


@pytest.mark.parametrize(("name", "article", "ref"), _references(), ids=lambda v: Path(v).name)
def test_every_reference_brief_renders_within_limits_in_every_view(name: str, article: str, ref: str) -> None:
    text = read_file(article).text
    env = envelope(json.loads(Path(ref).read_text(encoding="utf-8")), text)
    assert env.article.passages
    for view in VIEWS:
        msg = render_rich(env, view)  # type: ignore[arg-type]
        assert msg is not None, (name, view)
        got = check(msg.html)
        assert got.links and set(got.links) <= got.anchors
        # the renderer's own count (a fast tokenizer) agrees with the strict parser's
        u = msg.usage
        assert (u.chars, u.blocks, u.depth, u.columns) == (got.chars, got.blocks, got.depth, got.columns)
