"""What one pass works with: the adapters and the config (`Services`), what it reports (`PassReport`), and the
small rules every stage shares (message ids, a milestone's effective state, its forecast)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import zoneinfo
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from email.utils import parseaddr
from functools import cached_property

from deadlinewatch.adapters.calendar import CalendarSource
from deadlinewatch.adapters.clock import Clock
from deadlinewatch.adapters.mailbox import Mailbox
from deadlinewatch.adapters.mailer import Mailer
from deadlinewatch.adapters.store import ClientDate, Store
from deadlinewatch.config import Config
from deadlinewatch.core import policy
from deadlinewatch.core.forecast import (
    Closed,
    Spread,
    estimated_days,
    forecast,
    last_work_day,
    learn,
    plan_record,
)
from deadlinewatch.core.letters import Letters
from deadlinewatch.core.model import Forecast, Milestone, Report
from deadlinewatch.core.workdays import WorkCalendar
from deadlinewatch.errors import LoginRefused, ServerError

log = logging.getLogger("deadlinewatch.pipeline")  # the events of a pass, one line each
FORECASTS_KEPT = 100_000


@dataclass
class Services:
    """The adapters one pass works through, and the configuration it obeys."""

    config: Config
    store: Store
    calendar: CalendarSource
    mailbox: Callable[[], Mailbox]
    mailer: Mailer
    clock: Clock
    letters: Letters
    # called at every step of a pass (a message, an entry, a milestone): the daemon's watchdog sees progress
    tick: Callable[[], None] = field(default=lambda: None)
    spread: Spread | None = None  # the team's learned bias, computed once per pass (see team_spread)
    # forecasts computed before, shared by the daemon's runs (see forecast_milestone)
    forecasts: dict[Hashable, Forecast] = field(default_factory=dict)
    # the team's spread last learned, by what it was learned from (see team_spread)
    learned: dict[Hashable, Spread] = field(default_factory=dict)

    @cached_property
    def team_tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.config.timezone)

    @cached_property
    def workdays(self) -> WorkCalendar:
        return WorkCalendar.from_policy(self.config.policy)

    @property
    def policy(self) -> policy.Policy:
        p = self.config.policy
        return policy.Policy(p["warn_probability"], p["renotify_slip_days"])

    @property
    def sender(self) -> str:
        return str(self.config.smtp["from"])

    @property
    def envelope_from(self) -> str:
        return bare(self.sender)


@dataclass
class PassReport:
    """What a pass did, for the story (demo), the log and the exit code (`once`)."""

    events: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    sent: list[int] = field(default_factory=list)
    lagging: dict[str, str] = field(default_factory=dict)  # a stage that runs but does not keep up, and why

    def event(self, text: str, *args: object) -> None:
        message = text % args if args else text
        log.info("%s", message)
        self.events.append(message)

    def problem(self, text: str) -> None:
        log.warning("%s", text)
        self.problems.append(text)

    @property
    def summary(self) -> str:
        parts = [f"{len(self.events)} events", f"{len(self.sent)} sent"]
        if self.unavailable:
            parts.append("unavailable: " + ", ".join(sorted(self.unavailable)))
        if self.refused:
            parts.append("login refused: " + ", ".join(self.refused))
        if self.problems:
            parts.append(f"{len(self.problems)} problems")
        return "; ".join(parts)


def server_failed(svc: Services, report: PassReport, server: str, e: ServerError | LoginRefused) -> None:
    svc.store.set_server(server, False, str(e), svc.clock.now())
    if isinstance(e, LoginRefused):
        report.refused.append(server)
        report.problem(f"{server}: {e}")
    else:
        report.unavailable[server] = e.detail
        report.problem(f"{server} unavailable: {e.detail}")


def bare(address: str) -> str:
    return parseaddr(address)[1]


def message_id(svc: Services, kind: str, *identity: object) -> tuple[str, str]:
    """A deterministic (token, Message-ID) for a message: composing the same decision twice gives the same id,
    so the outbox's uniqueness refuses a duplicate even across a crash. Keyed with the state's secret (HMAC):
    nobody outside can compute the id of a notice to forge its bounce, nor a token to forge a decision."""
    digest = hmac.new(svc.store.key, "\0".join([kind, *map(str, identity)]).encode(), hashlib.sha256).hexdigest()
    domain = bare(svc.sender).rpartition("@")[2] or "deadlinewatch.invalid"
    return digest[:10], f"<dw.{kind}.{digest[:24]}@{domain}>"


def outgoing(svc: Services, *, kind: str, audience: str, token: str, msg_id: str, message: bytes,
             recipients: Sequence[str], now: dt.datetime, project: str | None = None, uid: str | None = None,
             state: str = "pending", promised: dt.date | None = None) -> dict[str, object]:
    """An outbox row. Every message is also Bcc'd to the inbox: the archive copy filed in sent_folder."""
    return dict(kind=kind, audience=audience, project=project, uid=uid, token=token, message_id=msg_id,
                mail_from=svc.envelope_from, recipients=[*recipients, svc.config.imap["address"]],
                message=message, state=state, created=now, promised=promised)


def effective_state(m: Milestone, reports: Sequence[Report]) -> str:
    """Open, done or cancelled: a note saying Done: 100% closes a milestone as the calendar would."""
    if m.state != "open":
        return m.state
    latest_done = next((r.done for r in reversed(reports) if r.done is not None), None)
    return "done" if latest_done == 100 else "open"


def forecast_milestone(svc: Services, m: Milestone, reports: Sequence[Report], cd: ClientDate | None,
                       now: dt.datetime) -> Forecast | None:
    """The forecast against the deadline, or — once the client was warned — against the date we promised."""
    if effective_state(m, reports) != "open":
        return None
    tz = svc.team_tz
    deadline_day = last_work_day(m.deadline, tz)
    target = cd.promised if cd is not None and cd.promised is not None else deadline_day
    spread = team_spread(svc)
    # a forecast depends on the notes, the day (not the hour), the target and the team's bias: a pass that
    # changes none of them reuses it (notes are only ever added, so their count and the latest name them)
    key = (m, len(reports), reports[-1] if reports else None, now.astimezone(tz).date(), target, spread)
    known = svc.forecasts.get(key)
    if known is None:
        if len(svc.forecasts) > FORECASTS_KEPT:
            svc.forecasts.clear()
        known = svc.forecasts[key] = forecast(m, reports, now, svc.workdays, tz, target=target, spread=spread)
    return known


def team_spread(svc: Services) -> Spread:
    """The team's estimation bias and spread, once per pass: learned from every milestone with a first
    estimate — what it expected against what it took when a note declared it done, and, while it is open, "more
    than it has taken so far" (a milestone closed in the calendar alone has no date of completion: left out)."""
    if svc.spread is not None:
        return svc.spread
    tz = svc.team_tz
    today = svc.clock.now().astimezone(tz).date()
    key = (today, svc.store.version(), svc.workdays, svc.config.timezone)
    if (known := svc.learned.get(key)) is not None:  # no note, no calendar change, same day: the same spread
        svc.spread = known
        return known
    cal, closed, plans = svc.workdays, [], []
    done_at = svc.store.done_at()
    for m in svc.store.milestones():  # the plans: DTSTART to deadline, against what it took or has taken so far
        done = done_at.get((m.project, m.uid))
        if m.start is None or m.kind != "VTODO" or (done is None and m.state != "open"):
            continue
        plan = plan_record(m.start.astimezone(tz).date(), last_work_day(m.deadline, tz),
                           done.astimezone(tz).date() if done else None, today, cal)
        if plan is not None:
            plans.append(plan)
    for t in svc.store.track_record(done_at):
        day = t.estimated_at.astimezone(svc.team_tz).date()
        estimated = estimated_days(day, t.remaining_days, t.eta, cal)
        if estimated <= 0:
            continue
        if t.done_at is not None:
            closed.append(Closed(estimated, max(cal.count(day, t.done_at.astimezone(svc.team_tz).date()), 0.5)))
        elif t.state == "open":
            closed.append(Closed(estimated, max(cal.count(day, today), 0.5), finished=False))
    svc.spread = learn(closed, plans=plans, previous=next(iter(svc.learned.values()), None))  # a warm start
    svc.learned.clear()
    svc.learned[key] = svc.spread
    return svc.spread
