"""Each open milestone's latest forecast."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from deadlinewatch.adapters.store.database import Database, _date, _iso
from deadlinewatch.core.model import Forecast


class Forecasts(Database):
    """Each open milestone's latest forecast."""

    def save_forecasts(self, forecasts: Sequence[Forecast], now: dt.datetime) -> None:
        """A pass's forecasts, in one transaction (one fsync, not one per milestone)."""
        with self.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO forecasts VALUES (?,?,?,?,?,?,?,?)",
                [(f.project, f.uid, now.isoformat(), _iso(f.p50), _iso(f.p80), f.p_miss, f.reason, _iso(f.target))
                 for f in forecasts],
            )

    def forecast(self, project: str, uid: str) -> Forecast | None:
        r = self.db.execute("SELECT * FROM forecasts WHERE project = ? AND uid = ?", (project, uid)).fetchone()
        if r is None:
            return None
        return Forecast(r["project"], r["uid"], _date(r["p50"]), _date(r["p80"]), r["p_miss"], r["reason"],
                        _date(r["target"]))

    def at_risk(self, warn_probability: float) -> int:
        """Open milestones whose latest forecast reaches the warning threshold."""
        return int(self.db.execute(
            "SELECT COUNT(*) FROM forecasts f JOIN milestones m USING (project, uid)"
            " WHERE m.state = 'open' AND f.p_miss >= ?", (warn_probability,)).fetchone()[0])
