"""Writes bench/FORECAST.md: deadlinewatch's forecasts scored on real and synthetic project histories, beside
the baselines, with bootstrap intervals, against the targets of the forecasting issue — and the sweep of
`policy.warn_probability` that its default was tuned by.

Data: Todd Little's Landmark Graphics projects (`little06-dev.csv`, first estimates as deadlines, and
`little06-dev-commitments.csv`, every re-announced target as a commitment), read from ../shared/data/forecast
(never copied into the repository), and bench/simulate.py's synthetic projects at three noise levels. Every
score comes from the code `deadlinewatch replay` runs, with the default policy unless the sweep says otherwise.

Run: python bench/forecast_report.py [--data DIR] [--rounds 1000] [--out bench/FORECAST.md]
"""

from __future__ import annotations

import argparse
import csv
import random
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import simulate  # the sibling script: `python bench/forecast_report.py` puts bench/ on the path

from deadlinewatch.config import default_policy
from deadlinewatch.core.policy import Policy
from deadlinewatch.core.replay import HEADER, METHODS, Outcome, Result, Row, read_rows, replay, score
from deadlinewatch.core.workdays import WorkCalendar

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data" / "forecast"
SWEEP = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)
CAL = WorkCalendar()  # replay files count Monday to Friday, no holidays (the CLI's default without a config)


def read(path: Path) -> list[Row]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return read_rows(reader, reader.fieldnames or [])


def datasets(data: Path, seed: int) -> dict[str, list[Row]]:
    out = {name: read(data / f"{name}.csv") for name in ("little06-dev", "little06-dev-commitments")}
    for noise in simulate.LEVELS:
        out[f"simulated-{noise.name}"] = read_rows(simulate.simulate(noise, 300, seed, CAL), ["project", *HEADER])
    return out


def bootstrap(outcomes: Sequence[Outcome], rounds: int, seed: int) -> list[dict[str, Any]]:
    """The scores of `rounds` resamples of the milestones, drawn with replacement."""
    rnd = random.Random(seed)
    return [score([rnd.choice(outcomes) for _ in outcomes]) for _ in range(rounds)]


def interval(resamples: Sequence[dict[str, Any]], key: str) -> tuple[float, float] | None:
    """A 90% percentile bootstrap interval of deadlinewatch's figure `key`."""
    values = sorted(float(v) for s in resamples if (v := s["deadlinewatch"][key]) is not None)
    if len(values) < len(resamples) / 2:
        return None
    return values[int(0.05 * len(values))], values[int(0.95 * len(values)) - 1]


def lead_share(result: Result, rows: Sequence[Row]) -> float | None:
    """Median over caught misses of the lead as a share of the milestone's planned length (start to deadline)."""
    start = {(r.project, r.milestone): r.started_on for r in rows}
    shares = []
    for key, o in result.outcomes.items():
        first = o.tracks["deadlinewatch"].first_alarm
        begun = start[key]
        if o.missed and first is not None and first <= o.deadline and begun is not None:
            shares.append((o.deadline - first).days / max((o.deadline - begun).days, 1))
    return round(statistics.median(shares), 3) if shares else None


def plain_histories(rows: Sequence[Row], lead: float) -> tuple[int, int, list[tuple[str, int | None]]]:
    """How many misses had said anything beyond "ETA = the deadline" (another ETA, a remaining time, a percent)
    at least `lead` days before their deadline, out of how many misses; and for each kept milestone, how many
    days before its deadline its history first said more (None: never)."""
    by: dict[tuple[str, str], list[Row]] = {}
    for r in sorted(rows, key=lambda r: r.reported_on):
        by.setdefault((r.project, r.milestone), []).append(r)
    said, misses, kept = 0, 0, []
    for (_, milestone), rs in by.items():
        deadline = rs[0].deadline
        first = next((r.reported_on for r in rs if (r.eta is not None and r.eta != deadline)
                      or r.remaining_days is not None or r.percent_done is not None), None)
        ahead = (deadline - first).days if first is not None else None
        if rs[0].completed_on > deadline:
            misses += 1
            said += ahead is not None and ahead >= lead
        else:
            kept.append((milestone, ahead))
    return said, misses, kept


def fmt(v: object, digits: int = 3) -> str:
    if v is None:
        return "–"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def ci(bounds: tuple[float, float] | None, digits: int = 3) -> str:
    return "" if bounds is None else f" ({bounds[0]:.{digits}f}–{bounds[1]:.{digits}f})"


def check(ok: bool) -> str:
    return "met" if ok else "**not met**"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--rounds", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=HERE / "FORECAST.md")
    args = parser.parse_args()
    started = time.monotonic()
    sets = datasets(args.data, args.seed)
    defaults = default_policy()
    warn, renotify, alert = defaults.warn_probability, defaults.renotify_slip_days, defaults.alert_probability
    results = {name: replay(rows, Policy(warn, renotify, alert), CAL) for name, rows in sets.items()}
    sweep = {w: {name: replay(rows, Policy(w, renotify, min(alert, w - 0.05)), CAL) for name, rows in sets.items()}
             for w in SWEEP}

    out: list[str] = []
    say = out.append
    say("# Forecast evaluation\n")
    say(f"Generated by `python bench/forecast_report.py` ({time.strftime('%Y-%m-%d')}; {args.rounds} bootstrap "
        f"resamples, simulator seed {args.seed}). Every figure comes from the code `deadlinewatch replay` runs, with "
        f"the default policy (`warn_probability = {warn}`, `renotify_slip_days = {renotify}`; the manager's alert, "
        f"`deadlinewatch_alert`, at `alert_probability = {alert}`), Monday to Friday, no holidays. Scores as "
        "CONTRACT.md defines them; 90% bootstrap intervals (milestones resampled) in brackets.\n")
    say("The team's bias is learned only from what the replay has seen so far: milestones closed earlier, and "
        "open ones that outlived their first estimate (right-censored), starting from Little's reference prior "
        "(actual ≈ 1.8 × estimate, log-normal).\n")

    for name, result in results.items():
        rows = sets[name]
        boot = bootstrap(list(result.outcomes.values()), args.rounds, args.seed)
        dw = result.methods["deadlinewatch"]
        say(f"## {name}\n")
        say(f"{result.milestones} milestones, {result.misses} missed their deadline"
            + (f"; lead as a share of the planned length: {fmt(lead_share(result, rows))}" if
               name.startswith("simulated") else "") + ".\n")
        say("| method | alarmed | precision | recall | false alarms | median lead (days) | Brier | P80 coverage |")
        say("|---|---|---|---|---|---|---|---|")
        for method in METHODS:
            m = result.methods[method]
            if method == "deadlinewatch":
                cells = [fmt(m["alarmed"]), fmt(m["precision"]) + ci(interval(boot, "precision")),
                         fmt(m["recall"]) + ci(interval(boot, "recall")), fmt(m["false_alarm_rate"]),
                         fmt(m["median_lead_days"]) + ci(interval(boot, "median_lead_days"), 0),
                         fmt(m["brier"], 4) + ci(interval(boot, "brier"), 4),
                         fmt(m["p80_coverage"]) + ci(interval(boot, "p80_coverage"))]
                say(f"| **{method}** | " + " | ".join(cells) + " |")
            else:
                say(f"| {method} | {fmt(m['alarmed'])} | {fmt(m['precision'])} | {fmt(m['recall'])} | "
                    f"{fmt(m['false_alarm_rate'])} | {fmt(m['median_lead_days'])} | {fmt(m['brier'], 4)} | – |")
        say("")
        say("Targets:\n")
        if name.startswith("little06"):
            team = result.methods["team_admits_slip"]
            briers = {k: v["brier"] for k, v in result.methods.items()  # the baselines: not our two methods
                      if not k.startswith("deadlinewatch") and v["brier"]}
            cov = dw["p80_coverage"] or 0
            say(f"- recall at least the team's ({fmt(team['recall'])}): {fmt(dw['recall'])} — "
                f"{check((dw['recall'] or 0) >= (team['recall'] or 0))}")
            say(f"- precision no lower than the team's ({fmt(team['precision'])}): {fmt(dw['precision'])} — "
                f"{check((dw['precision'] or 0) >= (team['precision'] or 0))}")
            goal = 1.5 * float(team["median_lead_days"] or 0)
            say(f"- median lead at least 1.5 × the team's ({goal:g} days): {fmt(dw['median_lead_days'])} — "
                f"{check(float(dw['median_lead_days'] or 0) >= goal)}")
            say(f"- Brier below every baseline's (lowest: {min(briers.values()):.4f}): {fmt(dw['brier'], 4)} — "
                f"{check((dw['brier'] or 1) < min(briers.values()))}")
            say(f"- P80 coverage in 0.75–0.9: {fmt(cov)} — {check(0.75 <= cov <= 0.9)}\n")
        else:
            share = lead_share(result, rows) or 0
            say(f"- precision ≥ 0.85: {fmt(dw['precision'])} — {check((dw['precision'] or 0) >= 0.85)}")
            say(f"- recall ≥ 0.9: {fmt(dw['recall'])} — {check((dw['recall'] or 0) >= 0.9)}")
            say(f"- median lead ≥ 40% of the duration: {share:.3f} — {check(share >= 0.4)}\n")

    say("## The threshold: how `warn_probability`'s default was chosen\n")
    say("Each cell: precision / recall / median lead in days (for the simulator, the lead as a share of the "
        "planned length). A lower threshold warns earlier and cries wolf more. The rule: the threshold with the "
        "best mean F1 (precision and recall weighed alike) over all five sets — real teams and simulated ones "
        "alike, so that neither Little's late-heavy history nor the simulator's noise model alone sets it.\n")
    say("| warn_probability | " + " | ".join(sets) + " | mean F1 |")
    say("|---|" + "---|" * (len(sets) + 1))
    best: tuple[float, float] | None = None
    for w, by_name in sweep.items():
        cells, f1s = [], []
        for name, result in by_name.items():
            m = result.methods["deadlinewatch"]
            lead = lead_share(result, sets[name]) if name.startswith("simulated") else m["median_lead_days"]
            cells.append(f"{fmt(m['precision'], 2)} / {fmt(m['recall'], 2)} / {fmt(lead, 2)}")
            p, r = float(m["precision"] or 0), float(m["recall"] or 0)
            f1s.append(2 * p * r / (p + r) if p + r else 0.0)
        f1 = statistics.fmean(f1s)
        if best is None or f1 > best[1] + 1e-9:
            best = (w, f1)
        say(f"| {w}{' (default)' if w == warn else ''} | " + " | ".join(cells) + f" | {f1:.3f} |")
    say("")
    chosen = best[0] if best else None
    say(f"By that rule: {chosen}" + ("; it is the default." if chosen == warn else f"; the default is {warn}.")
        + "\n")

    say("## Why precision on Little's files stays out of reach\n")
    say("To reach a median lead of L days over the caught misses, a method must warn at least L days before the "
        "deadline on half of them. What had their histories said by then?\n")
    say("| data | L (1.5 × the team's lead) | misses whose history said more than \"ETA = the deadline\" by L days "
        "ahead | kept milestones whose history had said no more by then | kept milestones: days ahead when "
        "theirs first said more |")
    say("|---|---|---|---|---|")
    for name, result in results.items():
        if not name.startswith("little06"):
            continue
        goal = 1.5 * float(result.methods["team_admits_slip"]["median_lead_days"] or 0)
        said, misses, kept = plain_histories(sets[name], goal)
        ahead = sorted((a for _, a in kept if a is not None), reverse=True)
        shown = ", ".join(f"{m} {a}" for m, a in kept) if len(kept) <= 4 else (
            f"median {statistics.median(ahead) if ahead else '–'}")
        silent = [m for m, a in kept if a is None or a < goal]
        say(f"| {name} | {goal:g} | {said} of {misses} ({said / misses:.0%}) | {len(silent)} of {len(kept)}"
            + (f" ({', '.join(silent)})" if len(silent) <= 4 else "") + f" | {shown} |")
    say("")
    say(PLAIN)
    say("## What these numbers say\n")
    say(NOTES)
    args.out.write_text("\n".join(out) + "\n", encoding="utf-8")
    print(f"wrote {args.out} in {time.monotonic() - started:.0f} s")


PLAIN = """\
So on about a fifth of the misses or more (half, less the share in the third column), a warning that early
must go out on a history that says nothing but "ETA = the deadline", week after week — which is all that the
kept milestones of the fourth column had said at that lead, too. Such histories can be told apart only by their
dates (the length of the plan, the season), and with two kept projects in 54 that would be fitting the file,
not forecasting. Precision at the team's level (which warns only once the ETA moves) and 1.5 × the team's lead
cannot both be had on these files; the forecast keeps the lead, and its probabilities stay calibrated (Brier
below every baseline's).
"""

NOTES = """\
- **Little's data is a hard test of precision.** 52 of its 54 first estimates were missed. The two that were
  kept (L06-10099, L06-82) looked like every other project when a warning would have had to go out to give
  1.5 × the team's lead: the first estimate as deadline and as ETA, no percentages. They are told apart only
  later, when their teams moved the ETA *earlier*. A warning early enough for that lead therefore reaches them
  too, and precision stays near the base rate where the team's own admissions score 1.0, with far less lead.
  The commitments file is alike: the commitments that were kept are mostly short last ones, announced like the
  rest.
- **Lead against precision is a dial, and the sweep shows it.** A lower threshold buys lead with precision
  everywhere (at 0.85 the simulated noisy team falls below 0.85); 0.95 gives the real commitments less lead
  than the team's own admissions. The default is the best balance by the rule above; the targets it misses
  are marked in each section.
- **Brier and P80** are where the forecast itself shows: below every baseline on both real files (the "always"
  alarm included, which on this data is hard to beat), with P80 dates — the dates the notices promise — kept
  about four times in five.
- **The simulator's noisy team** (statements off by a factor of 1.8 either way, one time in three) is where
  the forecast is weakest: a single wild statement cannot be told from real news at once. A statement that
  departs from the ones before by more than four spreads and a week is taken as a revision — real news must
  count at once (a team that said "1 day" and now says "200 days" is not noise) — and that costs some precision
  on this team.
- **The plan is a witness of its own.** The simulated milestones have a start (`started_on`; DTSTART of a
  VTODO in the daemon), and their plans run true to about a third either way: early on, that says more than a
  noisy team's first statement. Counting the plan (its length times how the team's plans have run, given the
  work is not done yet) lifted the noisy team's precision from 0.82 to 0.85 and its recall from 0.95 to 0.96.
  It costs lead — a warning now waits until the notes outweigh the plan (median lead 0.71 → 0.47 of the
  duration, above the 0.4 target) — and a little Brier on the simulator (low noise 0.048 → 0.056, high
  0.116 → 0.120), most of it in the first months, while the plans' learned bias is still near Little's 1.8 and
  this simulated team plans true. On Little's files the plan *is* the first estimate (the first ETA is the
  deadline): it is counted once, and their figures are unchanged.
- **Dates are rounded.** On the commitments, the log-spread of actual ÷ committed is 1.1 for commitments
  under a month and 0.3–0.4 for those over three: teams' dates are a few days off whatever their horizon
  (month ends abound). A horizon term, learned per team by likelihood on its finished milestones (τ = 3
  working days here; none on the first estimates and none or little on the simulator, whose errors are
  ratios), makes long commitments surer and short ones less so: the commitments' median lead went from
  87 to 102 days at the same threshold, precision 0.931 → 0.913, recall 0.912 → 0.927, Brier unchanged
  (0.0900 → 0.0904); the simulated noisy team's precision 0.852 → 0.878.
"""


if __name__ == "__main__":
    main()
