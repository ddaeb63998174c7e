"""Dates and numbers in the reader's locale (Babel), for the letters and the pages alike: the locale a reader's
text is written in — its region from the language ("en-GB") or, when the language names none, from the reader's
time zone (Europe/London: British dates) — days, moments, percentages and numbers with the locale's own digits,
the names of weekdays, and the date a client's own words count on.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from zoneinfo import ZoneInfo

from babel import Locale, localedata
from babel.core import get_global
from babel.dates import format_date, format_skeleton, get_day_names
from babel.numbers import format_decimal
from babel.numbers import format_percent as babel_percent

from deadlinewatch.core.words import points
from deadlinewatch.core.workdays import WEEKDAY_INDEX, day_and_month

# CLDR numbering systems whose digits Babel leaves Latin: the Unicode name of their digit zero
_DIGIT_ZERO = {"beng": "BENGALI", "deva": "DEVANAGARI", "arab": "ARABIC-INDIC", "arabext": "EXTENDED ARABIC-INDIC",
               "mymr": "MYANMAR", "thai": "THAI", "tamldec": "TAMIL", "guru": "GURMUKHI", "gujr": "GUJARATI"}


@functools.cache
def letter_locale(language: str, timezone: str = "") -> Locale:
    """The locale a reader's letters are written in. A language that names its region ("en-GB", "en_US") is
    taken as it is; one that does not takes the region of the reader's time zone when the locale exists there
    ("en" in Europe/London writes British dates, in America/Chicago American ones), else English's
    international variant, else the language alone."""
    locale = Locale.parse(language.replace("-", "_"))
    if locale.territory or not timezone:
        return locale
    territory = get_global("zone_territories").get(timezone)
    for candidate in ([f"{locale.language}_{territory}"] if territory else []) + [f"{locale.language}_001"]:
        if localedata.exists(candidate):
            return Locale.parse(candidate)
    return locale


def _locale(language: str | Locale) -> Locale:
    return language if isinstance(language, Locale) else letter_locale(language)


def native_digits(text: str, language: str | Locale) -> str:
    """Latin digits as the locale writes digits (Bengali: ০১২…), which Babel leaves Latin."""
    script = _DIGIT_ZERO.get(_locale(language).default_numbering_system)
    if not script:
        return text
    zero = ord(unicodedata.lookup(f"{script} DIGIT ZERO"))
    return text.translate({ord("0") + i: zero + i for i in range(10)})


def format_day(day: dt.date, language: str | Locale, fmt: str = "full") -> str:
    """A date as a reader of `language` writes it, with the locale's own digits ("৩ ডিসেম্বর ২০২৬").
    `fmt` is a Babel format ("full", "long", "medium") or, with a leading "~", a CLDR skeleton ("~MMMMd")."""
    locale = _locale(language)
    if locale.language == "bn":
        fmt = _BENGALI_DATES.get(fmt, fmt)
    text = format_skeleton(fmt[1:], day, locale=locale) if fmt.startswith("~") else format_date(day, fmt, locale)
    return native_digits(text, locale)


# CLDR's short Bengali months ("১০ ডিসে, ২০২৬") are not how anyone writes a date in a letter: the month in full,
# and no comma before the year in any form ("বৃহস্পতিবার, ৩ ডিসেম্বর ২০২৬"), so that a letter's sentences and its
# lists write a date alike
_BENGALI_DATES = {"full": "EEEE, d MMMM y", "long": "d MMMM y", "medium": "d MMMM y", "~yMMMEd": "EEE, d MMMM y"}


def format_moment(at: dt.datetime, language: str | Locale, zone: ZoneInfo) -> str:
    """A moment as its reader writes it, on a 24-hour clock (read the same way in every language); a language
    without a region takes the zone's (as the letters do: "en" in Europe/London writes British dates)."""
    language = letter_locale(language, zone.key) if isinstance(language, str) else language
    local = at.astimezone(zone)
    return f"{format_day(local.date(), language, 'long')}, {native_digits(local.strftime('%H:%M'), language)}"


def format_percent(percent: float, language: str | Locale) -> str:
    """A percentage as the locale writes it ("60%", "%60", "৬০%"), in the points said (words.points: "%0,8")."""
    locale = _locale(language)
    return native_digits(babel_percent(points(percent) / 100, locale=locale, decimal_quantization=False), locale)


def percent_blank(language: str | Locale) -> str:
    """Where a percentage goes, left for the reader to fill in, on the side the locale writes its sign ("...%",
    "%...")."""
    return re.sub(r"[#0,.]+", "...", _locale(language).percent_formats[None].pattern.split(";")[0])


def format_number(n: float, language: str | Locale, pattern: str = "#,##0.#") -> str:
    """A number as the locale writes it, with its own digits ("১২", "1,5")."""
    locale = _locale(language)
    return native_digits(format_decimal(n, pattern, locale=locale), locale)


def weekday_name(code: str, language: str | Locale) -> str:
    """"mon" as the locale names the day ("Monday", "Pazartesi", "সোমবার")."""
    name = str(get_day_names("wide", "format", _locale(language))[WEEKDAY_INDEX[code]])
    # CLDR capitalises Turkish day names as they stand in a date ("7 Aralık Pazartesi"); in running text ("her
    # pazartesi") they are common nouns. No Turkish day name begins with I, so str.lower() is safe here.
    return name.lower() if _locale(language).language == "tr" else name


_TURKISH_SUFFIX = re.compile(r"(?<=\w)['’]\w+")  # "12 Aralık'taki" → "12 Aralık"
_BENGALI_GENITIVE = re.compile(r"(?:-?এর|ের)(?=[\s,.;:!?)]|$)")  # "ডিসেম্বরের" → "ডিসেম্বর"


def context_day(context: str, language: str | Locale, today: dt.date) -> dt.date | None:
    """The date in what the client is counting on ("your shareholder meeting on 12 December"), the next one on or
    after today; None when it names no day and month in words (a numeric date like 3/4 is ambiguous: ignored), and
    when that day has just passed (workdays.day_and_month): the meeting of 12 December, read on the 29th, is over,
    not next year's (a letter then said "The new date is still 348 days before it"); read in June, it is this
    December's."""
    if not context:
        return None
    locale = _locale(language)
    text = _BENGALI_GENITIVE.sub(" ", _TURKISH_SUFFIX.sub("", context))
    text = "".join(str(unicodedata.digit(c)) if c.isdigit() and not c.isascii() else c for c in text)
    # dateparser (its languages' data, about 14 MB) is read with the first letter that counts on a date, not at start
    from dateparser.search import search_dates

    try:
        found = search_dates(text, languages=[locale.language], settings={
            "PREFER_DATES_FROM": "future", "REQUIRE_PARTS": ["day", "month"],
            "RELATIVE_BASE": dt.datetime.combine(today, dt.time())})
    except (ValueError, OverflowError, LookupError):
        return None
    for words, when in found or []:
        if any(c.isalpha() for c in words.replace("on ", "")):
            # the day and month said, read as every yearless date is (dateparser's "future" takes today's own day
            # for next year's); one that passed lately is over: no day to count on
            day = day_and_month(when.month, when.day, today)
            return None if day < today else day
    return None


