"""The parties an article names (its states, the speakers of its statements), offered to the model as actors."""

from __future__ import annotations

import json

from bot.engine import grounding
from bot.engine.article import from_text
from bot.engine.attribution import Attributions, Statement, speaker_name, statements
from bot.engine.brief import user_message
from bot.engine.candidates import Candidates
from bot.engine.normalize import Matcher
from bot.engine.parties import NAMES, speakers, states
from bot.engine.references import complete
from bot.engine.schema import Actor, Bilingual
from bot.engine.speakers import COUNTRIES
from tests.conftest import EXAMPLE_ARTICLE

ARTICLE = EXAMPLE_ARTICLE.read_text(encoding="utf-8")


def test_the_states_an_arabic_article_names_in_the_order_it_names_them() -> None:
    found = states(Matcher(ARTICLE))
    assert [(s.id, s.iso, s.mention) for s in found] == [
        ("united_states", "USA", "الولايات المتحدة"), ("qatar", "QAT", "قطر"), ("egypt", "EGY", "مصر"),
        ("israel", "ISR", "إسرائيل")]
    assert all(ARTICLE[s.start:s.start + len(s.mention)] == s.mention for s in found)  # first named by name
    assert (found[3].en, found[3].ar) == ("Israel", "إسرائيل")


def test_a_state_named_only_by_its_adjective_or_capital_is_found_by_it() -> None:
    text = ("Turkish officials said the talks would go on. Washington did not comment, and a Kremlin "
            "spokesman told us that Moscow was ready. The UK was not asked.")
    found = {s.id: s.mention for s in states(Matcher(text))}
    # a name first, then adjectives, then the capital: Russia by "Moscow" before "Kremlin"
    assert found == {"turkey": "Turkish", "united_states": "Washington", "russia": "Moscow", "united_kingdom": "UK"}
    assert not states(Matcher("The minister told us that the talks would go on."))  # "us" is not the US


def test_a_form_inside_another_state_s_name_or_an_english_word_without_its_capital_names_no_state() -> None:
    assert [s.id for s in states(Matcher("أعلنت سلطنة عمان استعدادها للوساطة"))] == ["oman"]  # not Amman, Jordan
    assert not states(Matcher("They will polish the plan over roast turkey in china bowls."))
    assert [s.id for s in states(Matcher("Polish and Turkish envoys met."))] == ["poland", "turkey"]


def test_the_part_of_the_article_sent_decides_the_words_offered() -> None:
    text = "Israeli forces moved in at dawn. " + "The talks went on. " * 10 + "Israel said it would not stop."
    (israel,) = states(Matcher(text))
    assert israel.mention == "Israel"  # its name, where the article uses it
    cut = israel.within(len("Israeli forces moved in at dawn."))
    assert cut is not None and cut.mention == "Israeli"  # only the adjective is in what the model is sent
    assert israel.within(5) is None


def test_every_state_the_checks_know_has_a_name_in_both_languages() -> None:
    assert set(NAMES) == set(COUNTRIES)
    assert all(en.isascii() and not ar.isascii() for en, ar in NAMES.values())


def test_the_prompt_offers_each_state_as_an_actor_ready_to_copy() -> None:
    article = from_text(ARTICLE, "test")
    matcher = Matcher(article.text)
    user = user_message(article, article.text, False, Candidates(states=states(matcher)))
    block = user[user.index("<article_parties>") + len("<article_parties>"):user.index("</article_parties>")]
    actors = [json.loads(line) for line in block.strip().splitlines()]
    assert actors[2] == {"mention": "مصر", "id": "egypt", "name": {"en": "Egypt", "ar": "مصر"}, "kind": "state",
                         "country": "EGY"}
    # only what the model is sent: a state named after the cut is not offered
    cut = article.text.index("مصر")
    user = user_message(article, article.text[:cut], True, Candidates(states=states(matcher)))
    assert '"egypt"' not in user and '"qatar"' in user


def test_a_speaker_s_name_is_the_part_of_the_phrase_that_names_them() -> None:
    assert speaker_name("Bertie Armstrong, chief executive of the Scottish Fishermen's Federation") == \
        "Bertie Armstrong, chief executive of the Scottish Fishermen's Federation"
    assert speaker_name("In response to the report, a government spokesperson") == "a government spokesperson"
    assert speaker_name("However, one unnamed politician") == "one unnamed politician"
    assert speaker_name("parliament soon.Human rights groups") == "Human rights groups"
    assert speaker_name("Lord Teverson who chairs the Lords EU Energy and Environment sub-committee") == "Lord Teverson"
    assert speaker_name("مسؤول كبير في البيت الأبيض، الأربعاء 15 فيفري 2017") == "مسؤول كبير في البيت الأبيض"
    assert speaker_name("سفيرة الولايات المتحدة لدى الأمم المتحدة، نيكي هيلي") == \
        "سفيرة الولايات المتحدة لدى الأمم المتحدة، نيكي هيلي"
    assert speaker_name("وزير الخارجية الأمريكي ريكس تيلرسون متحدثا في أنقرة") == "وزير الخارجية الأمريكي ريكس تيلرسون"
    # a report, a statement, an outlet or unnamed sources are sources of the brief, not parties
    for phrase in ("the report", "البيان المشترك", "مصادر مطلعة", "state television", 'ب"دعم من تركيا" بالوقوف'):
        assert speaker_name(phrase) == "", phrase


ENGLISH = ('Syria\'s Deputy Foreign Minister Faisal al-Mekdad told the BBC that "Syria is doing its best". '
           '"We shipped two shipments to the coast," Mr Mekdad said. Turkey insists that the jet, which it shot down, was warned ten times. '
           'A government spokesperson said "the talks will go on". Human rights groups say "the law is unfair".')


def test_the_speakers_of_an_article_s_statements_are_offered_once_each_with_their_passages() -> None:
    matcher = Matcher(ENGLISH)
    found = statements(Attributions(ENGLISH), 20, 1200)
    offered = speakers(found, states(matcher))
    assert [(s.id, s.mention, s.state) for s in offered] == [
        ("faisal_al_mekdad", "Syria's Deputy Foreign Minister Faisal al-Mekdad", False),  # "Mr Mekdad" is him
        ("turkey", "Turkey", True),  # a state the article names speaks as that state
        ("government_spokesperson", "A government spokesperson", False), ("rights_groups", "Human rights groups", False)]
    assert offered[0].passages == ("Syria is doing its best", "We shipped two shipments to the coast")
    article = from_text(ENGLISH, "test")
    user = user_message(article, article.text, False, Candidates(found, states(matcher), offered))
    block = user[user.index("<article_parties>") + len("<article_parties>"):user.index("</article_parties>")]
    lines = [json.loads(line) for line in block.strip().splitlines()]
    # the states ready to copy, then each speaker: ready too when its name gives its role and state,
    # with an Arabic name made of them; else with its name in the article's language only
    assert [line["id"] for line in lines] == ["syria", "turkey", "faisal_al_mekdad", "government_spokesperson",
                                              "rights_groups"]
    assert lines[2] == {"mention": "Syria's Deputy Foreign Minister Faisal al-Mekdad", "id": "faisal_al_mekdad",
                        "name": {"en": "Syria's Deputy Foreign Minister Faisal al-Mekdad",
                                 "ar": "نائب وزير الخارجية (سوريا)"}, "kind": "person", "country": "SYR"}
    assert lines[3] == {"mention": "A government spokesperson", "id": "government_spokesperson",
                        "name": {"en": "A government spokesperson"}}  # whose government, its name does not say
    assert '2. [faisal_al_mekdad] Mr Mekdad (said): "We shipped two shipments to the coast"' in user
    # only the part sent: a speaker keeps its id, and one whose statements are all cut is not offered
    cut = Candidates(found, states(matcher), offered).within(ENGLISH.index("Turkey"))
    assert [(s.id, len(s.passages)) for s in cut.speakers] == [("faisal_al_mekdad", 2)]


def _answer(language: str, actors: list[dict[str, object]], quote: str, actor: str) -> str:
    """An answer with one position quoting `quote` for `actor`, as a model writes it."""
    return json.dumps({"language": language, "headline": {"en": "Talks go on", "ar": "المحادثات مستمرة"},
                       "summary": {"en": "The talks go on.", "ar": "المحادثات مستمرة."}, "actors": actors,
                       "pressures": [], "sources": [],
                       "positions": [{"quote": quote, "actor": actor, "source_ids": [],
                                      "stance": {"en": "The talks go on", "ar": "المحادثات مستمرة"}}]},
                      ensure_ascii=False)


def test_an_answer_that_refers_to_a_speaker_s_id_means_its_own_actor_for_that_speaker() -> None:
    offered = speakers(statements(Attributions(ENGLISH), 20, 1200), states(Matcher(ENGLISH)))
    spoken = {s.id: (s.mention, s.country) for s in offered if not s.state}
    mekdad = {"mention": "Faisal al-Mekdad", "id": "mekdad", "name": {"en": "Faisal al-Mekdad", "ar": "فيصل المقداد"},
              "kind": "person", "country": "SYR"}
    # by the speaker's mention, or by a name of it the answer gives its own actor
    for mention in ("Syria's Deputy Foreign Minister Faisal al-Mekdad", "Faisal al-Mekdad"):
        answer = _answer("en", [dict(mekdad, mention=mention)], "Syria is doing its best", "faisal_al_mekdad")
        b = grounding.read(answer, spoken=spoken).brief
        assert b is not None and b.positions[0].actor == "mekdad" and [a.id for a in b.actors] == ["mekdad"]
        assert not grounding.check(b, Matcher(ENGLISH))  # the quote is verbatim and its speaker confirmed
    bare = grounding.read(_answer("en", [mekdad], "Syria is doing its best", "faisal_al_mekdad")).brief
    assert bare is not None and bare.positions[0].actor == "faisal_al_mekdad"  # without the offer: left to the checks


def test_a_speaker_the_answer_never_defines_is_added_when_ready_else_read_as_its_state() -> None:
    text = ENGLISH + ' Syrian negotiators said "the talks failed again".'
    offered = speakers(statements(Attributions(text), 20, 1200), states(Matcher(text)))
    negotiators = next(s for s in offered if s.mention == "Syrian negotiators")
    assert negotiators.actor() is None and negotiators.country == "SYR"  # no role in its name: no ready line
    ready = [*(s.actor() for s in states(Matcher(text))), *(a for s in offered if (a := s.actor()) is not None)]
    spoken = {s.id: (s.mention, s.country) for s in offered if not s.state}
    b = grounding.read(_answer("en", [], "the talks failed again", negotiators.id), offered=ready, spoken=spoken).brief
    assert b is not None and b.positions[0].actor == "syria" and [a.id for a in b.actors] == ["syria"]
    assert not grounding.check(b, Matcher(text))  # Syrian negotiators speak for Syria: confirmed
    b = grounding.read(_answer("en", [], "Syria is doing its best", "faisal_al_mekdad"), offered=ready,
                       spoken=spoken).brief
    assert b is not None and [(a.id, a.name.ar) for a in b.actors] == [("faisal_al_mekdad", "نائب وزير الخارجية (سوريا)")]
    assert not grounding.check(b, Matcher(text))


ARABIC = ('قال وزير الخارجية القطري الشيخ محمد بن عبد الرحمن آل ثاني إن "الدوحة مستعدة لقبول جهود الوساطة". '
          'وقال المتحدث باسم وزارة الخارجية الإيرانية إن "التصريحات غير البناءة تزيد المشاكل في المنطقة". '
          'وأشار مسؤول مطلع إلى أن "هناك احتمالاً قريبًا للتوصل إلى صفقة جزئية".')


def test_a_speaker_named_in_arabic_gets_an_english_name_from_its_state_and_role() -> None:
    found = statements(Attributions(ARABIC), 20, 1200)
    offered = speakers(found, states(Matcher(ARABIC)))
    # "المتحدث باسم وزارة الخارجية" names its own speaker: not the minister quoted before
    assert [(s.id, s.other, s.kind, s.country) for s in offered] == [
        ("qatar_foreign_minister", "Foreign minister (Qatar)", "person", "QAT"),
        ("iran_foreign_ministry_spokesperson", "Foreign ministry spokesperson (Iran)", "person", "IRN"),
        ("speaker_3", "", "person", None)]  # an unnamed official: the model names it
    actor = offered[0].actor()
    assert actor is not None and (actor.mention, actor.name.ar) == (offered[0].mention, offered[0].mention)
    # an answer that quotes a speaker it never defined gets the speaker's actor added, and the
    # speaker check confirms the quote
    ready = [a for s in offered if (a := s.actor()) is not None]
    b = grounding.read(_answer("ar", [], "الدوحة مستعدة لقبول جهود الوساطة", "qatar_foreign_minister"),
                       offered=ready).brief
    assert b is not None and [(a.id, a.name.en) for a in b.actors] == [("qatar_foreign_minister", "Foreign minister (Qatar)")]
    assert not grounding.check(b, Matcher(ARABIC))


def test_a_speaker_s_role_and_state_are_the_most_specific_its_name_gives() -> None:
    def other(name: str) -> str:
        return speakers([Statement(name, "said", "the talks go on", 0, name)], [])[0].other

    assert other("رئيس الحكومة الإسرائيلية") == "Prime minister (Israel)"  # not "president"
    assert other("نائب الرئيس الأمريكي") == "Vice president (United States)"
    assert other("Kamala Harris, the US vice president") == "نائب الرئيس (الولايات المتحدة)"
    assert other("US envoy to Israel Steve Witkoff") == "المبعوث (الولايات المتحدة)"  # the first state it names
    assert other("السفير الأمريكي لدى إسرائيل") == "Ambassador (United States)"
    assert other("Syria’s Deputy Foreign Minister Faisal al-Mekdad") == "نائب وزير الخارجية (سوريا)"
    curly = speakers([Statement("", "said", "the talks go on", 0, "Syria’s Foreign Minister Faisal al-Mekdad")], [])
    actor = curly[0].actor()  # a curly apostrophe is still English: its Arabic name is the made one
    assert actor is not None and (actor.name.en, actor.name.ar) == ("Syria’s Foreign Minister Faisal al-Mekdad",
                                                                    "وزير الخارجية (سوريا)")
    assert other("ووزير الخارجية البريطاني") == "Foreign minister (United Kingdom)"
    assert other("مسؤول كبير في حركة حماس") == ""  # no state: the model names it


def test_an_official_the_article_does_not_name_speaks_for_their_state() -> None:
    offered = speakers(statements(Attributions(ARTICLE), 20, 1200), states(Matcher(ARTICLE)))
    # three unnamed Israeli officials are Israel, once, in the order the article first quotes them
    israel = [s for s in offered if s.country == "ISR"]
    assert [(s.id, s.state) for s in israel] == [("israel", True), ("israel_minister", False)]
    assert israel[0].passages[0].startswith("الباب لم يُغلق بعد") and len(israel[0].passages) == 4
    assert ("speaker_2", "مسؤول مطلع") in [(s.id, s.mention) for s in offered]  # whose official, it does not say
    text = ("Qatar and Israel met in Washington. A senior Qatari official familiar with the talks said "
            "\"a deal is close\". A US official said \"we are hopeful\". An official at the White House said "
            "\"nothing is agreed\". A Qatari official, Majed al-Ansari, said \"talks go on\".")
    named = states(Matcher(text))
    found = [Statement(name, "said", passage, 0, name) for name, passage in (
        ("A senior Qatari official familiar with the talks", "a deal is close"),
        ("A US official", "we are hopeful"), ("An official at the White House", "nothing is agreed"),
        ("A senior White House official", "we wait"), ("A Qatari official, Majed al-Ansari", "talks go on"),
        ("Qatari official Majed al-Ansari", "talks will go on"))]
    # an official of a body, or named: themselves
    assert [(s.id, s.state) for s in speakers(found, named)] == [
        ("qatar", True), ("united_states", True), ("white_house", False), ("united_states_official", False),
        ("qatar_official", False), ("majed_al_ansari", False)]
    arabic = [Statement(name, "قال", passage, 0, name) for name, passage in (
        ("مسؤول أمني قطري", "الصفقة قريبة"), ("مسؤول كبير في البيت الأبيض", "ننتظر الرد"),
        ("مسؤول بالبيت الأبيض", "لا اتفاق بعد"), ("مسؤول قطري ماجد الأنصاري", "المحادثات مستمرة"))]
    assert [s.state for s in speakers(arabic, named)] == [True, False, False, False]


# real sentences of the references in eval/en and eval/ar
PEOPLE_EN = ('He described as "absolutely unacceptable" US Secretary of State John Kerry\'s recent condemnation of '
             "the government's use of barrel bombs in the city of Aleppo. The US National Security Agency (NSA) was "
             "last year accused of bugging the phone of Chancellor Angela Merkel as part of a huge surveillance "
             "programme. Russia says it was shot down within Syrian airspace and President Vladimir Putin vented his "
             "anger at Turkey's government again on Thursday. Mr Kerry said that the talks would go on.")
PEOPLE_AR = ("قال مسؤول كبير في البيت الأبيض، الأربعاء 15 فيفري 2017، إن الرئيس الأمريكي دونالد ترامب يدعم هدف "
             "السلام بين \"إسرائيل\" والفلسطينيين، حتى إذا لم يتضمن حل الدولتين. وقال المسؤول، قبل ساعات من اجتماع "
             "في البيت الأبيض بين ترامب ورئيس الوزراء الإسرائيلي بنيامين نتنياهو، إن السلام هو الهدف النهائي. "
             "وأوضح أن الولايات المتحدة لم تعد تركز على إزاحة الرئيس بشار الأسد عن السلطة، لتتخلى عن الموقف الأولي "
             "لإدارة الرئيس السابق باراك أوباما بشأن مصير الأسد. وأبلغت السفيرة مجموعة صغيرة من الصحفيين أن "
             "أمير قطر أرجأ خطابه، فيما اتصل أمير قطر الشيخ تميم بن حمد آل ثاني بالرئيس الفرنسي. واتهم المتحدث "
             "باسم الخارجية الايرانية \"مجموعات المعارضة المسلحة\" بالوقوف وراء الانتهاكات.")


def _people(text: str) -> list[tuple[str, str, str]]:
    grounds = grounding.Grounds(Matcher(text), ())
    found = Candidates.find(grounds)
    return [(p.id, p.mention, p.other) for p in found.people]


def test_the_people_an_english_article_names_by_their_office_are_offered() -> None:
    # the office, the state before it and the name, without a possessive
    assert _people(PEOPLE_EN.removesuffix(" Mr Kerry said that the talks would go on.")) == [
        ("john_kerry", "US Secretary of State John Kerry", "وزير الخارجية (الولايات المتحدة)"),
        ("angela_merkel", "Chancellor Angela Merkel", ""), ("vladimir_putin", "President Vladimir Putin", "")]


def test_the_people_an_arabic_article_names_by_their_office_are_offered() -> None:
    assert _people(PEOPLE_AR) == [
        ("united_states_president", "الرئيس الأمريكي دونالد ترامب", "President (United States)"),
        # joined to "and", and its name ends before the comma
        ("israel_prime_minister", "رئيس الوزراء الإسرائيلي بنيامين نتنياهو", "Prime minister (Israel)"),
        ("speaker_4", "الرئيس بشار الأسد", ""), ("speaker_5", "الرئيس السابق باراك أوباما", ""),
        # after a state's name a person has a title: "أمير قطر أرجأ خطابه" names no one; nor do
        # "the ambassador [told] a small group" and "the spokesman of the foreign ministry"
        ("qatar_emir", "أمير قطر الشيخ تميم بن حمد آل ثاني", "Emir (Qatar)")]


def test_a_person_s_name_ends_where_the_name_does() -> None:
    mentions = [m for _, m, _ in _people(
        "President Emmanuel Macron declared a state of emergency. Chancellor Merkel's Christian Democrats "
        "lost. The statement came from President Barack Obama\nWhite House officials declined to comment. "
        "الرئيس أردوغان يدعو إيران إلى الحوار. واستقبل الرئيس التركي رجب طيب أردوغان نظيره الإيراني، وقال "
        "أردوغان إن الحوار مستمر. ورحبت المستشارة الألمانية أنغيلا ميركل بالاتفاق، والتقى الرئيس المصري عبد "
        "الفتاح السيسي بالوفد.")]
    # not "Macron de[clared]" nor "Christian Democrats" nor "White House"; the third name only
    # when the article uses it apart ("أردوغان" again); "أنغيلا ميركل" beside "الألمانية"
    assert mentions == ["President Emmanuel Macron", "President Barack Obama", "الرئيس التركي رجب طيب أردوغان",
                        "المستشارة الألمانية أنغيلا ميركل", "الرئيس المصري عبد الفتاح السيسي"]
    assert not _people("الرئيس " + "بن " * 3000)  # a run of joined words is read ten words at a time


def test_a_person_who_speaks_or_is_named_twice_is_offered_once() -> None:
    text = ('Putin said that the talks would go on. Russian President Vladimir Putin met Senator John Kerry, '
            'and Secretary of State John Kerry flew home.')
    grounds = grounding.Grounds(Matcher(text), ())
    found = Candidates.find(grounds)
    assert [s.mention for s in found.speakers] == ["Putin"]
    assert [(p.mention, p.start) for p in found.people] == [("Senator John Kerry", text.index("Senator"))]
    # the Qatari foreign minister speaks; the Emir, of the same family, is someone else
    assert [m for _, m, _ in _people(ARABIC + " واتصل أمير قطر الشيخ تميم بن حمد آل ثاني بالرئيس الفرنسي.")] == [
        "أمير قطر الشيخ تميم بن حمد آل ثاني"]
    # an adviser is not a chancellor
    (bolton,) = speakers(statements(Attributions(
        'قال مستشار الأمن القومي الأمريكي جون بولتون إن "العقوبات على إيران ستستمر حتى تغير سلوكها".'),
                                    20, 1200), [])
    assert bolton.actor() is None and "Chancellor" not in bolton.other


def test_an_answer_s_actor_with_an_offered_id_and_no_country_has_the_line_s_country() -> None:
    offered = speakers(statements(Attributions(ENGLISH), 20, 1200), states(Matcher(ENGLISH)))
    ready = [*(s.actor() for s in states(Matcher(ENGLISH))), *(a for s in offered if (a := s.actor()) is not None)]
    spoken = {s.id: (s.mention, s.country) for s in offered if not s.state}
    actors = [Actor(mention="Syria", id="syria", name=Bilingual(en="Syria", ar="سوريا"), kind="state", country=None),
              Actor(mention="Syria", id="syrian_army", name=Bilingual(en="Syria", ar="سوريا"), kind="state", country=None),
              Actor(mention="Faisal al-Mekdad", id="faisal_al_mekdad", kind="government", country=None,
                    name=Bilingual(en="Faisal al-Mekdad", ar="فيصل المقداد"))]
    complete(actors, ready, spoken)
    # the state's line; not an id the prompt never offered, nor a line of another kind
    assert [a.country for a in actors] == ["SYR", None, None]
    negotiators = Actor(mention="Syrian negotiators", id="syrian_negotiators", kind="other", country=None,
                        name=Bilingual(en="Syrian negotiators", ar="المفاوضون السوريون"))
    complete(found := [negotiators], ready, {"syrian_negotiators": ("Syrian negotiators", "SYR")})
    assert found[0].country == "SYR"  # a speaker without a ready line: the state its name gives


def test_a_person_named_by_their_office_is_offered_as_a_line_unless_they_speak() -> None:
    article = from_text(PEOPLE_EN, "test")
    grounds = grounding.Grounds(Matcher(article.text), ())
    found = Candidates.find(grounds)
    # Kerry speaks ("Mr Kerry said", the same person): he is offered once, as the speaker he is
    assert [s.mention for s in found.speakers] == ["Mr Kerry"] and "john_kerry" not in {p.id for p in found.people}
    block = user_message(article, article.text, False, found).split("<article_parties>")[1]
    lines = [json.loads(line) for line in block.split("</article_parties>")[0].strip().splitlines()]
    assert {"mention": "President Vladimir Putin", "id": "vladimir_putin",
            "name": {"en": "President Vladimir Putin"}} in lines
    # only those named in the part of the article sent
    cut = found.within(PEOPLE_EN.index("Russia says"))
    assert [p.id for p in cut.people] == ["angela_merkel"]
