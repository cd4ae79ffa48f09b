"""Whether a phrase of the article names a party of the brief: the speaker check of every quote
and the party check of every pressure.

A party is named by its mention or a name in either language (whole words; Arabic clitics and the
article ال, an English possessive 's, are not part of a word here), by an English name's initials
("UN" for United Nations), by a person's surname ("Mr Mekdad"), or by a recognisable form built
from its country: any form of the country for a state ("an Israeli official" for `israel`); for
a government, a form of the country beside an official's title; for anyone else with a country,
the country beside the other words of its name ("the Egyptian foreign minister" for an actor
named "Egyptian Foreign Minister" or "وزير الخارجية المصري").
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.engine.attribution import Attributions
from bot.engine.normalize import Matcher, match_form
from bot.engine.schema import (
    Actor,
    Brief,
    CheckIssue,
    Offsets,
    PartiesCheck,
    Position,
    Pressure,
    Source,
    SpanCheck,
    SpeakerCheck,
)

# ISO 3166-1 alpha-3 → names and adjectives in English and Arabic (normal form is applied on use)
COUNTRIES: dict[str, tuple[str, ...]] = {
    "EGY": ("egypt", "egyptian", "egyptians", "cairo", "مصر", "مصري", "مصريه", "مصريون", "القاهره"),
    "QAT": ("qatar", "qatari", "qataris", "doha", "قطر", "قطري", "قطريه", "الدوحه"),
    "ISR": ("israel", "israeli", "israelis", "tel aviv", "اسرائيل", "اسرائيلي", "اسرائيليه", "تل ابيب"),
    "PSE": ("palestine", "palestinian", "palestinians", "فلسطين", "فلسطيني", "فلسطينيه", "فلسطينيون"),
    "USA": ("united states", "us", "u.s", "america", "american", "americans", "washington", "white house",
            "الولايات المتحده", "امريكا", "اميركا", "امريكي", "اميركي", "امريكيه", "اميركيه", "واشنطن",
            "البيت الابيض"),
    "GBR": ("united kingdom", "uk", "britain", "british", "london", "بريطانيا", "بريطاني", "بريطانيه", "لندن"),
    "FRA": ("france", "french", "paris", "فرنسا", "فرنسي", "فرنسيه", "باريس"),
    "DEU": ("germany", "german", "berlin", "المانيا", "الماني", "المانيه", "برلين"),
    "RUS": ("russia", "russian", "russians", "moscow", "kremlin", "روسيا", "روسي", "روسيه", "موسكو", "الكرملين"),
    "CHN": ("china", "chinese", "beijing", "الصين", "صيني", "صينيه", "بكين"),
    "IRN": ("iran", "iranian", "iranians", "tehran", "ايران", "ايراني", "ايرانيه", "طهران"),
    "IRQ": ("iraq", "iraqi", "iraqis", "baghdad", "العراق", "عراقي", "عراقيه", "بغداد"),
    "SYR": ("syria", "syrian", "syrians", "damascus", "سوريا", "سوريه", "سوري", "دمشق"),
    "LBN": ("lebanon", "lebanese", "beirut", "لبنان", "لبناني", "لبنانيه", "بيروت"),
    "JOR": ("jordan", "jordanian", "amman", "الاردن", "اردني", "اردنيه", "عمان"),
    "SAU": ("saudi arabia", "saudi", "saudis", "riyadh", "السعوديه", "سعودي", "الرياض"),
    "ARE": ("united arab emirates", "uae", "emirati", "abu dhabi", "الامارات", "اماراتي", "اماراتيه", "ابوظبي"),
    "TUR": ("turkey", "turkiye", "turkish", "ankara", "تركيا", "تركي", "تركيه", "انقره"),
    "YEM": ("yemen", "yemeni", "sanaa", "اليمن", "يمني", "يمنيه", "صنعاء"),
    "LBY": ("libya", "libyan", "tripoli", "ليبيا", "ليبي", "ليبيه", "طرابلس"),
    "SDN": ("sudan", "sudanese", "khartoum", "السودان", "سوداني", "سودانيه", "الخرطوم"),
    "TUN": ("tunisia", "tunisian", "tunis", "تونس", "تونسي", "تونسيه"),
    "DZA": ("algeria", "algerian", "algiers", "الجزائر", "جزائري", "جزائريه"),
    "MAR": ("morocco", "moroccan", "rabat", "المغرب", "مغربي", "مغربيه", "الرباط"),
    "KWT": ("kuwait", "kuwaiti", "الكويت", "كويتي", "كويتيه"),
    "BHR": ("bahrain", "bahraini", "manama", "البحرين", "بحريني", "بحرينيه", "المنامه"),
    "OMN": ("oman", "omani", "muscat", "سلطنه عمان", "عماني", "عمانيه", "مسقط"),
    "AFG": ("afghanistan", "afghan", "kabul", "افغانستان", "افغاني", "كابول"),
    "PAK": ("pakistan", "pakistani", "islamabad", "باكستان", "باكستاني", "باكستانيه", "اسلام اباد"),
    "IND": ("india", "indian", "new delhi", "الهند", "هندي", "هنديه", "نيودلهي"),
    "UKR": ("ukraine", "ukrainian", "kyiv", "kiev", "اوكرانيا", "اوكراني", "اوكرانيه", "كييف"),
    "HUN": ("hungary", "hungarian", "budapest", "المجر", "مجري", "بودابست"),
    "POL": ("poland", "polish", "warsaw", "بولندا", "بولندي", "بولنديه", "وارسو"),
    "ITA": ("italy", "italian", "rome", "ايطاليا", "ايطالي", "ايطاليه", "روما"),
    "ESP": ("spain", "spanish", "madrid", "اسبانيا", "اسباني", "مدريد"),
    "JPN": ("japan", "japanese", "tokyo", "اليابان", "ياباني", "يابانيه", "طوكيو"),
    "KOR": ("south korea", "korean", "seoul", "كوريا الجنوبيه", "كوري", "سيول"),
    "PRK": ("north korea", "pyongyang", "كوريا الشماليه", "بيونغ يانغ"),
    "SOM": ("somalia", "somali", "mogadishu", "الصومال", "صومالي", "مقديشو"),
    "ETH": ("ethiopia", "ethiopian", "addis ababa", "اثيوبيا", "اثيوبي"),
    "VEN": ("venezuela", "venezuelan", "caracas", "فنزويلا", "فنزويلي", "كاراكاس"),
    "MEX": ("mexico", "mexican", "المكسيك", "مكسيكي"),
    "CAN": ("canada", "canadian", "ottawa", "كندا", "كندي", "اوتاوا"),
    "AUS": ("australia", "australian", "canberra", "استراليا", "استرالي"),
    "NGA": ("nigeria", "nigerian", "abuja", "نيجيريا", "نيجيري"),
    "MDV": ("maldives", "maldivian", "المالديف", "مالديفي"),
    "MRT": ("mauritania", "mauritanian", "nouakchott", "موريتانيا", "موريتاني", "موريتانيه", "نواكشوط"),
}
#: words for an official of a government (a government is named by its country beside one)
OFFICIAL_WORDS = frozenset(match_form(w) for w in (
    "official", "officials", "minister", "ministry", "spokesman", "spokeswoman", "spokesperson", "government",
    "authorities", "cabinet", "president", "presidency", "prime", "foreign", "office", "envoy", "ambassador",
    "diplomat", "diplomats", "army", "military",
    "مسؤول", "مسؤولون", "مسؤولين", "وزير", "وزاره", "متحدث", "ناطق", "حكومه", "سلطات", "رئيس", "رئاسه",
    "مبعوث", "سفير", "دبلوماسي", "خارجيه", "مكتب", "جيش", "مجلس"))
#: words that say nothing of which party it is
_STOP = frozenset(match_form(w) for w in (
    "the", "of", "a", "an", "and", "for", "in", "on", "to", "mr", "mrs", "ms", "dr", "s",
    "في", "من", "علي", "الي", "عن", "و", "ال"))
#: words that say what kind of body a party is, not which: "حركة حماس" is also "حماس"
_GENERIC = frozenset(match_form(w) for w in (
    "movement", "group", "party", "organisation", "organization", "militia", "forces", "حركه", "حزب", "جماعه",
    "منظمه", "تنظيم", "ميليشيا", "قوات"))
#: the article with what may be joined before it ("وبال", "لل"), which a word never starts with;
#: a lone joined letter may also be the word's own first letter ("بريطانيا"), so a word is
#: compared both with and without it (`variants`)
_AR_ARTICLE = re.compile(r"^[وف]?(?:[بلك]?ال|لل)(?=\w{2})")
_AR_JOINED = re.compile(r"^(?:[وف]?[بلك]|[وف])(?=\w{2})")
_WORDS = re.compile(r"[\w.]+")
#: how many words on either side of a country's name a recognisable form's other words may stand
_NEAR = 4


def _word(token: str) -> str:
    """A word's comparable form: Arabic without its proclitics and ال, English without 's."""
    token = token.strip(".")
    if token.endswith("'s") or token.endswith("’s"):
        token = token[:-2]
    if token and "\u0600" <= token[0] <= "\u06ff":
        token = _AR_ARTICLE.sub("", token)
    return token


@functools.lru_cache(maxsize=4096)
def words(text: str) -> tuple[str, ...]:
    """The comparable words of a name or phrase (cached: each brief asks about the same phrases)."""
    return tuple(w for w in (_word(t) for t in _WORDS.findall(match_form(text))) if w)


@functools.lru_cache(maxsize=8192)
def variants(word: str, joined: bool = True) -> frozenset[str]:
    """A word and its Arabic relative-adjective and plural forms, for comparing adjectives; with
    `joined`, an Arabic word also without a joined letter before it (وقطر → قطر; بريطانيا stays
    itself too). Only the text looked in is read so, never the name looked for: "لبيد" (Lapid)
    must not become the connector "بيد"."""
    out = set()
    # the text's "الالمانيه" is read "المانيه" (`_word`), but Germany's own ال goes from its forms too
    arabic = joined and "\u0600" <= word[:1] <= "\u06ff"
    for w in {word, _AR_JOINED.sub("", word), word.removeprefix("ال")} if arabic else {word}:
        out.add(w)
        if w.endswith("ه") and len(w) > 3:
            out.add(w[:-1])  # مصريه → مصري
        if w.endswith(("ون", "ين")) and len(w) > 4:
            out.add(w[:-2])
        if w.endswith("s") and len(w) > 4:
            out.add(w[:-1])  # Israelis → Israeli
    return frozenset(out)


def index_of(haystack: Sequence[str], needle: Sequence[str]) -> int | None:
    """Where `needle`'s words first stand together, in order, in `haystack` (both from `words`)."""
    if not needle or len(needle) > len(haystack):
        return None
    bag = _bag(tuple(haystack))
    if any(not (variants(w, False) & bag) for w in needle):
        return None  # a word of the needle is nowhere: no need to look for the order
    forms = [variants(w) for w in haystack]
    wanted = [variants(w, False) for w in needle]
    return next((i for i in range(len(haystack) - len(needle) + 1)
                 if all(forms[i + k] & wanted[k] for k in range(len(needle)))), None)


def _contains(haystack: Sequence[str], needle: Sequence[str]) -> bool:
    """Whether `needle`'s words stand together, in order, in `haystack`."""
    return index_of(haystack, needle) is not None


@functools.lru_cache(maxsize=4096)
def _bag(haystack: tuple[str, ...]) -> frozenset[str]:
    return frozenset(v for w in haystack for v in variants(w))


def _initials(name: str) -> str | None:
    caps = [w for w in re.findall(r"[A-Za-z]+", name) if w[0].isupper() and w.lower() not in _STOP]
    return "".join(w[0] for w in caps).lower() if len(caps) >= 2 else None


@dataclass(frozen=True)
class Party:
    """What names one party: `forms` (each a word list, any of which names it) and a recognisable
    form built from `country` (a state: any form of it; a government: beside an official's title;
    anyone else: beside one of the `beside` word sets, the rest of one of its names)."""

    forms: tuple[tuple[str, ...], ...]
    country: tuple[tuple[str, ...], ...] = ()
    beside: tuple[frozenset[str], ...] = ()
    state: bool = False
    officials: bool = False

    def score(self, phrase: str) -> float:
        return _score(self, phrase)

    def _score(self, phrase: str) -> float:
        """How specifically `phrase` names this party: the words of the longest of its names found
        there; half a word for its country alone (a state), and half a word more than the words
        beside its country for a recognisable form; 0 when it does not name it."""
        got = words(phrase)
        best = max((len(f) for f in self.forms if _contains(got, f)), default=0)
        if best or not self.country or not any(_contains(got, c) for c in self.country):
            return float(best)
        if self.state:
            return 0.5
        best_form = 0.0
        for at in range(len(got)):  # the country and the words beside it within a few words
            if not any(_contains(got[at:at + len(c)], c) for c in self.country):
                continue
            near = {v for w in got[max(0, at - _NEAR):at + _NEAR + 1] for v in variants(w)}
            found = [len(need) for need in self.beside if need <= near]
            if found:
                best_form = max(best_form, 0.5 + max(found))
            elif self.officials and near & OFFICIAL_WORDS:
                best_form = max(best_form, 0.5)
        return best_form

    def named_in(self, phrase: str) -> bool:
        return self.score(phrase) > 0


@functools.lru_cache(maxsize=8192)
def _score(party: Party, phrase: str) -> float:
    return party._score(phrase)  # the same party and phrase come up for every quote of a brief


def party(names: Iterable[str], kind: str | None = None, country: str | None = None) -> Party:
    """The forms that name a party with these names (mention, name.en, name.ar), of this kind and country."""
    return _party(tuple(n for n in names if n and n.strip()), kind, country)


@functools.lru_cache(maxsize=2048)
def _party(names: tuple[str, ...], kind: str | None, country: str | None) -> Party:
    forms: set[tuple[str, ...]] = set()
    country_forms = tuple(tuple(words(c)) for c in COUNTRIES.get(country or "", ()))
    country_words = {w for c in country_forms for w in c for w in variants(w, False)}
    beside: set[frozenset[str]] = set()
    for name in names:
        ws = [w for w in words(name) if w not in _STOP] or list(words(name))
        if ws:
            forms.add(tuple(words(re.sub(r"^(the|ال)\s+", "", name, flags=re.IGNORECASE))))
        core = tuple(w for w in ws if w not in _GENERIC)
        if core and len(core) < len(ws):
            forms.add(core)
        short = _initials(name)
        if short and len(short) >= 2:
            forms.add((short,))
        if kind == "person" and len(ws) >= 2 and len(ws[-1]) >= 3:
            forms.add((ws[-1],))  # "Mr Mekdad", "المقداد"
        rest = frozenset(w for w in ws if not (variants(w, False) & country_words))
        if rest and len(rest) < len(ws):
            beside.add(rest)
    forms.discard(())
    return Party(forms=tuple(sorted(forms)), country=country_forms, beside=tuple(beside), state=kind == "state",
                 officials=kind == "government")


# --- the checks --------------------------------------------------------------------------------
def actor_party(actor: Actor) -> Party:
    return party([actor.mention, actor.name.en, actor.name.ar], actor.kind, actor.country)


def _names_source(who: str, source: Source) -> bool:
    """A speaker phrase names a cited source: the source's name is in it, or it is (two words or
    more of) the source's name ("مصادر مطلعة" for "مصادر مطلعة على سير المفاوضات")."""
    if party([source.name.en, source.name.ar]).named_in(who):
        return True
    got = [w for w in words(who) if w not in _STOP]
    return len(got) >= 2 and any(_contains(words(n), got) for n in (source.name.en, source.name.ar))


def check_speaker(att: Attributions, start: int, end: int, actor: Actor | None, sources: Sequence[Source] = (),
                  others: Sequence[Actor] = ()) -> SpeakerCheck:
    """The speaker check of the quote found at article offsets [start, end). The attribution must
    name the actor at least as specifically as it names any of the brief's `others` ("Turkish
    Foreign Minister Mevlut Cavusoglu" is Cavusoglu's, not Turkey's, when the brief has both), or
    name a cited source that is not itself another actor of the brief."""
    a = att.for_span(start, end)
    if a is None:
        return SpeakerCheck(confirmed=False)
    who = a.who
    rivals = [o for o in others if actor is None or o.id != actor.id]
    confirmed = False
    if who and actor is not None:
        mine = actor_party(actor).score(who)
        # a whole sentence names several parties (and what they do to one another): there only a
        # person named more specifically is taken to be the speaker instead
        rivals = [o for o in rivals if o.kind == "person"] if a.loose else rivals
        confirmed = mine > 0 and all(actor_party(o).score(who) <= mine for o in rivals)
    if who and not confirmed:  # a cited source: the speaker, or the outlet that relays it ("نقلت القناة 12 عن ...")
        confirmed = any((_names_source(who, s) or (a.via and _names_source(a.via, s))) and not any(
            actor_party(o).named_in(n) for o in rivals for n in (s.name.en, s.name.ar)) for s in sources)
    return SpeakerCheck(confirmed=confirmed, found_at=Offsets(start=a.start, end=a.end), speaker=a.speaker)


def check_parties(att: Attributions, start: int, end: int, parties: Sequence[tuple[str, Actor | None]]) -> PartiesCheck:
    """The party check of the evidence found at article offsets [start, end): each (id, actor) is
    named in the evidence's sentence(s), or is the speaker a pronoun there stands for."""
    first, last = att.sentences_of(start, end)
    text = " · ".join(att.sentence_text(i) for i in range(first, last + 1))
    text += " · " + " · ".join(a.who for a in att.all if first <= a.sentence <= last and a.who)
    missing = [ident for ident, actor in parties if actor is None or not actor_party(actor).named_in(text)]
    s, e = att.sentence_span(first)[0], att.sentence_span(last)[1]
    return PartiesCheck(confirmed=not missing, found_at=Offsets(start=s, end=e), missing=list(dict.fromkeys(missing)))


# --- a brief's checks ------------------------------------------------------------------------------
class Grounds(Protocol):
    """What the checks need of `grounding.Grounds`: the article's spans and its reported speech."""

    matcher: Matcher

    @property
    def attributions(self) -> Attributions: ...

    def span(self, text: str) -> SpanCheck: ...


def speaker_of(grounds: Grounds, brief: Brief, position: Position, quote: SpanCheck) -> SpeakerCheck:
    """Whether the article attributes the verified `quote` to the position's actor or a source it
    cites; a passage two speakers say is confirmed where the actor says it."""
    assert quote.start is not None and quote.end is not None
    actor = next((a for a in brief.actors if a.id == position.actor), None)
    cited = [s for s in brief.sources if s.id in position.source_ids]
    places = [(m.start, m.end) for m in grounds.matcher.find_all(position.quote or "")] or [(quote.start, quote.end)]
    checks = [check_speaker(grounds.attributions, s, e, actor, cited, brief.actors) for s, e in places]
    return next((c for c in checks if c.confirmed), checks[0])


def parties_of(grounds: Grounds, brief: Brief, pressure: Pressure, evidence: SpanCheck) -> PartiesCheck:
    """Whether the verified `evidence`'s sentence names each actor and target of the pressure."""
    assert evidence.start is not None and evidence.end is not None
    ids = list(dict.fromkeys([*pressure.actors, *pressure.targets]))
    known = {a.id: a for a in brief.actors}
    return check_parties(grounds.attributions, evidence.start, evidence.end, [(i, known.get(i)) for i in ids])


def _sentence_at(att: Attributions, at: int) -> str:
    return att.sentence_text(att.sentences_of(at, at + 1)[0]) if att.sentences else ""


def issues(grounds: Grounds, brief: Brief) -> list[CheckIssue]:
    """A verified quote the article does not attribute to its actor, and verified evidence whose
    sentence does not name its parties, each with the sentence the model should look at."""
    out: list[CheckIssue] = []
    actor_ids = {a.id for a in brief.actors}
    for i, q in enumerate(brief.positions):
        quote = grounds.span(q.quote) if q.quote else None
        if quote is None or not quote.verified or q.actor not in actor_ids:
            continue
        said = speaker_of(grounds, brief, q, quote)
        if said.confirmed:
            continue
        where = said.found_at.start if said.found_at else quote.start or 0
        who = f"to {said.speaker!r}" if said.speaker else "to no one it names"
        out.append(CheckIssue(path=f"positions[{i}].actor", kind="speaker",
                              message=f"the article attributes this quote {who}, not to {q.actor!r}; look at the "
                                      f"sentence that says who said it: {_sentence_at(grounds.attributions, where)[:300]!r}"))
    for i, p in enumerate(brief.pressures):
        evidence = grounds.span(p.evidence)
        if not evidence.verified:
            continue
        named = parties_of(grounds, brief, p, evidence)
        if not named.confirmed:
            out.append(CheckIssue(path=f"pressures[{i}].evidence", kind="parties",
                                  message=f"the evidence and its sentence do not name {', '.join(named.missing)}; "
                                          f"choose evidence that names every actor and target: "
                                          f"{_sentence_at(grounds.attributions, evidence.start or 0)[:300]!r}"))
    return out
