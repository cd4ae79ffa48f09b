"""Documents and photos sent to the bot: what a request stores of them, and their download.

A request stores the file's id, name, MIME type and size, never its bytes: the id stays valid on
Telegram's side, so whoever claims the request (this process after a restart, or a worker
elsewhere) downloads it then. What can be refused without the bytes (too big for Telegram's
20 MB or MAX_DOCUMENT_BYTES, a type that is not read) is refused at once, before a request exists.
"""

from __future__ import annotations

from typing import Any

from telegram import Bot, Message
from telegram.error import BadRequest

from bot.engine.article import Article
from bot.ops.config import Settings
from bot.ops.errors import DocumentError, FileTooLarge, UnsupportedFile
from bot.reading.documents import DocLimits, kind_by_name
from bot.reading.reader import read_file_bytes_async

#: Telegram lets bots download files up to this size (getFile)
TELEGRAM_DOWNLOAD_LIMIT = 20 * 1024 * 1024


def file_of(message: Message) -> dict[str, Any] | None:
    """The file a message carries for reading (a document, or a photo at its largest size), else None."""
    if message.document is not None:
        doc = message.document
        return {"id": doc.file_id, "unique": doc.file_unique_id, "name": doc.file_name, "mime": doc.mime_type,
                "size": doc.file_size}
    if message.photo:
        photo = message.photo[-1]  # Telegram lists a photo's sizes smallest first
        return {"id": photo.file_id, "unique": photo.file_unique_id, "name": None, "mime": "image/jpeg",
                "size": photo.file_size}
    return None


def max_bytes(settings: Settings) -> int:
    return min(TELEGRAM_DOWNLOAD_LIMIT, settings.max_document_bytes)


def _too_large(size: int, limit: int) -> FileTooLarge:
    mb, size_mb = f"{limit / 1_000_000:.0f}", f"{size / 1_000_000:.1f}"
    return FileTooLarge(f"{size_mb} MB; at most {mb} MB",
                        detail_ar=f"{size_mb.replace('.', '٫')} ميغابايت؛ الحد {mb} ميغابايت")


def check_file(file: dict[str, Any], settings: Settings) -> None:
    """Refuse at once what cannot be read whatever its bytes: too large, or not a type we read."""
    limit = max_bytes(settings)
    if file.get("size") and file["size"] > limit:
        raise _too_large(file["size"], limit)
    if kind_by_name(file.get("name"), file.get("mime")) is None:
        label = (file.get("name") or "").rsplit(".", 1)[-1] if "." in (file.get("name") or "") else file.get("mime")
        raise UnsupportedFile(f"{label or 'this type'}", detail_ar=f"{label or 'هذا النوع'}")


async def read_telegram_file(bot: Bot, payload: dict[str, Any], settings: Settings) -> Article:
    """Download a request's file and read it in a worker (PDF, DOCX, image by OCR, …)."""
    file = payload["file"]
    limit = max_bytes(settings)
    try:
        remote = await bot.get_file(file["id"])
    except BadRequest as exc:  # Telegram's answer for a file over its 20 MB, or an id gone stale
        if "too big" in exc.message.lower():
            raise _too_large(file.get("size") or TELEGRAM_DOWNLOAD_LIMIT + 1, limit) from exc
        raise DocumentError("Telegram did not give the file", detail_ar="لم يسلّم تيليغرام الملف") from exc
    if remote.file_size and remote.file_size > limit:
        raise _too_large(remote.file_size, limit)
    data = bytes(await remote.download_as_bytearray())
    return await read_file_bytes_async(data, file.get("name"), file.get("mime"), source="telegram",
                                       caption=payload.get("caption"), min_chars=settings.article_min_chars,
                                       max_bytes=limit, limits=DocLimits.of(settings))
