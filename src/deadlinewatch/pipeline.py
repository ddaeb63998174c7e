"""The pass, in one order: calendar sync → inbox → evaluation (what the clients and the team must hear) →
delivery (the outbox, then the client calendars). `once` and the demo run the steps in this order; the daemon's
workers (workers.py) run the same steps and decide only *when* each one runs.

Each step reads from the store and writes its outcome there before anything else happens, so a pass
interrupted anywhere resumes on the next one. A server that is down stops its own step, not the pass.

Each step reads a snapshot (stages/), decides with a pure function, and carries the actions out through the store's
one executor (adapters/store/executor.py). Where each step decides:

  calendar → stages/calendar_sync.py (core/milestones.py: an entry as milestones)
  inbox    → decisions/inbox.py `decide_message` (core/notes.py, core/intake.py)
  evaluator→ decisions/evaluation.py `decide_project` (core/policy.py, core/forecast.py, core/alert.py,
             core/dependencies.py); the nudges: stages/team.py
  outbox   → decisions/outbox.py `decide_outbox`, `settle`; the client calendars: stages/client_calendar.py
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from deadlinewatch.adapters.store import StorePort
from deadlinewatch.coordination import PARTS, current
from deadlinewatch.core.model import RecordPass
from deadlinewatch.errors import LeaseLost
from deadlinewatch.services import PassReport, Services
from deadlinewatch.stages.calendar_sync import sync_calendars
from deadlinewatch.stages.client_calendar import update_client_calendars
from deadlinewatch.stages.evaluation import evaluate
from deadlinewatch.stages.inbox import read_inbox
from deadlinewatch.stages.outbox import send_outbox

if TYPE_CHECKING:
    from deadlinewatch.adapters.store.postgres.leases import Lease


async def evaluate_all(svc: Services[StorePort], report: PassReport) -> None:
    """Forecasts, the policy's client messages, the team's nudges: everything decided from the store alone."""
    evaluate(svc, report)


async def deliver(svc: Services[StorePort], report: PassReport) -> None:
    """The outbox, then the client-facing calendars (which show what was sent)."""
    await send_outbox(svc, report)
    await update_client_calendars(svc, report)


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[Services[StorePort], PassReport], Coroutine[Any, Any, None]]


STEPS = (
    Step("calendar", sync_calendars),
    Step("inbox", read_inbox),  # after the calendar: notes name its milestones
    Step("evaluator", evaluate_all),
    Step("outbox", deliver),
)
STEP = {s.name: s for s in STEPS}


def record_pass(svc: Services[StorePort], started: dt.datetime, report: PassReport, down: Iterable[str] = ()) -> None:
    """A pass (an evaluation) in the store, for `status`: ok unless a server was unavailable or refused us."""
    down = sorted({*down, *report.unavailable, *report.refused})
    summary = report.summary + (f"; unavailable: {', '.join(down)}" if down and not report.unavailable else "")
    svc.store.carry_out([RecordPass(started, not down, summary)], svc.clock.now())


def _holds(lease_of: Callable[[str], Lease | None], part: str) -> bool:
    return lease_of(part) is not None


async def run_pass(svc: Services[StorePort], lease_of: Callable[[str], Lease | None] | None = None) -> PassReport:
    """One full pass, every step in order; returns what happened. Never raises for a server problem: the report
    says it. `lease_of`: over a shared state, the lease each step's part of the work is held under (its writes
    check it, as a daemon's worker's do: `once` holds them all)."""
    report = PassReport()
    started = svc.clock.now()
    for step in STEPS:
        part = PARTS[step.name]
        lease = lease_of(part) if lease_of is not None else None
        if lease_of is not None and lease is None:  # lapsed (a step held the loop past its renewal): no write unchecked
            raise LeaseLost(f"the {part} part of the work is no longer held: the pass stopped before its {step.name} "
                            "step; run it again")
        token = current.set(lease)
        try:
            under = svc if lease_of is None else \
                dataclasses.replace(svc, counts=functools.partial(_holds, lease_of, part))
            await step.run(under, report)
        finally:
            current.reset(token)
    record_pass(svc, started, report)
    return report
