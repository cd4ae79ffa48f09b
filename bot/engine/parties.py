"""The parties an article names, found before the model is asked: candidate actors for the prompt.

A small model leaves out most of an article's parties, or names them in a form the article does
not use. The program knows the states (`speakers.COUNTRIES`: names, adjectives, capitals in both
languages), so it offers each one the article names as a ready actor: an id, the article's own
words for it and its names in both languages. It also knows who speaks in the article's attributed
statements (`bot.engine.attribution`), so it offers each speaker too, in the article's words, with
what the article attributes to them; and the people it names by their office ("President Vladimir
Putin", "الرئيس الأمريكي دونالد ترامب"). Whether any of them is a party to anything is still the
model's choice, and the checks are the same.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from bot.engine.attribution import Statement
from bot.engine.normalize import Matcher, normalize
from bot.engine.schema import Actor, Bilingual
from bot.engine.speakers import COUNTRIES, index_of, variants, words

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
    article attributes to them; `country`, the state its name says it speaks for ("the Israeli
    minister"), if any. A speaker that is a state the article names (`state`) is that state, as is
    an official of it the article does not name ("an Israeli official")."""

    id: str
    mention: str
    passages: tuple[str, ...]
    country: str | None = None
    state: bool = False
    #: its name in the brief's other language, made of its role and state ("Foreign minister
    #: (Qatar)", "وزير الخارجية (سوريا)"), and the kind that role is; "" unless its name gives both
    other: str = ""
    kind: str = "person"
    #: where the article first names them: a person found by their office (`people`), not by
    #: what they say
    start: int = 0

    def actor(self) -> Actor | None:
        """The speaker as an actor of a brief, when it has a name in both languages."""
        if not self.other or self.state:
            return None
        en, ar = (self.other, self.mention) if _ARABIC.search(self.mention) else (self.mention, self.other)
        return Actor(mention=self.mention, id=self.id, name=Bilingual(en=en, ar=ar), kind=self.kind,
                     country=self.country)  # type: ignore[arg-type]


#: what stands before a surname that a later statement uses alone ("Mr Mekdad" after "Faisal al-Mekdad")
_HONORIFICS = {"mr", "mrs", "ms", "dr", "lord", "lady", "sir"}
_ARABIC = re.compile(r"[\u0600-\u06ff]")
_POSSESSIVE = re.compile(r"['’]s\b")

#: how an article calls a speaker's role (its forms in Arabic and English), its name in each
#: language and the kind of party it is. A speaker whose name gives its role and its state gets a
#: name in the brief's other language from them ("Foreign minister (Qatar)", "وزير الخارجية
#: (سوريا)"), so that the brief can name it in both when the model does not. The longest form
#: found wins: "نائب رئيس الوزراء" over "رئيس الوزراء" over "رئيس".
_ROLES: tuple[tuple[tuple[str, ...], str, str, str], ...] = (
    (("نائب رئيس الوزراء", "نائب رئيس الحكومة", "deputy prime minister"), "Deputy prime minister",
     "نائب رئيس الوزراء", "person"),
    (("رئيس الوزراء", "رئيس الحكومة", "prime minister", "premier"), "Prime minister", "رئيس الوزراء", "person"),
    (("نائب الرئيس", "vice president"), "Vice president", "نائب الرئيس", "person"),
    (("نائب وزير الخارجية", "deputy foreign minister"), "Deputy foreign minister", "نائب وزير الخارجية", "person"),
    (("وزير الخارجية", "foreign minister", "secretary of state"), "Foreign minister", "وزير الخارجية", "person"),
    (("وزير الدفاع", "defence minister", "defense minister", "defence secretary", "defense secretary"),
     "Defence minister", "وزير الدفاع", "person"),
    (("نائب وزير", "deputy minister"), "Deputy minister", "نائب وزير", "person"),
    (("المتحدث باسم وزارة الخارجية", "المتحدث بوزارة الخارجية", "الناطق باسم وزارة الخارجية",
      "foreign ministry spokesperson", "foreign ministry spokesman"),
     "Foreign ministry spokesperson", "المتحدث باسم وزارة الخارجية", "person"),
    (("المتحدث باسم الحكومة", "government spokesperson", "government spokesman"), "Government spokesperson",
     "المتحدث باسم الحكومة", "person"),
    (("المتحدث", "الناطق", "spokesperson", "spokesman", "spokeswoman"), "Spokesperson", "المتحدث", "person"),
    (("وزارة الخارجية", "foreign ministry", "foreign office"), "Foreign ministry", "وزارة الخارجية", "government"),
    (("وزارة الدفاع", "defence ministry", "defense ministry"), "Defence ministry", "وزارة الدفاع", "government"),
    (("وزارة", "ministry"), "Ministry", "الوزارة", "government"),
    (("وزير", "minister"), "Minister", "الوزير", "person"),
    (("سفير", "سفيرة", "ambassador"), "Ambassador", "السفير", "person"),
    (("مبعوث", "envoy"), "Envoy", "المبعوث", "person"),
    (("مسؤول", "official"), "Official", "مسؤول", "person"),
    (("رئيس", "president"), "President", "الرئيس", "person"),
    (("أمير", "emir"), "Emir", "الأمير", "person"),
    (("ملك", "king"), "King", "الملك", "person"),
    (("chancellor",), "Chancellor", "المستشار", "person"),  # in Arabic "مستشار" is any adviser
    (("الجيش", "army", "military"), "Army", "الجيش", "government"),
    (("الحكومة", "government"), "Government", "الحكومة", "government"),
)


def _key(name: str) -> str:
    return " ".join(normalize(name).casefold().split())


def _same(short: str, first: str) -> bool:
    """Whether a later name ("mr mekdad") is an earlier speaker's surname ("... faisal al-mekdad")."""
    said = short.split()
    return (len(said) == 2 and said[0] in _HONORIFICS and len(said[1]) >= 3
            and said[1] in re.split(r"[\s-]+", first) and short != first)


def _forms_in(said: tuple[str, ...]) -> list[tuple[int, int, str, str]]:
    """Each form of a state that a name's words hold: where it starts, how many words it has, the
    state and the form."""
    return [(at, len(words(form)), iso, form) for iso, forms in COUNTRIES.items() for form in forms
            if (at := index_of(said, words(form))) is not None]


def _country(said: tuple[str, ...]) -> str | None:
    """The state a speaker's name says it speaks for, the first it names: "the Israeli minister",
    "وزير الخارجية القطري", "the US envoy to Israel" (the United States)."""
    found = [(at, iso) for at, _, iso, _ in _forms_in(said)]
    return min(found)[1] if found else None


#: an official's forms; the words that may stand between it and its state's adjective ("a senior
#: Israeli security official", "مسؤول أمني إسرائيلي"); and those that may follow an Arabic one ("مسؤول
#: إسرائيلي آخر", "… مشارك في المفاوضات"), where a name would otherwise stand
_OFFICIAL = (words("official"), words("مسؤول"))
_QUALIFIERS = frozenset(w for q in ("senior", "top", "high-ranking", "former", "security", "military", "government",
                                    "كبير", "رفيع", "بارز", "سابق", "أمني", "عسكري", "حكومي") for w in words(q))
_AFTER = frozenset(w for q in ("آخر", "ثان", "مطلع", "مشارك", "مقرب", "سابق", "كبير", "رفيع", "بارز", "أمني", "عسكري")
                   for w in words(q))
#: forms of a state that name one of its bodies: an official of the White House is that body's
_BODIES = frozenset({"white house", "kremlin", "البيت الابيض", "الكرملين"})
_CAPITALISED = re.compile(r"\b[A-Z]")


def _unnamed_official(name: str) -> str | None:
    """The state an unnamed official speaks for, when its name is only that: "an Israeli official",
    "a senior Qatari official familiar with the talks", "مسؤول إسرائيلي آخر" (Israel). An official
    of a body ("a senior White House official", "مسؤول كبير في البيت الأبيض") or with a name of
    their own ("Israeli official Ophir Falk", "an official, Yossi Cohen") is not one."""
    if "," in name or "،" in name:
        return None
    said = words(name)
    at = next((i for form in _OFFICIAL if (i := index_of(said, form)) is not None), None)
    if at is None:
        return None
    arabic = bool(_ARABIC.search(name))
    if not arabic and _CAPITALISED.search(name[name.lower().rindex("official"):]):
        return None  # "Israeli official Ophir Falk"
    for j, n, iso, form in _forms_in(said):
        between = said[j + n:at] if j < at else said[at + 1:j]
        after = said[j + n:j + n + 1] if arabic and j > at else ()
        if all(w in _QUALIFIERS for w in between) and all(w in _AFTER for w in after):
            return None if form in _BODIES else iso  # not "مسؤول إسرائيلي يوسي كوهين"
    return None


def _role(said: tuple[str, ...]) -> tuple[str, str, str] | None:
    """The role a speaker's name gives (the longest form found): its name in English and in Arabic,
    and its kind."""
    found = [(-len(words(form)), n) for n, (forms, *_) in enumerate(_ROLES) for form in forms
             if index_of(said, words(form)) is not None]
    if not found:
        return None
    _, en, ar, kind = _ROLES[min(found)[1]]
    return en, ar, kind


def _unique(slug: str, taken: set[str], n: int) -> str:
    slug = slug if slug and slug[0].isalpha() else f"speaker_{n}"
    base, k = slug, 2
    while slug in taken:
        slug, k = f"{base}_{k}", k + 1
    taken.add(slug)
    return slug


def _slug(text: str) -> str:
    return "_".join(w for w in re.findall(r"[a-z0-9]+", normalize(text).casefold()))


def _speaker(name: str, passages: tuple[str, ...], taken: set[str], n: int) -> Speaker:
    """A speaker that is not a state: its id, its country and, when its name gives its role and
    state, its name in the brief's other language."""
    said = words(_POSSESSIVE.sub("", name))
    country, role = _country(said), _role(said)
    arabic = bool(_ARABIC.search(name))
    last = [w for w in _POSSESSIVE.sub("", name.split(",")[0]).split() if w.lower() not in _HONORIFICS][-2:]
    if not arabic and last and all(w.split("-")[-1][:1].isupper() for w in last):  # a person: "al_mekdad"
        slug = _slug(" ".join(last))
    elif country and role:  # its state and role: "qatar_foreign_minister"
        slug = _slug(f"{NAMES[country][0]} {role[0]}")
    else:
        slug = "" if arabic else _slug(" ".join(w for w in last if w.lower() not in ("the", "a", "an", "of")))
    if not (country and role):
        return Speaker(_unique(slug, taken, n), name, passages, country)
    en, ar, kind = role
    other = f"{en} ({NAMES[country][0]})" if arabic else f"{ar} ({NAMES[country][1]})"
    return Speaker(_unique(slug, taken, n), name, passages, country, other=other, kind=kind)


def speakers(found: Sequence[Statement], named: Sequence[NamedState]) -> list[Speaker]:
    """The speakers of `found` statements in the order the article first quotes them, one per name
    (a later "Mr Mekdad" is the earlier "Faisal al-Mekdad"). A speaker named as one of the `named`
    states ("Turkey insists", "The US said") is that state, and so is an unnamed official of it ("an
    Israeli official", "مسؤول إسرائيلي آخر"): a party is a state, a body or a person the article
    names, and an official the article does not name speaks for their state."""
    forms = {f: state for state in named for f in COUNTRIES[state.iso]}
    by_iso = {state.iso: state for state in named}
    groups: dict[str, list[Statement]] = {}
    states: dict[str, NamedState] = {}
    for st in found:
        if not st.name:
            continue
        key = _key(st.name)
        state = forms.get(key.removeprefix("the ")) or by_iso.get(_unnamed_official(st.name) or "")
        if state is not None:
            key = f"state:{state.id}"
            states[key] = state
        key = next((k for k in groups if _same(key, k)), key)
        groups.setdefault(key, []).append(st)
    out: list[Speaker] = []
    taken = {s.id for s in named}
    for n, (key, group) in enumerate(groups.items(), 1):
        passages = tuple(s.passage for s in group)
        if key in states:
            state = states[key]
            out.append(Speaker(state.id, state.mention, passages, state.iso, state=True))
        else:
            out.append(_speaker(group[0].name, passages, taken, n))
    return out


# --- people the article names by their office ---------------------------------------------------
#: offices a person is named by, besides a speaker's roles (`_ROLES` of kind person); an official
#: is left to the speakers (an unnamed one is their state)
_OFFICES = ("secretary-general", "secretary general", "senator", "commissioner", "الأمين العام", "وزيرة",
            "المستشار", "المستشارة")  # "المستشارة الألمانية": a chancellor only beside the state
#: the offices that name a person without their state ("الرئيس بشار الأسد"); any other needs one
_BY_NAME_ALONE = frozenset({"الرئيس", "الملك", "الأمير"})
#: an English name: capitalised words and the small words of a name, on one line ("Bashar al-Assad")
_EN_PART = r"(?:[A-Z][\w'’-]*|al-[\w-]+|(?:bin|de|van|von)(?=[^\S\n]))"
_EN_NAME = re.compile(rf"[^\S\n]+({_EN_PART}(?:[^\S\n]+{_EN_PART}){{1,3}})")
#: a capitalised word that ends a name: a headline's verb ("President Trump Says Iran Deal")
_EN_NOT_NAME = frozenset({"says", "said", "tells", "told", "warns", "urges", "calls", "meets", "visits", "vows",
                          "insists", "denies", "rejects", "accuses", "backs", "slams", "to", "and", "of", "the"})
#: an Arabic word of a name, on the same line
_AR_WORD = re.compile(r"[^\S\n]+([\u0621-\u064a\u064b-\u0652\u0670]{2,})")
#: words that join the next word to a name ("تميم بن حمد آل ثاني"), and those that start a
#: compound part of it ("عبد الفتاح", "أبو مازن"); a title before a name; a word between an office
#: and the name ("الرئيس السابق باراك أوباما")
_JOINS = frozenset({"بن", "بنت", "ابن", "آل"})
_COMPOUND = frozenset({"عبد", "أبو", "ابو"})
_TITLES = frozenset({"الشيخ", "الأمير"})
_FORMER = frozenset({"السابق", "السابقة", "الحالي", "الجديد"})
#: words an Arabic name never is, the words that follow a name in a sentence (prepositions,
#: particles, verbs of saying), also after a joined و, ف, ب or ل ("وفي", "بأن"): "الرئيس الروسي
#: فلاديمير بوتين في اتصال" names "فلاديمير بوتين"
_NOT_NAME = re.compile(r"(?:في|باسم|على|من|إلى|الى|عن|أن|إن|ان|انه|أنه|قد|لم|لن|الذي|التي|خلال|مع|بعد|قبل|"
                       r"أمس|امس|اليوم|عبر|حول|لدى|بين|كما|ثم|أو|هو|هي|يوم|منذ|حتى|عند|قال|قالت|أكد|اكد|"
                       r"أعلن|اعلن|أشار|اشار|أضاف|اضاف|أوضح|اوضح|صرح|يقول|تقول|يدعو|تدعو|دعا|يدعم|أن|لأن|لان)")
#: at most this many people named by their office are offered (the ones the article names first)
MAX_PEOPLE = 6


@functools.cache
def _offices() -> tuple[str, ...]:
    """The offices a person is named by, longest first ("prime minister" before "minister")."""
    found = {f for forms, *_, kind in _ROLES if kind == "person" and "official" not in forms for f in forms}
    return tuple(sorted(found | set(_OFFICES), key=len, reverse=True))


def _not_name(word: str) -> bool:
    return bool(_NOT_NAME.fullmatch(word) or (word[:1] in "وفبل" and _NOT_NAME.fullmatch(word[1:])))


def _arabic_name(text: str, at: int, titled: bool) -> tuple[int, int] | None:
    """The Arabic name that starts at `at`, as article offsets: a title when `titled` asks for one
    ("الشيخ"), then a first and a family name, with the words they join ("بن حمد", "آل ثاني",
    "عبد الفتاح"); a third name only when the article uses it apart ("رجب طيب أردوغان", where it
    writes "أردوغان" again). At most ten words are read."""
    tokens: list[tuple[int, int, str]] = []
    pos = at
    while len(tokens) < 10 and (m := _AR_WORD.match(text, pos)) is not None:
        tokens.append((m.start(1), m.end(1), m.group(1)))
        pos = m.end()
    i = 0
    if titled:
        if not tokens or tokens[0][2] not in _TITLES:
            return None
        i = 1
    if i < len(tokens) and tokens[i][2] in _FORMER:
        i += 1
    name: list[tuple[int, int, str]] = []
    free = 0  # its words that no other word joins to it
    while i < len(tokens):
        word = tokens[i][2]
        if (name and word in _JOINS) or word in _COMPOUND:
            if i + 1 == len(tokens) or _not_name(tokens[i + 1][2]):
                break
            free += word in _COMPOUND
            name += tokens[i:i + 2]
            i += 2
            continue
        if (_not_name(word) or word in _JOINS or (not name and word.startswith("ال"))
                or any(w in _JOINS for *_, w in name)):
            break  # after "بن حمد" or "آل ثاني" only another such part goes on with the name
        if free >= 2 and not re.search(rf"(?<![\w])[وفبل]?{re.escape(word)}(?![\w])",
                                       text[:name[-1][0]] + " " + text[tokens[i][1]:]):
            break
        name.append(tokens[i])
        free += 1
        i += 1
    return (name[0][0], name[-1][1]) if len(name) >= 2 else None


def _english_name(text: str, at: int) -> tuple[int, int] | None:
    """The English name that starts at `at`: its words up to a possessive (which ends it) or a
    headline's verb; None when fewer than two."""
    m = _EN_NAME.match(text, at)
    if m is None:
        return None
    parts = list(re.finditer(r"\S+", m.group(1)))
    end = 0
    for n, part in enumerate(parts):
        word = part.group()
        if word.lower() in _EN_NOT_NAME:
            break
        end = n + 1
        if word.endswith(("'s", "’s")):
            break
    if end < 2:
        return None
    last = parts[end - 1]
    return m.start(1), m.start(1) + last.end() - (2 if last.group().endswith(("'s", "’s")) else 0)


#: a word of the text as a state's form may hold it ("U.S.", "al-Sham")
_TOKEN = re.compile(r"[\w.'’-]+")


@functools.cache
def _state_forms() -> dict[str, list[tuple[str, ...]]]:
    """Each state's forms (as `words` gives them), by each spelling of their first word."""
    out: dict[str, list[tuple[str, ...]]] = {}
    for forms in COUNTRIES.values():
        for form in forms:
            said = words(form)
            if said:
                for v in {said[0], *variants(said[0])}:
                    out.setdefault(v, []).append(said)
    return out


def _state_words(text: str, tokens: list[re.Match[str]]) -> int:
    """How many of `tokens` (from the first) are a state's form: "الأمريكي", "الألمانية", "United
    States"; 0 when none. Compared as the speaker check compares them (`index_of`)."""
    for n in (3, 2, 1):
        if len(tokens) >= n:
            said = words(text[tokens[0].start():tokens[n - 1].end()])
            if len(said) == n and any(len(form) == n and index_of(said, form) == 0
                                      for v in variants(said[0]) for form in _state_forms().get(v, ())):
                return n
    return 0


def _named(text: str, office: re.Match[str]) -> tuple[int, int, int] | None:
    """The person an office found in `text` names: where the office (or a state before it) starts,
    where the name starts and where it ends. "US Secretary of State John Kerry", "الرئيس الأمريكي
    دونالد ترامب", "أمير قطر الشيخ تميم بن حمد"; None when no name follows it."""
    start, end = office.span(1)
    if office.group(1).isascii():
        before = list(_TOKEN.finditer(text, max(0, start - 40), start))[-3:]
        for n in (3, 2, 1):
            if (len(before) >= n and before[-n].group()[0].isupper() and not text[before[-1].end():start].strip()
                    and _state_words(text, before[-n:]) == n):
                start = before[-n].start()
                break
        name = _english_name(text, end)
        return (start, *name) if name else None
    after = list(_TOKEN.finditer(text, end, end + 60))[:3]
    n = _state_words(text, after) if after and not text[end:after[0].start()].strip(" ") else 0
    if not n and office.group(1) not in _BY_NAME_ALONE:
        return None  # "وزير خارجية أوباما", "السفيرة مجموعة صغيرة": an office of no state, no name
    # after a state's name the person has a title: "أمير قطر الشيخ تميم", not "أمير قطر أرجأ خطابه"
    titled = bool(n) and not after[n - 1].group().endswith(("ي", "ية", "يه"))
    name = _arabic_name(text, after[n - 1].end() if n else end, titled)
    return (start, *name) if name else None


def people(matcher: Matcher, named: Sequence[NamedState], said: Sequence[Speaker],
           limit: int = MAX_PEOPLE) -> list[Speaker]:
    """The people `matcher`'s article names by their office, who are not among the speakers `said`:
    "Russian President Vladimir Putin", "Chancellor Angela Merkel", "الرئيس الأمريكي دونالد ترامب",
    "أمير قطر الشيخ تميم بن حمد", in the order it first names them, each once. A party to a
    pressure is as often someone the article names as someone it quotes; each is offered as a
    speaker's line is, without statements (`start`: where the article first names them)."""
    text = matcher.article
    found: list[tuple[int, int, int]] = []
    for office in _offices():
        # an Arabic office may be definite and joined: "رئيس", "الرئيس", "ورئيس", "وبالرئيس"
        flags, joined = (re.IGNORECASE, "") if office.isascii() else (0, "(?:[وف])?(?:[بل](?=ال))?")
        the = "" if office.isascii() or office.startswith("ال") else "(?:ال)?"
        for m in re.finditer(rf"(?<![\w-]){joined}({the}{re.escape(office)})(?![\w-])", text, flags):
            if (span := _named(text, m)) is not None:
                found.append(span)
    # the same person, once: a speaker ("Mr Kerry", "ترامب", the minister "محمد بن عبد الرحمن آل
    # ثاني"), or named by two offices; the Emir "تميم بن حمد آل ثاني" is not his minister
    spoken = [tuple(w for w in words(s.mention) if w not in _HONORIFICS) for s in said if not s.state]
    names: list[tuple[str, ...]] = []
    kept: list[tuple[int, int]] = []
    for start, at, end in sorted(found):
        who = words(text[at:end])
        if any(index_of(s, who) is not None or (s and index_of(who, s) is not None) for s in [*spoken, *names]):
            continue
        names.append(who)
        kept.append((start, end))
    taken = {s.id for s in named} | {s.id for s in said}
    return [replace(_speaker(text[start:end], (), taken, n), start=start)
            for n, (start, end) in enumerate(kept[:limit], len(said) + 1)]
