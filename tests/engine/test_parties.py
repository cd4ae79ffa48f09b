"""The parties an article names (its states, the speakers of its statements), offered to the model as actors."""

from __future__ import annotations

import json

from bot.engine import grounding
from bot.engine.article import from_text
from bot.engine.attribution import Attributions, speaker_name, statements
from bot.engine.brief import user_message
from bot.engine.candidates import Candidates
from bot.engine.normalize import Matcher
from bot.engine.parties import NAMES, speakers, states
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
        ("al_mekdad", "Syria's Deputy Foreign Minister Faisal al-Mekdad", False),  # "Mr Mekdad" is the same man
        ("turkey", "Turkey", True),  # a state the article names speaks as that state
        ("government_spokesperson", "A government spokesperson", False), ("rights_groups", "Human rights groups", False)]
    assert offered[0].passages == ("Syria is doing its best", "We shipped two shipments to the coast")
    article = from_text(ENGLISH, "test")
    user = user_message(article, article.text, False, Candidates(found, states(matcher), offered))
    block = user[user.index("<article_parties>") + len("<article_parties>"):user.index("</article_parties>")]
    lines = [json.loads(line) for line in block.strip().splitlines()]
    # the states ready to copy, then each speaker: ready too when its name gives its role, with an
    # Arabic name made of its role and state; else with its name in the article's language only
    assert [line["id"] for line in lines] == ["syria", "turkey", "al_mekdad", "government_spokesperson",
                                              "rights_groups"]
    assert lines[2] == {"mention": "Syria's Deputy Foreign Minister Faisal al-Mekdad", "id": "al_mekdad",
                        "name": {"en": "Syria's Deputy Foreign Minister Faisal al-Mekdad",
                                 "ar": "نائب وزير الخارجية (سوريا)"}, "kind": "person", "country": "SYR"}
    assert lines[3]["name"] == {"en": "A government spokesperson", "ar": "المتحدث باسم الحكومة"}
    assert lines[4] == {"mention": "Human rights groups", "id": "rights_groups", "name": {"en": "Human rights groups"}}
    assert '2. [al_mekdad] Mr Mekdad (said): "We shipped two shipments to the coast"' in user
    # only the part sent: a speaker keeps its id, and one whose statements are all cut is not offered
    cut = Candidates(found, states(matcher), offered).within(ENGLISH.index("Turkey"))
    assert [(s.id, len(s.passages)) for s in cut.speakers] == [("al_mekdad", 2)]


def test_an_answer_that_refers_to_a_speaker_s_id_means_its_own_actor_with_that_mention() -> None:
    answer = {"language": "en", "headline": {"en": "Syria says it is doing its best", "ar": "سوريا تقول إنها تبذل جهدها"},
              "summary": {"en": "Syria says it does its best.", "ar": "تقول سوريا إنها تبذل جهدها."},
              "actors": [{"mention": "Deputy Foreign Minister Faisal al-Mekdad", "id": "mekdad",
                          "name": {"en": "Faisal al-Mekdad", "ar": "فيصل المقداد"}, "kind": "person", "country": "SYR"}],
              "pressures": [], "sources": [],
              "positions": [{"quote": "Syria is doing its best", "actor": "al_mekdad",
                             "stance": {"en": "Syria does its best", "ar": "سوريا تبذل جهدها"}, "source_ids": []}]}
    spoken = {"al_mekdad": ("Deputy Foreign Minister Faisal al-Mekdad", "SYR")}
    b = grounding.read(json.dumps(answer, ensure_ascii=False), spoken=spoken).brief
    assert b is not None and b.positions[0].actor == "mekdad"
    assert not grounding.check(b, Matcher(ENGLISH))  # the quote is verbatim and its speaker confirmed
    bare = grounding.read(json.dumps(answer, ensure_ascii=False)).brief
    assert bare is not None and bare.positions[0].actor == "al_mekdad"  # without the offer: left to the checks


def test_a_speaker_the_answer_never_defines_is_read_as_the_state_it_speaks_for() -> None:
    offered = [s.actor() for s in states(Matcher(ENGLISH))]  # Syria, Turkey
    answer = {"language": "en", "headline": {"en": "Syria says it is doing its best", "ar": "سوريا تقول إنها تبذل جهدها"},
              "summary": {"en": "Syria says it does its best.", "ar": "تقول سوريا إنها تبذل جهدها."},
              "actors": [], "pressures": [], "sources": [],
              "positions": [{"quote": "Syria is doing its best", "actor": "syria_foreign_minister",
                             "stance": {"en": "Syria does its best", "ar": "سوريا تبذل جهدها"}, "source_ids": []}]}
    spoken = {"syria_foreign_minister": ("Syria's Deputy Foreign Minister Faisal al-Mekdad", "SYR")}
    b = grounding.read(json.dumps(answer, ensure_ascii=False), offered=offered, spoken=spoken).brief
    assert b is not None and b.positions[0].actor == "syria" and [a.id for a in b.actors] == ["syria"]
    assert not grounding.check(b, Matcher(ENGLISH))  # "Syria's ... minister" speaks for Syria: confirmed


ARABIC = ('قال وزير الخارجية القطري الشيخ محمد بن عبد الرحمن آل ثاني إن "الدوحة مستعدة لقبول جهود الوساطة". '
          'وقال المتحدث باسم وزارة الخارجية الإيرانية إن "التصريحات غير البناءة تزيد المشاكل في المنطقة". '
          'وأشار مسؤول مطلع إلى أن "هناك احتمالاً قريبًا للتوصل إلى صفقة جزئية".')


def test_a_speaker_named_in_arabic_gets_an_english_name_from_its_state_and_role() -> None:
    found = statements(Attributions(ARABIC), 20, 1200)
    offered = speakers(found, states(Matcher(ARABIC)))
    assert [(s.id, s.other, s.kind, s.country) for s in offered] == [
        ("qatar_foreign_minister", "Qatar foreign minister", "person", "QAT"),
        ("iran_foreign_ministry_spokesperson", "Iran foreign ministry spokesperson", "person", "IRN"),
        ("official", "Official", "person", None)]
    actor = offered[0].actor()
    assert actor is not None and (actor.mention, actor.name.ar) == (offered[0].mention, offered[0].mention)
    # an answer that quotes a speaker it never defined gets the speaker's actor added, and the
    # speaker check confirms the quote
    answer = {"language": "ar", "headline": {"ar": "قطر مستعدة للوساطة", "en": "Qatar is ready for mediation"},
              "summary": {"ar": "قطر مستعدة للوساطة.", "en": "Qatar is ready for mediation."},
              "actors": [], "pressures": [], "sources": [],
              "positions": [{"quote": "الدوحة مستعدة لقبول جهود الوساطة", "actor": "qatar_foreign_minister",
                             "stance": {"ar": "قطر مستعدة للوساطة", "en": "Qatar is ready to mediate"},
                             "source_ids": []}]}
    ready = [a for s in offered if (a := s.actor()) is not None]
    b = grounding.read(json.dumps(answer, ensure_ascii=False), offered=ready).brief
    assert b is not None and [(a.id, a.name.en) for a in b.actors] == [("qatar_foreign_minister", "Qatar foreign minister")]
    assert not grounding.check(b, Matcher(ARABIC))
