"""Deciding what a message in the inbox is (CONTRACT.md "Progress notes" and "Other mail").

Pure: the executor fetches the bytes, this module says what the message is and where it goes, the
executor records the decision and only then moves the message.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.utils import getaddresses, parsedate_to_datetime

from deadlinewatch.core.mailpolicy import READ
from deadlinewatch.core.message_text import body_text
from deadlinewatch.core.notes import ParsedNote

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean_header(value: str) -> str:
    """A header value from mail, safe to reuse in an outgoing header: no control characters, one line."""
    return " ".join(_CONTROL.sub(" ", value).split())


@dataclass(frozen=True)
class Incoming:
    """A message as fetched: parsed once, with the facts every rule needs."""

    message_key: str  # Message-ID, or a digest of the bytes for mail without one
    message_id: str
    sender: str  # bare From address, lower case
    subject: str
    references: tuple[str, ...]
    at: dt.datetime  # the note's time: arrival, or the Date header when earlier by less than 24 hours
    msg: EmailMessage
    raw: bytes
    _text: list[str] = field(default_factory=list, repr=False, compare=False)  # computed once, on first use

    @property
    def text(self) -> str:
        """The newest text the sender wrote (quotes, signature and markup gone)."""
        if not self._text:
            self._text.append(body_text(self.msg))
        return self._text[0]


# the email library raises all of these on some malformed headers ("From: :;0" gives AttributeError)
HEADER_ERRORS = (ValueError, TypeError, IndexError, AttributeError, LookupError, UnicodeError)


def header(msg: EmailMessage, name: str) -> str:
    """One header decoded to text (encoded words and all), "" when it is absent or so malformed the email library
    chokes on it. The library parses a header anew on every access, about 70 µs each: only for text a person
    reads (the Subject); tokens, addresses and ids are read raw."""
    try:
        value = msg.get(name)
        return "" if value is None else str(value)
    except HEADER_ERRORS:
        return raw_header(msg, name)


def raw_header(msg: EmailMessage, name: str) -> str:
    """The unparsed text of a header as the message carries it, unfolded; "" when absent."""
    found = raw_headers(msg, name)
    return found[0] if found else ""


def raw_headers(msg: EmailMessage, name: str) -> list[str]:
    name = name.lower()
    return [" ".join(str(v).split()) for k, v in msg.raw_items() if k.lower() == name]


def read_message(raw: bytes, arrived: dt.datetime) -> Incoming:
    msg = message_from_bytes(raw, policy=READ)
    assert isinstance(msg, EmailMessage)
    message_id = clean_header(raw_header(msg, "Message-ID"))
    key = message_id or "sha256:" + hashlib.sha256(raw).hexdigest()
    try:
        pairs = getaddresses(raw_headers(msg, "From"))
    except HEADER_ERRORS:
        pairs = []
    sender = pairs[0][1].lower() if pairs else ""
    subject = clean_header(header(msg, "Subject"))
    refs: list[str] = []
    for name in ("In-Reply-To", "References"):
        refs += re.findall(r"<[^<>\s]+>", raw_header(msg, name))
    at = arrived
    try:
        date = parsedate_to_datetime(raw_header(msg, "Date"))
        if date.tzinfo is not None and dt.timedelta(0) <= arrived - date < dt.timedelta(hours=24):
            at = date
    except HEADER_ERRORS:
        pass
    return Incoming(key, message_id, sender, subject, tuple(refs), at, msg, raw)


def is_automatic(msg: EmailMessage, sender: str) -> str:
    """Why this message must never be answered (RFC 3834: auto-replies, lists, bounces), or ""."""
    auto = (raw_header(msg, "Auto-Submitted") or "no").strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    if raw_header(msg, "Precedence").strip().lower() in ("bulk", "list", "junk", "auto_reply"):
        return "Precedence: " + raw_header(msg, "Precedence").strip()
    for name in ("List-Id", "List-Unsubscribe", "X-Auto-Response-Suppress", "X-Autoreply", "X-Autorespond"):
        if raw_header(msg, name):
            return f"{name} header"
    try:
        report = msg.get_content_type() == "multipart/report"
    except HEADER_ERRORS:
        report = False
    if report or sender.split("@")[0] in ("mailer-daemon", "postmaster"):
        return "a delivery report (bounce)"
    if raw_header(msg, "Return-Path").strip() == "<>":
        return "empty Return-Path (a bounce)"
    return ""


def authenticated(msg: EmailMessage, sender: str, authserv_id: str) -> str:
    """"" when our own server's Authentication-Results show DKIM or DMARC pass aligned with From; else why not.

    Only headers whose authserv-id is ours count: anyone can write such a header (RFC 8601, section 5).
    """
    domain = sender.rpartition("@")[2].lower()
    if not domain:
        return "the From header has no address"
    ours = []
    for value in raw_headers(msg, "Authentication-Results"):
        text = " ".join(str(value).split()).lower()
        head = text.split(";", 1)[0].split()  # authserv-id, then an optional version
        if head and head[0] == authserv_id.lower():
            ours.append(text)
    if not ours:
        return f"no Authentication-Results header from {authserv_id}"
    for text in ours:
        for m in re.finditer(r"\bdmarc=pass\b[^;]*?header\.from=([\w.\-]+)", text):
            if _aligned(m.group(1), domain):
                return ""
        for m in re.finditer(r"\bdkim=pass\b[^;]*?header\.d=([\w.\-]+)", text):
            if _aligned(m.group(1), domain):
                return ""
    return f"{authserv_id} reports no DKIM or DMARC pass for {domain}"


def _aligned(d: str, domain: str) -> bool:
    d = d.lower().strip(".")
    return d == domain or domain.endswith("." + d) or d.endswith("." + domain)


@dataclass(frozen=True)
class Rules:
    members: frozenset[str]
    managers: frozenset[str]  # team.manager and every project's manager: they decide held notices
    clients: frozenset[str]
    require_authentication: bool
    authserv_id: str


@dataclass(frozen=True)
class Context:
    """What the store knows about a message's references: the executor looks it up, `classify` decides."""

    is_ours: bool = False  # its Message-ID is one of ours: an archive copy
    answers_notice: bool = False  # it replies to a client message of ours
    decides: str = ""  # the token of a held notice whose draft it answers
    bounced: tuple[str, ...] = ()  # Message-IDs of our client messages a bounce reports


APPROVE = {"approve", "approved", "yes", "ok", "send", "onay", "onayla", "onaylıyorum", "evet", "gönder",
           "অনুমোদন", "হ্যাঁ", "পাঠান"}
REJECT = {"reject", "rejected", "no", "drop", "reddet", "ret", "hayır", "gönderme", "প্রত্যাখ্যান", "না", "বাদ"}
TOKEN = re.compile(r"\[dw:([0-9a-f]{6,32})\]")
OUR_IDS = re.compile(rb"<dw\.[A-Za-z]+\.[0-9a-f]+@[^<>\s]+>")


def decision_word(text: str) -> str:
    """"approve" or "reject" from the first word the manager wrote, or "" when it is neither."""
    for line in text.splitlines():
        words = re.findall(r"\w+", line.casefold())
        if words:
            if words[0] in APPROVE:
                return "approve"
            if words[0] in REJECT:
                return "reject"
            return ""
    return ""


def our_ids_in(raw: bytes) -> tuple[str, ...]:
    """Our Message-IDs anywhere in a message: a bounce quotes the headers of what it returns."""
    return tuple(dict.fromkeys(m.decode("ascii", "replace") for m in OUR_IDS.findall(raw)))


@dataclass(frozen=True)
class Verdict:
    """What a message is: its outcome, the folder it goes to, and whether its sender gets an answer."""

    outcome: str  # archive | accepted | rejected | ignored | forwarded | decision | bounce
    folder: str  # sent | processed | rejected
    reason: str
    reply: bool = False
    note: ParsedNote | None = None
    decision: str = ""  # approve | reject, for outcome "decision"


def classify(
    incoming: Incoming,
    rules: Rules,
    context: Context,
    parse: Callable[[Incoming], ParsedNote],
) -> Verdict:
    """Decide one message. `parse(incoming) -> ParsedNote` is called only for a trusted team member's mail."""
    if context.is_ours:
        return Verdict("archive", "sent", "our own archive copy")
    automatic = is_automatic(incoming.msg, incoming.sender)
    if automatic:
        if context.bounced:
            return Verdict("bounce", "processed", f"a bounce of {', '.join(context.bounced)}")
        return Verdict("ignored", "rejected", f"automatic mail ({automatic}); never answered")
    if incoming.sender in rules.managers and context.decides:
        if rules.require_authentication:
            why = authenticated(incoming.msg, incoming.sender, rules.authserv_id)
            if why:
                return Verdict("rejected", "rejected", f"a decision that is not authenticated: {why}; not answered")
        word = decision_word(incoming.text)
        if not word:
            return Verdict("rejected", "rejected", "a reply to a draft that says neither approve nor reject")
        return Verdict("decision", "processed", f"the manager's decision: {word}", decision=word)
    if incoming.sender in rules.clients and context.answers_notice:
        return Verdict("forwarded", "processed", "a client's reply to a notice; forwarded to the manager")
    if incoming.sender not in rules.members:
        return Verdict("rejected", "rejected", f"{incoming.sender or 'no sender'} is not in team.members; not answered")
    if rules.require_authentication:
        why = authenticated(incoming.msg, incoming.sender, rules.authserv_id)
        if why:
            return Verdict("rejected", "rejected", f"not authenticated: {why}; not answered")
    note = parse(incoming)
    if note.ok:
        return Verdict("accepted", "processed", "a progress note", reply=True, note=note)
    return Verdict("rejected", "rejected", "a note that could not be understood", reply=True, note=note)
