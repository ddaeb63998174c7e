"""The clock, as a port: the real one, or one started at `--now` that keeps ticking (replays, demos, tests)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Protocol


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
