"""Working-day arithmetic: the team's weekdays minus public holidays and closures.

Every `*_days` figure in deadlinewatch counts these days. "N working days after D" never counts D itself:
a note sent on Monday saying "Remaining: 4 days" means done by the end of Friday.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property, lru_cache

import holidays as holidays_lib

# the days as the config names them, Monday first: a name's index is its date.weekday()
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_INDEX = {day: i for i, day in enumerate(WEEKDAYS)}

LATELY = dt.timedelta(days=60)  # a day and month written without a year that passed this lately is that one


def day_and_month(month: int, day: int, today: dt.date) -> dt.date:
    """A date written with its day and month and no year ("ETA: 4 December", "your meeting on 12 December"): its
    next occurrence from today on, today's own included — unless it passed lately (LATELY) and is nearer behind
    than ahead. "7 December" written on 7 December is that day, not next year's; "4 December" written on the 7th
    is three days past (the reply shows it so), and the meeting of 12 December named on the 29th is over; written
    in June, it is this December's. The one reading of a yearless date: notes, the manager's "approve 2 January",
    the client's context."""
    days = [_on(month, day, today.year + k) for k in (-1, 0, 1)]
    coming = min(d for d in days if d >= today)
    passed = max(d for d in days if d < today)
    return passed if today - passed <= LATELY and today - passed < coming - today else coming


def _on(month: int, day: int, year: int) -> dt.date:
    """That day of that year (29 February in a common year: the 28th)."""
    return dt.date(year, month, 28 if (month, day) == (2, 29) and not calendar.isleap(year) else day)


@dataclass(frozen=True)
class WorkCalendar:
    working_weekdays: frozenset[int] = frozenset(range(5))
    holidays: str = ""  # "TR", "US-CA", or ""
    closed: frozenset[dt.date] = frozenset()

    @classmethod
    def from_policy(cls, working_days: Iterable[str], holidays: str, closed: Iterable[dt.date]) -> WorkCalendar:
        """From the `[policy]` keys working_days, holidays and closed."""
        return cls(
            working_weekdays=frozenset(WEEKDAY_INDEX[d] for d in working_days),
            holidays=holidays or "",
            closed=frozenset(closed),
        )

    def __hash__(self) -> int:
        # the working-day caches key on the calendar: hash its fields once, not on every lookup
        return self._hash

    @cached_property
    def _hash(self) -> int:
        return hash((self.working_weekdays, self.holidays, self.closed))

    @cached_property
    def _public(self) -> holidays_lib.HolidayBase | None:
        if not self.holidays:
            return None
        country, _, subdiv = self.holidays.partition("-")
        return holidays_lib.country_holidays(country, subdiv=subdiv or None)

    def is_working(self, day: dt.date) -> bool:
        if day.weekday() not in self.working_weekdays or day in self.closed:
            return False
        return not (self._public is not None and day in self._public)

    @lru_cache(maxsize=65536)  # noqa: B019 - as count(): every forecast asks for its P50 and P80 days
    def add(self, day: dt.date, n: int) -> dt.date:
        """The n-th working day after `day` (n = 0: `day` itself)."""
        while n > 0:
            day += dt.timedelta(days=1)
            if self.is_working(day):
                n -= 1
        return day

    @lru_cache(maxsize=65536)  # noqa: B019 - calendars are few, frozen and hashable; the cache is the point
    def count(self, start: dt.date, end: dt.date) -> int:
        """Working days in (start, end]; negative when end is before start."""
        if end < start:
            return -self.count(end, start)
        n, day = 0, start
        # a simple walk: spans here are weeks or months, and holidays make closed forms fragile
        while day < end:
            day += dt.timedelta(days=1)
            if self.is_working(day):
                n += 1
        return n
