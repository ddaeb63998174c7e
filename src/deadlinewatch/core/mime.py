"""The mail we send as MIME: the envelope, header text made safe, and the multipart shapes our letters take — text
and HTML alternatives with the calendar part (iMIP) inside, a note appended to both, boundaries that make the same
message the same bytes. Composition (core/letters.py) says what a letter says; this module how it is carried.

Subject and the address headers are encoded by us (`Subject`, `Addresses`): the email package's own folding
splits non-ASCII text into encoded-words that readers put back together differently (RFC 2047 §6.2).
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from email.contentmanager import _encode_text  # type: ignore[attr-defined]  # private; typeshed leaves it out
from email.headerregistry import Address, HeaderRegistry
from email.message import EmailMessage
from email.utils import format_datetime, parsedate_to_datetime
from html import escape
from typing import Any

from deadlinewatch.core.header_cache import WRITE
from deadlinewatch.core.intake import HEADER_ERRORS, header, one_line, passable_ids

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
    for _round in range(5):
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


def msg_ids(*values: str) -> str:
    """msg-ids we write back in In-Reply-To/References: only those that pass verbatim (see intake.passable_ids)."""
    return " ".join(passable_ids(list(values)))


def append_note(msg: EmailMessage, note: str) -> None:
    """A paragraph added at the end of a letter's text and HTML."""
    plain = msg.get_body(("plain",))
    if isinstance(plain, EmailMessage):
        text = plain.get_content().replace("\r\n", "\n")
        plain.set_content(f"{text.rstrip()}\n\n{note}\n")
    html = msg.get_body(("html",))
    if isinstance(html, EmailMessage):
        page = html.get_content().replace("\r\n", "\n")
        page = page.replace("</div>\n</body>", f"<p>{escape(note)}</p>\n</div>\n</body>") if "</div>\n</body>" in \
            page else f"{page}<p>{escape(note)}</p>\n"
        html.set_content(page, subtype="html")


def fixed_boundaries(msg: EmailMessage) -> EmailMessage:
    """MIME boundaries derived from the Message-ID: the same message always composes to the same bytes."""
    seed = hashlib.sha256(str(msg["Message-ID"]).encode()).hexdigest()[:20]
    for i, part in enumerate(p for p in msg.walk() if p.is_multipart()):
        part.set_boundary(f"=_dw_{seed}_{i}")
    return msg


def header_text(msg: EmailMessage, name: str) -> str:
    """A header of mail from outside, as safe text ("" when absent)."""
    return safe_text(header(msg, name), 300)


def attachments(msg: EmailMessage) -> list[EmailMessage]:
    """A message's attachments; none when its structure cannot be walked (too deep, a broken header)."""
    try:
        return list(msg.iter_attachments())
    except (RecursionError, *HEADER_ERRORS):
        return []


def address(name: str, email: str) -> str:
    """One address with its display name made safe ("Jane Doe <jane@acme.example>")."""
    return str(Address(display_name=safe_text(name, 100), addr_spec=email))


def add_calendar(msg: EmailMessage, ics: bytes, method: str) -> None:
    """The calendar data (iMIP: METHOD:REQUEST or CANCEL) as one more alternative of the letter: inside
    multipart/alternative, so mail programs show the calendar card (Gmail does only for this); base64, as RFC 6047
    §2.5 asks: no transport may rewrap the calendar's lines."""
    if not msg.is_multipart():
        msg.make_alternative()
    msg.add_alternative(ics.decode("utf-8"), subtype="calendar", params={"method": method}, cte="base64")


def calendar_data(msg: EmailMessage) -> str | bytes | None:
    """The content of a message's (first) calendar part; None when it carries none."""
    parts = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
    return parts[0].get_content() if parts else None


def without_calendar(msg: EmailMessage) -> EmailMessage:
    """A copy of a message without its calendar parts, everything else as it was."""
    shown = copy.deepcopy(msg)
    for container in [p for p in shown.walk() if p.is_multipart()]:
        container.set_payload([p for p in container.iter_parts() if p.get_content_type() != "text/calendar"])
    return shown


class Subject(str):
    """A Subject we encode ourselves. The email package folds a long non-ASCII subject into encoded-words with the
    space *between* two of them, and RFC 2047 §6.2 tells every decoder to drop such whitespace: "দেরি হবে" came
    out "দেরিহবে". Here the whole text becomes encoded-words (RFC 2047 with UTF-8, split on characters), each
    space inside one, so every reader gets back exactly what was written. An ASCII subject is left to the policy."""

    name = "Subject"

    def fold(self, *, policy: Any) -> str:
        linesep = str(policy.linesep)
        if self.isascii():
            # folded by us at the spaces, the first words on the Subject line: the policy's folding put a long
            # subject wholly on a continuation line, which parsers give back with a leading space
            width, lines = policy.max_line_length or 78, ["Subject:"]
            for word in str(self).split(" "):
                if len(lines[-1]) + 1 + len(word) > width and lines[-1] != "Subject:" and lines[-1].strip():
                    lines.append(" " + word)
                else:
                    lines[-1] += " " + word
            return linesep.join(lines) + linesep
        from email.header import Header

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

    def __getnewargs__(self) -> tuple[str, str]:  # type: ignore[override]  # copies (the manager's) keep the name
        return (self.name, str(self))

    @property
    def addresses(self) -> tuple[Address, ...]:
        return tuple(WRITE.header_factory(self.name, str(self)).addresses)

    def fold(self, *, policy: Any) -> str:
        if self.isascii():
            # typeshed types header_factory as returning Any; fold gives the folded header text
            return policy.header_factory(self.name, str(self)).fold(policy=policy)  # type: ignore[no-any-return]  # policy is Any
        parts: list[str] = []
        for a in self.addresses:
            if a.display_name.isascii():
                parts.append(str(a))
            else:
                encoded = base64.b64encode(a.display_name.encode("utf-8")).decode("ascii")
                parts.append(f"=?utf-8?b?{encoded}?= <{a.addr_spec}>")
        linesep = str(policy.linesep)
        return f"{self.name}: " + f",{linesep} ".join(parts) + linesep


def envelope_headers(sender: str, subject: str, at: dt.datetime, message_id: str) -> list[tuple[str, str]]:
    """A message's first headers: From, Subject, Date (UTC) and Message-ID."""
    return [("From", Addresses("From", sender)), ("Subject", Subject(safe_text(subject, 300))),
            ("Date", format_datetime(at.astimezone(dt.UTC))), ("Message-ID", message_id)]


def envelope(sender: str, subject: str, at: dt.datetime, message_id: str) -> EmailMessage:
    """A message we send, its first headers written: From, Subject, Date (UTC) and Message-ID."""
    msg = EmailMessage(policy=WRITE)
    for name, value in envelope_headers(sender, subject, at, message_id):
        msg[name] = value
    return msg


_NEWLINE = re.compile(r"\r\n|\r|\n")  # what the generator takes for a line end (email.generator.NLCRE)
_DATE = re.compile(rb"^Date:[^\r\n]*", re.MULTILINE | re.IGNORECASE)  # ours: one line, never folded


def redated(message: bytes, at: dt.datetime) -> bytes:
    """A message of ours dated `at` instead, when that is later than its Date (a held letter approved a day after
    it was composed goes out with the day it is sent, not buried under the client's mail of the day before); every
    other byte as it was. One we dated later (a reminder scheduled for its day) keeps its date."""
    head_end = message.find(b"\n\n") if b"\r\n\r\n" not in message else message.find(b"\r\n\r\n")
    head = message[:head_end]
    found = _DATE.search(head)
    if found is None:
        return message
    try:
        was = parsedate_to_datetime(found.group().split(b":", 1)[1].decode("ascii").strip())
    except (ValueError, TypeError, UnicodeDecodeError):
        return message
    if was.tzinfo is None or at <= was:
        return message
    line = f"Date: {format_datetime(at.astimezone(dt.UTC))}".encode("ascii")
    return message[:found.start()] + line + message[found.end():]


@dataclass(frozen=True)
class Plain:
    """A one-part text/plain message we send: its headers in order, and its text."""

    headers: tuple[tuple[str, str], ...]
    text: str

    def message(self) -> EmailMessage:
        """The message as the email package builds it."""
        msg = EmailMessage(policy=WRITE)
        for name, value in self.headers:
            msg[name] = value
        msg.set_content(self.text)
        return msg

    def as_bytes(self) -> bytes:
        """`self.message().as_bytes()`, byte for byte, without building the message: the same policy stores and
        folds each header (its folding kept, core/header_cache.py), the email package's own choice and encoding of
        the text (`email.contentmanager`), its line ends written as the generator writes them. A team member's
        reply is this shape, thousands of them a pass; building each as a message and writing it out again was
        most of composing one (tests/unit/test_letters.py holds the two equal)."""
        transfer, payload = _encode_text(self.text, "utf-8", None, WRITE)
        fields = [*self.headers, ("Content-Type", 'text/plain; charset="utf-8"'),
                  ("Content-Transfer-Encoding", transfer), ("MIME-Version", "1.0")]
        head = b"".join(map(_field, fields))
        return head + b"\r\n" + "\r\n".join(_NEWLINE.split(payload)).encode("ascii", "surrogateescape")


_PRINTABLE = re.compile(r"[!-~]+(?: [!-~]+)*")  # printable ASCII words, one space between two
# Headers whose value, in the shape given here and short enough for one line, the policy writes out exactly as
# given: the unstructured ones in any printable shape, Date as format_datetime writes it, a Message-ID as
# Studio.message_id makes it (tests/unit/test_letters.py holds each equal to the policy's). Parsing and folding
# them — they differ from one reply to the next, so no cache helps — was a third of writing a reply out.
_AS_GIVEN = {
    "In-Reply-To": _PRINTABLE, "References": _PRINTABLE, "Auto-Submitted": _PRINTABLE,
    "X-Deadlinewatch-Kind": _PRINTABLE,
    "Date": re.compile(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}"),
    "Message-ID": re.compile(r"<[A-Za-z0-9._-]{1,64}@[A-Za-z0-9.-]{1,60}>"),
}


def _field(field: tuple[str, str]) -> bytes:
    """One header as WRITE writes it (see _AS_GIVEN)."""
    name, value = field
    shape = _AS_GIVEN.get(name)
    if shape is not None and type(value) is str and len(name) + 2 + len(value) <= 78 and "=?" not in value \
            and shape.fullmatch(value):
        return f"{name}: {value}\r\n".encode("ascii")
    return WRITE.fold_binary(*WRITE.header_store_parse(name, value))
