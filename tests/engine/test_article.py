"""Pasted text → Article: what has nothing to brief is refused before any model sees it."""

from __future__ import annotations

import pytest

from bot.engine.article import from_text
from bot.ops.errors import EmptyInput, NoLetters


@pytest.mark.parametrize("text", [
    "\u200b\u200c\u200d\u2060\ufeff" * 40,  # zero-width characters only
    "😀🔥🇸🇾" * 70,  # 200+ emoji
    "2024 - 13/11 : 17:45 +++ ... !!! " * 5,  # digits and punctuation
    "\u064b\u064c\u064d" * 60,  # Arabic diacritics without a letter to carry them
])
def test_text_without_letters_is_refused(text: str) -> None:
    with pytest.raises(NoLetters) as caught:
        from_text(text, "telegram")
    assert "no words" in caught.value.en and caught.value.ar  # both languages for the chat


def test_whitespace_is_empty() -> None:
    with pytest.raises(EmptyInput):
        from_text(" \n\t\r\n ", "stdin")


@pytest.mark.parametrize("text", ["قال الوزير 😀", "Talks resume 🔥 in Doha", "北京 2024"])
def test_a_few_words_among_symbols_are_text(text: str) -> None:
    assert from_text(text, "telegram").text == text


def test_one_minimum_length_rule_carries_its_numbers() -> None:
    from bot.engine.article import check_length
    from bot.ops.errors import TooShort

    with pytest.raises(TooShort) as caught:
        from_text("قال الوزير", "telegram", min_chars=120)
    assert (caught.value.chars, caught.value.min_chars) == (10, 120)
    check_length("x" * 120, 120)


def test_the_envelope_record_is_the_article_s() -> None:
    article = from_text("Talks resume in Doha.\n\nMore talks.", "stdin", title="T", outlet="Wire")
    info = article.info(chars_sent=21, truncated=True)
    assert (info.title, info.outlet, info.language, info.status, info.content_hash) == (
        "T", "Wire", "en", "truncated", article.content_hash)


def test_token_estimate_errs_high_and_fit_respects_it() -> None:
    from bot.engine.article import estimate_tokens, fit_tokens

    assert estimate_tokens("مرحبا" * 100) == 250 and estimate_tokens("word" * 100) == 100
    text = "\n\n".join(["فقرة " * 200] * 10)
    cut, truncated = fit_tokens(text, 100_000, 1200)
    assert truncated and estimate_tokens(cut) <= 1200 and text.startswith(cut) and cut.endswith("فقرة")
    assert fit_tokens(text, 100_000, None) == (text, False)
