"""The states an article names, found before the model is asked: candidate actors for the prompt.

A small model leaves out most of an article's parties, or names them in a form the article does
not use. The program knows the states (`speakers.COUNTRIES`: names, adjectives, capitals in both
languages), so it offers each one the article names as a ready actor: an id, the article's own
words for it and its names in both languages. Whether a state is a party to anything is still the
model's choice, and the checks are the same.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.engine.normalize import Matcher
from bot.engine.schema import Actor, Bilingual
from bot.engine.speakers import COUNTRIES

#: each state's name in English and Arabic, as a brief shows it
NAMES: dict[str, tuple[str, str]] = {
    "EGY": ("Egypt", "مصر"), "QAT": ("Qatar", "قطر"), "ISR": ("Israel", "إسرائيل"),
    "PSE": ("Palestine", "فلسطين"), "USA": ("United States", "الولايات المتحدة"),
    "GBR": ("United Kingdom", "المملكة المتحدة"), "FRA": ("France", "فرنسا"), "DEU": ("Germany", "ألمانيا"),
    "RUS": ("Russia", "روسيا"), "CHN": ("China", "الصين"), "IRN": ("Iran", "إيران"), "IRQ": ("Iraq", "العراق"),
    "SYR": ("Syria", "سوريا"), "LBN": ("Lebanon", "لبنان"), "JOR": ("Jordan", "الأردن"),
    "SAU": ("Saudi Arabia", "السعودية"), "ARE": ("United Arab Emirates", "الإمارات"), "TUR": ("Turkey", "تركيا"),
    "YEM": ("Yemen", "اليمن"), "LBY": ("Libya", "ليبيا"), "SDN": ("Sudan", "السودان"), "TUN": ("Tunisia", "تونس"),
    "DZA": ("Algeria", "الجزائر"), "MAR": ("Morocco", "المغرب"), "KWT": ("Kuwait", "الكويت"),
    "BHR": ("Bahrain", "البحرين"), "OMN": ("Oman", "عُمان"), "AFG": ("Afghanistan", "أفغانستان"),
    "PAK": ("Pakistan", "باكستان"), "IND": ("India", "الهند"), "UKR": ("Ukraine", "أوكرانيا"),
    "HUN": ("Hungary", "المجر"), "POL": ("Poland", "بولندا"), "ITA": ("Italy", "إيطاليا"),
    "ESP": ("Spain", "إسبانيا"), "JPN": ("Japan", "اليابان"), "KOR": ("South Korea", "كوريا الجنوبية"),
    "PRK": ("North Korea", "كوريا الشمالية"), "SOM": ("Somalia", "الصومال"), "ETH": ("Ethiopia", "إثيوبيا"),
    "VEN": ("Venezuela", "فنزويلا"), "MEX": ("Mexico", "المكسيك"), "CAN": ("Canada", "كندا"),
    "AUS": ("Australia", "أستراليا"), "NGA": ("Nigeria", "نيجيريا"), "MDV": ("Maldives", "جزر المالديف"),
    "MRT": ("Mauritania", "موريتانيا"),
}
#: forms of a state that are also everyday words ("told us"): the speaker check reads them beside
#: an official's title, but alone they name nothing
_WORDS = frozenset({"us"})
#: at most this many states are offered (the ones the article names first)
MAX_STATES = 10


@dataclass(frozen=True)
class NamedState:
    """A state the article names, with the article's words for it (`said`: each form found, with
    where it starts, name first, then adjectives and the capital)."""

    id: str
    iso: str
    en: str
    ar: str
    said: tuple[tuple[str, int], ...]

    @property
    def mention(self) -> str:
        """The article's own words for the state: its name when the article uses it."""
        return self.said[0][0]

    @property
    def start(self) -> int:
        """Where the article first names it."""
        return min(at for _, at in self.said)

    def within(self, chars: int) -> NamedState | None:
        """The state as named in the article's first `chars` characters, or None."""
        said = tuple((text, at) for text, at in self.said if at + len(text) <= chars)
        return NamedState(self.id, self.iso, self.en, self.ar, said) if said else None

    def actor(self) -> Actor:
        """The state as an actor of a brief, as the prompt offers it."""
        return Actor(mention=self.mention, id=self.id, name=Bilingual(en=self.en, ar=self.ar), kind="state",
                     country=self.iso)


def states(matcher: Matcher, limit: int = MAX_STATES) -> list[NamedState]:
    """The states `matcher`'s article names, in the order it first names them. A form that stands
    inside another state's longer one ("عمان", Amman, in "سلطنة عمان", Oman) does not count, nor
    does an English form without its capital ("polish the plan", "roast turkey")."""
    text = matcher.article
    hits: dict[str, list[tuple[str, int, int]]] = {}
    for iso, forms in COUNTRIES.items():
        for form in forms:
            m = matcher.find_name(form) if form not in _WORDS else None
            if m is not None and (not form.isascii() or text[m.start].isupper()):
                hits.setdefault(iso, []).append((text[m.start:m.end], m.start, m.end))
    spans = [(start, end, iso) for iso, found in hits.items() for _, start, end in found]
    found: list[NamedState] = []
    for iso, forms_found in hits.items():
        said = tuple((t, start) for t, start, end in forms_found
                     if not any(o != iso and s <= start and end <= e and e - s > end - start for s, e, o in spans))
        if said:
            en, ar = NAMES[iso]
            found.append(NamedState(id=en.lower().replace(" ", "_"), iso=iso, en=en, ar=ar, said=said))
    return sorted(found, key=lambda s: s.start)[:limit]
