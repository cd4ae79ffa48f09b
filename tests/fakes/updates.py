"""Update payloads as Telegram sends them, for pushing into the fake Bot API server."""

from __future__ import annotations

import itertools
import time
from typing import Any

from tests.fakes.botapi_server import BOT_ID, BOT_USERNAME

_ids = itertools.count(1)


def user(uid: int, name: str = "Reader") -> dict[str, Any]:
    return {"id": uid, "is_bot": False, "first_name": name, "language_code": "ar"}


def chat(cid: int) -> dict[str, Any]:
    if cid > 0:
        return {"id": cid, "type": "private", "first_name": "Reader"}
    if cid < -1009000000000:
        return {"id": cid, "type": "channel", "title": "News Channel"}
    return {"id": cid, "type": "supergroup", "title": "Newsroom"}


def message(cid: int, text: str = "", *, uid: int | None = None, entities: list[dict[str, Any]] | None = None,
            caption: str | None = None, reply_to: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {"message_id": next(_ids), "date": int(time.time()), "chat": chat(cid), **extra}
    if cid > -1009000000000:
        msg["from"] = user(uid or abs(cid))
    if caption is not None:
        msg["caption"] = caption
        if entities:
            msg["caption_entities"] = entities
    else:
        msg["text"] = text
        if entities:
            msg["entities"] = entities
    if reply_to is not None:
        msg["reply_to_message"] = reply_to
    return msg


def utf16_offset(text: str, sub: str) -> tuple[int, int]:
    start = text.index(sub)
    return len(text[:start].encode("utf-16-le")) // 2, len(sub.encode("utf-16-le")) // 2


def command(cid: int, text: str, **kw: Any) -> dict[str, Any]:
    name = text.split()[0]
    return message(cid, text, entities=[{"type": "bot_command", "offset": 0, "length": len(name)}], **kw)


def mention(cid: int, text: str, **kw: Any) -> dict[str, Any]:
    off, length = utf16_offset(text, f"@{BOT_USERNAME}")
    return message(cid, text, entities=[{"type": "mention", "offset": off, "length": length}], **kw)


def link_message(cid: int, text: str, url: str, **kw: Any) -> dict[str, Any]:
    off, length = utf16_offset(text, url)
    return message(cid, text, entities=[{"type": "url", "offset": off, "length": length}], **kw)


def forwarded_from_channel(cid: int, text: str, title: str, **kw: Any) -> dict[str, Any]:
    origin = {"type": "channel", "date": int(time.time()) - 60, "message_id": 55,
              "chat": {"id": -1001234567890, "type": "channel", "title": title, "username": "newschan"}}
    return message(cid, text, forward_origin=origin, **kw)


def bot_message(cid: int, message_id: int, text: str = "brief") -> dict[str, Any]:
    return {"message_id": message_id, "date": int(time.time()), "chat": chat(cid), "text": text,
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "News Brief", "username": BOT_USERNAME}}


def callback(cid: int, message_id: int, data: str, uid: int | None = None) -> dict[str, Any]:
    return {"id": str(next(_ids)), "from": user(uid or abs(cid)), "chat_instance": "ci", "data": data,
            "message": bot_message(cid, message_id)}
