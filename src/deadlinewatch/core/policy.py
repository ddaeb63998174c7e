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
from deadlinewatch.core.workdays import WEEKDAYS, WorkCalendar

T = TypeVar("T")


@dataclass(frozen=True)
class Promise:
    """What the client was told about a milestone, and what was decided for them but not told.

    `promised` is a date the client was told: a notice sent, or on its way (approved, or sent without approval).
    A notice held for the manager or rejected told them nothing: its date is `withheld` — the latest date decided
    and not told, against which the policy judges whether a new decision is news (so that a rejected or
    waiting notice is not decided again every pass), while the letters judge "again" and "broken" against
    `promised` alone."""

    promised: dt.date | None  # None: never warned
    delivered_sent: bool = False
    withheld: dt.date | None = None  # the latest date held for the manager or rejected, newer than `promised`


@dataclass(frozen=True)
class Policy:
    """The thresholds of the decisions; their values and defaults are the [policy] keys' (config/schema.py,
    `PolicySection.thresholds`), declared there only."""

    warn_probability: float
    renotify_slip_days: int
    alert_probability: float  # the manager's early risk alert (core/alert.py)


def promised_date(forecast: Forecast) -> dt.date | None:
    """The date we promise: the forecast's P80, or the team's own date when that is later (what the team itself
    says outranks the model)."""
    if forecast.p80 is None:
        return forecast.team_date
    if forecast.team_date is not None and forecast.team_date > forecast.p80:
        return forecast.team_date
    return forecast.p80


def usable(day: dt.date, cal: WorkCalendar, client: WorkCalendar | None = None) -> dt.date:
    """The first date from `day` on that the client can use: a working day for the team and not a public holiday
    where the client is (`client.holidays`) — a promise of Christmas Day helps no one."""
    for _day in range(366):
        if cal.is_working(day) and (client is None or client.is_working(day)):
            return day
        day += dt.timedelta(days=1)
    return day


UNESTIMATED_NOTICE_DAYS = 2  # working days before a date the client holds when a milestone no estimate replans
UNESTIMATED_DAYS = 5  # the placeholder such a notice's draft carries: a working week after that date


def unestimated(forecast: Forecast | None) -> bool:
    """No note gives the milestone a date to promise: no remaining time, ETA or trend (or no note at all). A notice
    then carries a placeholder (`replan`) and waits for the manager under any approval (decisions/evaluation)."""
    return forecast is not None and promised_date(forecast) is None


def replan(milestone: Milestone, forecast: Forecast | None, cal: WorkCalendar, deadline_day: dt.date,
           client: WorkCalendar | None = None, date: dt.date | None = None, today: dt.date | None = None
           ) -> NoticeDecision:
    """The notice as it would be sent: the new date — `date` when the manager chose one, else the forecast's P80
    or the team's own date when later — never the deadline's own day or earlier, moved to a day the client can
    use; and the slip, in working days from the deadline's date (the offer ladder's rung). Without any estimate,
    a working week after the date the client holds: a placeholder the manager is asked to replace, never one
    working day at a time (a silent milestone told its client "another new date" every morning). `today` (the
    team's): a date the program gives is never one that has passed — after a daemon was down past the deadline,
    the placeholder counted from the deadline was a "new date" a week gone."""
    new = date or (promised_date(forecast) if forecast is not None else None)
    if new is None:
        target = forecast.target if forecast is not None and forecast.target else deadline_day
        new = cal.add(max(deadline_day, target, today or deadline_day), UNESTIMATED_DAYS)
    earliest = cal.add(deadline_day, 1) if date is not None or today is None else \
        max(cal.add(deadline_day, 1), cal.add(today, 1))
    new = usable(max(new, earliest), cal, client)
    slip = max(cal.count(deadline_day, new), 0)
    return NoticeDecision(milestone.project, milestone.uid, "notice", new, slip,
                          forecast.reason if forecast is not None else "", forecast=forecast)


LITTLE_HISTORY = 5  # closed milestones: with fewer, a team's bias is still mostly the reference prior's
OUTRUN_FACTOR = 1.5


def outruns_team(promised: dt.date | None, team: dt.date | None, today: dt.date, history: int,
                 cal: WorkCalendar) -> float | None:
    """How many times as far off as the team's own date a promise is, when that is more than OUTRUN_FACTOR and the
    forecast knows the team too little (fewer than LITTLE_HISTORY closed milestones) to overrule it: the date is
    then the reference class's, not this team's, and a person should look before a client reads it. None else."""
    if promised is None or team is None or history >= LITTLE_HISTORY:
        return None
    factor = max(cal.count(today, promised), 1) / max(cal.count(today, team), 1)
    return factor if factor > OUTRUN_FACTOR else None


def decide(
    milestone: Milestone,
    forecast: Forecast | None,
    promise: Promise,
    policy: Policy,
    cal: WorkCalendar,
    deadline_day: dt.date,
    today: dt.date | None = None,
    client: WorkCalendar | None = None,
) -> NoticeDecision | None:
    """The notice the client must get now, if any. `today` (the team's date) lets a promise about to be broken
    be announced whatever the size of the slip: the next working day is the last chance to say so before it
    passes. `client`: the client's public holidays, which no promised date falls on."""
    if milestone.state == "done":
        if promise.promised is not None and not promise.delivered_sent:
            return NoticeDecision(milestone.project, milestone.uid, "delivered", None, 0, "delivered")
        return None
    if milestone.state != "open" or forecast is None:
        return None
    judged = promise.promised or deadline_day  # the date the client holds
    # nothing to forecast from (no note, or none with a remaining time, an ETA or a trend) — but a date about to
    # pass without `Done: 100%` is a miss all the same, and the client hears it before that date: early enough for
    # the manager, who is asked for the date (the notice waits), to have a working day to give it
    if forecast.p_miss is None and (today is None or cal.count(today, judged) > UNESTIMATED_NOTICE_DAYS):
        return None
    # a team that says it will be late is late: its own date (ETA, or where its Remaining ends) past the date
    # the client holds makes the notice due at once, whatever the probability
    admitted = forecast.team_date is not None and forecast.team_date > judged
    if forecast.p_miss is not None and forecast.p_miss < policy.warn_probability and not admitted:
        return None
    notice = replan(milestone, forecast, cal, deadline_day, client, today=today)
    assert notice.promised is not None
    last = promise.withheld or promise.promised  # the latest date decided: told, held or rejected
    if last is None:
        return notice
    moved = cal.count(last, notice.promised)
    about_to_break = today is not None and notice.promised > judged and cal.count(today, judged) <= 1 and moved > 0
    if moved > policy.renotify_slip_days or about_to_break:
        # a broken promise is a new miss: a second apology, with the new date — small wobbles of the forecast
        # do not make one, nor does a date the manager holds or rejected, but a promise is never let pass
        # unannounced
        return notice
    return None


def pick_offer(offers: Sequence[tuple[int, T]], slip_days: int) -> T | None:
    """The rung with the largest min_slip_days <= slip; none when no rung applies."""
    best: tuple[int, T] | None = None
    for min_slip, text in offers:
        if min_slip <= slip_days and (best is None or min_slip >= best[0]):
            best = (min_slip, text)
    return best[1] if best else None


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


def _hours_passed(hours: int) -> Phrase:
    """Why a held letter went out by approval_hours ("1 hours passed" read wrong)."""
    return phrase(_("an hour passed without a decision")) if hours == 1 else \
        phrase(_("%(hours)s hours passed without a decision"), hours=hours)


def hold_expiry(created: dt.datetime, approval_hours: int, deadline_day: dt.date | None, cal: WorkCalendar,
                tz: dt.tzinfo, promised: dt.date | None = None) -> tuple[dt.datetime, Phrase]:
    """When a held client message goes out undecided, and why: after `approval_hours`, or at the start of the
    working day before the deadline, whichever comes first — a late apology is worse than an unreviewed one. The
    deadline is the date the client holds: the later one they were last `promised`, if any (a second notice is not
    rushed out by a deadline long past)."""
    if deadline_day is not None and promised is not None:
        deadline_day = max(deadline_day, promised)
    by_hours = created + dt.timedelta(hours=approval_hours)
    if deadline_day is None:
        return by_hours, _hours_passed(approval_hours)
    day_before = deadline_day - dt.timedelta(days=1)
    while not cal.is_working(day_before) and day_before > deadline_day - dt.timedelta(days=30):
        day_before -= dt.timedelta(days=1)
    before_deadline = dt.datetime.combine(day_before, dt.time(0), tzinfo=tz)
    if created.astimezone(tz).date() > deadline_day:  # made after the date it breaks: late news waits for nobody
        return created, phrase(_("the date the client holds (%(date)s) has passed: the news could not wait"),
                               date=deadline_day)
    if before_deadline < by_hours:
        return before_deadline, phrase(_("the deadline (%(date)s) is one working day away"), date=deadline_day)
    return by_hours, _hours_passed(approval_hours)
