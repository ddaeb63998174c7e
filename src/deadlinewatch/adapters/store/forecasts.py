"""Each open milestone's latest forecast, and the manager's risk alerts that are up."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from deadlinewatch.adapters.store.database import Database, _date, _iso
from deadlinewatch.core import words
from deadlinewatch.core.model import Forecast, RiskAlert


class Forecasts(Database):
    """Each open milestone's latest forecast, and the manager's risk alerts that are up."""

    def save_forecasts(self, forecasts: Sequence[Forecast], now: dt.datetime) -> None:
        """A pass's forecasts, in one transaction (one fsync, not one per milestone)."""
        computed_at = now.isoformat()  # the pass's time, written once and not per forecast
        with self.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO forecasts (project, uid, computed_at, p50, p80, p_miss, reason, target, words)"
                " VALUES (?,?,?,?,?,?,?,?,?)",
                [(f.project, f.uid, computed_at, _iso(f.p50), _iso(f.p80), f.p_miss, f.english, _iso(f.target),
                  words.dumps(f.words)) for f in forecasts],
            )

    def forecast(self, project: str, uid: str) -> Forecast | None:
        r = self.db.execute("SELECT * FROM forecasts WHERE project = ? AND uid = ?", (project, uid)).fetchone()
        if r is None:
            return None
        return Forecast(r["project"], r["uid"], _date(r["p50"]), _date(r["p80"]), r["p_miss"], r["reason"],
                        _date(r["target"]), words=words.loads(r["words"]))

    def at_risk(self, warn_probability: float) -> int:
        """Open milestones whose latest forecast reaches the warning threshold."""
        return int(self.db.execute(
            "SELECT COUNT(*) FROM forecasts f JOIN milestones m USING (project, uid)"
            " WHERE m.state = 'open' AND f.p_miss >= ?", (warn_probability,)).fetchone()[0])

    def risk_alerts(self, project: str | None = None) -> dict[tuple[str, str], RiskAlert]:
        """The alerts that are up: every project's, or one project's (what its evaluation reads)."""
        rows = self.db.execute("SELECT * FROM risk_alerts WHERE ? IS NULL OR project = ?", (project, project))
        return {(r["project"], r["uid"]): RiskAlert(r["p_miss"], _date(r["p80"]), _date(r["target"]),
                                                    dt.datetime.fromisoformat(r["raised"])) for r in rows}

    def set_risk_alert(self, project: str, uid: str, alert: RiskAlert | None) -> None:
        with self.transaction() as db:
            if alert is None:
                db.execute("DELETE FROM risk_alerts WHERE project = ? AND uid = ?", (project, uid))
            else:
                db.execute("INSERT OR REPLACE INTO risk_alerts VALUES (?,?,?,?,?,?)",
                           (project, uid, alert.p_miss, _iso(alert.p80), _iso(alert.target), alert.raised.isoformat()))
