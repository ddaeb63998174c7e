"""The manager's early risk alert (CONTRACT.md `policy.alert_probability`): the manager hears that a milestone is
at risk while the team can still act — add a person, cut scope — well before the client must be told.

An episode: the alert goes up when P(miss) reaches `alert_probability`; it is said again only when the outlook
worsens markedly (P(miss) up by WORSE_BY, or P80 later by more than WORSE_DAYS working days since it was last
said); it comes down with an all-clear when P(miss) falls CLEAR_BELOW under the threshold (hysteresis: no
flapping on a forecast's wobble). A milestone closed, or whose target changed because the client was given a
new date, ends its episode without a mail: the client notice's own mail to the manager said what happened.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from deadlinewatch.core.forecast import percent_pace
from deadlinewatch.core.model import Forecast, Report, RiskAlert
from deadlinewatch.core.workdays import WorkCalendar

CLEAR_BELOW = 0.15
WORSE_BY = 0.2
WORSE_DAYS = 5


def change(state: str, f: Forecast | None, up: RiskAlert | None, alert_probability: float,
           cal: WorkCalendar) -> str | None:
    """What happens to a milestone's alert after this forecast: "raise", "worse", "clear", "end" (silently) or
    nothing."""
    if state != "open" or f is None or f.p_miss is None:
        return "end" if up is not None and state != "open" else None
    if up is None:
        return "raise" if f.p_miss >= alert_probability else None
    if up.target != f.target:
        return "end"  # the client was given a new date: a new episode may begin against it
    if f.p_miss < alert_probability - CLEAR_BELOW:
        return "clear"
    later = up.p80 is not None and f.p80 is not None and cal.count(up.p80, f.p80) > WORSE_DAYS
    if f.p_miss >= up.p_miss + WORSE_BY or later:
        return "worse"
    return None


@dataclass(frozen=True)
class Pace:
    """The pace the forecast counts on (core/forecast.py `percent_pace`: its reason states the same figures) and
    the pace the date needs, in working days."""

    done: int | None  # percent done at the latest note
    per_day: float | None  # points a working day (None: too little to tell; 0: no clear progress)
    needed_days: float | None  # working days left after the latest note at that pace: (100 - done) / per_day
    remaining_days: int  # working days until the target

    @property
    def factor(self) -> float | None:
        """How much faster the work must go to make the date (2.0: twice the pace); None when it cannot tell."""
        if self.needed_days is None or self.remaining_days <= 0:
            return None
        return self.needed_days / self.remaining_days


def pace(reports: Sequence[Report], today: dt.date, target: dt.date, cal: WorkCalendar,
         tz: dt.tzinfo | None = None) -> Pace:
    """The notes' pace as the forecast counts on it, and what it means for the target. `tz`: the team's zone, in
    which each note has its day (None: the zone each note's time carries)."""
    remaining = max(cal.count(today, target), 0)
    latest = next((r.done for r in sorted(reports, key=lambda r: r.at, reverse=True) if r.done is not None), None)
    found = percent_pace(reports, cal, tz)
    if found is None:
        return Pace(latest, None, None, remaining)
    if not found.clear:  # the forecast's "no clear progress": no pace to count on
        return Pace(latest, 0.0, None, remaining)
    return Pace(latest, found.per_day, found.days_left, remaining)
