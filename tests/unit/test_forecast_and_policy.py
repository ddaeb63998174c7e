"""Forecasts from notes, and when the client must hear about them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import re
import zoneinfo
from statistics import NormalDist
from typing import Any

import pytest

from deadlinewatch.core import words
from deadlinewatch.core.forecast import forecast, last_work_day, learn
from deadlinewatch.core.model import Forecast, Milestone, Report
from deadlinewatch.core.policy import Policy, Promise, decide, pick_offer, promised_date
from deadlinewatch.core.words import Days, Factor, Percent, phrase
from deadlinewatch.core.workdays import WorkCalendar

TZ = zoneinfo.ZoneInfo("Europe/Istanbul")
CAL = WorkCalendar(holidays="TR")
M = Milestone("p", "m", "Design", dt.datetime(2026, 12, 5, 0, 0, tzinfo=TZ))  # end of Fri 4 Dec
MON = dt.datetime(2026, 11, 30, 10, tzinfo=TZ)


def report(at: dt.datetime, **kw: Any) -> Report:  # kw: Report's own fields
    return Report("p", "m", at, **kw)


def test_a_deadline_at_midnight_belongs_to_the_day_before() -> None:
    assert last_work_day(M.deadline, TZ) == dt.date(2026, 12, 4)


def test_without_notes_there_is_no_forecast_until_the_date_passes() -> None:
    assert forecast(M, [], MON, CAL, TZ).p_miss is None
    late = forecast(M, [], dt.datetime(2026, 12, 7, 9, tzinfo=TZ), CAL, TZ)
    assert late.p_miss == 1.0


def test_one_percent_and_nothing_else_is_said_as_one_note_not_as_no_percent() -> None:
    """A single note with a percent gives no trend: the words say the note and its percent, never that the notes
    give no percent done (the reply shows that percent a line above)."""
    one = forecast(M, [report(MON, done=10)], MON, CAL, TZ)
    assert one.p_miss is None
    assert "There is only one note so far (10% done), which isn't enough for a trend, and it gives no time left " \
        "or ETA." in one.reason
    assert "percent done yet" not in one.reason
    same_day = forecast(M, [report(MON, done=10), report(MON + dt.timedelta(hours=2), done=15)], MON, CAL, TZ)
    assert "There are 2 notes so far, all from one day (15% done), which isn't enough for a trend, and they give " \
        "no time left or ETA." in same_day.reason
    bare = forecast(M, [report(MON, cause="the client's copy is late")], MON, CAL, TZ)
    assert "The notes give no remaining time, ETA or percent done yet." in bare.reason


def test_the_plan_counts_working_days_to_the_day_the_client_agreed() -> None:
    """An all-day deadline is the end of the client's day: Thursday 3 December in London is 02:00 on Friday in
    Istanbul. The plan's length counts to the agreed day (Mon 9 Nov to Thu 3 Dec: 19 working days), not to the
    team's Friday (20, fourth native reading, defect 15)."""
    london = zoneinfo.ZoneInfo("Europe/London")
    m = Milestone("p", "m", "Design", dt.datetime(2026, 12, 4, 0, 0, tzinfo=london), kind="VTODO",
                  start=dt.datetime(2026, 11, 9, 0, 0, tzinfo=london))
    at = dt.datetime(2026, 11, 12, 15, tzinfo=TZ)
    f = forecast(m, [report(at, done=5)], at, CAL, TZ, agreed=dt.date(2026, 12, 3))
    assert "The plan gave it 19 working days from" in f.reason and f.target == dt.date(2026, 12, 3)


def test_stated_remaining_time_past_the_deadline_means_a_likely_miss() -> None:
    f = forecast(M, [report(MON, done=20, remaining_days=9)], MON, CAL, TZ)
    assert f.p_miss is not None and f.p_miss > 0.8
    assert f.p50 is not None and f.p80 is not None and f.p50 <= f.p80
    assert f.p50 > dt.date(2026, 12, 4)
    assert "The team says it needs another 9 working days." in f.reason


def test_work_well_within_the_deadline_is_on_track() -> None:
    f = forecast(M, [report(MON, done=80, remaining_days=1)], MON, CAL, TZ)
    assert f.p_miss is not None and f.p_miss < 0.2


def test_the_percent_pace_is_a_signal_of_its_own() -> None:
    slow = [report(MON - dt.timedelta(days=7), done=10), report(MON, done=15)]
    f = forecast(M, slow, MON, CAL, TZ)
    assert f.p_miss is not None and f.p_miss > 0.9 and "from 10% to 15%" in f.reason


def test_blocked_widens_the_spread() -> None:
    calm = forecast(M, [report(MON, remaining_days=3)], MON, CAL, TZ)
    blocked = forecast(M, [report(MON, remaining_days=3, blocked=True)], MON, CAL, TZ)
    assert blocked.p80 is not None and calm.p80 is not None and blocked.p80 >= calm.p80
    assert (blocked.p_miss or 0) > (calm.p_miss or 0)


def test_working_days_skip_weekends_and_public_holidays() -> None:
    assert CAL.add(dt.date(2026, 12, 4), 1) == dt.date(2026, 12, 7)  # Friday → Monday
    assert CAL.count(dt.date(2026, 12, 4), dt.date(2026, 12, 11)) == 5
    assert not CAL.is_working(dt.date(2026, 10, 29))  # Republic Day in Turkey
    closed = WorkCalendar(closed=frozenset({dt.date(2026, 12, 31)}))
    assert closed.add(dt.date(2026, 12, 30), 1) == dt.date(2027, 1, 1)


def f(p_miss: float, p80: dt.date, eta: dt.date | None = None) -> Forecast:
    return Forecast("p", "m", p80, p80, p_miss, "why", dt.date(2026, 12, 4), eta)


DEADLINE = dt.date(2026, 12, 4)
POLICY = Policy(warn_probability=0.6, renotify_slip_days=3, alert_probability=0.5)


def test_the_first_warning_promises_p80_or_a_later_eta() -> None:
    d = decide(M, f(0.7, dt.date(2026, 12, 9)), Promise(None), POLICY, CAL, DEADLINE)
    assert d is not None and d.kind == "notice" and d.promised == dt.date(2026, 12, 9) and d.slip_days == 3
    assert promised_date(f(0.7, dt.date(2026, 12, 9), eta=dt.date(2026, 12, 14))) == dt.date(2026, 12, 14)


def test_below_the_threshold_nothing_is_sent() -> None:
    assert decide(M, f(0.5, dt.date(2026, 12, 9)), Promise(None), POLICY, CAL, DEADLINE) is None


def test_the_teams_own_eta_past_the_deadline_makes_the_notice_due_whatever_the_probability() -> None:
    # the model is not yet sure (P(miss) 0.3), but the team itself says 9 December: it will be late
    d = decide(M, f(0.3, dt.date(2026, 12, 4), eta=dt.date(2026, 12, 9)), Promise(None), POLICY, CAL, DEADLINE)
    assert d is not None and d.kind == "notice" and d.promised == dt.date(2026, 12, 9)
    assert decide(M, f(0.3, dt.date(2026, 12, 4), eta=DEADLINE), Promise(None), POLICY, CAL, DEADLINE) is None
    # once warned, an ETA within the promise is no news; past it, the promise is judged as any slip
    warned = Promise(dt.date(2026, 12, 9))
    assert decide(M, f(0.3, dt.date(2026, 12, 9), eta=dt.date(2026, 12, 9)), warned, POLICY, CAL, DEADLINE) is None
    d = decide(M, f(0.3, dt.date(2026, 12, 9), eta=dt.date(2026, 12, 16)), warned, POLICY, CAL, DEADLINE)
    assert d is not None and d.promised == dt.date(2026, 12, 16)


def test_a_second_notice_only_when_the_promise_slips_more_than_renotify_days() -> None:
    warned = Promise(dt.date(2026, 12, 9))
    assert decide(M, f(0.9, dt.date(2026, 12, 14)), warned, POLICY, CAL, DEADLINE) is None  # 3 days: not more
    d = decide(M, f(0.9, dt.date(2026, 12, 15)), warned, POLICY, CAL, DEADLINE)
    assert d is not None and d.kind == "notice" and d.promised == dt.date(2026, 12, 15)


def test_a_promise_about_to_be_broken_is_announced_whatever_the_slip() -> None:
    """Nothing slips unannounced: a promise (Wed 9 Dec) forecast to be missed by two working days is only a
    wobble a week ahead, and a new miss the day before."""
    warned = Promise(dt.date(2026, 12, 9))
    later = f(0.9, dt.date(2026, 12, 11))
    assert decide(M, later, warned, POLICY, CAL, DEADLINE, today=dt.date(2026, 12, 2)) is None
    d = decide(M, later, warned, POLICY, CAL, DEADLINE, today=dt.date(2026, 12, 8))
    assert d is not None and d.kind == "notice" and d.promised == dt.date(2026, 12, 11)
    kept = f(0.2, dt.date(2026, 12, 9))  # forecast to keep it: nothing to say
    assert decide(M, kept, warned, POLICY, CAL, DEADLINE, today=dt.date(2026, 12, 8)) is None


def test_a_date_no_note_estimates_is_announced_before_it_passes_and_never_a_day_at_a_time() -> None:
    """No note gives a date to promise (no note at all here): nothing while the date the client holds is more than
    two working days away, then a notice with a placeholder a working week later, before the date passes — not
    after it, and not the next working day again every morning (a silent milestone's client got a new date a
    day)."""
    silent = Forecast("p", "m", None, None, None, "There are no progress notes yet.", DEADLINE, None)
    assert decide(M, silent, Promise(None), POLICY, CAL, DEADLINE, today=dt.date(2026, 11, 30)) is None
    d = decide(M, silent, Promise(None), POLICY, CAL, DEADLINE, today=dt.date(2026, 12, 2))
    assert d is not None and d.kind == "notice" and d.promised == dt.date(2026, 12, 11) and d.slip_days == 5
    assert decide(M, silent, Promise(None), POLICY, CAL, DEADLINE) is None  # no day given: nothing is about to pass
    # told 11 December and still nothing estimates it: once more, two working days before that date, a week on
    told = Promise(dt.date(2026, 12, 11))
    on_11th = dataclasses.replace(silent, target=dt.date(2026, 12, 11))
    assert decide(M, on_11th, told, POLICY, CAL, DEADLINE, today=dt.date(2026, 12, 8)) is None
    d = decide(M, on_11th, told, POLICY, CAL, DEADLINE, today=dt.date(2026, 12, 9))
    assert d is not None and d.promised == dt.date(2026, 12, 18)
    # the manager rejected that placeholder: it is not decided again each pass
    rejected = Promise(dt.date(2026, 12, 11), withheld=dt.date(2026, 12, 18))
    assert decide(M, on_11th, rejected, POLICY, CAL, DEADLINE, today=dt.date(2026, 12, 10)) is None


def test_a_warned_milestone_that_is_done_gets_one_delivered_note() -> None:
    done = Milestone(**{**M.__dict__, "state": "done"})
    delivered = decide(done, None, Promise(dt.date(2026, 12, 9)), POLICY, CAL, DEADLINE)
    assert delivered is not None and delivered.kind == "delivered"
    assert decide(done, None, Promise(dt.date(2026, 12, 9), delivered_sent=True), POLICY, CAL, DEADLINE) is None
    assert decide(done, None, Promise(None), POLICY, CAL, DEADLINE) is None


def test_the_offer_is_the_rung_with_the_largest_threshold_reached() -> None:
    ladder = [(1, "free review"), (10, "10% off")]
    assert pick_offer(ladder, 0) is None
    assert pick_offer(ladder, 3) == "free review"
    assert pick_offer(ladder, 12) == "10% off"


def test_the_weekly_slot_is_the_latest_check_in_time_in_the_clients_zone() -> None:
    from deadlinewatch.core.policy import weekly_slot

    london = zoneinfo.ZoneInfo("Europe/London")
    tuesday = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
    assert weekly_slot(tuesday, "mon 09:00", london) == dt.datetime(2026, 11, 30, 9, tzinfo=london)
    early_monday = dt.datetime(2026, 11, 30, 8, 59, tzinfo=london)
    assert weekly_slot(early_monday, "mon 09:00", london) == dt.datetime(2026, 11, 23, 9, tzinfo=london)
    assert weekly_slot(tuesday, "", london) is None


def test_a_held_notice_goes_out_after_the_approval_hours_or_a_working_day_before_the_deadline() -> None:
    from deadlinewatch.core.policy import hold_expiry

    created = dt.datetime(2026, 11, 30, 10, tzinfo=TZ)
    when, why = hold_expiry(created, 24, dt.date(2026, 12, 11), CAL, TZ)
    assert when == created + dt.timedelta(hours=24) and "24 hours" in str(why)
    # due Monday 7 December: one working day before is Friday 4 December, earlier than 48 hours after Thursday
    thursday = dt.datetime(2026, 12, 3, 10, tzinfo=TZ)
    when, why = hold_expiry(thursday, 48, dt.date(2026, 12, 7), CAL, TZ)
    assert when == dt.datetime(2026, 12, 4, 0, tzinfo=TZ) and "one working day away" in str(why)


def test_dependants_move_by_what_the_slip_eats_of_their_slack() -> None:
    from deadlinewatch.core.dependencies import find_cycles, shifted

    design = Milestone("p", "a", "Design", dt.datetime(2026, 12, 5, tzinfo=TZ), successors=(("b", 0), ("c", 2)))
    build = Milestone("p", "b", "Build", dt.datetime(2026, 12, 12, tzinfo=TZ), successors=(("d", 0),))
    review = Milestone("p", "c", "Review", dt.datetime(2026, 12, 31, tzinfo=TZ),
                       start=dt.datetime(2026, 12, 21, tzinfo=TZ))
    launch = Milestone("p", "d", "Launch", dt.datetime(2026, 12, 19, tzinfo=TZ))
    ms = {m.uid: m for m in (design, build, review, launch)}
    current = {"a": dt.date(2026, 12, 4), "b": dt.date(2026, 12, 11), "c": dt.date(2026, 12, 30),
               "d": dt.date(2026, 12, 18)}
    moved = shifted(ms, "a", dt.date(2026, 12, 9), current, CAL, TZ)  # design slips 3 working days
    assert moved == {"b": dt.date(2026, 12, 16), "d": dt.date(2026, 12, 23)}  # the review has slack: it stays
    assert find_cycles(ms) == []
    looped = {**ms, "d": Milestone(**{**launch.__dict__, "successors": (("a", 0),)})}
    assert find_cycles(looped) and "a" not in shifted(looped, "a", dt.date(2026, 12, 9), current, CAL, TZ)


def test_a_dependants_forecast_waits_for_its_predecessor() -> None:
    from deadlinewatch.core.dependencies import waits_for

    design = Milestone("p", "a", "Design", dt.datetime(2026, 12, 5, tzinfo=TZ), successors=(("b", 0),))
    build = Milestone("p", "b", "Build", dt.datetime(2026, 12, 12, tzinfo=TZ))
    ms = {"a": design, "b": build}
    late = Forecast("p", "a", dt.date(2026, 12, 9), dt.date(2026, 12, 11), 0.9, "slow", dt.date(2026, 12, 4))
    pushed = waits_for(build, None, {"a": late}, ms, CAL, TZ)
    assert pushed is not None and pushed.p80 == dt.date(2026, 12, 18) and pushed.p_miss == 0.9
    assert "It waits for “Design”" in pushed.reason
    on_time = Forecast("p", "a", dt.date(2026, 12, 4), dt.date(2026, 12, 4), 0.1, "fine", dt.date(2026, 12, 4))
    assert waits_for(build, None, {"a": on_time}, ms, CAL, TZ) is None


def test_the_team_bias_starts_at_the_reference_prior_and_learns_from_closed_milestones() -> None:
    from deadlinewatch.core.forecast import Closed, Prior, learn

    assert learn([]).bias == pytest.approx(Prior().ratio)
    slow = learn([Closed(5, 10)] * 60)
    assert slow.bias == pytest.approx(2.0, rel=0.05)
    honest = learn([Closed(5, 5)] * 60)
    assert honest.bias == pytest.approx(1.0, rel=0.05) and honest.remaining < slow.remaining + 1
    assert 1.0 < learn([Closed(5, 5)] * 3).bias < Prior().ratio  # a few closures move it a little
    f = forecast(M, [report(MON, remaining_days=3)], MON, CAL, TZ, spread=slow)
    assert f"This team's work has taken {slow.bias:.1f} times its estimates so far." in f.reason and slow.bias > 1.8
    # before the team closed a milestone the factor is the reference class's: never said to be the team's own
    new = forecast(M, [report(MON, remaining_days=3)], MON, CAL, TZ, spread=learn([]))
    assert "Work like this has usually taken about 1.8 times as long as estimated." in new.reason \
        and "This team" not in new.reason
    assert f.p50 is not None and f.p50 > CAL.add(MON.date(), 3)


def test_open_milestones_that_outlived_their_estimate_raise_the_learned_bias() -> None:
    """Learning only from closed milestones learns from the quick ones (survivorship): the open ones that are
    already past their estimate say "it takes longer than this", and count as such (right-censored)."""
    from deadlinewatch.core.forecast import Closed, learn

    quick = [Closed(10, 8)] * 10
    overdue = [Closed(10, 25, finished=False)] * 10
    young = [Closed(10, 2, finished=False)] * 10
    assert learn(quick + overdue).bias > learn(quick).bias * 1.5
    # half of them took more than 2.5x: the fitted spread puts a fifth or more beyond it
    both = learn(quick + overdue)
    assert both.bias * math.exp(0.8416 * both.remaining) > 2.5
    # open milestones that are young say little: nearly what the closed ones say alone
    assert learn(quick + young).bias == pytest.approx(learn(quick).bias, rel=0.1)


def test_a_single_noisy_remaining_statement_is_averaged_with_the_ones_before_it() -> None:
    steady = [report(MON - dt.timedelta(days=d), remaining_days=10 + d * 0.8) for d in (8, 6, 4, 2)]
    outlier = report(MON, remaining_days=30)
    alone = forecast(M, [outlier], MON, CAL, TZ)
    smoothed = forecast(M, [*steady, outlier], MON, CAL, TZ)
    assert alone.p50 is not None and smoothed.p50 is not None and smoothed.p50 < alone.p50
    assert re.search(r"The team says it needs another 30 working days \([\d.]+ working days when averaged with "
                     r"its 4 earlier estimates\)\.", smoothed.reason), smoothed.reason
    two = forecast(M, [steady[-1], report(MON, remaining_days=12)], MON, CAL, TZ)
    assert re.search(r"another 12 working days \([\d.]+ working days when averaged with its earlier estimate\)",
                     two.reason), two.reason
    assert "taken with" not in smoothed.reason + two.reason


def test_scattered_percent_reports_do_not_pass_for_a_stall() -> None:
    """Percent reports that jump up and down (judged by eye) give a pace too uncertain to tip a milestone; the
    same reports, steady, give a firm one."""
    days = [MON - dt.timedelta(days=d) for d in (7, 6, 5, 4, 3, 0)]
    noisy = [report(day, done=p) for day, p in zip(days, (30, 10, 35, 15, 40, 20), strict=True)]
    steady = [report(day, done=p) for day, p in zip(days, (10, 14, 18, 22, 26, 38), strict=True)]
    f_noisy, f_steady = forecast(M, noisy, MON, CAL, TZ), forecast(M, steady, MON, CAL, TZ)
    assert "no clear progress" in f_noisy.reason and "no clear progress" not in f_steady.reason


def test_a_drastic_revision_of_the_remaining_time_is_news_not_noise() -> None:
    now_much_more = report(MON, remaining_days=200)
    said_ten_days = report(MON - dt.timedelta(days=3), remaining_days=10)  # 9 left today, had it held
    f = forecast(M, [said_ten_days, now_much_more], MON, CAL, TZ)
    assert "revised from 9 working days" in f.reason and f.p_miss is not None and f.p_miss > 0.99
    # a statement whose time ran out ("1 day", three days ago) was wrong: it does not soften the news either
    said_one_day = report(MON - dt.timedelta(days=3), remaining_days=1)
    g = forecast(M, [said_one_day, now_much_more], MON, CAL, TZ)
    assert g.p50 == f.p50 and "statement" not in g.reason


def test_the_plan_from_the_calendar_is_a_signal_of_its_own() -> None:
    """A milestone with a start (DTSTART) carries the team's plan: start to deadline, times how its plans have
    run. A single wild statement no longer decides alone; the plan counts for less as its time runs out."""
    from deadlinewatch.core.forecast import Spread

    planned = Milestone("p", "m", "Design", dt.datetime(2026, 12, 26, tzinfo=TZ),
                        start=dt.datetime(2026, 11, 30, tzinfo=TZ))  # 20 working days (TR: none off)
    team = Spread(bias=1.4, remaining=0.6, eta=0.6, plan_bias=1.0, plan_sigma=0.3)
    wild = [report(MON, remaining_days=45)]
    without = forecast(M.__class__("p", "m", "Design", planned.deadline), wild, MON, CAL, TZ, spread=team)
    with_plan = forecast(planned, wild, MON, CAL, TZ, spread=team)
    assert "The plan gave it 20 working days from 2026-11-30." in with_plan.reason
    assert "plans have taken" not in with_plan.reason  # this team's plans run true
    assert with_plan.p_miss is not None and without.p_miss is not None
    assert without.p_miss > 0.9 > with_plan.p_miss
    # late in the plan, with the notes saying "soon", the plan pulls little: most of its spread lies ahead
    late = dt.datetime(2026, 12, 22, 10, tzinfo=TZ)
    near = forecast(planned, [report(late, done=95, remaining_days=1)], late, CAL, TZ, spread=team)
    assert near.p_miss is not None and near.p_miss < 0.2
    # a team whose plans ran 2x: the same plan now says "late"
    slow_plans = forecast(planned, [report(MON, remaining_days=15)], MON, CAL, TZ,
                          spread=Spread(bias=1.0, remaining=0.4, eta=0.4, plan_bias=2.0, plan_sigma=0.3,
                                        plan_history=2))
    assert "this team's plans have taken 2.0 times as long" in slow_plans.reason and (slow_plans.p_miss or 0) > 0.6


def test_a_plan_claims_no_history_of_this_team_it_does_not_have() -> None:
    """Before any of the team's planned milestones finished, the plan's factor is the reference class's: the
    reason says it once, as work like this, never as "this team's plans have taken" (issue: the risk alert said
    both, of a team with no closed milestone)."""
    planned = Milestone("p", "m", "Design", dt.datetime(2026, 12, 26, tzinfo=TZ),
                        start=dt.datetime(2026, 11, 30, tzinfo=TZ))
    fresh = forecast(planned, [report(MON, done=10)], MON, CAL, TZ, spread=learn([]))
    assert "The plan gave it 20 working days from 2026-11-30." in fresh.reason
    assert "this team" not in fresh.reason.lower()
    assert fresh.reason.count("1.8") == 1 and "Work like this has usually taken about 1.8 times" in fresh.reason


def test_a_plan_restated_as_the_first_estimate_is_counted_once() -> None:
    """An ETA of the deadline itself (or a Remaining that ends there) is the plan, said again: not a second,
    independent witness that would double the forecast's confidence. A VEVENT's DTSTART is the event itself
    (the launch day), not the start of the work: no plan."""
    planned = Milestone("p", "m", "Design", M.deadline, start=dt.datetime(2026, 11, 23, tzinfo=TZ))
    restated = forecast(planned, [report(MON, eta=dt.date(2026, 12, 4))], MON, CAL, TZ)
    assert "The plan" not in restated.reason and "The team expects to finish by 2026-12-04." in restated.reason
    own = forecast(planned, [report(MON, eta=dt.date(2026, 12, 2))], MON, CAL, TZ)
    assert "The plan gave it 10 working days from 2026-11-23." in own.reason
    event = Milestone("p", "m", "Launch", M.deadline, kind="VEVENT", start=dt.datetime(2026, 11, 23, tzinfo=TZ))
    assert "planned" not in forecast(event, [report(MON, eta=dt.date(2026, 12, 2))], MON, CAL, TZ).reason


def test_plans_are_learned_from_closed_and_open_milestones() -> None:
    from deadlinewatch.core.forecast import learn, plan_record

    start = dt.date(2026, 11, 2)  # a Monday; 10 working days to Fri 13 Nov
    deadline = dt.date(2026, 11, 13)
    done = plan_record(start, deadline, dt.date(2026, 11, 27), dt.date(2026, 12, 1), CAL)
    assert done is not None and done.finished and (done.estimated, done.actual) == (10, 20)
    running = plan_record(start, deadline, None, dt.date(2026, 11, 27), CAL)
    assert running is not None and not running.finished and running.actual == 20
    assert plan_record(start, deadline, None, dt.date(2026, 11, 1), CAL) is None  # not started: says nothing
    assert plan_record(deadline, start, None, deadline, CAL) is None  # no working day planned
    twice = learn([], plans=[done] * 40)
    assert twice.plan_bias == pytest.approx(2.0, rel=0.05) and twice.bias == pytest.approx(1.8)
    assert learn([], plans=[done] * 20 + [running] * 20).plan_bias > twice.plan_bias


def test_a_horizon_term_is_learned_when_errors_run_in_days_not_in_ratios() -> None:
    """Dates are rounded (to a week's, a month's end): a few days either way whatever the horizon. Such a team's
    near dates are less sure than its far ones. The term is chosen by likelihood among a grid, from the
    milestones that finished (their errors are known exactly); none until some did, none for a team whose
    errors are ratios."""
    import random

    from deadlinewatch.core.forecast import Closed, Spread, learn

    rnd = random.Random(5)
    lengths = [rnd.randint(3, 120) for _ in range(300)]
    in_days = learn([Closed(e, max(1.5 * e + rnd.gauss(0, 6), 0.5)) for e in lengths])
    in_ratios = learn([Closed(e, 1.5 * e * math.exp(rnd.gauss(0, 0.3))) for e in lengths])
    assert in_days.tau >= 3 and in_ratios.tau == 0
    assert in_days.bias == pytest.approx(1.5, rel=0.1) and in_ratios.bias == pytest.approx(1.5, rel=0.1)
    assert learn([Closed(e, 3 * e, finished=False) for e in lengths]).tau == 0  # nothing finished yet
    # the same ETA, one working day before the deadline: a team whose dates run a week either way is less sure
    near = [report(MON, eta=dt.date(2026, 12, 3))]
    sure = forecast(M, near, MON, CAL, TZ, spread=Spread(bias=1.0, eta=0.3))
    unsure = forecast(M, near, MON, CAL, TZ, spread=Spread(bias=1.0, eta=0.3, tau=5))
    assert sure.p_miss is not None and unsure.p_miss is not None and unsure.p_miss > sure.p_miss + 0.1
    assert unsure.p80 is not None and sure.p80 is not None and unsure.p80 > sure.p80


def test_a_team_whose_stated_remaining_times_ran_true_is_believed_more_closely() -> None:
    """The stated remaining time is corrected and spread by how this team's statements — combined as the forecast
    combines them — ran on its closed milestones, not by its first estimates' error: a team that says "10 days"
    and takes 10, milestone after milestone, gets a P80 near the 10th day; until then the first estimates' stand
    in."""
    from deadlinewatch.core.forecast import Closed, learn, stated_records

    done_on = CAL.add(MON.date(), 10)
    said = [report(MON - dt.timedelta(days=d), remaining_days=float(CAL.count(MON.date() - dt.timedelta(days=d),
                                                                              done_on)))
            for d in (7, 2, 0)]
    records = stated_records(said, done_on, CAL, TZ)
    assert [(round(r.estimated, 6), r.actual) for r in records] == [(r.remaining_days, r.remaining_days) for r in said]
    early = stated_records(said, MON.date() - dt.timedelta(days=3), CAL, TZ)  # none said after it closed
    assert [(r.estimated, r.actual) for r in early] == [(15.0, 4)]

    first_estimates = [Closed(5, 10), Closed(5, 5), Closed(5, 20)] * 15  # its first estimates ran at twice, widely
    unknown = learn(first_estimates)
    assert unknown.stated_bias == unknown.bias and unknown.remaining == unknown.eta
    true_to_word = learn(first_estimates, stated=records * 40)
    assert true_to_word.stated_bias == pytest.approx(1.0, rel=0.05) and true_to_word.bias > 1.8
    assert true_to_word.remaining < unknown.remaining / 2
    late = dt.datetime(2026, 11, 16, 10, tzinfo=TZ)
    milestone = Milestone("p", "m", "Design", dt.datetime(2026, 12, 3, 0, 0, tzinfo=TZ))  # 12 working days
    believed = forecast(milestone, [report(late, remaining_days=10)], late, CAL, TZ, spread=true_to_word)
    doubted = forecast(milestone, [report(late, remaining_days=10)], late, CAL, TZ, spread=unknown)
    assert believed.p80 is not None and believed.p80 <= CAL.add(late.date(), 11)
    assert doubted.p80 is not None and doubted.p80 > CAL.add(late.date(), 20)
    assert (believed.p_miss or 0) < 0.2 < (doubted.p_miss or 0)


def test_a_teams_etas_are_believed_as_closely_as_its_etas_have_run_at_every_horizon() -> None:
    """An ETA is corrected and spread by how this team's ETAs ran on its closed milestones, each read on a note's
    day as the forecast reads it (the latest given by then) — not by its first estimates alone: those are months
    ahead, and cannot show that a date a week away is still off by days (the horizon term)."""
    import random

    from deadlinewatch.core.forecast import Closed, learn, stated_records

    done_on = dt.date(2026, 12, 11)
    earlier = MON - dt.timedelta(days=14)
    notes = [report(earlier, eta=dt.date(2026, 12, 4)), report(MON, done=80)]  # the ETA stands: none newer
    assert [(r.estimated, r.actual, r.eta) for r in stated_records(notes, done_on, CAL, TZ)] == [
        (CAL.count(earlier.date(), dt.date(2026, 12, 4)), CAL.count(earlier.date(), done_on), True),
        (CAL.count(MON.date(), dt.date(2026, 12, 4)), CAL.count(MON.date(), done_on), True)]

    rnd = random.Random(3)
    first_estimates = [Closed(60, 120)] * 30  # months ahead, twice as long
    etas = [Closed(h, max(h + rnd.gauss(0, 5), 0.5), eta=True) for h in (rnd.randint(2, 60) for _ in range(400))]
    by_first = learn(first_estimates)
    by_etas = learn(first_estimates, stated=etas)
    assert by_first.bias > 1.8 and by_etas.bias == pytest.approx(1.0, abs=0.1)
    assert by_first.tau == 0 and by_etas.tau >= 3  # a week's error in days, learned only from ETAs read near
    assert by_etas.stated_bias == by_etas.bias  # no remaining time stated yet: the ETAs' stand in
    assert by_etas.history == by_first.history == 30  # what the bias rests on: the milestones, not the notes


def test_the_percent_pace_is_measured_not_estimated_so_the_teams_bias_leaves_it_alone() -> None:
    from deadlinewatch.core.forecast import Closed, learn

    pace = [report(MON - dt.timedelta(days=d), done=60 - 4 * d) for d in (9, 7, 4, 2, 0)]
    slow = learn([Closed(5, 10)] * 60)
    assert slow.bias > 1.8
    assert forecast(M, pace, MON, CAL, TZ, spread=slow).p50 == forecast(M, pace, MON, CAL, TZ).p50


def test_the_p80_date_is_the_whole_day_whose_chance_is_nearest_to_four_in_five() -> None:
    """For a team whose statements run within a tenth of the truth, "Remaining: 10" is done by the 10th working day
    about 69% of the time and by the 11th 92%: the first day reaching 80% would be kept nine times in ten, the
    10th day is nearer four in five."""
    from dataclasses import replace

    from deadlinewatch.core.forecast import DEFAULT_SPREAD

    normal = NormalDist(math.log(10), 0.1)
    assert round(normal.cdf(math.log(10.5)), 2) == 0.69 and round(normal.cdf(math.log(11.5)), 2) == 0.92
    late = dt.datetime(2026, 11, 2, 10, tzinfo=TZ)
    milestone = Milestone("p", "m", "Design", dt.datetime(2026, 12, 30, 0, 0, tzinfo=TZ))
    true_to_word = replace(DEFAULT_SPREAD, remaining=0.1)
    precise = forecast(milestone, [report(late, remaining_days=10)], late, CAL, TZ, spread=true_to_word)
    assert precise.p50 == precise.p80 == CAL.add(late.date(), 10)
    # the default spread (0.45): done by the 14th day 79.6% of the time, by the 15th 83.5%: the 14th is nearer
    wide = NormalDist(math.log(10), DEFAULT_SPREAD.remaining)
    assert round(wide.cdf(math.log(14.5)), 3) == 0.796 and round(wide.cdf(math.log(15.5)), 3) == 0.835
    assert forecast(milestone, [report(late, remaining_days=10)], late, CAL, TZ).p80 == CAL.add(late.date(), 14)


def test_a_forecasts_words_are_kept_as_json_and_read_back_the_same() -> None:
    said = (phrase("stated %(days)s left, \"quoted\", ü → ৫", days=Days(4.0)),
            phrase("%(pace)s at %(rate)s", pace=phrase("%(b)s → %(a)s in %(d)s (%(n)s notes)", b=Percent(20),
                                                         a=Percent(40.5), d=Days(8), n=3), rate=Factor(1.8)),
            phrase("team's ETA %(date)s; %(who)s", date=dt.date(2026, 12, 4), who="Ayşe \"A\"\n<a@x>"),
            phrase("far: %(days)s", days=Days(math.inf)))
    kept = words.dumps(said)
    assert words.loads(kept) == said
    assert [str(p) for p in words.loads(kept)] == [str(p) for p in said]
    # the same JSON the nested dicts of words._encode made before it was written directly (rows kept before)
    assert json.loads(kept) == [words._encode(p) for p in said]


def test_the_plan_counts_from_the_day_its_entry_starts_for_a_team_west_of_its_client() -> None:
    """A team in New York, its client in London: the design starts Tuesday 1 December (an all-day DTSTART, kept at
    London's midnight — 19:00 on the 30th in New York). The plan was counted from Monday the 30th, a working day
    more, and the date promised moved with it (the zone audit)."""
    from deadlinewatch.core.milestones import milestones_from_ics

    ny = zoneinfo.ZoneInfo("America/New_York")
    ics = ("BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:t\nBEGIN:VTODO\nUID:d\nSUMMARY:Design\nDTSTART;VALUE=DATE:20261201\n"
           "DUE;VALUE=DATE:20261211\nEND:VTODO\nEND:VCALENDAR\n")
    now = dt.datetime(2026, 12, 3, 15, tzinfo=ny)
    [m] = milestones_from_ics(ics, "p", (), "Europe/London", "America/New_York", "d.ics", now).milestones
    notes = [Report("p", "d", now - dt.timedelta(days=1), 10), Report("p", "d", now, 20)]
    f = forecast(m, notes, now, WorkCalendar(), ny, agreed=dt.date(2026, 12, 11))
    said = words.english(f.words)
    assert "The plan gave it 9 working days from 2026-12-01." in said, said
