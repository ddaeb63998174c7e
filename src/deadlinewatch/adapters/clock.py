"""The clock, as a port: the real one, or one started at `--now` that keeps ticking (replays, demos, tests)."""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo
from typing import Protocol

from deadlinewatch.errors import UsageError


class Clock(Protocol):
    def now(self) -> dt.datetime: ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class ShiftedClock:
    """Starts at `start` and keeps ticking with the real clock (CONTRACT.md: `run --now`)."""

    def __init__(self, start: dt.datetime) -> None:
        self._start = start
        self._t0 = time.monotonic()

    def now(self) -> dt.datetime:
        return self._start + dt.timedelta(seconds=time.monotonic() - self._t0)


class FixedClock:
    """Stands still until told to move: one pass per simulated moment (demo, tests)."""

    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def now(self) -> dt.datetime:
        return self.at


def parse_now(text: str | None, timezone: str) -> dt.datetime | None:
    """`--now`: ISO 8601; without an offset it is in `timezone`; a bare date means 00:00."""
    if text is None:
        return None
    try:
        if len(text) == 10:
            moment = dt.datetime.combine(dt.date.fromisoformat(text), dt.time(0))
        else:
            moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f'--now "{text}": expected an ISO 8601 date or time, e.g. 2026-12-01T09:00') from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zoneinfo.ZoneInfo(timezone))
    return moment
