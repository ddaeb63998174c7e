"""Every key of the configuration, declared once: a section is a frozen dataclass whose fields are its keys, each
with its type (a choice is a `Literal` of its values), default and help (`key(...)`, after Radicale's
DEFAULT_CONFIG_SCHEMA). Reading and validating the file (loading.py) and the starter file (starter.py) are
derived from the fields (`keys_of`), and mypy sees the types the program reads."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from deadlinewatch.config import checks
from deadlinewatch.credentials import ServerAccount

if TYPE_CHECKING:
    from deadlinewatch.core.policy import Policy

T = TypeVar("T")

LogLevel = Literal["debug", "info", "warning", "error"]
Auth = Literal["password", "oauth2"]
Security = Literal["tls", "starttls", "none"]
Approval = Literal["auto", "manager", "shadow"]
CalendarUpdates = Literal["invitations", "feed", "off"]
Provider = Literal["google", "microsoft", "generic"]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()  # a key's default when the file must set it
_NOT_SET: Any = object()


@dataclass(frozen=True)
class Key:
    """One key of the file, as the reading, the validation and the starter file see it."""

    name: str
    check: Callable[[Any], Any]  # the file's value → the program's, or ValueError("what is expected")
    default: Any  # what a file without it reads: REQUIRED, or None for a key `init` leaves out
    help: str
    example: Any = None  # what `init` writes when it differs from the default
    attribute: str = ""  # the field that holds it; "" for a key read here and kept elsewhere (a server's password)

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(frozen=True)
class _Declared:
    check: Callable[[Any], Any] | None
    default: Any
    help: str
    example: Any
    name: str
    also: tuple[Key, ...]


def key(check: Callable[[Any], T] | None = None, default: T = REQUIRED, *, help: str, example: object = None,
        unset: object = _NOT_SET, name: str = "", also: Sequence[Key] = ()) -> T:
    """A key of a section, as the dataclass field that holds it. `check` turns the file's value into the field's
    (for a `str`, a `bool` and a `Literal` it follows from the type); without a `default` the file must set the
    key, unless `unset` is what a file without it reads, for the loading to resolve (a project's approval: the
    policy's). `name`: the key's, when it differs from the field's; `also`: keys read right after this one but
    kept elsewhere (a server's password keys, resolved into Config.accounts)."""
    declared = _Declared(check, default if unset is _NOT_SET else unset, help, example, name, tuple(also))
    if default is REQUIRED:
        # field() without a default is typed Any; @dataclass makes it a required argument of the type declared
        return field(metadata={"key": declared})  # type: ignore[no-any-return]  # field() is typed Any
    return field(default=default, metadata={"key": declared})


@functools.cache
def keys_of(cls: type) -> tuple[Key, ...]:
    """A section's keys, in the order of its fields (the order of the starter file)."""
    hints = typing.get_type_hints(cls)
    keys: list[Key] = []
    for f in dataclasses.fields(cls):
        declared = f.metadata.get("key")
        if declared is None:
            continue  # not a key of its own (a project's client table)
        check = declared.check or _check_of(hints[f.name], declared.default)
        keys.append(Key(declared.name or f.name, check, declared.default, declared.help, declared.example, f.name))
        keys.extend(declared.also)
    return tuple(keys)


def _check_of(kind: Any, default: Any) -> Callable[[Any], Any]:
    if kind is str:
        return checks.string
    if kind is bool:
        return checks.boolean
    choices = _choices(kind)
    if not choices:
        raise TypeError(f"a key of type {kind!r} needs its check declared")
    if isinstance(default, str) and default not in choices:
        choices = (default, *choices)  # the unset value ("": the project's, the client's …)
    return checks.choice(*choices)


def _choices(kind: Any) -> tuple[str, ...]:
    if typing.get_origin(kind) is Literal:
        return typing.get_args(kind)
    if typing.get_origin(kind) in (typing.Union, types.UnionType):  # Literal[""] | CalendarUpdates
        members = [_choices(member) for member in typing.get_args(kind)]
        return tuple(c for choices in members for c in choices) if all(members) else ()
    return ()


def _auth(section: str) -> Auth:
    """A server section's `auth` key, followed by its password keys."""
    return key(default="password", help='"password" | "oauth2" (XOAUTH2/OAUTHBEARER, then the [SECTION.oauth2] '
               "table; Gmail and Microsoft 365 accept nothing else)".replace("SECTION", section), also=(
        Key("password_file", checks.string, "", "file holding the password; without any of these three, "
            f"$CREDENTIALS_DIRECTORY/{section} (systemd's LoadCredential={section}:…)",
            f"/etc/deadlinewatch/{section}.pw"),
        Key("password_env", checks.string, "", "or: name of an environment variable holding the password"),
        Key("password", checks.string, "",
            "or: the password itself (refused unless the file is readable by its owner only)"),
    ))


# --- the sections ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DaemonSection:
    state_dir: str = key(default="", help="SQLite state; default $STATE_DIRECTORY, else ./state",
                         example="/var/lib/deadlinewatch")
    database: str = key(checks.database, "", help='"": SQLite in state_dir (one daemon); or "postgresql://user@host:'
                        '5432/dbname": the state in PostgreSQL, shared by every daemon with this config (no password '
                        "in the URL)")
    database_password_file: str = key(default="", help="file holding the database's password; default "
                                      "$CREDENTIALS_DIRECTORY/database (systemd's LoadCredential=database:…)")
    timezone: str = key(checks.timezone, "", help="the team's zone (IANA); default: the system's",
                        example="Europe/Istanbul")
    poll_seconds: int = key(checks.whole(10, 86400), 300,
                            help="calendar re-sync; mailbox poll when IDLE is unavailable")
    log_level: LogLevel = key(default="info", help="debug | info | warning | error")


@dataclass(frozen=True, kw_only=True)
class CaldavSection:
    url: str = key(checks.url, help="server, principal or calendar-home URL", example="https://dav.example.com/")
    username: str = key(default="", help="login name; empty for a server without authentication", example="pm")
    auth: Auth = _auth("caldav")
    verify_tls: bool = key(default=True, help="check the server's TLS certificate")
    timeout_seconds: int = key(checks.whole(1, 600), 30, help="give up on one CalDAV request after this long")


@dataclass(frozen=True, kw_only=True)
class ImapSection:
    host: str = key(checks.host, help="IMAP server", example="imap.example.com")
    port: int = key(checks.whole(1, 65535), 993, help="IMAP port")
    security: Security = key(default="tls", help='"tls" | "starttls" | "none" (loopback only)')
    username: str = key(help="login name", example="progress@studio.example")
    auth: Auth = _auth("imap")
    address: str = key(checks.email, help="the inbox's own address (notes are sent here; archive copies too)",
                       example="progress@studio.example")
    folder: str = key(default="INBOX", help="where progress notes arrive")
    processed_folder: str = key(default="deadlinewatch/processed",
                                help='accepted notes go here; "/" is translated to the server\'s hierarchy separator')
    rejected_folder: str = key(default="deadlinewatch/rejected", help="notes that could not be accepted go here")
    sent_folder: str = key(default="deadlinewatch/sent",
                           help="archive: every message sent is also Bcc'd to `address` and filed here")
    require_authentication: bool = key(default=True,
                                       help="accept notes only with DKIM/DMARC pass in Authentication-Results")
    authserv_id: str = key(default="", help="whose Authentication-Results headers to trust (required when true)",
                           example="mx.studio.example")
    timeout_seconds: int = key(checks.whole(1, 600), 30, help="give up on one IMAP command after this long")
    max_message_bytes: int = key(checks.whole(10_000, 100_000_000), 5_000_000,
                                 help="a larger message is never read whole: a member is told, anyone else's is "
                                 "filed unread")
    keep_mail_days: int = key(checks.whole(1, 36500), 90, help="the text of notes kept in the state this many days "
                              "(mail that is not a note is never kept)")


@dataclass(frozen=True, kw_only=True)
class SmtpSection:
    host: str = key(checks.host, help="SMTP submission server", example="smtp.example.com")
    port: int = key(checks.whole(1, 65535), 587, help="SMTP port")
    security: Security = key(default="starttls", help='"tls" | "starttls" | "none" (loopback only)')
    username: str = key(default="", help="login name; empty to send without AUTH", example="pm@studio.example")
    auth: Auth = _auth("smtp")
    from_: str = key(checks.email, name="from", help="sender of every message; also the ORGANIZER of calendar data",
                     example="Studio PM <pm@studio.example>")
    timeout_seconds: int = key(checks.whole(1, 600), 60, help="give up on one SMTP exchange after this long")


@dataclass(frozen=True, kw_only=True)
class TeamSection:
    members: tuple[str, ...] = key(checks.senders, help="the only accepted senders of progress notes",
                                   example=["alice@studio.example", "bob@studio.example"])
    manager: str = key(checks.email, help='copied on every client notice; approves when approval = "manager"',
                       example="pm@studio.example")
    language: str = key(checks.language, "en", help="language of replies and nudges to the team")
    signature: str = key(default="", help='the person who signs the client letters, e.g. "Deniz Kaya, Account '
                         "Manager\"; default: smtp.from's display name", example="Deniz Kaya")


@dataclass(frozen=True, kw_only=True)
class PolicySection:
    approval: Approval = key(default="auto", help='"auto": send at once | "manager": hold until approved | "shadow": '
                             "to the manager only")
    working_days: tuple[str, ...] = key(checks.weekdays, ("mon", "tue", "wed", "thu", "fri"),
                                        help="the team's working weekdays")
    holidays: str = key(checks.holidays, "", help='country (or "US-CA"-style subdivision) for public holidays; "" for '
                        "none", example="TR")
    closed: tuple[dt.date, ...] = key(checks.dates, (), help="extra closure days", example=["2026-12-31"])
    weekly_update: str = key(checks.weekly, "mon 09:00", help='client check-in, in the client\'s zone; "" turns it off')
    # chosen by replay (bench/FORECAST.md, "The thresholds"): on Little's real projects, the most of each
    # warning's goals met, then the widest worst margin over them, every goal judged at the unfavourable end of
    # its 90% bootstrap interval, so that the thresholds hold on projects not seen there
    warn_probability: float = key(checks.probability, 0.97,
                                  help="warn the client when P(miss) reaches this (tuned by replay)")
    alert_probability: float = key(checks.probability, 0.88, help="warn the manager (not the client) when P(miss) "
                                   "reaches this: the early risk alert, so the team can still act")
    renotify_slip_days: int = key(checks.whole(0, 365), 3,
                                  help="a second notice only if the promised date moves later by more than this")
    stale_after_days: int = key(checks.whole(1, 365), 4, help="working days without a note on a milestone in "
                                "progress before the team is nudged")
    approval_hours: int = key(checks.whole(1, 24 * 30), 24, help="a held notice goes out undecided after this long, "
                              "or 1 working day before the deadline")

    def thresholds(self) -> Policy:
        """The thresholds the notice policy decides with (core/policy.py): the one conversion from these keys."""
        from deadlinewatch.core.policy import Policy  # the work calendar's holidays are heavy: not for `init`

        return Policy(warn_probability=self.warn_probability, renotify_slip_days=self.renotify_slip_days,
                      alert_probability=self.alert_probability)


@dataclass(frozen=True, kw_only=True)
class LettersSection:
    template_dir: str = key(default="", help="optional folder of templates overriding the built-in ones, per "
                            "language")


@dataclass(frozen=True, kw_only=True)
class MetricsSection:
    listen: str = key(checks.listen, "", help='e.g. "127.0.0.1:9464" for a Prometheus endpoint; "" turns it off')


@dataclass(frozen=True, kw_only=True)
class WebSection:
    listen: str = key(checks.listen, "", help='the manager\'s pages and the client pages, e.g. "127.0.0.1:8080"; "" '
                      "turns them off")
    base_url: str = key(checks.optional_url, "", help="how clients reach the pages through the studio's reverse "
                        'proxy, e.g. "https://studio.example/deadlinewatch/" (links in mail, the feed)')
    password_file: str = key(default="", help="the manager's sign-in: a file holding an argon2 hash, written by "
                             "`deadlinewatch web-password --out FILE`; default $CREDENTIALS_DIRECTORY/web-password "
                             "when it exists (systemd's LoadCredential=web-password:…)")
    trusted_user_header: str = key(default="", help="or: the header in which the reverse proxy's own sign-in names "
                                   'the user, e.g. "X-Forwarded-User"')
    trusted_proxies: tuple[str, ...] = key(checks.networks, (), help="the reverse proxy's addresses or networks (no "
                                           "default): only from these are trusted_user_header and X-Forwarded-For "
                                           "believed; the header must name exactly team.manager (or its user name)")


# --- the tables -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class OAuth2Table:
    """A server section's `oauth2` table, read with auth = "oauth2" (the provider's endpoints: adapters/oauth.py)."""

    provider: Provider = key(help='"google" | "microsoft" fill in the endpoints and scopes; "generic" takes them '
                             "from this table", example="google")
    client_id: str = key(help="the OAuth client (application) id you registered", example="1234.apps.example")
    client_secret_file: str = key(default="", help="file holding the client secret, for providers that issue one")
    tenant: str = key(default="organizations", help="Microsoft: the directory (tenant) id or domain")
    device_authorization_url: str = key(default="", help="generic: the RFC 8628 device authorization endpoint")
    authorization_url: str = key(default="", help="generic: the authorization endpoint, for a sign-in in a browser "
                                 "instead (when there is no device flow)")
    token_url: str = key(default="", help="generic: the token endpoint")
    scopes: tuple[str, ...] = key(checks.string_list, (),
                                  help="generic: the scopes to ask for (a provider's are filled in)")
    refresh_token_file: str = key(default="", help="a refresh token kept outside the state directory (else "
                                  "$CREDENTIALS_DIRECTORY/SECTION-refresh-token)")


@dataclass(frozen=True)
class Offer:
    """A rung of the damage-minimisation ladder ([[offers]])."""

    min_slip_days: int = key(checks.whole(0, 3650), help="this rung applies from a slip of this many working days",
                             example=1)
    # (language, text); language "" for the one text of every letter
    texts: tuple[tuple[str, str], ...] = key(checks.offer_text, name="text", example="We will not charge for the "
                                             "extra review round.", help="the offer as the client reads it: one text, "
                                             'or one per language ({ en = "...", tr = "..." }); a notice whose '
                                             "client's language has none is held for the manager")

    def text(self, language: str) -> str | None:
        """The offer in a letter's language: its own ("en_GB"), its base language's ("en"), else the one text."""
        found, tag = dict(self.texts), language.replace("-", "_")
        return next((found[key] for key in (tag, tag.split("_")[0], "") if key in found), None)


@dataclass(frozen=True)
class Client:
    """A project's client (`client = { … }` in [[projects]])."""

    name: str = key(help="the client's name, as the letters address them", example="Jane Doe")
    email: str = key(checks.email, help="the client's address", example="jane@acme.example")
    cc: tuple[str, ...] = key(checks.email_list, (), help="also copied on every client message", example=[])
    language: str = key(checks.language, "en", help="language of the client's letters: en (dates as in the client's "
                        "zone), en-GB, en-US, tr, bn; or one with a catalog or templates of its own in "
                        "letters.template_dir")
    timezone: str = key(checks.timezone, "", help="the client's zone (IANA); default: daemon.timezone",
                        example="Europe/London")
    # the client's public holidays (a country or subdivision code): no promise falls on one
    holidays: str = key(checks.holidays, "", help="the client's public holidays: a country (or \"US-CA\"-style "
                        'subdivision) code; no promised date falls on one; "" for none', example="GB")
    calendar_updates: Literal[""] | CalendarUpdates = key(default="", help="the project's calendar_updates, when set "
                                                          "here instead")


@dataclass(frozen=True, kw_only=True)
class Project:
    """A [[projects]] entry, its overrides resolved (approval, weekly_update, manager, signature, calendar_updates)."""

    id: str = key(checks.project_id, help="short id; progress-note subjects carry it as [id]", example="acme-web")
    name: str = key(help="the project's name as the client knows it", example="ACME website relaunch")
    calendar: str = key(help="calendar display name, path or URL on the CalDAV server", example="acme-web")
    categories: tuple[str, ...] = key(checks.string_list, (), example=[],
                                      help="if set, only entries with one of these CATEGORIES are milestones")
    context: str = key(default="", help="what the client is counting on",
                       example="your annual shareholder meeting on 12 December")
    client_calendar: str = key(default="", help="optional calendar kept as the client-facing copy of the timeline")
    calendar_updates: CalendarUpdates = key(unset="", example="invitations", help="how the client's calendar follows "
                                            'the timeline: "invitations" (one iMIP invitation per milestone, when it '
                                            'is introduced, moves or comes near; the default), "feed" (letters link '
                                            'client_feed_url), "off"')
    client_feed_url: str = key(checks.optional_url, "", help="a read-only feed of the timeline the letters link, "
                               "e.g. a CalDAV server's public link to client_calendar; without it, the project's "
                               "feed on the [web] pages (web.base_url)")
    approval: Approval = key(unset="", help="per-project override of policy.approval")
    weekly_update: str = key(checks.weekly, unset=None, help="per-project override of policy.weekly_update",
                             example="fri 16:00")
    manager: str = key(checks.optional_email, "", help="per-project override of team.manager")
    # who signs its letters (projects.signature, else team.signature, else smtp.from's name)
    signature: str = key(default="", help="per-project override of team.signature")
    client: Client


# --- the whole file -------------------------------------------------------------------------------------------


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
    accounts: Mapping[str, ServerAccount] = field(default_factory=dict)  # a server's login; "database" when set

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


# the [sections] of the file, in the order of Config's fields (and of the starter file)
SECTIONS: Mapping[str, type] = {name: kind for name, kind in typing.get_type_hints(Config).items()
                                 if isinstance(kind, type) and dataclasses.is_dataclass(kind)}
SERVER_SECTIONS = tuple(name for name, kind in SECTIONS.items() if "auth" in {f.name for f in dataclasses.fields(kind)})
