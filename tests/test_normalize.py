"""Arabic-aware normalisation: the cases the schema names, and spans mapped back."""

from __future__ import annotations

import pytest

from bot.normalize import Matcher, detect_language, normalize


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
    assert normalize("Israel") != normalize("israel ")  # case is kept: quotes are verbatim


def test_match_returns_original_span() -> None:
    article = "وأشار مسؤول إسرائيلي إلى أن “الباب لم يُغلق بعد أمام إمكانية التوصل إلى اتفاق”."
    m = Matcher(article).find("الباب لم يغلق بعد امام امكانيه التوصل")
    assert m is not None
    assert m.text(article) == "الباب لم يُغلق بعد أمام إمكانية التوصل"


def test_quote_wrapped_in_its_own_marks_and_ellipsis() -> None:
    article = "قال الوزير إن «الحرب لن تتوقف قريبًا» وأضاف أن «المفاوضات مستمرة رغم كل شيء»."
    matcher = Matcher(article)
    assert matcher.find("«الحرب لن تتوقف قريبا»") is not None
    assert matcher.find("الحرب لن تتوقف قريبًا ... المفاوضات مستمرة") is not None
    assert matcher.find("المفاوضات مستمرة … الحرب لن تتوقف") is None  # order matters


def test_invented_quote_is_not_found() -> None:
    matcher = Matcher("The minister said talks would resume next week.")
    assert matcher.find("talks have collapsed") is None
    assert matcher.find("") is None
    assert matcher.find("...") is None


def test_detect_language() -> None:
    assert detect_language("تمارس الولايات المتحدة ضغوطا") == "ar"
    assert detect_language("The United States presses Israel") == "en"
