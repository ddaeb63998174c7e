"""Composing every message deadlinewatch sends, from Jinja2 templates (built-in, or a folder overriding them).

One template per letter (`templates/notice.txt.j2`, `notice.html.j2`, …), its words in English, translated through
the `letters` gettext catalog of the reader's language (Jinja2's i18n extension; adapters/catalogs.py reads the
catalogs): adding a language is adding a catalog. `letters.template_dir` overrides a template for every language
(`notice.txt.j2`) or for one (`tr/notice.txt.j2`). A template's top-level `{% set subject = ... %}` is the subject
line; a missing variable is an error, never a blank in a client letter. Dates, numbers and percentages are
written in the reader's locale (core/locales.py); the message around the words — envelope, safe header text, the
calendar part — is core/mime.py's.

Client messages, by kind (CONTRACT.md):
  intro      the first message of a project: the timeline, a REQUEST for the first milestone (the others get
             their own one-UID `update` messages with it);
  notice     apology + replan: five parts, a REQUEST moving the milestone, `timeline.ics`;
  update     a short calendar update of one milestone (dependants moved by a slip, intro entries);
  cancel     a milestone the client has seen is cancelled: METHOD:CANCEL when their calendar has it;
  delivered  a warned milestone is done;
  weekly     the check-in: progress since last week, what is next, the timeline.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from email.utils import parseaddr
from html import escape
from typing import ParamSpec

import jinja2
from babel import Locale, UnknownLocaleError
from babel.lists import format_list
from babel.support import NullTranslations
from markupsafe import Markup

from deadlinewatch.core import timeline
from deadlinewatch.core.alert import Pace
from deadlinewatch.core.header_cache import WRITE
from deadlinewatch.core.intake import one_line
from deadlinewatch.core.locales import (
    context_day,
    format_day,
    format_number,
    format_percent,
    letter_locale,
    percent_blank,
    weekday_name,
)
from deadlinewatch.core.message_text import full_text
from deadlinewatch.core.mime import (
    Addresses,
    Plain,
    Subject,
    add_calendar,
    address,
    append_note,
    attachments,
    calendar_data,
    envelope,
    envelope_headers,
    fixed_boundaries,
    header_text,
    msg_ids,
    safe_text,
    without_calendar,
)
from deadlinewatch.core.model import ApprovedDate, Forecast, TimelineRow
from deadlinewatch.core.notes import note_keys
from deadlinewatch.core.words import DAYS, Days, Factor, Percent, Phrase, Value, _, phrase
from deadlinewatch.errors import ConfigError

# the reply's subjects (reply.txt.j2), which a thread of notes piles up: thread_subject takes them off
REPLY_SUBJECTS = ("Re: %(subject)s — recorded", "Re: %(subject)s — not understood")
# a mail program's reply prefix, in the languages it writes ("Re:", "RE[2]:", "AW:", "SV:", "Ynt:", "Odp:", "答复:")
_REPLY_PREFIX = re.compile(r"^(?:(?:re|aw|sv|vs|ynt|yan[ıi]t|antw|odp|rif|res|ref|回复|答复|ответ)"
                           r"\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*)+", re.IGNORECASE)
# the lines a letter ends with: the feed under calendar_updates = "feed", and the project's page
FEED_LINE = _("Your calendar can follow this timeline as it changes: subscribe to %(url)s")
PAGE_LINE = _("Your project's page, always up to date: %(url)s")
# a milestone's status, as the client reads it in their calendar entry (its DESCRIPTION)
ENTRY_STATUS = {"on track": _("on track"), "done": _("done"), "cancelled": _("cancelled")}
# what a copy for the manager (their Cc copy, a shadow copy, a draft) says instead of the live calendar part it
# leaves out, in the manager's language
COPY_NOTES = {
    "REQUEST": _("Calendar: the client's copy of this message carries an invitation that puts “%(entry)s” in "
                 "their calendar on %(date)s. It is left out of this copy, so that no calendar of yours applies "
                 "it."),
    "CANCEL": _("Calendar: the client's copy of this message carries a cancellation that removes “%(entry)s” "
                "from their calendar. It is left out of this copy, so that no calendar of yours applies it."),
}

CLIENT_TEMPLATES = ("notice.txt.j2", "notice.html.j2", "intro.txt.j2", "intro.html.j2", "weekly.txt.j2",
                    "weekly.html.j2", "calendar.txt.j2")
TEAM_TEMPLATES = ("reply.txt.j2", "manager.txt.j2", "nudge.txt.j2", "signin.txt.j2", "alert.txt.j2",
                  "forward.txt.j2")
# a small count in a sentence is a word ("two milestones", "iki aşama", "দুটি কাজ"; fifth reading, defect 12); the
# Bengali word is the stem its catalog adds the classifier to ("%(n)sটি": দু + টি), as it does to a numeral
COUNT_WORDS = {
    "en": ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"),
    "tr": ("hiç", "bir", "iki", "üç", "dört", "beş", "altı", "yedi", "sekiz", "dokuz", "on"),
    "bn": ("শূন্য", "এক", "দু", "তিন", "চার", "পাঁচ", "ছয়", "সাত", "আট", "নয়", "দশ"),
}
DOMAIN = "letters"  # the catalogs' domain: locale/<lang>/LC_MESSAGES/letters.po
SAID_KEPT = 4096  # distinct forecasts said and kept per Letters; a full memo starts over (cheap to say again)
LATIN_FONTS = "'Segoe UI',Roboto,'Helvetica Neue',Helvetica,Arial,'Noto Sans',sans-serif"
SCRIPT_FONTS = {  # fonts that have the script's glyphs, first: Outlook's engine does not fall back glyph by glyph
    "bn": "'Noto Sans Bengali','Nirmala UI',Vrinda,'Bangla Sangam MN',Shonar Bangla,",
}


@dataclass(frozen=True)
class Recipient:
    name: str
    email: str
    language: str
    timezone: str

    @property
    def locale(self) -> Locale:
        return letter_locale(self.language, self.timezone)


@dataclass(frozen=True)
class ClientEnvelope:
    """Who a client message is from and to, and how it is marked."""

    project_name: str
    client: Recipient
    sender: str
    manager: str
    cc: tuple[str, ...]
    composed_at: dt.datetime  # also DTSTAMP: a retried message is byte-identical
    message_id: str
    token: str
    kind: str
    shadow: bool = False  # approval = "shadow": goes to the manager only, marked as what the client would get
    calendar_updates: str = "invitations"  # invitations (one iMIP REQUEST/CANCEL) | feed (a link) | off
    feed_url: str = ""  # the feed the letters link under calendar_updates = "feed"
    page_url: str = ""  # the project's page on the [web] pages, linked from every letter when there is one
    signature: str = ""  # the person who signs (team.signature); else the From display name
    weekday: str = ""  # the weekly update's day ("mon"), for the introduction to name; "" when there is none
    team_language: str = "en"  # the manager's (team.language): a shadow copy's subject says it in theirs

    @property
    def attendees(self) -> tuple[tuple[str, str], ...]:
        """Every recipient of the invitation, the client and `client.cc`, as ATTENDEEs: each one's program can then
        apply it. Not the organizer (it would be offered its own invitation), nor the manager: they are in Cc, but
        their copy carries the calendar change in words only (Letters.for_manager)."""
        ours = {parseaddr(self.sender)[1].lower(), parseaddr(self.manager)[1].lower()}
        people = [(self.client.name, self.client.email), *(parseaddr(a) for a in self.cc)]
        seen: dict[str, tuple[str, str]] = {}
        for name, email in people:
            if email and email.lower() not in ours:
                seen.setdefault(email.lower(), (name, email))
        return tuple(seen.values())

    @property
    def invites(self) -> bool:
        return self.calendar_updates == "invitations"


@dataclass(frozen=True)
class NoticeLetter:
    """Everything an apology + replan (or a delivered note) says, as plain data."""

    envelope: ClientEnvelope
    milestone: TimelineRow
    deadline: dt.date
    promised: dt.date | None
    slip_days: int
    context: str
    cause: str
    plan: str
    offer: str | None
    rows: tuple[TimelineRow, ...]
    again: bool = False  # a second notice for the same milestone: the promise slipped
    moved: tuple[TimelineRow, ...] = field(default_factory=tuple)  # dependants moved with it
    prevent: str = ""  # what keeps it from happening again (a note's Prevent)
    broken: dt.date | None = None  # a second notice: the date it breaks (the one the last notice promised)
    follow_up: dt.date | None = None  # without a plan: the day the letter promises the steps by (a reminder)
    delivered_on: dt.date | None = None  # a delivered note: the day the work was delivered
    held: bool = False  # held for the manager: it may reach the client days later ("today" is never said)
    offer_stands: bool = False  # a second notice on the same rung of the ladder: the offer made before stands
    offered_on: dt.date | None = None  # then: the day the notice that made it was sent (the store's record of it)
    call: dt.date | None = None  # a second notice: the day the manager calls the client (a reminder then)
    # the date is the forecast's (its P80, or the team's own date when later) or later: only then does the letter
    # say it is the date we expect to meet; a date the manager chose earlier is the one the team works to
    expected: bool = True
    # no note gave an estimate: the date is a placeholder the manager was asked to replace, which the letter
    # claims neither to expect nor to be worked to
    placeholder: bool = False
    # the client's calendar has no entry for the milestone yet (no invitation for it went out): the letter's
    # invitation adds it, it moves nothing
    new_entry: bool = False


@dataclass(frozen=True)
class Progress:
    """One milestone's week, for the weekly check-in."""

    row: TimelineRow
    before: int | None  # percent done a week ago
    now: int | None
    notes: int  # notes received this week

    @property
    def finished(self) -> bool:
        """Done, and not already done a week ago."""
        return self.row.status == "done" and self.before != 100

    @property
    def advanced(self) -> bool:
        """Further along than a week ago (and not finished)."""
        return self.row.status != "done" and self.now is not None and self.now > (self.before or 0)


@dataclass(frozen=True)
class AlertLetter:
    """The manager's risk alert: what changed, the forecast, the pace it needs, whether the client hears soon."""

    what: str  # raise | worse | clear
    project: str
    milestone: str
    target: dt.date  # the deadline, or the date promised to the client
    p_miss: float
    was: float | None  # P(miss) when the alert was last said
    p50: dt.date | None
    p80: dt.date | None
    reason: str
    pace: Pace
    notice: str  # "due": the client notice is due now | "later" | "private": the client never sees it
    held: bool  # the client notice waits for the manager's approval
    warn_probability: float
    alert_probability: float = 0.0  # the alert is raised at this chance of missing, and clears below it
    client: str = ""  # the client's name
    told_on: dt.date | None = None  # the day the client was last told the target (a notice), when they were


@dataclass(frozen=True)
class BlockSummary:
    """One milestone of an accepted note, as the reply tells it back."""

    name: str
    matched_by: str
    said: str
    forecast: str
    asks_cause_plan: bool
    details: tuple[str, ...] = ()  # the note's Cause, Plan and Prevent, each its own line, label first


# --- the composer ----------------------------------------------------------------------------------------------


P = ParamSpec("P")


def _as_message(compose: Callable[P, Plain]) -> Callable[P, EmailMessage]:
    """A letter written as bytes (`Plain`), as a message instead: the same parameters, checked as they are."""

    @functools.wraps(compose)
    def message(*args: P.args, **kwargs: P.kwargs) -> EmailMessage:
        return compose(*args, **kwargs).message()

    return message


def _unknown(catalog: NullTranslations, function: str, message: str | tuple[str | None, ...]) -> str | None:
    """The sentence of one of a template's messages when the catalog does not translate it, else None. (gettext
    gives back the very string it was given for a message it does not know; pgettext's first part is a context.)"""
    parts = message if isinstance(message, tuple) else (message,)
    if function in ("pgettext", "npgettext") and len(parts) >= 2 and parts[0] and parts[1]:
        return parts[1] if catalog.pgettext(parts[0], parts[1]) is parts[1] else None
    ids = [m for m in parts if m]
    if not ids:
        return None
    said = catalog.gettext(ids[0]) if len(ids) == 1 else catalog.ngettext(ids[0], ids[1], 1)
    return ids[0] if said is ids[0] else None


class Letters:
    """The composer. Its templates come through `loader` (adapters/templates.py reads them), their words through
    `catalog` (a language's compiled `letters` catalog, None when it has none: English reads the source text);
    `builtin` names the languages shipped, for the message that refuses another."""

    def __init__(self, loader: jinja2.BaseLoader, builtin: Sequence[str] = (),
                 catalog: Callable[[str], NullTranslations | None] = lambda language: None, zone: str = "",
                 own: str = "") -> None:
        self.loader, self.builtin, self.catalog = loader, tuple(builtin), catalog
        self.own = own  # letters.template_dir: the user's templates, whose sentences the catalogs may not know
        self.zone = zone  # the team's time zone: the region of team.language when it names none
        self._envs: dict[str, jinja2.Environment] = {}
        self._chosen: dict[tuple[str, str], str] = {}  # see `_template`
        self._forecasts: dict[tuple[object, ...], str] = {}  # see `forecast`
        self._untold: dict[tuple[str, NullTranslations], list[str]] = {}  # see `_untranslated`

    def env(self, language: str) -> jinja2.Environment:
        """The templates with one language's words installed (one environment per language: rendering in one
        never sees another's catalog). Sandboxed: templates from a user's folder cannot reach Python internals."""
        if language not in self._envs:
            from jinja2.sandbox import SandboxedEnvironment

            env = SandboxedEnvironment(
                loader=self.loader, undefined=jinja2.StrictUndefined, extensions=["jinja2.ext.i18n"],
                autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
                trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
            )
            env.policies["ext.i18n.trimmed"] = True  # a sentence wrapped in a template is one msgid
            env.install_gettext_translations(  # type: ignore[attr-defined]  # the i18n extension adds it at run time
                self.catalog(language) or NullTranslations(), newstyle=True)
            self._envs[language] = env
        return self._envs[language]

    def gettext(self, language: str, message: str, /, **values: object) -> str:
        """One message of the catalogs in a language, its placeholders filled."""
        translated = (self.catalog(language) or NullTranslations()).gettext(message)
        return translated % values if values else translated

    def say(self, language: str, words: Sequence[Phrase], sep: str = " ") -> str:
        """Phrases the program made, in a language: each translated, every value in the reader's locale."""
        return sep.join(self._phrase(language, letter_locale(language, self.zone), w) for w in words)

    def _phrase(self, language: str, locale: Locale, words: Phrase) -> str:
        translated = self.gettext(language, words.text)
        if not words.values:
            return translated
        return translated % {k: self._value(language, locale, v) for k, v in words.values}

    def _value(self, language: str, locale: Locale, value: Value) -> str:
        if isinstance(value, Phrase):
            return self._phrase(language, locale, value)
        if isinstance(value, dt.date):
            return format_day(value, locale, "medium")
        if isinstance(value, Days):
            n = round(value.n, 1)
            form = (self.catalog(language) or NullTranslations()).ngettext(*DAYS, int(n) if n == int(n) else 2)
            return form % {"n": format_number(n, locale)}
        if isinstance(value, Percent):
            return format_percent(value.n, locale)
        if isinstance(value, Factor):
            return format_number(value.x, locale, "0.0")
        if isinstance(value, int | float):
            return format_number(value, locale)
        return str(value)

    def reason(self, language: str, f: Forecast) -> str:
        """A forecast's reason in words only, in a language (where its dates and probability are shown beside it);
        a forecast stored before its words were kept says its English reason."""
        return self.say(language, f.words) if f.words else f.reason

    def forecast(self, language: str, f: Forecast) -> str:
        """A forecast's reason in a language, with its dates and probability when it has them: the words of the
        reason `status` shows, its dates and figures in the reader's locale (a team mail in English too: `status`
        keeps ISO dates for scripts)."""
        if not f.words:
            return f.reason
        # said once per distinct forecast: a pass's replies and alerts say the same few again and again, and
        # Babel's dates and numbers are most of saying one
        key = (language, f.words, f.p50, f.p80, None if f.p_miss is None else round(f.p_miss * 100))
        said = self._forecasts.get(key)
        if said is None:
            if len(self._forecasts) >= SAID_KEPT:
                self._forecasts.clear()
            said = self._forecasts[key] = self._forecast(language, f)
        return said

    def _forecast(self, language: str, f: Forecast) -> str:
        words = self.say(language, f.words)
        if f.p50 is None or f.p80 is None or f.p_miss is None:
            return words
        locale = letter_locale(language, self.zone)
        if f.target is None:
            return self.gettext(language, _("%(why)s So it is likely done by %(p50)s, and by %(p80)s four times in "
                                            "five; the chance of missing the date is %(p_miss)s."), why=words,
                                p50=format_day(f.p50, locale, "medium"), p80=format_day(f.p80, locale, "medium"),
                                p_miss=format_percent(round(f.p_miss * 100), locale))
        # the chance is of missing one date (the deadline, or the date the client was last given): named
        return self.gettext(language, _("%(why)s So it is likely done by %(p50)s, and by %(p80)s four times in five; "
                                        "the chance of missing %(target)s is %(p_miss)s."), why=words,
                            p50=format_day(f.p50, locale, "medium"), p80=format_day(f.p80, locale, "medium"),
                            target=format_day(f.target, locale, "medium"),
                            p_miss=format_percent(round(f.p_miss * 100), locale))

    def _template(self, language: str, name: str) -> jinja2.Template:
        """A language's own template in letters.template_dir (tr/notice.txt.j2), else the one for every language.
        Which one it is is looked up once: Jinja keeps the templates it found, not the ones it did not (every reply
        looked for en/reply.txt.j2 in each folder again). A template added to the folder is found after a reload
        (SIGHUP makes the letters again); one edited, at once (Jinja's own check)."""
        env = self.env(language)
        chosen = self._chosen.get((language, name))
        if chosen is not None:
            return env.get_template(chosen)
        tag = language.replace("-", "_")
        names = list(dict.fromkeys((f"{tag}/{name}", f"{tag.split('_')[0]}/{name}", name)))
        template = env.select_template(names)
        self._chosen[(language, name)] = template.name or name
        return template

    def check_language(self, language: str, where: str, team: bool = False) -> None:
        """Refuse a language without words (a catalog, or its own templates), naming the key that chose it."""
        try:
            base = Locale.parse(language.replace("-", "_")).language
        except (UnknownLocaleError, ValueError):
            raise ConfigError(f'{where} = "{language}": Babel knows no such locale') from None
        has_words = base == "en" or self.catalog(language) is not None
        for name in TEAM_TEMPLATES if team else CLIENT_TEMPLATES:
            try:
                template = self._template(language, name)
            except jinja2.TemplateNotFound:
                raise ConfigError(f'{where} = "{language}": no template {name}, built in or in '
                                  "letters.template_dir") from None
            except jinja2.TemplateSyntaxError as e:
                raise ConfigError(f"template {e.name or name}, line {e.lineno}: {e.message}") from None
            if not has_words and template.name == name:
                raise ConfigError(
                    f'{where} = "{language}": no catalog locale/{base}/LC_MESSAGES/{DOMAIN}.po and no template '
                    f"{language}/{name} in letters.template_dir; built-in languages: {', '.join(self.builtin)}")
            if (base != "en" and template.name == name and self.own and template.filename
                    and os.path.normpath(template.filename).startswith(os.path.normpath(self.own) + os.sep)
                    and (untold := self._untranslated(language, name))):
                raise ConfigError(
                    f'{where} = "{language}": {template.filename} says {len(untold)} sentence(s) the {base} catalog '
                    f'does not translate — its readers would get them in English — first: "{untold[0][:100]}"; '
                    f"add {base}/{name} to letters.template_dir, or take the sentence from the built-in template")

    def _untranslated(self, language: str, name: str) -> list[str]:
        """The sentences of a template for every language that the language's catalog does not know: a template
        copied into letters.template_dir from an older version keeps sentences reworded since. (gettext gives back
        the very string it was given for a message it does not know.)"""
        catalog = self.catalog(language)
        if catalog is None:
            return []
        source = self.loader.get_source(self.env(language), name)[0]
        key = (source, catalog)  # checked once per text and catalog: a thousand projects share a few languages
        if key not in self._untold:
            extract = self.env(language).extract_translations  # type: ignore[attr-defined]  # added by jinja2.ext.i18n
            self._untold[key] = [said for _line, function, message in extract(source)
                                 if (said := _unknown(catalog, function, message)) is not None]
        return self._untold[key]

    def _render(self, language: str, name: str, **values: object) -> tuple[str, str]:
        module = self._template(language, name).make_module(values)
        text = str(module)
        if name.endswith(".txt.j2"):  # a sentence a letter leaves out leaves no gap of blank lines
            text = re.sub(r"\n{3,}", "\n\n", text).strip("\n") + "\n"
        return safe_text(str(getattr(module, "subject", ""))), text

    @staticmethod
    def _formats(locale: Locale, today: dt.date) -> dict[str, object]:
        """The templates' date and number helpers, in one locale."""

        def day(d: dt.date, fmt: str = "full") -> str:
            return format_day(d, locale, fmt)

        def brief(d: dt.date) -> str:  # in a subject: "16 December" (with the year when it is not this one)
            return format_day(d, locale, "~MMMMd" if d.year == today.year else "~yMMMMd")

        def listday(d: dt.date) -> str:  # in a list: "Wed, 16 Dec 2026"
            return format_day(d, locale, "~yMMMEd")

        def listing(items: Iterable[str]) -> str:  # "Design mockups and Content migration", in the reader's words
            return format_list(list(items), locale=locale)

        def count(n: int) -> str:  # a count in a sentence: "two milestones", as its "one milestone"
            words = COUNT_WORDS.get(locale.language, ())
            return words[n] if 0 <= n < len(words) else format_number(n, locale)

        return dict(day=day, brief=brief, listday=listday, listing=listing, num=lambda n: format_number(n, locale),
                    pct=lambda n: format_percent(n, locale), count=count)

    def _common(self, env: ClientEnvelope) -> dict[str, object]:
        locale = env.client.locale
        # 'this year' is the client's: at New Year the moment's own offset may still be in the old one
        formats = self._formats(locale, env.composed_at.astimezone(_zone(env.client.timezone)).date())
        if locale.language == "tr":  # "10 Ara 2026 Per" reads as a program's output to a Turkish client: in full
            formats["listday"] = formats["day"]
        return dict(
            formats, project=safe_text(env.project_name),
            client_name=safe_text(env.client.name), client_email=env.client.email,
            signature=safe_text(env.signature or parseaddr(env.sender)[0] or parseaddr(env.sender)[1], 100),
            shadow=env.shadow, kind=env.kind, invites=env.invites,
            weekday=weekday_name(env.weekday, locale) if env.weekday else "",
            lang=str(locale).replace("_", "-"), direction="rtl" if locale.character_order == "right-to-left" else "ltr",
            fonts=Markup(SCRIPT_FONTS.get(locale.language, "") + LATIN_FONTS),
        )

    def _letter(self, env: ClientEnvelope, name: str, html: bool, **values: object) -> tuple[str, str, str | None]:
        """A client letter's subject, text and (when it has one) HTML, in the client's language."""
        language = env.client.language
        values = dict(self._common(env), **values)
        subject, text = self._render(language, f"{name}.txt.j2", **values)
        page = self._render(language, f"{name}.html.j2", subject=subject, **values)[1] if html else None
        return subject, text, page

    def _client_message(self, env: ClientEnvelope, subject: str, text: str, html: str | None,
                        request: bytes | None, method: str) -> EmailMessage:
        msg = envelope(env.sender, subject, env.composed_at, env.message_id)
        if env.shadow:
            shadow = self.gettext(env.team_language, _("[shadow: would go to %(email)s]"), email=env.client.email)
            msg.replace_header("Subject", Subject(safe_text(f"{shadow} {subject}")))
            msg["To"] = Addresses("To", env.manager)
        else:
            msg["To"] = Addresses("To", address(env.client.name, env.client.email))
            msg["Cc"] = Addresses("Cc", ", ".join([env.manager, *env.cc]))
        msg["X-Deadlinewatch-Notice"] = env.token
        msg["X-Deadlinewatch-Kind"] = env.kind
        links = [(FEED_LINE, env.feed_url)] if env.calendar_updates == "feed" and env.feed_url else []
        links += [(PAGE_LINE, env.page_url)] if env.page_url else []
        for line_id, url in links:  # one closing line each, the address a link in the HTML
            line = self.gettext(env.client.language, line_id, url=url)
            text = f"{text.rstrip()}\n\n{line}\n"
            if html is not None:
                link = f'<a href="{escape(url)}">{escape(url)}</a>'
                paragraph = f"<p>{escape(line).replace(escape(url), link)}</p>"
                html = html.replace("</div>\n</body>", f"{paragraph}\n</div>\n</body>")
        msg.set_content(text)
        if html is not None:
            msg.add_alternative(html, subtype="html")
        if request is not None and env.invites and env.shadow:
            # a shadow copy goes to the manager: the calendar change in words, never live (it would plant the
            # client's entry in the manager's calendar, or offer the organizer its own invitation)
            append_note(msg, self._calendar_note(env.team_language, request))
        elif request is not None and env.invites:
            add_calendar(msg, request, method)
        return fixed_boundaries(msg)

    def entry_description(self, language: str, row: TimelineRow, page_url: str = "", timezone: str = "") -> str:
        """What a client's calendar entry says (its DESCRIPTION), in their language and locale: the milestone's
        status, the original date beside a moved one, and the client page's address when there is one. Every entry
        has one: Thunderbird shows the invitation's card instead of the letter, and the entry stays without it."""
        locale = letter_locale(language, timezone)
        if row.status == "moved" and row.told is not None and row.told != row.old:
            # moved again: from the date the client's calendar held until now, the original beside it
            words = phrase(_("Moved from %(told)s to %(new)s (originally %(old)s)"), told=row.told, new=row.new,
                           old=row.old)
        elif row.status == "moved":
            words = phrase(_("Moved from %(old)s to %(new)s"), old=row.old, new=row.new)
        else:
            words = phrase(_("Status: %(status)s"), status=phrase(ENTRY_STATUS.get(row.status, row.status)))
        lines = [self._phrase(language, locale, words)]
        if page_url:
            lines.append(self.gettext(language, PAGE_LINE, url=page_url))
        return "\n".join(lines)

    def _entry(self, env: ClientEnvelope, row: TimelineRow) -> str:
        return self.entry_description(env.client.language, row, env.page_url, env.client.timezone)

    def _calendar_note(self, language: str, ics: str | bytes) -> str:
        """What one of our iMIP parts does, in words, in a language (the manager's)."""
        what = timeline.described(ics)
        return self.say(language, [phrase(COPY_NOTES.get(what.method, COPY_NOTES["REQUEST"]), entry=what.summary,
                                          date=what.day)])

    def for_manager(self, msg: EmailMessage, language: str) -> EmailMessage:
        """A client message as the manager sees it — their Cc copy, a held draft: without its live calendar part,
        which a program of theirs would apply (the client's entry, organized by us, planted in the manager's own
        calendar; an organizer offered its own invitation), and with what it does said in words, in the manager's
        language, at the end of the letter. Nothing else changes."""
        ics = calendar_data(msg)
        if ics is None:
            return copy.deepcopy(msg)
        shown = without_calendar(msg)
        append_note(shown, self._calendar_note(language, ics))
        return shown

    def manager_copy(self, msg: EmailMessage, *, language: str, message_id: str) -> EmailMessage:
        """The manager's copy of a client message that carries a live calendar part: the same letter, headers
        and all (they are in its Cc), the calendar change said in words (`for_manager`); its own Message-ID, so that
        the outbox, the archive and the manager's mailbox never take it for the client's, and a References to
        the client's, so that the client's answer joins it in the manager's thread."""
        shown = self.for_manager(msg, language)
        original = str(msg["Message-ID"])
        shown.replace_header("Message-ID", message_id)
        if msg_ids(original):
            shown["References"] = msg_ids(original)
        shown.replace_header("X-Deadlinewatch-Kind", "manager-copy")
        return fixed_boundaries(shown)

    def notice(self, letter: NoticeLetter) -> EmailMessage:
        letter = replace(letter, milestone=_clean(letter.milestone), rows=tuple(map(_clean, letter.rows)),
                         moved=tuple(map(_clean, letter.moved)))
        env = letter.envelope
        locale = env.client.locale
        today = env.composed_at.astimezone(_zone(env.client.timezone)).date()
        when = context_day(letter.context, locale, today) if letter.promised is not None else None
        subject, text, html = self._letter(
            env, "notice", True, milestone=letter.milestone.name, milestone_uid=letter.milestone.uid,
            deadline=letter.deadline, promised=letter.promised, broken=letter.broken or letter.deadline,
            slip_days=letter.slip_days, context=letter.context, context_day=when,
            context_gap=(when - letter.promised).days if when and letter.promised else 0, cause=_sentence(letter.cause),
            plan=_sentence(letter.plan), prevent=_sentence(letter.prevent), follow_up=letter.follow_up,
            offer=letter.offer or "", offer_stands=letter.offer_stands, rows=letter.rows, again=letter.again,
            offered_on=letter.offered_on, offer_clause=_clause(letter.offer or "", locale.language),
            moved=letter.moved, delivered_on=letter.delivered_on or today, today=today, call=letter.call,
            held=letter.held,
            expected=letter.expected, placeholder=letter.placeholder, new_entry=letter.new_entry,
            crossed=[r.name for r in letter.moved if _crossed(r, when)],
        )
        request = None
        if env.kind == "notice" and letter.promised is not None:
            request = timeline.request(letter.milestone, env.project_name, env.composed_at, env.sender,
                                       env.attendees, self._entry(env, letter.milestone))
        return self._client_message(env, subject, text, html, request, "REQUEST")

    def intro(self, env: ClientEnvelope, rows: Sequence[TimelineRow], first: TimelineRow, context: str
              ) -> EmailMessage:
        rows, first = tuple(map(_clean, rows)), _clean(first)
        subject, text, html = self._letter(env, "intro", True, rows=rows, first=first.name, first_uid=first.uid,
                                           context=context)
        request = timeline.request(first, env.project_name, env.composed_at, env.sender, env.attendees,
                                   self._entry(env, first))
        return self._client_message(env, subject, text, html, request, "REQUEST")

    def calendar(self, env: ClientEnvelope, row: TimelineRow, after: str = "", context: str = "",
                 new_entry: bool = False) -> EmailMessage:
        """A one-UID calendar message: a moved dependant, or an entry introduced when its date comes near. A
        dependant moved a second time moves from the date the client last heard (`row.told`), and names the work
        it builds on (`after`, whose own notice goes out with it). A move past the client's own day (the date in
        the project's `context`) when the date they had was before it is said and apologised for; `new_entry`:
        the client's calendar has no entry for it yet (the letter adds it, it moves nothing)."""
        row = _clean(row)
        today = env.composed_at.astimezone(_zone(env.client.timezone)).date()
        when = context_day(context, env.client.locale, today) if context and row.new != row.old else None
        subject, text, _html = self._letter(env, "calendar", False, milestone=row.name, old=row.old, new=row.new,
                                            told=row.told, after=safe_text(after), cancel=False, cause="",
                                            dependants=(), context=safe_text(context), new_entry=new_entry,
                                            context_day=when if _crossed(row, when) else None)
        request = timeline.request(row, env.project_name, env.composed_at, env.sender, env.attendees,
                                   self._entry(env, row))
        return self._client_message(env, subject, text, None, request, "REQUEST")

    def cancel(self, env: ClientEnvelope, row: TimelineRow, *, sent: int, invited: bool, cause: str = "",
               dependants: Sequence[TimelineRow] = (), private: bool = False) -> EmailMessage:
        """A milestone the client was told of is cancelled: the letter always; METHOD:CANCEL only when the client's
        calendar has the entry (`invited`: an invitation for it went out) — a cancellation of an entry they never
        had is noise at best. The CANCEL says STATUS:CANCELLED and carries a SEQUENCE above `sent`, the highest
        one sent for that UID, whatever the row says: calendars ignore a cancellation that is not newer. The letter
        says why as far as the calendar knows it (taken off the plan; the team's `cause` when a note gave one),
        apologises for the date the client had (`row.new`), and says what built on it (`dependants`, with the
        dates the client has: a cancelled milestone holds nothing back) or that nothing did. `private`: not
        cancelled but made internal work of the team's — off the timeline the client shares, said so."""
        row = replace(_clean(row), status="cancelled", sequence=max(row.sequence, sent + 1))
        carries = env.invites and invited
        subject, text, _html = self._letter(env, "calendar", False, milestone=row.name, old=row.old, new=row.new,
                                            cancel=True, cause=_sentence(cause), invites=carries,
                                            dependants=tuple(map(_clean, dependants)), private=private)
        request = timeline.request(row, env.project_name, env.composed_at, env.sender, env.attendees,
                                   self._entry(env, row), method="CANCEL") if carries else None
        return self._client_message(env, subject, text, None, request, "CANCEL")

    def reinstated(self, env: ClientEnvelope, row: TimelineRow, *, sent: int, invited: bool) -> EmailMessage:
        """A milestone the client was told is cancelled is back in the plan, on `row.new`: the letter says so and
        apologises for the back-and-forth; under "invitations", a REQUEST with a SEQUENCE above `sent` (the
        highest sent for that UID) and STATUS:CONFIRMED puts the entry back in the client's calendar — added anew
        when their calendar never had it (`invited` False)."""
        row = replace(_clean(row), sequence=max(row.sequence, sent + 1))
        subject, text, _html = self._letter(env, "calendar", False, milestone=row.name, old=row.old, new=row.new,
                                            cancel=False, reinstated=True, invites=env.invites, new_entry=not invited)
        request = timeline.request(row, env.project_name, env.composed_at, env.sender, env.attendees,
                                   self._entry(env, row)) if env.invites else None
        return self._client_message(env, subject, text, None, request, "REQUEST")

    def weekly(self, env: ClientEnvelope, rows: Sequence[TimelineRow], progress: Sequence[Progress],
               upcoming: Sequence[TimelineRow], week_start: dt.date, watch: Sequence[str] = (), first: bool = False
               ) -> EmailMessage:
        """The weekly check-in; `watch`: the names of the milestones the manager's risk alert is up for; `first`:
        the project's first one (no week before it to compare with)."""
        rows, upcoming = tuple(map(_clean, rows)), tuple(map(_clean, upcoming))
        progress = [replace(p, row=_clean(p.row)) for p in progress]
        subject, text, html = self._letter(env, "weekly", True, rows=rows, progress=progress, upcoming=upcoming,
                                           week_start=week_start, watch=[safe_text(n, 100) for n in watch],
                                           first=first)
        return self._client_message(env, subject, text, html, None, "REQUEST")

    # --- the team's messages --------------------------------------------------------------------------------

    def _team(self, language: str, name: str, at: dt.datetime, **values: object) -> tuple[str, str]:
        today = at.astimezone(_zone(self.zone)).date() if self.zone else at.date()  # the team's year
        return self._render(language, name, **self._formats(letter_locale(language, self.zone), today),
                            keys=note_keys(language), **values)

    def thread_subject(self, language: str, subject: str) -> str:
        """A note's subject as its reply answers it: without the "Re:"s and the "— recorded" of the replies before
        it in the thread (a team member answering each reply with the next note: "Re: Re: … — recorded —
        recorded"), so that a thread keeps one of each."""
        wrappers = [self.gettext(language, msgid, subject="\x00").split("\x00") for msgid in REPLY_SUBJECTS]
        while True:
            before = subject
            subject = _REPLY_PREFIX.sub("", subject).strip()
            for head, tail in wrappers:
                if tail.strip() and subject.endswith(tail.rstrip()):
                    subject = subject[:len(subject) - len(tail.rstrip())].rstrip()
                if head.strip() and subject.startswith(head.strip()):
                    subject = subject[len(head.strip()):].lstrip()
            if subject == before or not subject:
                return subject or before

    def reply_letter(
        self, *, language: str, sender: str, to: str, original_subject: str, original_message_id: str,
        references: str, composed_at: dt.datetime, message_id: str, accepted: bool, project_name: str,
        blocks: Sequence[BlockSummary] = (), problems: Sequence[str] = (), example_project: str = "",
        example_milestone: str = "",
    ) -> Plain:
        """The answer to a team member's note: what was understood, or every problem with an example that works
        (`example_project`, `example_milestone`: the note's project and one of its milestones, as the caller knows
        them; a reply that accepts shows none). One text part: written out by `Plain.as_bytes`."""
        subject, text = self._team(
            language, "reply.txt.j2", composed_at, accepted=accepted, project=project_name, blocks=blocks,
            problems=problems, example_project=safe_text(example_project, 60),
            example_milestone=safe_text(example_milestone, 100),
            original_subject=safe_text(self.thread_subject(language, original_subject)),
        )
        headers = [*envelope_headers(sender, subject or f"Re: {original_subject}", composed_at, message_id),
                   ("To", Addresses("To", to)),
                   ("Auto-Submitted", "auto-replied"),  # RFC 3834: no auto-responder should answer this
                   ("X-Deadlinewatch-Kind", "reply")]
        if msg_ids(original_message_id):
            headers += [("In-Reply-To", msg_ids(original_message_id)),
                        ("References", msg_ids(references, original_message_id))]
        return Plain(tuple(headers), text)

    reply = _as_message(reply_letter)  # the same answer as a message (what the tests and mail readers read)

    def nudge(self, *, language: str, sender: str, to: str, reply_to: str, composed_at: dt.datetime,
              message_id: str, project_id: str, project_name: str, milestone: str, since: dt.date, days: int,
              forecast: str) -> EmailMessage:
        """A friendly reminder to the team: a milestone in progress has had no note for a while."""
        subject, text = self._team(
            language, "nudge.txt.j2", composed_at, project_id=project_id, project=safe_text(project_name),
            milestone=safe_text(milestone), since=format_day(since, letter_locale(language, self.zone), "medium"),
            days=days, forecast=_after_colon(forecast, language),
            percent=percent_blank(letter_locale(language, self.zone)),
        )
        msg = envelope(sender, subject, composed_at, message_id)
        msg["To"] = Addresses("To", to)
        # an answer is a progress note: it goes straight to the inbox
        msg["Reply-To"] = Addresses("Reply-To", reply_to)
        msg["Auto-Submitted"] = "auto-generated"
        msg["X-Deadlinewatch-Kind"] = "nudge"
        msg.set_content(text)
        return msg

    def ask(self, *, language: str, sender: str, to: str, reply_to: str, composed_at: dt.datetime, message_id: str,
            project_id: str, project_name: str, milestone: str, broken: dt.date, promised: dt.date) -> EmailMessage:
        """To the team: the date the client was given will not hold, and the second notice waits for a cause and a
        plan newer than the last notice's. The answer is a note: it goes straight to the inbox."""
        locale = letter_locale(language, self.zone)
        subject, text = self._team(
            language, "ask.txt.j2", composed_at, project_id=project_id, project=safe_text(project_name),
            milestone=safe_text(milestone), broken=format_day(broken, locale, "medium"),
            promised=format_day(promised, locale, "medium"))
        msg = envelope(sender, subject, composed_at, message_id)
        msg["To"] = Addresses("To", to)
        msg["Reply-To"] = Addresses("Reply-To", reply_to)
        msg["Auto-Submitted"] = "auto-generated"
        msg["X-Deadlinewatch-Kind"] = "ask"
        msg.set_content(text)
        return msg

    def signin(self, *, language: str, sender: str, to: str, composed_at: dt.datetime, message_id: str, server: str,
               account: str, error: str, command: str) -> EmailMessage:
        """To the manager, once: a server account's OAuth sign-in was refused, and the command that mends it."""
        subject, text = self._team(language, "signin.txt.j2", composed_at, server=server, account=safe_text(account),
                                   error=safe_text(error), command=command)
        msg = envelope(sender, subject, composed_at, message_id)
        msg["To"] = Addresses("To", to)
        msg["Auto-Submitted"] = "auto-generated"
        msg["X-Deadlinewatch-Kind"] = "manager-signin"
        msg.set_content(text)
        return msg

    def manager(
        self, *, language: str, sender: str, to: str, composed_at: dt.datetime, message_id: str, what: str,
        notice_id: int, token: str, project_name: str, milestone: str, client: str, reason: str = "",
        detail: str = "", draft: EmailMessage | None = None, in_reply_to: str = "", held: Sequence[str] = (),
        client_name: str = "", before: dt.date | None = None, approved: ApprovedDate | None = None,
        dated: bool = True, promised: dt.date | None = None,
    ) -> EmailMessage:
        """A message to the manager: a draft to approve (`held`: why it waits for them whatever the policy; `dated`:
        whether it may be approved with a date of their own — a notice may, an introduction may not), or news of a
        notice (released, failed, decided; `promised`: the date a released notice gave the client)."""
        subject, text = self._team(
            language, "manager.txt.j2", composed_at, what=what, notice_id=notice_id, token=token, project=project_name,
            milestone=milestone, client=client, client_name=safe_text(client_name) or client, reason=reason,
            detail=detail, held=tuple(held), before=before, approved=approved, dated=dated, promised=promised,
            attached=draft is not None,
        )
        msg = envelope(sender, subject, composed_at, message_id)
        msg["To"] = Addresses("To", to)
        msg["Auto-Submitted"] = "auto-generated"
        msg["X-Deadlinewatch-Notice"] = token
        msg["X-Deadlinewatch-Kind"] = f"manager-{what}"
        if msg_ids(in_reply_to):
            msg["In-Reply-To"] = msg["References"] = msg_ids(in_reply_to)
        msg.set_content(text)
        if draft is not None:  # as it would go out, its calendar data in words: never live in the manager's mail
            msg.add_attachment(self.for_manager(draft, language), disposition="inline")
        return fixed_boundaries(msg)

    def alert(self, letter: AlertLetter, *, language: str, sender: str, to: str, composed_at: dt.datetime,
              message_id: str) -> EmailMessage:
        """The manager's early risk alert for a milestone (raised, worse, or all clear), in the team's language."""
        pct = functools.partial(format_percent, language=letter_locale(language, self.zone))
        num = functools.partial(format_number, language=letter_locale(language, self.zone))
        pace = letter.pace
        # the factor the mail asks for is the ratio of the two figures it states ("needs 18 more" of "14 remain":
        # 1.3), rounded half up, never one from the unrounded days that disagrees with them
        needed = round(pace.needed_days) if pace.needed_days is not None else None
        factor = needed / pace.remaining_days if needed is not None and pace.remaining_days > 0 else None
        tenths = math.floor(factor * 10 + 0.5) / 10 if factor is not None else None
        subject, text = self._team(
            language, "alert.txt.j2", composed_at, what=letter.what, project=safe_text(letter.project),
            milestone=safe_text(letter.milestone), target=letter.target, p_miss=pct(round(letter.p_miss * 100)),
            was=pct(round(letter.was * 100)) if letter.was is not None else "", p50=letter.p50, p80=letter.p80,
            reason=safe_text(letter.reason, 2000), done=pct(pace.done) if pace.done is not None else "",
            needed=needed,
            remaining=pace.remaining_days, stalled=pace.per_day is not None and pace.per_day <= 0,
            factor=num(tenths, pattern="0.#") if tenths else "", faster=tenths is not None and tenths > 1,
            notice=letter.notice, held=letter.held,
            warn=pct(round(letter.warn_probability * 100)), threshold=pct(round(letter.alert_probability * 100)),
            likely_late=letter.p_miss >= 0.5, client=safe_text(letter.client), told_on=letter.told_on,
        )
        msg = envelope(sender, subject, composed_at, message_id)
        msg["To"] = Addresses("To", to)
        msg["Auto-Submitted"] = "auto-generated"
        msg["X-Deadlinewatch-Kind"] = "manager-alert"
        msg.set_content(text)
        return fixed_boundaries(msg)

    def forward(self, *, language: str, sender: str, to: str, original: EmailMessage, composed_at: dt.datetime,
                message_id: str) -> EmailMessage:
        """A client's reply to a notice, passed on to the manager: its headers and text, rewritten by us.

        Not the original bytes: anything in them (a header that decodes to a line break, a part that ends the
        attachment early) would reach the manager as if we had written it. Its attachments are named, not copied;
        the message itself is in the inbox's processed folder.
        """
        copy = EmailMessage(policy=WRITE)
        for name in ("From", "To", "Cc", "Date", "Subject"):
            value = header_text(original, name)
            if value:
                copy[name if name != "From" else "X-Original-From"] = value  # text, not an address to reply to
        names = [safe_text(str(p.get_filename() or p.get_content_type()), 100) for p in attachments(original)]
        copy.set_content(full_text(original))
        subject, text = self._team(
            language, "forward.txt.j2", composed_at, original_subject=header_text(original, "Subject"),
            # the letter the client answered, as its subject was: without the reply's "Re:" (or "AW:", "YNT:" …)
            letter=re.sub(r"^(\s*(re|aw|sv|vs|ynt|cvp|fwd?|wg|antw|odp)\s*:\s*)+", "", header_text(original, "Subject"),
                          flags=re.IGNORECASE),
            who=header_text(original, "From") or self.gettext(language, _("The client")), attachments=", ".join(names))
        msg = envelope(sender, subject, composed_at, message_id)
        msg["To"] = Addresses("To", to)
        msg["Auto-Submitted"] = "auto-generated"
        msg["X-Deadlinewatch-Kind"] = "forward"
        msg.set_content(text)
        msg.add_attachment(copy, disposition="inline")
        return fixed_boundaries(msg)


def _sentence(text: str) -> str:
    """Free text set into one of our sentences: one line, its final full stop left to the sentence."""
    return one_line(text).rstrip(" .。।")


def _clause(offer: str, language: str) -> str:
    """An offer of one sentence as a clause of ours ("As I said on 26 November, we will not charge …"): its final
    stop dropped and its first word lowered (`_lowered_first`). An offer of more sentences gives "" and is quoted
    whole."""
    text = _sentence(offer)
    if not text or re.search(r"[.!?।](\s|$)", text):
        return ""
    return _lowered_first(text, language)


def _after_colon(text: str, language: str) -> str:
    """A sentence set after a colon in English ("Where it stands now: the team says …"): its first word lowered,
    as British usage has it. Other languages keep their capital."""
    return _lowered_first(text, language) if language == "en" else text


def _lowered_first(text: str, language: str) -> str:
    """A sentence's first word lowered where it goes on inside ours, in a language with capitals (en, tr: Turkish
    "I" is "ı", "İ" is "i"): a sentence opens with "We", "Ek", "The", not a name; "I" and a word in capitals stay."""
    first = text.split(" ", 1)[0]
    if language not in ("en", "tr") or not first[:1].isupper() or first[1:] != first[1:].lower() \
            or (language == "en" and (first == "I" or first.startswith(("I'", "I’")))):
        return text
    lowered = {"I": "ı", "İ": "i"}.get(first[0], first[0].lower()) if language == "tr" else first[0].lower()
    return lowered + text[1:]


def _crossed(row: TimelineRow, day: dt.date | None) -> bool:
    """A moved row now lands after the client's own day (`day`, the date in the project's context), where the date
    they had until this letter (the one last told, else the first) was before it. On the day itself it is not
    "after" it: nothing is said of it crossing (the review: "That puts Build after your board presentation on 30
    November", Build's new date being 30 November)."""
    return day is not None and row.status == "moved" and row.new > day and (row.told or row.old) < day


def _zone(name: str) -> dt.tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def _clean(row: TimelineRow) -> TimelineRow:
    """A milestone's name as one line of bounded length, wherever it appears."""
    return replace(row, name=safe_text(row.name))
