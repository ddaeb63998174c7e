"""What one step of a pass works with: the adapters and the config (`Services`, over the part of the store the
step names: `Services[OutboxStore]`), what deciding needs and nothing more (`Studio`: the config, the letters, the
key of our ids), and what a step reports (`PassReport`)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Generic, TypeVar

from deadlinewatch.adapters.calendar import CalendarSource
from deadlinewatch.adapters.clock import Clock
from deadlinewatch.adapters.mailbox import Mailbox
from deadlinewatch.adapters.mailer import Mailer
from deadlinewatch.adapters.store import Carrier, HealthStore
from deadlinewatch.config import Config
from deadlinewatch.core.forecast import Closed, Spread
from deadlinewatch.core.letters import Letters
from deadlinewatch.core.model import Forecast, SetServer
from deadlinewatch.decisions.studio import Studio, bare
from deadlinewatch.errors import LoginRefused, ServerError

log = logging.getLogger("deadlinewatch.pipeline")  # the events of a pass, one line each


# the part of the store a step reads and writes through (a Protocol of adapters/store/port.py's concerns); the
# daemon's Services over the whole store (StorePort) is one over each part, so a step takes the narrowest it needs
StoreT = TypeVar("StoreT", bound=Carrier, covariant=True)


@dataclass
class Services(Generic[StoreT]):
    """The adapters one pass works through, and the configuration it obeys."""

    config: Config
    store: StoreT
    calendar: CalendarSource
    mailbox: Callable[[], Mailbox]
    mailer: Mailer
    clock: Clock
    letters: Letters
    # called at every step of a pass (a message, an entry, a milestone): the daemon's watchdog sees progress
    tick: Callable[[], None] = field(default=lambda: None)
    # does the part of the work this step runs under still count as this daemon's, by this machine's clock (no
    # round trip: a check that a pause cannot slip past, made right before an act the database cannot undo, such
    # as opening an SMTP session; the writes check the lease in the database besides)
    counts: Callable[[], bool] = field(default=lambda: True)
    # forecasts computed before, shared by the daemon's runs (see Forecaster)
    forecasts: dict[Hashable, Forecast] = field(default_factory=dict)
    # the team's spread last learned, by what it was learned from (see team_spread)
    learned: dict[Hashable, Spread] = field(default_factory=dict)
    # each closed milestone's stated remaining times against what they took (see team_spread): read once
    stated: dict[Hashable, list[Closed]] = field(default_factory=dict)
    # the forecasts last written to the store, by milestone: a pass writes only those that changed
    saved: dict[tuple[str, str], Forecast] = field(default_factory=dict)

    @cached_property
    def composer(self) -> Studio:
        return Studio(self.config, self.letters, self.store.key)


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


def server_ok(svc: Services[HealthStore], report: PassReport, server: str, detail: str) -> None:
    """A server worked this pass: its line in `status`. When its OAuth sign-in holds a rotated refresh token in
    memory only (oauth.TokenSource.problem: the file, the reason, what to fix), the line says so, and so does
    systemd's STATUS (workers.status) — the server is up, but a restart would need `deadlinewatch login`."""
    problem = getattr(svc.config.accounts[server].token, "problem", None)
    if problem:
        report.at_risk[server] = problem
        detail = f"{detail}; {problem}"
    svc.store.carry_out([SetServer(server, True, detail)], svc.clock.now())


def server_failed(svc: Services[HealthStore], report: PassReport, server: str, e: ServerError | LoginRefused) -> None:
    now = svc.clock.now()
    before = svc.store.servers().get(server)
    svc.store.carry_out([SetServer(server, False, str(e))], now)
    command = f"deadlinewatch login {server}"
    if isinstance(e, LoginRefused) and command in str(e) and server != "smtp" and (
            before is None or before.ok or command not in before.detail):
        _tell_manager_once(svc, server, e.provider, command, now)
    if isinstance(e, LoginRefused):
        report.refused.append(server)
        report.problem(f"{server}: {e}")
    else:
        report.unavailable[server] = e.detail
        report.problem(f"{server} unavailable: {e.detail}")


def _tell_manager_once(svc: Services[HealthStore], server: str, error: str, command: str, now: dt.datetime) -> None:
    """The manager hears by mail that a server's OAuth sign-in was refused — once per episode (when it starts),
    and only when the outbox can still send (a refused SMTP sign-in shows in `status` alone). `error`: the
    provider's own words, quoted as such (empty when it gave none: our own message is in `status`)."""
    c = svc.composer
    token, msg_id = c.message_id("manager-signin", server, now.isoformat())
    manager = svc.config.team.manager
    msg = c.letters.signin(language=svc.config.team.language, sender=c.sender, to=manager, composed_at=now,
                           message_id=msg_id, server=server, account=svc.config.accounts[server].username,
                           error=error, command=command)
    svc.store.carry_out([c.outgoing(kind="manager-signin", audience="team", token=token, msg_id=msg_id,
                                    message=msg.as_bytes(), recipients=[bare(manager)], now=now)], now)
