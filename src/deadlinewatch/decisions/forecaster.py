"""Each milestone's forecast, given the team's spread learned for the pass (`Forecaster`: pure, remembered while
nothing it depends on changes), and the pass's forecasts with what each waits for (`pass_forecasts`: the
evaluation's and the reply's are the same).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable, Collection, Hashable, Sequence
from dataclasses import dataclass, field

from deadlinewatch.core import dependencies
from deadlinewatch.core.forecast import (
    Spread,
    forecast,
)
from deadlinewatch.core.milestones import effective_state
from deadlinewatch.core.model import ClientDate, Forecast, Milestone, Report
from deadlinewatch.core.workdays import WorkCalendar
from deadlinewatch.decisions.project_view import ProjectView

FORECASTS_KEPT = 100_000


# a milestone's forecast from its notes and what its client was promised, at a time (a Forecaster is one)
# a milestone's forecast: its notes, the date its client holds, the time, and the day agreed with the client
ForecastFn = Callable[[Milestone, Sequence[Report], ClientDate | None, dt.datetime, dt.date], Forecast | None]


@dataclass(frozen=True)
class Forecaster:
    """Each milestone's forecast, given the team's spread learned for this pass: a pure function of its inputs,
    remembered in `known` (shared across the daemon's passes) while none of them changes."""

    workdays: WorkCalendar
    tz: zoneinfo.ZoneInfo
    spread: Spread
    known: dict[Hashable, Forecast] = field(default_factory=dict)

    def __call__(self, m: Milestone, reports: Sequence[Report], cd: ClientDate | None,
                 now: dt.datetime, agreed: dt.date) -> Forecast | None:
        """The forecast against the deadline, or — once the client was warned — against the date we promised."""
        if effective_state(m, reports) != "open":
            return None
        target = cd.promised if cd is not None and cd.promised is not None else agreed
        # a forecast depends on the notes, the day (not the hour), the target and the team's bias: a pass that
        # changes none of them reuses it (notes are only ever added, so their count and the latest name them)
        key = (m, len(reports), reports[-1] if reports else None, now.astimezone(self.tz).date(), target,
               agreed, self.spread)
        found = self.known.get(key)
        if found is None:
            if len(self.known) > FORECASTS_KEPT:
                self.known.clear()
            found = self.known[key] = forecast(m, reports, now, self.workdays, self.tz, target=target,
                                               spread=self.spread, agreed=agreed)
        return found


def pass_forecasts(pv: ProjectView, forecast: ForecastFn, now: dt.datetime, cal: WorkCalendar,
                   wanted: Collection[str] | None = None) -> dict[str, Forecast]:
    """Each open milestone's forecast as the evaluation of a pass makes it (stages/evaluation.py
    `decide_project`): its own, from its notes and the date its client holds; then, for one that follows another,
    pushed later by the forecasts of its predecessors made before it in deadline order (dependencies.waits_for,
    each deadline the day the client holds: ProjectView.agreed's zone).
    `wanted`: only these milestones and the ones they wait for. What a reply to a note says is then what the risk
    alert, the manager's mail and the nudge of the same moment say — except where that pass's own notice moves a
    dependant's promised date (its forecast is then judged against the new date from that pass on)."""
    linked = {x.uid: x for x in pv.milestones if x.state != "cancelled"}
    followers = {s for x in linked.values() for s, _ in x.successors}
    needed = set(linked) if wanted is None else _waited_for(linked, wanted)
    out: dict[str, Forecast] = {}
    for m in pv.milestones:  # in deadline order, as the evaluation goes
        if m.uid not in needed or m.state == "cancelled":
            continue
        f = forecast(m, pv.reports.get(m.uid, []), pv.dates.get(m.uid), now, pv.agreed(m))
        if m.uid in followers and pv.state(m) == "open":
            f = dependencies.waits_for(m, f, out, linked, cal, pv.client_tz)
        if f is not None:
            out[m.uid] = f
    return out


def _waited_for(linked: dict[str, Milestone], wanted: Collection[str]) -> set[str]:
    """These milestones and every one they wait for, however far back."""
    before: dict[str, list[str]] = {}
    for x in linked.values():
        for successor, _gap in x.successors:
            before.setdefault(successor, []).append(x.uid)
    found, todo = set(), [u for u in wanted if u in linked]
    while todo:
        uid = todo.pop()
        if uid not in found:
            found.add(uid)
            todo += before.get(uid, [])
    return found


def estimates(r: Report) -> bool:
    """Does a note estimate its milestone's remaining work (what a first estimate is, as the store's track record
    counts it)?"""
    return (r.remaining_days or 0) > 0 or r.eta is not None
