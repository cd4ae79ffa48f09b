"""Rendering: Telegram HTML within limits, escaped, right-to-left where Arabic."""

from __future__ import annotations

import pytest

from bot.engine.normalize import BIDI_CONTROLS
from bot.engine.schema import BriefEnvelope
from bot.render.classic import FSI, PDI, RLM, render_messages, render_sources, render_text
from tests.conftest import EXAMPLE_ARTICLE, TESTDATA, example_brief
from tests.fakes.briefs import envelope
from tests.fakes.telegram_html import parse, utf16_len

ARTICLE = EXAMPLE_ARTICLE.read_text(encoding="utf-8")


def nasty() -> dict:
    data = example_brief()
    evil = 'a <b>bold</b> & "quoted" <script>x</script> &amp; 1 < 2 > 0 '
    data["headline"]["en"] = evil
    data["summary"]["ar"] = ("الوسطاء <يضغطون> & «يطالبون» " * 200)
    data["summary"]["en"] = (evil * 100)
    for p in data["positions"]:
        p["stance"]["en"] = evil * 30
    for i in range(40):  # the Arabic name is in the article, so the source stays
        data["sources"].append({"id": f"s{i}", "name": {"ar": "مسؤول إسرائيلي", "en": f"Source <{i}> & Co"},
                                "kind": "anonymous_source", "evidence": "وأشار مسؤول إسرائيلي إلى أن"})
    return data


@pytest.mark.parametrize("view", ["ar", "en", "both"])
@pytest.mark.parametrize("full", [False, True])
def test_every_message_is_valid_html_within_limit(view: str, full: bool) -> None:
    messages = render_messages(envelope(nasty()), view, full_sources=full)  # type: ignore[arg-type]
    assert len(messages) > 1
    for m in messages:
        assert utf16_len(m) <= 4096
        assert parse(m).strip()
    text = "".join(parse(m) for m in messages)
    # shown literally, not as markup
    if view != "en":
        assert "<يضغطون> &" in text
    if view != "ar":
        assert "<script>" in text and "& \"quoted\"" in text


def test_both_languages_split_at_the_language_boundary() -> None:
    ar, en = render_messages(envelope(example_brief()), "both")
    assert "Who is pressuring whom" not in parse(ar) and "من يضغط على من" in parse(ar)
    assert "من يضغط على من" not in parse(en) and parse(en).startswith("📰 US, Qatar and Egypt press")


def test_example_fits_one_message_each_language() -> None:
    messages = render_messages(envelope(example_brief()), "ar")
    assert len(messages) == 1
    plain = parse(messages[0])
    for name in ("الولايات المتحدة", "حركة حماس", "مصدر الإخبارية"):
        assert name in plain
    assert "الباب لم يُغلق بعد أمام إمكانية التوصل إلى اتفاق" in plain  # the verified quote


def test_arabic_lines_start_right_to_left() -> None:
    (message,) = render_messages(envelope(example_brief()), "ar")
    for line in message.split("\n"):
        if line and not line.startswith("<blockquote>"):
            assert line.startswith(RLM), line


def test_anonymous_sources_are_marked() -> None:
    en = "".join(parse(m) for m in render_messages(envelope(example_brief()), "en"))
    assert "🕶 Anonymous officials: an unnamed Israeli official" in en
    assert "🕶 Anonymous sources: sources familiar with the negotiations" in en


def test_sources_in_full_show_their_evidence() -> None:
    msgs = render_sources(envelope(example_brief()), "en")
    assert "ونقلت الهيئة عن مصادر مطلعة على سير المفاوضات" in parse(msgs[0])


def test_unverified_evidence_is_not_quoted() -> None:
    data = example_brief()
    data["pressures"][0]["evidence"] = "تمارس الولايات المتحدة الأميركية وقطر ومصر ضغوطًا مكثفة على إيران"
    text = "".join(parse(m) for m in render_messages(envelope(data), "en"))
    assert "ضغوطًا مكثفة على إيران" not in text
    assert "unverified" in text


def test_a_verified_brief_has_no_warning() -> None:
    text = "".join(parse(m) for m in render_messages(envelope(example_brief())))
    assert "⚠️" not in text and "Left out" not in text and "ℹ️" not in text


def test_mostly_unverified_brief_says_so_at_the_top_in_both_languages() -> None:
    data = example_brief()
    for p in data["pressures"]:
        p["evidence"] = "ضغوط لم ترد في المقال إطلاقا"
    for s in data["sources"]:
        s["evidence"] = "مصدر لم يرد في المقال إطلاقا"
    ar, en = (parse(render_messages(envelope(data), v)[0]) for v in ("ar", "en"))  # type: ignore[arg-type]
    assert ar.lstrip(RLM).startswith("⚠️ تنبيه: لم يُعثر في المقال إلا على 3 من 12")
    assert en.startswith("⚠️ Caution: only 3 of 12 quotes and evidence spans were found in the article")
    assert render_text(envelope(data), "en").startswith("⚠️ Caution: only 3 of 12")


def test_brief_with_nothing_to_check_says_so() -> None:
    data = example_brief()
    data["pressures"], data["positions"], data["sources"] = [], [], []
    en = parse(render_messages(envelope(data), "en")[0])
    assert en.startswith("⚠️ Caution: nothing in this brief could be checked against the article")


def test_what_was_left_out_is_said_by_kind() -> None:
    data = example_brief()
    data["actors"][8]["mention"] = "رون ديرمر الثاني"  # dermer: not in the article, nor his names
    data["actors"][8]["name"] = {"ar": "رون ديرمر الثاني", "en": "Ron Dermer II"}
    data["sources"][5]["name"] = {"ar": "صحيفة وهمية", "en": "An invented paper"}  # axios
    data["positions"][1]["quote"] = "سنواصل الحرب حتى النصر الكامل"
    text = render_text(envelope(data))
    assert "ℹ️ Left out as not found in the article: actors (1), sources (1), quotes (1); " \
           "and what was left without its parties (1)" in text
    assert "ℹ️ أُسقط لأنه غير موجود في المقال: أطراف (1)، مصادر (1)، اقتباسات (1)" in text
    assert "رون ديرمر" not in text and "صحيفة وهمية" not in text and "النصر الكامل" not in text


def test_bidi_controls_never_reach_the_reader() -> None:
    data = example_brief()
    data["headline"]["en"] = "\u202eUS presses Israel\u202c"  # would show reversed
    data["positions"][1]["stance"]["ar"] = "\u2066الباب\u2069 لم يُغلق \u200fبعد"
    env = envelope(data)
    # stored envelopes from before parse-time stripping are cleaned when rendered
    env.brief.summary.en = "\u202dStill \u202ebad\u202c text"
    ours = {FSI, PDI, RLM}
    for out in [*render_messages(env), render_text(env)]:
        assert not (set(out) & (set(BIDI_CONTROLS) - ours)), out
        assert "\u202e" not in out and "\u2066" not in out
    assert "US presses Israel" in render_text(env) and "Still bad text" in render_text(env)


def test_english_view_isolates_arabic_runs() -> None:
    en = render_messages(envelope(example_brief()), "en")[0]
    assert f"{FSI}الباب لم يُغلق بعد أمام إمكانية التوصل إلى اتفاق" in en


def test_envelope_stored_with_schema_1_still_renders() -> None:
    raw = (TESTDATA / "examples" / "gaza-mediators.envelope-v1.json").read_text(encoding="utf-8")
    env = BriefEnvelope.model_validate_json(raw)
    assert env.schema_version == "2"
    assert [p.evidence_check.verified for p in env.brief.pressures] == [True, True, False]
    assert env.checks.grounding.spans_checked == 12 and env.checks.grounding.spans_verified == 11
    text = "".join(parse(m) for m in render_messages(env, "en"))
    assert "Israel starves Gaza" not in text and "unverified" in text


def test_plain_text_has_no_markup() -> None:
    out = render_text(envelope(example_brief()))
    assert "<b>" not in out and "Who is pressuring whom" in out and "من يضغط على من" in out


def test_malformed_and_cut_off_items_are_said_in_both_languages() -> None:
    from bot.engine.schema import Dropped

    env = envelope(example_brief())
    env.checks.dropped = [Dropped(path="actors[3]", item="actor", cause="invalid", text="x", reason="r"),
                          Dropped(path="positions[9]", item="position", cause="cut_off", text="y", reason="r")]
    en, ar = render_text(env, "en"), render_text(env, "ar")
    assert "and what was malformed, cut off or over the limit (2)" in en
    assert "وما جاء مخالفًا للمخطط أو مقطوعًا أو زائدًا عن الحد (2)" in ar


def test_a_quote_shown_once_for_two_is_not_said_to_be_missing() -> None:
    from bot.engine.schema import Dropped

    env = envelope(example_brief())
    plain = [render_text(env, lang).splitlines() for lang in ("en", "ar")]
    env.checks.dropped = [Dropped(path="positions[5]", item="position", cause="repeated", text="q", reason="r")]
    repeated = [render_text(env, lang).splitlines() for lang in ("en", "ar")]
    # no note among the sources; only the footer counts what the answer had in excess
    assert [lines[:-1] for lines in repeated] == [lines[:-1] for lines in plain]
    assert repeated[0][-1].endswith("· 1 item dropped")


def _reference_pack(atoms: list[str], limit: int, sep: str = "\n\n") -> list[str]:
    """Packing as first written: measure every candidate message whole."""
    messages: list[str] = []
    current = ""
    for atom in atoms:
        for piece in [atom] if utf16_len(atom) <= limit else atom.split("\n"):
            candidate = f"{current}{sep}{piece}" if current else piece
            if utf16_len(candidate) <= limit:
                current = candidate
            else:
                if current:
                    messages.append(current)
                current = piece
    if current:
        messages.append(current)
    return messages


def test_packing_counts_lengths_as_it_goes_and_packs_as_before() -> None:
    import random

    from bot.render.classic import pack

    rng = random.Random(4096)
    words = ["كلمة", "word", "😀", "", "\n", "سطر\nآخر", "x" * 30, "🇶🇦 قطر"]
    for _ in range(2000):
        atoms = ["".join(rng.choice(words) for _ in range(rng.randint(0, 12))) for _ in range(rng.randint(0, 9))]
        limit = rng.randint(1, 80)
        assert pack(atoms, limit) == _reference_pack(atoms, limit), (atoms, limit)


def test_arabic_lists_are_joined_with_the_arabic_comma() -> None:
    env = envelope(example_brief())
    via = '(عبر هيئة البث الإسرائيلية "كان 11"، مصادر مطلعة على سير المفاوضات)'
    assert via in render_text(env, "ar")
    assert via in parse(render_messages(env, "ar")[0])
    for view in ("ar", "both"):
        arabic = render_text(env, view).split("📰 US, Qatar")[0]
        # a Latin comma may appear only inside the article's own words (quoted spans)
        assert not [line for line in arabic.splitlines() if ", " in line and "“" not in line]
    assert "(via Israeli Public Broadcasting Corporation (Kan 11), sources familiar" in render_text(env, "en")


@pytest.mark.parametrize(("verified", "checked", "names", "en", "ar"), [
    (12, 12, 16, "12 of 12 spans verified · 16 of 16 names found", "وُثّق 12 مقطعًا من 12 · وُجد 16 اسمًا من 16"),
    (1, 1, 2, "1 of 1 span verified · 2 of 2 names found", "وُثّق مقطع واحد من 1 · وُجد اسمان من 2"),
    (0, 5, 3, "0 of 5 spans verified · 3 of 3 names found", "وُثّق 0 مقطع من 5 · وُجد 3 أسماء من 3"),
])
def test_plain_text_footer_counts_in_both_languages(verified: int, checked: int, names: int, en: str,
                                                    ar: str) -> None:
    env = envelope(example_brief())
    env.checks.grounding.spans_verified, env.checks.grounding.spans_checked = verified, checked
    env.checks.grounding.names_verified = env.checks.grounding.names_checked = names
    both = render_text(env, "both")
    assert "(s)" not in both
    assert en in render_text(env, "en") and en in both
    assert ar in render_text(env, "ar") and ar in both
    assert ar not in render_text(env, "en") and en not in render_text(env, "ar")
