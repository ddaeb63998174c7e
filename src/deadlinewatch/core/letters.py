"""Composing every message deadlinewatch sends, from Jinja2 templates (built-in, or a folder overriding them).

Templates live in `templates/<language>/`; adding a language is adding a folder. A template's top-level
`{% set subject = ... %}` is the subject line; a missing variable is an error, never a blank in a client letter.
Dates are formatted with Babel in the reader's locale, with the locale's own digits.

Client messages, by kind (CONTRACT.md):
  intro      the first message of a project: the timeline, a REQUEST for the first milestone (the others get
             their own one-UID `update` messages with it);
  notice     apology + replan: five parts, a REQUEST moving the milestone, `timeline.ics`;
  update     a short calendar update of one milestone (dependants moved by a slip, intro entries);
  cancel     METHOD:CANCEL for a milestone the client has seen;
  delivered  a warned milestone is done;
  weekly     the check-in: progress since last week, what is next, the timeline.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from email.headerregistry import Address, HeaderRegistry
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from html import escape
from typing import Any

import jinja2
from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_decimal
from babel.numbers import format_percent as babel_percent

from deadlinewatch.core import timeline
from deadlinewatch.core.alert import Pace
from deadlinewatch.core.header_cache import WRITE
from deadlinewatch.core.intake import HEADER_ERRORS, header, one_line, passable_ids
from deadlinewatch.core.message_text import full_text
from deadlinewatch.core.model import TimelineRow
from deadlinewatch.errors import ConfigError

# the line a letter ends with under calendar_updates = "feed" (into the message catalogs with the letters' issue)
FEED_LINE = {
    "en": "Your calendar can follow this timeline as it changes: subscribe to {url}",
    "tr": "Takviminiz bu zaman çizelgesini değiştikçe izleyebilir: {url} adresine abone olun",
    "bn": "আপনার ক্যালেন্ডার এই সময়রেখার পরিবর্তনগুলো অনুসরণ করতে পারে: {url} -এ সাবস্ক্রাইব করুন",
}

PAGE_LINE = {
    "en": "Your project's page, always up to date: {url}",
    "tr": "Projenizin her zaman güncel sayfası: {url}",
    "bn": "আপনার প্রকল্পের সবসময় হালনাগাদ পাতা: {url}",
}

CLIENT_TEMPLATES = ("notice.txt.j2", "notice.html.j2", "intro.txt.j2", "intro.html.j2", "weekly.txt.j2",
                    "weekly.html.j2", "calendar.txt.j2")
TEAM_TEMPLATES = ("reply.txt.j2", "manager.txt.j2", "nudge.txt.j2", "signin.txt.j2", "alert.txt.j2")
MAX_HEADER_TEXT = 200  # a milestone or project name longer than this is cut in headers
_HEADER_PARSER = HeaderRegistry()


def safe_text(value: str, limit: int = MAX_HEADER_TEXT) -> str:
    """Text from a calendar, a note, a mail or the config, made safe for a header we write: one line, no control
    characters, and nothing the email library would decode into something else when the header is set.

    Setting a header decodes any RFC 2047 encoded-word in the value, so "=?utf-8?q?=0D=0ABcc:_x?=" would become a
    line break, and Python before 3.11.10 writes it out raw (CVE-2024-6923). So the text is decoded as the
    library would decode it, stripped of controls, and again, until decoding changes nothing.
    """
    text = one_line(value)
    for _ in range(5):
        decoded = one_line(_decoded_words(text))
        if decoded == text:
            break
        text = decoded
    else:  # still decoding after five rounds: whatever is left is not allowed to look like an encoded-word
        text = text.replace("=?", "= ?")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _decoded_words(text: str) -> str:
    if "=?" not in text:
        return text
    try:
        return str(_HEADER_PARSER("subject", text))
    except HEADER_ERRORS:
        return text.replace("=?", "= ?")


def _msg_ids(*values: str) -> str:
    """msg-ids we write back in In-Reply-To/References: only those that pass verbatim (see intake.passable_ids)."""
    return " ".join(passable_ids(list(values)))


@dataclass(frozen=True)
class Recipient:
    name: str
    email: str
    language: str
    timezone: str


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

    @property
    def attendees(self) -> tuple[tuple[str, str], ...]:
        """Every To/Cc recipient but the organizer, as ATTENDEEs: each one's program can apply the update."""
        organizer = parseaddr(self.sender)[1].lower()
        people = [(self.client.name, self.client.email), *(parseaddr(a) for a in (self.manager, *self.cc))]
        if self.shadow:
            people = [parseaddr(self.manager)]
        seen: dict[str, tuple[str, str]] = {}
        for name, email in people:
            if email and email.lower() != organizer:
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


@dataclass(frozen=True)
class Progress:
    """One milestone's week, for the weekly check-in."""

    row: TimelineRow
    before: int | None  # percent done a week ago
    now: int | None
    notes: int  # notes received this week


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


@dataclass(frozen=True)
class BlockSummary:
    """One milestone of an accepted note, as the reply tells it back."""

    name: str
    matched_by: str
    said: str
    forecast: str
    asks_cause_plan: bool


# --- dates ---------------------------------------------------------------------------------------------------

# CLDR numbering systems whose digits Babel leaves Latin: the Unicode name of their digit zero
_DIGIT_ZERO = {"beng": "BENGALI", "deva": "DEVANAGARI", "arab": "ARABIC-INDIC", "arabext": "EXTENDED ARABIC-INDIC",
               "mymr": "MYANMAR", "thai": "THAI", "tamldec": "TAMIL", "guru": "GURMUKHI", "gujr": "GUJARATI"}


def native_digits(text: str, language: str) -> str:
    """Latin digits as the locale writes digits (Bengali: ০১২…), which Babel leaves Latin."""
    script = _DIGIT_ZERO.get(Locale.parse(language).default_numbering_system)
    if not script:
        return text
    zero = ord(unicodedata.lookup(f"{script} DIGIT ZERO"))
    return text.translate({ord("0") + i: zero + i for i in range(10)})


def format_day(day: dt.date, language: str, fmt: str = "full") -> str:
    """A date as a reader of `language` writes it, with the locale's own digits ("৩ ডিসেম্বর, ২০২৬")."""
    return native_digits(format_date(day, format=fmt, locale=Locale.parse(language)), language)


def format_percent(percent: int, language: str) -> str:
    """A percentage as the locale writes it ("60%", "%60", "৬০%")."""
    return native_digits(babel_percent(percent / 100, locale=Locale.parse(language)), language)


# --- the composer ----------------------------------------------------------------------------------------------


class Letters:
    """The composer. Its templates come through `loader` (adapters/templates.py reads them); `builtin` names the
    languages shipped, for the message that refuses another."""

    def __init__(self, loader: jinja2.BaseLoader, builtin: Sequence[str] = ()) -> None:
        self.builtin = tuple(builtin)
        # a SandboxedEnvironment: templates from a user's folder cannot reach Python internals
        from jinja2.sandbox import SandboxedEnvironment

        self.env = SandboxedEnvironment(
            loader=loader,
            undefined=jinja2.StrictUndefined,
            autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )

    def check_language(self, language: str, where: str, team: bool = False) -> None:
        """Refuse a language without templates, naming the key that chose it."""
        try:
            Locale.parse(language)
        except (UnknownLocaleError, ValueError):
            raise ConfigError(f'{where} = "{language}": Babel knows no such locale') from None
        for name in TEAM_TEMPLATES if team else CLIENT_TEMPLATES:
            try:
                self.env.get_template(f"{language}/{name}")
            except jinja2.TemplateNotFound:
                built_in = ", ".join(self.builtin)
                raise ConfigError(
                    f'{where} = "{language}": no template {language}/{name}, built in or in letters.template_dir; '
                    f"built-in languages: {built_in}"
                ) from None
            except jinja2.TemplateSyntaxError as e:
                raise ConfigError(f"template {language}/{name}, line {e.lineno}: {e.message}") from None

    def _render(self, name: str, **values: object) -> tuple[str, str]:
        template = self.env.get_template(name)
        module = template.make_module(values)
        text = str(module)
        if name.endswith(".txt.j2"):  # a sentence a letter leaves out leaves no gap of blank lines
            text = re.sub(r"\n{3,}", "\n\n", text)
        return safe_text(str(getattr(module, "subject", ""))), text

    @staticmethod
    def _day(language: str) -> Callable[..., str]:
        def day(d: dt.date, fmt: str = "full") -> str:
            return format_day(d, language, fmt)

        return day

    def _common(self, env: ClientEnvelope) -> dict[str, object]:
        return dict(project=safe_text(env.project_name), client_name=safe_text(env.client.name),
                    client_email=env.client.email,
                    sender_name=parseaddr(env.sender)[0] or parseaddr(env.sender)[1], shadow=env.shadow,
                    day=self._day(env.client.language), kind=env.kind, invites=env.invites)

    def _client_message(self, env: ClientEnvelope, subject: str, text: str, html: str | None,
                        request: bytes | None, method: str) -> EmailMessage:
        msg = _envelope(env.sender, subject, env.composed_at, env.message_id)
        if env.shadow:
            msg.replace_header("Subject", Subject(safe_text(f"[shadow: would go to {env.client.email}] {subject}")))
            msg["To"] = Addresses("To", env.manager)
        else:
            msg["To"] = Addresses("To", _format(env.client.name, env.client.email))
            msg["Cc"] = Addresses("Cc", ", ".join([env.manager, *env.cc]))
        msg["X-Deadlinewatch-Notice"] = env.token
        msg["X-Deadlinewatch-Kind"] = env.kind
        links = [(FEED_LINE, env.feed_url)] if env.calendar_updates == "feed" and env.feed_url else []
        links += [(PAGE_LINE, env.page_url)] if env.page_url else []
        for lines, url in links:  # one closing line each, the address a link in the HTML
            line = lines.get(env.client.language, lines["en"]).format(url=url)
            text = f"{text.rstrip()}\n\n{line}\n"
            if html is not None:
                link = f'<a href="{escape(url)}">{escape(url)}</a>'
                html = html.replace("</body>", f"<p>{escape(line).replace(escape(url), link)}</p></body>")
        msg.set_content(text)
        if html is not None:
            msg.add_alternative(html, subtype="html")
        if request is not None and env.invites:
            # inside multipart/alternative, so mail programs show the calendar card (Gmail does only for this);
            # base64, as RFC 6047 §2.5 asks: no transport may rewrap the calendar's lines
            if html is None:
                msg.make_alternative()
            msg.add_alternative(request.decode("utf-8"), subtype="calendar", params={"method": method}, cte="base64")
        return _fixed_boundaries(msg)

    def notice(self, letter: NoticeLetter) -> EmailMessage:
        letter = replace(letter, milestone=_clean(letter.milestone), rows=tuple(map(_clean, letter.rows)),
                         moved=tuple(map(_clean, letter.moved)))
        env = letter.envelope
        day = self._day(env.client.language)
        values = dict(
            self._common(env), milestone=letter.milestone.name, milestone_uid=letter.milestone.uid,
            deadline=day(letter.deadline), promised=day(letter.promised) if letter.promised else "",
            slip_days=letter.slip_days, context=letter.context, cause=letter.cause, plan=letter.plan,
            offer=letter.offer or "", rows=letter.rows, again=letter.again, moved=letter.moved,
        )
        subject, text = self._render(f"{env.client.language}/notice.txt.j2", **values)
        _, html = self._render(f"{env.client.language}/notice.html.j2", **values)
        request = None
        if env.kind == "notice" and letter.promised is not None:
            description = f"{env.project_name}: {letter.milestone.name} — {day(letter.promised)}"
            request = timeline.request(letter.milestone, env.project_name, env.composed_at, env.sender,
                                       env.attendees, description)
        return self._client_message(env, subject, text, html, request, "REQUEST")

    def intro(self, env: ClientEnvelope, rows: Sequence[TimelineRow], first: TimelineRow, context: str
              ) -> EmailMessage:
        rows, first = tuple(map(_clean, rows)), _clean(first)
        values = dict(self._common(env), rows=rows, first=first.name, first_uid=first.uid, context=context)
        subject, text = self._render(f"{env.client.language}/intro.txt.j2", **values)
        _, html = self._render(f"{env.client.language}/intro.html.j2", **values)
        request = timeline.request(first, env.project_name, env.composed_at, env.sender, env.attendees)
        return self._client_message(env, subject, text, html, request, "REQUEST")

    def calendar(self, env: ClientEnvelope, row: TimelineRow, cancel: bool = False, cause: str = "") -> EmailMessage:
        """A one-UID calendar message: a moved dependant, an introduced entry, or a cancellation."""
        row = _clean(row)
        values = dict(self._common(env), milestone=row.name, old=row.old, new=row.new, cancel=cancel, cause=cause)
        subject, text = self._render(f"{env.client.language}/calendar.txt.j2", **values)
        method = "CANCEL" if cancel else "REQUEST"
        request = timeline.request(row, env.project_name, env.composed_at, env.sender, env.attendees, method=method)
        return self._client_message(env, subject, text, None, request, method)

    def weekly(self, env: ClientEnvelope, rows: Sequence[TimelineRow], progress: Sequence[Progress],
               upcoming: Sequence[TimelineRow], week_start: dt.date) -> EmailMessage:
        rows, upcoming = tuple(map(_clean, rows)), tuple(map(_clean, upcoming))
        progress = [replace(p, row=_clean(p.row)) for p in progress]
        values = dict(self._common(env), rows=rows, progress=progress, upcoming=upcoming,
                      week_start=self._day(env.client.language)(week_start))
        subject, text = self._render(f"{env.client.language}/weekly.txt.j2", **values)
        _, html = self._render(f"{env.client.language}/weekly.html.j2", **values)
        return self._client_message(env, subject, text, html, None, "REQUEST")

    # --- the team's messages --------------------------------------------------------------------------------

    def reply(
        self, *, language: str, sender: str, to: str, original_subject: str, original_message_id: str,
        references: str, composed_at: dt.datetime, message_id: str, accepted: bool, project_name: str,
        blocks: Sequence[BlockSummary] = (), problems: Sequence[str] = (), example: str = "",
    ) -> EmailMessage:
        """The answer to a team member's note: what was understood, or every problem with an example."""
        subject, text = self._render(
            f"{language}/reply.txt.j2", accepted=accepted, project=project_name, blocks=blocks,
            problems=problems, example=example, original_subject=safe_text(original_subject),
        )
        msg = _envelope(sender, subject or f"Re: {original_subject}", composed_at, message_id)
        msg["To"] = Addresses("To", to)
        msg["Auto-Submitted"] = "auto-replied"  # RFC 3834: no auto-responder should answer this
        msg["X-Deadlinewatch-Kind"] = "reply"
        if _msg_ids(original_message_id):
            msg["In-Reply-To"] = _msg_ids(original_message_id)
            msg["References"] = _msg_ids(references, original_message_id)
        msg.set_content(text)
        return msg

    def nudge(self, *, language: str, sender: str, to: str, reply_to: str, composed_at: dt.datetime,
              message_id: str, project_id: str, project_name: str, milestone: str, since: dt.date, days: int,
              forecast: str) -> EmailMessage:
        """A friendly reminder to the team: a milestone in progress has had no note for a while."""
        subject, text = self._render(
            f"{language}/nudge.txt.j2", project_id=project_id, project=safe_text(project_name),
            milestone=safe_text(milestone), since=format_day(since, language, "medium"), days=days,
            forecast=forecast,
        )
        msg = _envelope(sender, subject, composed_at, message_id)
        msg["To"] = Addresses("To", to)
        # an answer is a progress note: it goes straight to the inbox
        msg["Reply-To"] = Addresses("Reply-To", reply_to)
        msg["Auto-Submitted"] = "auto-generated"
        msg["X-Deadlinewatch-Kind"] = "nudge"
        msg.set_content(text)
        return msg

    def signin(self, *, language: str, sender: str, to: str, composed_at: dt.datetime, message_id: str, server: str,
               account: str, error: str, command: str) -> EmailMessage:
        """To the manager, once: a server account's OAuth sign-in was refused, and the command that mends it."""
        subject, text = self._render(f"{language}/signin.txt.j2", server=server, account=safe_text(account),
                                     error=safe_text(error), command=command)
        msg = _envelope(sender, subject, composed_at, message_id)
        msg["To"] = Addresses("To", to)
        msg["Auto-Submitted"] = "auto-generated"
        msg["X-Deadlinewatch-Kind"] = "manager-signin"
        msg.set_content(text)
        return msg

    def manager(
        self, *, language: str, sender: str, to: str, composed_at: dt.datetime, message_id: str, what: str,
        notice_id: int, token: str, project_name: str, milestone: str, client: str, reason: str = "",
        detail: str = "", draft: EmailMessage | None = None, in_reply_to: str = "",
    ) -> EmailMessage:
        """A message to the manager: a draft to approve, or news of a notice (released, failed, decided)."""
        subject, text = self._render(
            f"{language}/manager.txt.j2", what=what, notice_id=notice_id, token=token, project=project_name,
            milestone=milestone, client=client, reason=reason, detail=detail,
        )
        msg = _envelope(sender, subject, composed_at, message_id)
        msg["To"] = Addresses("To", to)
        msg["Auto-Submitted"] = "auto-generated"
        msg["X-Deadlinewatch-Notice"] = token
        msg["X-Deadlinewatch-Kind"] = f"manager-{what}"
        if _msg_ids(in_reply_to):
            msg["In-Reply-To"] = msg["References"] = _msg_ids(in_reply_to)
        msg.set_content(text)
        if draft is not None:
            msg.add_attachment(draft, disposition="inline")
        return _fixed_boundaries(msg)


    def alert(self, letter: AlertLetter, *, language: str, sender: str, to: str, composed_at: dt.datetime,
              message_id: str) -> EmailMessage:
        """The manager's early risk alert for a milestone (raised, worse, or all clear), in the team's language."""
        pct = functools.partial(format_percent, language=language)
        pace = letter.pace
        subject, text = self._render(
            f"{language}/alert.txt.j2", what=letter.what, project=safe_text(letter.project),
            milestone=safe_text(letter.milestone), target=letter.target, p_miss=pct(round(letter.p_miss * 100)),
            was=pct(round(letter.was * 100)) if letter.was is not None else "", p50=letter.p50, p80=letter.p80,
            reason=safe_text(letter.reason), done=pct(pace.done) if pace.done is not None else "",
            needed=native_digits(f"{pace.needed_days:.0f}", language) if pace.needed_days is not None else "",
            remaining=native_digits(str(pace.remaining_days), language), stalled=pace.per_day is not None and
            pace.per_day <= 0, factor=native_digits(format_decimal(pace.factor, "0.#", locale=language), language)
            if pace.factor else "",
            faster=pace.factor is not None and pace.factor > 1, notice=letter.notice, held=letter.held,
            warn=pct(round(letter.warn_probability * 100)), day=self._day(language),
        )
        msg = _envelope(sender, subject, composed_at, message_id)
        msg["To"] = Addresses("To", to)
        msg["Auto-Submitted"] = "auto-generated"
        msg["X-Deadlinewatch-Kind"] = "manager-alert"
        msg.set_content(text)
        return _fixed_boundaries(msg)


def _fixed_boundaries(msg: EmailMessage) -> EmailMessage:
    """MIME boundaries derived from the Message-ID: the same message always composes to the same bytes."""
    seed = hashlib.sha256(str(msg["Message-ID"]).encode()).hexdigest()[:20]
    for i, part in enumerate(p for p in msg.walk() if p.is_multipart()):
        part.set_boundary(f"=_dw_{seed}_{i}")
    return msg


def _clean(row: TimelineRow) -> TimelineRow:
    """A milestone's name as one line of bounded length, wherever it appears."""
    return replace(row, name=safe_text(row.name))


def forward(*, sender: str, to: str, original: EmailMessage, composed_at: dt.datetime, message_id: str
            ) -> EmailMessage:
    """A client's reply to a notice, passed on to the manager: its headers and text, rewritten by us.

    Not the original bytes: anything in them (a header that decodes to a line break, a part that ends the
    attachment early) would reach the manager as if we had written it. Its attachments are named, not copied; the
    message itself is in the inbox's processed folder.
    """
    subject = _header(original, "Subject")
    copy = EmailMessage(policy=WRITE)
    for name in ("From", "To", "Cc", "Date", "Subject"):
        value = _header(original, name)
        if value:
            copy[name if name != "From" else "X-Original-From"] = value  # text, not an address to reply to
    names = [safe_text(str(p.get_filename() or p.get_content_type()), 100) for p in _attachments(original)]
    text = full_text(original)
    if names:
        text += "\n\n[attachments not forwarded: " + ", ".join(names) + "]\n"
    copy.set_content(text)
    msg = _envelope(sender, f"Fwd: client reply: {subject}", composed_at, message_id)
    msg["To"] = Addresses("To", to)
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Deadlinewatch-Kind"] = "forward"
    who = _header(original, "From") or "The client"
    msg.set_content(f"{who} answered a deadlinewatch notice. Their message is attached; reply to them directly.\n")
    msg.add_attachment(copy, disposition="inline")
    return _fixed_boundaries(msg)


def _header(msg: EmailMessage, name: str) -> str:
    """A header of mail from outside, as safe text ("" when absent)."""
    return safe_text(header(msg, name), 300)


def _attachments(msg: EmailMessage) -> list[EmailMessage]:
    try:
        return list(msg.iter_attachments())
    except (RecursionError, *HEADER_ERRORS):
        return []


def _format(name: str, email: str) -> str:
    return str(Address(display_name=safe_text(name, 100), addr_spec=email))


class Subject(str):
    """A Subject we encode ourselves. The email package folds a long non-ASCII subject into encoded-words with the
    space *between* two of them, and RFC 2047 §6.2 tells every decoder to drop such whitespace: "দেরি হবে" came
    out "দেরিহবে". Here the whole text becomes encoded-words (RFC 2047 with UTF-8, split on characters), each
    space inside one, so every reader gets back exactly what was written. An ASCII subject is left to the policy."""

    name = "Subject"

    def fold(self, *, policy: Any) -> str:
        if self.isascii():
            return policy.header_factory("Subject", str(self)).fold(policy=policy)  # type: ignore[no-any-return]
        from email.header import Header

        linesep = str(policy.linesep)
        return f"Subject: {Header(str(self), 'utf-8', header_name='Subject').encode(linesep=linesep)}{linesep}"


class Addresses(str):
    """To, Cc, From and Reply-To, their display names encoded by us: the email package splits a long non-ASCII
    name into several encoded-words, and its own parser (like others) then reads a space *between* two of them
    where there was none ("taslaklar ı"), while RFC 2047 decoders drop the space between them where there was one.
    So a non-ASCII name is one encoded-word, whole (longer than RFC 2047's 75 characters for a long name — every
    mail program we test decodes it; splitting it is what loses or adds the space), one address per line; an
    all-ASCII header is left to the policy."""

    name: str

    def __new__(cls, name: str, value: str) -> Addresses:
        header = str.__new__(cls, value)
        header.name = name
        return header

    @property
    def addresses(self) -> tuple[Address, ...]:
        return tuple(WRITE.header_factory(self.name, str(self)).addresses)

    def fold(self, *, policy: Any) -> str:
        if self.isascii():
            return policy.header_factory(self.name, str(self)).fold(policy=policy)  # type: ignore[no-any-return]
        parts: list[str] = []
        for a in self.addresses:
            if a.display_name.isascii():
                parts.append(str(a))
            else:
                encoded = base64.b64encode(a.display_name.encode("utf-8")).decode("ascii")
                parts.append(f"=?utf-8?b?{encoded}?= <{a.addr_spec}>")
        linesep = str(policy.linesep)
        return f"{self.name}: " + f",{linesep} ".join(parts) + linesep


def _envelope(sender: str, subject: str, at: dt.datetime, message_id: str) -> EmailMessage:
    msg = EmailMessage(policy=WRITE)
    msg["From"] = Addresses("From", sender)
    msg["Subject"] = Subject(safe_text(subject, 300))
    msg["Date"] = format_datetime(at.astimezone(dt.UTC))
    msg["Message-ID"] = message_id
    return msg
