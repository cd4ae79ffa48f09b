"""The store: requests, briefs, chat settings, usage, digests and shared limits, behind one interface.

`base` is the interface; `sqlite` (one process, the default) and `postgres` (a receiver and workers
on one database) implement it. `open_store` picks one from the settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from bot.store.base import ChatSettings, DigestEntry, Quota, Request, Store, UsageFigures, dedupe_key, request_of, today

if TYPE_CHECKING:
    from bot.ops.config import Settings

__all__ = ["ChatSettings", "DigestEntry", "Quota", "Request", "Store", "UsageFigures", "dedupe_key", "location",
           "open_store", "request_of", "today"]


def open_store(settings: Settings) -> Store:
    """The store DATABASE_URL names (not opened yet): PostgreSQL, or SQLite (the default)."""
    file = settings.sqlite_file
    if file is None:
        from bot.store.postgres import PostgresStore

        assert settings.database_url is not None  # only a PostgreSQL URL names no SQLite file
        return PostgresStore(settings.database_url.get_secret_value(), pool_size=settings.database_pool_size)
    from bot.store.sqlite import SQLiteStore

    return SQLiteStore(file)


def location(settings: Settings) -> str:
    """The database, named for a message: never with its password."""
    if settings.database_url:
        parts = urlsplit(settings.database_url.get_secret_value())
        if "@" in parts.netloc:
            parts = parts._replace(netloc="…@" + parts.netloc.rpartition("@")[2])
        return f"{urlunsplit(parts)} (DATABASE_URL)"
    return f"{settings.db_path} (DATA_DIR / DATABASE_PATH)"
