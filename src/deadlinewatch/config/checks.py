"""The checks of the config's values: each returns the value as the program uses it (a list becomes a tuple: the
configuration is frozen) or raises ValueError("what is expected"), which the loading turns into a problem naming
the file, the key and the bad value."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import urllib.parse
import zoneinfo
from collections.abc import Callable
from email.utils import parseaddr
from typing import Any, TypeVar

L = TypeVar("L", bound=str)


def string(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError("a string")
    return v


def boolean(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError("true or false")
    return v


def whole(lo: int, hi: int) -> Callable[[Any], int]:
    def check(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ValueError(f"a whole number from {lo} to {hi}")
        return v

    return check


def probability(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v < 1:
        raise ValueError("a probability between 0 and 1, e.g. 0.9")
    return float(v)


def choice(*choices: L) -> Callable[[Any], L]:
    def check(v: Any) -> L:
        for c in choices:
            if v == c:
                return c
        raise ValueError("one of " + ", ".join(f'"{c}"' for c in choices))

    return check


def timezone(v: Any) -> str:
    if v == "":
        return ""
    try:
        zoneinfo.ZoneInfo(string(v))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError('an IANA time zone such as "Europe/Istanbul"') from None
    return str(v)


def email(v: Any) -> str:
    """An address, with its name if written: a domain in another script is written as DNS and SMTP know it
    ("bücher.example" is "xn--bcher-kva.example", IDNA); a mailbox name outside ASCII needs SMTPUTF8, which not every
    server on the way speaks, and is refused — accepted, the letter could never be written, and every pass failed."""
    s = string(v)
    _, addr = parseaddr(s)
    if "@" not in addr or addr.startswith("@") or addr.endswith("@"):
        raise ValueError('an email address such as "pm@studio.example"')
    if addr.isascii():
        return s
    local, _, domain = addr.rpartition("@")
    if not local.isascii():
        raise ValueError(f'an address whose part before the "@" is ASCII ("{local}" needs SMTPUTF8, which mail '
                         "servers on the way may not speak): ask for another address")
    import idna  # IDNA 2008 (UTS 46): Python's "idna" codec is IDNA 2003, which maps ß to ss (another domain)

    try:
        ascii_domain = idna.encode(domain, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        raise ValueError(f'an address whose domain is a valid name ("{domain}" is not)') from None
    return s.replace(addr, f"{local}@{ascii_domain}")


def optional_email(v: Any) -> str:
    return "" if v == "" else email(v)


def email_list(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list):
        raise ValueError('a list of email addresses, e.g. ["alice@studio.example"]')
    return tuple(email(x) for x in v)


def senders(v: Any) -> tuple[str, ...]:
    """team.members: at least one address — with none, every note would be refused, for ever, without a word."""
    addresses = email_list(v)
    if not addresses:
        raise ValueError('at least one team member\'s address, e.g. ["alice@studio.example"]: only they may send '
                         "progress notes, and with none every note is refused")
    return addresses


def string_list(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise ValueError('a list of strings, e.g. ["milestone"]')
    return tuple(v)


def weekdays(v: Any) -> tuple[str, ...]:
    from deadlinewatch.core.workdays import WEEKDAYS  # imported here: it brings the holidays library (40 ms)

    if not isinstance(v, list) or not v or not all(isinstance(x, str) and x.lower() in WEEKDAYS for x in v):
        raise ValueError('a non-empty list of weekdays from "mon" … "sun"')
    return tuple(x.lower() for x in v)


def dates(v: Any) -> tuple[dt.date, ...]:
    if not isinstance(v, list):
        raise ValueError('a list of ISO dates, e.g. ["2026-12-31"]')
    out = []
    for x in v:
        if isinstance(x, dt.date) and not isinstance(x, dt.datetime):
            out.append(x)
        elif isinstance(x, str):
            try:
                out.append(dt.date.fromisoformat(x))
            except ValueError:
                raise ValueError('a list of ISO dates, e.g. ["2026-12-31"]') from None
        else:
            raise ValueError('a list of ISO dates, e.g. ["2026-12-31"]')
    return tuple(out)


def holidays(v: Any) -> str:
    s = string(v)
    if s == "":
        return s
    import holidays as holidays_lib  # imported here: only validation and the work calendar need it

    country, _, subdiv = s.partition("-")
    try:
        holidays_lib.country_holidays(country, subdiv=subdiv or None, years=2026)
    except (NotImplementedError, KeyError):
        raise ValueError('a country code such as "TR" or "US-CA", or "" for none') from None
    return s


def weekly(v: Any) -> str:
    from deadlinewatch.core.workdays import WEEKDAYS

    s = string(v).strip().lower()
    day, _, hhmm = s.partition(" ")
    if s and not (day in WEEKDAYS and re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", hhmm)):
        raise ValueError('a weekday and time such as "mon 09:00", or "" to turn it off')
    return s


def matching(regex: str, expected: str, *, off: bool = False) -> Callable[[Any], str]:
    """A string of a shape; with `off`, "" too (what turns the feature off)."""
    shape = re.compile(regex)

    def check(v: Any) -> str:
        s = string(v)
        if (s or not off) and not shape.match(s):
            raise ValueError(expected)
        return s

    return check


listen = matching(r"^[\w.\-\[\]:]+:\d{1,5}$", 'host:port such as "127.0.0.1:9464", or "" to turn it off', off=True)
url = matching(r"^https?://[^/\s]+", 'an http:// or https:// URL such as "https://dav.example.com/"')
project_id = matching(r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
                      'a short id of letters, digits, ".", "_" or "-", e.g. "acme-web"')
language = matching(r"^[a-z]{2,3}([_-][A-Z]{2})?$", 'a language code such as "en", "en-GB", "tr" or "bn"')


def optional_url(v: Any) -> str:
    return "" if v == "" else url(v)


DATABASE_SCHEMES = ("postgresql", "postgres")


def database(v: Any) -> str:
    """"" (SQLite in the state directory) or a PostgreSQL connection URL without a password in it: the password
    lives in a credential file, not in a config that is read by more people than need it."""
    s = string(v)
    if s == "":
        return s
    expected = '"" for SQLite in state_dir, or a URL such as "postgresql://deadlinewatch@db.example:5432/deadlinewatch"'
    try:
        parts = urllib.parse.urlsplit(s)
        parts.port  # noqa: B018  # a port that is not a number raises here
    except ValueError:
        raise ValueError(expected) from None
    if parts.scheme not in DATABASE_SCHEMES or any(c.isspace() for c in s):
        raise ValueError(expected)
    if parts.password is not None or "password" in urllib.parse.parse_qs(parts.query):
        raise ValueError("a URL without the password: put it in $CREDENTIALS_DIRECTORY/database (systemd's "
                         "LoadCredential=database:…) or in the file daemon.database_password_file names")
    return s


def without_password(database_url: str) -> str:
    """The URL as an error message may show it: a password in it (user:password@, ?password=) replaced by ***."""
    try:
        parts = urllib.parse.urlsplit(database_url)
        netloc = parts.netloc
        if parts.password is not None:
            netloc = f"{parts.username or ''}:***@{netloc.rpartition('@')[2]}"
    except ValueError:
        return database_url
    query = re.sub(r"(^|&)password=[^&]*", r"\1password=***", parts.query)
    if (netloc, query) == (parts.netloc, parts.query):
        return database_url
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc, query=query))


def networks(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list):
        raise ValueError('a list of addresses or networks, e.g. ["127.0.0.1", "10.0.0.0/8"]')
    try:
        return tuple(str(ipaddress.ip_network(x, strict=False)) for x in v)
    except (TypeError, ValueError):
        raise ValueError('a list of addresses or networks, e.g. ["127.0.0.1", "10.0.0.0/8"]') from None


def host(v: Any) -> str:
    s = string(v)
    if not s or any(c.isspace() for c in s):
        raise ValueError('a host name such as "imap.example.com"')
    return s


def offer_text(v: Any) -> tuple[tuple[str, str], ...]:
    """One text, or one per language: ("", text) or (("en", …), ("tr", …))."""
    if isinstance(v, str):
        if not v.strip():
            raise ValueError("a text the client reads")
        return (("", v),)
    if not isinstance(v, dict) or not v:
        raise ValueError('a string, or a table of one per language: { en = "...", tr = "..." }')
    texts = []
    for code, text in v.items():
        try:
            texts.append((language(code).replace("-", "_"), string(text)))
        except ValueError as e:
            raise ValueError(f'{code} = ...: {e}') from None
    return tuple(texts)
