"""Arabic-aware normalisation: the cases the schema names, and spans mapped back."""

from __future__ import annotations

import pytest

from bot.engine.normalize import MAX_GAP, Matcher, detect_language, normalize, strip_bidi


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("مُحَمَّدٌ", "محمد"),  # diacritics
        ("الـــسلام", "السلام"),  # tatweel
        ("أحمد إلى آخر ٱلعالم", "احمد الي اخر العالم"),  # hamza/alef forms, ى
        ("مدرسة", "مدرسه"),  # ta marbuta
        ("«الباب لم يغلق»", "“الباب لم يغلق”"),  # guillemets vs curly quotes
        ('"هناك احتمال"', "„هناك احتمال″"),
        ("عام ٢٠٢٤", "عام 2024"),  # Arabic-Indic digits
        ("عام ۲۰۲۴", "عام 2024"),  # Persian digits
        ("قال\u200f إن", "قال إن"),  # direction marks
        ("  كلمة \n\n  أخرى ", "كلمة اخري"),  # whitespace
        ("ﻻ", "لا"),  # presentation-form ligature (NFKC)
    ],
)
def test_equivalent_forms_normalise_alike(a: str, b: str) -> None:
    assert normalize(a) == normalize(b)


def test_different_words_stay_different() -> None:
    assert normalize("قطر") != normalize("مصر")
    assert normalize("Israel") != normalize("israel ")  # case is kept here; only the Matcher ignores it


def test_match_returns_original_span() -> None:
    article = "وأشار مسؤول إسرائيلي إلى أن “الباب لم يُغلق بعد أمام إمكانية التوصل إلى اتفاق”."
    m = Matcher(article).find("الباب لم يغلق بعد امام امكانيه التوصل")
    assert m is not None
    assert m.text(article) == "الباب لم يُغلق بعد أمام إمكانية التوصل"


def test_quote_wrapped_in_its_own_marks_and_ellipsis() -> None:
    article = "قال الوزير إن «الحرب لن تتوقف قريبًا» وأضاف أن «المفاوضات مستمرة رغم كل شيء»."
    matcher = Matcher(article)
    assert matcher.find("«الحرب لن تتوقف قريبا»") is not None
    assert matcher.find("الحرب لن تتوقف قريبًا ... المفاوضات مستمرة رغم") is not None
    assert matcher.find("المفاوضات مستمرة رغم … الحرب لن تتوقف") is None  # order matters
    # the article's inner quote marks may be left out: the words are the same
    assert matcher.find("قال الوزير إن الحرب لن تتوقف") is not None


# --- splicing: pieces of the article joined into a quote, and the elisions that must still pass
MINISTER = "وقال وزير الدفاع إن إسرائيل لن تقبل بأي اتفاق لا يضمن أمنها على المدى البعيد."
ARMY = "وأعلن الجيش أنه سيهاجم المدينة خلال الأيام المقبلة إذا لم تُستأنف المفاوضات."
FILLER = "وتتواصل الاتصالات بين الوسطاء في العواصم المعنية دون نتيجة تذكر حتى الآن. "


def test_pieces_far_apart_are_not_one_quote() -> None:
    article = MINISTER + "\n\n" + FILLER * 30 + "\n\n" + ARMY
    matcher = Matcher(article)
    assert matcher.find("إسرائيل لن تقبل بأي اتفاق … سيهاجم المدينة خلال الأيام") is None
    assert matcher.find("لن تقبل … سيهاجم المدينة") is None  # two-word pieces, far apart
    # each sentence on its own is a quote
    assert matcher.find("إسرائيل لن تقبل بأي اتفاق") is not None
    assert matcher.find("سيهاجم المدينة خلال الأيام المقبلة") is not None


def test_elision_stays_within_a_paragraph_and_the_gap() -> None:
    near = Matcher(MINISTER + "\n" + ARMY)  # adjacent, but another paragraph
    assert near.find("لا يضمن أمنها على المدى البعيد … وأعلن الجيش أنه سيهاجم") is None
    same = Matcher(MINISTER + " " + ARMY)  # one paragraph, gap under MAX_GAP
    assert same.find("لن تقبل بأي اتفاق … أنه سيهاجم المدينة") is not None
    wide = Matcher(MINISTER + " " + "كلمة " * (MAX_GAP // 5 + 1) + ARMY)
    assert wide.find("على المدى البعيد … وأعلن الجيش أنه") is None


def test_pieces_match_whole_words_only() -> None:
    matcher = Matcher("Last week the ministers said they will not attend. We will see, one said.")
    assert matcher.find("we … will") is None  # "we" inside "week"
    assert matcher.find("ast week the minister") is None  # cut at both ends
    assert matcher.find("the minister said") is None  # "minister" inside "ministers"
    assert matcher.find("the ministers said they") is not None
    assert matcher.find("The ministers said") is not None  # case is not a word boundary


def test_single_letters_and_short_pieces_do_not_verify() -> None:
    matcher = Matcher(MINISTER + " " + ARMY)
    assert matcher.find("ا … ل … م … ن") is None  # single letters spliced
    assert matcher.find("إسرائيل") is None  # one word is not a quote
    assert matcher.find("إسرائيل لن") is not None  # two words without a gap are
    assert matcher.find("وزير الدفاع … لن تقبل بأي اتفاق") is None  # an elided piece needs 3 words


@pytest.mark.parametrize(
    ("article", "quote"),
    [
        # Arabic: a clause left out inside one sentence, and the conjunction و dropped at the start
        ("وأشار مسؤول إسرائيلي إلى أن “الباب لم يُغلق بعد أمام إمكانية التوصل إلى اتفاق، رغم معارضة بعض الوزراء”.",
         "الباب لم يغلق بعد … رغم معارضة بعض الوزراء"),
        ("وقال المتحدث إن الحكومة ستواصل العمل مع الشركاء.", "قال المتحدث إن الحكومة"),
        # Arabic: و + ب joined before the first word
        ("وبالتالي فإن الحديث عن صفقة شاملة قد يكون منعدم الفائدة.", "بالتالي فإن الحديث عن صفقة"),
        # English: a sentence left out between two of the same speaker, in one paragraph
        ('"We will not accept this. It is a bad deal. Our position has not changed," the minister said.',
         "We will not accept this … Our position has not changed"),
        ("The talks, which began on Monday in Cairo, will resume next week.", "The talks, which began … will resume next week"),
    ],
)
def test_legitimate_elisions_still_verify(article: str, quote: str) -> None:
    assert Matcher(article).find(quote) is not None, quote


def test_clitics_are_a_boundary_only_before_a_word() -> None:
    matcher = Matcher("وقال الوزير إن المفاوضات بالقاهرة مستمرة. سيهاجم الجيش المدينة.")
    assert matcher.find("قال الوزير إن") is not None  # و joined
    assert matcher.find("القاهرة مستمرة") is not None  # ب joined
    assert matcher.find("يهاجم الجيش المدينة") is None  # س (future) is not a clitic: it changes the verb
    assert matcher.find("ال الوزير إن") is None  # "ال" cut out of "وقال"
    assert matcher.find("الوزير إن المفاوضات ب") is None  # nothing cut at the end


def test_names_are_whole_words_with_clitics() -> None:
    article = "وقال الوزير القطري إن «مصر والإمارات» طالبتا بالتهدئة، ونقلت (Reuters) ذلك."
    matcher = Matcher(article)
    m = matcher.find_name("الإمارات")
    assert m is not None and m.text(article) == "الإمارات"
    assert matcher.find_name("مصر") is not None and matcher.find_name("reuters") is not None
    assert matcher.find_name("القطر") is None  # part of a word
    assert matcher.find_name("الوزير … إن") is None  # a name is not elided
    assert matcher.find_name("") is None and matcher.find_name("«»") is None


def test_bidi_controls_are_stripped() -> None:
    evil = "\u202eإسرائيل\u202c \u2067Hamas\u2069 \u200fقطر\u200e\u061c"
    assert strip_bidi(evil) == "إسرائيل Hamas قطر"
    assert Matcher("قال إسرائيل وحماس اليوم").find("\u202eقال إسرائيل\u202c وحماس") is not None


def test_invented_quote_is_not_found() -> None:
    matcher = Matcher("The minister said talks would resume next week.")
    assert matcher.find("talks have collapsed") is None
    assert matcher.find("") is None
    assert matcher.find("...") is None


def test_detect_language() -> None:
    assert detect_language("تمارس الولايات المتحدة ضغوطا") == "ar"
    assert detect_language("The United States presses Israel") == "en"


def _reference_form(text: str) -> tuple[str, list[int]]:
    """The matching form as first written: normalise with the map, then drop quote marks, collapse
    spaces again and lower-case letters one to one. The one-pass form must give exactly this."""
    from bot.engine.normalize import normalize_map

    norm, origin = normalize_map(text)
    chars: list[str] = []
    where: list[int] = []
    for c, o in zip(norm, origin, strict=True):
        if c in "\"'" or (c == " " and (not chars or chars[-1] == " ")):
            continue
        low = c.lower()
        chars.append(low if len(low) == 1 else c)
        where.append(o)
    if chars and chars[-1] == " ":
        chars.pop()
        where.pop()
    return "".join(chars), where


def test_the_one_pass_matching_form_is_the_two_pass_one_on_real_and_random_text() -> None:
    import random

    from bot.engine.normalize import match_form
    from tests.conftest import TESTDATA

    texts = [p.read_text(encoding="utf-8") for p in sorted((TESTDATA / "examples").glob("*.txt"))]
    assert texts
    alphabet = "اأإآٱىةبتث \n\t\"'«»“”‘’–—،؛؟٠١۲ـًٌٍَُِّْ\u200f\u202eİΣσςABcd.…ﻻ\u00ad"
    rng = random.Random(13)
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(3000)]
    texts += ["  ' a '  ", "'\"'", " \u200f ", "ΑΣ Σ", "İstanbul"]
    for text in texts:
        assert Matcher._form(text) == _reference_form(text), text
        assert match_form(text) == _reference_form(text)[0], text


def test_repeated_lookups_give_the_same_answer() -> None:
    matcher = Matcher("قال الوزير إن المفاوضات مستمرة في القاهرة. وقال مسؤول آخر إن الباب لم يغلق.")
    for _ in range(2):
        assert matcher.find("المفاوضات مستمرة في القاهرة") is not None
        assert matcher.find("المفاوضات متوقفة") is None
        assert matcher.find_name("الوزير") is not None
        assert matcher.find_name("السفير") is None


def test_script_shares_and_bidi_stripping_count_letter_by_letter() -> None:
    import random
    import re

    from bot.engine.normalize import BIDI_CONTROLS, script_share

    arabic = re.compile(r"[\u0600-\u06FF\u0750-\u077F\u08A0-\u08FF\uFB50-\uFDFF\uFE70-\uFEFF]")
    latin = re.compile(r"[A-Za-z\u00C0-\u024F]")
    alphabet = "عربي abcXYZ éſ 123 ،.\n" + BIDI_CONTROLS + "\u08a0\ufb50\ufeff😀"
    rng = random.Random(6)
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        a, b = len(arabic.findall(text)), len(latin.findall(text))
        assert script_share(text) == ((a / (a + b), b / (a + b)) if a + b else (0.0, 0.0)), text
        assert strip_bidi(text) == "".join(c for c in text if c not in BIDI_CONTROLS), text
