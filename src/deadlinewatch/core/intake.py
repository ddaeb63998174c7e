"""Deciding what a message in the inbox is (CONTRACT.md "Progress notes" and "Other mail").

Pure: the executor fetches the bytes, this module says what the message is and where it goes, the
executor records the decision and only then moves the message.

The inbox is open to the whole internet, so nothing read here may raise out of `read_message` or `classify`:
8-bit header bytes become text (the email library keeps them as surrogate escapes, which SQLite cannot store and
no encoder can write), MIME nested beyond what the parser can recurse into becomes an unreadable message with a
reason, and every header value is one line of bounded text before anyone looks at it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

import authres
from publicsuffixlist import PublicSuffixList

from deadlinewatch.core.header_cache import READ
from deadlinewatch.core.message_text import MAX_TEXT, body_text
from deadlinewatch.core.notes import NoteProblem, ParsedNote, fold, parse_eta, weekday_ahead
from deadlinewatch.core.words import Phrase, _, english, phrase

# C0 and C1 controls and Unicode's line and paragraph separators: everything a generator might write as a line end
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# a msg-id we pass on in In-Reply-To/References: printable ASCII, no brackets or spaces inside, and short enough
# that the header never needs an encoded-word (RFC 5322 3.6.4; a longer or 8-bit one is dropped, not re-encoded)
_MSG_ID = re.compile(r"<[!-;=?-~]{1,250}>")
MAX_REFERENCES = 10  # the newest ids of a thread are enough to find what a message answers


def text_of(value: str) -> str:
    """Text from a header or body as the parser left it: raw 8-bit bytes (kept as surrogate escapes) read as the
    UTF-8 they almost always are, anything undecodable as U+FFFD. The result can be stored and encoded."""
    with contextlib.suppress(UnicodeError):  # a surrogate no byte produced (a broken encoded-word): replaced below
        value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return _SURROGATE.sub("\ufffd", value)


def one_line(value: str) -> str:
    """Text as one line: control characters and line breaks become spaces, runs of spaces one."""
    return " ".join(_CONTROL.sub(" ", value).split())


def clean_header(value: str, limit: int = 2000) -> str:
    """A header value from mail, safe to store and reuse: text, no control characters, one line, bounded."""
    text = one_line(text_of(value))
    return text if len(text) <= limit else text[:limit]


def ascii_lower(address: str) -> str:
    """An address folded for comparison with team.members: only ASCII letters change case. str.lower() would make
    the Kelvin sign a "k" and "İ" an "i" with a dot, and a lookalike must never turn into a member's address."""
    return address.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def passable_ids(values: list[str]) -> tuple[str, ...]:
    """The msg-ids of In-Reply-To/References that can be written back verbatim (see _MSG_ID), newest last."""
    found = [m for v in values for m in re.findall(r"<[^<>\s]*>", v) if _MSG_ID.fullmatch(m)]
    return tuple(dict.fromkeys(found))[-MAX_REFERENCES:]


@dataclass(frozen=True)
class Incoming:
    """A message as fetched: parsed once, with the facts every rule needs."""

    message_key: str  # Message-ID, or a digest of the bytes for mail without one
    message_id: str
    sender: str  # bare From address, ASCII letters in lower case
    subject: str
    references: tuple[str, ...]
    at: dt.datetime  # the note's time: arrival, or the Date header when earlier by less than 24 hours
    msg: EmailMessage
    raw: bytes
    # why the body cannot be read (too large to fetch, MIME nested too deep, …): the message is decided on its
    # headers alone, and a member is told this reason
    unreadable: str = ""
    # the headers a message may carry once (RFC 5322 3.6) that it carries more than once: see REPEATABLE_NOT
    repeated: tuple[str, ...] = ()
    _text: list[tuple[str, bool]] = field(default_factory=list, repr=False, compare=False)  # read once, when asked
    _auth: dict[str, str] = field(default_factory=dict, repr=False, compare=False)  # by authserv-id, once
    _automatic: list[str] = field(default_factory=list, repr=False, compare=False)  # worked out once

    def written_on(self, zone: dt.tzinfo) -> dt.date:
        """The day the sender wrote on, which their "ETA: Friday", "3 December" or "approve tomorrow" count from:
        the Date header's own day where it gives the sender's zone (a team member abroad writes Thursday night when
        it is Friday at the studio), else — a header in UTC, or the arrival time — the day in `zone` (the team's)."""
        offset = self.at.utcoffset()
        return self.at.date() if offset else self.at.astimezone(zone).date()

    @property
    def automatic(self) -> str:
        """`is_automatic` for this message, worked out once: the parsing thread, the lookup and `classify` each
        ask (a dozen headers looked for each time)."""
        if not self._automatic:
            self._automatic.append(is_automatic(self.msg, self.sender))
        return self._automatic[0]

    @property
    def text(self) -> str:
        """The newest text the sender wrote (quotes, signature and markup gone); "" when the body is unreadable."""
        return self._read()[0]

    @property
    def too_long(self) -> bool:
        """The newest text runs past MAX_TEXT characters: not a note, and never read whole."""
        return self._read()[1]

    def authentication(self, authserv_id: str) -> str:
        """`authenticated` for this message, worked out once: stages/inbox.py asks in its parsing thread, so that
        `classify`, on the daemon's event loop, finds the answer and parses nothing."""
        if authserv_id not in self._auth:
            self._auth[authserv_id] = authenticated(self.msg, self.sender, authserv_id)
        return self._auth[authserv_id]

    def _read(self) -> tuple[str, bool]:
        if not self._text:
            try:
                text, long = ("", False) if self.unreadable else body_text(self.msg)
                self._text.append((text_of(text), long))
            except (RecursionError, *HEADER_ERRORS):
                self._text.append(("", False))
        return self._text[0]


# the email library raises all of these on some malformed headers ("From: :;0" gives AttributeError)
HEADER_ERRORS = (ValueError, TypeError, IndexError, AttributeError, LookupError, UnicodeError)


def header(msg: EmailMessage, name: str) -> str:
    """One header decoded to text (encoded words and all), "" when it is absent or so malformed the email library
    chokes on it. The library parses a header anew on every access, about 70 µs each: only for text a person
    reads (the Subject); tokens, addresses and ids are read raw."""
    try:
        value = msg.get(name)
        return "" if value is None else text_of(str(value))
    except HEADER_ERRORS:
        return raw_header(msg, name)


def raw_header(msg: EmailMessage, name: str) -> str:
    """The unparsed text of a header as the message carries it, unfolded; "" when absent."""
    found = raw_headers(msg, name)
    return found[0] if found else ""


def raw_headers(msg: EmailMessage, name: str) -> list[str]:
    """Every copy of a header, unparsed and unfolded, in the message's order. A message's headers are indexed
    by name once (see _RAW): a note's are read some thirty times between reading it and deciding it."""
    index = _RAW.get(msg)
    if index is None:
        index = {}
        for k, v in msg.raw_items():
            index.setdefault(k.lower(), []).append(text_of(" ".join(str(v).split())))
        _RAW[msg] = index
    return list(index.get(name.lower(), ()))


# the headers of each message still held, by name: mail from the inbox is only read, never changed, once parsed
# (a message we compose is not indexed: raw_headers is for mail read)
_RAW: weakref.WeakKeyDictionary[EmailMessage, dict[str, list[str]]] = weakref.WeakKeyDictionary()


def headers_of(raw: bytes) -> EmailMessage:
    """A message's header alone, parsed as `read_message` parses it (the body is never looked at)."""
    try:
        parsed = BytesParser(policy=READ).parsebytes(raw, headersonly=True)
        return parsed if isinstance(parsed, EmailMessage) else EmailMessage()
    except (RecursionError, *HEADER_ERRORS):
        return EmailMessage()


def message_id_of(msg: EmailMessage) -> str:
    """The Message-ID as a message carries it, cleaned: the key under which it is decided. The inbox's cheap
    listing (adapters/mailbox.py) reads it with this same function, so the two always agree."""
    return clean_header(raw_header(msg, "Message-ID"), limit=1000)


_MULTIPART = re.compile(rb"^content-type:[ \t]*multipart/", re.IGNORECASE | re.MULTILINE)
MAX_MULTIPARTS = 100  # multipart parts read; real mail has a handful, and the parser recurses once per level


def read_message(raw: bytes, arrived: dt.datetime, too_large: str = "") -> Incoming:
    """The message as parsed. Never raises: bytes the email library cannot parse (MIME nested deeper than it can
    recurse, …) are read for their headers alone and marked unreadable with the reason. `too_large`: the
    reason when only the headers were fetched."""
    unreadable = too_large
    if not unreadable and len(_MULTIPART.findall(raw, 0, 8_000_000)) > MAX_MULTIPARTS:
        unreadable = f"it has more than {MAX_MULTIPARTS} multipart MIME parts"
    msg: EmailMessage | None = None
    if not unreadable:
        try:
            parsed = message_from_bytes(raw, policy=READ)
            msg = parsed if isinstance(parsed, EmailMessage) else None
        except (RecursionError, *HEADER_ERRORS) as e:
            unreadable = f"the email library could not parse it ({type(e).__name__})"
    if msg is None:
        msg = headers_of(raw)
        unreadable = unreadable or "it could not be parsed"
    message_id = message_id_of(msg)
    key = message_id or "sha256:" + hashlib.sha256(raw).hexdigest()
    try:
        pairs = getaddresses(raw_headers(msg, "From"))
    except HEADER_ERRORS:
        pairs = []
    # exactly one From with one address (RFC 5322 3.6): with two, which one did DKIM sign? Neither is heard
    sender = ascii_lower(clean_header(pairs[0][1], limit=320)) if len(pairs) == 1 else ""
    subject = clean_header(header(msg, "Subject"), limit=1000)
    refs = passable_ids(raw_headers(msg, "In-Reply-To") + raw_headers(msg, "References"))
    at = arrived
    try:
        date = parsedate_to_datetime(raw_header(msg, "Date"))
        if date.tzinfo is not None and dt.timedelta(0) <= arrived - date < dt.timedelta(hours=24):
            at = date
    except HEADER_ERRORS:
        pass
    return Incoming(key, message_id, sender, subject, refs, at, msg, raw, unreadable, repeated_headers(msg))


# Headers a message carries at most once (RFC 5322 3.6) that decide what a note or a decision is about. We read the
# first copy; DKIM signs, and verifiers check, the bottom-most one (RFC 6376 5.4.2): a signed message replayed with
# a new Subject (another project, a [dw:…] token) or Message-ID on top still passes. From is handled in
# read_message: two of them make a message nobody's.
REPEATABLE_NOT = ("Subject", "Message-ID", "In-Reply-To", "References")


def repeated_headers(msg: EmailMessage) -> tuple[str, ...]:
    """Which of REPEATABLE_NOT the message carries more than once."""
    counts: dict[str, int] = {}
    for name, _value in msg.raw_items():
        counts[name.lower()] = counts.get(name.lower(), 0) + 1
    return tuple(name for name in REPEATABLE_NOT if counts.get(name.lower(), 0) > 1)


def is_automatic(msg: EmailMessage, sender: str) -> str:
    """Why this message must never be answered (RFC 3834: auto-replies, lists, bounces), or ""."""
    auto = (raw_header(msg, "Auto-Submitted") or "no").strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto[:60]}"
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


# --- authentication (RFC 8601) ------------------------------------------------------------------------------


def _authserv_id(value: str) -> str:
    """The authserv-id a header claims: its first token, after any leading comments (RFC 8601 2.2: CFWS first)."""
    text = value
    for _level in range(5):  # comments nest; a few levels are plenty for a header's head
        text = re.sub(r"\([^()]*\)", " ", text)
    return text.split(";", 1)[0].strip().split(" ", 1)[0].lower()


def _results(value: str) -> list[tuple[str, str, dict[str, str]]] | None:
    """(method, result, {ptype.property: value}) of one header, parsed by RFC 8601 (comments and quoted strings
    are never results); None when it is not valid. Non-ASCII, legal only inside comments and values, becomes "?"
    first: the parser knows only ASCII. Only ever given a value of at most MAX_AUTH_RESULTS_CHARS."""
    plain = _plain_results(value)
    if plain is not None:
        return plain
    try:
        parsed = parse_results(value.encode("ascii", "replace").decode())
        # read inside the try: authres gives "none" among other results as a result without a method
        # ("mx; a=mx; none"), and reading it raised outside the parser's refusals
        return [(str(r.method).lower(), str(r.result).lower(),
                 {f"{p.type}.{p.name}".lower(): str(p.value).lower() for p in r.properties}) for r in parsed.results]
    except (authres.AuthResError, RecursionError, ValueError, IndexError, TypeError, AttributeError):
        return None


# RFC 8601's grammar as authres reads it (its character classes), for the shape real servers write: `authserv-id;
# method=result ptype.property=value …; …`, a comment only after a value (where authres's CFWS reads it, and the
# space after it, as one gap: elsewhere it does not). Possessive throughout: authres never backtracks.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_KTEXT = r"[A-Za-z0-9!#$%&'*+?^_`{|}~-]"
_PTEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.@-]"
_AFTER = r"(?: \([\x21-\x27\x2a-\x5b\x5d-\x7e ]*+\))*+ ?"  # comments after a value, then a space
_PLAIN_HEAD = re.compile(rf" ?{_ATEXT}++(?:\.{_ATEXT}++)*+{_AFTER};")
_PLAIN_METHOD = re.compile(
    rf" ?(?!none)({_KTEXT}++(?:\.{_KTEXT}++)*+) ?(?:/ ?\d++ ?)?= ?({_ATEXT}++(?:\.{_ATEXT}++)*+){_AFTER}", re.I)
_PLAIN_PROPERTY = re.compile(rf"(smtp|header|body|policy) ?\. ?({_KTEXT}++(?:\.{_KTEXT}++)*+) ?= ?"
                             rf"(@{_ATEXT}++(?:\.{_ATEXT}++)*+|(?!@){_PTEXT}*+){_AFTER}", re.I)


def _plain_results(value: str) -> list[tuple[str, str, dict[str, str]]] | None:
    """`_results` for a header in the plain shape (see _PLAIN_HEAD): what authres makes of it, read in one sweep
    of compiled patterns — authres took a third of a millisecond a header, a tenth of taking a note in. None when
    the header is not plain (quoted strings, a comment elsewhere, a version, a reason, `none`, anything authres
    would skip or refuse): authres reads it then. tests/unit/test_intake_hardening.py holds the two equal."""
    if not value.isascii() or '"' in value or "\\" in value or "reason" in value.lower() or "  " in value \
            or "\t" in value or "\r" in value or "\n" in value:
        return None
    text = value.rstrip(" ")
    head = _PLAIN_HEAD.match(text)
    if head is None:
        return None
    out: list[tuple[str, str, dict[str, str]]] = []
    at = head.end()
    while True:
        method = _PLAIN_METHOD.match(text, at)
        if method is None:
            return None
        at, props = method.end(), {}
        while (prop := _PLAIN_PROPERTY.match(text, at)) is not None:
            props[f"{prop[1]}.{prop[2]}".lower()] = prop[3].lower()
            at = prop.end()
        out.append((method[1].lower(), method[2].lower(), props))
        if at == len(text):
            return out
        if text[at] != ";" or at + 1 == len(text):
            return None
        at += 1


class _ResultsParser(authres.core.AuthenticationResultsHeader):  # type: ignore[misc]  # authres is untyped
    """authres' RFC 8601 parser, its grammar unchanged, without the cost of its one primitive: each token was
    matched by compiling its pattern again (through re's cache) and cutting it off the rest of the header with
    re.sub — about a millisecond for a real server's header, the costliest step of taking a note in. Here each
    pattern is compiled once, a match cut off the text is exactly what that re.sub(…, count=1) left, and the
    optional white space and comments (CFWS) are not looked for where the text cannot begin with them."""

    def _parse_pattern(self, pattern: str | re.Pattern[str]) -> re.Match[str] | None:
        regexp = pattern if isinstance(pattern, re.Pattern) else _anchored(pattern)
        text: str = getattr(self, "_parse_text")  # noqa: B009 - authres sets it untyped; mypy cannot see it
        found = regexp.search(text)
        if found is not None:
            self._parse_text = text[:found.start()] + text[found.end():]
        return found

    def _parse_rfc5322_cfws(self) -> object:
        # between most two tokens: text that starts with no white space and no comment has none to take
        if self._parse_text[:1] not in _CFWS_STARTS:
            return None
        return super()._parse_rfc5322_cfws()


_CFWS_STARTS = frozenset(" \t\r\n(")  # the first characters folding white space or a comment can have


def parse_results(value: str) -> Any:
    """An Authentication-Results value parsed as `authres.AuthenticationResultsHeader.parse_value` parses it (its
    core features), the same header object or the same error — by `_ResultsParser`."""
    return _ResultsParser.parse_value(authres.core_features(), value)


@functools.cache
def _anchored(pattern: str) -> re.Pattern[str]:
    """authres' grammar patterns as it compiles them (a few dozen distinct ones)."""
    return re.compile(r"^" + pattern, re.I)


def _passes(results: list[tuple[str, str, dict[str, str]]], domain: str) -> bool:
    """DMARC pass for the From domain, or a DKIM pass whose signing domain is aligned with it."""
    for method, result, props in results:
        if result != "pass":
            continue
        if method == "dmarc" and props.get("header.from", "").strip(".") == domain:
            return True
        if method == "dkim":
            signer = props.get("header.d") or props.get("header.i", "").rpartition("@")[2]
            if signer and _aligned(signer, domain):
                return True
    return False


# The authres parser takes time that grows faster than the header (1.2 MB of results: 35 to 47 s), and a header is
# whatever the sender wrote. A real one is a few hundred characters: a header claiming our authserv-id that is
# longer than this is not read, and no pass (this long, it takes authres about 50 ms).
MAX_AUTH_RESULTS_CHARS = 8_000
# Headers claiming our authserv-id that are read: one is our server's, one more per further pass through it (a
# forward through our own domain); beyond that they are forgeries, which must each pass anyway — so more is no pass.
MAX_AUTH_RESULTS = 4


def authenticated(msg: EmailMessage, sender: str, authserv_id: str) -> str:
    """"" when our own server's Authentication-Results show DKIM or DMARC pass aligned with From; else why not.

    Only headers whose authserv-id is ours count: anyone can write such a header (RFC 8601, section 5). Our
    server adds its header on top of what the sender wrote, so the topmost one with our authserv-id is ours; a
    well-run server also strips forged copies. When more than one claims our id, one is forged and every one of
    them must pass: neither a forged pass below our real fail nor one above it can win. What is parsed is
    bounded: at most MAX_AUTH_RESULTS headers of at most MAX_AUTH_RESULTS_CHARS each, else no pass.
    """
    domain = sender.rpartition("@")[2].lower()
    if not domain:
        return "the From header has no address"
    ours = [v for v in raw_headers(msg, "Authentication-Results") if _authserv_id(v) == authserv_id.lower()]
    if not ours:
        return f"no Authentication-Results header from {authserv_id}"
    if len(ours) > MAX_AUTH_RESULTS:
        return (f"{len(ours)} Authentication-Results headers claim to be from {authserv_id} (at most "
                f"{MAX_AUTH_RESULTS} are read: more are forgeries)")
    if any(len(value) > MAX_AUTH_RESULTS_CHARS for value in ours):
        return (f"an Authentication-Results header from {authserv_id} is longer than {MAX_AUTH_RESULTS_CHARS} "
                "characters (not read)")
    for i, value in enumerate(ours):
        results = _results(value)
        if results is None:
            return f"the Authentication-Results header from {authserv_id} cannot be read (RFC 8601)"
        if not _passes(results, domain):
            if i == 0:
                return f"{authserv_id} reports no DKIM or DMARC pass for {domain}"
            return (f"{len(ours)} Authentication-Results headers claim to be from {authserv_id} and they disagree "
                    "(one is forged)")
    return ""


@functools.cache
def _public_suffixes() -> PublicSuffixList:
    """The Public Suffix List as the publicsuffixlist package ships it (read from the package, never fetched; a
    new release of the package brings a new list). Its private section too (github.io, blogspot.com): each name
    under such a suffix belongs to someone else."""
    return PublicSuffixList()


def organisational_domain(domain: str) -> str:
    """RFC 7489 3.2: the domain one label below its public suffix ("mail.studio.co.uk" → "studio.co.uk"); "" when
    the name is empty, malformed or a public suffix itself ("co.uk", "example": a suffix is nobody's)."""
    name = ascii_lower(domain).rstrip(".")
    if not name or ".." in name or name.startswith("."):
        return ""
    return _public_suffixes().privatesuffix(name) or ""


def _aligned(d: str, domain: str) -> bool:
    """Relaxed DKIM alignment (RFC 7489 3.1.1): the signing domain and the From domain have one organisational
    domain. Comparing the names' tails instead let "example" sign for studio.example and "co.uk" for studio.co.uk."""
    organisation = organisational_domain(d)
    return bool(organisation) and organisation == organisational_domain(domain)


# --- delivery status notifications (RFC 3464) -----------------------------------------------------------------


# what returned_ids found in each message still held: the parsing thread reads a report once, and deciding it on
# the event loop asks again by the message (stages/inbox.py `snapshot`), which then parses nothing
_RETURNED: weakref.WeakKeyDictionary[EmailMessage, tuple[str, ...]] = weakref.WeakKeyDictionary()


def returned_ids(msg: EmailMessage) -> tuple[str, ...]:
    """The Message-IDs of the messages a delivery status notification says could not be delivered: only from a
    real DSN (multipart/report; report-type=delivery-status, sent with a null return path), only when one of its
    recipients' Action is "failed", and only from the returned message's own headers — never from anywhere in
    the text, which anyone can write. Read once per message (see _RETURNED)."""
    known = _RETURNED.get(msg)
    if known is None:
        known = _RETURNED[msg] = _returned_ids(msg)
    return known


def _returned_ids(msg: EmailMessage) -> tuple[str, ...]:
    try:
        if msg.get_content_type() != "multipart/report" or \
                str(msg.get_param("report-type", "")).lower() != "delivery-status":
            return ()
        return_path = raw_header(msg, "Return-Path").strip()
        if return_path and return_path != "<>":
            return ()  # a DSN is sent with MAIL FROM:<> (RFC 3464 2.1, RFC 5321 4.5.5)
        failed, ids = False, list[str]()
        for part in msg.iter_parts():
            kind = part.get_content_type()
            if kind in ("message/delivery-status", "message/global-delivery-status"):
                text = part.as_string() if not part.is_multipart() else "\n".join(
                    p.as_string() for p in part.iter_parts())
                failed = failed or bool(re.search(r"(?im)^action:\s*failed\b", text))
            elif kind in ("text/rfc822-headers", "message/rfc822", "message/global-headers"):
                payload = part.get_payload(decode=True)
                returned = part.get_payload(0) if part.is_multipart() else headers_of(
                    payload if isinstance(payload, bytes) else b"")
                if isinstance(returned, EmailMessage):
                    ids += passable_ids(raw_headers(returned, "Message-ID"))
        return tuple(dict.fromkeys(ids)) if failed else ()
    except (RecursionError, *HEADER_ERRORS):
        return ()


@dataclass(frozen=True)
class Rules:
    members: frozenset[str]
    managers: frozenset[str]  # team.manager and every project's manager: they decide held notices
    clients: frozenset[str]
    require_authentication: bool
    authserv_id: str
    # the team's zone: the day a manager's "approve 2 January" counts from where the mail gives no zone of the
    # sender's (Incoming.written_on), as a note's "ETA: 2 January" is read
    zone: dt.tzinfo = dt.UTC


@dataclass(frozen=True)
class Context:
    """What the store knows about a message's references: the executor looks it up, `classify` decides."""

    is_ours: bool = False  # its Message-ID is one of ours: an archive copy
    answers_notice: bool = False  # it replies to a client message of ours
    decides: str = ""  # the token of a held notice whose draft it answers
    bounced: tuple[str, ...] = ()  # Message-IDs of our client messages a bounce reports


# the words a manager's reply decides a held draft with, in every language the team may write (the draft names
# its language's pair: templates/manager.txt.j2), compared as notes.fold compares a milestone's name
APPROVE = {"approve", "approved", "yes", "ok", "send", "onay", "onayla", "onaylıyorum", "evet", "gönder", "gönderin",
           "tamam", "অনুমোদন", "অনুমোদিত", "হ্যাঁ", "পাঠান"}
REJECT = {"reject", "rejected", "no", "drop", "reddet", "reddediyorum", "ret", "hayır", "gönderme", "প্রত্যাখ্যান", "না",
          "বাদ"}
_APPROVE, _REJECT = frozenset(map(fold, APPROVE)), frozenset(map(fold, REJECT))
TOKEN = re.compile(r"\[dw:([0-9a-f]{6,32})\]")


_WORD = re.compile(r"[^\s,.;:!?()\[\]\"'“”«»।॥–—]+")  # a word: what lies between spaces and punctuation, whole
# graphemes included (a `\w` run stops at a Bengali vowel sign: অনুমোদন would read as অন)


def decision_word(text: str) -> str:
    """"approve" or "reject" from the first word the manager wrote, or "" when it is neither."""
    return manager_decision(text, None)[0]


def manager_decision(text: str, today: dt.date | None) -> tuple[str, dt.date | None, str]:
    """The manager's answer to a draft: "approve" or "reject" from the first word of the first line written, the
    date written after an approval ("approve 2026-12-11", "onayla 11 Aralık", "অনুমোদন ১১ ডিসেম্বর", "approve
    Friday": ISO, with a month name in their language, or a weekday's; a numeric 03/04 is refused as ambiguous),
    and a problem when what follows the word looks like a date and is none (a date the manager meant is never
    silently dropped)."""
    for line in text.splitlines():
        words = _WORD.findall(fold(line))
        if not words:
            continue
        first = words[0]
        word = "approve" if first in _APPROVE else "reject" if first in _REJECT else ""
        rest = line.strip()[len(line.strip().split(None, 1)[0]):].strip(" \t,.;:!-–—")
        if word != "approve" or today is None:
            return word, None, ""
        try:
            if (weekday := weekday_ahead(rest, today)) is not None:
                return word, weekday, ""  # "approve Friday"
            if not any(ch.isdigit() for ch in rest):
                return word, None, ""
            return word, parse_eta(rest, today), ""
        except NoteProblem as e:
            return word, None, english([e.words])
    return "", None, ""


@dataclass(frozen=True)
class Verdict:
    """What a message is: its outcome, the folder it goes to, and whether its sender gets an answer."""

    outcome: str  # archive | accepted | rejected | ignored | forwarded | decision | bounce
    folder: str  # sent | processed | rejected
    reason: str
    reply: bool = False
    note: ParsedNote | None = None
    decision: str = ""  # approve | reject | unclear (a date that cannot be read), for outcome "decision"
    date: dt.date | None = None  # the date the manager approved the notice with, instead of the letter's


def _repeated(incoming: Incoming) -> str:
    return (" and ".join(f"more than one {name} header" for name in incoming.repeated)
            + " (DKIM vouches for the last copy, the first is read: a signed message replayed under a new one?)")


def classify(
    incoming: Incoming,
    rules: Rules,
    context: Context,
    parse: Callable[[Incoming], ParsedNote],
) -> Verdict:
    """Decide one message. `parse(incoming) -> ParsedNote` is called only for a trusted team member's mail."""
    if context.is_ours:
        return Verdict("archive", "sent", "our own archive copy")
    automatic = incoming.automatic
    if automatic:
        if context.bounced:
            return Verdict("bounce", "processed", f"a bounce of {', '.join(context.bounced)}")
        return Verdict("ignored", "rejected", f"automatic mail ({automatic}); never answered")
    if incoming.sender in rules.managers and context.decides:
        if incoming.repeated:
            return Verdict("rejected", "rejected", f"a decision with {_repeated(incoming)}; not answered")
        if rules.require_authentication:
            why = incoming.authentication(rules.authserv_id)
            if why:
                return Verdict("rejected", "rejected", f"a decision that is not authenticated: {why}; not answered")
        word, date, misread = manager_decision(incoming.text, incoming.written_on(rules.zone))
        if not word:
            return Verdict("rejected", "rejected", "a reply to a draft that says neither approve nor reject")
        if misread:  # answered, so the manager can write the date again; nothing is decided
            return Verdict("decision", "processed", f"an approval whose date cannot be read: {misread}",
                           decision="unclear")
        return Verdict("decision", "processed", f"the manager's decision: {word}"
                       + (f" with the date {date.isoformat()}" if date else ""), decision=word, date=date)
    if incoming.sender in rules.clients and context.answers_notice:
        return Verdict("forwarded", "processed", "a client's reply to a notice; forwarded to the manager")
    if incoming.sender not in rules.members:
        return Verdict("rejected", "rejected", f"{incoming.sender or 'no sender'} is not in team.members; not answered")
    if incoming.repeated:
        return Verdict("rejected", "rejected", f"a note with {_repeated(incoming)}; not answered")
    if rules.require_authentication:
        why = incoming.authentication(rules.authserv_id)
        if why:
            return Verdict("rejected", "rejected", f"not authenticated: {why}; not answered")
    if incoming.unreadable or incoming.too_long:
        unread: str | Phrase = incoming.unreadable or phrase(_("its text is longer than %(count)s characters"),
                                                             count=MAX_TEXT)
        problem = phrase(_("this message could not be read: %(why)s; send the note again as plain text"), why=unread)
        return Verdict("rejected", "rejected", f"a note that could not be read ({unread})", reply=True,
                       note=ParsedNote(None, (), (problem,)))
    note = parse(incoming)
    if note.ok:
        return Verdict("accepted", "processed", "a progress note", reply=True, note=note)
    return Verdict("rejected", "rejected", "a note that could not be understood", reply=True, note=note)
