"""Settings: one `Settings` object read from the environment and `.env`.

Every field here is documented in `.env.example`; the names of the LLM settings are the openai
SDK's own, so that one `.env` serves OpenAI, Ollama, vLLM, llama.cpp server and OpenRouter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

IdSet = Annotated[frozenset[int], NoDecode]


class Settings(BaseSettings):
    """Everything the bot and the CLI can be told, with safe defaults."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # --- LLM ---
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    llm_model: str = "gpt-4o-mini"
    llm_timeout_s: float = Field(90.0, gt=0)
    llm_max_attempts: int = Field(4, ge=1, le=10)
    llm_retry_base_s: float = Field(1.0, ge=0)
    llm_response_format: Literal["json_schema", "json_object", "none"] = "json_schema"
    llm_max_concurrency: int = Field(64, ge=1)  # the ceiling of the adaptive cap (bot/engine/llm.py)
    llm_max_completion_tokens: int = Field(4096, ge=256)
    # the model's context window: with it set, the article is cut so that prompt + completion fit
    llm_context_tokens: int | None = Field(None, ge=1024)
    llm_temperature: float = Field(0.2, ge=0, le=2)
    # json_schema mode: every quote and evidence must be one of the article's sentences or clauses
    # (constrained decoding; for small local models, which otherwise write near-copies)
    llm_spans_in_schema: bool = False
    # standard Chat Completions penalties against a model repeating itself; unset: not sent
    llm_frequency_penalty: float | None = Field(None, ge=-2, le=2)
    llm_presence_penalty: float | None = Field(None, ge=-2, le=2)
    # JSON object added to every request, for a server's own sampling settings (llama-server:
    # {"repeat_penalty": 1.1, "dry_multiplier": 0.8}); unset: nothing added
    llm_extra_body: dict[str, Any] | None = None
    article_max_chars: int = Field(14000, ge=500)
    article_min_chars: int = Field(120, ge=1)

    # --- Telegram ---
    telegram_bot_token: SecretStr | None = None
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    allowed_chat_ids: IdSet = frozenset()
    allowed_user_ids: IdSet = frozenset()
    admin_user_ids: IdSet = frozenset()
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = 8443
    max_links_per_message: int = Field(3, ge=1, le=10)

    # --- fetching ---
    fetch_allow_private_addresses: bool = False
    fetch_timeout_s: float = Field(20.0, gt=0)
    fetch_max_bytes: int = Field(5_000_000, ge=10_000)
    fetch_max_redirects: int = Field(5, ge=0, le=10)
    fetch_cache_ttl_s: int = Field(6 * 3600, ge=0)
    fetch_user_agent: str = "Mozilla/5.0 (compatible; newsbot/0.1)"
    extract_timeout_s: float = Field(20.0, gt=0)
    extract_max_elements: int = Field(50_000, ge=100)

    # --- documents and images (PDF, DOCX, TXT, HTML, MD; PNG, JPEG, WebP and photos) ---
    # bytes of one file; Telegram lets bots download at most 20 MB whatever this says
    max_document_bytes: int = Field(10_000_000, ge=10_000)
    max_pdf_pages: int = Field(100, ge=1)  # pages of a PDF's text layer read
    max_ocr_pages: int = Field(10, ge=1)  # pages of a PDF without a text layer read by OCR
    max_image_pixels: int = Field(40_000_000, ge=100_000)  # width × height of an image to OCR
    document_timeout_s: float = Field(90.0, gt=0)  # reading one file, OCR included, in a worker

    # --- storage and quotas ---
    data_dir: Path = Path("data")
    database_path: Path | None = None
    # postgresql://user:password@host/db shares the store between a receiver and workers; sqlite:///path or unset: SQLite
    database_url: SecretStr | None = None
    database_pool_size: int = Field(10, ge=1)
    # this process's name on its claims; unset: host:pid. A stable, unique name (a container's) lets a
    # restarted process take its own unfinished requests back at once instead of after the lease
    worker_name: str | None = None
    worker_lease_s: float = Field(60.0, ge=1)  # a dead worker's request goes to another after this long
    worker_concurrency: int = Field(256, ge=1)  # requests one process works on at once
    worker_poll_s: float = Field(2.0, gt=0)  # how often a worker looks for work when nothing woke it
    daily_requests_per_user: int = Field(0, ge=0)
    daily_tokens_per_chat: int = Field(0, ge=0)
    #: articles one chat may have collected for its digest per day (0: no limit); on by default, as
    #: anyone in a group can post, and collected posts are briefed without anyone asking
    daily_collected_per_chat: int = Field(100, ge=0)
    request_max_attempts: int = Field(3, ge=1)
    digest_min_chars: int = Field(400, ge=0)
    digest_llm_merge: bool = False  # the LLM settles borderline "same story?" pairs (one small call per digest)

    # --- the chat ---
    status_grace_s: float = Field(0.8, ge=0)
    typing_interval_s: float = Field(4.5, gt=0)
    paste_join_window_s: float = Field(1.5, ge=0)
    rich_messages: Literal["auto", "on", "off"] = "auto"
    rich_retry_s: float = Field(3600.0, ge=0)  # auto: how long a refusal of rich messages is remembered

    # --- operations ---
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "debug", "info", "warning", "error"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    metrics_port: int | None = Field(None, ge=0, le=65535)
    metrics_listen: str = "127.0.0.1"
    shutdown_timeout_s: float = Field(4.0, gt=0)

    @field_validator("allowed_chat_ids", "allowed_user_ids", "admin_user_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace(";", ",").split(",")]
            return frozenset(int(p) for p in parts if p)
        return value

    @field_validator("openai_api_key", "openai_base_url", "telegram_bot_token", "webhook_url", "webhook_secret",
                     "database_path", "database_url", "worker_name", "llm_frequency_penalty",
                     "llm_presence_penalty", "llm_extra_body", "metrics_port", "llm_context_tokens", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        # `KEY=` in a .env copied from .env.example means "not set", not "set to nothing"
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def db_path(self) -> Path:
        """Where the SQLite database lives (DATABASE_PATH, else DATA_DIR/newsbot.sqlite3)."""
        return self.database_path or self.data_dir / "newsbot.sqlite3"

    @property
    def sqlite_file(self) -> Path | None:
        """The store's SQLite file as `open_store` picks it (DATABASE_URL sqlite:///path, else
        `db_path`), or None when DATABASE_URL names PostgreSQL."""
        url = self.database_url.get_secret_value() if self.database_url else ""
        if url.startswith(("postgresql://", "postgres://")):
            return None
        return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else self.db_path

    @property
    def telegram_file_base_url(self) -> str:
        """Where files are downloaded from: https://api.telegram.org/file/bot for the default API."""
        base = self.telegram_api_base_url.rstrip("/")
        return f"{base[:-4]}/file/bot" if base.endswith("/bot") else f"{base}/file/bot"

    @property
    def llm_configured(self) -> bool:
        """An API key or an explicit endpoint (local servers need no key)."""
        return self.openai_api_key is not None or self.openai_base_url is not None


def invalid_settings(exc: ValidationError) -> str:
    """Every setting a ValidationError found wrong, named as in .env: "LLM_MAX_ATTEMPTS: …; …"."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors())
