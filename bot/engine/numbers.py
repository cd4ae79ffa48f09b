"""The numbers of a text, by value: digits in any script and number words in Arabic and English.

The headline and summary are the model's own prose, but their numbers are the claims readers
repeat: each must be in the article in some form (٣٠ = 30 = thirty = ثلاثين; ثلاثة آلاف = 3,000 =
three thousand; 30% = 30 في المئة). "hundreds", "مئات", "thousands", "آلاف", "عشرات" alone are
not numbers; nor are "one" and "واحد" (a pronoun or an article as often as a count; "one hundred" is one) or
ordinals. An Arabic article says two with the dual (دولتين), so 2 counts as stated in one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.engine.normalize import normalize_map, script_share
from bot.engine.schema import Brief, CheckIssue, UnconfirmedNumber

_EN_UNITS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
             "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
             "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
             "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_EN_SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9, "trillion": 10**12}
# normal form (ة→ه, ى→ي, hamza forms → ا): masculine, feminine and oblique forms
_AR_UNITS = {
    "اثنان": 2, "اثنين": 2, "اثنتان": 2, "اثنتين": 2, "ثلاث": 3, "ثلاثه": 3, "اربع": 4, "اربعه": 4, "خمس": 5,
    "خمسه": 5, "ست": 6, "سته": 6, "سبع": 7, "سبعه": 7, "ثمان": 8, "ثماني": 8, "ثمانيه": 8, "تسع": 9, "تسعه": 9,
    "عشر": 10, "عشره": 10, "عشرون": 20, "عشرين": 20, "ثلاثون": 30, "ثلاثين": 30, "اربعون": 40, "اربعين": 40,
    "خمسون": 50, "خمسين": 50, "ستون": 60, "ستين": 60, "سبعون": 70, "سبعين": 70, "ثمانون": 80, "ثمانين": 80,
    "تسعون": 90, "تسعين": 90, "مئه": 100, "مائه": 100, "مئتان": 200, "مئتين": 200, "مائتان": 200, "مائتين": 200,
    "مئتي": 200, "مائتي": 200, "ثلاثمئه": 300, "ثلاثمائه": 300, "اربعمئه": 400, "اربعمائه": 400,
    "خمسمئه": 500, "خمسمائه": 500, "ستمئه": 600, "ستمائه": 600, "سبعمئه": 700, "سبعمائه": 700,
    "ثمانمئه": 800, "ثمانمائه": 800, "تسعمئه": 900, "تسعمائه": 900, "الف": 1000, "الفان": 2000, "الفين": 2000,
    "الفي": 2000}
#: a scale after a number multiplies it; alone, the plural ones (آلاف، ملايين) are no number
_AR_SCALES = {"الاف": 1000, "الف": 1000, "مليون": 10**6, "ملايين": 10**6, "مليار": 10**9, "مليارات": 10**9}
_DIGITS = re.compile(r"\d{1,3}(?:[,٬]\d{3})+(?:[.٫]\d+)?|\d+(?:[.٫]\d+)?")
_TOKEN = re.compile(r"\d{1,3}(?:[,٬]\d{3})+(?:[.٫]\d+)?|\d+(?:[.٫]\d+)?|[^\W\d_]+")


@dataclass(frozen=True)
class Number:
    text: str  # as the text writes it
    value: float


def _clitic(word: str) -> str:
    """An Arabic number word without a joined و/ب/ل/ف ("وثلاثين", "بخمسة")."""
    if word and "\u0600" <= word[0] <= "\u06ff" and word not in _AR_UNITS and word not in _AR_SCALES:
        for cut in (2, 1):
            if len(word) > cut + 2 and all(c in "وبلف" for c in word[:cut]) and (
                    word[cut:] in _AR_UNITS or word[cut:] in _AR_SCALES):
                return word[cut:]
    return word


def numbers(text: str) -> list[Number]:
    """The numbers `text` states, in order, each with its value."""
    form, origin = normalize_map(text)
    norm = form.lower().replace("-", " ")
    if len(norm) != len(form):  # a letter whose lower case is longer: offsets would not map back
        norm, origin = form.replace("-", " "), origin
    tokens = [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(norm)]
    out: list[Number] = []
    i = 0
    while i < len(tokens):
        start = end = tokens[i][1]
        total, current, used, j, digits = 0.0, None, 0, i, False
        while j < len(tokens):
            raw = tokens[j][0]
            w = _clitic(raw)
            if used and re.sub(r"\band\b", "", norm[end:tokens[j][1]]).strip():
                break  # "30 / thirty": punctuation between two numbers
            if used and digits and w not in _EN_SCALES and w not in _AR_SCALES:
                break  # after digits only a scale: "3 million", not "3 five"
            joined = w != raw and raw[:1] == "و"  # "وعشرون": a part of the number before it
            after_scale = current is None and total > 0
            if _DIGITS.fullmatch(w):
                if used:
                    break
                current = float(w.replace(",", "").replace("٬", "").replace("٫", "."))
                digits = True
            elif w == "one" and not used and j + 1 < len(tokens) and tokens[j + 1][0] in _EN_SCALES:
                current = 1.0  # "one hundred": a count; "one" alone is not
            elif w in _EN_UNITS or w in _AR_UNITS:
                value = _EN_UNITS.get(w) or _AR_UNITS[w]
                if w in ("الف", "الفان", "الفين", "الفي") and current is not None:
                    total, current = total + current * 1000, None  # "ثلاثين ألف"
                elif not used or after_scale or (
                        current is not None and (
                            (joined and value >= 20 and 0 < current % 100 < 10)  # (مئة و)خمسة وعشرون
                            or (not joined and raw.isascii() and value < 10 and current >= 20 and current % 10 == 0)
                            or (current % 100 == 0 and value < 100))):  # two hundred five
                    current = (current or 0) + value
                else:
                    break
            elif w in _EN_SCALES or w in _AR_SCALES:
                if current is None:
                    break  # "hundreds", "آلاف" with no number before them
                scale = _EN_SCALES.get(w) or _AR_SCALES[w]
                if scale == 100:
                    current *= 100
                else:
                    total, current = total + current * scale, None
            elif w == "and" and used and (after_scale or (current is not None and current % 100 == 0)):
                j += 1
                continue
            else:
                break
            used += 1
            end = tokens[j][2]
            j += 1
        if used:
            out.append(Number(text[origin[start]:origin[end - 1] + 1], total + (current or 0)))
            i = j
        else:
            i += 1
    return out


def missing(text: str, article: set[float]) -> list[Number]:
    """The numbers of `text` whose value is not among the article's (`values(article)`)."""
    return [n for n in numbers(text) if not any(abs(n.value - v) < 1e-9 for v in article)]


def values(article: str) -> set[float]:
    """The values of every number `article` states. An Arabic article says two with the dual
    (دولتين، يومين), which has no number word: 2 counts as stated in it."""
    found = {n.value for n in numbers(article)}
    if script_share(article[:5000])[0] >= 0.5:
        found.add(2.0)
    return found


def unconfirmed(brief: Brief, article: set[float]) -> list[UnconfirmedNumber]:
    """The numbers of the headline and summary whose value the article (`values`) does not state."""
    return [UnconfirmedNumber(path=f"{part}.{lang}", text=n.text)
            for part in ("headline", "summary") for lang in ("en", "ar")
            for n in missing(getattr(getattr(brief, part), lang), article)]


def issues(found: list[UnconfirmedNumber]) -> list[CheckIssue]:
    return [CheckIssue(path=n.path, kind="number",
                       message=f"the number {n.text!r} is not in the article in any form: state only numbers "
                               f"the article gives (in digits or words), or none") for n in found]
