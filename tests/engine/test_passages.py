"""The envelope keeps the article's paragraphs that hold a verified span, and only those."""

from __future__ import annotations

from bot.engine.passages import passages
from tests.conftest import EXAMPLE_ARTICLE, example_brief
from tests.fakes.briefs import envelope


def test_only_paragraphs_with_a_span_are_kept_with_their_offsets() -> None:
    text = "first line\nsecond has the span here\n\nthird too\nfourth"
    at = text.index("the span")
    kept = passages(text, [(at, at + 8), (text.index("third"), text.index("third") + 5)])
    assert [(p.start, p.text) for p in kept] == [(11, "second has the span here"), (text.index("third"), "third too")]
    assert passages(text, []) == []


def test_every_verified_span_lies_inside_a_kept_paragraph() -> None:
    article = EXAMPLE_ARTICLE.read_text(encoding="utf-8")
    env = envelope(example_brief(), article)
    checks = [p.evidence_check for p in env.brief.pressures] + [p.quote_check for p in env.brief.positions]
    spans = [c for c in checks if c is not None and c.verified]
    assert spans
    for c in spans:
        assert any(p.start <= c.start and c.end <= p.start + len(p.text) for p in env.article.passages)
        assert article[c.start:c.end] in "".join(p.text for p in env.article.passages)
    assert sum(len(p.text) for p in env.article.passages) < len(article)
