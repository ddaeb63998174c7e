"""Forecasting a milestone's completion from the team's progress notes.

The model, kept simple here and made rigorous by the forecasting issue: every note yields up to three
estimates of the working days still needed after the note's day —
  * the stated `Remaining:` time,
  * the team's `ETA:`,
  * the percent-complete pace (points gained per working day over the recent notes);
each is read as the median of a log-normal spread, and they are combined in log space weighted by their
precision. `Blocked: yes` and silence widen the spread. The probability of a miss is the chance that the work
needs more working days than are left before the target date, given that it was not done by today.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from statistics import NormalDist

from deadlinewatch.core.model import Forecast, Milestone, Report
from deadlinewatch.core.workdays import WorkCalendar

_STD = NormalDist()
Z80 = _STD.inv_cdf(0.8)


@dataclass(frozen=True)
class Spread:
    """Log-normal widths (sigma of ln working days) of each signal; tuned by replay in the forecasting issue."""

    remaining: float = 0.45
    eta: float = 0.40
    pace: float = 0.55
    floor: float = 0.25  # estimates from one team are correlated: never claim more certainty than this
    blocked: float = 0.35  # added while the latest note says Blocked: yes
    per_silent_day: float = 0.05  # added per working day since the latest note beyond `stale_after`
    stale_after: int = 4
    bias: float = 1.0  # actual / estimated for this team; learned from closed milestones later


DEFAULT_SPREAD = Spread()


@dataclass(frozen=True)
class Closed:
    """A milestone the team closed: what it expected at its first estimate, and what it took, in working days."""

    estimated: float
    actual: float


@dataclass(frozen=True)
class Prior:
    """Where a team's bias starts before any milestone closed: a reference class.

    Teams' remaining-time estimates run long: on real project histories the actual durations ran about 1.8x the
    estimates at the median, log-normally spread (Little, IEEE Software 2006); task-level data sits near 1.0 with
    a wide spread. `weight` is how many closed milestones the prior counts as.
    """

    ratio: float = 1.4
    sigma: float = 0.5
    weight: float = 3.0


DEFAULT_PRIOR = Prior()


def learn(closed: Sequence[Closed], prior: Prior = DEFAULT_PRIOR, base: Spread = DEFAULT_SPREAD) -> Spread:
    """This team's bias (actual / estimated, a log-normal median) and spread, from its closed milestones, shrunk
    toward the prior: a couple of closures move it a little, many move it to what the team really does."""
    logs = [math.log(c.actual / c.estimated) for c in closed if c.estimated > 0 and c.actual > 0]
    n = len(logs)
    mu = (prior.weight * math.log(prior.ratio) + sum(logs)) / (prior.weight + n)
    spread2 = (prior.weight * prior.sigma**2 + sum((x - mu) ** 2 for x in logs)) / (prior.weight + n)
    sigma = max(math.sqrt(spread2), base.floor)
    return replace(base, bias=math.exp(mu), remaining=sigma, eta=sigma)


def first_estimate(reports: Sequence[Report], cal: WorkCalendar, tz: dt.tzinfo) -> tuple[dt.date, float] | None:
    """The day of a milestone's first estimate and the working days it expected from then."""
    for r in sorted(reports, key=lambda r: r.at):
        day = r.at.astimezone(tz).date()
        if r.remaining_days is not None and r.remaining_days > 0:
            return day, r.remaining_days
        if r.eta is not None and cal.count(day, r.eta) > 0:
            return day, cal.count(day, r.eta)
    return None


def last_work_day(deadline: dt.datetime, tz: dt.tzinfo) -> dt.date:
    """The last day on which work can still finish on time: a deadline at 00:00 belongs to the day before."""
    local = deadline.astimezone(tz)
    return (local - dt.timedelta(microseconds=1)).date()


def _pace_estimate(reports: Sequence[Report], cal: WorkCalendar, tz: dt.tzinfo) -> tuple[float, str] | None:
    """Working days left at the recent pace, from the percent-complete history."""
    with_pct = [r for r in reports if r.done is not None]
    if len(with_pct) < 2:
        return None
    last = with_pct[-1]
    last_day = last.at.astimezone(tz).date()
    # the pace over the last three weeks of notes, so old spurts do not mask a stall
    first = with_pct[-2]
    for r in reversed(with_pct[:-2]):  # newest first: stop at the first note older than the window
        if cal.count(r.at.astimezone(tz).date(), last_day) > 15:
            break
        first = r
    days = cal.count(first.at.astimezone(tz).date(), last_day)
    gained = (last.done or 0) - (first.done or 0)
    if days <= 0:
        return None
    if gained <= 0:
        # no progress over the window: the pace says "not soon"; count it as twice the window per 10 points
        left = max(100 - (last.done or 0), 1) / 10 * 2 * days
        return left, f"{first.done}% → {last.done}% in {days} working days (no progress)"
    left = (100 - (last.done or 0)) * days / gained
    return max(left, 0.5), f"{first.done}% → {last.done}% in {days} working days"


def forecast(
    milestone: Milestone,
    reports: Sequence[Report],
    now: dt.datetime,
    cal: WorkCalendar,
    tz: dt.tzinfo,
    target: dt.date | None = None,
    spread: Spread = DEFAULT_SPREAD,
) -> Forecast:
    """Forecast one open milestone from its reports (oldest first). `target` defaults to the deadline."""
    target = target or last_work_day(milestone.deadline, tz)
    today = now.astimezone(tz).date()
    reports = sorted(reports, key=lambda r: r.at)
    if not reports:
        if today > target:
            return Forecast(milestone.project, milestone.uid, None, None, 1.0,
                            "the date passed without a note saying Done: 100%", target)
        return Forecast(milestone.project, milestone.uid, None, None, None, "no progress notes yet", target)

    latest = reports[-1]
    base = latest.at.astimezone(tz).date()
    estimates: list[tuple[float, float, str]] = []  # (working days after base, sigma, words)
    stated = next((r for r in reversed(reports) if r.remaining_days is not None), None)
    if stated is not None:
        stated_base = stated.at.astimezone(tz).date()
        left = (stated.remaining_days or 0) - cal.count(stated_base, base)
        estimates.append((max(left, 0.5) * spread.bias, spread.remaining,
                          f"stated {_days(stated.remaining_days or 0)} left"))
    eta = next((r.eta for r in reversed(reports) if r.eta is not None), None)
    if eta is not None:
        estimates.append((max(cal.count(base, eta), 0.5) * spread.bias, spread.eta, f"team's ETA {eta.isoformat()}"))
    pace = _pace_estimate(reports, cal, tz)
    if pace is not None:
        estimates.append((pace[0] * spread.bias, spread.pace, f"{pace[1]}, at that pace {_days(pace[0])} left"))
    if not estimates:
        if today > target:
            return Forecast(milestone.project, milestone.uid, None, None, 1.0,
                            "the date passed without a note saying Done: 100%", target, eta)
        return Forecast(milestone.project, milestone.uid, None, None, None,
                        "notes give neither remaining time, ETA nor a percent pace yet", target, eta)

    weights = [1 / s**2 for _, s, _ in estimates]
    mu = sum(w * math.log(d) for (d, _, _), w in zip(estimates, weights, strict=True)) / sum(weights)
    sigma = max(math.sqrt(1 / sum(weights)), spread.floor)
    words = [w for _, _, w in estimates]
    if abs(spread.bias - 1) >= 0.05:
        words.append(f"this team's work has taken {spread.bias:.1f}x its estimates")
    if latest.blocked:
        sigma += spread.blocked
        mu += math.log(1.2)
        words.append("blocked")
    elapsed = max(cal.count(base, today), 0)
    if elapsed > spread.stale_after:
        sigma += spread.per_silent_day * (elapsed - spread.stale_after)
        words.append(f"no note for {elapsed} working days")

    dist = NormalDist(mu, sigma)

    def cdf(days: float) -> float:
        return dist.cdf(math.log(days)) if days > 0 else 0.0

    done_by_now = cdf(elapsed + 0.5) if elapsed > 0 else 0.0
    # the work was not done by today: condition the spread on that
    def quantile(q: float) -> dt.date:
        p = done_by_now + q * (1 - done_by_now)
        days = math.exp(dist.inv_cdf(min(max(p, 1e-9), 1 - 1e-9)))
        return cal.add(base, max(math.ceil(days - 0.5), elapsed, 0))

    allowed = cal.count(base, target)
    if (allowed <= elapsed and today > target) or allowed <= 0:
        p_miss = 1.0
    else:
        p_miss = min(max((1 - cdf(allowed + 0.5)) / max(1 - done_by_now, 1e-9), 0.0), 1.0)
    p50, p80 = quantile(0.5), quantile(0.8)
    reason = "; ".join(words) + f" → P50 {p50.isoformat()}, P80 {p80.isoformat()}, P(miss) {p_miss:.0%}"
    return Forecast(milestone.project, milestone.uid, p50, p80, round(p_miss, 4), reason, target, eta)


def _days(n: float) -> str:
    n = round(n, 1)
    text = f"{n:g}"
    return f"{text} working day" + ("" if n == 1 else "s")
