"""The Store port: what the pipeline asks of the state, concern by concern, and the typed rows it gets back.

Each concern is a small Protocol (Milestones, CalendarState, …) that the code using it can name, and each stage
does: its store is the concerns it reads beside `Carrier` (the key, transactions, carry_out) — stages/outbox.py's
OutboxStore, stages/inbox.py's InboxStore, … — and it takes `Services[ThatStore]`, so mypy holds it to them.
`StorePort` is all of them over one transaction. `Store` (SQLite, the parts beside this module) is the daemon's;
the tests run one contract suite (tests/unit/test_store_contract.py) against it and against an in-memory store
(tests/memory_store.py), so a rule the pipeline relies on — a moved entry is not gone, SEQUENCE only grows, a held
group is decided once — is written down once, as a test, and kept by every store. A new store implements the
methods below that have no body, runs that suite, and is done.

Every method that changes something is one transaction; `transaction()` nests (a savepoint inside another), and
`carry_out` runs a decision's actions inside one: all of them happen or none does. A uniqueness the state keeps
(a message recorded twice, a Message-ID queued twice, a web session started twice) is refused with
errors.StateConflict, whatever the engine says. Reads return frozen values or plain typed ones, never rows of the
engine.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from deadlinewatch.core.model import (
    Action,
    ClientDate,
    Forecast,
    Milestone,
    Place,
    QueueMail,
    Report,
    RiskAlert,
    ShowDate,
)

if TYPE_CHECKING:
    from deadlinewatch.adapters.store.executor import Carried

# the forecast reads a milestone's recent notes (the pace over three weeks, the latest statement, the latest
# cause and plan); older notes change nothing, and reading them all would make every note cost more than the last
RECENT_REPORTS = 200


# --- the rows ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutboxItem:
    """A message of the outbox as recorded: its bytes never change, its state moves."""

    id: int
    kind: str
    audience: str
    project: str | None
    uid: str | None
    token: str
    message_id: str
    mail_from: str
    recipients: tuple[str, ...]
    message: bytes
    state: str
    attempts: int
    created: dt.datetime
    sent: dt.datetime | None
    last_error: str | None
    promised: dt.date | None
    parent: int | None = None
    next_attempt: dt.datetime | None = None
    decided_by: str | None = None  # who approved or rejected it ("cli", the manager's address, "timeout")
    shadow: bool = False  # composed under approval = "shadow": it went to the manager alone, never to the client


# the manager's reminders of what a client letter promised (the steps by a day, the call): void when it fails
VOID_WITH_THEIR_LETTER = ("manager-follow-up", "manager-call")
SHADOW = "shadow"  # the state a client group is read back in when it went to the manager alone


WITHDRAWN = "withdrawn"  # the state a client group is read back in when the pass withdrew it (decided_by)
SUPERSEDED_BY = "superseded by #"  # decided_by of a held notice a newer one replaced, then the newer one's id


def superseded_by(primary: int) -> str:
    """What a held notice replaced by the group whose primary is `primary` is decided by (every store writes it)."""
    return f"{SUPERSEDED_BY}{primary}"


def replaced_by(decided_by: str | None) -> int | None:
    """The notice that replaced this one, from its decided_by; None when none did."""
    rest = (decided_by or "").removeprefix(SUPERSEDED_BY)
    return int(rest) if rest != decided_by and rest.isdigit() else None


def group_state(state: str, shadow: bool, decided_by: str | None = None) -> str:
    """A client group's state as the stores give it back (ClientRecord.groups, shown_groups): its outbox state;
    SHADOW for one composed under approval = "shadow" — sent or not, it told the client nothing; WITHDRAWN for one
    rejected by the pass itself, not the manager (what it said was overtaken: decisions/outbox.overtaken) — a
    letter saying a milestone is back in the plan, withdrawn because it was cancelled again, is due again once it
    reopens, while one the manager rejected is not drafted again for the same date."""
    if shadow:
        return SHADOW
    return WITHDRAWN if state == "rejected" and decided_by == WITHDRAWN else state


@dataclass(frozen=True)
class ClientRecord:
    """What the outbox holds of one project's client, as a pass reads it for every project at once
    (`client_records`): when its first client message was recorded, every date decided for each milestone and the
    UID of its entry, each client group's state (`group_state`) and the dates it gave (oldest first), when each
    milestone's latest notice that told the client was recorded (not held, rejected or failed), and what its notice
    still held for the manager was composed from (its basis, else its creation) — what client_dates, entry_uids,
    shown_groups, notice_times and held_notices say of the project one by one. The messages composed under
    approval = "shadow" went to the manager alone: what they add to `first_sent`, `told` and `sent` is kept apart
    (`shadow`), counted only while the project is in shadow (`in_shadow`)."""

    first_sent: dt.datetime | None = None
    dates: dict[str, ClientDate] = field(default_factory=dict)
    entry_uids: dict[str, str] = field(default_factory=dict)
    groups: list[tuple[str, tuple[ShowDate, ...]]] = field(default_factory=list)
    told: dict[str, dt.datetime] = field(default_factory=dict)
    held: dict[str, dt.datetime] = field(default_factory=dict)
    # when that notice went out (its creation while not yet sent): the day a second notice says the offer was made
    sent: dict[str, dt.datetime] = field(default_factory=dict)
    shadow: ClientRecord | None = None  # first_sent, told and sent of the messages composed under shadow
    unsent: set[str] = field(default_factory=set)  # milestones whose latest told notice has not gone out yet

    def in_shadow(self) -> ClientRecord:
        """The record as a project in approval = "shadow" judges it: its shadow messages count as sent (the manager
        sees what the client would have got, a second letter saying "again" of the first)."""
        if self.shadow is None:
            return self
        s = self.shadow
        firsts = [t for t in (self.first_sent, s.first_sent) if t is not None]
        return dataclasses.replace(self, first_sent=min(firsts, default=None), told=_latest(self.told, s.told),
                                   sent=_latest(self.sent, s.sent), shadow=None)


def _latest(a: dict[str, dt.datetime], b: dict[str, dt.datetime]) -> dict[str, dt.datetime]:
    return {**a, **{k: max(v, a[k]) if k in a else v for k, v in b.items()}}


@dataclass(frozen=True)
class TrackRecord:
    """A milestone's first estimate and how it went: done by a note at `done_at`, or still `state`."""

    estimated_at: dt.datetime
    remaining_days: float | None
    eta: dt.date | None
    done_at: dt.datetime | None
    state: str
    key: tuple[str, str] = ("", "")  # the milestone: (project, uid)


@dataclass(frozen=True)
class CalendarSync:
    """Where a project's calendar was found (`ref` as configured, `url` as resolved) and the RFC 6578 sync token to
    ask with next time; `fingerprint` names the config the stored entries were parsed with."""

    ref: str
    url: str
    sync_token: str | None
    fingerprint: str


@dataclass(frozen=True)
class ClientCalendarEntry:
    """What was last written to the client-facing calendar for a milestone: where, its ETag, and what it said."""

    url: str
    etag: str | None
    sequence: int
    date: dt.date
    status: str  # the entry's description as written (compared, not parsed)


@dataclass(frozen=True)
class PassRecord:
    """A pass as `status` shows it: when it ran, and whether every server answered."""

    started: dt.datetime
    finished: dt.datetime
    ok: bool
    summary: str


@dataclass(frozen=True)
class ServerHealth:
    """A server's line in `status`: whether it worked last time it was used, and what it said."""

    ok: bool
    detail: str


# --- the concerns ----------------------------------------------------------------------------------------------------


class Milestones(Protocol):
    """The milestones parsed from the calendars, and a version of what the forecasts are learned from."""

    def milestones(self, project: str | None = None) -> list[Milestone]:
        """A project's milestones (all, without one), in deadline order, then by name."""
        ...

    def version(self) -> tuple[int, int]:
        """Changes whenever a milestone or a note does: what was learned from them still holds while it does not."""
        ...


class CalendarState(Protocol):
    """Calendar sync: where each calendar is, its sync token, and the entries as fetched."""

    def calendar_state(self, project: str) -> CalendarSync | None: ...
    def save_calendar_token(self, project: str, ref: str, url: str, token: str | None, fingerprint: str) -> None: ...
    def follow_server(self, server: str) -> bool:
        """Another CalDAV account than the one recorded: every stored calendar URL, sync token and client-calendar
        entry is forgotten (the entries' texts and the milestones stay). True when something was forgotten."""
        ...

    def forget_calendar(self, project: str) -> None: ...
    def entry_etags(self, project: str) -> dict[str, str]:
        """href → ETag of the stored entries; asked from the CalDAV worker thread in the middle of a listing."""
        ...

    def entries(self, project: str, recurring_only: bool = False) -> list[tuple[str, str]]:
        """(href, iCalendar text) of the stored entries."""
        ...

    def apply_calendar(
        self, project: str, *, ref: str, url: str, token: str | None, fingerprint: str,
        entries: Sequence[tuple[str, str, str, bool]], parsed: Mapping[str, Sequence[Milestone]],
        deleted: Sequence[str], kept: set[str], now: dt.datetime,
    ) -> list[str]:
        """One sync in one transaction, the token with the entries it stands for: entries (href, etag, ics,
        recurring) stored, `deleted` hrefs dropped, the milestones parsed from each href upserted, and those gone
        from an href (except `kept` ones, unreadable this time) cancelled. Returns the UIDs that went away — not
        one that only moved to another href."""
        ...


class ClientCalendarState(Protocol):
    """The client-facing calendar copy: what was last written for each milestone."""

    def client_calendar_entry(self, project: str, uid: str) -> ClientCalendarEntry | None: ...
    def client_calendar_entries(self, project: str) -> dict[str, ClientCalendarEntry]: ...
    def save_client_calendar_entry(self, project: str, uid: str, url: str, etag: str | None, sequence: int,
                                   date: dt.date, status: str) -> None: ...
    def forget_client_calendar_entry(self, project: str, uid: str) -> None: ...


class OutboxState(Protocol):
    """The outbox (every message, recorded before any attempt to send it) and what the client was shown."""

    def enqueue_client_group(self, messages: Sequence[QueueMail], dates: Sequence[ShowDate]) -> int:
        """Client messages decided together (the first the primary, the others its children) and the dates they
        show, in one transaction: each ShowDate goes through ClientDate.after (SEQUENCE only grows), an entry keeps
        the first entry UID recorded, and a new notice rejects one still held for the same milestone. Returns
        the primary's id."""
        ...

    def record_outgoing(self, messages: Sequence[QueueMail], parent: int | None = None) -> None:
        """Messages caused by something other than an incoming one; a Message-ID recorded before is skipped."""
        ...

    def decide(self, notice_id: int, approve: bool, *, now: dt.datetime, decided_by: str) -> bool:
        """A held primary and its held children to pending (approved) or rejected, once: False when not held."""
        ...

    def set_outbox_state(self, notice_id: int, state: str, *, now: dt.datetime, error: str | None = None,
                         attempt: bool = False, expect: Sequence[str] | None = None, decided_by: str | None = None,
                         next_attempt: dt.datetime | None = None) -> bool:
        """Move a message to `state` (from one of `expect`, when given); True when it moved. A client message
        that fails takes with it the manager's reminders of what it promised (VOID_WITH_THEIR_LETTER): never sent."""
        ...

    def outbox(self, states: Sequence[str] | None = None, audience: str | None = None) -> list[OutboxItem]:
        """In id order."""
        ...

    def outbox_item(self, notice_id: int) -> OutboxItem | None: ...
    def client_message(self, message_ids: Sequence[str]) -> OutboxItem | None:
        """The client message named by the first of these Message-IDs that names one."""
        ...

    def is_our_message_id(self, message_id: str) -> bool: ...
    def notice_for_decision(self, token: str, references: Sequence[str]) -> OutboxItem | None:
        """The primary client message a manager's mail answers: by the token in its subject, or by the draft
        (kind manager-draft, child of the primary) it replies to."""
        ...

    def first_client_message(self, project: str) -> OutboxItem | None: ...
    def sent_since(self, kind: str, project: str, since: dt.datetime, uid: str | None = None) -> bool:
        """Was a message of this kind (about this milestone) recorded at or after `since` (compared as times)?"""
        ...

    def client_dates(self, project: str) -> dict[str, ClientDate]: ...
    def entry_uids(self, project: str) -> dict[str, str]: ...
    def shown_groups(self, project: str) -> list[tuple[str, tuple[ShowDate, ...]]]:
        """Each client group's state and the dates it gave, oldest first."""
        ...

    def notice_times(self, project: str) -> dict[str, dt.datetime]:
        """uid → when its latest notice that told the client (not held, rejected or failed) was recorded."""
        ...

    def held_notices(self, project: str) -> dict[str, dt.datetime]:
        """uid → the basis (else the creation) of its notice held for the manager."""
        ...

    def client_records(self, project: str | None = None) -> dict[str, ClientRecord]:
        """Every project's client record by project (one project's, with `project`), each table read once: a
        pass's evaluation reads them all, not a few queries per project. A project with none of it has none."""
        ...


class InboxState(Protocol):
    """Every message taken from the inbox, decided once, with what it caused; failures; folders' UIDVALIDITY."""

    def record_message(
        self, *, message_key: str, message_id: str, sender: str, subject: str, received_at: dt.datetime,
        outcome: str, target_folder: str, project: str | None, problems: Sequence[str], raw: bytes, body: str,
        reports: Sequence[Report], now: dt.datetime, outgoing: Sequence[QueueMail] = (), place: Place | None = None,
    ) -> None:
        """A decided message, its notes and the messages it causes, in one transaction; its failures forgotten.
        A message key, or a place (mailbox, UIDVALIDITY, UID), recorded before is a StateConflict."""
        ...

    def message_decisions(self, message_keys: Sequence[str]) -> dict[str, str]:
        """message key → target folder, for those already decided."""
        ...

    def placed_decisions(self, mailbox: str, uidvalidity: int, uids: Sequence[int]) -> dict[int, tuple[str, str]]:
        """UID → (message key, target folder), for those of these UIDs of the mailbox, under this UIDVALIDITY,
        already decided."""
        ...

    def mark_moved(self, message_keys: Sequence[str]) -> None: ...
    def prune_mail(self, before: dt.datetime) -> int:
        """Forget the text of mail decided before `before`, once a day; how many lost it."""
        ...

    def record_failure(self, message_key: str, error: str) -> int:
        """One more failed attempt; the attempts so far."""
        ...

    def failing_messages(self) -> list[tuple[str, int, str]]:
        """(message key, attempts, last error) of the undecided messages that failed, by key."""
        ...

    def swap_uidvalidity(self, folder: str, uidvalidity: int) -> int | None:
        """Record a folder's UIDVALIDITY; the one seen before, if any."""
        ...

    def note_count(self) -> dict[str, int]:
        """Decided messages by outcome."""
        ...


class NoteState(Protocol):
    """Progress notes read back per milestone, and the track record the team's bias is learned from."""

    def reports_by_milestone(self, project: str, recent: int = RECENT_REPORTS) -> dict[str, list[Report]]:
        """Every milestone's latest `recent` notes in a project, oldest first."""
        ...

    def reports_by_project(self, recent: int = RECENT_REPORTS) -> dict[str, dict[str, list[Report]]]:
        """Every project's reports_by_milestone, by project, read at once (a project without notes has none)."""
        ...

    def reports(self, project: str, uid: str, recent: int = RECENT_REPORTS) -> list[Report]:
        """One milestone's latest `recent` notes, oldest first (a store may answer it more cheaply)."""
        return self.reports_by_milestone(project, recent).get(uid, [])

    def track_record(self, done: dict[tuple[str, str], dt.datetime] | None = None,
                     milestones: Sequence[Milestone] | None = None) -> list[TrackRecord]:
        """Each milestone's first estimate (the first note with a remaining time or an ETA), its done_at from
        `done` (done_at() without it) and its state ("cancelled" for a milestone the calendar no longer has) among
        `milestones` (every one, milestones(), read again without them)."""
        ...

    def done_at(self) -> dict[tuple[str, str], dt.datetime]:
        """(project, uid) → the first note that said Done: 100%."""
        ...


class ForecastState(Protocol):
    """Each open milestone's latest forecast, and the manager's risk alerts that are up (one per milestone)."""

    def save_forecasts(self, forecasts: Sequence[Forecast], now: dt.datetime) -> None: ...
    def forecast(self, project: str, uid: str) -> Forecast | None: ...
    def at_risk(self, warn_probability: float) -> int:
        """Open milestones whose latest forecast's P(miss) reaches the threshold."""
        ...

    def risk_alerts(self, project: str | None = None) -> dict[tuple[str, str], RiskAlert]: ...
    def set_risk_alert(self, project: str, uid: str, alert: RiskAlert | None) -> None: ...


class HealthState(Protocol):
    """The passes run and each server's health."""

    def record_pass(self, started: dt.datetime, finished: dt.datetime, ok: bool, summary: str) -> None: ...
    def last_pass(self) -> PassRecord | None: ...
    def set_server(self, name: str, ok: bool, detail: str, now: dt.datetime) -> None: ...
    def servers(self) -> dict[str, ServerHealth]: ...


class WebState(Protocol):
    """The web pages' state: each project's client page token (`/p/<token>/`: made once, kept, replaced only on
    request; pages.new_page_token makes them) and the manager's sessions (a signed cookie counts only while its
    session is kept here; starting one drops the expired)."""

    def page_tokens(self, project: str | None = None) -> dict[str, str]: ...
    def make_page_tokens(self, projects: Sequence[str]) -> dict[str, str]:
        """Every named project's token, the missing ones made."""
        ...

    def rotate_page_token(self, project: str) -> str: ...
    def start_web_session(self, sid: str, user: str, now: dt.datetime, expires: dt.datetime) -> None: ...
    def web_session(self, sid: str, now: dt.datetime) -> str | None:
        """Who the session is for while it lasts (expires later than `now`, to the second)."""
        ...

    def end_web_session(self, sid: str) -> bool: ...


class Carrier(Protocol):
    """What every stage writes through: the state's key, transactions, and a decision's actions carried out. A
    stage names the concerns it reads beside it (stages/*: `class OutboxStore(Carrier, OutboxState, …)`) and
    takes `Services[ThatStore]`: mypy then holds it to them."""

    key: bytes  # the state's secret (the HMAC key of our message ids), made once and kept

    def transaction(self) -> contextlib.AbstractContextManager[object]:
        """All of the block or none of it; inside another, a savepoint (that step fails alone). One commit for
        many steps: the inbox records a few hundred messages in one. Never await inside it: another task's
        transaction must never land in the middle of one."""
        ...

    def carry_out(self, actions: Sequence[Action], now: dt.datetime) -> Carried:
        """A decision's actions, in order, in one transaction: all of them happen or none does."""
        ...


class HealthStore(Carrier, HealthState, Protocol):
    """What a stage needs to say how a server did (services.server_ok / server_failed)."""


class StorePort(Carrier, Milestones, CalendarState, ClientCalendarState, OutboxState, InboxState, NoteState,
                ForecastState, HealthState, WebState, Protocol):
    """The whole state: every concern, and the executor of the actions (what a store implements)."""

    def close(self) -> None: ...

    def carry_out(self, actions: Sequence[Action], now: dt.datetime) -> Carried:
        """A decision's actions, in order, in one transaction: all of them happen or none does (executor.py;
        written once: a store that names the port as its base inherits it)."""
        from deadlinewatch.adapters.store.executor import carry_out

        return carry_out(self, actions, now)
