"""Every milestone's forecast, from the store: the team's learned bias and spread (learned again only when a note,
the calendar or the day changed) and each forecast (reused while nothing it depends on changed)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable, Collection, Hashable, Sequence
from dataclasses import dataclass, field

from deadlinewatch.adapters.store import RECENT_REPORTS, TrackRecord
from deadlinewatch.core import dependencies
from deadlinewatch.core.forecast import (
    STATED_LEARNED,
    Closed,
    Spread,
    estimated_days,
    forecast,
    last_work_day,
    learn,
    plan_record,
    stated_records,
)
from deadlinewatch.core.milestones import effective_state
from deadlinewatch.core.model import ClientDate, Forecast, Milestone, Report
from deadlinewatch.core.workdays import WorkCalendar
from deadlinewatch.services import Services
from deadlinewatch.stages.project_view import ProjectView

FORECASTS_KEPT = 100_000

# a milestone's forecast from its notes and what its client was promised, at a time (a Forecaster is one)
ForecastFn = Callable[[Milestone, Sequence[Report], ClientDate | None, dt.datetime], Forecast | None]


@dataclass(frozen=True)
class Forecaster:
    """Each milestone's forecast, given the team's spread learned for this pass: a pure function of its inputs,
    remembered in `known` (shared across the daemon's passes) while none of them changes."""

    workdays: WorkCalendar
    tz: zoneinfo.ZoneInfo
    spread: Spread
    known: dict[Hashable, Forecast] = field(default_factory=dict)

    def __call__(self, m: Milestone, reports: Sequence[Report], cd: ClientDate | None,
                 now: dt.datetime) -> Forecast | None:
        """The forecast against the deadline, or — once the client was warned — against the date we promised."""
        if effective_state(m, reports) != "open":
            return None
        target = cd.promised if cd is not None and cd.promised is not None else last_work_day(m.deadline, self.tz)
        # a forecast depends on the notes, the day (not the hour), the target and the team's bias: a pass that
        # changes none of them reuses it (notes are only ever added, so their count and the latest name them)
        key = (m, len(reports), reports[-1] if reports else None, now.astimezone(self.tz).date(), target,
               self.spread)
        found = self.known.get(key)
        if found is None:
            if len(self.known) > FORECASTS_KEPT:
                self.known.clear()
            found = self.known[key] = forecast(m, reports, now, self.workdays, self.tz, target=target,
                                               spread=self.spread)
        return found


def forecaster(svc: Services, pending: Sequence[Report] = ()) -> Forecaster:
    """A forecaster with the team's spread as the store has it now (read here, once: forecasting then reads
    nothing) — or, with `pending`, as it will have it once these notes are recorded (see team_spread). The
    evaluation takes one per pass, the inbox one per batch of mail, and one for a note that teaches it something."""
    return Forecaster(svc.composer.workdays, svc.composer.team_tz, team_spread(svc, pending), svc.forecasts)


def pass_forecasts(pv: ProjectView, forecast: ForecastFn, now: dt.datetime, cal: WorkCalendar, tz: dt.tzinfo,
                   wanted: Collection[str] | None = None) -> dict[str, Forecast]:
    """Each open milestone's forecast as the evaluation of a pass makes it (stages/evaluation.py
    `decide_project`): its own, from its notes and the date its client holds; then, for one that follows another,
    pushed later by the forecasts of its predecessors made before it in deadline order (dependencies.waits_for).
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
        f = forecast(m, pv.reports.get(m.uid, []), pv.dates.get(m.uid), now)
        if m.uid in followers and pv.state(m) == "open":
            f = dependencies.waits_for(m, f, out, linked, cal, tz)
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


def stated_remaining(svc: Services, done_at: dict[tuple[str, str], dt.datetime],
                     pending: Sequence[Report] = ()) -> list[Closed]:
    """The stated remaining times of the newest closed milestones (STATED_LEARNED of them at most), each as the
    forecast combined it, against what it took. A closed milestone's notes are read once: they do not change."""
    tz, cal = svc.composer.team_tz, svc.composer.workdays
    records: list[Closed] = []
    for (project, uid), done in sorted(done_at.items(), key=lambda kv: kv[1], reverse=True):
        key = (project, uid, done, cal, svc.config.timezone)
        if (said := svc.stated.get(key)) is None:
            reports = svc.store.reports(project, uid)
            if mine := [r for r in pending if (r.project, r.uid) == (project, uid)]:  # as they will be stored
                reports = sorted([*reports, *mine], key=lambda r: r.at)[-RECENT_REPORTS:]
            said = svc.stated[key] = stated_records(reports, done.astimezone(tz).date(), cal, tz)
        records[:0] = said  # oldest first, as the replay keeps them
        if len(records) >= STATED_LEARNED:
            break
    return records[-STATED_LEARNED:]


def team_spread(svc: Services, pending: Sequence[Report] = ()) -> Spread:
    """The team's estimation bias and spread as the store has it now: learned from every milestone with a first
    estimate — what it expected against what it took when a note declared it done, and, while it is open, "more
    than it has taken so far" (a milestone closed in the calendar alone has no date of completion: left out).

    `pending`: notes about to be recorded, learned from as if they were (a note's reply is composed before the
    note is recorded, and must forecast as the evaluation will once it is). The same records give the same spread
    (kept by what it was learned from), whether learned before their notes were recorded or after."""
    tz = svc.composer.team_tz
    today = svc.clock.now().astimezone(tz).date()
    key = (today, svc.store.version(), svc.composer.workdays, svc.config.timezone, tuple(pending))
    # one spread is kept, by (the state it was learned in, what it was learned from)
    stamp, last = next(iter(svc.learned.items()), ((None, None), None))
    seen_key, seen_records = stamp if isinstance(stamp, tuple) else (None, None)
    if last is not None and seen_key == key:  # no note, no calendar change, same day: the same spread
        return last
    closed, plans, stated = _learned_from(svc, today, pending)
    records = (today, tuple(closed), tuple(plans), tuple(stated))
    if last is not None and seen_records == records:  # as learned before its notes were recorded (a reply's)
        spread = last
    else:
        spread = learn(closed, plans=plans, stated=stated, previous=last)  # a warm start
    svc.learned.clear()
    svc.learned[(key, records)] = spread
    return spread


def estimates(r: Report) -> bool:
    """Does a note estimate its milestone's remaining work (what a first estimate is, as the store's track record
    counts it)?"""
    return (r.remaining_days or 0) > 0 or r.eta is not None


def _learned_from(svc: Services, today: dt.date, pending: Sequence[Report]
                  ) -> tuple[list[Closed], list[Closed], list[Closed]]:
    """What the team's spread is learned from: the first estimates against what they took, the plans, and the
    stated remaining times of closed milestones — with `pending` notes counted as if recorded."""
    tz, cal = svc.composer.team_tz, svc.composer.workdays
    closed: list[Closed] = []
    plans: list[Closed] = []
    done_at = svc.store.done_at()
    for r in pending:  # a note saying Done: 100% closes its milestone (the first such note counts)
        if r.done == 100 and ((r.project, r.uid) not in done_at or r.at < done_at[(r.project, r.uid)]):
            done_at[(r.project, r.uid)] = r.at
    milestones = svc.store.milestones()
    for m in milestones:  # the plans: DTSTART to deadline, against what it took or has taken so far
        done = done_at.get((m.project, m.uid))
        if m.start is None or m.kind != "VTODO" or (done is None and m.state != "open"):
            continue
        plan = plan_record(m.start.astimezone(tz).date(), last_work_day(m.deadline, tz),
                           done.astimezone(tz).date() if done else None, today, cal)
        if plan is not None:
            plans.append(plan)
    track = svc.store.track_record(done_at)
    states = {(m.project, m.uid): m.state for m in milestones}
    for key in dict.fromkeys((r.project, r.uid) for r in pending if estimates(r)):
        if not any(map(estimates, svc.store.reports(*key))):  # the milestone's first estimate
            first = min((r for r in pending if (r.project, r.uid) == key and estimates(r)), key=lambda r: r.at)
            track.append(TrackRecord(first.at, first.remaining_days, first.eta, done_at.get(key),
                                     states.get(key, "cancelled")))
    for t in track:
        day = t.estimated_at.astimezone(tz).date()
        estimated = estimated_days(day, t.remaining_days, t.eta, cal)
        if estimated <= 0:
            continue
        if t.done_at is not None:
            closed.append(Closed(estimated, max(cal.count(day, t.done_at.astimezone(tz).date()), 0.5)))
        elif t.state == "open":
            closed.append(Closed(estimated, max(cal.count(day, today), 0.5), finished=False))
    return closed, plans, stated_remaining(svc, done_at, pending)
