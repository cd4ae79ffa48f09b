"""The parties an article names, found before the model is asked: candidate actors for the prompt.

A small model leaves out most of an article's parties, or names them in a form the article does
not use. The program knows the states (`speakers.COUNTRIES`: names, adjectives, capitals in both
languages), so it offers each one the article names as a ready actor: an id, the article's own
words for it and its names in both languages. It also knows who speaks in the article's attributed
statements (`bot.engine.attribution`), so it offers each speaker too, in the article's words, with
what the article attributes to them. Whether any of them is a party to anything is still the
model's choice, and the checks are the same.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.engine.attribution import Statement
from bot.engine.normalize import Matcher, normalize
from bot.engine.schema import Actor, Bilingual
from bot.engine.speakers import COUNTRIES, party, words

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


@dataclass(frozen=True)
class Speaker:
    """Who speaks in the article's attributed statements, offered as an actor: an id and the
    article's words for them (`mention`, the name in the article's language); `passages`, what the
    article attributes to them; `country`, the state its name says it speaks for ("an Israeli
    official"), if any. A speaker that is a state the article names (`state`) is that state."""

    id: str
    mention: str
    passages: tuple[str, ...]
    country: str | None = None
    state: bool = False
    #: its name in the brief's other language, made of its role and state ("Qatar foreign
    #: minister", "وزير الخارجية (سوريا)"), and the kind that role is; "" when its name gives no role
    other: str = ""
    kind: str = "person"

    def actor(self) -> Actor | None:
        """The speaker as an actor of a brief, when it has a name in both languages."""
        if not self.other or self.state:
            return None
        en, ar = (self.mention, self.other) if self.mention.isascii() else (self.other, self.mention)
        return Actor(mention=self.mention, id=self.id, name=Bilingual(en=en, ar=ar), kind=self.kind,
                     country=self.country)  # type: ignore[arg-type]


#: what stands before a surname that a later statement uses alone ("Mr Mekdad" after "Faisal al-Mekdad")
_HONORIFICS = {"mr", "mrs", "ms", "dr", "lord", "lady", "sir"}
#: what an Arabic speaker phrase calls its speaker, in English, the first found, and the kind of
#: party that is: its id and English name are that, after its state ("israel_official", "Israel
#: official"), so that a model has its English name and the brief can add it when the model does not
_ROLES = (("متحدث", "spokesperson", "person"), ("وزير الخارجيه", "foreign minister", "person"),
          ("وزاره الخارجيه", "foreign ministry", "government"),
          ("وزاره الدفاع", "defence ministry", "government"), ("رئيس الوزراء", "prime minister", "person"),
          ("نائب وزير", "deputy minister", "person"), ("وزير", "minister", "person"),
          ("وزاره", "ministry", "government"), ("سفير", "ambassador", "person"), ("سفيره", "ambassador", "person"),
          ("مسؤول", "official", "person"), ("مبعوث", "envoy", "person"),
          ("رئيس", "president", "person"), ("البيت الابيض", "White House", "government"),
          ("الجيش", "army", "government"), ("حكومه", "government", "government"))


def _key(name: str) -> str:
    return " ".join(normalize(name).casefold().split())


def _same(short: str, first: str) -> bool:
    """Whether a later name ("mr mekdad") is an earlier speaker's surname ("... faisal al-mekdad")."""
    words = short.split()
    return (len(words) == 2 and words[0] in _HONORIFICS and len(words[1]) >= 3
            and words[1] in re.split(r"[\s-]+", first) and short != first)


def _has(said: tuple[str, ...], part: tuple[str, ...]) -> bool:
    return any(said[i:i + len(part)] == part for i in range(len(said) - len(part) + 1))


def _country(name: str) -> str | None:
    """The state a speaker's name says it speaks for: "an Israeli official", "وزير الخارجية القطري"."""
    return next((iso for iso in COUNTRIES if party((), "state", iso).named_in(name)), None)


def _role(name: str) -> tuple[str, str, str]:
    """For a name in Arabic: its id, its English name and its kind, from its state and its role
    ("qatar_foreign_minister", "Qatar foreign minister", "person"); ("", "", "person") when its
    name gives no role (a state alone is no name for someone who speaks)."""
    said = words(name)
    found = [(en, kind) for ar, en, kind in _ROLES if _has(said, words(ar))]
    role, kind = found[0] if found else ("", "person")
    if role == "spokesperson" and len(found) > 1 and found[1][1] == "government":  # "المتحدث باسم وزارة الخارجية"
        role = f"{found[1][0]} spokesperson"
    country = _country(name)
    state = NAMES[country][0] if country else ""
    en = " ".join(p for p in (state, role) if p)
    if not role:
        return "", "", kind
    return re.sub(r"[^a-z0-9]+", "_", en.lower()), en[:1].upper() + en[1:], kind


#: the same for a speaker named in English: its role in Arabic (the longest found), then its state
#: in brackets ("Syria's Deputy Foreign Minister ..." is "نائب وزير الخارجية (سوريا)")
_EN_ROLES = (("deputy foreign minister", "نائب وزير الخارجية", "person"),
             ("foreign minister", "وزير الخارجية", "person"), ("secretary of state", "وزير الخارجية", "person"),
             ("defence secretary", "وزير الدفاع", "person"), ("defense secretary", "وزير الدفاع", "person"),
             ("defence minister", "وزير الدفاع", "person"), ("prime minister", "رئيس الوزراء", "person"),
             ("foreign ministry", "وزارة الخارجية", "government"), ("chief executive", "الرئيس التنفيذي", "person"),
             ("spokesman", "المتحدث", "person"), ("spokeswoman", "المتحدثة", "person"),
             ("spokesperson", "المتحدث", "person"), ("ambassador", "السفير", "person"), ("envoy", "المبعوث", "person"),
             ("president", "الرئيس", "person"), ("official", "مسؤول", "person"), ("minister", "الوزير", "person"),
             ("politician", "سياسي", "person"), ("ministry", "الوزارة", "government"),
             ("government", "الحكومة", "government"),
             ("army", "الجيش", "government"))


def _english_role(name: str) -> tuple[str, str]:
    """For a name in English: its name in Arabic and its kind, from its role and state; ("",
    "person") when its name gives no role."""
    said = tuple(re.findall(r"[a-z]+", name.lower()))
    found = [(ar, kind) for en, ar, kind in _EN_ROLES if _has(said, tuple(en.split()))]
    if not found:
        return "", "person"
    role, kind = found[0]
    if role.startswith("المتحدث") and any(k == "government" for _, k in found[1:]):  # "a government spokesperson"
        role = f"{role} باسم {next(ar for ar, k in found[1:] if k == 'government')}"
    country = _country(name)
    return (f"{role} ({NAMES[country][1]})" if country else role), kind


def _unique(slug: str, taken: set[str], n: int) -> str:
    slug = slug if slug and slug[0].isalpha() else f"speaker_{n}"
    base, k = slug, 2
    while slug in taken:
        slug, k = f"{base}_{k}", k + 1
    taken.add(slug)
    return slug


def _english_slug(name: str) -> str:
    """An id for a speaker named in Latin letters: its name's last two words."""
    found = re.findall(r"[a-z0-9]+", normalize(name.split(",")[0]).casefold())
    return "_".join([w for w in found if w not in _HONORIFICS and w not in ("the", "a", "an", "of")][-2:])


def speakers(found: Sequence[Statement], named: Sequence[NamedState]) -> list[Speaker]:
    """The speakers of `found` statements in the order the article first quotes them, one per name
    (a later "Mr Mekdad" is the earlier "Faisal al-Mekdad"); a speaker named as one of the `named`
    states ("Turkey insists", "The US said") is that state."""
    groups: dict[str, list[Statement]] = {}
    for st in found:
        if not st.name:
            continue
        key = _key(st.name)
        key = next((k for k in groups if _same(key, k)), key)
        groups.setdefault(key, []).append(st)
    forms = {f: state for state in named for f in COUNTRIES[state.iso]}
    out: list[Speaker] = []
    taken = {s.id for s in named}
    for n, (key, group) in enumerate(groups.items(), 1):
        passages = tuple(s.passage for s in group)
        state = forms.get(key.removeprefix("the "))
        if state is not None:
            out.append(Speaker(state.id, state.mention, passages, state.iso, state=True))
        elif (name := group[0].name).isascii():
            ar, kind = _english_role(name)
            out.append(Speaker(_unique(_english_slug(name), taken, n), name, passages, _country(name), other=ar,
                               kind=kind))
        else:
            slug, en, kind = _role(name)
            out.append(Speaker(_unique(slug, taken, n), name, passages, _country(name), other=en, kind=kind))
    return out
