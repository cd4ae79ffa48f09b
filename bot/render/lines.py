"""One line of a message in one language: escaped for HTML, the other script isolated, Arabic led by an RLM."""

from __future__ import annotations

import html
from typing import Literal

from bot.engine.normalize import script_share, strip_bidi
from bot.render.classic import FSI, PDI, RLM

Lang = Literal["ar", "en"]


def esc(text: str, lang: Lang, cap: int) -> str:
    """Escaped for HTML and cut to `cap` with "…"; a run in the other script is isolated so it cannot
    reorder the line."""
    text = " ".join(strip_bidi(text).split())
    if len(text) > cap:
        text = text[: cap - 1].rstrip() + "…"
    arabic, latin = script_share(text)
    if (lang == "ar" and latin > arabic) or (lang == "en" and arabic > latin):
        text = f"{FSI}{text}{PDI}"
    return html.escape(text, quote=False)


def line(text: str, lang: Lang) -> str:
    """An Arabic line starts right to left whatever its first word is."""
    return f"{RLM}{text}" if lang == "ar" else text
