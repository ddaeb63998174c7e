"""What one step of a pass works with: the adapters and the config (`Services`), what deciding needs and nothing
more (`Composer`: the config, the letters, the key of our ids), and what a step reports (`PassReport`)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import zoneinfo
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from email.utils import parseaddr
from functools import cached_property, lru_cache

from deadlinewatch.adapters.calendar import CalendarSource
from deadlinewatch.adapters.clock import Clock
from deadlinewatch.adapters.mailbox import Mailbox
from deadlinewatch.adapters.mailer import Mailer
from deadlinewatch.adapters.store import StorePort
from deadlinewatch.config import Config
from deadlinewatch.config.schema import Project
from deadlinewatch.core import policy
from deadlinewatch.core.forecast import Closed, Spread
from deadlinewatch.core.letters import Letters
from deadlinewatch.core.model import Forecast, QueueMail, SetServer
from deadlinewatch.core.workdays import WorkCalendar
from deadlinewatch.errors import LoginRefused, ServerError

log = logging.getLogger("deadlinewatch.pipeline")  # the events of a pass, one line each


@lru_cache(maxsize=64)
def _client_days(holidays: str) -> WorkCalendar:
    return WorkCalendar(frozenset(range(7)), holidays)


@dataclass(frozen=True)
class Composer:
    """What deciding and composing a message needs, and nothing that reaches outside: the config, the letters,
    the key of our ids. A decision made with it alone is a pure function of plain data."""

    config: Config
    letters: Letters
    key: bytes  # the state's secret: our Message-IDs and tokens are HMACs with it

    @cached_property
    def team_tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.config.timezone)

    @cached_property
    def workdays(self) -> WorkCalendar:
        p = self.config.policy
        return WorkCalendar.from_policy(p.working_days, p.holidays, p.closed)

    def client_days(self, project: Project) -> WorkCalendar | None:
        """The client's calendar as far as a promise needs it: every day but their public holidays."""
        return _client_days(project.client.holidays) if project.client.holidays else None

    @property
    def policy(self) -> policy.Policy:
        return self.config.policy.thresholds()

    @property
    def sender(self) -> str:
        return str(self.config.smtp.from_)

    @property
    def envelope_from(self) -> str:
        return bare(self.sender)

    def message_id(self, kind: str, *identity: object) -> tuple[str, str]:
        """A deterministic (token, Message-ID) for a message: composing the same decision twice gives the same
        id, so the outbox's uniqueness refuses a duplicate even across a crash. Keyed with the state's secret
        (HMAC): nobody outside can compute the id of a notice to forge its bounce, nor a token to forge a
        decision."""
        digest = hmac.new(self.key, "\0".join([kind, *map(str, identity)]).encode(), hashlib.sha256).hexdigest()
        domain = bare(self.sender).rpartition("@")[2] or "deadlinewatch.invalid"
        return digest[:10], f"<dw.{kind}.{digest[:24]}@{domain}>"

    def outgoing(self, *, kind: str, audience: str, token: str, msg_id: str, message: bytes,
                 recipients: Sequence[str], now: dt.datetime, project: str | None = None, uid: str | None = None,
                 state: str = "pending", promised: dt.date | None = None,
                 not_before: dt.datetime | None = None) -> QueueMail:
        """A message for the outbox. Every message is also Bcc'd to the inbox: the archive copy filed in
        sent_folder."""
        return QueueMail(kind=kind, audience=audience, project=project, uid=uid, token=token, message_id=msg_id,
                         mail_from=self.envelope_from, recipients=(*recipients, self.config.imap.address),
                         message=message, state=state, created=now, promised=promised, not_before=not_before)


@dataclass
class Services:
    """The adapters one pass works through, and the configuration it obeys."""

    config: Config
    store: StorePort
    calendar: CalendarSource
    mailbox: Callable[[], Mailbox]
    mailer: Mailer
    clock: Clock
    letters: Letters
    # called at every step of a pass (a message, an entry, a milestone): the daemon's watchdog sees progress
    tick: Callable[[], None] = field(default=lambda: None)
    # forecasts computed before, shared by the daemon's runs (see Forecaster)
    forecasts: dict[Hashable, Forecast] = field(default_factory=dict)
    # the team's spread last learned, by what it was learned from (see team_spread)
    learned: dict[Hashable, Spread] = field(default_factory=dict)
    # each closed milestone's stated remaining times against what they took (see team_spread): read once
    stated: dict[Hashable, list[Closed]] = field(default_factory=dict)
    # the forecasts last written to the store, by milestone: a pass writes only those that changed
    saved: dict[tuple[str, str], Forecast] = field(default_factory=dict)

    @cached_property
    def composer(self) -> Composer:
        return Composer(self.config, self.letters, self.store.key)


@dataclass
class PassReport:
    """What a pass did, for the story (demo), the log and the exit code (`once`)."""

    events: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    sent: list[int] = field(default_factory=list)
    lagging: dict[str, str] = field(default_factory=dict)  # a stage that runs but does not keep up, and why
    # a server that works, but whose OAuth sign-in would not survive a restart (a rotated refresh token the state
    # directory could not take, held in memory only), and why
    at_risk: dict[str, str] = field(default_factory=dict)

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


def server_ok(svc: Services, report: PassReport, server: str, detail: str) -> None:
    """A server worked this pass: its line in `status`. When its OAuth sign-in holds a rotated refresh token in
    memory only (oauth.TokenSource.problem: the file, the reason, what to fix), the line says so, and so does
    systemd's STATUS (workers.status) — the server is up, but a restart would need `deadlinewatch login`."""
    problem = getattr(svc.config.accounts[server].token, "problem", None)
    if problem:
        report.at_risk[server] = problem
        detail = f"{detail}; {problem}"
    svc.store.carry_out([SetServer(server, True, detail)], svc.clock.now())


def server_failed(svc: Services, report: PassReport, server: str, e: ServerError | LoginRefused) -> None:
    now = svc.clock.now()
    before = svc.store.servers().get(server)
    svc.store.carry_out([SetServer(server, False, str(e))], now)
    command = f"deadlinewatch login {server}"
    if isinstance(e, LoginRefused) and command in str(e) and server != "smtp" and (
            before is None or before["ok"] or command not in before["detail"]):
        _tell_manager_once(svc, server, str(e), command, now)
    if isinstance(e, LoginRefused):
        report.refused.append(server)
        report.problem(f"{server}: {e}")
    else:
        report.unavailable[server] = e.detail
        report.problem(f"{server} unavailable: {e.detail}")


def _tell_manager_once(svc: Services, server: str, error: str, command: str, now: dt.datetime) -> None:
    """The manager hears by mail that a server's OAuth sign-in was refused — once per episode (when it starts),
    and only when the outbox can still send (a refused SMTP sign-in shows in `status` alone)."""
    c = svc.composer
    token, msg_id = c.message_id("manager-signin", server, now.isoformat())
    manager = svc.config.team.manager
    msg = c.letters.signin(language=svc.config.team.language, sender=c.sender, to=manager, composed_at=now,
                           message_id=msg_id, server=server, account=svc.config.accounts[server].username,
                           error=error, command=command)
    svc.store.carry_out([c.outgoing(kind="manager-signin", audience="team", token=token, msg_id=msg_id,
                                    message=msg.as_bytes(), recipients=[bare(manager)], now=now)], now)


def bare(address: str) -> str:
    return parseaddr(address)[1]
