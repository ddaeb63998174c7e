"""The manager chooses the date: a held notice composed again for the date they approve (`approve ID --date`, a
reply "approve 2026-12-11", the dashboard's date buttons and field).

The letter, the offer's rung, the timeline, the dependants it moves and their calendar updates are all made again
for the chosen date, exactly as the evaluation makes a notice (`plan_notice`); the new group replaces the held
one in the one transaction that records it (the store marks the held one superseded). A pure function of the
project as the client knows it: every caller — the command line, the control socket, the web pages, the inbox —
reads the view, calls `with_date`, and records the plan.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from deadlinewatch.adapters.store.port import OutboxItem
from deadlinewatch.core import policy
from deadlinewatch.core.model import ApprovedDate
from deadlinewatch.core.words import _, phrase
from deadlinewatch.decisions.evaluation import Plan, about, plan_notice
from deadlinewatch.decisions.forecaster import ForecastFn, pass_forecasts
from deadlinewatch.decisions.project_view import ProjectView
from deadlinewatch.decisions.studio import Studio
from deadlinewatch.errors import DateRefused, DeadlinewatchError


def check_date(c: Studio, pv: ProjectView, uid: str, date: dt.date, today: dt.date | None = None) -> None:
    """A date the manager may give the client: after the deadline and after the date the client was last
    promised (a date on or before the one it replaces is no new date: a second notice saying "we won't make the
    10th … our new date is the 9th" tells nothing), after `today` (the team's: a date passed is none the client
    can plan on), a working day for the team, and not a public holiday where the
    client is. DateRefused (exit 2) else, saying which date would do."""
    m = next((x for x in pv.milestones if x.uid == uid), None)
    if m is None:
        raise DeadlinewatchError(f"milestone {uid} of {pv.project.id} is no longer in the calendar")
    deadline = pv.agreed(m)
    if date <= deadline:
        raise DateRefused(date, phrase(_('not after the deadline of "%(name)s" (%(deadline)s); a new date must be '
                                         'later than the date it replaces'), name=m.name, deadline=deadline))
    told = pv.dates.get(uid)
    if told is not None and told.promised is not None and date <= told.promised:
        raise DateRefused(date, phrase(_('not after %(promised)s, the date the client was last promised for '
                                         '"%(name)s"; a new date must be later than the date it replaces'),
                                       promised=told.promised, name=m.name))
    if today is not None and date <= today:
        raise DateRefused(date, phrase(_("not after today (%(today)s); a new date must be one the client can still "
                                         "plan on"), today=today))
    client = c.client_days(pv.project)
    usable = policy.usable(date, c.workdays, client)
    if usable != date:
        why = phrase(_("a public holiday where the client is")) if client is not None and not client.is_working(date) \
            else phrase(_("not a working day of the team (policy.working_days, holidays, closed)"))
        raise DateRefused(date, phrase(_("%(why)s; the next day that will do is %(usable)s"), why=why,
                                       usable=usable))


def with_date(c: Studio, pv: ProjectView, held: OutboxItem, date: dt.date, forecast: ForecastFn,
              history: int, now: dt.datetime, decided_by: str) -> Plan:
    """The held notice `held`, composed again for `date` and approved: its messages go out on the next pass
    (state pending, decided by `decided_by`), with the manager's copy and any follow-up it promises."""
    if held.state != "held" or held.kind != "notice" or held.uid is None or held.project != pv.project.id:
        raise DeadlinewatchError(f"notice #{held.id} is {held.state if held.state != 'held' else held.kind}: only a "
                                 "held notice (an apology with a new date) can be given another date")
    check_date(c, pv, held.uid, date, now.astimezone(c.team_tz).date())
    m = next(x for x in pv.milestones if x.uid == held.uid)
    f = pass_forecasts(pv, forecast, now, c.workdays, [m.uid]).get(m.uid)  # as the evaluation does
    decision = policy.replan(m, f, c.workdays, pv.agreed(m), date=date)
    plan = plan_notice(c, pv, m, decision, now, history, chosen=True)
    plan.messages = [dataclasses.replace(q, state="pending", decided_by=decided_by) for q in plan.messages]
    plan.what = f"notice for \"{m.name}\" with the manager's date {date.isoformat()}, replacing #{held.id}"
    # the forecast still says later: the manager hears it
    later = (f.p50, f.p80) if f is not None and f.p50 is not None and f.p50 > date else None
    plan.approved = ApprovedDate(held.id, date, f is not None and f.team_date == date, later)
    plan.about = about(pv, plan)
    return plan
