"""The article as the pipeline sees it: text plus what is known about where it came from."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Literal

from bot.errors import EmptyInput, NoLetters, TooShort
from bot.normalize import detect_language, normalize

Status = Literal["full", "truncated", "paywalled", "text"]


@dataclass
class Article:
    text: str
    source: str  # a path, a URL, "stdin" or "telegram"
    url: str | None = None
    title: str | None = None
    outlet: str | None = None
    author: str | None = None
    published: str | None = None
    language: str = ""
    status: Status = "text"
    #: who forwarded or published it, when the input says so (a channel's title)
    publisher_hint: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.text = clean_text(self.text)
        if not self.language:
            self.language = detect_language(self.text)

    @property
    def content_hash(self) -> str:
        """Identity of the text, robust to whitespace, diacritics and quote styles."""
        return hashlib.sha256(normalize(self.text).encode()).hexdigest()


def clean_text(text: str) -> str:
    """Unify newlines and trim trailing spaces; keep paragraphs (blank lines) as they are."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def require_letters(text: str) -> None:
    """Refuse text without a single letter (whitespace, zero-width characters, emoji, digits):
    there is nothing to brief, and a model would only make an empty brief up."""
    if not any(ch.isalpha() for ch in text):
        raise NoLetters()


_ANT = re.compile(r"<(TITLE|TEXT|SRC|TIME|URL|AUTHOR)>\s*(.*?)\s*</\1>", re.S)


def from_text(text: str, source: str, *, min_chars: int = 1, **meta: str | None) -> Article:
    """Build an article from pasted or loaded text; refuse empty or too-short input."""
    if text.lstrip().startswith("<DOC>"):
        # ANT corpus files (tests and evaluation): TITLE/TEXT/SRC/TIME tags
        fields = dict(_ANT.findall(text))
        text = fields.get("TEXT", "")
        meta = {"title": fields.get("TITLE") or None, "outlet": fields.get("SRC") or None,
                "published": fields.get("TIME") or None, "url": fields.get("URL") or None,
                "author": fields.get("AUTHOR") or None, **meta}
    cleaned = clean_text(text)
    if not cleaned:
        raise EmptyInput()
    require_letters(cleaned)
    if len(cleaned) < min_chars:
        raise TooShort(f"{len(cleaned)} characters; at least {min_chars} needed")
    return Article(text=cleaned, source=source, **meta)  # type: ignore[arg-type]


def fit(text: str, budget: int) -> tuple[str, bool]:
    """Cut `text` to at most `budget` characters at a paragraph boundary (else a line, else a
    sentence); return the text and whether it was cut."""
    if len(text) <= budget:
        return text, False
    head = text[:budget]
    for sep in ("\n\n", "\n", ". ", ". ", "۔ ", "? ", "! "):
        cut = head.rfind(sep)
        if cut >= budget // 2:
            return head[: cut + (1 if sep.strip() else 0)].rstrip(), True
    return head.rstrip(), True
