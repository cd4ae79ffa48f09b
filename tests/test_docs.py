"""The documents a newcomer reads: a short README, and every setting documented where people look."""

from __future__ import annotations

import re
from pathlib import Path

from bot.ops.config import Settings

ROOT = Path(__file__).resolve().parents[1]
README_MAX_CHARS = 12_000


def settings_names() -> list[str]:
    return [name.upper() for name in Settings.model_fields]


def test_readme_stays_short() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text) <= README_MAX_CHARS, f"README.md has {len(text):,} characters; move details to docs/"


def test_every_setting_is_in_env_example() -> None:
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    written = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", example, flags=re.MULTILINE))
    missing = [name for name in settings_names() if name not in written]
    assert not missing, f"not in .env.example: {missing}"


def test_every_setting_is_in_the_configuration_doc() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \|", doc, flags=re.MULTILINE))
    missing = [name for name in settings_names() if name not in rows]
    assert not missing, f"not in a row of docs/configuration.md: {missing}"
    unknown = sorted(rows - set(settings_names()))
    assert not unknown, f"docs/configuration.md documents settings the code does not read: {unknown}"
