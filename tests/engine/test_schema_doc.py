"""The contract document (docs/schema.md) says what the code does."""

from __future__ import annotations

import json
import re
import typing
from pathlib import Path

from bot.engine import normalize
from bot.engine.schema import (
    SCHEMA_VERSION,
    ActorKind,
    CheckReport,
    Dropped,
    Grounding,
    PressureEvent,
    SourceKind,
    SpanCheck,
    brief_json_schema,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "schema.md"


def generated_block(text: str) -> str:
    match = re.search(r"<!-- generated: newsbot schema -->\n```json\n(.*?)\n```\n<!-- end generated -->", text, re.S)
    assert match, "docs/schema.md lost its generated block"
    return match.group(1)


def test_generated_schema_matches_newsbot_schema() -> None:
    # regenerate with: newsbot schema, pasted between the markers
    assert json.loads(generated_block(DOC.read_text(encoding="utf-8"))) == brief_json_schema()


def test_every_enum_value_is_documented() -> None:
    prose = DOC.read_text(encoding="utf-8").split("## JSON Schema (generated)")[0]
    for enum in (ActorKind, PressureEvent, SourceKind):
        for value in typing.get_args(enum):
            assert f"`{value}`" in prose, f"{value} is not described in docs/schema.md"


def test_matching_rules_in_the_document_are_the_code_s() -> None:
    prose = DOC.read_text(encoding="utf-8")
    assert f"**at most {normalize.MAX_GAP} characters**" in prose
    assert f"**at least {normalize.MIN_WORDS_PIECE} words in every piece**" in prose
    assert f"**at least {normalize.MIN_WORDS_WHOLE} words**" in prose
    assert f"at most {normalize.MAX_WORDS_NAME} words" in prose
    assert f"# The brief: JSON contract (schema v{SCHEMA_VERSION})" in prose
    assert f"| `schema_version` | `\"{SCHEMA_VERSION}\"` |" in prose


def test_every_envelope_check_field_is_documented() -> None:
    prose = DOC.read_text(encoding="utf-8")
    fields = [*CheckReport.model_fields, *Grounding.model_fields, *Grounding.model_computed_fields,
              *SpanCheck.model_fields, *Dropped.model_fields, "mention_check", "evidence_check", "quote_check",
              "name_check"]
    for name in fields:
        assert f"`{name}`" in prose or f"{name}," in prose or f"{name}}}" in prose, name
