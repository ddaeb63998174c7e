"""Every milestone's forecast, from the store: the team's learned bias and spread (learned again only when a note,
the calendar or the day changed) and each forecast (reused while nothing it depends on changed)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from deadlinewatch.adapters.store import ClientDate
from deadlinewatch.core.forecast import (
    Closed,
    Spread,
    estimated_days,
    forecast,
    last_work_day,
    learn,
    plan_record,
)
from deadlinewatch.core.milestones import effective_state
from deadlinewatch.core.model import Forecast, Milestone, Report
from deadlinewatch.services import Services

FORECASTS_KEPT = 100_000


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
