"""The article as the pipeline sees it: text plus what is known about where it came from.

`Article` is the one record of an article. What extraction finds (`bot.reading.extract.Extracted`) becomes
one with `Article.extracted`, and the envelope's `article` (`ArticleInfo`) is made from one with
`Article.info`: the metadata fields are named once, in `META_FIELDS`.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from bot.engine.normalize import detect_language, normalize
from bot.engine.schema import ArticleInfo
from bot.ops.errors import EmptyInput, NoLetters, TooShort

if TYPE_CHECKING:
    from bot.reading.extract import Extracted

Status = Literal["full", "truncated", "paywalled", "text"]
#: what an article was read from
ArticleKind = Literal["text", "html", "telegram", "pdf", "docx", "markdown", "image"]
#: what is known about an article besides its text, the same in every record of it
META_FIELDS = ("title", "outlet", "author", "published")


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
    kind: ArticleKind = "text"
    ocr: bool = False  # read from an image by OCR: its text is what was recognised
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.text = clean_text(self.text)
        if not self.language:
            self.language = detect_language(self.text)

    @functools.cached_property
    def content_hash(self) -> str:
        """Identity of the text, robust to whitespace, diacritics and quote styles (the cache and
        the envelope both ask; the text does not change after construction)."""
        return hashlib.sha256(normalize(self.text).encode()).hexdigest()

    @classmethod
    def extracted(cls, ex: Extracted, *, source: str, status: Status, url: str | None = None) -> Article:
        """The article a page's extraction found."""
        return cls(text=ex.text, source=source, url=url, language=ex.language, status=status,
                   **{k: getattr(ex, k) for k in META_FIELDS})

    def info(self, *, chars_sent: int, truncated: bool) -> ArticleInfo:
        """The envelope's record of this article: the language is the reader's, never the model's."""
        status: Status = "truncated" if truncated and self.status in ("text", "full") else self.status
        return ArticleInfo(source=self.source, url=self.url, language=self.language, chars=len(self.text),
                           chars_sent=chars_sent, truncated=truncated, status=status, kind=self.kind,
                           ocr=self.ocr, content_hash=self.content_hash, **{k: getattr(self, k) for k in META_FIELDS})


def clean_text(text: str) -> str:
    """Unify newlines and trim trailing spaces; keep paragraphs (blank lines) as they are."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def check_length(text: str, min_chars: int) -> None:
    """The one minimum-length rule (ARTICLE_MIN_CHARS, DIGEST_MIN_CHARS): shorter text is not an
    article worth a brief. The error carries both numbers, so each caller words it its own way."""
    if len(text) < min_chars:
        raise TooShort(f"{len(text)} characters; at least {min_chars} needed", chars=len(text), min_chars=min_chars)


def require_letters(text: str) -> None:
    """Refuse text without a single letter (whitespace, zero-width characters, emoji, digits):
    there is nothing to brief, and a model would only make an empty brief up."""
    if not any(ch.isalpha() for ch in text):
        raise NoLetters()


_ANT = re.compile(r"<(TITLE|TEXT|SRC|TIME|URL|AUTHOR)>\s*(.*?)\s*</\1>", re.S)


def readable(text: str, *, min_chars: int = 1) -> tuple[str, dict[str, str | None]]:
    """The cleaned text and its metadata when it can be an article; EmptyInput, NoLetters or
    TooShort otherwise. Cheap (no language detection): the bot refuses a paste with it at once."""
    meta: dict[str, str | None] = {}
    if text.lstrip().startswith("<DOC>"):
        # ANT corpus files (tests and evaluation): TITLE/TEXT/SRC/TIME tags
        fields = dict(_ANT.findall(text))
        text = fields.get("TEXT", "")
        meta = {"title": fields.get("TITLE") or None, "outlet": fields.get("SRC") or None,
                "published": fields.get("TIME") or None, "url": fields.get("URL") or None,
                "author": fields.get("AUTHOR") or None}
    cleaned = clean_text(text)
    if not cleaned:
        raise EmptyInput()
    require_letters(cleaned)
    check_length(cleaned, min_chars)
    return cleaned, meta


def from_text(text: str, source: str, *, min_chars: int = 1, **meta: str | None) -> Article:
    """Build an article from pasted or loaded text; refuse empty or too-short input."""
    cleaned, found = readable(text, min_chars=min_chars)
    return Article(text=cleaned, source=source, **{**found, **meta})  # type: ignore[arg-type]


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


# --- tokens, estimated ---------------------------------------------------------------------------
#: Characters per token, on the low side so that estimates err high: Arabic letters take a token
#: per 2 to 2.5 characters in the tokenizers of common open models (2 is used), everything else
#: (English, digits, JSON) about one per 4. Used to fit the article into LLM_CONTEXT_TOKENS.
ARABIC_CHARS_PER_TOKEN = 2.0
OTHER_CHARS_PER_TOKEN = 4.0
_ARABIC = re.compile(r"[\u0600-\u06FF\u0750-\u077F\uFB50-\uFDFF\uFE70-\uFEFF]")


def estimate_tokens(text: str) -> int:
    """Tokens `text` takes at most, about: see ARABIC_CHARS_PER_TOKEN."""
    arabic = len(_ARABIC.findall(text))
    return math.ceil(arabic / ARABIC_CHARS_PER_TOKEN + (len(text) - arabic) / OTHER_CHARS_PER_TOKEN)


def fit_tokens(text: str, max_chars: int, max_tokens: int | None) -> tuple[str, bool]:
    """`fit` within `max_chars` characters and, when given, an estimated `max_tokens`."""
    cut, truncated = fit(text, max_chars)
    if max_tokens is None:
        return cut, truncated
    budget = max_chars
    while estimate_tokens(cut) > max_tokens and cut:
        # chars per token of this very text, then a little less each round until it fits
        budget = min(budget - 1, math.floor(max_tokens * len(cut) / max(estimate_tokens(cut), 1)))
        if budget <= 0:
            return "", True
        cut, _ = fit(text, budget)
        truncated = True
    return cut, truncated
