"""When the client must hear from us (CONTRACT.md "The client notice").

A warning goes out as soon as the miss probability reaches `warn_probability`, or the team's own ETA passes the
date, whichever comes first — before the deadline, never after it passed unannounced. Once warned, the milestone
is judged against the date we promised: a second notice goes out when the promised date moves later by more than
`renotify_slip_days` working days (no flip-flopping on the forecast's wobbles), or, by any amount, when the promise
is about to be broken (its day is at most one working day away and the work is forecast to miss it) — nothing
slips unannounced. A warned milestone that is delivered gets a short "delivered" note.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from deadlinewatch.core.model import Forecast, Milestone, NoticeDecision
from deadlinewatch.core.words import Phrase, _, phrase
from deadlinewatch.core.workdays import WorkCalendar

T = TypeVar("T")


@dataclass(frozen=True)
class Promise:
    """What the client was last told about a milestone."""

    promised: dt.date | None  # None: never warned
    delivered_sent: bool = False


@dataclass(frozen=True)
class Policy:
    warn_probability: float = 0.6
    renotify_slip_days: int = 3
    alert_probability: float = 0.5  # the manager's early risk alert (core/alert.py)


def promised_date(forecast: Forecast) -> dt.date | None:
    """The date we promise: the forecast's P80, or the team's ETA when that is later."""
    if forecast.p80 is None:
        return forecast.eta
    if forecast.eta is not None and forecast.eta > forecast.p80:
        return forecast.eta
    return forecast.p80


LITTLE_HISTORY = 5  # closed milestones: with fewer, a team's bias is still mostly the reference prior's
OUTRUN_FACTOR = 1.5


def outruns_team(promised: dt.date | None, eta: dt.date | None, today: dt.date, history: int,
                 cal: WorkCalendar) -> float | None:
    """How many times as far off as the team's own ETA a promise is, when that is more than OUTRUN_FACTOR and the
    forecast knows the team too little (fewer than LITTLE_HISTORY closed milestones) to overrule it: the date is
    then the reference class's, not this team's, and a person should look before a client reads it. None else."""
    if promised is None or eta is None or history >= LITTLE_HISTORY:
        return None
    factor = max(cal.count(today, promised), 1) / max(cal.count(today, eta), 1)
    return factor if factor > OUTRUN_FACTOR else None


def decide(
    milestone: Milestone,
    forecast: Forecast | None,
    promise: Promise,
    policy: Policy,
    cal: WorkCalendar,
    deadline_day: dt.date,
    today: dt.date | None = None,
) -> NoticeDecision | None:
    """The notice the client must get now, if any. `today` (the team's date) lets a promise about to be broken
    be announced whatever the size of the slip: the next working day is the last chance to say so before it
    passes."""
    if milestone.state == "done":
        if promise.promised is not None and not promise.delivered_sent:
            return NoticeDecision(milestone.project, milestone.uid, "delivered", None, 0, "delivered")
        return None
    if milestone.state != "open" or forecast is None or forecast.p_miss is None:
        return None
    # a team that says it will be late is late: its own ETA past the date makes the notice due at once
    admitted = forecast.eta is not None and forecast.eta > (promise.promised or deadline_day)
    if forecast.p_miss < policy.warn_probability and not admitted:
        return None
    new = promised_date(forecast)
    if new is None:
        # a passed date without any estimate: promise the next working day rather than nothing
        new = cal.add(max(deadline_day, forecast.target or deadline_day), 1)
    new = max(new, cal.add(deadline_day, 1))
    slip = max(cal.count(deadline_day, new), 0)
    if promise.promised is None:
        return NoticeDecision(milestone.project, milestone.uid, "notice", new, slip, forecast.reason,
                              forecast=forecast)
    moved = cal.count(promise.promised, new)
    about_to_break = today is not None and moved > 0 and cal.count(today, promise.promised) <= 1
    if moved > policy.renotify_slip_days or about_to_break:
        # a broken promise is a new miss: a second apology, with the new date — small wobbles of the forecast
        # do not make one, but a promise is never let pass unannounced
        return NoticeDecision(milestone.project, milestone.uid, "notice", new, slip, forecast.reason,
                              forecast=forecast)
    return None


def pick_offer(offers: Sequence[tuple[int, T]], slip_days: int) -> T | None:
    """The rung with the largest min_slip_days <= slip; none when no rung applies."""
    best: tuple[int, T] | None = None
    for min_slip, text in offers:
        if min_slip <= slip_days and (best is None or min_slip >= best[0]):
            best = (min_slip, text)
    return best[1] if best else None


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def weekly_slot(now: dt.datetime, spec: str, tz: dt.tzinfo) -> dt.datetime | None:
    """The most recent weekly check-in time at or before `now` ("mon 09:00" in the client's zone), or None
    when the check-in is turned off ("")."""
    if not spec:
        return None
    day, _, hhmm = spec.partition(" ")
    hour, minute = (int(x) for x in hhmm.split(":"))
    local = now.astimezone(tz)
    date = local.date() - dt.timedelta(days=(local.weekday() - WEEKDAYS.index(day)) % 7)
    slot = dt.datetime.combine(date, dt.time(hour, minute), tzinfo=tz)
    return slot - dt.timedelta(days=7) if slot > local else slot


def hold_expiry(created: dt.datetime, approval_hours: int, deadline_day: dt.date | None, cal: WorkCalendar,
                tz: dt.tzinfo) -> tuple[dt.datetime, Phrase]:
    """When a held client message goes out undecided, and why: after `approval_hours`, or at the start of the
    working day before the deadline, whichever comes first — a late apology is worse than an unreviewed one."""
    by_hours = created + dt.timedelta(hours=approval_hours)
    if deadline_day is None:
        return by_hours, phrase(_("%(hours)s hours passed without a decision"), hours=approval_hours)
    day_before = deadline_day - dt.timedelta(days=1)
    while not cal.is_working(day_before) and day_before > deadline_day - dt.timedelta(days=30):
        day_before -= dt.timedelta(days=1)
    before_deadline = dt.datetime.combine(day_before, dt.time(0), tzinfo=tz)
    if before_deadline < by_hours:
        return before_deadline, phrase(_("the deadline (%(date)s) is one working day away"), date=deadline_day)
    return by_hours, phrase(_("%(hours)s hours passed without a decision"), hours=approval_hours)
