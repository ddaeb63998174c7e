"""The Store port: what the pipeline asks of the state, part by part. `Store` (SQLite) is the daemon's; the tests
run one contract suite against it and against an in-memory fake (tests/memory_store.py), so a rule the pipeline
relies on (a moved entry is not gone, SEQUENCE only grows, a held group is decided once) is written down once, as
a test, and kept by both.

Every method that changes something is one transaction; `transaction()` nests (a savepoint inside another), and
`carry_out` runs a decision's actions inside one: all of them happen or none does.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Protocol

from deadlinewatch.core.model import (
    Action,
    ClientDate,
    Forecast,
    Milestone,
    QueueMail,
    Report,
    RiskAlert,
    ShowDate,
)

if TYPE_CHECKING:
    from deadlinewatch.adapters.store.executor import Carried

CLIENT_KINDS = ("intro", "notice", "update", "cancel", "delivered", "weekly")

# the forecast reads a milestone's recent notes (the pace over three weeks, the latest statement, the latest
# cause and plan); older notes change nothing, and reading them all would make every note cost more than the last
RECENT_REPORTS = 200


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


@dataclass(frozen=True)
class TrackRecord:
    """A milestone's first estimate and how it went: done by a note at `done_at`, or still `state`."""

    estimated_at: dt.datetime
    remaining_days: float | None
    eta: dt.date | None
    done_at: dt.datetime | None
    state: str


class CalendarState(Protocol):
    """Calendar sync state, the entries as fetched, the milestones parsed from them, the client-facing copy."""

    def calendar_state(self, project: str) -> dict[str, Any] | None: ...
    def save_calendar_token(self, project: str, ref: str, url: str, token: str | None, fingerprint: str) -> None: ...
    def follow_server(self, server: str) -> bool: ...
    def forget_calendar(self, project: str) -> None: ...
    def entry_etags(self, project: str) -> dict[str, str]: ...
    def entries(self, project: str, recurring_only: bool = False) -> list[tuple[str, str]]: ...
    def apply_calendar(
        self, project: str, *, ref: str, url: str, token: str | None, fingerprint: str,
        entries: Sequence[tuple[str, str, str, bool]], parsed: Mapping[str, Sequence[Milestone]],
        deleted: Sequence[str], kept: set[str], now: dt.datetime,
    ) -> list[str]: ...
    def version(self) -> tuple[int, int]: ...
    def milestones(self, project: str | None = None) -> list[Milestone]: ...
    def client_calendar_entry(self, project: str, uid: str) -> dict[str, Any] | None: ...
    def save_client_calendar_entry(self, project: str, uid: str, url: str, etag: str | None, sequence: int,
                                   date: dt.date, status: str) -> None: ...


class OutboxState(Protocol):
    """The outbox (every message, recorded before any attempt to send it) and the client dates."""

    def client_date(self, project: str, uid: str) -> ClientDate | None: ...
    def client_dates(self, project: str) -> dict[str, ClientDate]: ...
    def entry_uids(self, project: str) -> dict[str, str]: ...
    def enqueue_client_group(self, messages: Sequence[QueueMail], dates: Sequence[ShowDate]) -> int: ...
    def notice_times(self, project: str) -> dict[str, dt.datetime]: ...
    def held_notices(self, project: str) -> dict[str, dt.datetime]: ...
    def shown_groups(self, project: str) -> list[tuple[str, tuple[ShowDate, ...]]]: ...
    def first_client_message(self, project: str) -> OutboxItem | None: ...
    def client_message(self, message_id: str) -> OutboxItem | None: ...
    def notice_for_decision(self, token: str, references: Sequence[str]) -> OutboxItem | None: ...
    def decide(self, notice_id: int, approve: bool, *, now: dt.datetime, decided_by: str) -> bool: ...
    def outbox(self, states: Sequence[str] | None = None, audience: str | None = None) -> list[OutboxItem]: ...
    def outbox_item(self, notice_id: int) -> OutboxItem | None: ...
    def is_our_message_id(self, message_id: str) -> bool: ...
    def notice_by_message_ids(self, message_ids: Sequence[str]) -> OutboxItem | None: ...
    def set_outbox_state(self, notice_id: int, state: str, *, now: dt.datetime, error: str | None = None,
                         attempt: bool = False, expect: Sequence[str] | None = None, decided_by: str | None = None,
                         next_attempt: dt.datetime | None = None) -> bool: ...
    def sent_since(self, kind: str, project: str, since: dt.datetime, uid: str | None = None) -> bool: ...
    def record_outgoing(self, messages: Sequence[QueueMail], parent: int | None = None) -> None: ...


class InboxState(Protocol):
    """Every message taken from the inbox, decided once, with what it caused; failures; folders' UIDVALIDITY."""

    def record_message(
        self, *, message_key: str, message_id: str, sender: str, subject: str, received_at: dt.datetime,
        outcome: str, target_folder: str, project: str | None, problems: Sequence[str], raw: bytes, body: str,
        reports: Sequence[Report], now: dt.datetime, outgoing: Sequence[QueueMail] = (),
    ) -> None: ...
    def prune_mail(self, before: dt.datetime) -> int: ...
    def failing_messages(self) -> list[tuple[str, int, str]]: ...
    def mark_moved(self, message_keys: Sequence[str]) -> None: ...
    def message_decisions(self, message_keys: Sequence[str]) -> dict[str, str]: ...
    def record_failure(self, message_key: str, error: str) -> int: ...
    def swap_uidvalidity(self, folder: str, uidvalidity: int) -> int | None: ...
    def note_count(self) -> dict[str, int]: ...


class NoteState(Protocol):
    """Progress notes read back per milestone, and the track record the team's bias is learned from."""

    def reports_by_milestone(self, project: str, recent: int = RECENT_REPORTS) -> dict[str, list[Report]]: ...
    def reports(self, project: str, uid: str, recent: int = RECENT_REPORTS) -> list[Report]: ...
    def track_record(self, done: dict[tuple[str, str], dt.datetime] | None = None) -> list[TrackRecord]: ...
    def done_at(self) -> dict[tuple[str, str], dt.datetime]: ...


class ForecastState(Protocol):
    """Each open milestone's latest forecast."""

    def save_forecasts(self, forecasts: Sequence[Forecast], now: dt.datetime) -> None: ...
    def forecast(self, project: str, uid: str) -> Forecast | None: ...
    def at_risk(self, warn_probability: float) -> int: ...


class HealthState(Protocol):
    """The passes run and each server's health."""

    def record_pass(self, started: dt.datetime, finished: dt.datetime, ok: bool, summary: str) -> None: ...
    def last_pass(self) -> dict[str, Any] | None: ...
    def set_server(self, name: str, ok: bool, detail: str, now: dt.datetime) -> None: ...
    def servers(self) -> dict[str, dict[str, Any]]: ...


def shows_json(dates: Sequence[ShowDate]) -> str:
    """A group's dates as stored beside its primary message."""
    return json.dumps([{f.name: v.isoformat() if isinstance(v, dt.date) else v
                        for f in fields(d) for v in [getattr(d, f.name)]} for d in dates])


def shows_from_json(text: str) -> tuple[ShowDate, ...]:
    def day(v: str | None) -> dt.date | None:
        return dt.date.fromisoformat(v) if v else None

    return tuple(ShowDate(d["project"], d["uid"], int(d["sequence"]), day(d["shown_date"]), day(d["promised"]),
                          bool(d["delivered"]), bool(d["cancelled"]), bool(d["invited"]), d.get("entry_uid"))
                 for d in json.loads(text))


def new_page_token() -> str:
    """A client page's token: 192 random bits, URL-safe (CONTRACT.md asks for at least 128)."""
    return secrets.token_urlsafe(24)


class AlertState(Protocol):
    """The manager's risk alerts that are up, one per milestone (core/alert.py)."""

    def risk_alerts(self, project: str | None = None) -> dict[tuple[str, str], RiskAlert]: ...
    def set_risk_alert(self, project: str, uid: str, alert: RiskAlert | None) -> None: ...


class PageState(Protocol):
    """The random token of each project's client page (`/p/<token>/`): made once, kept."""

    def page_tokens(self, project: str | None = None) -> dict[str, str]: ...
    def make_page_tokens(self, projects: Sequence[str]) -> dict[str, str]: ...
    def rotate_page_token(self, project: str) -> str: ...


class SessionState(Protocol):
    """The manager's web sessions: a signed cookie names one, and it counts only while it is kept here (until it
    is signed out or expires), across restarts. Starting one prunes the expired."""

    def start_web_session(self, sid: str, user: str, now: dt.datetime, expires: dt.datetime) -> None: ...
    def web_session(self, sid: str, now: dt.datetime) -> str | None: ...
    def end_web_session(self, sid: str) -> bool: ...
    def prune_web_sessions(self, now: dt.datetime) -> int: ...


class StorePort(CalendarState, OutboxState, InboxState, NoteState, ForecastState, HealthState, AlertState, PageState,
                SessionState, Protocol):
    """The whole state. `key` is the state's secret (the HMAC key of our message ids), made once."""

    key: bytes

    def transaction(self) -> contextlib.AbstractContextManager[Any]: ...
    def batch(self) -> contextlib.AbstractContextManager[None]: ...
    def close(self) -> None: ...

    def carry_out(self, actions: Sequence[Action], now: dt.datetime) -> Carried:
        """A decision's actions, in order, in one transaction: all of them happen or none does (executor.py;
        written once: a store that names the port as its base inherits it)."""
        from deadlinewatch.adapters.store.executor import carry_out

        return carry_out(self, actions, now)
