"""Reading a progress note (CONTRACT.md "Progress notes"): blocks of `Key: value` lines, one per milestone.

A note is taken whole or not at all: `parse_note` returns either blocks and no problems, or every problem it
found, each saying what was wrong and what would be right.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from dataclasses import fields as declared
from functools import lru_cache

from deadlinewatch.core.model import Report
from deadlinewatch.core.words import Percent, Phrase, _, phrase
from deadlinewatch.core.workdays import day_and_month

# English keys first; Turkish and Bengali aliases after. Matching ignores case, accents and spacing.
KEY_ALIASES: dict[str, tuple[str, ...]] = {
    "milestone": ("milestone", "task", "kilometre taşı", "kilometre tasi", "aşama", "iş", "মাইলফলক", "কাজ"),
    "done": ("done", "progress", "complete", "completed", "tamamlanan", "tamamlandı", "ilerleme", "bitti",
             "সম্পন্ন", "অগ্রগতি"),
    "remaining": ("remaining", "left", "kalan", "kalan süre", "বাকি", "অবশিষ্ট"),
    "eta": ("eta", "expected", "tahmini bitiş", "tahmini", "bitiş", "সম্ভাব্য তারিখ", "সম্ভাব্য"),
    "cause": ("cause", "reason", "neden", "sebep", "কারণ"),
    "plan": ("plan", "next steps", "eylem planı", "পরিকল্পনা"),
    "prevent": ("prevent", "prevention", "so it does not recur", "önlem", "önleme", "প্রতিরোধ", "প্রতিকার"),
    "blocked": ("blocked", "engellendi", "engel", "bloke", "বাধা", "আটকে"),
}
YES = {"yes", "y", "true", "evet", "e", "হ্যাঁ", "হা", "1"}
NO = {"no", "n", "false", "hayır", "hayir", "h", "না", "0", ""}
DAY_UNITS = {"", "d", "day", "days", "wd", "working day", "working days", "workday", "workdays", "gün", "gun",
             "iş günü", "is gunu", "দিন", "কার্যদিবস"}
WEEK_UNITS = {"w", "wk", "wks", "week", "weeks", "hafta", "sapta", "সপ্তাহ"}
# the keys as the team's replies and nudges write them, in the team's language (each one an alias above)
NOTE_KEYS: dict[str, dict[str, str]] = {
    "en": {"milestone": "Milestone", "done": "Done", "remaining": "Remaining", "eta": "ETA", "cause": "Cause",
           "plan": "Plan", "prevent": "Prevent", "blocked": "Blocked"},
    "tr": {"milestone": "Aşama", "done": "Tamamlanan", "remaining": "Kalan", "eta": "Tahmini bitiş",
           "cause": "Neden", "plan": "Plan", "prevent": "Önlem", "blocked": "Engel"},
    "bn": {"milestone": "মাইলফলক", "done": "সম্পন্ন", "remaining": "বাকি", "eta": "সম্ভাব্য তারিখ",
           "cause": "কারণ", "plan": "পরিকল্পনা", "prevent": "প্রতিরোধ", "blocked": "বাধা"},
}


# the keys as an unknown key's problem lists them, in the team's language (NOTE_KEYS', joined: test_notes checks)
KNOWN_KEYS = phrase(_("Milestone, Done, Remaining, ETA, Cause, Plan, Prevent, Blocked"))


def note_keys(language: str) -> dict[str, str]:
    """The note's keys in a language (its base language's; English when it has none)."""
    return NOTE_KEYS.get(language.replace("-", "_").split("_")[0], NOTE_KEYS["en"])


BENGALI_DIGITS = str.maketrans("০১২৩৪৫৬৭৮৯", "0123456789")


_INVISIBLE = dict.fromkeys(map(ord, "\u200c\u200d\ufe0e\ufe0f\u00ad"))  # joiners, selectors, soft hyphen


@lru_cache(maxsize=8192)  # milestone names are folded for every note that is matched against them
def fold(text: str) -> str:
    """Casefold, drop Latin accents, collapse spaces: "  Tasarım  Çalışması " → "tasarim calismasi". Turkish
    dotless and dotted i are one letter here (HAYIR, hayır and hayir alike); the joiners a Bengali keyboard may
    put in a conjunct (ZWJ, ZWNJ) and emoji variation selectors change how a word looks, not which word it is;
    canonical decomposition makes a vowel sign typed in two parts (ে + া) the one sign (ো)."""
    text = text.replace("ı", "i").replace("İ", "I").translate(_INVISIBLE)
    out: list[str] = []
    for ch in unicodedata.normalize("NFKD", text):
        # only accents on Latin letters go; Bengali vowel signs are letters' parts, not decoration
        if unicodedata.combining(ch) and out and out[-1].isascii():
            continue
        out.append(ch)
    return " ".join("".join(out).casefold().split())


_KEY_INDEX = {fold(alias): key for key, aliases in KEY_ALIASES.items() for alias in aliases}
# "Key: value", the key perhaps a list's item ("- Done: 40%", "• Milestone: Design", "1. Milestone: Design")
_LINE = re.compile(r"^\s*(?P<bullet>(?:[-*•·–]|\d{1,2}[.)])\s*)?(?P<key>[^:：]{1,40}?)\s*[:：]\s*(?P<value>.*?)\s*$")


def is_note_line(line: str) -> bool:
    """Is this a "Key: value" line of a note, by one of its keys in any language ("Done: 60%", "Kalan: 4 gün")?"""
    m = _LINE.match(line)
    return m is not None and fold(m.group("key")) in _KEY_INDEX


def last_note_line(lines: Sequence[str]) -> int:
    """The index of the last "Key: value" line of a note among these lines (is_note_line), -1 when there is none:
    what is below it is no more of the note."""
    return next((i for i in range(len(lines) - 1, -1, -1) if is_note_line(lines[i])), -1)


MAX_BLOCKS = 100  # milestone blocks in one note: a project's worth, never a flood (the reply answers each)
MAX_PROBLEMS = 20  # problems listed in a reply; the rest are counted


@dataclass(frozen=True)
class MilestoneRef:
    """What the parser needs to know of a milestone to resolve a `Milestone:` line."""

    project: str
    uid: str
    name: str


UNDATED = dt.datetime.min.replace(tzinfo=dt.UTC)  # a block's time until its note is recorded


@dataclass(frozen=True)
class NoteBlock(Report):
    """One `Milestone:` block of a progress note, resolved to a milestone of the store: the report it makes (what
    it says of the milestone, the keys of CONTRACT.md "Progress notes"), not yet dated, and how its name was read.
    Its note's time and sender come with the message (`report`)."""

    project: str = ""
    uid: str = ""
    at: dt.datetime = UNDATED
    name: str = ""
    matched_by: str = ""  # the name as written, when it matched only loosely (the reply says how it was read)

    def report(self, at: dt.datetime, sender: str) -> Report:
        """What the note records of this milestone: the block's report, at the note's time, from its sender."""
        said = {f.name: getattr(self, f.name) for f in declared(Report)}
        return Report(**{**said, "at": at, "sender": sender})


@dataclass(frozen=True)
class ParsedNote:
    project: str | None
    blocks: tuple[NoteBlock, ...]
    problems: tuple[Phrase, ...]  # each said to the sender in the team's language

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.blocks)


NO_BLOCK = phrase(_('no "Milestone:" line found; every note needs at least one block'))


def quoted_only(note: ParsedNote, whole: Callable[[], str]) -> ParsedNote:
    """A note found only in what is quoted or forwarded below a message (`whole`: its text, quotes and all, read
    when needed) is not read — it may be the team's old note, or anyone's — and the reply says so, rather than "no
    Milestone: line found" of a note the sender can see."""
    if note.problems != (NO_BLOCK,) or not any(map(is_note_line, whole().splitlines())):
        return note
    return replace(note, problems=(NO_BLOCK, phrase(_(
        "the note is in quoted or forwarded text, which is never read: write it (or paste it) in the message "
        "itself"))))


class NoteProblem(ValueError):
    """A value a note gives that cannot be read, with the words that say so (in the team's language)."""

    def __init__(self, words: Phrase) -> None:
        super().__init__(str(words))
        self.words = words


def project_from_subject(subject: str, project_ids: Sequence[str]) -> str | None:
    """The first `[token]` of the subject equal to a project id, in any case."""
    by_fold = {p.casefold(): p for p in project_ids}
    for token in re.findall(r"\[([^\[\]]+)\]", subject):
        if token.strip().casefold() in by_fold:
            return by_fold[token.strip().casefold()]
    return None


# the words a team puts before a figure it gives roughly ("~4 days", "about 60%", "yaklaşık 4 gün", "প্রায় ৪ দিন"):
# the figure is read as written (the forecast already takes a stated figure as an estimate, with its spread)
_HEDGES = ("~", "≈", "about", "around", "approx.", "approximately", "approx", "roughly", "circa", "ca.", "yaklaşık",
           "aşağı yukarı", "tahminen", "takriben", "ortalama", "প্রায়", "আনুমানিক")


def _unhedged(v: str) -> str:
    """A folded value without the word that says its figure is rough."""
    for word in map(fold, _HEDGES):
        if v.startswith(word) and (not word[-1].isalpha() or v[len(word):][:1] in (" ", "")):
            return v[len(word):].strip()
    return v


# a percent range ("50-60%", "%50-60", "50 to 60%"): its near end — a milestone is better thought less done than more
_PERCENT_RANGE = re.compile(r"%?\s*(\d{1,3}(?:[.,]\d+)?)\s*%?\s*(?:-|–|—|to|ila|ile|থেকে)\s*"
                            r"%?\s*(\d{1,3}(?:[.,]\d+)?)\s*%?")


def parse_percent(value: str) -> int:
    """A percentage done: "60%", "60 %", "%60", "60", "~60%"; a range ("50-60%") at its near end; a bare fraction
    of one ("0.8") is asked about, not guessed."""
    written = fold(value.translate(BENGALI_DIGITS)).rstrip(".!;")  # a sentence's full stop: "Done: 60%."
    v = _unhedged(written)
    rough = v != written
    if r := _PERCENT_RANGE.fullmatch(v):
        v = f"{min(float(r[1].replace(',', '.')), float(r[2].replace(',', '.'))):g}%"
    m = re.fullmatch(r"%?\s*(\d{1,3}(?:[.,]\d+)?)\s*%?", v)
    if not m:
        raise NoteProblem(phrase(_('"%(value)s" is not a percentage; write e.g. "Done: 60%%"'), value=value))
    n = float(m.group(1).replace(",", "."))
    if not 0 <= n <= 100:
        raise NoteProblem(phrase(_('"%(value)s" is not between 0%% and 100%%'), value=value))
    if 0 < n <= 1 and "%" not in v and not m.group(1).isdigit():
        # a spreadsheet's fraction ("0.8": 80%) or a percent ("0.8%")? Read as the second, it once told a forecast
        # that a milestone four-fifths done had barely started — and a notice can leave in the same pass
        raise NoteProblem(phrase(_('"%(value)s" could be %(fraction)s or %(percent)s; write the percent sign, e.g. '
                                   '"Done: %(fraction)s"'), value=value, fraction=Percent(n * 100),
                                 percent=Percent(n)))
    # 99.5% is not done: only 100 closes a milestone — and "~100%", "about 100%" say nearly done, not done
    return min(round(n), 99) if n < 100 or rough else 100


_RANGE = re.compile(r"(\d+(?:[.,]\d+)?)\s*(?:-|–|—|to|ila|ile|থেকে)\s*(\d+(?:[.,]\d+)?)(.*)")


def parse_duration(value: str, week_length: int = 5) -> float:
    """Working days: "4 days", "3d", "1 week" (= one week of working days), "4 gün", "২ দিন", "~4 days", "about 4
    days"; a range ("2-3 days",
    "2 to 3 days") at its far end — a client is better warned early than late, and the reply shows what was read."""
    v = _unhedged(fold(value.translate(BENGALI_DIGITS)))
    if r := _RANGE.fullmatch(v):  # "2-3 days": 3 days
        v = f"{max(float(r[1].replace(',', '.')), float(r[2].replace(',', '.'))):g}{r[3]}"
    m = re.fullmatch(r"(\d+(?:[.,]\d+)?)\s*([^\d\s].*?)?\.?", v)
    if not m:
        raise NoteProblem(phrase(_('"%(value)s" is not a duration; write e.g. "Remaining: 4 days" or '
                                   '"Remaining: 1 week"'), value=value))
    n = float(m.group(1).replace(",", "."))
    unit = (m.group(2) or "").strip()
    if unit in {fold(u) for u in DAY_UNITS}:
        return n
    if unit in {fold(u) for u in WEEK_UNITS}:
        return n * week_length
    raise NoteProblem(phrase(_('"%(value)s": unknown unit "%(unit)s"; use days or weeks, e.g. "4 days", "1 week"'),
                             value=value, unit=unit))


_AMBIGUOUS = re.compile(r"(?<![\d/.\-])(\d{1,2})[/.\-](\d{1,2})(?:[/.\-](\d{2,4}))?(?![\d/\-]|\.\d)")  # "by 12/3."


# what may stand before or after a weekday's name ("next Friday", "önümüzdeki cuma", "Cuma günü", "আগামী শুক্রবার")
_THIS_OR_NEXT = frozenset(map(fold, ("this", "next", "coming", "on", "bu", "önümüzdeki", "gelecek", "এই", "আগামী")))
_DAY_WORD = frozenset(map(fold, ("günü", "gunu")))


@lru_cache(maxsize=1)
def _weekday_names() -> dict[str, int]:
    """Each weekday's name, whole and short, in every language a note may be written in (Babel's), folded."""
    from babel.dates import get_day_names

    return {fold(name): i for language in ("en", "tr", "bn") for width in ("wide", "abbreviated")
            for i, name in get_day_names(width, "format", language).items()} | _MORE_WEEKDAYS


_MORE_WEEKDAYS = {"tues": 1, "weds": 2, "thur": 3, "thurs": 3}  # English shortenings people write besides Babel's


def weekday_ahead(value: str, today: dt.date) -> dt.date | None:
    """"Friday", "next Friday", "Cuma", "শুক্রবার": the first such day after today (a note saying "ETA: Monday" on a
    Monday means next week's; "today" says today); None when the value is not a weekday's name.

    English "next Friday" written before Friday in the same week is refused, naming both days: many mean this
    week's, many the week after's, and a week's error either way is a notice too late or one for nothing. Written
    on or after that day of the week, it can only be the coming one. Turkish "önümüzdeki"/"gelecek" and Bengali
    "আগামী" name the coming day."""
    if (day := _weekday_named(value)) is None:
        return None
    ahead = today + dt.timedelta(days=(day - today.weekday()) % 7 or 7)
    if "next" in fold(value).rstrip(".").split() and ahead.isocalendar()[:2] == today.isocalendar()[:2]:
        raise NoteProblem(phrase(_('"%(value)s" is ambiguous: this week\'s (%(this)s) or the week after\'s '
                                   '(%(after)s)? Write the date'), value=value.strip(), this=ahead,
                                 after=ahead + dt.timedelta(days=7)))
    return ahead


def _weekday_named(value: str) -> int | None:
    """The weekday (Monday 0) a value names ("next Friday", "Cuma günü"), or None when it names none."""
    words = [w for w in fold(value).rstrip(".").split() if w not in _THIS_OR_NEXT and w not in _DAY_WORD]
    return _weekday_names().get(words[0]) if len(words) == 1 else None


def parse_eta(value: str, today: dt.date) -> dt.date:
    """An ISO date, one with a month name in English, Turkish or Bengali (without a year: workdays.day_and_month),
    or a weekday's name (weekday_ahead). 03/04 is refused, not guessed. A date with its weekday beside it
    ("Thursday 3 Dec", "2026-12-09 (Wednesday)") is read without it, and refused when the two disagree: which one
    the sender meant, only they know."""
    v = _YEAR_FIRST.sub(_iso, value.translate(BENGALI_DIGITS).strip())
    tokens = re.split(r"([\s,.()]+)", v)
    named = {d for t in tokens if (d := _weekday_names().get(fold(t))) is not None}
    if named and _weekday_named(v) is None:
        rest = "".join(t for t in tokens if (word := fold(t)) not in _weekday_names() and word not in _THIS_OR_NEXT
                       and word not in _DAY_WORD).strip(" ,.()")  # "this Friday, 4 Dec": the date is "4 Dec"
        if re.search(r"\d", rest):
            day = _date_of(rest, value, today)
            if named != {day.weekday()}:
                raise NoteProblem(phrase(_('"%(value)s" names another day of the week than %(date)s; write the date '
                                           'again'), value=value, date=day))
            return day
    return _date_of(v, value, today)


# a date written year first is never ambiguous: "2026/12/03", "2026-12-3", "2026.12.03" are ISO's 2026-12-03
_YEAR_FIRST = re.compile(r"(?<![\d/.\-])(\d{4})[/.\-](\d{1,2})[/.\-](\d{1,2})(?![\d/.\-])")


def _iso(m: re.Match[str]) -> str:
    return f"{m.group(1)}-{int(m.group(2)):02d}-{int(m.group(3)):02d}"


_DOTTED = re.compile(r"(?:by |until |before )?(\d{1,2})\.(\d{1,2})(?:\.(\d{2}|\d{4}))?\.?(?:,?\s+\d{1,2}[:.]\d{2})?",
                     re.IGNORECASE)


def _dotted(m: re.Match[str], value: str, today: dt.date) -> dt.date:
    """A date written with dots, day first: "03.12.2026", "3.12.26", "03.12" (the next 3 December, as every yearless
    date)."""
    day, month, year = int(m.group(1)), int(m.group(2)), m.group(3)
    try:
        if year is None:
            return day_and_month(month, day, today)
        return dt.date(int(year) + (2000 if len(year) == 2 else 0), month, day)
    except ValueError:
        raise _not_a_date(value) from None


def _date_of(v: str, value: str, today: dt.date) -> dt.date:
    """parse_eta's reading of `v` (its digits Latin), `value` as the sender wrote it."""
    try:
        return dt.date.fromisoformat(v)
    except ValueError:
        pass
    if (weekday := weekday_ahead(v, today)) is not None:
        return weekday
    # a date written with dots is day first wherever dots are written (03.12.2026 is 3 December in Turkish, German,
    # Russian …; no convention writes the month first with dots): only 03/04 and 03-04 leave the order open. Only
    # when it is the whole value (a time may follow): a dotted number inside words is a version or a decimal
    # ("after v2.1", "2.5 days"), and a yearless one needs its two-digit month ("2.5" is no date)
    if (d := _DOTTED.fullmatch(v.strip())) and (d.group(3) or len(d.group(2)) == 2):
        return _dotted(d, value, today)
    m = _AMBIGUOUS.search(v)
    if m:
        a, b = int(m.group(1)), int(m.group(2))
        if a <= 12 and b <= 12 and a != b:
            raise NoteProblem(phrase(_('"%(value)s" is ambiguous (day/month or month/day?); write "2026-12-03" or '
                                       '"3 December 2026"'), value=value))
    import dateparser  # slow to import; only needed for dates written out

    parsed = dateparser.parse(
        v,
        languages=["en", "tr", "bn"],
        settings={
            "PREFER_DATES_FROM": "future",
            "RELATIVE_BASE": dt.datetime.combine(today, dt.time(12)),
            "REQUIRE_PARTS": ["day", "month"],
            "DATE_ORDER": "DMY",
        },
    )
    if parsed is None:
        raise _not_a_date(value)
    day: dt.date = parsed.date()  # dateparser is untyped
    if m is not None:  # 25/12, 25.12.27, 30/11/2026
        written = m.group(3) is not None
    elif _names_a_month(v):  # 3 December, 25 Dec 27, December 25, 2027, 3 Aralık'ta
        dayless = _TIME_OF_DAY.sub(" ", v)  # "3 December 17:00": the hour is no year
        written = bool(re.search(r"\d{4}|['’]\d{2}\b", dayless)) or len(re.findall(r"\d+", dayless)) >= 2
    elif fold(v).rstrip(".!") in _TODAY_OR_TOMORROW:
        return day
    else:  # "3 days", "next week": a length of time (counted in calendar days) or no day at all: not an ETA
        raise _not_a_date(value)
    if not written:  # a day and month: read as every yearless date is (today's own day is today's)
        return day_and_month(day.month, day.day, today)
    # a two-digit year is this century's: dateparser's "future" made 30/11/26, written on that day, 2126
    return day.replace(year=day.year - 100) if day.year > today.year + 50 else day


def _not_a_date(value: str) -> NoteProblem:
    return NoteProblem(phrase(_('"%(value)s" is not a date; write e.g. "ETA: 2026-12-03", "ETA: 3 December" or '
                                '"ETA: Friday"'), value=value))


_TIME_OF_DAY = re.compile(r"\d{1,2}[:.]\d{2}(?:\s*[ap]\.?m\.?)?|\d{1,2}\s*[ap]\.?m\b\.?", re.IGNORECASE)
_TODAY_OR_TOMORROW = frozenset(map(fold, ("today", "tomorrow", "bugün", "yarın", "আজ", "আগামীকাল")))


@lru_cache(maxsize=1)
def _month_names() -> tuple[str, ...]:
    """Each month's name, whole and short, in every language a note may be written in (Babel's), folded."""
    from babel.dates import get_month_names

    return tuple({fold(name).rstrip(".") for language in ("en", "tr", "bn") for width in ("wide", "abbreviated")
                  for context in ("format", "stand-alone")
                  for name in get_month_names(width, context, language).values()})


def _names_a_month(value: str) -> bool:
    """Does a date say its month by name — a word that is one, or begins with one ("Aralık'ta", "ডিসেম্বরের")?"""
    return any(word.startswith(name) for word in re.split(r"[\s,.]+", fold(value)) if word for name in _month_names())


def parse_blocked(value: str) -> bool:
    v = fold(value)
    if v in {fold(x) for x in YES}:
        return True
    if v in {fold(x) for x in NO}:
        return False
    raise NoteProblem(phrase(_('"%(value)s" is neither yes nor no; write "Blocked: yes" or leave the line out'),
                             value=value))


def resolve_milestone(
    name: str, candidates: Sequence[MilestoneRef]
) -> tuple[MilestoneRef | None, str, list[MilestoneRef]]:
    """Find the milestone a `Milestone:` line names: by UID, by exact folded name, then by a close name.

    Returns (match, how, alternatives): how is "" for an exact match, else the name as written (a loose match).
    """
    by_uid = [c for c in candidates if c.uid == name.strip()]
    if len(by_uid) == 1:
        return by_uid[0], "", []
    key = fold(name)
    exact = [c for c in candidates if fold(c.name) == key]
    if len(exact) == 1:
        return exact[0], "", []
    if len(exact) > 1:
        return None, "", exact
    # a typo is forgiven, another number or code is another milestone ("Phase 3" is not "Phase 1", "BN" not "EN")
    names = {fold(c.name): c for c in candidates if _marks_agree(name, c.name)}
    close = difflib.get_close_matches(key, list(names), n=2, cutoff=0.8)
    if len(close) == 1 or (len(close) == 2 and difflib.SequenceMatcher(None, key, close[0]).ratio()
                           > difflib.SequenceMatcher(None, key, close[1]).ratio() + 0.05):
        pick = names[close[0]]
        return pick, name, []  # matched loosely: the reply says how it read the name
    return None, "", [names[c] for c in close]


# below a Cause or Plan, only a key's own name starts a key line (a wrapped "expected Monday" or "Tahmini cuma günü
# gelecek" is the sentence going on): the English ones, and the Turkish and Bengali ones the README gives
_CANONICAL = frozenset(map(fold, ("done", "remaining", "eta", "tamamlanan", "kalan süre", "tahmini bitiş", "সম্পন্ন",
                                  "বাকি", "সম্ভাব্য তারিখ")))


_FIGURE = re.compile(r"^\d+(?:[.,]\d+)?\s*%?\s*[^\W\d_]*\.?$")  # "140%", "3 fortnights": a figure, a unit at most
_DATE_LIKE = re.compile(r"^\d{1,4}[./-]\d{1,2}")  # "03/04", "2026-13-01"


def _without_colon(line: str, today: dt.date, week_length: int, wrapped: bool = False
                   ) -> tuple[str, str, Phrase | None] | None:
    """A line that gives Done, Remaining or ETA with no colon ("Done 60%", "Kalan süre - 4 gün"): the key as written
    and its value, when the value reads as that key's would — or, but for a line below a Cause or Plan (`wrapped`:
    "Done 3 of the 5 screens" goes on the sentence), is a figure or a weekday it cannot read ("Done 140%", "ETA
    03/04"); else None (a Plan's next line saying "done by Friday and reviewed" is the Plan's). Third, what is wrong
    with the value itself (None when it reads right): the sender fixes both at once."""
    words = line.split()
    for n in (2, 1):  # the two-word names first: "kalan süre", "tahmini bitiş"
        key = _KEY_INDEX.get(fold(" ".join(words[:n]))) if len(words) > n else None
        if key not in ("done", "remaining", "eta"):
            continue
        value = " ".join(words[n:]).lstrip("-–—=~ ")
        wrong: Phrase | None = None
        try:
            if key == "done":
                parse_percent(value)
            elif key == "remaining":
                parse_duration(value, week_length)
            else:
                parse_eta(value, today)
        except NoteProblem as e:
            wrong = e.words
            # a value that is a figure or a weekday is the key's all the same, only wrong ("ETA 03/04", "Done 140%",
            # "ETA next Friday" asked about): named, with its problem, never dropped; words ("done with the mockups")
            # are a sentence, not a key
            if key == "eta":  # "ETA" itself is no word of a sentence: "ETA next week" is the key, unread
                if _weekday_named(value) is None and (wrapped or not (
                        _DATE_LIKE.match(value) or fold(" ".join(words[:n])) == "eta")):
                    return None
            elif wrapped or not _FIGURE.match(value):  # "Left 2 screens for Bob" says something else
                return None
        return " ".join(words[:n]), value, wrong
    return None


SENTENCES = ("cause", "plan", "prevent")  # the keys whose free text may go on over the next lines
STRAY_WORDS = 4  # a line of fewer words under no key ("Thanks!", "See you Monday") greets; one of more says something


def _stray(line: str, more_below: bool) -> bool:
    """Is this line, in a block and under no key, something the team said that the note would lose: a sentence with
    more of the note below it (`more_below`) — not a greeting ("Thanks!"), and not the words after the note's last
    line (a sign-off, a signature with no "-- " above it: those are never read)."""
    return more_below and len(line.split()) >= STRAY_WORDS


def _shortened(text: str, most: int = 60) -> str:
    return text if len(text) <= most else text[:most - 1].rstrip() + "…"


def _marks_agree(written: str, name: str) -> bool:
    """Does a name written loosely keep what tells the calendar's name from its neighbours: the same numbers
    ("Phase 3" is not "Phase 1"; "sprint12" is "Sprint 12", "Release 2.1." is "Release 2.1") and the calendar name's
    codes in capitals ("Translation BN" is not "Translation EN")?"""
    if re.findall(r"\d+", written) != re.findall(r"\d+", name):
        return False
    words = set(re.split(r"[^\w]+", fold(written)))
    return all(fold(code) in words for code in re.findall(r"\b[A-Z]{2,3}\b", name))


def parse_note(
    subject: str,
    text: str,
    milestones: Sequence[MilestoneRef],
    project_ids: Sequence[str],
    today: dt.date,
    week_length: int = 5,
) -> ParsedNote:
    project = project_from_subject(subject, project_ids)
    candidates = [m for m in milestones if project is None or m.project == project]
    problems: list[Phrase] = []
    raw_blocks: list[tuple[int, dict[str, tuple[int, str]]]] = []
    current: dict[str, tuple[int, str]] | None = None
    last_key: str | None = None

    lines = text.splitlines()
    last_keyed = last_note_line(lines)
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            last_key = None
            continue
        m = _LINE.match(line)
        key = _KEY_INDEX.get(fold(m.group("key"))) if m else None
        if m and m.group("bullet") and last_key in SENTENCES:
            key = None  # "- Done: the mockups" in a Plan's hyphen list is the Plan's
        if (key is None and current is not None
                and (said := _without_colon(line, today, week_length, last_key in SENTENCES))
                is not None
                and (last_key not in SENTENCES or fold(said[0]) in _CANONICAL)):
            # "Done 60%", "Remaining – 4 days": a value lost without a word, or glued into the Plan above it
            problems.append(phrase(_('line %(line)s: "%(key)s" needs a colon before its value, as in '
                                     '"%(key)s: %(value)s"'), line=lineno, key=said[0], value=said[1]))
            if said[2] is not None:
                problems.append(phrase(_("line %(line)s: %(problem)s"), line=lineno, problem=said[2]))
            continue
        if key is None:
            if current is not None and last_key in SENTENCES:
                n, old = current[last_key]
                current[last_key] = (n, f"{old} {line.strip()}".strip())
            elif current is not None and m:
                problems.append(phrase(_('line %(line)s: unknown key "%(key)s" (known keys: %(known)s)'),
                                       line=lineno, key=m.group("key"), known=KNOWN_KEYS))
            elif current is not None and _stray(line, lineno <= last_keyed):
                # what the team said, under no key: never dropped without a word (a note is taken whole)
                problems.append(phrase(_('line %(line)s: "%(text)s" is under no key, and would be lost; move it '
                                         'below the note (nothing there is read), or — if the client may read it '
                                         '— onto the line after "Cause:" or "Plan:"'),
                                       line=lineno, text=_shortened(line.strip())))
            continue
        assert m is not None
        value = m.group("value")
        if key == "milestone":
            if len(raw_blocks) == MAX_BLOCKS:
                return ParsedNote(project, (), (phrase(_("line %(line)s: a note has at most %(count)s milestone "
                                                         "blocks; send the rest in another note"),
                                                       line=lineno, count=MAX_BLOCKS),))
            current = {"milestone": (lineno, value)}
            raw_blocks.append((lineno, current))
        elif current is None:
            problems.append(phrase(_('line %(line)s: "%(key)s:" comes before any "Milestone:" line'), line=lineno,
                                   key=m.group("key")))
            continue
        elif key in current:
            block_name = current["milestone"][1]
            problems.append(phrase(_('line %(line)s: "%(key)s:" appears twice in the block for "%(name)s"'),
                                   line=lineno, key=m.group("key"), name=block_name))
        else:
            current[key] = (lineno, value)
        last_key = key

    if not raw_blocks and not problems:
        problems.append(NO_BLOCK)

    blocks: list[NoteBlock] = []
    seen: set[str] = set()
    projects_seen: set[str] = set()
    for start, fields in raw_blocks:
        name = fields["milestone"][1]
        where = phrase(_('block at line %(line)s ("%(name)s")'), line=start, name=name)
        if not name:
            problems.append(phrase(_("line %(line)s: \"Milestone:\" needs the milestone's name from the calendar"),
                                   line=start))
            continue
        ref, how, alternatives = resolve_milestone(name, candidates)
        if ref is None:
            if alternatives:
                listed = "; ".join(f"{a.project}/{a.name}" for a in alternatives)
                hint = phrase(_("it could be any of: %(names)s"), names=listed) if project else phrase(_(
                    'it could be any of: %(names)s — put the project id in the subject, e.g. "[acme-web] progress"'),
                    names=listed)
            else:
                known = "; ".join(sorted({c.name for c in candidates})) or "-"
                hint = phrase(_("known milestones in %(project)s: %(names)s"), project=project, names=known) \
                    if project else phrase(_("known milestones: %(names)s"), names=known)
            problems.append(phrase(_('%(where)s: no milestone is called "%(name)s"; %(hint)s'), where=where, name=name,
                                   hint=hint))
        elif ref.uid in seen:
            problems.append(phrase(_('%(where)s: "%(name)s" has two blocks in this note; merge them into one'),
                                   where=where, name=ref.name))
            ref = None
        else:
            seen.add(ref.uid)
            projects_seen.add(ref.project)
        if len(fields) == 1:
            problems.append(phrase(_("%(where)s: say at least one of Done, Remaining, ETA or Blocked"), where=where))
        # the block's values, read line by line: the block is made once, below
        done: int | None = None
        remaining: float | None = None
        eta: dt.date | None = None
        blocked = False
        written = {"cause": "", "plan": "", "prevent": ""}
        for key, (lineno, value) in fields.items():
            try:
                if key == "done":
                    done = parse_percent(value)
                elif key == "remaining":
                    remaining = parse_duration(value, week_length)
                elif key == "eta":
                    eta = parse_eta(value, today)
                    if eta < today:  # believed, a day gone by says the work is done about now: a slip hidden
                        raise NoteProblem(phrase(_('"%(value)s" is %(date)s, which has passed; write the day the work '
                                                   'will be done'), value=value, date=eta))
                elif key == "blocked":
                    blocked = parse_blocked(value)
                elif key in written:
                    written[key] = value.strip()
            except NoteProblem as e:
                problems.append(phrase(_("line %(line)s: %(problem)s"), line=lineno, problem=e.words))
        if done == 100 and ((remaining or 0) > 0 or (eta is not None and eta > today)):
            # finished, and not: the milestone would close while the team's own date is still to come
            problems.append(phrase(_('%(where)s: "Done: 100%%" says the work is finished, but the block also says '
                                     "when it will be; leave out one or the other"), where=where))
        if ref is None:
            continue
        blocks.append(NoteBlock(project=ref.project, uid=ref.uid, name=ref.name, matched_by=how, done=done,
                                remaining_days=remaining, eta=eta, blocked=blocked, cause=written["cause"],
                                plan=written["plan"], prevent=written["prevent"]))

    if len(projects_seen) > 1:
        problems.append(phrase(_("the note mixes milestones of several projects; send one note per project, with "
                                 "the project id in the subject")))
    if project is None and len(projects_seen) == 1:
        project = projects_seen.pop()
    if len(problems) > MAX_PROBLEMS:  # the reply lists them: a few to fix first, not pages
        problems[MAX_PROBLEMS - 1:] = [phrase(_("… and %(count)s more problems"),
                                              count=len(problems) - MAX_PROBLEMS + 1)]
    return ParsedNote(project, tuple(blocks) if not problems else (), tuple(problems))
