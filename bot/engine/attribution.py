"""Who said what in an article: its sentences and its attributed statements (reported speech).

Works on the article's normal form (`normalize_map`: hamza and alef forms, ة/ه, ى/ي unified,
quotation marks as `"`, Arabic-Indic digits as ASCII) and reports offsets in the article itself.
An `Attribution` is one reported-speech construction: the attributing verb or phrase (قال، أكد،
نقل … عن، بحسب، في بيان; said, told, according to, …), the speaker phrase as the article writes it,
and, after resolution, the speaker it stands for: a pronoun or a verb without a subject ("he said",
"وأضاف أن", "مضيفًا") takes the speaker of the attribution before it in that sentence or the one
before; a bare title ("the minister", "المسؤول") takes the latest earlier speaker with that title.
`Attributions.for_span` answers which attribution a passage belongs to: the nearest one in its
sentence outside the passage, else the nearest in the sentences just before it in its paragraph.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

from bot.engine.normalize import MAX_WORDS_NAME, normalize
from bot.engine.sentences import normalize_lines, split_sentences

# --- reported speech -------------------------------------------------------------------------
_EN_VERBS = ("said|says|say|told|tells|added|adds|stated|warned|warns|insisted|insists|stressed|stresses|"
             "noted|notes|explained|announced|announces|claimed|claims|described|admitted|admits|argued|"
             "argues|wrote|writes|asked|replied|confirmed|confirms|denied|denies|emphasised|emphasized|"
             "acknowledged|answered|answers|pointed out|maintained|reiterated|vowed|predicted|cautioned|complained")
# a verb form (past, present, feminine, plural) with an optional joined و/ف; normal form: أ→ا, ة→ه, ى→ي
_AR_VERBS = ("قال|قالت|قالوا|يقول|تقول|اكد|اكدت|اكدوا|يؤكد|تؤكد|اضاف|اضافت|اضافوا|اوضح|اوضحت|صرح|صرحت|"
             "اعلن|اعلنت|شدد|شددت|اشار|اشارت|لفت|لفتت|افاد|افادت|ذكر|ذكرت|تابع|تابعت|تساءل|حذر|حذرت|"
             "اعتبر|اعتبرت|كشف|كشفت|نفي|نفت|ختم|اختتم|زعم|زعمت|راي|رات|اقر|اقرت|ابلغ|ابلغت|بين(?= ان)|بينت")
_AR_PARTICIPLES = ("مضيفا|مؤكدا|مشيرا|موضحا|لافتا|قائلا|مشددا|معتبرا|محذرا|متابعا|مضيفه|مؤكده|مشيره|موضحه|"
                   "لافته|قائله|مشدده|مبينا|معبرا|نافيا|منوها|مبينه|معبره")
_AR_ACCORDING = "بحسب|حسب|وفق|وفقا ل|طبقا ل|نقلا عن"
_EN = re.compile(rf"\b(?:{_EN_VERBS})\b|\baccording to\b|\bin a (?:statement|interview|post|tweet)\b", re.IGNORECASE)
_AR = re.compile(rf"(?<![\w])(?:[وف])?(?:{_AR_VERBS}|{_AR_PARTICIPLES}|نقل|نقلت|نسب|نسبت|{_AR_ACCORDING}|"
                 r"في (?:بيان|تصريح|تصريحات|حديث|مقابله))(?![\w])")
_PRONOUNS = {"he", "she", "they", "it", "we", "i", "هو", "هي", "هم"}
_TITLES = {"minister", "official", "spokesman", "spokeswoman", "spokesperson", "president", "envoy", "secretary",
           "ambassador", "officials", "source", "sources", "chief", "leader", "commander", "ministry", "diplomat",
           "مسؤول", "المسؤول", "الوزير", "وزير", "المتحدث", "الرئيس", "المبعوث", "السفير", "المصدر", "المصادر",
           "القائد", "الدبلوماسي", "الوزاره", "المسؤولون", "المسؤولين", "السفيره", "الوزيره", "المتحدثه",
           "report", "statement", "البيان", "التقرير", "الرساله"}
_AUX = re.compile(r"\b(?:has|have|had|was|were|is|are|also|later|earlier|previously|reportedly|then|would|will|"
                  r"has also|had also|once|again|just|repeatedly|publicly|separately|further|further)\s*$",
                  re.IGNORECASE)
_EN_CUT = re.compile(r'"|,\s|;|:|\bthat\b|\bbut\b|\bwhile\b|\band\b(?=\s*$| [a-z])|\bwho\b|\bwhich\b|\bwhen\b|'
                     r"\bafter\b|\bbefore\b|\bas\b|\bbecause\b|\bif\b", re.IGNORECASE)
_AR_CUT = re.compile(r'"|,|;|:|\.|\(|(?<![\w])(?:ان|انه|انها|انهم|الي ان|في بيان|في تصريح|في تصريحات|في حديث|'
                     r"في مقابله|في مؤتمر|قوله|قولها|خلال|خلاله|خلالها|امس|اليوم|يوم|مساء|صباح|لوكاله|لقناه|لصحيفه|لموقع|عبر|علي|"
                     r"ل\w+ه الاخباريه|بان|بانه|بانها|بانهم|بعد|حول|بشان|عن)(?![\w])")
_DASHES = re.compile(r"\s[-–—]\s[^-–—]{1,80}?\s[-–—]\s")
MAX_SPEAKER_WORDS = 12
_LOOSE = "\x00loose"  # marks a resolution to a whole sentence (`Attribution.loose`)
_PASSIVE = re.compile(r"\b(?:was|were|been|being|be|is|are)\s+$", re.IGNORECASE)


@dataclass
class Attribution:
    """One reported-speech construction. Offsets are in the article's text."""

    verb: str  # the attributing word or phrase as the article writes it
    verb_start: int
    verb_end: int
    speaker: str  # the speaker phrase as the article writes it ("" for a verb without a subject)
    speaker_start: int
    speaker_end: int
    sentence: int  # index into `Attributions.sentences`
    via: str = ""  # who relays it: X in "نقل X عن Y"
    resolved: list[str] = field(default_factory=list)  # speaker phrases it stands for, after resolution
    #: the speaker is only somewhere in a whole sentence (a lead without a verb of saying, or the
    #: sentence a pronoun's antecedent is in): it names the speaker, but not which of its names it is
    loose: bool = False

    @property
    def start(self) -> int:
        return min(self.verb_start, self.speaker_start) if self.speaker else self.verb_start

    @property
    def end(self) -> int:
        return max(self.verb_end, self.speaker_end) if self.speaker else self.verb_end

    @property
    def pronoun(self) -> bool:
        return not self.speaker or self.speaker.lower() in _PRONOUNS

    @property
    def who(self) -> str:
        """All the speaker phrases it stands for, as one text to look names up in."""
        return " · ".join(dict.fromkeys([*([] if self.pronoun else [self.speaker]), *self.resolved]))


def _strip(norm: str, start: int, end: int) -> tuple[int, int]:
    while start < end and norm[start] in " \"'-–—()":
        start += 1
    while end > start and norm[end - 1] in " \"'-–—,،.":
        end -= 1
    return start, end


class Attributions:
    """The reported speech of one article, analysed once."""

    def __init__(self, article: str) -> None:
        self.article = article
        self.norm, self.origin = normalize_lines(article)
        self.sentences = split_sentences(self.norm)
        self._starts = [s.start for s in self.sentences]

    def _orig(self, start: int, end: int) -> tuple[int, int]:
        """Normal-form offsets [start, end) as offsets into the article."""
        if start >= end:
            at = self.origin[start] if start < len(self.origin) else len(self.article)
            return at, at
        return self.origin[start], self.origin[end - 1] + 1

    def sentence_of(self, norm_at: int) -> int:
        lo, hi = 0, len(self._starts)
        while lo < hi:
            mid = (lo + hi) // 2
            if self._starts[mid] <= norm_at:
                lo = mid + 1
            else:
                hi = mid
        return max(lo - 1, 0)

    def _norm_at(self, article_at: int) -> int:
        """The normal-form offset of an article offset (the first at or after it)."""
        lo, hi = 0, len(self.origin)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.origin[mid] < article_at:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def sentence_span(self, index: int) -> tuple[int, int]:
        s = self.sentences[index]
        return self._orig(*_strip(self.norm, s.start, s.end))

    def sentence_text(self, index: int) -> str:
        return self.article[slice(*self.sentence_span(index))]

    # --- finding them ------------------------------------------------------------------------
    @cached_property
    def all(self) -> list[Attribution]:
        found: list[Attribution] = []
        for index, s in enumerate(self.sentences):
            for m in _EN.finditer(self.norm, s.start, s.end):
                if m.group().lower() == "asked" and (m.start() == s.start or self.norm.startswith(" by", m.end())):
                    continue  # "Asked by Reuters whether ...": who asks is not who answers
                if not _PASSIVE.search(self.norm, max(s.start, m.start() - 12), m.start()):
                    a = self._english(m, index)
                    if not re.match(r"(?:why|how|what|whether|if)\b", a.speaker, re.IGNORECASE):
                        found.append(a)  # "Why Turkey won't say ...": a question, not a speaker
            for m in _AR.finditer(self.norm, s.start, s.end):
                a = self._arabic(m, index)
                if a is not None:
                    found.append(a)
        found = [a for a in found if a is not None]
        found.sort(key=lambda a: a.verb_start)
        self._resolve(found)
        return found

    def _make(self, verb: tuple[int, int], speaker: tuple[int, int], index: int, via: str = "") -> Attribution:
        vs, ve = self._orig(*verb)
        ss, se = _strip(self.norm, *speaker)
        words = self.norm[ss:se].split()
        if len(words) > MAX_SPEAKER_WORDS:  # keep the words nearest the verb
            if speaker[0] < verb[0]:
                ss = se - len(" ".join(words[-MAX_SPEAKER_WORDS:]))
            else:
                se = ss + len(" ".join(words[:MAX_SPEAKER_WORDS]))
        os_, oe = self._orig(ss, se)
        return Attribution(verb=self.article[vs:ve], verb_start=vs, verb_end=ve, speaker=self.article[os_:oe],
                           speaker_start=os_, speaker_end=oe, sentence=index, via=via)

    def _english(self, m: re.Match[str], index: int) -> Attribution:
        s = self.sentences[index]
        word = m.group().lower()
        if word.startswith("according to"):  # the speaker follows; "in a statement" has it before, as a verb
            end = _EN_CUT.search(self.norm, m.end(), s.end)
            return self._make(m.span(), (m.end(), end.start() if end else s.end), index)
        # before the verb: back to the nearest boundary (quotation, comma, "that", ...); past an
        # empty piece or a relative clause ("X, which oversees it, has said") to the one before
        left = self.norm[s.start:m.start()]
        cuts = list(_EN_CUT.finditer(left))
        bounds = [(s.start + (cuts[k - 1].end() if k else 0), s.start + (cuts[k].start() if k < len(cuts) else len(left)),
                   cuts[k - 1].group().strip().lower() if k else "") for k in range(len(cuts) + 1)]
        start = phrase_end = m.start()
        for k in range(len(bounds) - 1, max(len(bounds) - 5, -1), -1):
            seg_start, seg_end, cut = bounds[k]
            phrase = self.norm[seg_start:seg_end]
            aux = _AUX.search(phrase)
            while aux is not None and phrase.strip():
                seg_end = seg_start + aux.start()
                phrase = self.norm[seg_start:seg_end]
                aux = _AUX.search(phrase)
            if cut in ("which", "who") or re.match(r"\s*via\b", phrase):
                continue
            if phrase.strip() and phrase.strip() != '"':
                start, phrase_end = seg_start, seg_end
                lead = phrase.split()[0]
                if cut == "," and k > 0 and (lead[:1].islower() or lead.lower() in ("the", "a", "an")):
                    # "Nikolai Primak, head of the investigation, said": the name before the title
                    prev_start, prev_end, _ = bounds[k - 1]
                    if 0 < len(self.norm[prev_start:prev_end].split()) <= 5:
                        start = prev_start
                break
            if cut != ",":
                break  # "... and said", '"...," said X': no subject before the verb
        via = ""  # whom one tells ("told the BBC") relays nothing: the speaker spoke to it
        phrase = _DASHES.sub(" ", self.norm[start:phrase_end])
        before = self.norm[s.start:m.start()].rstrip()
        if not phrase.strip() and word not in ("told", "tells") and (not before or before.endswith(('"', ","))):
            # '"...," said John Smith, the minister.': the speaker follows the verb
            after = self.norm[m.end():s.end]
            stop = re.search(r'[,.;:"]|\bthat\b|\bin a\b|\bon\b|\bat\b|\bin\b', after)
            cand = after[: stop.start() if stop else len(after)]
            if cand.strip() and not phrase.strip():
                return self._make(m.span(), (m.end(), m.end() + len(cand)), index, via)
        return self._make(m.span(), (start, phrase_end), index, via)

    def _arabic(self, m: re.Match[str], index: int) -> Attribution | None:
        s = self.sentences[index]
        word = m.group()
        core = word[1:] if word[:1] in "وف" and len(word) > 3 else word  # without a joined و/ف ("وفق" stays)
        if re.fullmatch(_AR_PARTICIPLES, core) or re.fullmatch(_AR_PARTICIPLES, word):
            return self._make(m.span(), (m.start(), m.start()), index)  # its subject is the speaker before
        if word.startswith("في ") or word.startswith("وفي "):
            # "في بيان صادر عن X" / "في بيان لـ X"; a bare "في بيان" belongs to the verb before it
            after = re.match(r"\s+(?:\w+\s+)?(?:صادر\s+)?(?:عن\s+|ل(?!(?:هم|ه|ها|هما|نا|كم)(?![\w])))",
                             self.norm[m.end():s.end])
            if after is None:
                return None
            at = m.end() + after.end()
            end = _AR_CUT.search(self.norm, at, s.end)
            return self._make(m.span(), (at, end.start() if end else s.end), index)
        if core in ("نقل", "نقلت", "نسب", "نسبت"):
            # "نقلت X عن Y قوله", "نسبت X إلى Y قوله": Y is the speaker, X relays it
            rest = self.norm[m.end():s.end]
            an = re.search(r"(?<![\w])(?:عن|الي)(?![\w])" if core.startswith("نس") else r"(?<![\w])عن(?![\w])", rest)
            if an is None:
                return None
            via = rest[: an.start()].strip()
            at = m.end() + an.end()
            return self._make(m.span(), (at, self._speaker_end(at, s.end)), index, via)
        at = m.end()
        lead = re.match(r"\s*(?:قائلا|قائله)(?![\w])", self.norm[at:s.end])
        if lead:  # "وأضافت قائلة": the verb's subject is the speaker before
            return self._make(m.span(), (m.start(), m.start()), index)
        stop = self._speaker_end(at, s.end)
        if re.match(r"\s*(?:في وقت|امس|اليوم|يوم|قبل|مساء|صباح|$)", self.norm[at:stop]):
            # "وكان البيت الأبيض قال في وقت سابق": the subject stands before the verb
            head = self.norm[s.start:m.start()]
            subject = (re.search(r"(?:^|[,:\"])\s*(?:و?كان(?:ت)?\s+|و?قد\s+)([^,:\"]{2,80})$", head)
                       or re.search(r"(?:^|[,:\".])\s*(?:و?اما\s+)([^,:\"]{2,80}?)\s*,?\s*ف(?:قد\s*)?$", head))
            if subject and len(subject.group(1).split()) <= 8:
                return self._make(m.span(), (s.start + subject.start(1), s.start + subject.end(1)), index)
        if core.startswith(("بحسب", "حسب", "وفق", "طبقا", "نقلا")):
            told = re.match(r"\s*ما\s+\w+\s+", self.norm[at:s.end])  # "بحسب ما ذكرته صحيفة ..."
            if told:
                at += told.end()
                stop = self._speaker_end(at, s.end)
        return self._make(m.span(), (at, stop), index)

    def _speaker_end(self, at: int, stop: int) -> int:
        """Where an Arabic speaker phrase starting at `at` ends."""
        end = _AR_CUT.search(self.norm, at, stop)
        while end is not None and end.group() == '"':  # a name in quotation marks: صحيفة "هآرتس"
            close = self.norm.find('"', end.end(), stop)
            if close < 0 or close - end.end() > 30 or len(self.norm[end.end():close].split()) > 3:
                break
            end = _AR_CUT.search(self.norm, close + 1, stop)
        if end is None:
            return stop
        if end.group() == ",":
            # "وزير الخارجية، فلان الفلاني، قوله": the name in apposition belongs to the speaker
            more = _AR_CUT.search(self.norm, end.end(), stop)
            if more is not None and more.group() in (",", "قوله", "قولها") and \
                    len(self.norm[end.end():more.start()].split()) <= 4:
                return more.start()
        return end.start()

    def _resolve(self, found: list[Attribution]) -> None:
        for i, a in enumerate(found):
            if not a.pronoun:
                words = [w.lower() for w in normalize(a.speaker).split()]
                if words and words[0] == "the" and len(words) > 1:
                    words = words[1:]
                title = words[0].removeprefix("و") if words else ""
                whose = len(words) > 1 and words[1] in ("باسم", "for", "of")  # "المتحدث باسم وزارة الخارجية"
                if title in _TITLES and not whose and (title.startswith("ال") or
                                                       normalize(a.speaker).lower().startswith("the ")):
                    # "the minister", "المسؤول": the latest earlier speaker with that title
                    stem = title.removeprefix("ال")
                    for b in reversed(found[:i]):
                        if b.who and stem in normalize(b.who).lower() and b.sentence >= a.sentence - 6:
                            a.resolved = [b.who]
                            break
                    else:  # "the report says": the sentence that introduced the report names whose it is
                        title_words = " ".join(w.removeprefix("ال") for w in words)
                        for back in range(a.sentence - 1, max(a.sentence - 7, -1), -1):
                            if title_words in self.norm[self.sentences[back].start:self.sentences[back].end].lower():
                                a.resolved, a.loose = [self.sentence_text(back)], True
                                break
                        else:  # "The minister added": the one who spoke just before
                            said = [b for b in found[:i] if b.who and b.sentence >= a.sentence - 2]
                            if said:
                                a.resolved = [said[-1].who]
                continue
            a.resolved = self._antecedent(found[:i], a.sentence, self._norm_at(a.verb_start))
            if _LOOSE in a.resolved:
                a.resolved.remove(_LOOSE)
                a.loose = True
            elif any(b.loose for b in found[:i] if b.who in a.resolved):
                a.loose = True

    def _antecedent(self, before: list[Attribution], sentence: int, at: int | None = None) -> list[str]:
        """Whom a pronoun (or a verb without a subject) at normal-form offset `at` of `sentence`
        stands for: the speaker before it in its sentence, else what its sentence says before it
        (outside quotations, three words or more), else the previous sentence's speaker (the one
        before that when the previous sentence only goes on quoting), else the previous sentence."""
        said = [b for b in before if b.sentence == sentence and b.who]
        if said:
            return [said[-1].who]
        if at is not None:  # "عقد الوزير X لقاء ... أكد خلاله": the subject named before it in its sentence
            head = self.norm[self.sentences[sentence].start:at]
            if len(re.findall(r"\w{2,}", re.sub(r'"[^"]*"?', " ", head))) >= 3:
                hs, he = self._orig(*_strip(self.norm, self.sentences[sentence].start, at))
                return [self.article[hs:he], _LOOSE]
        said = [b for b in before if b.sentence == sentence - 1 and b.who]
        if said:
            return [said[-1].who]
        prev = sentence - 1
        if prev < 0:
            return []
        if self.norm[self.sentences[prev].start:self.sentences[prev].start + 1] == '"':
            said = [b for b in before if b.sentence == prev - 1 and b.who]
            if said:
                return [said[-1].who]
        return [self.sentence_text(prev), _LOOSE]

    # --- which attribution a passage belongs to ----------------------------------------------------
    def sentences_of(self, start: int, end: int) -> tuple[int, int]:
        """The first and last sentence that article offsets [start, end) fall in."""
        return self.sentence_of(self._norm_at(start)), self.sentence_of(max(self._norm_at(end) - 1, 0))

    def for_span(self, start: int, end: int) -> Attribution | None:
        """The attribution of the passage at article offsets [start, end): the nearest one in its
        sentence(s) lying outside it; else the last one of the nearest of the (at most three)
        sentences before it in its paragraph."""
        if not self.sentences:
            return None
        first, last = self.sentences_of(start, end)
        inside = [a for a in self.all if first <= a.sentence <= last
                  and not (start <= a.verb_start < end) and not (a.speaker and start < a.speaker_end <= end)]
        if not inside:  # the passage names its own speaker ("Turkey denies this history")
            inside = [a for a in self.all if first <= a.sentence <= last and a.speaker
                      and start <= a.speaker_start and a.verb_end <= end]
        if inside:
            def gap(a: Attribution) -> tuple[int, int]:
                if a.end <= start:
                    return start - a.end, 0
                if a.start >= end:
                    # after the passage only when it follows it at once ('"...," he said'); a speaker
                    # further on ("…، فيما أبلغت إسرائيل") has the next statement of the sentence
                    between = self.article[end:a.start]
                    return a.start - end + (0 if re.fullmatch(r"\W*", between) else 1000), 1
                return 0, 1
            return min(inside, key=gap)
        ss, se = self.sentence_span(first)[0], self.sentence_span(last)[1]
        rest = self.article[ss:start] + " " + self.article[end:se]
        said = self.norm[self.sentences[first].start:self.sentences[last].end]
        outside = re.sub(r'"[^"]*"?', " ", said)  # the sentence without what it quotes
        after = self.norm[self.sentences[last].end:self.sentences[last].end + 1]
        if (said.rstrip().endswith('"') and said.count('"') % 2) or (after == '"' and not said.count('"')):
            outside = ""  # it goes on quoting the sentence before
        if len(re.findall(r"\w{2,}", outside)) >= 2 and len(re.findall(r"\w{2,}", rest)) >= 2:
            # the passage's own sentence names who it is from ("X blamed "...""): it is the lead
            return Attribution(verb="", verb_start=ss, verb_end=ss, speaker=rest.strip(), speaker_start=ss,
                               speaker_end=se, sentence=first, loose=True)
        back = first - 1
        if back < 0 or self.sentences[back].paragraph != self.sentences[first].paragraph:
            return None
        before = [a for a in self.all if a.sentence == back]
        if before:
            return before[-1]
        # a lead without a verb of saying ("In her book, X hammered Y. "..."): the sentence names the speaker
        ls, le = self.sentence_span(back)
        return Attribution(verb="", verb_start=ls, verb_end=ls, speaker=self.article[ls:le], speaker_start=ls,
                           speaker_end=le, sentence=back, loose=True)

    def passage(self, a: Attribution) -> tuple[int, int] | None:
        """The statement an attribution introduces, as article offsets: the quotation nearest it in
        its sentence, else the rest of the sentence after "that"/"أن"/":"; None when neither."""
        s = self.sentences[a.sentence]
        text = self.norm[s.start:s.end]
        quotes = [(s.start + q.start() + 1, s.start + q.end() - 1) for q in re.finditer(r'"[^"]{8,}"', text)]
        if quotes:
            na, nb = self._norm_at(a.start), self._norm_at(a.end)
            qs, qe = min(quotes, key=lambda q: abs(q[0] - nb) if q[0] >= nb else abs(na - q[1]))
            return self._orig(*_strip(self.norm, qs, qe))
        nb = self._norm_at(a.end)
        lead = re.search(r"(?<![\w])(?:that|ان|انه|انها|الي ان|بان)(?![\w])|:", self.norm[nb:s.end])
        if lead is None or lead.start() > 120:
            return None
        stop = re.search(r"[,;]\s*(?:فيما|بينما|في حين|while|whereas)(?![\w])", self.norm[nb + lead.end():s.end])
        ps, pe = _strip(self.norm, nb + lead.end(), nb + lead.end() + stop.start() if stop else s.end)
        if len(self.norm[ps:pe].split()) < 3:
            return None
        return self._orig(ps, pe)


# --- who a statement's speaker is, as a name ---------------------------------------------------------
#: small words a name may hold ("Minister of Foreign Affairs", "Mohammed bin Salman"); any other word
#: in lower case makes a comma-separated piece a clause ("In response to the report, a spokesperson")
_NAME_SMALL = {"of", "the", "a", "an", "and", "for", "al", "bin", "bint", "ibn", "de", "du", "la", "von", "van", "der"}
_NAME_TAIL = {"en": re.compile(r"\s+(?:who|which|that|told|said|says|speaking|spoke|has|have|had|is|was|were)\b.*$", re.IGNORECASE | re.DOTALL),
              "ar": re.compile(r"\s+(?:متحدث[اةه]?|في مؤتمر|خلال|أمس|امس|اليوم)(?![\w]).*$", re.DOTALL)}
_WEEKDAYS = re.compile(r"(?<![\w])(?:ال)?(?:أحد|احد|اثنين|إثنين|ثلاثاء|أربعاء|اربعاء|خميس|جمعة|سبت)(?![\w])|\d")
#: a speaker that is a document, an outlet or unnamed sources is a source of the brief, not a party
_MEDIA = {"agency", "newspaper", "television", "tv", "radio", "channel", "broadcaster", "reuters", "afp", "bbc",
          "cnn", "وكالة", "وكاله", "قناة", "قناه", "صحيفة", "صحيفه", "إذاعة", "اذاعه", "تلفزيون", "بث"}
_CLAUSE = re.compile(r"\s*(?:which|who|whose|speaking|according|while|when|as|in|on|at)\b", re.IGNORECASE)
_NOT_PARTY = {"report", "statement", "sources", "source", "television", "tv", "agency", "media", "newspaper",
              "البيان", "بيان", "المشترك", "التقرير", "تقرير", "مصادر", "مصدر", "مطلعة", "مطلعه", "وكالة", "هيئة",
              "الهيئات", "البث", "وسائل", "الإعلام", "state", "statements", "joint"}


def speaker_name(phrase: str) -> str:
    """The name in a speaker phrase, as a part of it the article writes: "Bertie Armstrong, chief
    executive of ..." stays whole, "In response to the report, a government spokesperson" gives
    "a government spokesperson", "مسؤول كبير في البيت الأبيض، الأربعاء 15 فيفري 2017" gives its
    first piece. "" when it is no party's name (a quotation, a report, unnamed sources, too long)."""
    phrase = re.split(r"(?<=[a-z])[.!?](?=[A-Z])", phrase.strip())[-1]  # "soon.Human rights groups"
    if '"' in phrase or "“" in phrase or "”" in phrase or "«" in phrase:
        return ""
    arabic = bool(re.search(r"[\u0600-\u06ff]", phrase))
    cuts = [0, *(m.end() for m in re.finditer(r"[,،]", phrase)), len(phrase) + 1]
    pieces = [(cuts[i], cuts[i + 1] - 1) for i in range(len(cuts) - 1)]  # (start, end) between commas
    if arabic:  # a date or a day after a comma is when, not who
        while len(pieces) > 1 and _WEEKDAYS.search(phrase[slice(*pieces[-1])]):
            pieces.pop()
    else:  # a clause after a comma ("Hamas, which rules Gaza") or a clause or a lone word before one
        # ("However, ...") is not the name
        while len(pieces) > 1 and _CLAUSE.match(phrase[slice(*pieces[-1])]):
            pieces.pop()
        while len(pieces) > 1 and (len(words := phrase[slice(*pieces[0])].split()) == 1 or any(
                w[0].islower() and w.lower() not in _NAME_SMALL for w in words if w[0].isalpha())):
            pieces.pop(0)
    name = _NAME_TAIL["ar" if arabic else "en"].sub("", phrase[pieces[0][0]:pieces[-1][1]]).strip(" \u00a0-–—.,،:;")
    if not name:
        return ""
    words = [w.removeprefix("ال") if arabic else w.lower() for w in re.findall(r"[\w'-]+", name)]
    content = [w for w in words if w.lower() not in _NAME_SMALL]
    if (not content or len(words) > MAX_WORDS_NAME or any(w in _MEDIA for w in content)
            or all(w in _NOT_PARTY or "ال" + w in _NOT_PARTY for w in content)):
        return ""
    return name


def speaker_of(a: Attribution) -> str:
    """The speaker an attribution names, as the article names them where it introduces them: the
    phrase itself, or the one a pronoun or a bare title ("the minister") stands for; "" when the
    speaker is only somewhere in a sentence."""
    if a.loose:
        return ""
    if a.resolved:
        return speaker_name(a.resolved[-1].split(" · ")[-1])
    return "" if a.pronoun else speaker_name(a.speaker)


@dataclass(frozen=True)
class Statement:
    """An attributed statement offered to the model as a candidate: who (as the article names them),
    the attributing verb, and the passage in the article's words (`start` is its article offset).
    `name`: the speaker's name (`speaker_of`), or "" when the article gives none that names a party."""

    speaker: str
    verb: str
    passage: str
    start: int
    name: str = ""


def statements(att: Attributions, limit: int, max_chars: int) -> list[Statement]:
    """The article's attributed statements in order, one per passage, at most `limit`; a passage
    has three words or more and at most `max_chars` characters."""
    out: dict[str, Statement] = {}
    for a in att.all:
        span = att.passage(a)
        if span is None or len(out) >= limit:
            continue
        passage = att.article[span[0]:span[1]].strip()
        if not 3 <= len(passage.split()) or len(passage) > max_chars or passage in out:
            continue
        own = "" if a.pronoun else a.speaker
        stands_for = "" if a.loose or not a.resolved else a.resolved[0]
        who = f"{own} ({stands_for})" if own and stands_for else own or (f"({stands_for})" if stands_for else "")
        if who:
            out[passage] = Statement(" ".join(who.split())[:160], a.verb or "", passage, span[0], speaker_of(a))
    return list(out.values())
