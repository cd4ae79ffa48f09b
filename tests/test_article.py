"""Pasted text → Article: what has nothing to brief is refused before any model sees it."""

from __future__ import annotations

import pytest

from bot.article import from_text
from bot.errors import EmptyInput, NoLetters


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
