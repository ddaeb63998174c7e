"""Replaying project histories through the daemon's own forecaster and policy (CONTRACT.md "Replay file").

Every report of every milestone is walked in time order. A milestone's completion date is never shown to the
forecaster: it only scores. Two methods of ours — deadlinewatch (the client notice) and deadlinewatch_alert (the
manager's early risk alert, core/alert.py, on the same forecasts) — are scored side by side with four baselines:
  * always           — alarm at the first report;
  * deadline_passed  — alarm on the deadline itself, when the work is not done by then (lead 0);
  * team_admits_slip — alarm at the first report whose ETA is after the deadline;
  * linear_burnup    — alarm when percent done, extrapolated linearly from the start, ends after the deadline.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from deadlinewatch.core import alert as risk
from deadlinewatch.core.forecast import (
    DEFAULT_PRIOR,
    STATED_LEARNED,
    Closed,
    Prior,
    first_estimate,
    forecast,
    learn,
    plan_record,
    stated_records,
)
from deadlinewatch.core.model import Milestone, Report, RiskAlert
from deadlinewatch.core.policy import Policy, Promise, decide
from deadlinewatch.core.workdays import WorkCalendar

HEADER = ("milestone", "deadline", "started_on", "reported_on", "percent_done", "remaining_days", "eta",
          "completed_on")
METHODS = ("deadlinewatch", "deadlinewatch_alert", "always", "deadline_passed", "team_admits_slip", "linear_burnup")
UTC = dt.UTC


class ReplayFormatError(ValueError):
    """A row of the replay file that cannot be read; names the line and the column."""


@dataclass(frozen=True)
class Row:
    project: str
    milestone: str
    deadline: dt.date
    started_on: dt.date | None
    reported_on: dt.date
    percent_done: float | None
    remaining_days: float | None
    eta: dt.date | None
    completed_on: dt.date


def _required_date(value: str, line: int, column: str) -> dt.date:
    day = _date(value, line, column)
    if day is None:
        raise ReplayFormatError(f"line {line}: {column} is empty; it is required (an ISO date)")
    return day


def _date(value: str, line: int, column: str) -> dt.date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ReplayFormatError(f'line {line}: {column} = "{value}" is not an ISO date (YYYY-MM-DD)') from None


def _number(value: str, line: int, column: str) -> float | None:
    value = value.strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise ReplayFormatError(f'line {line}: {column} = "{value}" is not a number') from None


def _within(n: float | None, low: float, high: float, line: int, column: str) -> float | None:
    """A number kept only when it can be so (a note's `Done:` is 0–100%, a `Remaining:` no negative time): an
    impossible one is refused, naming its line, rather than scored."""
    if n is not None and not (low <= n <= high):  # NaN fails both
        bound = f"between {low:g} and {high:g}" if math.isfinite(high) else f"{low:g} or more"
        raise ReplayFormatError(f"line {line}: {column} = {n:g} is impossible; it must be {bound}")
    return n


def read_rows(records: Iterable[dict[str, str]], fieldnames: Sequence[str]) -> list[Row]:
    missing = [c for c in HEADER if c not in fieldnames]
    if missing:
        raise ReplayFormatError(f"the header lacks {', '.join(missing)}; expected {','.join(HEADER)}"
                                " (and optionally project)")
    rows = []
    for line, rec in enumerate(records, start=2):
        name = (rec.get("milestone") or "").strip()
        if not name:
            raise ReplayFormatError(f"line {line}: milestone is empty; it is required")
        rows.append(Row(
            project=(rec.get("project") or "").strip() or name,
            milestone=name,
            deadline=_required_date(rec["deadline"], line, "deadline"),
            started_on=_date(rec["started_on"] or "", line, "started_on"),
            reported_on=_required_date(rec["reported_on"], line, "reported_on"),
            percent_done=_within(_number(rec["percent_done"] or "", line, "percent_done"), 0, 100, line,
                                 "percent_done"),
            remaining_days=_within(_number(rec["remaining_days"] or "", line, "remaining_days"), 0, math.inf, line,
                                   "remaining_days"),
            eta=_date(rec["eta"] or "", line, "eta"),
            completed_on=_required_date(rec["completed_on"], line, "completed_on"),
        ))
    return rows


@dataclass
class Track:
    """One method's alarm history for one milestone: when it first alarmed, its state after each report."""

    first_alarm: dt.date | None = None
    states: list[tuple[float, bool]] = field(default_factory=list)  # (P(miss) or 0/1, alarm) per report


@dataclass(frozen=True)
class TraceRow:
    project: str
    milestone: str
    reported_on: dt.date
    p_miss: float | None
    p50: dt.date | None
    p80: dt.date | None
    alarm: bool
    alert: bool = False  # the manager's risk alert is up


@dataclass(frozen=True)
class Outcome:
    """One milestone as the scores see it: whether it missed, its deadline, each method's alarm history, and for
    each of deadlinewatch's reports whether its P80 date covered the completion (None: no P80)."""

    missed: bool
    deadline: dt.date
    tracks: dict[str, Track]
    p80_covered: tuple[bool | None, ...]


@dataclass
class Result:
    milestones: int
    misses: int
    methods: dict[str, dict[str, float | int | None]]
    trace: list[TraceRow]
    outcomes: dict[tuple[str, str], Outcome] = field(default_factory=dict)


def score(outcomes: Sequence[Outcome]) -> dict[str, dict[str, float | int | None]]:
    """CONTRACT.md's scores over these milestones (a list: a bootstrap resample may hold one twice)."""
    methods: dict[str, dict[str, float | int | None]] = {}
    for name in METHODS:
        scored = [o for o in outcomes if name != "linear_burnup" or o.tracks[name].states]
        if not scored:
            methods[name] = dict(alarmed=None, precision=None, recall=None, false_alarm_rate=None,
                                 median_lead_days=None, brier=None)
            continue
        first = {id(o): a for o in scored if (a := o.tracks[name].first_alarm) is not None and a <= o.deadline}
        alarmed = [o for o in scored if id(o) in first]
        caught = [o for o in alarmed if o.missed]
        missed = sum(o.missed for o in scored)
        on_time = len(scored) - missed
        leads = [(o.deadline - first[id(o)]).days for o in caught]
        briers = [(p - (1.0 if o.missed else 0.0)) ** 2 for o in scored for p, _ in o.tracks[name].states]
        methods[name] = dict(
            alarmed=len(alarmed),
            precision=round(len(caught) / len(alarmed), 4) if alarmed else None,
            recall=round(len(caught) / missed, 4) if missed else None,
            false_alarm_rate=round((len(alarmed) - len(caught)) / on_time, 4) if on_time else None,
            median_lead_days=statistics.median(leads) if leads else None,
            brier=round(statistics.fmean(briers), 4) if briers else None,
        )
    covered = [c for o in outcomes for c in o.p80_covered if c is not None]
    methods["deadlinewatch"]["p80_coverage"] = round(sum(covered) / len(covered), 4) if covered else None
    return methods


def _linear_alarm(row: Row, first_report: dt.date) -> bool | None:
    if row.percent_done is None:
        return None
    start = row.started_on or first_report
    elapsed = (row.reported_on - start).days
    if row.percent_done >= 100:
        return False
    if elapsed <= 0 or row.percent_done <= 0:
        return row.reported_on > row.deadline
    finish = row.reported_on + dt.timedelta(days=(100 - row.percent_done) * elapsed / row.percent_done)
    return finish > row.deadline


def replay(rows: Sequence[Row], policy: Policy, cal: WorkCalendar, prior: Prior = DEFAULT_PRIOR) -> Result:
    by_key: dict[tuple[str, str], list[Row]] = {}
    for r in rows:
        by_key.setdefault((r.project, r.milestone), []).append(r)
    walk = sorted(rows, key=lambda r: (r.reported_on, r.project, r.milestone))
    tracks = {m: {k: Track() for k in by_key} for m in METHODS}
    history: dict[tuple[str, str], list[Report]] = {k: [] for k in by_key}
    promised: dict[tuple[str, str], dt.date | None] = {k: None for k in by_key}
    alerts: dict[tuple[str, str], RiskAlert | None] = {k: None for k in by_key}
    first_report = {k: min(r.reported_on for r in v) for k, v in by_key.items()}
    trace: list[TraceRow] = []
    # a milestone's completion reaches the forecaster only as "closed" on its date, feeding the team's bias
    closures = sorted((v[0].completed_on, k) for k, v in by_key.items())
    closed: list[Closed] = []
    stated: list[Closed] = []  # the closed milestones' ETAs and remaining times, as the forecast read them
    firsts: dict[tuple[str, str], tuple[dt.date, float]] = {}  # open milestones with a first estimate
    finished: set[tuple[str, str]] = set()
    # the plans (started_on to deadline) of the milestones seen so far: closed ones and open ones, to learn from
    plans: list[Closed] = []
    planned_open: dict[tuple[str, str], dt.date] = {}  # seen, not closed, with a start
    spread, learned_on = learn(closed, prior), None
    for r in walk:
        key = (r.project, r.milestone)
        while closures and closures[0][0] <= r.reported_on:
            done_on, done_key = closures.pop(0)
            finished.add(done_key)
            start = planned_open.pop(done_key, None)
            if start and (plan := plan_record(start, by_key[done_key][0].deadline, done_on, done_on, cal)):
                plans.append(plan)
                learned_on = None
            if said := stated_records(history[done_key], done_on, cal, UTC):
                stated.extend(said)
                learned_on = None
            first = firsts.pop(done_key, None)
            if first is not None:
                closed.append(Closed(first[1], max(cal.count(first[0], done_on), 0.5)))
                learned_on = None
        if learned_on != r.reported_on:  # once a day, as the daemon once a pass: open milestones age
            still_open = [Closed(est, cal.count(day, r.reported_on), finished=False) for day, est in firsts.values()]
            open_plans = [p for k, start in planned_open.items()
                          if (p := plan_record(start, by_key[k][0].deadline, None, r.reported_on, cal)) is not None]
            spread = learn(closed + still_open, prior, plans=plans + open_plans, previous=spread,
                           stated=stated[-STATED_LEARNED:])
            learned_on = r.reported_on
        at = dt.datetime.combine(r.reported_on, dt.time(12), tzinfo=UTC)
        history[key].append(Report(r.project, r.milestone, at,
                                   done=round(r.percent_done) if r.percent_done is not None else None,
                                   remaining_days=r.remaining_days, eta=r.eta))
        if r.started_on is not None and key not in finished and key not in planned_open:
            planned_open[key] = r.started_on
            learned_on = None
        if key not in firsts and key not in finished:
            first = first_estimate(history[key], cal, UTC)
            if first is not None:
                firsts[key] = first
        m = Milestone(r.project, r.milestone, r.milestone,
                      dt.datetime.combine(r.deadline + dt.timedelta(days=1), dt.time(0), tzinfo=UTC),
                      start=dt.datetime.combine(r.started_on, dt.time(0), tzinfo=UTC) if r.started_on else None)
        # the score is about the deadline; the policy, once it warned, judges the date it promised (as the daemon)
        f = forecast(m, history[key], at, cal, UTC, target=r.deadline, spread=spread)
        judged = f if promised[key] is None else forecast(m, history[key], at, cal, UTC, target=promised[key],
                                                          spread=spread)
        decision = decide(m, judged, Promise(promised[key]), policy, cal, r.deadline, today=r.reported_on)
        if decision is not None and decision.kind == "notice":
            promised[key] = decision.promised
        alarm = promised[key] is not None
        dw = tracks["deadlinewatch"][key]
        if alarm and dw.first_alarm is None:
            dw.first_alarm = r.reported_on
        dw.states.append((f.p_miss if f.p_miss is not None else 0.0, alarm))
        # the manager's alert, by the daemon's rule, on the forecast the daemon judges (the promise, once told)
        change = risk.change("open", judged, alerts[key], policy.alert_probability, cal)
        if change in ("raise", "worse"):
            assert judged.p_miss is not None
            alerts[key] = RiskAlert(judged.p_miss, judged.p80, judged.target, at)
        elif change in ("clear", "end"):
            alerts[key] = None
        up = alerts[key] is not None
        warned = tracks["deadlinewatch_alert"][key]
        if up and warned.first_alarm is None:
            warned.first_alarm = r.reported_on
        warned.states.append((f.p_miss if f.p_miss is not None else 0.0, up))
        trace.append(TraceRow(r.project, r.milestone, r.reported_on, f.p_miss, f.p50, f.p80, alarm, up))

        baselines = {
            "always": True,
            "deadline_passed": r.reported_on >= r.deadline,
            "team_admits_slip": r.eta is not None and r.eta > r.deadline,
            "linear_burnup": _linear_alarm(r, first_report[key]),
        }
        for name, fired in baselines.items():
            t = tracks[name][key]
            if fired is None:
                continue
            if fired and t.first_alarm is None:
                t.first_alarm = r.reported_on
            on = t.first_alarm is not None
            t.states.append((1.0 if on else 0.0, on))
    # "deadline passed" alarms on the deadline itself when the work is not done by then, report or not
    for key, rs in by_key.items():
        t = tracks["deadline_passed"][key]
        if rs[0].completed_on > rs[0].deadline and (t.first_alarm is None or t.first_alarm > rs[0].deadline):
            t.first_alarm = rs[0].deadline

    covered: dict[tuple[str, str], list[bool | None]] = {k: [] for k in by_key}
    for row in trace:
        done_on = by_key[(row.project, row.milestone)][0].completed_on
        covered[(row.project, row.milestone)].append(None if row.p80 is None else row.p80 >= done_on)
    outcomes = {k: Outcome(v[0].completed_on > v[0].deadline, v[0].deadline, {m: tracks[m][k] for m in METHODS},
                           tuple(covered[k])) for k, v in by_key.items()}
    return Result(len(by_key), sum(o.missed for o in outcomes.values()), score(list(outcomes.values())), trace,
                  outcomes)
