"""Forecasting a milestone's completion from the team's progress notes.

The notes give up to three estimates of the working days still needed after the latest note's day —
  * the team's recent `Remaining:` statements, brought forward and averaged (a drastic revision stands alone),
  * the team's latest `ETA:`,
  * the percent-complete pace (a least-squares slope over the last three weeks of notes);
each is the median of a log-normal spread. The team's statements are corrected by its bias (actual / estimated,
learned from its own milestones, from Little's reference prior): an ETA by how its ETAs — read on every note of
its closed milestones, months ahead and days ahead — have run, the stated remaining time by how its stated
remaining times — combined as they are here — have run, each with its own spread (a team whose statements run
true gets a narrow one); until it stated either on a closed milestone, by its first estimates (closed and still
open). The pace is measured, not estimated: no bias. The calendar gives a fourth when the
milestone is a VTODO with a start (DTSTART): the plan, start to deadline, times how this team's plans have
run, given that the work was not done by the latest note — unless a note restated the plan as its own first
estimate (then it is that estimate, counted once). They are combined in log space weighted by their
precision. A date (an ETA, a plan's deadline) is off by a few days whatever its horizon — dates are rounded
to a week's or a month's end — so its spread grows as it nears, by a horizon term learned per team.
`Blocked: yes` and silence widen the spread. The probability of a miss is the chance that the work
needs more working days than are left before the target date, given that it was not done by today.
P50 is the date the work is as likely done before as after; P80 the date it is done by four times in five
(of whole days, the one whose chance is nearest).
The evaluation on real and simulated projects is bench/FORECAST.md.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from operator import attrgetter
from statistics import NormalDist

from deadlinewatch.core.model import Forecast, Milestone, Report
from deadlinewatch.core.words import Days, Factor, Percent, Phrase, _, phrase
from deadlinewatch.core.workdays import WorkCalendar

_STD = NormalDist()
_ONE_SIGMA = (_STD.cdf(-1), _STD.cdf(1))  # the central 68%: every plan's spread is measured across it


@dataclass(frozen=True)
class Spread:
    """Log-normal widths (sigma of ln working days) of each signal; tuned by replay in the forecasting issue."""

    remaining: float = 0.45  # the stated remaining time's (as combined by _stated_remaining)
    eta: float = 0.40
    pace: float = 0.55
    floor: float = 0.1  # estimates from one team are correlated: never claim more certainty than this
    blocked: float = 0.35  # added while the latest note says Blocked: yes
    per_silent_day: float = 0.05  # added per working day since the latest note beyond `stale_after`
    stale_after: int = 4
    bias: float = 1.0  # actual / estimated for this team; learned from closed milestones later
    stated_bias: float = 1.0  # actual / its stated remaining time, combined; learned likewise
    history: int = 0  # the team's finished milestones with a first estimate: what its bias was learned from
    plan_bias: float = 1.0  # actual / planned length (DTSTART to deadline), learned likewise
    plan_history: int = 0  # the team's finished milestones with a plan: what its plan_bias was learned from
    plan_sigma: float = 0.5
    # working days either way that a date is off whatever its horizon (dates are rounded to a week's or a month's
    # end): an ETA's or a plan's log-spread is hypot(sigma, tau / days), so a near date says less than a far one
    tau: float = 0.0
    plan_tau: float = 0.0

    @cached_property
    def bias_words(self) -> Phrase | None:
        """What every forecast with this spread says of the team's bias, made once per spread (a pass learns one
        and forecasts ten thousand milestones with it); None when the bias is too near 1 to mention."""
        if abs(self.bias - 1) < 0.05:
            return None
        # the bias is the team's own once it has a closed milestone; before that, the reference class's
        return phrase(_("This team's work has taken %(factor)s times its estimates so far.") if self.history
                      else _("Work like this has usually taken about %(factor)s times as long as estimated."),
                      factor=Factor(self.bias))


DEFAULT_SPREAD = Spread()


@dataclass(frozen=True)
class Closed:
    """A milestone's first estimate against what it took, in working days. `finished` False: still open after
    `actual` days, so it will take longer — a right-censored observation. Leaving those out would learn the bias
    from the milestones that closed early, the quick ones, and promise too soon (survivorship)."""

    estimated: float
    actual: float
    finished: bool = True
    eta: bool = False  # of stated_records: an ETA as read on a note's day (else a stated remaining time)


@dataclass(frozen=True)
class Prior:
    """Where a team's bias starts before any milestone closed: a reference class.

    Teams' remaining-time estimates run long: on real project histories the actual durations ran about 1.8x the
    estimates at the median, log-normally spread (Little, IEEE Software 2006); task-level data sits near 1.0 with
    a wide spread. `weight` is how many closed milestones the prior counts as.
    """

    ratio: float = 1.8
    sigma: float = 0.5
    weight: float = 3.0


DEFAULT_PRIOR = Prior()
_EM_ROUNDS = 50


@dataclass(frozen=True)
class Fit:
    ratio: float  # the median of actual / estimated
    sigma: float  # the log-spread beyond what the horizon explains
    tau: float  # working days either way, whatever the horizon (see Spread.tau)
    loglik: float  # of the records (not the prior) under this fit: how the horizon term is chosen


WIDEST = 2.0  # a log-spread this wide already says "any time from a fifth to five times as long"
TAU_GRID = (0.0, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0)  # working days: none, a day, ..., a month's rounding


def fit(records: Sequence[Closed], prior: Prior = DEFAULT_PRIOR, start: tuple[float, float] | None = None) -> Fit:
    """The median ratio (actual / estimated) and log-spread of a team's records, shrunk toward the prior: a
    couple of closures move it a little, many move it to what the team really does — and the horizon term
    `tau` of TAU_GRID under which the finished records are likeliest (none, until some finished).

    For that tau, the maximum a-posteriori fit of a log-normal to finished milestones (exact) and open ones
    (right-censored: "more than this"), each with its own variance sigma² + (tau / estimated)², by
    expectation-maximisation; the prior counts as `prior.weight` milestones drawn from it. `start`: the ratio
    and spread of a fit of nearly the same records (yesterday's), where the iterations start: fewer of them.
    """
    # the horizon term is chosen on the finished milestones, whose errors are known exactly (and cheaply: no
    # censoring to iterate over); the open ones then refine the ratio and spread for it
    finished = [r for r in records if r.finished]
    best: Fit | None = None
    for tau in TAU_GRID if finished else ():
        found = _fit(finished, prior, tau)
        if best is None or found.loglik > best.loglik + 1e-9:
            best = found
    return _fit(records, prior, best.tau if best else 0.0, start)


def _fit(records: Sequence[Closed], prior: Prior, tau: float, start: tuple[float, float] | None = None) -> Fit:
    # finished records enter the sums only by their count, sum and sum of squares, per horizon variance; open
    # ones (thousands, with few distinct ratios) once per distinct ratio and horizon, with their count
    done: dict[float, list[float]] = {}  # horizon variance -> [count, sum of x, sum of x²]
    censored: Counter[tuple[float, float]] = Counter()
    for record in records:
        if not (record.estimated > 0 and record.actual > 0):
            continue  # nothing to learn from: no estimate, or nothing taken
        # half a working day is as fine as estimates and records go (and keeps the ratios finite)
        estimated, actual = max(record.estimated, 0.5), max(record.actual, 0.5)
        x, ex = math.log(actual / estimated), round((tau / estimated) ** 2, 2)
        if record.finished:
            sums = done.setdefault(ex, [0.0, 0.0, 0.0])
            sums[0], sums[1], sums[2] = sums[0] + 1, sums[1] + x, sums[2] + x * x
        else:
            censored[(round(x, 2), ex)] += 1
    w, mu0, var0 = prior.weight, math.log(prior.ratio), prior.sigma**2
    n = w + sum(k for k, _, _ in done.values()) + sum(censored.values())
    mu, var = (math.log(start[0]), start[1] ** 2) if start else (mu0, var0)
    for _round in range(_EM_ROUNDS if censored or len(done) > 1 or start else 1):
        # E-step: a censored log-ratio c is "some x > c": its expected value and spread under the current fit
        moments = []
        for (c, ex), count in censored.items():
            sd = math.sqrt(var + ex)
            a = (c - mu) / sd
            lam = _pdf(a) / max(_tail(a), 1e-12)
            moments.append((count, mu + sd * lam, (var + ex) * (1 + a * lam - lam * lam), ex))
        # M-step: the mean weighted by each record's precision; the spread net of the horizon's share
        weight = w / var + sum(k / (var + ex) for ex, (k, _, _) in done.items()) \
            + sum(k / (var + ex) for k, _, _, ex in moments)
        new_mu = (w * mu0 / var + sum(sx / (var + ex) for ex, (_, sx, _) in done.items())
                  + sum(k * m / (var + ex) for k, m, _, ex in moments)) / weight
        new_var = (w * (var0 + (mu0 - new_mu) ** 2)
                   + sum(max(sxx - 2 * new_mu * sx + k * new_mu * new_mu - k * ex, 0.0)
                         for ex, (k, sx, sxx) in done.items())
                   + sum(k * max(v + (m - new_mu) ** 2 - ex, 0.0) for k, m, v, ex in moments)) / n
        converged = abs(new_mu - mu) < 1e-4 and abs(new_var - var) < 1e-4
        mu, var = new_mu, max(new_var, 1e-4)
        if converged:
            break
    loglik = 0.0
    for ex, (k, sx, sxx) in done.items():
        v = var + ex
        loglik -= 0.5 * k * math.log(2 * math.pi * v) + (sxx - 2 * mu * sx + k * mu * mu) / (2 * v)
    for (c, ex), count in censored.items():
        loglik += count * math.log(max(_tail((c - mu) / math.sqrt(var + ex)), 1e-300))
    return Fit(math.exp(mu), math.sqrt(var), tau, loglik)


def _pdf(a: float) -> float:
    return math.exp(-0.5 * a * a) / math.sqrt(2 * math.pi)


def _tail(a: float) -> float:
    """P(Z > a) for a standard normal Z."""
    return 0.5 * math.erfc(a / math.sqrt(2))


def widen(sigma: float, days: float, tau: float) -> float:
    """The log-spread of a date `days` working days ahead: a day's rounding matters more to a near date."""
    return min(math.hypot(sigma, tau / max(days, 0.5)), max(sigma, WIDEST)) if tau else sigma


def learn(closed: Sequence[Closed], prior: Prior = DEFAULT_PRIOR, base: Spread = DEFAULT_SPREAD,
          plans: Sequence[Closed] = (), previous: Spread | None = None, stated: Sequence[Closed] = ()) -> Spread:
    """This team's spread: the bias of its ETAs and of its stated remaining times (`stated`: stated_records of its
    closed milestones, each kind on its own), of its plans (`plans`: DTSTART to deadline against start to done),
    and — where the team stated no ETA, or no remaining time, on a closed milestone yet — of its first estimates
    (`closed`), each fitted from the same reference prior (Little's ratios are of plans to actuals). `previous`:
    what was learned from nearly the same records, to start from."""
    etas = [r for r in stated if r.eta]
    remaining = [r for r in stated if not r.eta]
    # an ETA is believed as closely as the team's ETAs have run, at every horizon they were read at: a first
    # estimate is one, months ahead; a week before its date an ETA is off by days, and only ETAs read that near
    # can teach the horizon term (tau)
    estimates = fit(etas or closed, prior, start=(previous.bias, previous.eta) if previous else None)
    planned = fit(plans, prior, start=(previous.plan_bias, previous.plan_sigma) if previous else None)
    sigma = max(estimates.sigma, base.floor)
    said = fit(remaining, prior, start=(previous.stated_bias, previous.remaining) if previous else None) \
        if remaining else replace(estimates, sigma=sigma)
    return replace(base, history=sum(r.finished for r in closed), plan_history=sum(r.finished for r in plans),
                   bias=estimates.ratio, remaining=max(said.sigma, base.floor), eta=sigma, tau=estimates.tau,
                   stated_bias=said.ratio, plan_bias=planned.ratio, plan_sigma=max(planned.sigma, base.floor),
                   plan_tau=planned.tau)


STATED_LEARNED = 1000  # the newest statements a team's stated bias is learned from: how it works now


def stated_records(reports: Sequence[Report], done_on: dt.date, cal: WorkCalendar, tz: dt.tzinfo) -> list[Closed]:
    """A closed milestone's statements as the forecast read them on each note's day, against the working days the
    work then took: what `learn(stated=...)` learns from. Its stated remaining times, each as the forecast combined
    them (with the statements before it), and its ETA (`eta` True), the latest given by then, as the working days
    it left."""
    dated = [(r.at.astimezone(tz).date(), r) for r in sorted(reports, key=lambda r: r.at)]
    records = []
    eta = None
    for i, (day, r) in enumerate(dated):
        eta = r.eta if r.eta is not None else eta
        if day > done_on:
            continue
        took = max(cal.count(day, done_on), 0.5)
        if eta is not None:
            records.append(Closed(max(cal.count(day, eta), 0.5), took, eta=True))
        if r.remaining_days is None:
            continue
        combined = _stated_remaining(dated[: i + 1], day, cal, DEFAULT_SPREAD.remaining)
        if combined is not None:
            records.append(Closed(combined[0], took))
    return records


def plan_record(start: dt.date, deadline_day: dt.date, done_on: dt.date | None, today: dt.date,
                cal: WorkCalendar) -> Closed | None:
    """A milestone's plan against what it took, for `learn(plans=...)`: done on `done_on`, or (None) still open
    today. None when there is no plan to learn from (no working day planned, not started yet)."""
    planned = _worked(start, deadline_day, cal)
    if planned <= 0:
        return None
    if done_on is not None:
        return Closed(planned, max(_worked(start, done_on, cal), 0.5))
    taken = _worked(start, today, cal)
    return Closed(planned, taken, finished=False) if taken > 0 else None


def _worked(start: dt.date, day: dt.date, cal: WorkCalendar) -> int:
    """Working days from `start` to `day`, both counted: a milestone that starts on Monday is worked on Monday."""
    return cal.count(start - dt.timedelta(days=1), day)


def estimated_days(day: dt.date, remaining_days: float | None, eta: dt.date | None, cal: WorkCalendar) -> float:
    """The working days a note expected from its day on: its `Remaining:`, else its `ETA:`; 0 when neither."""
    if remaining_days is not None and remaining_days > 0:
        return remaining_days
    return max(cal.count(day, eta), 0) if eta is not None else 0


def first_estimate(reports: Sequence[Report], cal: WorkCalendar, tz: dt.tzinfo) -> tuple[dt.date, float] | None:
    """The day of a milestone's first estimate and the working days it expected from then."""
    return _first_estimate([(r.at.astimezone(tz).date(), r) for r in sorted(reports, key=lambda r: r.at)], cal)


def _first_estimate(dated: Sequence[tuple[dt.date, Report]], cal: WorkCalendar) -> tuple[dt.date, float] | None:
    for day, r in dated:
        if (days := estimated_days(day, r.remaining_days, r.eta, cal)) > 0:
            return day, days
    return None


def team_date(reports: Sequence[Report], cal: WorkCalendar, tz: dt.tzinfo) -> dt.date | None:
    """The team's own date (CONTRACT.md "The client notice"): the latest note's `ETA`, else the working day on
    which its `Remaining` ends, counted after the note's day in the team's zone. The newest note that gives either
    speaks for the team: a later note with only a percentage leaves the date it gave standing. None when no note
    gave a date. One function for the daemon and `replay`: the admission, the promise, the outrun hold, the reply
    to the sender and the risk alert all read it."""
    for r in sorted(reports, key=_AT, reverse=True):
        if r.eta is not None:
            return r.eta
        if r.remaining_days is not None:
            return cal.add(r.at.astimezone(tz).date(), max(math.ceil(r.remaining_days - 1e-9), 0))
    return None


_AT = attrgetter("at")  # a note's time: notes are sorted by it (in C, not a lambda per note)


def last_work_day(deadline: dt.datetime, tz: dt.tzinfo) -> dt.date:
    """The last day on which work can still finish on time: a deadline at 00:00 belongs to the day before."""
    local = deadline.astimezone(tz)
    return (local - dt.timedelta(microseconds=1)).date()


# percent-complete reports are rounded and judged by eye: a report is taken to be this many points off when too
# few reports are at hand to measure the scatter
PERCENT_NOISE = 5.0
PACE_WINDOW = 15  # working days: the pace over the last three weeks of notes, so old spurts do not mask a stall


@dataclass(frozen=True)
class PercentPace:
    """The percent-complete pace the forecast counts on, as its words state it — so that a reader can check
    (100 - done) / per_day = days_left: `done` percent at the latest note, `per_day` points a working day, and the
    working days left after the latest note at that pace. `clear` False: the notes show no clear progress (the
    slope is within its own standard error); `per_day` is then that error — "at best this fast" — and the days
    left as many as that gives. `sigma`: the log-spread of the days left."""

    done: float
    per_day: float
    days_left: float
    sigma: float
    clear: bool
    words: Phrase


def stated_pace(slope: float) -> tuple[float, Phrase]:
    """A pace as the words state it, and as the days left are then counted: points a working day to one decimal,
    or, at a point a day or less, the working days a point takes, to one decimal. A percentage judged by eye is
    off by several points, so nothing finer is known of a pace — and a pace stated is then the pace used."""
    if slope >= 1.05:
        per_day = round(slope, 1)
        return per_day, phrase(_("%(points)s points a working day"), points=per_day)
    every = max(round(1 / slope, 1), 0.1)
    return 1 / every, phrase(_("a point every %(days)s"), days=Days(every))


def percent_pace(reports: Sequence[Report], cal: WorkCalendar, tz: dt.tzinfo | None = None,
                 base_sigma: float = DEFAULT_SPREAD.pace) -> PercentPace | None:
    """The pace of a milestone's notes (any order) as `forecast` counts on it, each note on its day in `tz` (the
    team's zone; None: the zone each note's time carries): what the manager's risk alert states beside it."""
    dated = [((r.at.astimezone(tz) if tz else r.at).date(), r) for r in sorted(reports, key=lambda r: r.at)]
    return _pace_estimate(dated, cal, base_sigma)


def _pace_estimate(dated: Sequence[tuple[dt.date, Report]], cal: WorkCalendar, base_sigma: float
                   ) -> PercentPace | None:
    """Working days left at the recent pace, its log-spread, and the words for it.

    The pace is the least-squares slope of percent against working days over the window. Its spread grows with
    the scatter of the reports around that line (measured when there are three or more, else PERCENT_NOISE) and
    shrinks with the span of days they cover: two reports two days apart say little; ten over three weeks say
    much. A stall (no gain over the window) says "not soon", with a wide spread. The words give the notes'
    first and latest percent, the pace counted on and the days left it gives — nothing the reader cannot check.
    """
    with_pct = [(day, r) for day, r in dated if r.done is not None]
    if len(with_pct) < 2:
        return None
    last_day, last = with_pct[-1]
    # the points (working days before the latest note, percent), newest first, and their least-squares sums in the
    # same sweep: every open milestone is forecast each pass
    n, days = 0, 0
    sx = sy = sxy = sxx_raw = syy = 0.0
    for day, r in reversed(with_pct):  # stop at the first note older than the window (the two latest always count)
        ago = cal.count(day, last_day)
        if ago > PACE_WINDOW and n >= 2:
            break
        x, y = -ago, float(r.done or 0)
        sx, sy, sxy, sxx_raw, syy = sx + x, sy + y, sxy + x * y, sxx_raw + x * x, syy + y * y
        n, days, first = n + 1, ago, r
    sxx, sxy, syy = sxx_raw - sx * sx / n, sxy - sx * sy / n, syy - sy * sy / n
    if sxx <= 0 or days <= 0:
        return None
    slope = sxy / sxx
    scatter = PERCENT_NOISE
    if n >= 3:
        ssr = max(syy - slope * sxy, 0.0)  # the residual sum of squares
        scatter = max(math.sqrt(ssr / (n - 2)), PERCENT_NOISE / 2)
    done = float(last.done or 0)
    to_go = max(100 - done, 1)
    error = scatter / math.sqrt(sxx)  # the standard error of the slope
    # the notes' first and latest percent; with three notes or more the pace is their trend, not these two alone
    span = phrase(_("from %(before)s to %(after)s in %(days)s"), before=Percent(first.done or 0),
                  after=Percent(done), days=Days(days)) if n == 2 else \
        phrase(_("from %(before)s to %(after)s in %(days)s (%(count)s notes)"), before=Percent(first.done or 0),
               after=Percent(done), days=Days(days), count=n)
    if slope < error:
        # no clear progress: a stall, or too much scatter to tell a slow pace from none. "At best about this fast",
        # with a wide spread, so that noisy reports alone never tip a milestone
        per_day, rate = stated_pace(error)
        left = max(to_go / per_day, 0.5)
        return PercentPace(done, per_day, left, min(math.hypot(base_sigma, 1.0), WIDEST), False,
                           phrase(_("The notes went %(pace)s, which is no clear progress: even at %(rate)s, the best "
                                    "they allow, it needs another %(left)s."),
                                  pace=span, rate=rate, left=Days(left)))
    per_day, rate = stated_pace(slope)
    left = max(to_go / per_day, 0.5)
    relative = math.hypot(error / slope, scatter / to_go)
    return PercentPace(done, per_day, left, min(math.hypot(base_sigma, relative), WIDEST), True,
                       phrase(_("The notes went %(pace)s, a trend of %(rate)s: at that pace it needs another "
                                "%(left)s."), pace=span, rate=rate,
                              left=Days(left)))


def _plan_estimate(start: dt.date, deadline_day: dt.date, dated: Sequence[tuple[dt.date, Report]],
                   cal: WorkCalendar, spread: Spread) -> tuple[float, float, Phrase] | None:
    """Working days left after the latest note by the plan — its length times how this team's plans have run,
    given that the work was not done by the latest note — its log-spread, and the words for it.

    None when there is no plan (the deadline not after the start), or when the team's first estimate restated
    it (an ETA of the deadline, a `Remaining:` that ends there): then the plan is that estimate, already counted.
    """
    planned = _worked(start, deadline_day, cal)
    if planned <= 0:
        return None
    first = _first_estimate(dated, cal)
    if first is not None and abs(first[1] - cal.count(first[0], deadline_day)) <= 1:
        return None
    base = dated[-1][0]
    elapsed = max(_worked(start, base, cal), 0)
    # of the whole work, in log days
    length = NormalDist(math.log(planned * spread.plan_bias), widen(spread.plan_sigma, planned, spread.plan_tau))
    gone = length.cdf(math.log(elapsed + 0.5)) if elapsed > 0 else 0.0

    def left(q: float) -> float:  # the q-quantile of the days left, given that it takes longer than `elapsed`
        return max(math.exp(length.inv_cdf(min(gone + q * (1 - gone), 1 - 1e-9))) - elapsed, 0.5)

    # a log-normal of the days left with the same median and the same central 68%
    sigma = max((math.log(left(_ONE_SIGMA[1])) - math.log(left(_ONE_SIGMA[0]))) / 2, spread.plan_sigma)
    # the factor is this team's only once one of its planned milestones finished; before that it is the reference
    # class's, which the forecast's words say once (Spread.bias_words), never as "this team's plans"
    if spread.plan_history and abs(spread.plan_bias - 1) >= 0.05:
        words = phrase(_("The plan gave it %(days)s from %(start)s, and this team's plans have taken %(factor)s "
                         "times as long."),
                       days=Days(planned), start=start, factor=Factor(spread.plan_bias))
    else:
        words = phrase(_("The plan gave it %(days)s from %(start)s."), days=Days(planned), start=start)
    return left(0.5), sigma, words


HORIZON = 2600  # working days (ten years): a forecast further out says only "not in any plan's lifetime"
STATED_RECENCY = 0.6  # each older `Remaining:` statement counts this much of the next newer one
STATED_KEPT = 5
REVISION_SIGMAS = 4.0
REVISION_DAYS = 5  # and by a week at least: near the end, half a day against two is a big ratio and no news


def _stated_remaining(dated: Sequence[tuple[dt.date, Report]], base: dt.date, cal: WorkCalendar, sigma: float
                      ) -> tuple[float, Phrase] | None:
    """Working days left after `base` by the team's recent `Remaining:` statements: each brought forward to
    `base` (4 days said two working days ago is 2 now), averaged in log space with the newest weighing most. One
    statement can be off by half either way; a few in a row hold the signal and not the noise. A statement that
    departs from the ones before by more than REVISION_SIGMAS spreads (`sigma`) and REVISION_DAYS is a revision
    and stands alone."""
    said = [(day, r) for day, r in dated if r.remaining_days is not None][-STATED_KEPT:]
    if not said:
        return None
    latest = said[-1][1]
    logs, weights = [], []  # newest first
    for age, (day, r) in enumerate(reversed(said)):
        left = (r.remaining_days or 0) - cal.count(day, base)
        if age and left <= 0:
            continue  # a statement whose time ran out says only that it was wrong (the team's bias learns that)
        logs.append(math.log(max(left, 0.5)))
        weights.append(STATED_RECENCY**age)
    days = Days(latest.remaining_days or 0)
    if len(logs) == 1:
        return math.exp(logs[0]), phrase(_("The team says it needs another %(days)s."), days=days)
    older = sum(w * x for w, x in zip(weights[1:], logs[1:], strict=True)) / sum(weights[1:])
    if abs(logs[0] - older) > REVISION_SIGMAS * sigma and abs(math.exp(logs[0]) - math.exp(older)) >= REVISION_DAYS:
        # far beyond what one statement's error explains: the team learned something (a revision, not noise)
        return math.exp(logs[0]), phrase(_("The team says it needs another %(days)s, revised from %(before)s."),
                                         days=days, before=Days(math.exp(older)))
    left = math.exp(sum(w * x for w, x in zip(weights, logs, strict=True)) / sum(weights))
    if len(logs) == 2:
        return left, phrase(_("The team says it needs another %(days)s (%(left)s when averaged with its earlier "
                              "estimate)."), days=days, left=Days(left))
    return left, phrase(_("The team says it needs another %(days)s (%(left)s when averaged with its %(count)s "
                          "earlier estimates)."), days=days, count=len(logs) - 1, left=Days(left))


def forecast(
    milestone: Milestone,
    reports: Sequence[Report],
    now: dt.datetime,
    cal: WorkCalendar,
    tz: dt.tzinfo,
    target: dt.date | None = None,
    spread: Spread = DEFAULT_SPREAD,
    agreed: dt.date | None = None,
) -> Forecast:
    """Forecast one open milestone from its reports (oldest first). `target` defaults to the deadline; `agreed` is
    the deadline's day where the client is (ProjectView.agreed: an all-day deadline is the client's day, which in a
    zone east of the client ends in the small hours of the next day), else its day in `tz`."""
    deadline_day = agreed or last_work_day(milestone.deadline, tz)
    target = target or deadline_day
    today = now.astimezone(tz).date()
    reports = sorted(reports, key=_AT)
    if not reports:
        if today > target:
            return _forecast(milestone, None, None, 1.0, [PASSED], target)
        return _forecast(milestone, None, None, None, [phrase(_("There are no progress notes yet."))], target)

    dated = [(r.at.astimezone(tz).date(), r) for r in reports]  # each note's day in the team's zone
    base, latest = dated[-1]
    estimates: list[tuple[float, float, Phrase]] = []  # (working days after base, sigma, words)
    stated = _stated_remaining(dated, base, cal, spread.remaining)
    if stated is not None:
        estimates.append((stated[0] * spread.stated_bias, spread.remaining, stated[1]))
    eta = next((r.eta for r in reversed(reports) if r.eta is not None), None)
    own = team_date(reports, cal, tz)
    if eta is not None:
        ahead = max(cal.count(base, eta), 0.5)
        estimates.append((ahead * spread.bias, widen(spread.eta, ahead, spread.tau),
                          phrase(_("The team expects to finish by %(date)s."), date=eta)))
    start = milestone.start_day()
    if start is not None and milestone.kind == "VTODO":  # a VEVENT's DTSTART is the event, not the work
        plan = _plan_estimate(start, deadline_day, dated, cal, spread)
        if plan is not None:
            estimates.append(plan)
    pace = _pace_estimate(dated, cal, spread.pace)
    if pace is not None:
        estimates.append((pace.days_left, pace.sigma, pace.words))
    if not estimates:
        if today > target:
            return _forecast(milestone, None, None, 1.0, [PASSED], target, own)
        return _forecast(milestone, None, None, None, [_no_estimate(dated)], target, own)

    weights = [1 / s**2 for _, s, _ in estimates]
    mu = sum(w * math.log(d) for (d, _, _), w in zip(estimates, weights, strict=True)) / sum(weights)
    sigma = max(math.sqrt(1 / sum(weights)), spread.floor)
    words = [w for _, _, w in estimates]
    if spread.bias_words is not None:
        words.append(spread.bias_words)
    if latest.blocked:
        sigma += spread.blocked
        mu += math.log(1.2)
        words.append(phrase(_("The work is blocked.")))
    elapsed = max(cal.count(base, today), 0)
    if elapsed > spread.stale_after:
        sigma += spread.per_silent_day * (elapsed - spread.stale_after)
        words.append(phrase(_("There has been no note for %(days)s."), days=Days(elapsed)))

    dist = NormalDist(mu, sigma)

    def cdf(days: float) -> float:
        return dist.cdf(math.log(days)) if days > 0 else 0.0

    done_by_now = cdf(elapsed + 0.5) if elapsed > 0 else 0.0
    # the work was not done by today: condition the spread on that
    def quantile(q: float) -> dt.date:
        p = done_by_now + q * (1 - done_by_now)
        days = min(math.exp(dist.inv_cdf(min(max(p, 1e-9), 1 - 1e-9))), HORIZON)
        first = max(math.ceil(days - 0.5), elapsed, 0)  # the first day it is done by with a chance of q or more
        # a date is a whole day: for a team whose statements run true, the first day that reaches q may reach
        # far beyond it (done by nine times in ten for a P80), and the day before may fall just short. The day
        # whose chance is nearest to q is the date that is kept q of the time
        if first - 1 >= max(elapsed, 0) and abs(by(first - 1) - q) < abs(by(first) - q):
            first -= 1
        return cal.add(base, first)

    def by(k: int) -> float:  # the chance that it is done by the k-th working day after the latest note
        return (cdf(k + 0.5) - done_by_now) / max(1 - done_by_now, 1e-9)

    allowed = cal.count(base, target)
    if (allowed <= elapsed and today > target) or allowed <= 0:
        p_miss = 1.0
    else:
        p_miss = min(max((1 - cdf(allowed + 0.5)) / max(1 - done_by_now, 1e-9), 0.0), 1.0)
    p50, p80 = quantile(0.5), quantile(0.8)
    return _forecast(milestone, p50, p80, round(p_miss, 4), words, target, own)


def _no_estimate(dated: Sequence[tuple[dt.date, Report]]) -> Phrase:
    """The words of notes that give no estimate: a percent or two from one day is said as it is (the reply shows
    it a line above), short of a trend; only notes without a percent give "no percent done"."""
    with_pct = [(day, r) for day, r in dated if r.done is not None]
    if not with_pct:
        return phrase(_("The notes give no remaining time, ETA or percent done yet."))
    done = Percent(with_pct[-1][1].done or 0)
    if len(with_pct) == 1:
        return phrase(_("There is only one note so far (%(done)s done), which isn't enough for a trend, and it "
                        "gives no time left or ETA."), done=done)
    return phrase(_("There are %(count)s notes so far, all from one day (%(done)s done), which isn't enough for "
                    "a trend, and they give no time left or ETA."), count=len(with_pct), done=done)


PASSED = phrase(_("The date passed without a note saying Done: 100%."))


def _forecast(milestone: Milestone, p50: dt.date | None, p80: dt.date | None, p_miss: float | None,
              words: Sequence[Phrase], target: dt.date, own: dt.date | None = None) -> Forecast:
    """A forecast with its reason: the words, said in the reader's language where a person reads them, and in
    English (`Forecast.reason`) with the dates and the probability, for logs, `status` and replay."""
    return Forecast(milestone.project, milestone.uid, p50, p80, p_miss, "", target, own, tuple(words))
