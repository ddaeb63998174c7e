"""Synthetic project histories with known truth, written as replay files and scored by `deadlinewatch replay`'s
own code (the forecaster and policy the daemon uses).

Little's real data has no percent-complete and no stated remaining time; this covers them. Each milestone:
  * a planned length D (10–60 working days from its start; the deadline is the D-th working day);
  * a true length T = D x a log-normal overrun (median about 1, so about half of the milestones are late), plus
    blocked spells (work stops 3–8 working days) for some;
  * a progress report every 2–3 working days until it is done: percent complete (the true share done, plus
    noise, never below the last report while blocked), and the team's stated remaining working days (the
    truth, times an optimistic log-normal error); some milestones fall silent for 5–10 working days.
Three noise levels scale the reports' errors. Milestones start two calendar days apart over more than a year,
so the team's bias is learned from those that closed earlier in the replay, as in the daemon.

Scores as CONTRACT.md defines them, plus the median lead as a share of the milestone's planned length (the
simulator's targets at every noise level: the client notice's precision >= 0.85 and recall >= 0.9; the early
warning's lead >= 40% of the duration — the manager's risk alert's, since the client notice waits for near
certainty, #13).

Run: python bench/simulate.py [--milestones 300] [--seed 7] [--out DIR] [--json]. Printed, never asserted.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import random
import statistics
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deadlinewatch.core.policy import Policy
from deadlinewatch.core.replay import HEADER, METHODS, Result, Row, read_rows, replay
from deadlinewatch.core.workdays import WorkCalendar

START = dt.date(2025, 1, 6)


@dataclass(frozen=True)
class Noise:
    name: str
    percent: float  # points of percent-complete noise (sd)
    remaining: float  # sd of the log error of the team's stated remaining time
    optimism: float  # median of that error: the team's remaining estimates run short by this factor
    silent_share: float  # share of milestones with a silent spell


LEVELS = (
    Noise("low", percent=3, remaining=0.15, optimism=0.9, silent_share=0.1),
    Noise("medium", percent=8, remaining=0.35, optimism=0.8, silent_share=0.25),
    Noise("high", percent=15, remaining=0.6, optimism=0.7, silent_share=0.4),
)


def simulate(noise: Noise, milestones: int, seed: int, cal: WorkCalendar) -> list[dict[str, str]]:
    rnd = random.Random(f"{seed}-{noise.name}")
    rows = []
    for i in range(milestones):
        start = START + dt.timedelta(days=2 * i)
        while not cal.is_working(start):
            start += dt.timedelta(days=1)
        planned = rnd.randint(10, 60)
        deadline = cal.add(start, planned)
        work = max(round(planned * math.exp(rnd.gauss(0.0, 0.3))), 2)  # working days of actual work
        blocked: set[int] = set()
        if rnd.random() < 0.25:  # a blocked spell: these days add nothing
            at = rnd.randint(1, max(work - 1, 1))
            blocked = set(range(at, at + rnd.randint(3, 8)))
        length = work + len(blocked)  # working days from start to done
        done_on = cal.add(start, length)
        silent: set[int] = set()
        if rnd.random() < noise.silent_share:
            at = rnd.randint(1, max(length - 1, 1))
            silent = set(range(at, at + rnd.randint(5, 10)))
        day, shown, progress = 1, 0.0, 0
        while day < length:
            progress = sum(1 for d in range(1, day + 1) if d not in blocked)
            if day not in silent:
                true_share = progress / work
                percent = min(max(true_share * 100 + rnd.gauss(0, noise.percent), 0.0), 99.0)
                if day in blocked:
                    percent = shown  # nothing moves while blocked
                shown = max(percent, shown - 2 * noise.percent)  # teams rarely report going backwards much
                remaining = (length - day) * noise.optimism * math.exp(rnd.gauss(0, noise.remaining))
                rows.append(dict(project=f"sim-{noise.name}", milestone=f"m{i:04d}", deadline=deadline.isoformat(),
                                 started_on=start.isoformat(), reported_on=cal.add(start, day).isoformat(),
                                 percent_done=f"{shown:.0f}", remaining_days=f"{max(remaining, 0.5):.1f}", eta="",
                                 completed_on=done_on.isoformat()))
            day += rnd.choice((2, 3))
    return rows


def lead_share(result: Result, rows: Sequence[Row], method: str = "deadlinewatch") -> float | None:
    """Median over caught misses of (deadline - first alarm) / (deadline - start): of the client notice
    (`deadlinewatch`) or the manager's risk alert (`deadlinewatch_alert`)."""
    start = {(r.project, r.milestone): r.started_on for r in rows}
    shares = []
    for key, o in result.outcomes.items():
        first = o.tracks[method].first_alarm
        begun = start[key]
        if o.missed and first is not None and first <= o.deadline and begun is not None:
            shares.append((o.deadline - first).days / max((o.deadline - begun).days, 1))
    return round(statistics.median(shares), 3) if shares else None


def run(noise: Noise, milestones: int, seed: int, out: Path, policy: Policy, cal: WorkCalendar
        ) -> dict[str, Any]:
    records = simulate(noise, milestones, seed, cal)
    path = out / f"simulated-{noise.name}.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["project", *HEADER])
        w.writeheader()
        w.writerows(records)
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = read_rows(reader, reader.fieldnames or [])
    result = replay(rows, policy, cal)
    return dict(file=str(path), milestones=result.milestones, misses=result.misses, methods=result.methods,
                lead_share=lead_share(result, rows), alert_lead_share=lead_share(result, rows, "deadlinewatch_alert"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--milestones", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, help="where the replay files go (default: a temporary folder)")
    parser.add_argument("--warn-probability", type=float, default=None,
                        help="the policy's threshold (default: deadlinewatch's own default)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from deadlinewatch.config.schema import PolicySection

    out = args.out or Path(tempfile.mkdtemp(prefix="dw-simulate-"))
    out.mkdir(parents=True, exist_ok=True)
    defaults = PolicySection()
    warn = args.warn_probability if args.warn_probability is not None else defaults.warn_probability
    policy = PolicySection(warn_probability=warn).thresholds()
    cal = WorkCalendar()
    results = {n.name: run(n, args.milestones, args.seed, out, policy, cal) for n in LEVELS}
    if args.json:
        json.dump(results, sys.stdout, indent=2)
        print()
        return
    print(f"simulated replay files in {out} (seed {args.seed}, warn_probability {warn})")
    for name, res in results.items():
        print(f"\nnoise {name}: {res['milestones']} milestones, {res['misses']} missed; "
              f"median lead as a share of the planned length: the client notice's {res['lead_share']}, the "
              f"manager's alert's {res['alert_lead_share']} (targets: the notice's precision >= 0.85 and recall "
              ">= 0.9, the alert's lead >= 0.4)")
        print(f"  {'method':<18}{'alarmed':>9}{'precision':>11}{'recall':>8}{'false al.':>11}{'lead d':>8}"
              f"{'Brier':>8}{'P80 cov.':>10}")
        for method in METHODS:
            m = res["methods"][method]

            def cell(key: str, width: int, m: dict[str, Any] = m) -> str:
                v = m.get(key)
                return f"{'-' if v is None else v:>{width}}"
            print(f"  {method:<18}{cell('alarmed', 9)}{cell('precision', 11)}{cell('recall', 8)}"
                  f"{cell('false_alarm_rate', 11)}{cell('median_lead_days', 8)}{cell('brier', 8)}"
                  f"{cell('p80_coverage', 10)}")


if __name__ == "__main__":
    main()
