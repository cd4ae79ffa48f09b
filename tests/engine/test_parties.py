"""The states an article names, offered to the model as ready actors."""

from __future__ import annotations

import json

from bot.engine.article import from_text
from bot.engine.brief import Candidates, user_message
from bot.engine.normalize import Matcher
from bot.engine.parties import NAMES, states
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
