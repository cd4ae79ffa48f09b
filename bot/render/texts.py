"""Every word the bot says in the chat, in Arabic and English, in one place.

Handlers never write user-facing text themselves: they call `say(key, view, **values)` or one of
the helpers below, so wording, plural forms and number formatting are reviewed here once.

Choices made once for the whole bot:
- Numbers use Western digits in both languages (as most Arab newsrooms print them), grouped in
  thousands with the Arabic thousands separator (٬) in Arabic and a comma in English.
- Arabic counts follow the language's plural forms: 1 (singular, "واحد"), 2 (dual), 3–10
  (plural), 11–99 (singular accusative), 100+ and 0 (singular).
- Lists are joined with the Arabic comma (،) in Arabic.
- An Arabic line starts with a right-to-left mark, so Telegram lays it out right to left even
  when it begins with a Latin name or a digit.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Literal

View = Literal["ar", "en", "both"]
RLM = "\u200f"
VIEWS: tuple[View, ...] = ("ar", "en", "both")


@dataclass(frozen=True)
class Noun:
    """An Arabic noun's forms for counting, and its English singular and plural."""

    ar_one: str  # طلب واحد
    ar_two: str  # طلبان
    ar_few: str  # طلبات (3–10)
    ar_many: str  # طلبًا (11–99)
    ar_other: str  # طلب (0, 100+)
    en_one: str
    en_other: str


REQUESTS = Noun("طلب واحد", "طلبان", "طلبات", "طلبًا", "طلب", "request", "requests")
TOKENS = Noun("رمز واحد", "رمزان", "رموز", "رمزًا", "رمز", "token", "tokens")
LINKS = Noun("رابط واحد", "رابطان", "روابط", "رابطًا", "رابط", "link", "links")
ATTEMPTS = Noun("محاولة واحدة", "محاولتان", "محاولات", "محاولةً", "محاولة", "attempt", "attempts")
CHARACTERS = Noun("حرف واحد", "حرفان", "أحرف", "حرفًا", "حرف", "character", "characters")
ITEMS = Noun("عنصر واحد", "عنصران", "عناصر", "عنصرًا", "عنصر", "item", "items")
ARTICLES = Noun("مقال واحد", "مقالان", "مقالات", "مقالًا", "مقال", "article", "articles")
STORIES = Noun("قصة واحدة", "قصتان", "قصص", "قصةً", "قصة", "story", "stories")
MINUTES = Noun("دقيقة واحدة", "دقيقتان", "دقائق", "دقيقةً", "دقيقة", "minute", "minutes")
SPANS = Noun("مقطع واحد", "مقطعان", "مقاطع", "مقطعًا", "مقطع", "span", "spans")
NAMES = Noun("اسم واحد", "اسمان", "أسماء", "اسمًا", "اسم", "name", "names")
PARAGRAPHS = Noun("فقرة واحدة", "فقرتان", "فقرات", "فقرةً", "فقرة", "paragraph", "paragraphs")

#: month names for dates in digests ("3 مارس", "3 Mar"); the Arabic names are those most Arab
#: newsrooms print (Egypt, the Gulf); the Levant's names (آذار) would need a per-chat choice
MONTHS: dict[str, tuple[str, ...]] = {
    "ar": ("يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو", "يوليو", "أغسطس", "سبتمبر", "أكتوبر", "نوفمبر",
           "ديسمبر"),
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
}


def number(n: int, lang: Literal["ar", "en"]) -> str:
    """12345 → "12٬345" (ar) or "12,345" (en)."""
    grouped = f"{n:,}"
    return grouped.replace(",", "\u066c") if lang == "ar" else grouped


def count(n: int, noun: Noun, lang: Literal["ar", "en"]) -> str:
    """A number with its noun in the right form: "طلبان", "5 طلبات", "11 طلبًا"; "1 request", "2 requests"."""
    if lang == "en":
        return f"{number(n, 'en')} {noun.en_one if n == 1 else noun.en_other}"
    if n == 1:
        return noun.ar_one
    if n == 2:
        return noun.ar_two
    rest = n % 100
    if 3 <= rest <= 10:
        return f"{number(n, 'ar')} {noun.ar_few}"
    if 11 <= rest <= 99:
        return f"{number(n, 'ar')} {noun.ar_many}"
    return f"{number(n, 'ar')} {noun.ar_other}"


def join(items: list[str], lang: Literal["ar", "en"]) -> str:
    return ("، " if lang == "ar" else ", ").join(items)


LANGUAGE_NAMES: dict[str, tuple[str, str]] = {
    "ar": ("العربية", "Arabic"),
    "en": ("الإنجليزية", "English"),
    "both": ("العربية والإنجليزية", "Arabic and English"),
}

#: key → (Arabic, English); `{name}` fields are filled by `say` (values are HTML-escaped).
TEXTS: dict[str, tuple[str, str]] = {
    "start": (
        "👋 أهلًا! أرسل لي رابط خبر أو نص مقال أو منشورًا معاد توجيهه، وسأرد بملخص موثّق: العنوان والملخص، "
        "ومن يضغط على من، والمواقف المعلنة مع اقتباسات حرفية، والمصادر.\n"
        "مثال: أرسل رابطًا مثل https://www.bbc.com/arabic/… أو الصق نص المقال.\n"
        "الإعدادات: /settings — الدليل الكامل: /help",
        "👋 Hello! Send me a news link, an article's text or a forwarded post, and I reply with a checked brief: "
        "headline and summary, who is pressuring whom, stated positions with verbatim quotes, and sources.\n"
        "Example: send a link such as https://www.reuters.com/world/… or paste the article's text.\n"
        "Settings: /settings — full guide: /help",
    ),
    "help": (
        "📘 الدليل\n"
        "• أرسل رابطًا (حتى {links}) أو نص مقال أو منشورًا معاد توجيهه، وأرد بملخص بالعربية والإنجليزية.\n"
        "• الأزرار تحت الملخص: عربي / English / كلاهما لتبديل لغة العرض، «المصادر» لعرض المصادر كاملة، "
        "و«JSON» لإرسال الملخص ملفًا.\n"
        "• في المجموعات: /summarize ردًا على رسالة أو مع نص أو رابط، أو اذكرني.\n"
        "• /lang ar أو en أو both — لغة العرض في هذه المحادثة.\n"
        "• /settings — اللغة والموجز بالأزرار.\n"
        "• /digest on [HH:MM] [المنطقة الزمنية] — موجز يومي في المجموعة أو القناة؛ /digest off لإيقافه؛ "
        "/digest now لعرض الموجز حتى الآن (يبقى كاملًا للموجز المجدول)؛ /digest status لحالته. المشرفون فقط "
        "يغيّرونه، ويُنشر في الموضوع الذي فُعّل فيه.\n"
        "• /subscribe @القناة — في محادثة خاصة معي: يصلك هنا موجز مجموعة أو قناة أنت عضو فيها؛ "
        "/unsubscribe لإيقافه.\n"
        "• /usage — استهلاكك اليوم.\n"
        "• /timeline اسم الفاعل — سجل ضغوطه ومواقفه في هذه المحادثة؛ /track اسم الفاعل لتنبيهك حين يظهر في ضغط جديد، "
        "و/untrack لإيقافه؛ /actors للفاعلين (الدمج والفصل للمشرفين)؛ /forget لحذف سجل المحادثة وملخصاتها "
        "(المشرفون في المجموعات).\n"
        "• الاقتباسات المعروضة حرفية ومطابقة لنص المقال؛ ما لم يُتحقق منه لا يُعرض اقتباسًا.",
        "📘 Guide\n"
        "• Send a link (up to {links}), an article's text or a forwarded post, and I reply with a brief in "
        "Arabic and English.\n"
        "• Buttons under a brief: عربي / English / both switch the language view, “Sources” shows the sources "
        "in full, and “JSON” sends the brief as a file.\n"
        "• In groups: /summarize as a reply to a message or with text or a link, or mention me.\n"
        "• /lang ar, en or both — the language view in this chat.\n"
        "• /settings — language and digest with buttons.\n"
        "• /digest on [HH:MM] [timezone] — a daily digest in a group or channel; /digest off stops it; "
        "/digest now shows the digest so far (the scheduled one still has all of it); /digest status shows the "
        "schedule. Only admins change it; it posts in the topic it was turned on in.\n"
        "• /subscribe @channel — in a private chat with me: the digest of a group or channel you are a member of "
        "comes here; /unsubscribe stops it.\n"
        "• /usage — your usage today.\n"
        "• /timeline &lt;actor&gt; — its pressures and positions in this chat's record; /track &lt;actor&gt; alerts you when "
        "it is in a new pressure, /untrack stops it; /actors lists the actors (admins merge and split); /forget "
        "deletes this chat's record and briefs (admins in groups).\n"
        "• Quotes shown are verbatim and found in the article's text; nothing unchecked is shown as a quote.",
    ),
    "unknown_command": (
        "لا أعرف هذا الأمر. جرّب /help للدليل أو /settings للإعدادات.",
        "I don't know that command. Try /help for the guide or /settings for settings.",
    ),
    "lang_usage": ("الاستخدام: ‎/lang ar‎ أو ‎en‎ أو ‎both", "Usage: /lang ar, en or both"),
    "lang_set": ("لغة العرض الآن: {ar_name}.", "Language view is now: {en_name}."),
    "usage_today": ("اليوم: {ar_requests}، {ar_tokens}.", "Today: {en_requests}, {en_tokens}."),
    "usage_left": ("المتبقي اليوم: {ar_left}.", "Left today: {en_left}."),
    "usage_admin": (
        "جميع المستخدمين اليوم: {ar_requests}، {ar_tokens}. حد التوازي الحالي لنموذج اللغة: {ar_cap}.",
        "All users today: {en_requests}, {en_tokens}. Current LLM concurrency cap: {en_cap}.",
    ),
    "links_capped": (
        "سألخص أول {ar_cap} فقط؛ تُرك {ar_skipped}.",
        "I brief the first {en_cap} only; {en_skipped} left out.",
    ),
    "gave_up": (
        "تعذّر إنجاز هذا الطلب بعد {ar_attempts}؛ توقفت عن المحاولة.",
        "This request failed after {en_attempts}; I have given up on it.",
    ),
    "cannot_accept": (
        "لا أستطيع قبول طلبات الآن (مشكلة في التخزين لدى البوت). أعد المحاولة بعد قليل.",
        "I cannot accept work right now (the bot's storage has a problem). Please try again shortly.",
    ),
    "stage_reading": ("📖 أقرأ المقال…", "📖 Reading the article…"),
    "stage_writing": ("✍️ أكتب الملخص…", "✍️ Writing the brief…"),
    "stage_checking": ("🔎 أتحقق من الاقتباسات…", "🔎 Checking quotes…"),
    "brief_expired": ("انتهت صلاحية هذا الملخص", "This brief is no longer available"),
    "send_article": ("أرسل نص المقال أو رابطه أو ملف PDF أو لقطة شاشة له",
                     "send the article's text, its link, a PDF or a screenshot of it"),
    "too_short_detail": ("{ar_chars} والحد الأدنى {ar_min}", "{en_chars}, at least {en_min} needed"),
    "settings_title": ("⚙️ الإعدادات — لغة العرض: {ar_name}", "⚙️ Settings — language view: {en_name}"),
    "settings_digest_on": ("الموجز: مفعّل يوميًا الساعة {time} ({tz})", "Digest: on, daily at {time} ({tz})"),
    "settings_digest_off": ("الموجز: متوقف", "Digest: off"),
    "settings_format_rich": ("شكل الملخص: رسالة غنية واحدة (جداول، اقتباسات، والمقاطع في المقال)",
                             "Brief format: one rich message (tables, quotations, the spans in the article)"),
    "settings_format_classic": ("شكل الملخص: رسائل كلاسيكية", "Brief format: classic messages"),
    "settings_digest_in_topic": ("يُنشر الموجز في موضوع من المجموعة", "Digests post in a topic"),
    "settings_digest_in_general": ("يُنشر الموجز في الموضوع العام", "Digests post in General"),
    "settings_admins_only": ("يغيّر مشرفو المجموعة فقط إعداداتها.", "Only the group's admins change its settings."),
    "digest_admins_only": ("يغيّر مشرفو المحادثة فقط جدول الموجز.",
                           "Only the chat's admins can change the digest schedule."),
    "digest_usage": (
        "الاستخدام: ‎/digest on [HH:MM] [Area/City]‎ أو ‎off‎ أو ‎now‎ أو ‎status‎ — مثال: ‎/digest on 08:30 Asia/Amman",
        "Usage: /digest on [HH:MM] [Area/City], off, now or status — e.g. /digest on 08:30 Asia/Amman",
    ),
    "digest_on": ("الموجز مفعّل يوميًا الساعة {time} ({tz}).", "Digest on: daily at {time} ({tz})."),
    "digest_off": ("أُوقف الموجز.", "Digest off."),
    "digest_nothing": ("لا جديد منذ آخر موجز.", "Nothing new since the last digest."),
    "digest_now_wait": ("عُرض الموجز حتى الآن قبل قليل؛ اطلبه مجددًا بعد {ar_minutes}.",
                        "The digest so far was shown a moment ago; ask again in {en_minutes}."),
    "digest_status_on": ("الموجز: مفعّل يوميًا الساعة {time} ({tz}).", "Digest: on, daily at {time} ({tz})."),
    "digest_status_off": ("الموجز: متوقف.", "Digest: off."),
    "digest_title": ("موجز الأخبار", "News digest"),
    "digest_title_of": ("موجز الأخبار من {chat}", "News digest from {chat}"),
    "digest_period": ("منذ {ar_since}، {ar_articles}، {ar_stories}", "Since {en_since}, {en_articles}, {en_stories}"),
    "digest_today": ("اليوم الساعة {time}", "{time} today"),
    "digest_yesterday": ("أمس الساعة {time}", "{time} yesterday"),
    "digest_on_day": ("{date} الساعة {time}", "{time}, {date}"),
    "digest_cut": ("✂️ الفترة طويلة: هذه {ar_shown} الأكثر مقالات من أصل {ar_total}.",
                   "✂️ A long period: these are the {en_shown} with the most articles, of {en_total}."),
    "digest_more_links": ("و{ar_n} غيرها", "and {en_n} more"),
    "digest_pressures": ("من يضغط على من", "Who is pressuring whom"),
    "digest_positions": ("المواقف", "Positions"),
    "digest_changed": ("تغيّر الموقف", "changed"),
    "collect_budget": (
        "بلغت «{chat}» اليوم حدّها من المقالات المجموعة للموجز ({ar_budget})؛ لن يُجمع ما يُنشر بعدها حتى الغد. "
        "يضبط مشغّل البوت هذا الحد.",
        "“{chat}” has reached today's limit of articles collected for its digest ({en_budget}); posts after "
        "it are not collected until tomorrow. The bot's operator sets this limit (DAILY_COLLECTED_PER_CHAT).",
    ),
    "subscribe_usage": (
        "الاستخدام: ‎/subscribe @القناة‎ أو رقم المحادثة، في محادثة خاصة معي؛ ‎/unsubscribe‎ لإيقافه.",
        "Usage: /subscribe @channel or a chat id, in a private chat with me; /unsubscribe stops it.",
    ),
    "subscribe_private_only": ("أرسل ‎/subscribe‎ في محادثة خاصة معي.", "Send /subscribe in a private chat with me."),
    "subscribe_not_found": ("لم أجد هذه المحادثة؛ يجب أن أكون عضوًا فيها. جرّب رقمها.",
                            "I can't find that chat; I need to be in it. Try its id."),
    "subscribe_digest_off": ("الموجز غير مفعّل في تلك المحادثة.", "Digests are off in that chat."),
    "subscribe_not_member": ("لا يصلك موجز محادثة لست عضوًا فيها.",
                             "You can only get the digest of a chat you are a member of."),
    "subscribe_done": ("اشتركت: يصلك هنا موجز {chat} يوميًا الساعة {time} ({tz}).",
                       "Subscribed: the digest of {chat} comes here daily at {time} ({tz})."),
    "subscriptions": ("اشتراكاتك: {ar_chats}", "Your subscriptions: {en_chats}"),
    "unsubscribe_done": ("أُلغي اشتراكك في: {ar_chats}", "Unsubscribed from: {en_chats}"),
    "unsubscribe_none": ("لست مشتركًا في أي موجز.", "You have no digest subscriptions."),
    "button_lang_ar": ("العربية", "العربية"),
    "button_lang_en": ("English", "English"),
    "button_lang_both": ("عربي + English", "عربي + English"),
    "button_sources": ("📚 المصادر", "📚 Sources"),
    "button_digest_on": ("🗞 تشغيل الموجز", "🗞 Digest on"),
    "button_digest_off": ("🔕 إيقاف الموجز", "🔕 Digest off"),
    "button_format_rich": ("✨ غنية", "✨ Rich"),
    "button_format_classic": ("📄 كلاسيكية", "📄 Classic"),
    "button_digest_here": ("📍 الموجز في هذا الموضوع", "📍 Digest in this topic"),
    "button_digest_general": ("📍 الموجز في العام", "📍 Digest in General"),
}


def _fill(template: str, values: dict[str, object]) -> str:
    return template.format(**{k: html.escape(str(v)) for k, v in values.items()})


def say(key: str, view: View = "both", **values: object) -> str:
    """A text in the chat's view, HTML-escaped values; "both" gives the Arabic paragraph first."""
    ar, en = TEXTS[key]
    return both(_fill(ar, values), _fill(en, values), view, sep="\n\n")


def both(ar: str, en: str, view: View = "both", *, sep: str = "\n") -> str:
    """Already-escaped Arabic and English text in the chat's view; every Arabic line right to left."""
    rtl = RLM + ar.replace("\n", "\n" + RLM)
    if view == "ar":
        return rtl
    if view == "en":
        return en
    return rtl + sep + en


def one(key: str, lang: Literal["ar", "en"], **values: object) -> str:
    """A text in one language, HTML-escaped values; the caller lays out the line (RLM, isolation)."""
    return _fill(TEXTS[key][0 if lang == "ar" else 1], values)


def date(day: int, month: int, lang: Literal["ar", "en"]) -> str:
    """3 March → "3 مارس" (ar) or "3 Mar" (en)."""
    return f"{day} {MONTHS[lang][month - 1]}"


def counts(n: int, noun: Noun, prefix: str) -> dict[str, str]:
    """Values for a template that shows one count in both languages: {prefix}_ar / {prefix}_en → ar_x, en_x."""
    return {f"ar_{prefix}": count(n, noun, "ar"), f"en_{prefix}": count(n, noun, "en")}


def language_name(view: str) -> dict[str, str]:
    ar, en = LANGUAGE_NAMES.get(view, LANGUAGE_NAMES["both"])
    return {"ar_name": ar, "en_name": en}


def view_of(lang: str) -> View:
    """A chat's stored language setting as a view (anything unknown shows both languages)."""
    return lang if lang in VIEWS else "both"  # type: ignore[return-value]


def default_view(language_code: str | None) -> View:
    """A new private chat's view from the user's Telegram language: Arabic users get both languages,
    Arabic first (a newsroom often forwards the English half); everyone else gets English."""
    if language_code is None:
        return "both"
    return "both" if language_code.lower().startswith("ar") else "en"
