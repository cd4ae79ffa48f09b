"""Settings: every one documented in .env.example, blanks mean unset, secrets stay secret."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.ops.config import Settings

EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"


def example_keys() -> set[str]:
    return {line.split("=", 1)[0] for line in EXAMPLE.read_text().splitlines() if line and not line.startswith("#")}


def documented_keys() -> set[str]:
    """Set in the example, or shown commented out with its default (DATA_DIR: the image sets its own)."""
    return example_keys() | set(re.findall(r"^# ([A-Z][A-Z0-9_]+)=", EXAMPLE.read_text(), re.M))


def test_every_setting_is_documented_and_nothing_else() -> None:
    assert documented_keys() == {name.upper() for name in Settings.model_fields}


def test_the_example_file_loads_with_blanks_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in example_keys():
        monkeypatch.delenv(key, raising=False)
    s = Settings(_env_file=EXAMPLE)  # type: ignore[call-arg]
    assert s.openai_api_key is None and s.telegram_bot_token is None and s.database_path is None
    assert not s.llm_configured
    assert s.db_path == Path("data") / "newsbot.sqlite3"
    assert s.llm_response_format == "json_schema" and s.allowed_chat_ids == frozenset()


def test_id_lists_and_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOWED_CHAT_IDS", "-100123, 42,")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.allowed_chat_ids == frozenset({-100123, 42})
    assert "sk-secret-value" not in repr(s) and "sk-secret-value" not in str(s.model_dump())


def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_RESPONSE_FORMAT", "xml")
    with pytest.raises(ValidationError):
        Settings(_env_file=None)  # type: ignore[call-arg]



async def test_sqlite_file_is_the_file_the_store_opens(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`newsbot summarize` asks whether this file exists before it opens the store: they must agree."""
    from bot.store import open_store
    from bot.store.sqlite import SQLiteStore

    for key in ("DATA_DIR", "DATABASE_PATH", "DATABASE_URL"):
        monkeypatch.delenv(key, raising=False)
    for given in ({"data_dir": tmp_path / "a"}, {"database_path": tmp_path / "b.sqlite3"},
                  {"database_url": f"sqlite:///{tmp_path / 'c.sqlite3'}"}):
        settings = Settings(_env_file=None, **given)  # type: ignore[call-arg, arg-type]
        store = open_store(settings)
        assert isinstance(store, SQLiteStore) and store.path == settings.sqlite_file
        await store.close()
    postgres = Settings(_env_file=None, database_url="postgresql://u:p@localhost/db")  # type: ignore[call-arg]
    assert postgres.sqlite_file is None
