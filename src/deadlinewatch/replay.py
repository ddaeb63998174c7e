"""`deadlinewatch replay FILE.csv`: reading the file, printing the scores, writing the trace."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from deadlinewatch.config.schema import PolicySection
from deadlinewatch.core.replay import METHODS, ReplayFormatError, read_rows, replay
from deadlinewatch.core.workdays import WorkCalendar
from deadlinewatch.errors import DeadlinewatchError


def main(path: Path, policy: PolicySection | None, as_json: bool = False, trace: str | None = None) -> int:
    policy = policy or PolicySection()
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = read_rows(reader, reader.fieldnames or [])
    except OSError as e:
        raise DeadlinewatchError(f"{path}: cannot read it ({e.strerror})") from None
    except ReplayFormatError as e:
        raise DeadlinewatchError(f"{path}: {e}") from None
    if not rows:
        raise DeadlinewatchError(f"{path}: no reports in the file")
    result = replay(rows, policy.thresholds(),
                    WorkCalendar.from_policy(policy.working_days, policy.holidays, policy.closed))
    if trace:
        with open(trace, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["milestone", "reported_on", "p_miss", "p50", "p80", "alarm", "alert"])
            for t in result.trace:
                w.writerow([t.milestone, t.reported_on.isoformat(), "" if t.p_miss is None else t.p_miss,
                            t.p50.isoformat() if t.p50 else "", t.p80.isoformat() if t.p80 else "",
                            "true" if t.alarm else "false", "true" if t.alert else "false"])
    if as_json:
        print(json.dumps({"milestones": result.milestones, "misses": result.misses, "methods": result.methods},
                         indent=2))
        return 0
    out = sys.stdout
    out.write(f"{result.milestones} milestones, {result.misses} missed their deadline\n\n")
    columns = ("alarmed", "precision", "recall", "false_alarm_rate", "median_lead_days", "brier", "p80_coverage")
    out.write(f"{'method':<18}" + "".join(f"{c:>18}" for c in columns) + "\n")
    for name in METHODS:
        figures = result.methods[name]
        cells = []
        for c in columns:
            v = figures.get(c)
            digits = 4 if c == "brier" else 3  # Brier scores of good forecasts differ in the third decimal
            cells.append("-" if v is None else f"{v:.{digits}f}" if isinstance(v, float) else str(v))
        out.write(f"{name:<18}" + "".join(f"{c:>18}" for c in cells) + "\n")
    return 0
