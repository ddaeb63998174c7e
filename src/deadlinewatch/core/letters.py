"""Composing every message deadlinewatch sends, from Jinja2 templates (built-in, or a folder overriding them).

Templates live in `templates/<language>/`; adding a language is adding a folder. A template's top-level
`{% set subject = ... %}` is the subject line; a missing variable is an error, never a blank in a client letter.
Dates are formatted with Babel in the reader's locale and zone.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, getaddresses, parseaddr
from pathlib import Path

import jinja2
from babel import Locale, UnknownLocaleError
from babel.dates import format_date

from deadlinewatch.core import timeline
from deadlinewatch.core.model import TimelineRow
from deadlinewatch.errors import ConfigError

BUILTIN = Path(__file__).resolve().parent.parent / "templates"


@dataclass(frozen=True)
class Recipient:
    name: str
    email: str
    language: str
    timezone: str


@dataclass(frozen=True)
class NoticeLetter:
    """Everything a client letter says, as plain data."""

    kind: str  # notice | update | delivered
    project_name: str
    client: Recipient
    sender: str
    manager: str
    cc: tuple[str, ...]
    milestone: TimelineRow
    deadline: dt.date
    promised: dt.date | None
    slip_days: int
    context: str
    cause: str
    plan: str
    offer: str | None
    rows: tuple[TimelineRow, ...]
    composed_at: dt.datetime
    message_id: str
    token: str
    shadow: bool = False  # approval = "shadow": goes to the manager only, marked as such
    extra_headers: tuple[tuple[str, str], ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class BlockSummary:
    """One milestone of an accepted note, as the reply tells it back."""

    name: str
    matched_by: str
    said: str
    forecast: str
    asks_cause_plan: bool


class Letters:
    def __init__(self, template_dir: str = "") -> None:
        loaders: list[jinja2.BaseLoader] = []
        if template_dir:
            loaders.append(jinja2.FileSystemLoader(template_dir))
        loaders.append(jinja2.FileSystemLoader(str(BUILTIN)))
        self.env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            undefined=jinja2.StrictUndefined,
            autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )

    def check_language(self, language: str, where: str) -> None:
        """Refuse a language without templates, naming the key that chose it."""
        try:
            Locale.parse(language)
        except (UnknownLocaleError, ValueError):
            raise ConfigError(f'{where} = "{language}": Babel knows no such locale') from None
        for name in ("notice.txt.j2", "notice.html.j2", "reply.txt.j2"):
            try:
                self.env.get_template(f"{language}/{name}")
            except jinja2.TemplateNotFound:
                raise ConfigError(
                    f'{where} = "{language}": no template {language}/{name}, built in or in letters.template_dir; '
                    f"built-in languages: {', '.join(sorted(p.name for p in BUILTIN.iterdir() if p.is_dir()))}"
                ) from None
            except jinja2.TemplateSyntaxError as e:
                raise ConfigError(f"template {language}/{name}, line {e.lineno}: {e.message}") from None

    def _render(self, name: str, **values: object) -> tuple[str, str]:
        template = self.env.get_template(name)
        module = template.make_module(values)
        return str(getattr(module, "subject", "")).strip(), str(module)

    def notice(self, letter: NoticeLetter) -> EmailMessage:
        lang = letter.client.language

        def day(d: dt.date, fmt: str = "full") -> str:
            return format_day(d, lang, fmt)

        values = dict(
            kind=letter.kind, project=letter.project_name, client_name=letter.client.name,
            milestone=letter.milestone.name, milestone_uid=letter.milestone.uid, deadline=day(letter.deadline),
            promised=day(letter.promised) if letter.promised else "", slip_days=letter.slip_days,
            context=letter.context, cause=letter.cause, plan=letter.plan, offer=letter.offer or "",
            rows=letter.rows, day=day, sender_name=parseaddr(letter.sender)[0] or parseaddr(letter.sender)[1],
            shadow=letter.shadow, client_email=letter.client.email,
        )
        subject, text = self._render(f"{lang}/notice.txt.j2", **values)
        _, html = self._render(f"{lang}/notice.html.j2", **values)
        msg = _envelope(letter.sender, subject, letter.composed_at, letter.message_id)
        if letter.shadow:
            msg["To"] = letter.manager
            msg["Subject"] = f"[shadow: would go to {letter.client.email}] {subject}"
        else:
            msg["To"] = _format(letter.client.name, letter.client.email)
            msg["Cc"] = ", ".join([letter.manager, *letter.cc])
        msg["X-Deadlinewatch-Notice"] = letter.token
        for k, v in letter.extra_headers:
            msg[k] = v
        msg.set_content(text)
        msg.add_alternative(html, subtype="html")
        attendee = (letter.client.name, letter.client.email)
        if letter.kind != "delivered" and letter.promised is not None:
            description = f"{letter.project_name}: {letter.milestone.name} — {day(letter.promised)}"
            request = timeline.request(letter.milestone, letter.project_name, letter.composed_at, letter.sender,
                                       attendee, description)
            msg.add_alternative(request.decode("utf-8"), subtype="calendar", params={"method": "REQUEST"})
        publish = timeline.publish(letter.rows, letter.project_name, letter.composed_at, letter.sender, attendee)
        msg.add_attachment(publish.decode("utf-8"), subtype="calendar", filename="timeline.ics",
                           params={"method": "PUBLISH"})
        return msg

    def reply(
        self,
        *,
        language: str,
        sender: str,
        to: str,
        original_subject: str,
        original_message_id: str,
        references: str,
        composed_at: dt.datetime,
        message_id: str,
        accepted: bool,
        project_name: str,
        blocks: Sequence[BlockSummary] = (),
        problems: Sequence[str] = (),
        example: str = "",
    ) -> EmailMessage:
        """The answer to a team member's note: what was understood, or every problem with an example."""
        subject, text = self._render(
            f"{language}/reply.txt.j2", accepted=accepted, project=project_name, blocks=blocks,
            problems=problems, example=example, original_subject=original_subject,
        )
        msg = _envelope(sender, subject or f"Re: {original_subject}", composed_at, message_id)
        msg["To"] = to
        msg["Auto-Submitted"] = "auto-replied"  # RFC 3834: no auto-responder should answer this
        if original_message_id:
            msg["In-Reply-To"] = original_message_id
            msg["References"] = " ".join(x for x in (references, original_message_id) if x)
        msg.set_content(text)
        return msg


# CLDR numbering systems whose digits Babel leaves Latin: the Unicode name of their digit zero
_DIGIT_ZERO = {"beng": "BENGALI", "deva": "DEVANAGARI", "arab": "ARABIC-INDIC", "arabext": "EXTENDED ARABIC-INDIC",
               "mymr": "MYANMAR", "thai": "THAI", "tamldec": "TAMIL", "guru": "GURMUKHI", "gujr": "GUJARATI"}


def format_day(day: dt.date, language: str, fmt: str = "full") -> str:
    """A date as a reader of `language` writes it, with the locale's own digits ("৩ ডিসেম্বর, ২০২৬")."""
    locale = Locale.parse(language)
    text = format_date(day, format=fmt, locale=locale)
    script = _DIGIT_ZERO.get(locale.default_numbering_system)
    if script:
        zero = ord(unicodedata.lookup(f"{script} DIGIT ZERO"))
        text = text.translate({ord("0") + i: zero + i for i in range(10)})
    return text


def forward(*, sender: str, to: str, original: EmailMessage, composed_at: dt.datetime, message_id: str
            ) -> EmailMessage:
    """A client's reply to a notice, passed on to the manager whole (as an attached message)."""
    subject = " ".join(str(original.get("Subject", "")).split())
    who = " ".join(str(original.get("From", "")).split())
    msg = _envelope(sender, f"Fwd: client reply: {subject}", composed_at, message_id)
    msg["To"] = to
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(f"{who} answered a deadlinewatch notice. Their message is attached; reply to them directly.\n")
    msg.add_attachment(original, disposition="inline")
    return msg


def _format(name: str, email: str) -> str:
    from email.headerregistry import Address

    return str(Address(display_name=name, addr_spec=email))


def _envelope(sender: str, subject: str, at: dt.datetime, message_id: str) -> EmailMessage:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender
    msg["Subject"] = " ".join(subject.split())
    msg["Date"] = format_datetime(at.astimezone(dt.UTC))
    msg["Message-ID"] = message_id
    return msg


def addresses(msg: EmailMessage, *fields: str) -> list[str]:
    """The bare addresses in the given header fields."""
    pairs = getaddresses([str(v) for f in fields for v in msg.get_all(f, [])])
    return [addr for _, addr in pairs if addr]
