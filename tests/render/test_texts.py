"""The bot's own words: both languages for every text, Arabic plurals, numbers and punctuation."""

from __future__ import annotations

import re

import pytest

from bot.render import texts


@pytest.mark.parametrize(("n", "ar", "en"), [
    (1, "طلب واحد", "1 request"),
    (2, "طلبان", "2 requests"),
    (5, "5 طلبات", "5 requests"),
    (11, "11 طلبًا", "11 requests"),
    (100, "100 طلب", "100 requests"),
    (15425, "15\u066c425 طلبًا", "15,425 requests"),
])
def test_counts_use_each_languages_plural_forms(n: int, ar: str, en: str) -> None:
    assert texts.count(n, texts.REQUESTS, "ar") == ar
    assert texts.count(n, texts.REQUESTS, "en") == en


def test_lists_use_the_arabic_comma() -> None:
    assert texts.join(["كان 11", "مصادر مطلعة"], "ar") == "كان 11، مصادر مطلعة"
    assert texts.join(["Kan 11", "sources"], "en") == "Kan 11, sources"


# words that may appear in Arabic text: commands, their arguments, names of things on screen
ALLOWED_LATIN = {"lang", "ar", "en", "both", "digest", "on", "off", "now", "status", "settings", "help", "usage",
                 "summarize", "HH", "MM", "Area", "City", "Asia", "Amman", "JSON", "English", "PDF", "https", "www",
                 "bbc", "com", "arabic", "subscribe", "unsubscribe", "timeline", "track", "untrack", "actors", "forget"}


@pytest.mark.parametrize("key", sorted(texts.TEXTS))
def test_every_text_has_both_languages_and_arabic_reads_as_arabic(key: str) -> None:
    ar, en = texts.TEXTS[key]
    assert ar.strip() and en.strip()
    if key.startswith("button_") and ar == en:
        return  # a button that names itself in both scripts
    assert re.search(r"[\u0600-\u06FF]", ar), f"{key}: no Arabic"
    # the English guide names the Arabic button by its label
    assert not re.search(r"[\u0600-\u06FF]", en.replace("عربي", "")), f"{key}: Arabic in the English text"
    assert not re.search(r"[\u0600-\u06FF][,;?]", ar), f"{key}: Latin punctuation after Arabic"
    words = set(re.findall(r"[A-Za-z]+", re.sub(r"\{[a-z_]+\}", "", ar)))
    assert words <= ALLOWED_LATIN, f"{key}: English words in the Arabic text: {words - ALLOWED_LATIN}"


def test_views() -> None:
    ar_only = texts.say("lang_set", "ar", **texts.language_name("ar"))
    assert ar_only.startswith(texts.RLM) and "Language" not in ar_only and "العربية" in ar_only
    en_only = texts.say("lang_set", "en", **texts.language_name("en"))
    assert en_only == "Language view is now: English."
    both = texts.say("digest_on", "both", time="08:30", tz="Asia/Amman")
    assert both.index("الموجز") < both.index("Digest") and both.count("08:30") == 2  # the time in both lines


def test_values_are_escaped_for_html() -> None:
    assert "&lt;b&gt;" in texts.say("digest_on", "en", time="<b>", tz="UTC")


def test_default_view_follows_the_users_telegram_language() -> None:
    assert texts.default_view("ar") == "both"
    assert texts.default_view("ar-SA") == "both"
    assert texts.default_view("en") == "en"
    assert texts.default_view("fr") == "en"
