"""Each milestone's forecast, given the team's spread learned for the pass (`Forecaster`: pure, remembered while
nothing it depends on changes), and the pass's forecasts with what each waits for (`pass_forecasts`: the
evaluation's and the reply's are the same).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from deadlinewatch.adapters.store.port import RECENT_REPORTS, TrackRecord
from deadlinewatch.core import dependencies
from deadlinewatch.core.forecast import (
    STATED_LEARNED,
    Closed,
    Spread,
    estimated_days,
    forecast,
    learn,
    plan_record,
    stated_records,
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


Key = tuple[str, str]  # a milestone: (project, uid)


@dataclass(frozen=True)
class Planned:
    """A milestone's plan as the team's spread learns from it: DTSTART's day to the day its client holds."""

    key: Key
    start: dt.date
    deadline_day: dt.date
    open: bool  # still open in the calendar (one closed there without a note saying done teaches nothing)


@dataclass(frozen=True)
class Learning:
    """What the team's spread is learned from, read from the store at once (stages/state.read_learning): when a
    note first said each milestone done, the plans, every milestone's first estimate, and the stated remaining
    times of the newest closed milestones (`stated`, newest first, each as stated_records reads its notes). The
    spread is then learned from it, with notes not yet recorded, by `learned_from` and `learn`: pure."""

    today: dt.date
    workdays: WorkCalendar
    tz: zoneinfo.ZoneInfo
    done_at: Mapping[Key, dt.datetime]
    planned: tuple[Planned, ...]
    track: tuple[TrackRecord, ...]
    states: Mapping[Key, str]
    stated: tuple[tuple[Key, dt.datetime, tuple[Closed, ...]], ...]


# what a spread is learned from: the day, the first estimates, the plans, the stated remaining times (equal records
# learn the same spread, however they were read)
Records = tuple[dt.date, tuple[Closed, ...], tuple[Closed, ...], tuple[Closed, ...]]


def learned_from(learning: Learning, pending: Sequence[Report] = (),
                 stored: Mapping[Key, Sequence[Report]] | None = None) -> Records:
    """What the team's spread is learned from: the first estimates against what they took, the plans, and the
    stated remaining times of the newest closed milestones — with `pending` notes counted as if recorded
    (`stored`: the recorded notes of the milestones they are about, as the store reads them)."""
    cal, tz, today = learning.workdays, learning.tz, learning.today
    stored = stored or {}
    done_at = dict(learning.done_at)
    for r in pending:  # a note saying Done: 100% closes its milestone (the first such note counts)
        if r.done == 100 and ((r.project, r.uid) not in done_at or r.at < done_at[(r.project, r.uid)]):
            done_at[(r.project, r.uid)] = r.at
    plans: list[Closed] = []
    for p in learning.planned:  # the plans: DTSTART to deadline, against what it took or has taken so far
        done = done_at.get(p.key)
        if done is None and not p.open:
            continue
        if (plan := plan_record(p.start, p.deadline_day, done.astimezone(tz).date() if done else None, today,
                                cal)) is not None:
            plans.append(plan)
    track = [t if t.key not in done_at or t.done_at == done_at[t.key] else replace(t, done_at=done_at[t.key])
             for t in learning.track]
    for key in dict.fromkeys((r.project, r.uid) for r in pending if estimates(r)):
        if not any(map(estimates, stored.get(key, ()))):  # the milestone's first estimate
            first = min((r for r in pending if (r.project, r.uid) == key and estimates(r)), key=lambda r: r.at)
            track.append(TrackRecord(first.at, first.remaining_days, first.eta, done_at.get(key),
                                     learning.states.get(key, "cancelled"), key))
    closed: list[Closed] = []
    for t in track:
        day = t.estimated_at.astimezone(tz).date()
        estimated = estimated_days(day, t.remaining_days, t.eta, cal)
        if estimated <= 0:
            continue
        if t.done_at is not None:
            closed.append(Closed(estimated, max(cal.count(day, t.done_at.astimezone(tz).date()), 0.5)))
        elif t.state == "open":
            closed.append(Closed(estimated, max(cal.count(day, today), 0.5), finished=False))
    return today, tuple(closed), tuple(plans), tuple(_stated(learning, done_at, pending, stored))


def _stated(learning: Learning, done_at: Mapping[Key, dt.datetime], pending: Sequence[Report],
            stored: Mapping[Key, Sequence[Report]]) -> list[Closed]:
    """The stated remaining times of the newest closed milestones (STATED_LEARNED of them at most), oldest first:
    as read with the store (`learning.stated`), but read again from their notes with `pending` for the milestones
    those notes are about or close."""
    touched = {(r.project, r.uid) for r in pending}
    read = {key: (done, said) for key, done, said in learning.stated}
    closed = sorted(({key: done for key, (done, _) in read.items()} | {k: done_at[k] for k in touched
                                                                         if k in done_at}).items(),
                    key=lambda kv: kv[1], reverse=True)
    records: list[Closed] = []
    for key, done in closed:
        if key in touched:
            mine = [r for r in pending if (r.project, r.uid) == key]
            reports = sorted([*stored.get(key, ()), *mine], key=lambda r: r.at)[-RECENT_REPORTS:]
            said: Sequence[Closed] = stated_records(reports, done.astimezone(learning.tz).date(), learning.workdays,
                                                    learning.tz)
        else:
            said = read[key][1]
        records[:0] = said  # oldest first, as the replay keeps them
        if len(records) >= STATED_LEARNED:
            break
    return records[-STATED_LEARNED:]


def spread_of(records: Records, previous: Spread | None = None) -> Spread:
    """The team's spread learned from these records (`previous`: one learned from nearly the same, to start
    from)."""
    _, closed, plans, stated = records
    return learn(closed, plans=plans, stated=stated, previous=previous)
