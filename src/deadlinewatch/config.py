"""The configuration, declared once: every key of CONTRACT.md with its type, default and help.

`load(path)` validates the whole file and reports every problem at once, each naming the file, the key path,
the bad value and what would be right. `starter_config()` renders the same declarations as the commented file
that `deadlinewatch init` writes and that `config/deadlinewatch.example.toml` is.
"""

from __future__ import annotations

import datetime as dt
import keyword
import os
import re
import stat
import tomllib
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from email.utils import parseaddr
from pathlib import Path
from typing import Any, TypeVar

from deadlinewatch.credentials import OAuthClient, Secret, ServerAccount
from deadlinewatch.errors import ConfigError

DEFAULT_CONFIG_PATH = "/etc/deadlinewatch/deadlinewatch.toml"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SERVER_SECTIONS = ("caldav", "imap", "smtp")
T = TypeVar("T")


# --- value checkers: each returns the converted value or raises ValueError("what is expected") ----------


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError("a string")
    return v


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError("true or false")
    return v


def _int(lo: int, hi: int) -> Callable[[Any], int]:
    def check(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ValueError(f"a whole number from {lo} to {hi}")
        return v

    return check


def _prob(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v < 1:
        raise ValueError("a probability between 0 and 1, e.g. 0.9")
    return float(v)


def _choice(*choices: str) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        if v not in choices:
            raise ValueError("one of " + ", ".join(f'"{c}"' for c in choices))
        return str(v)

    return check


def _timezone(v: Any) -> str:
    if v == "":
        return ""
    try:
        zoneinfo.ZoneInfo(_str(v))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError('an IANA time zone such as "Europe/Istanbul"') from None
    return str(v)


def _email(v: Any) -> str:
    s = _str(v)
    _, addr = parseaddr(s)
    if "@" not in addr or addr.startswith("@") or addr.endswith("@"):
        raise ValueError('an email address such as "pm@studio.example"')
    return s


def _optional_email(v: Any) -> str:
    return "" if v == "" else _email(v)


def _email_list(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list):
        raise ValueError('a list of email addresses, e.g. ["alice@studio.example"]')
    return tuple(_email(x) for x in v)


def _str_list(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise ValueError('a list of strings, e.g. ["milestone"]')
    return tuple(v)


def _weekdays(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list) or not v or not all(isinstance(x, str) and x.lower() in WEEKDAYS for x in v):
        raise ValueError('a non-empty list of weekdays from "mon" … "sun"')
    return tuple(x.lower() for x in v)


def _dates(v: Any) -> tuple[dt.date, ...]:
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


def _holidays(v: Any) -> str:
    s = _str(v)
    if s == "":
        return s
    import holidays as holidays_lib  # imported here: only validation and the work calendar need it

    country, _, subdiv = s.partition("-")
    try:
        holidays_lib.country_holidays(country, subdiv=subdiv or None, years=2026)
    except (NotImplementedError, KeyError):
        raise ValueError('a country code such as "TR" or "US-CA", or "" for none') from None
    return s


_WEEKLY = re.compile(r"^(mon|tue|wed|thu|fri|sat|sun) ([01]\d|2[0-3]):([0-5]\d)$")


def _weekly(v: Any) -> str:
    s = _str(v).strip().lower()
    if s and not _WEEKLY.match(s):
        raise ValueError('a weekday and time such as "mon 09:00", or "" to turn it off')
    return s


def _listen(v: Any) -> str:
    s = _str(v)
    if s and not re.match(r"^[\w.\-\[\]:]+:\d{1,5}$", s):
        raise ValueError('host:port such as "127.0.0.1:9464", or "" to turn it off')
    return s


def _url(v: Any) -> str:
    s = _str(v)
    if not re.match(r"^https?://[^/\s]+", s):
        raise ValueError('an http:// or https:// URL such as "https://dav.example.com/"')
    return s


def _optional_url(v: Any) -> str:
    return "" if v == "" else _url(v)


def _networks(v: Any) -> tuple[str, ...]:
    import ipaddress

    if not isinstance(v, list):
        raise ValueError('a list of addresses or networks, e.g. ["127.0.0.1", "10.0.0.0/8"]')
    try:
        return tuple(str(ipaddress.ip_network(x, strict=False)) for x in v)
    except (TypeError, ValueError):
        raise ValueError('a list of addresses or networks, e.g. ["127.0.0.1", "10.0.0.0/8"]') from None


def _host(v: Any) -> str:
    s = _str(v)
    if not s or any(c.isspace() for c in s):
        raise ValueError('a host name such as "imap.example.com"')
    return s


def _project_id(v: Any) -> str:
    s = _str(v)
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", s):
        raise ValueError('a short id of letters, digits, ".", "_" or "-", e.g. "acme-web"')
    return s


def _language(v: Any) -> str:
    s = _str(v)
    if not re.match(r"^[a-z]{2,3}([_-][A-Z]{2})?$", s):
        raise ValueError('a language code such as "en", "en-GB", "tr" or "bn"')
    return s


def _offer_text(v: Any) -> tuple[tuple[str, str], ...]:
    """One text, or one per language: ("", text) or (("en", …), ("tr", …))."""
    if isinstance(v, str):
        if not v.strip():
            raise ValueError("a text the client reads")
        return (("", v),)
    if not isinstance(v, dict) or not v:
        raise ValueError('a string, or a table of one per language: { en = "...", tr = "..." }')
    texts = []
    for language, text in v.items():
        try:
            texts.append((_language(language).replace("-", "_"), _str(text)))
        except ValueError as e:
            raise ValueError(f'{language} = ...: {e}') from None
    return tuple(texts)


# --- the declarations --------------------------------------------------------------------------------------

REQUIRED = object()


@dataclass(frozen=True)
class Key:
    name: str
    check: Callable[[Any], Any]
    default: Any
    help: str
    example: Any = None  # what `init` writes when it differs from the default

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


def _password_keys(section: str) -> list[Key]:
    return [
        Key("auth", _choice("password", "oauth2"), "password",
            '"password" | "oauth2" (XOAUTH2/OAUTHBEARER, then the [SECTION.oauth2] table; Gmail and Microsoft 365 '
            'accept nothing else)'.replace("SECTION", section)),
        Key("password_file", _str, "", "file holding the password; without any of these three, "
            f"$CREDENTIALS_DIRECTORY/{section} (systemd's LoadCredential={section}:…)",
            f"/etc/deadlinewatch/{section}.pw"),
        Key("password_env", _str, "", "or: name of an environment variable holding the password"),
        Key("password", _str, "", "or: the password itself (refused unless the file is readable by its owner only)"),
    ]


SCHEMA: dict[str, list[Key]] = {
    "daemon": [
        Key("state_dir", _str, "", "SQLite state; default $STATE_DIRECTORY, else ./state", "/var/lib/deadlinewatch"),
        Key("timezone", _timezone, "", "the team's zone (IANA); default: the system's", "Europe/Istanbul"),
        Key("poll_seconds", _int(10, 86400), 300, "calendar re-sync; mailbox poll when IDLE is unavailable"),
        Key("log_level", _choice("debug", "info", "warning", "error"), "info", "debug | info | warning | error"),
    ],
    "caldav": [
        Key("url", _url, REQUIRED, "server, principal or calendar-home URL", "https://dav.example.com/"),
        Key("username", _str, "", "login name; empty for a server without authentication", "pm"),
        *_password_keys("caldav"),
        Key("verify_tls", _bool, True, "check the server's TLS certificate"),
        Key("timeout_seconds", _int(1, 600), 30, "give up on one CalDAV request after this long"),
    ],
    "imap": [
        Key("host", _host, REQUIRED, "IMAP server", "imap.example.com"),
        Key("port", _int(1, 65535), 993, "IMAP port"),
        Key("security", _choice("tls", "starttls", "none"), "tls", '"tls" | "starttls" | "none" (loopback only)'),
        Key("username", _str, REQUIRED, "login name", "progress@studio.example"),
        *_password_keys("imap"),
        Key("address", _email, REQUIRED, "the inbox's own address (notes are sent here; archive copies too)",
            "progress@studio.example"),
        Key("folder", _str, "INBOX", "where progress notes arrive"),
        Key("processed_folder", _str, "deadlinewatch/processed",
            'accepted notes go here; "/" is translated to the server\'s hierarchy separator'),
        Key("rejected_folder", _str, "deadlinewatch/rejected", "notes that could not be accepted go here"),
        Key("sent_folder", _str, "deadlinewatch/sent",
            "archive: every message sent is also Bcc'd to `address` and filed here"),
        Key("require_authentication", _bool, True,
            "accept notes only with DKIM/DMARC pass in Authentication-Results"),
        Key("authserv_id", _str, "", "whose Authentication-Results headers to trust (required when true)",
            "mx.studio.example"),
        Key("timeout_seconds", _int(1, 600), 30, "give up on one IMAP command after this long"),
        Key("max_message_bytes", _int(10_000, 100_000_000), 5_000_000,
            "a larger message is never read whole: a member is told, anyone else's is filed unread"),
        Key("keep_mail_days", _int(1, 36500), 90,
            "the text of notes kept in the state this many days (mail that is not a note is never kept)"),
    ],
    "smtp": [
        Key("host", _host, REQUIRED, "SMTP submission server", "smtp.example.com"),
        Key("port", _int(1, 65535), 587, "SMTP port"),
        Key("security", _choice("tls", "starttls", "none"), "starttls", '"tls" | "starttls" | "none" (loopback only)'),
        Key("username", _str, "", "login name; empty to send without AUTH", "pm@studio.example"),
        *_password_keys("smtp"),
        Key("from", _email, REQUIRED, "sender of every message; also the ORGANIZER of calendar data",
            "Studio PM <pm@studio.example>"),
        Key("timeout_seconds", _int(1, 600), 60, "give up on one SMTP exchange after this long"),
    ],
    "team": [
        Key("members", _email_list, REQUIRED, "the only accepted senders of progress notes",
            ["alice@studio.example", "bob@studio.example"]),
        Key("manager", _email, REQUIRED, "copied on every client notice; approves when approval = \"manager\"",
            "pm@studio.example"),
        Key("language", _language, "en", "language of replies and nudges to the team"),
        Key("signature", _str, "", "the person who signs the client letters, e.g. \"Deniz Kaya, Account Manager\"; "
            "default: smtp.from's display name", "Deniz Kaya"),
    ],
    "policy": [
        Key("approval", _choice("auto", "manager", "shadow"), "auto",
            '"auto": send at once | "manager": hold until approved | "shadow": to the manager only'),
        Key("working_days", _weekdays, ("mon", "tue", "wed", "thu", "fri"), "the team's working weekdays"),
        Key("holidays", _holidays, "", 'country (or "US-CA"-style subdivision) for public holidays; "" for none',
            "TR"),
        Key("closed", _dates, (), "extra closure days", ["2026-12-31"]),
        Key("weekly_update", _weekly, "mon 09:00", 'client check-in, in the client\'s zone; "" turns it off'),
        # chosen by replay (bench/FORECAST.md, "The thresholds"): on Little's real projects, the widest worst
        # margin over each warning's goals, every goal judged at the unfavourable end of its 90% bootstrap
        # interval, so that the thresholds hold on projects not seen there
        Key("warn_probability", _prob, 0.98, "warn the client when P(miss) reaches this (tuned by replay)"),
        Key("alert_probability", _prob, 0.92,
            "warn the manager (not the client) when P(miss) reaches this: the early risk alert, so the team can "
            "still act"),
        Key("renotify_slip_days", _int(0, 365), 3,
            "a second notice only if the promised date moves later by more than this"),
        Key("stale_after_days", _int(1, 365), 4,
            "working days without a note on a milestone in progress before the team is nudged"),
        Key("approval_hours", _int(1, 24 * 30), 24,
            "a held notice goes out undecided after this long, or 1 working day before the deadline"),
    ],
    "letters": [
        Key("template_dir", _str, "", "optional folder of templates overriding the built-in ones, per language"),
    ],
    "metrics": [
        Key("listen", _listen, "", 'e.g. "127.0.0.1:9464" for a Prometheus endpoint; "" turns it off'),
    ],
    "web": [
        Key("listen", _listen, "",
            'the manager\'s pages and the client pages, e.g. "127.0.0.1:8080"; "" turns them off'),
        Key("base_url", _optional_url, "", "how clients reach the pages through the studio's reverse proxy, e.g. "
            '"https://studio.example/deadlinewatch/" (links in mail, the feed)'),
        Key("password_file", _str, "", "the manager's sign-in: a file holding an argon2 hash, written by "
            "`deadlinewatch web-password --out FILE`; default $CREDENTIALS_DIRECTORY/web-password when it exists "
            "(systemd's LoadCredential=web-password:…)"),
        Key("trusted_user_header", _str, "",
            'or: the header in which the reverse proxy\'s own sign-in names the user, e.g. "X-Forwarded-User"'),
        Key("trusted_proxies", _networks, (),
            "the reverse proxy's addresses or networks (no default): only from these are trusted_user_header and "
            "X-Forwarded-For believed; the header must name exactly team.manager (or its user name)"),
    ],
}

OFFER_KEYS = [
    Key("min_slip_days", _int(0, 3650), REQUIRED, "this rung applies from a slip of this many working days", 1),
    Key("text", _offer_text, REQUIRED, "the offer as the client reads it: one text, or one per language "
        '({ en = "...", tr = "..." }); a notice whose client\'s language has none is held for the manager',
        "We will not charge for the extra review round."),
]

_CALENDAR_UPDATES = _choice("", "invitations", "feed", "off")  # "": the project's (or the client's), else invitations

OAUTH2_KEYS = [
    Key("provider", _choice("google", "microsoft", "generic"), REQUIRED,
        '"google" | "microsoft" fill in the endpoints and scopes; "generic" takes them from this table', "google"),
    Key("client_id", _str, REQUIRED, "the OAuth client (application) id you registered", "1234.apps.example"),
    Key("client_secret_file", _str, "", "file holding the client secret, for providers that issue one"),
    Key("tenant", _str, "organizations", "Microsoft: the directory (tenant) id or domain"),
    Key("device_authorization_url", _str, "", "generic: the RFC 8628 device authorization endpoint"),
    Key("authorization_url", _str, "",
        "generic: the authorization endpoint, for a sign-in in a browser instead (when there is no device flow)"),
    Key("token_url", _str, "", "generic: the token endpoint"),
    Key("scopes", _str_list, (), "generic: the scopes to ask for (a provider's are filled in)"),
    Key("refresh_token_file", _str, "",
        "a refresh token kept outside the state directory (else $CREDENTIALS_DIRECTORY/SECTION-refresh-token)"),
]

# the providers' endpoints and scopes (README, "OAuth 2.0", cites their documentation)
GOOGLE_SCOPES: dict[str, tuple[str, ...]] = {
    "imap": ("https://mail.google.com/",), "smtp": ("https://mail.google.com/",),
    "caldav": ("https://www.googleapis.com/auth/calendar",),
}
MICROSOFT_SCOPES: dict[str, tuple[str, ...]] = {
    "imap": ("https://outlook.office.com/IMAP.AccessAsUser.All", "offline_access"),
    "smtp": ("https://outlook.office.com/SMTP.Send", "offline_access"),
}
GOOGLE_CALDAV_URL = "https://apidata.googleusercontent.com/caldav/v2/"


def _oauth_client(section: str, table: Any, problems: list[str]) -> OAuthClient | None:
    """A server section's `oauth2` table as the client it signs in with, the provider's endpoints filled in."""
    where = f"{section}.oauth2"
    if table is None:
        problems.append(f'{section}.auth = "oauth2": needs {where} = {{ provider = "google" | "microsoft" | '
                        f'"generic", client_id = "..." }}')
        return None
    v = _read_section(table, OAUTH2_KEYS, where, problems)
    if v.get("provider") is None or v.get("client_id") is None:
        return None
    secret = None
    if v["client_secret_file"]:
        try:
            secret = Secret(Path(v["client_secret_file"]).read_text(encoding="utf-8").strip())
        except OSError as e:
            problems.append(f'{where}.client_secret_file = "{v["client_secret_file"]}": cannot read it ({e.strerror})')
    provider = v["provider"]
    browser = ""
    if provider == "google":
        # Google's device flow grants a short list of scopes without mail or calendar: a sign-in in a browser
        # ending on a loopback address, the flow Google documents for command-line tools
        device, browser = "", "https://accounts.google.com/o/oauth2/v2/auth"
        token, scopes = "https://oauth2.googleapis.com/token", GOOGLE_SCOPES[section]
    elif provider == "microsoft":
        if section not in MICROSOFT_SCOPES:
            problems.append(f'{where}.provider = "microsoft": Microsoft 365 offers no CalDAV; use its IMAP and SMTP '
                            "with a CalDAV server of your own, or \"generic\"")
            return None
        base = f"https://login.microsoftonline.com/{v['tenant']}/oauth2/v2.0"
        device, token, scopes = f"{base}/devicecode", f"{base}/token", MICROSOFT_SCOPES[section]
    else:
        device, token, scopes = v["device_authorization_url"], v["token_url"], tuple(v["scopes"])
        browser = v["authorization_url"]
        for name, value in (("token_url", token), ("device_authorization_url", device or browser)):
            if not re.match(r"^https?://[^/\s]+", value or ""):
                problems.append(f'{where}.{name}: required for provider = "generic" (an https:// URL)'
                                + (", or authorization_url for a sign-in in a browser" if name != "token_url" else ""))
        if not scopes:
            problems.append(f'{where}.scopes: required for provider = "generic", e.g. ["imap"]')
    return OAuthClient(provider, v["client_id"], secret, device, token, tuple(scopes), v["refresh_token_file"],
                       browser)


CLIENT_KEYS = [
    Key("name", _str, REQUIRED, "the client's name, as the letters address them", "Jane Doe"),
    Key("email", _email, REQUIRED, "the client's address", "jane@acme.example"),
    Key("cc", _email_list, (), "also copied on every client message", []),
    Key("language", _language, "en", "language of the client's letters: en (dates as in the client's zone), en-GB, "
        "en-US, tr, bn; or one with a catalog or templates of its own in letters.template_dir"),
    Key("timezone", _timezone, "", "the client's zone (IANA); default: daemon.timezone", "Europe/London"),
    Key("holidays", _holidays, "", "the client's public holidays: a country (or \"US-CA\"-style subdivision) code; "
        "no promised date falls on one; \"\" for none", "GB"),
    Key("calendar_updates", _CALENDAR_UPDATES, "", "the project's calendar_updates, when set here instead"),
]

PROJECT_KEYS = [
    Key("id", _project_id, REQUIRED, "short id; progress-note subjects carry it as [id]", "acme-web"),
    Key("name", _str, REQUIRED, "the project's name as the client knows it", "ACME website relaunch"),
    Key("calendar", _str, REQUIRED, "calendar display name, path or URL on the CalDAV server", "acme-web"),
    Key("categories", _str_list, (), "if set, only entries with one of these CATEGORIES are milestones", []),
    Key("context", _str, "", "what the client is counting on",
        "your annual shareholder meeting on 12 December"),
    Key("client_calendar", _str, "", "optional calendar kept as the client-facing copy of the timeline"),
    Key("calendar_updates", _CALENDAR_UPDATES, "",
        'how the client\'s calendar follows the timeline: "invitations" (one iMIP invitation per milestone, when '
        'it is introduced, moves or comes near; the default), "feed" (letters link client_feed_url), "off"',
        "invitations"),
    Key("client_feed_url", _optional_url, "",
        "a read-only feed of the timeline the letters link, e.g. a CalDAV server's public link to client_calendar; "
        "without it, the project's feed on the [web] pages (web.base_url)"),
    Key("approval", _choice("", "auto", "manager", "shadow"), "", "per-project override of policy.approval"),
    Key("weekly_update", _weekly, None, "per-project override of policy.weekly_update"),
    Key("manager", _optional_email, "", "per-project override of team.manager"),
    Key("signature", _str, "", "per-project override of team.signature"),
]


# --- the loaded configuration, as frozen values ----------------------------------------------------------


@dataclass(frozen=True)
class Offer:
    min_slip_days: int
    texts: tuple[tuple[str, str], ...]  # (language, text); language "" for the one text of every letter

    def text(self, language: str) -> str | None:
        """The offer in a letter's language: its own ("en_GB"), its base language's ("en"), else the one text."""
        found, tag = dict(self.texts), language.replace("-", "_")
        return next((found[key] for key in (tag, tag.split("_")[0], "") if key in found), None)


@dataclass(frozen=True)
class Client:
    name: str
    email: str
    cc: tuple[str, ...]
    language: str
    timezone: str
    holidays: str = ""  # the client's public holidays (a country or subdivision code): no promise falls on one


@dataclass(frozen=True)
class Project:
    id: str
    name: str
    calendar: str
    categories: tuple[str, ...]
    client: Client
    context: str
    client_calendar: str
    approval: str
    weekly_update: str
    manager: str
    calendar_updates: str = "invitations"
    client_feed_url: str = ""
    signature: str = ""  # who signs its letters (projects.signature, else team.signature, else smtp.from's name)


# --- the sections as typed values: one field per key of SCHEMA (tests/unit/test_config.py holds them equal) -----


@dataclass(frozen=True)
class DaemonSection:
    state_dir: str
    timezone: str
    poll_seconds: int
    log_level: str


@dataclass(frozen=True)
class CaldavSection:
    url: str
    username: str
    auth: str
    verify_tls: bool
    timeout_seconds: int


@dataclass(frozen=True)
class ImapSection:
    host: str
    port: int
    security: str
    username: str
    auth: str
    address: str
    folder: str
    processed_folder: str
    rejected_folder: str
    sent_folder: str
    require_authentication: bool
    authserv_id: str
    timeout_seconds: int
    max_message_bytes: int
    keep_mail_days: int


@dataclass(frozen=True)
class SmtpSection:
    host: str
    port: int
    security: str
    username: str
    auth: str
    from_: str  # the key `from`
    timeout_seconds: int


@dataclass(frozen=True)
class TeamSection:
    members: tuple[str, ...]
    manager: str
    language: str
    signature: str


@dataclass(frozen=True)
class PolicySection:
    approval: str
    working_days: tuple[str, ...]
    holidays: str
    closed: tuple[dt.date, ...]
    weekly_update: str
    warn_probability: float
    alert_probability: float
    renotify_slip_days: int
    stale_after_days: int
    approval_hours: int


@dataclass(frozen=True)
class LettersSection:
    template_dir: str


@dataclass(frozen=True)
class MetricsSection:
    listen: str


@dataclass(frozen=True)
class WebSection:
    listen: str
    base_url: str
    password_file: str
    trusted_user_header: str
    trusted_proxies: tuple[str, ...]


SECTION_TYPES: dict[str, type[Any]] = {
    "daemon": DaemonSection, "caldav": CaldavSection, "imap": ImapSection, "smtp": SmtpSection,
    "team": TeamSection, "policy": PolicySection, "letters": LettersSection, "metrics": MetricsSection,
    "web": WebSection,
}


def field_name(key: str) -> str:
    """The attribute of a section for a key of the file (a Python keyword gets a trailing underscore)."""
    return key + "_" if keyword.iskeyword(key) else key


def typed_section(cls: type[T], values: Mapping[str, Any]) -> T:
    """A section's validated values as its typed object (lists become tuples: the sections are frozen)."""
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]  # every SECTION_TYPES entry is a dataclass
    # a server section's secrets are not fields of it (they are in Config.accounts): the filter below drops them
    kept = {field_name(k): tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return cls(**{k: v for k, v in kept.items() if k in names})


def default_policy() -> PolicySection:
    """[policy] as the defaults declare it: what `replay` uses without a config file."""
    return typed_section(PolicySection, {k.name: k.default for k in SCHEMA["policy"]})


@dataclass(frozen=True)
class Config:
    path: str
    daemon: DaemonSection
    caldav: CaldavSection
    imap: ImapSection
    smtp: SmtpSection
    team: TeamSection
    policy: PolicySection
    letters: LettersSection
    metrics: MetricsSection
    web: WebSection
    offers: tuple[Offer, ...]
    projects: tuple[Project, ...]
    accounts: Mapping[str, ServerAccount] = field(default_factory=dict)

    @property
    def timezone(self) -> str:
        return self.daemon.timezone

    @property
    def state_dir(self) -> Path:
        return Path(self.daemon.state_dir)

    def project(self, project_id: str) -> Project:
        for p in self.projects:
            if p.id == project_id:
                return p
        raise KeyError(project_id)


def system_timezone() -> str:
    """The system's IANA zone, from $TZ or /etc/localtime; UTC when it cannot be told."""
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz:
        try:
            zoneinfo.ZoneInfo(tz)
            return tz
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
    try:
        target = os.path.realpath("/etc/localtime")
        marker = "/zoneinfo/"
        if marker in target:
            name = target.split(marker, 1)[1]
            zoneinfo.ZoneInfo(name)
            return name
    except (OSError, zoneinfo.ZoneInfoNotFoundError, ValueError):
        pass
    return "UTC"


def _read_section(table: Any, keys: list[Key], where: str, problems: list[str]) -> dict[str, Any]:
    if not isinstance(table, dict):
        problems.append(f"[{where}] must be a table, not {table!r}")
        return {}
    known = {k.name for k in keys}
    for name in table:
        if name not in known:
            close = ", ".join(sorted(known))
            problems.append(f"{where}.{name}: unknown key (known keys: {close})")
    values: dict[str, Any] = {}
    for key in keys:
        if key.name not in table:
            if key.required:
                problems.append(f"{where}.{key.name}: missing; expected {key.help}")
            values[key.name] = None if key.required else key.default
            continue
        raw = table[key.name]
        try:
            values[key.name] = key.check(raw)
        except ValueError as e:
            problems.append(f"{where}.{key.name} = {_show(key.name, raw)}: expected {e}")
            values[key.name] = None if key.required else key.default
    return values


def _show(name: str, raw: Any) -> str:
    if name == "password":
        return "'***'"
    if isinstance(raw, str):
        return '"' + raw + '"'
    return repr(raw)


def _resolve_password(
    section: str, values: dict[str, Any], path: Path, env: Mapping[str, str], problems: list[str]
) -> Secret | None:
    if values.get("password_file"):
        try:
            return Secret(Path(values["password_file"]).read_text(encoding="utf-8").rstrip("\r\n"))
        except OSError as e:
            problems.append(f"{section}.password_file = \"{values['password_file']}\": cannot read it ({e.strerror})")
            return None
    if values.get("password_env"):
        name = values["password_env"]
        if name not in env:
            problems.append(f"{section}.password_env = \"{name}\": the environment has no variable {name}")
            return None
        return Secret(env[name])
    if values.get("password"):
        try:
            mode = path.stat().st_mode
        except OSError:
            mode = 0
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            problems.append(
                f"{section}.password: an inline password is refused while {path} is readable by others "
                f"(mode {stat.filemode(mode)}); run `chmod 600 {path}` or use password_file / password_env"
            )
            return None
        return Secret(values["password"])
    cred_dir = env.get("CREDENTIALS_DIRECTORY")
    if cred_dir and (Path(cred_dir) / section).is_file():
        return Secret((Path(cred_dir) / section).read_text(encoding="utf-8").rstrip("\r\n"))
    return None


def load(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Config:
    """Read and validate the whole file; raise ConfigError listing every problem."""
    env = os.environ if env is None else env
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            "no such file; write a starter one with `deadlinewatch init --out PATH`, or point --config / "
            "$DEADLINEWATCH_CONFIG at yours", path) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read the file: {e}", path) from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"not valid TOML: {e}", path) from None
    return from_dict(doc, path, env)


def from_dict(doc: Mapping[str, Any], path: Path, env: Mapping[str, str]) -> Config:
    problems: list[str] = []
    allowed = {*SCHEMA, "offers", "projects"}
    for name in doc:
        if name not in allowed:
            problems.append(f"[{name}]: unknown section (known: {', '.join(sorted(allowed))})")
    oauth_tables = {name: doc[name].get("oauth2") for name in SERVER_SECTIONS if isinstance(doc.get(name), dict)}
    sections = {name: _read_section({k: v for k, v in doc[name].items() if k != "oauth2"}
                                    if name in oauth_tables else doc.get(name, {}), keys, name, problems)
                for name, keys in SCHEMA.items()}

    daemon = sections["daemon"]
    if not daemon["state_dir"]:
        daemon["state_dir"] = env.get("STATE_DIRECTORY", "").split(":")[0] or str(Path("state").resolve())
    if not daemon["timezone"]:
        daemon["timezone"] = system_timezone()

    accounts: dict[str, ServerAccount] = {}
    for section in SERVER_SECTIONS:
        values = sections[section]
        oauth = None
        if values.get("auth") == "oauth2":
            oauth = _oauth_client(section, oauth_tables.get(section), problems)
            if not values.get("username"):
                problems.append(f'{section}.username: required with auth = "oauth2" (the account that signs in)')
        elif oauth_tables.get(section) is not None:
            problems.append(f'{section}.oauth2: set, but {section}.auth is "password"; set {section}.auth = "oauth2"')
        password = _resolve_password(section, values, path, env, problems) if oauth is None else None
        if oauth is None and values.get("username") and password is None and not any(
            values.get(k) for k in ("password_file", "password_env", "password")
        ):
            problems.append(
                f"{section}.username is set but no password was found: set {section}.password_file, "
                f"{section}.password_env, or provide $CREDENTIALS_DIRECTORY/{section}"
            )
        accounts[section] = ServerAccount(values.get("username") or "", password, oauth)
        for k in ("password", "password_file", "password_env"):
            values.pop(k, None)
        if section in ("imap", "smtp") and values.get("security") == "none" and values.get("host") not in (
            None, "127.0.0.1", "localhost", "::1"
        ):
            problems.append(
                f"{section}.security = \"none\": plain connections are allowed to loopback only "
                f"(host is \"{values['host']}\"); use \"tls\" or \"starttls\""
            )

    imap = sections["imap"]
    if imap["require_authentication"] and not imap["authserv_id"]:
        problems.append(
            'imap.authserv_id: required while imap.require_authentication = true (the host name your mail '
            'server writes in Authentication-Results, e.g. "mx.studio.example")'
        )

    pol = sections["policy"]
    if pol["alert_probability"] is not None and pol["warn_probability"] is not None and \
            pol["alert_probability"] >= pol["warn_probability"]:
        problems.append(f"policy.alert_probability = {pol['alert_probability']}: must be below "
                        f"policy.warn_probability ({pol['warn_probability']}) — the manager hears before the client")
    web = sections["web"]
    credential = Path(env.get("CREDENTIALS_DIRECTORY", "").split(":")[0] or "/nonexistent") / "web-password"
    if not web["password_file"] and credential.is_file():  # systemd's LoadCredential=web-password:…
        web["password_file"] = str(credential)
    if web["listen"] and not (web["password_file"] or web["trusted_user_header"]):
        problems.append("web.listen is set but nobody could sign in to the manager's pages: set web.password_file "
                        "(`deadlinewatch web-password --out FILE`) or web.trusted_user_header")
    if web["trusted_user_header"] and not web["trusted_proxies"]:
        problems.append(f'web.trusted_user_header = "{web["trusted_user_header"]}" needs web.trusted_proxies: the '
                        "addresses of the reverse proxy that writes it (e.g. [\"127.0.0.1\"]); from anyone else the "
                        "header is anyone's to write")
    if web["password_file"] and not os.access(web["password_file"], os.R_OK):
        problems.append(f'web.password_file = "{web["password_file"]}": cannot read it (write it with '
                        "`deadlinewatch web-password --out FILE`)")
    if web["base_url"] and not web["listen"]:
        problems.append("web.base_url is set but web.listen is not: the pages it points at are not served")

    offers_raw = doc.get("offers", [])
    offers: list[Offer] = []
    if not isinstance(offers_raw, list):
        problems.append("[[offers]] must be an array of tables")
        offers_raw = []
    for i, item in enumerate(offers_raw):
        v = _read_section(item, OFFER_KEYS, f"offers[{i}]", problems)
        if v.get("min_slip_days") is not None and v.get("text") is not None:
            offers.append(Offer(v["min_slip_days"], v["text"]))

    projects_raw = doc.get("projects", [])
    projects: list[Project] = []
    if not isinstance(projects_raw, list) or not projects_raw:
        problems.append("[[projects]]: at least one project is needed (id, name, calendar, client)")
        projects_raw = projects_raw if isinstance(projects_raw, list) else []
    seen: set[str] = set()
    for i, item in enumerate(projects_raw):
        where = f"projects[{i}]"
        client_raw = item.get("client") if isinstance(item, dict) else None
        item = {k: v for k, v in item.items() if k != "client"} if isinstance(item, dict) else item
        v = _read_section(item, PROJECT_KEYS, where, problems)
        if client_raw is None:
            problems.append(f"{where}.client: missing; expected {{ name = ..., email = ..., language = ... }}")
            continue
        c = _read_section(client_raw, CLIENT_KEYS, f"{where}.client", problems)
        if v["id"] is not None:
            if v["id"].lower() in seen:
                problems.append(f"{where}.id = \"{v['id']}\": another project already has this id")
            seen.add(v["id"].lower())
        if None in (v["id"], v["name"], v["calendar"], c["name"], c["email"]):
            continue
        updates = v["calendar_updates"] or c.get("calendar_updates") or "invitations"
        if updates == "feed" and not v["client_feed_url"] and not web["base_url"]:
            problems.append(f'{where}.client_feed_url: required with calendar_updates = "feed" unless web.base_url '
                            "is set (then the letters link the project's feed on the web pages): the https:// "
                            "address the letters link, e.g. your CalDAV server's read-only link to client_calendar")
        projects.append(Project(
            id=v["id"], name=v["name"], calendar=v["calendar"], categories=v["categories"],
            client=Client(c["name"], c["email"], c["cc"], c["language"], c["timezone"] or daemon["timezone"],
                          c["holidays"]),
            context=v["context"], client_calendar=v["client_calendar"],
            approval=v["approval"] or sections["policy"]["approval"],
            weekly_update=sections["policy"]["weekly_update"] if v["weekly_update"] is None else v["weekly_update"],
            manager=v["manager"] or sections["team"]["manager"] or "",
            calendar_updates=updates, client_feed_url=v["client_feed_url"],
            signature=v["signature"] or sections["team"]["signature"] or "",
        ))

    if problems:
        raise ConfigError(problems, path)
    return Config(
        path=str(path), offers=tuple(sorted(offers, key=lambda o: o.min_slip_days)), projects=tuple(projects),
        accounts=accounts, **{name: typed_section(SECTION_TYPES[name], values) for name, values in sections.items()},
    )


# --- the starter file ------------------------------------------------------------------------------------


def _toml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml(x.isoformat() if isinstance(x, dt.date) else x) for x in v) + "]"
    raise TypeError(v)


def _key_lines(keys: list[Key], skip: tuple[str, ...] = ()) -> list[str]:
    lines = []
    for key in keys:
        if key.name in skip:
            continue
        value = key.example if key.example is not None else key.default
        if value is REQUIRED or value is None:
            continue
        text = f"{key.name} = {_toml(value)}"
        note = ("(required) " if key.required else "") + key.help
        if key.name in ("password_file", "password_env", "password"):
            lines.append(f"# {text:<45} # {note}")
        else:
            lines.append(f"{text:<47} # {note}")
    return lines


def starter_config() -> str:
    """The commented config `deadlinewatch init` writes: every key, with its help."""
    out = [
        "# deadlinewatch configuration. Every key is listed with its help; see README.md for the details.",
        "# Fill in the servers, the team and at least one project, then run `deadlinewatch check-config --connect`.",
        "",
    ]
    for name, keys in SCHEMA.items():
        out.append(f"[{name}]")
        out.extend(_key_lines(keys))
        if name in SERVER_SECTIONS:
            out.append('# oauth2 = { provider = "google", client_id = "..." }   # with auth = "oauth2"; keys: '
                       + "; ".join(f"{k.name}: {k.help}" for k in OAUTH2_KEYS).replace("SECTION", name))
        out.append("")
    out.append("# damage-minimisation ladder: the rung with the largest min_slip_days <= slip (in working days)")
    out.append("[[offers]]")
    out.extend(_key_lines(OFFER_KEYS))
    out += ["[[offers]]", "min_slip_days = 10", 'text = "We will take 10% off this milestone\'s invoice."', ""]
    out.append("[[projects]]")
    out.extend(_key_lines(PROJECT_KEYS))
    client = ", ".join(f"{k.name} = {_toml(k.example if k.example is not None else k.default)}" for k in CLIENT_KEYS)
    out.append(f"client = {{ {client} }}")
    out.append("# client keys: " + "; ".join(f"{k.name}: {k.help}" for k in CLIENT_KEYS))
    out.append("")
    return "\n".join(out)
