"""Inline buttons: under a brief (language view, sources, JSON) and in /settings.

Brief buttons carry a short HMAC signature of chat and brief, so a crafted callback cannot open
another chat's brief; callback data stays well under Telegram's 64 bytes. Settings buttons
change the chat they are pressed in, and in groups only admins may press them.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.render import texts
from bot.store import ChatSettings

DIGEST_TIMES = ("07:00", "12:00", "18:00", "21:00")


@dataclass(frozen=True)
class BriefButton:
    kind: str  # v (view), s (sources), j (JSON)
    brief_id: int
    view: str


class Signer:
    def __init__(self, secret: bytes) -> None:
        self._key = hashlib.sha256(b"buttons:" + secret).digest()

    def sign(self, chat_id: int, brief_id: int) -> str:
        return hmac.new(self._key, f"{chat_id}:{brief_id}".encode(), hashlib.sha256).hexdigest()[:10]

    def brief_keyboard(self, chat_id: int, brief_id: int) -> InlineKeyboardMarkup:
        """Buttons under a brief; callback data (kind:brief:view:signature) stays under 40 bytes."""
        sig = self.sign(chat_id, brief_id)

        def data(kind: str, view: str = "") -> str:
            return f"{kind}:{brief_id}:{view}:{sig}"

        return InlineKeyboardMarkup([
            [InlineKeyboardButton("عربي", callback_data=data("v", "ar")),
             InlineKeyboardButton("English", callback_data=data("v", "en")),
             InlineKeyboardButton("عربي + English", callback_data=data("v", "both"))],
            [InlineKeyboardButton("📚 المصادر · Sources", callback_data=data("s")),
             InlineKeyboardButton("{ } JSON", callback_data=data("j"))],
            # the brief's actors, each opening its record in this chat (bot.chat.ledger)
            [InlineKeyboardButton("🕰 السجل · Record", callback_data=f"lb:{brief_id}:{sig}")],
        ])

    def parse(self, data: str, chat_id: int) -> BriefButton | None:
        """A brief button pressed in `chat_id`, or None if forged, foreign or malformed."""
        parts = data.split(":")
        if len(parts) != 4 or not parts[1].isdigit() or len(parts[1]) > 12:
            return None
        if not hmac.compare_digest(parts[3], self.sign(chat_id, int(parts[1]))):
            return None
        return BriefButton(parts[0], int(parts[1]), parts[2])


FORMATS = ("rich", "classic")


def settings_text(cs: ChatSettings, *, group: bool, rich: bool = False, forum: bool = False) -> str:
    """`rich`: the bot may send rich messages (RICH_MESSAGES is not off), so the chat chooses;
    `forum`: a group with topics, where the chat chooses the digest's topic."""
    view = texts.view_of(cs.lang)
    text = texts.say("settings_title", view, **texts.language_name(cs.lang))
    if rich:
        text += "\n" + texts.say(f"settings_format_{cs.format}", view)
    if group:
        text += "\n" + (texts.say("settings_digest_on", view, time=cs.digest_time, tz=cs.timezone)
                        if cs.digest_enabled else texts.say("settings_digest_off", view))
    if forum:
        text += "\n" + texts.say("settings_digest_in_topic" if cs.digest_thread_id else "settings_digest_in_general",
                                 view)
    return text


def settings_keyboard(cs: ChatSettings, *, group: bool, rich: bool = False, forum: bool = False,
                      topic: int | None = None) -> InlineKeyboardMarkup:
    """cfg:lang:<view>, cfg:format:rich|classic, cfg:digest:on|off, cfg:time:HH:MM and, in a forum,
    cfg:topic:<id> (0: General), `topic` being the one the settings message is in — the current
    choice is marked."""
    def mark(label: str, chosen: bool) -> str:
        return f"✓ {label}" if chosen else label

    def label(key: str) -> str:
        ar, en = texts.TEXTS[key]
        return f"{ar} · {en}"

    rows = [[InlineKeyboardButton(mark("العربية", cs.lang == "ar"), callback_data="cfg:lang:ar"),
             InlineKeyboardButton(mark("English", cs.lang == "en"), callback_data="cfg:lang:en"),
             InlineKeyboardButton(mark("عربي + English", cs.lang == "both"), callback_data="cfg:lang:both")]]
    if rich:
        rows.append([InlineKeyboardButton(mark("{} · {}".format(*texts.TEXTS[f"button_format_{f}"]), cs.format == f),
                                          callback_data=f"cfg:format:{f}") for f in FORMATS])
    if group:
        rows.append([InlineKeyboardButton(mark(label("button_digest_on"), cs.digest_enabled),
                                          callback_data="cfg:digest:on"),
                     InlineKeyboardButton(mark(label("button_digest_off"), not cs.digest_enabled),
                                          callback_data="cfg:digest:off")])
        rows.append([InlineKeyboardButton(mark(t, cs.digest_enabled and cs.digest_time == t),
                                          callback_data=f"cfg:time:{t}") for t in DIGEST_TIMES])
    if group and forum:
        where = [InlineKeyboardButton(mark(label("button_digest_general"), cs.digest_thread_id is None),
                                      callback_data="cfg:topic:0")]
        if topic:
            where.insert(0, InlineKeyboardButton(mark(label("button_digest_here"), cs.digest_thread_id == topic),
                                                 callback_data=f"cfg:topic:{topic}"))
        rows.append(where)
    return InlineKeyboardMarkup(rows)


def apply_setting(cs: ChatSettings, data: str) -> bool:
    """Apply a settings button to the chat's settings; False if the data is not a known choice."""
    parts = data.split(":", 2)
    if len(parts) != 3 or parts[0] != "cfg":
        return False
    _, what, value = parts
    if what == "lang" and value in texts.VIEWS:
        cs.lang = value
    elif what == "format" and value in FORMATS:
        cs.format = value
    elif what == "digest" and value in ("on", "off"):
        cs.digest_enabled = value == "on"
    elif what == "time" and value in DIGEST_TIMES:
        cs.digest_time, cs.digest_enabled = value, True
    elif what == "topic" and value.isdigit() and len(value) <= 12:
        cs.digest_thread_id = int(value) or None
    else:
        return False
    return True
