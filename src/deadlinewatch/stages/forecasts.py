"""Every milestone's forecast, from the store: the team's learned bias and spread (learned again only when a note,
the calendar or the day changed) and each forecast (reused while nothing it depends on changed)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

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


def forecaster(svc: Services) -> Forecaster:
    """A forecaster with the team's spread as the store has it now (read here, once: forecasting then reads
    nothing). The evaluation takes one per pass, the inbox one per reading."""
    return Forecaster(svc.composer.workdays, svc.composer.team_tz, team_spread(svc), svc.forecasts)


def stated_remaining(svc: Services, done_at: dict[tuple[str, str], dt.datetime]) -> list[Closed]:
    """The stated remaining times of the newest closed milestones (STATED_LEARNED of them at most), each as the
    forecast combined it, against what it took. A closed milestone's notes are read once: they do not change."""
    tz, cal = svc.composer.team_tz, svc.composer.workdays
    records: list[Closed] = []
    for (project, uid), done in sorted(done_at.items(), key=lambda kv: kv[1], reverse=True):
        key = (project, uid, done, cal, svc.config.timezone)
        if (said := svc.stated.get(key)) is None:
            said = svc.stated[key] = stated_records(svc.store.reports(project, uid), done.astimezone(tz).date(),
                                                    cal, tz)
        records[:0] = said  # oldest first, as the replay keeps them
        if len(records) >= STATED_LEARNED:
            break
    return records[-STATED_LEARNED:]


def team_spread(svc: Services) -> Spread:
    """The team's estimation bias and spread as the store has it now: learned from every milestone with a first
    estimate — what it expected against what it took when a note declared it done, and, while it is open, "more
    than it has taken so far" (a milestone closed in the calendar alone has no date of completion: left out)."""
    tz = svc.composer.team_tz
    today = svc.clock.now().astimezone(tz).date()
    key = (today, svc.store.version(), svc.composer.workdays, svc.config.timezone)
    if (known := svc.learned.get(key)) is not None:  # no note, no calendar change, same day: the same spread
        return known
    cal, closed, plans = svc.composer.workdays, [], []
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
        day = t.estimated_at.astimezone(tz).date()
        estimated = estimated_days(day, t.remaining_days, t.eta, cal)
        if estimated <= 0:
            continue
        if t.done_at is not None:
            closed.append(Closed(estimated, max(cal.count(day, t.done_at.astimezone(tz).date()), 0.5)))
        elif t.state == "open":
            closed.append(Closed(estimated, max(cal.count(day, today), 0.5), finished=False))
    spread = learn(closed, plans=plans, previous=next(iter(svc.learned.values()), None),  # a warm start
                   stated=stated_remaining(svc, done_at))
    svc.learned.clear()
    svc.learned[key] = spread
    return spread
