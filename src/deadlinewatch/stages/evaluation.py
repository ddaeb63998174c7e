"""Stage 3: what each client must hear now. The pass in three moves: `snapshot` reads what each project's decision
needs from the store — every project's before any is decided (the team's spread, the project as its client knows
it, when the first message went, whether this week's check-in is recorded, the risk alerts that are up);
`decide_project` (decisions/evaluation.py) decides each from it, purely; then `evaluate` records each plan
(stages/state.record: the client group and the manager's messages about it, in one transaction), each risk alert's
mail with its state, the pass's forecasts that changed, and the team's nudges (stages/team.py) from what the pass
read."""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Protocol

from deadlinewatch.adapters.memory import give_back_freed
from deadlinewatch.adapters.store import ForecastState
from deadlinewatch.config.schema import Project
from deadlinewatch.core import policy
from deadlinewatch.core.model import (
    Forecast,
    RiskAlert,
    SaveForecasts,
    SetRiskAlert,
)
from deadlinewatch.decisions.evaluation import Snapshot, decide_project
from deadlinewatch.services import PassReport, Services
from deadlinewatch.stages.state import ProjectsRead, ProjectStore, forecaster, record
from deadlinewatch.stages.team import nudge_silent


class EvaluationStore(ProjectStore, ForecastState, Protocol):
    """What the evaluation reads and writes through: each project as its client knows it, the risk alerts."""


def snapshot(svc: Services[EvaluationStore], project: Project, now: dt.datetime, history: int,
             read: ProjectsRead | None = None, alerts: Mapping[tuple[str, str], RiskAlert] | None = None) -> Snapshot:
    """What deciding about a project reads: from `read` and `alerts` when the pass read every project's at once,
    else from the store for this project alone (a preview)."""
    read = read or ProjectsRead.of(svc.store, project.id)
    pv = read.view(project)
    slot = policy.weekly_slot(now, project.weekly_update, pv.client_tz)
    due = slot is not None and not svc.store.sent_since("weekly", project.id, slot)
    alerts = svc.store.risk_alerts(project.id) if alerts is None else alerts
    up = {uid: a for (p, uid), a in alerts.items() if p == project.id}
    return Snapshot(pv, read.record(project).first_sent, slot if due else None, up, history)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector held off for a pass. A first pass reads a hundred thousand notes and makes ten
    thousand forecasts that live on (kept for the next pass), none of them in a reference cycle: the collector's
    full sweeps, set off each time the heap grew by a quarter, walked every object again and again for nothing
    (a fifth of the pass). Refcounting still frees what the pass drops; the collector runs again after it."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def evaluate(svc: Services[EvaluationStore], report: PassReport) -> None:
    with collector_paused():
        _evaluate(svc, report)


def _evaluate(svc: Services[EvaluationStore], report: PassReport) -> None:
    now = svc.clock.now()
    # the snapshot: the team's spread, then every project's state read at once, a query a table (each project's
    # decisions change only its own rows) — nothing is read after this
    forecast = forecaster(svc)
    read, alerts = ProjectsRead.of(svc.store), svc.store.risk_alerts()
    snaps = [snapshot(svc, project, now, forecast.spread.history, read, alerts) for project in svc.config.projects]
    # the decisions, pure: every project's before anything is written
    decisions = [decide_project(svc.composer, snap, forecast, now, svc.tick) for snap in snaps]
    # carried out, project by project
    everything: list[Forecast] = []
    for snap, decided in zip(snaps, decisions, strict=True):
        project = snap.view.project
        for plan in decided.plans:
            (notice_id,) = record(svc.store, svc.composer, [plan.group()], now).ids
            state = "shadow: to the manager only" if project.approval == "shadow" else \
                "held for the manager" if plan.messages[0].state == "held" else "queued"
            report.event("%s: %s — #%d, %s; %s", project.id, plan.what, notice_id, state, plan.reason)
        for risk in decided.alerts:  # the mail and the alert's new state, together
            svc.store.carry_out([*([risk.message] if risk.message is not None else []),
                                 SetRiskAlert(risk.project, risk.uid, risk.state)], now)
            if risk.what != "end":
                report.event("%s: risk alert to the manager (%s) for %s", project.id, risk.what, risk.uid)
        for event in decided.events:
            report.event("%s", event)
        everything += decided.forecasts
    # one transaction for the pass's forecasts, and only for those that changed: most passes change few, and
    # writing ten thousand unchanged ones (their reasons encoded) was most of a pass with no new note
    changed = [f for f in everything if svc.saved.get((f.project, f.uid)) != f]
    svc.store.carry_out([SaveForecasts(tuple(changed))], now)
    svc.saved.update(((f.project, f.uid), f) for f in changed)
    # the team's nudges, from what this pass read and forecast
    nudge_silent(svc, report, read, {(f.project, f.uid): f for f in everything})
    if len(changed) > FREED_AFTER:  # a pass that forecast much freed much: the resident size need not stay at its peak
        give_back_freed()


FREED_AFTER = 1000  # forecasts written in one pass beyond which the memory it freed is handed back
