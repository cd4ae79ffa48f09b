"""The contract document (docs/schema.md) says what the code does."""

from __future__ import annotations

import json
import re
import typing
from pathlib import Path

from bot.schema import ActorKind, PressureEvent, SourceKind, brief_json_schema

DOC = Path(__file__).resolve().parents[1] / "docs" / "schema.md"


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
