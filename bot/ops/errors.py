"""The project's exceptions: one small tree, each with a message a user can act on.

Every error carries a bilingual, user-facing text (`user_message`) so that the CLI and the
Telegram handlers never have to invent wording, and never show a traceback for a user mistake.
"""

from __future__ import annotations


class NewsbotError(Exception):
    """Base of every error this package raises on purpose."""

    #: short machine-readable code, stable across versions (used in JSON and logs)
    code = "error"
    ar = "حدث خطأ غير متوقع."
    en = "Something went wrong."

    def __init__(self, detail: str = "", *, detail_ar: str = "") -> None:
        super().__init__(detail or self.en)
        self.detail = detail
        #: the detail in Arabic; the chat shows a detail only when it has both languages
        self.detail_ar = detail_ar

    @property
    def user_message(self) -> str:
        """Arabic line, then English line; the detail (English) is appended when present."""
        en = self.en if not self.detail else f"{self.en} ({self.detail})"
        return f"{self.ar}\n{en}"


class ConfigError(NewsbotError):
    code = "config"
    ar = "الإعدادات ناقصة أو غير صحيحة."
    en = "The configuration is missing or invalid."


# --- input -----------------------------------------------------------------------------------
class InputError(NewsbotError):
    code = "bad_input"
    ar = "تعذّرت قراءة المُدخل."
    en = "The input could not be read."


class EmptyInput(InputError):
    code = "empty"
    ar = "لم أجد نصًا لأعمل عليه. أرسل مقالًا أو رابطًا."
    en = "There is no text to work on. Send an article or a link."


class NotAnArticle(InputError):
    code = "not_article"
    ar = "هذا لا يبدو مقالًا إخباريًا (ربما صورة أو فيديو أو صفحة بلا نص)."
    en = "This does not look like a news article (an image, a video or a page without text?)."


class TooShort(InputError):
    code = "too_short"
    ar = "النص قصير جدًا لكتابة ملخص موثوق."
    en = "The text is too short for a reliable brief."

    def __init__(self, detail: str = "", *, detail_ar: str = "", chars: int | None = None,
                 min_chars: int | None = None) -> None:
        super().__init__(detail, detail_ar=detail_ar)
        self.chars = chars  # how long the text is
        self.min_chars = min_chars  # how long it must be


class NoLetters(InputError):
    """Whitespace, invisible characters, emoji or digits only: nothing a brief could be about."""

    code = "no_letters"
    ar = "لا يحتوي النص على كلمات (مسافات أو رموز أو رموز تعبيرية فقط)."
    en = "The text has no words in it (only spaces, symbols or emoji)."


class DocumentError(InputError):
    """A file (PDF, DOCX, image, …) that cannot be read; `name` is the file's name when known."""

    code = "document"
    ar = "تعذّرت قراءة هذا الملف."
    en = "This file could not be read."


class UnsupportedFile(DocumentError):
    code = "unsupported_file"
    ar = "لا أقرأ هذا النوع من الملفات. أرسل PDF أو DOCX أو TXT أو HTML أو صورة (PNG أو JPEG أو WebP)."
    en = "I do not read this kind of file. Send a PDF, DOCX, TXT, HTML or an image (PNG, JPEG or WebP)."


class FileTooLarge(DocumentError):
    code = "file_too_large"
    ar = "الملف أكبر من الحد المسموح."
    en = "The file is larger than the allowed limit."


class BrokenDocument(DocumentError):
    """Encrypted, damaged, or built to exhaust the reader (a zip bomb)."""

    code = "broken_document"
    ar = "الملف تالف أو مشفّر أو مصمَّم لإرهاق القارئ، فلا أستطيع قراءته."
    en = "The file is damaged, encrypted or built to overload a reader, so I cannot read it."


class ImageTooLarge(DocumentError):
    code = "image_too_large"
    ar = "أبعاد الصورة أكبر من أن تُقرأ."
    en = "The image has too many pixels to read."


class NoTextFound(DocumentError):
    code = "no_text_found"
    ar = "لم أجد نصًا مقروءًا في هذا الملف أو هذه الصورة."
    en = "I found no readable text in this file or image."


# --- fetching --------------------------------------------------------------------------------
class FetchError(NewsbotError):
    code = "fetch_failed"
    ar = "تعذّر تحميل الرابط."
    en = "The link could not be fetched."


class BlockedAddress(FetchError):
    code = "blocked_address"
    ar = "لا أفتح هذا النوع من العناوين (عنوان داخلي أو غير عام أو بروتوكول غير مدعوم)."
    en = "I do not open this kind of address (private, internal or unsupported scheme)."


class FetchTooLarge(FetchError):
    code = "too_large"
    ar = "الصفحة أكبر من الحد المسموح."
    en = "The page is larger than the allowed limit."


class PageTooComplex(FetchError):
    """Too many elements to parse, or parsing took longer than EXTRACT_TIMEOUT_S."""

    code = "too_complex"
    ar = "هذه الصفحة معقدة جدًا فلا أستطيع قراءتها."
    en = "This page is too complex to read."


class FetchBlocked(FetchError):
    code = "blocked_by_site"
    ar = "رفض الموقع الطلب أو لم يستجب في الوقت المحدد."
    en = "The site refused the request or did not answer in time."


class Paywalled(FetchError):
    code = "paywall"
    ar = "يبدو أن المقال خلف جدار دفع أو مقتطع؛ أرسل نصه مباشرة."
    en = "The article seems to be paywalled or truncated; paste its text instead."


# --- LLM -------------------------------------------------------------------------------------
class LLMError(NewsbotError):
    code = "llm_error"
    ar = "تعذّر على نموذج اللغة كتابة الملخص."
    en = "The language model could not write the brief."

    def __init__(self, detail: str = "", *, detail_ar: str = "", status: int | None = None,
                 reason: str | None = None, setting: str | None = None) -> None:
        super().__init__(detail, detail_ar=detail_ar)
        self.status = status  # the endpoint's HTTP status, when it answered with one
        self.reason = reason  # the endpoint's own message: one line, never the API key
        self.setting = setting  # the setting that would fix it (LLM_TIMEOUT_S, LLM_RESPONSE_FORMAT, ...)


class LLMUnavailable(LLMError):
    code = "llm_unavailable"
    ar = "خدمة نموذج اللغة غير متاحة الآن. حاول لاحقًا."
    en = "The language model service is unavailable right now. Try again later."


class LLMAuthError(LLMError):
    code = "llm_auth"
    ar = "رفضت خدمة نموذج اللغة المفتاح أو الطلب."
    en = "The language model service rejected the key or the request."


class LLMRefused(LLMError):
    code = "llm_refused"
    ar = "رفض نموذج اللغة تلخيص هذا النص."
    en = "The language model refused to summarise this text."


class LLMRequestRejected(LLMError):
    """The endpoint named our request as the cause (unsupported response_format, context too long):
    retrying the same request cannot help, so it is not retried and the server's reason is shown."""

    code = "llm_rejected"
    ar = "رفضت خدمة نموذج اللغة الطلب."
    en = "The language model service rejected the request."


class LLMTruncated(LLMError):
    code = "llm_truncated"
    ar = "توقّف نموذج اللغة قبل إكمال الملخص (حد الطول)."
    en = "The language model stopped before finishing the brief (length limit)."

    def __init__(self, detail: str = "", *, cut_off: str = "length", partial: object = None,
                 setting: str | None = None) -> None:
        super().__init__(detail, setting=setting)
        self.cut_off = cut_off  # "length" (token limit) or "repetition" (stopped: the model looped)
        self.partial = partial  # the `LLMReply` with what was produced, for callers that salvage


class LLMBadOutput(LLMError):
    code = "llm_bad_output"
    ar = "أعاد نموذج اللغة ملخصًا لا يطابق المخطط حتى بعد التصحيح."
    en = "The language model returned a brief that does not fit the schema, even after a repair."

    def __init__(self, detail: str = "", *, failures: list[object] | None = None, cut_off: str | None = None,
                 setting: str | None = None) -> None:
        super().__init__(detail, setting=setting)
        self.failures = failures or []  # the `CheckIssue`s of the best answer: what made it unusable
        self.cut_off = cut_off  # "length" or "repetition" when that answer did not finish


# --- bot-level -------------------------------------------------------------------------------
class QuotaReached(NewsbotError):
    code = "quota"
    ar = "بلغت الحد اليومي للطلبات. حاول غدًا."
    en = "The daily quota is reached. Try again tomorrow."


class CollectBudgetReached(QuotaReached):
    """The chat's daily budget of articles collected for its digest is spent (DAILY_COLLECTED_PER_CHAT)."""

    code = "collect_budget"

    def __init__(self, budget: int) -> None:
        super().__init__(f"{budget} collected articles per chat per day")
        self.budget = budget


class NotAllowed(NewsbotError):
    code = "not_allowed"
    ar = "هذا البوت غير متاح في هذه المحادثة."
    en = "This bot is not available in this chat."


class StorageUnavailable(NewsbotError):
    """The store cannot write (disk full, read-only, locked): no work is accepted until it can."""

    code = "storage"
    ar = "لا أستطيع قبول طلبات الآن (مشكلة في التخزين لدى البوت). أعد المحاولة بعد قليل."
    en = "I cannot accept work right now (the bot's storage has a problem). Please try again shortly."
