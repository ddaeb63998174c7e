"""Work that builds on other work (finish-to-start): what the client is told keeps it after the work it waits for.

December 2026: Wednesday the 2nd, Monday the 7th, Thursday the 10th. Weekends are the only days off here.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping

import pytest

from deadlinewatch.config.schema import Client, Project
from deadlinewatch.core.dependencies import earliest, shifted, waits_for
from deadlinewatch.core.model import Forecast, Milestone
from deadlinewatch.core.workdays import WorkCalendar
from deadlinewatch.decisions.forecaster import pass_forecasts
from deadlinewatch.decisions.project_view import ProjectView

TZ = zoneinfo.ZoneInfo("Europe/London")
CAL = WorkCalendar()


def day(n: int) -> dt.date:
    return dt.date(2026, 12, n)


def milestone(uid: str, due: int, *then: tuple[str, int], start: int | None = None) -> Milestone:
    """Due by the end of `due` December; `then`: the work that builds on it, with each link's GAP."""
    return Milestone("p", uid, uid.title(), dt.datetime.combine(day(due + 1), dt.time(), TZ), successors=then,
                     start=dt.datetime.combine(day(start), dt.time(9), TZ) if start else None)


def plan(*milestones: Milestone) -> dict[str, Milestone]:
    return {m.uid: m for m in milestones}


def as_planned(milestones: Mapping[str, Milestone]) -> dict[str, dt.date]:
    """What a client who has heard of no slip knows: every deadline's day."""
    return {m.uid: (m.deadline - dt.timedelta(microseconds=1)).astimezone(TZ).date() for m in milestones.values()}


def assert_in_order(milestones: Mapping[str, Milestone], dates: Mapping[str, dt.date]) -> None:
    """Every successor is due after its predecessor's date plus the GAP, in working days."""
    for pred in milestones.values():
        for succ, gap in pred.successors:
            assert dates[succ] > CAL.add(dates[pred.uid], gap), (pred.uid, succ, dates)


@pytest.mark.parametrize("gap", [0, 2])
def test_each_milestone_of_a_chain_lands_after_the_one_it_builds_on(gap: int) -> None:
    # mockups (Wed 2) → content migration (Mon 7) → launch (Wed 9); the mockups slip past both
    ms = plan(milestone("mockups", 2, ("content", gap)), milestone("content", 7 + gap, ("launch", gap)),
              milestone("launch", 9 + gap))
    told = as_planned(ms)
    moved = shifted(ms, "mockups", day(10), told, CAL, TZ)
    assert set(moved) == {"content", "launch"}
    assert_in_order(ms, {**told, "mockups": day(10), **moved})
    if gap == 0:  # each keeps its own length: content three working days, launch two
        assert moved == {"content": day(15), "launch": day(17)}


def test_work_further_down_is_counted_from_the_day_its_predecessor_lands_on() -> None:
    # the content migration's new date, Tue 15, is a public holiday where the client is: it lands on Wed 16, and
    # the launch (two working days of its own) is counted from that day, not from the holiday
    ms = plan(milestone("mockups", 2, ("content", 0)), milestone("content", 7, ("launch", 0)), milestone("launch", 9))
    told = as_planned(ms)

    def land(d: dt.date) -> dt.date:
        return day(16) if d == day(15) else d

    moved = shifted(ms, "mockups", day(10), told, CAL, TZ, land)
    assert moved == {"content": day(16), "launch": day(18)}
    assert_in_order(ms, {**told, "mockups": day(10), **moved})


def test_a_second_slip_keeps_the_chain_in_order() -> None:
    ms = plan(milestone("mockups", 2, ("content", 0)), milestone("content", 7, ("launch", 1)), milestone("launch", 10))
    told = as_planned(ms)
    first = shifted(ms, "mockups", day(10), told, CAL, TZ)
    told = {**told, "mockups": day(10), **first}
    again = shifted(ms, "mockups", day(16), told, CAL, TZ)
    assert set(again) == {"content", "launch"}
    assert all(again[uid] > first[uid] for uid in again)
    assert_in_order(ms, {**told, "mockups": day(16), **again})


def test_work_due_the_same_day_as_what_it_builds_on_moves_to_the_working_day_after() -> None:
    # a review due with the mockups (Wed 2), and a handover due on Sunday after mockups due Friday: no working
    # day of their own, yet they still cannot be done on the day the work they build on is
    ms = plan(milestone("mockups", 2, ("review", 0)), milestone("review", 2),
              milestone("copy", 4, ("handover", 0)), milestone("handover", 6))
    told = as_planned(ms)
    assert shifted(ms, "mockups", day(10), told, CAL, TZ) == {"review": day(11)}
    assert shifted(ms, "copy", day(11), told, CAL, TZ) == {"handover": day(14)}  # Friday → Monday


def test_work_that_builds_on_two_slipping_milestones_lands_after_the_later_one() -> None:
    # the launch waits for the mockups and for the content migration, which itself waits for the mockups; the
    # launch's own two days (DTSTART Tue 15) would fit after the mockups, but not after the migration
    ms = plan(milestone("mockups", 2, ("content", 0), ("launch", 0)),
              milestone("content", 11, ("launch", 0), start=3), milestone("launch", 16, start=15))
    moved = shifted(ms, "mockups", day(16), as_planned(ms), CAL, TZ)
    assert moved == {"content": day(25), "launch": day(29)}
    assert_in_order(ms, {**as_planned(ms), "mockups": day(16), **moved})


def test_a_date_promised_in_an_earlier_notice_still_holds_the_work_after_it() -> None:
    # the content migration was promised for Wed 16 before; the launch still shows Mon 14 (from before this rule)
    ms = plan(milestone("mockups", 2, ("content", 0)), milestone("content", 7, ("launch", 0)), milestone("launch", 9))
    told = {**as_planned(ms), "content": day(16), "launch": day(14)}
    # the mockups slip a little: the content migration keeps its date (it has the slack), the launch moves
    moved = shifted(ms, "mockups", day(4), told, CAL, TZ)
    assert moved == {"launch": day(18)}
    assert_in_order(ms, {**told, "mockups": day(4), **moved})


def test_a_milestone_with_enough_slack_keeps_its_date() -> None:
    # the launch starts on Mon 21 (DTSTART): the mockups slipping to Thu 10 leave it untouched
    ms = plan(milestone("mockups", 2, ("launch", 2)), milestone("launch", 23, start=21))
    assert shifted(ms, "mockups", day(10), as_planned(ms), CAL, TZ) == {}


def test_a_milestone_is_never_moved_earlier_than_the_date_the_client_has() -> None:
    ms = plan(milestone("mockups", 2, ("content", 0)), milestone("content", 7, ("launch", 0)), milestone("launch", 9))
    # the client already has the content migration on Wed 30 and the launch on Fri 8 January
    told = {**as_planned(ms), "content": day(30), "launch": dt.date(2027, 1, 8)}
    assert shifted(ms, "mockups", day(10), told, CAL, TZ) == {}
    # a later slip moves the migration to Mon 4 January; the launch would fit on Wed 6, and keeps its Fri 8
    assert shifted(ms, "mockups", day(30), told, CAL, TZ) == {"content": dt.date(2027, 1, 4)}


def test_a_cycle_does_not_stop_the_rest_of_the_chain_from_moving() -> None:
    ms = plan(milestone("mockups", 2, ("content", 0)), milestone("content", 7, ("launch", 0)),
              milestone("launch", 9, ("mockups", 0), ("content", 0)))
    moved = shifted(ms, "mockups", day(10), as_planned(ms), CAL, TZ)
    assert moved == {"content": day(15), "launch": day(17)}


def test_a_milestones_own_new_date_comes_after_what_its_predecessor_was_promised() -> None:
    ms = plan(milestone("mockups", 2, ("content", 1)), milestone("content", 8), milestone("launch", 9))
    # the mockups were promised for Wed 16: the migration (three working days after a day's gap) not before Tue 22
    assert earliest(ms, "content", {**as_planned(ms), "mockups": day(16)}, CAL, TZ) == day(22)
    # on their plan, the mockups hold nothing back; the launch builds on nothing
    assert earliest(ms, "content", as_planned(ms), CAL, TZ) is None
    assert earliest(ms, "launch", {**as_planned(ms), "mockups": day(16)}, CAL, TZ) is None


def test_a_forecast_of_work_due_with_its_predecessor_ends_after_the_predecessors_forecast() -> None:
    ms = plan(milestone("mockups", 2, ("review", 0)), milestone("review", 2))
    late = Forecast("p", "mockups", day(9), day(10), 0.9, "slow", day(2))
    pushed = waits_for(ms["review"], None, {"mockups": late}, ms, CAL, TZ)
    assert pushed is not None and pushed.p50 == day(10) and pushed.p80 == day(11) and pushed.p_miss == 0.9


def test_a_dependants_forecast_counts_to_the_day_its_client_holds() -> None:
    """A team in Istanbul, its client in London: an all-day deadline ends at London's midnight, three in the morning
    of the next day in Istanbul. A predecessor forecast to finish on the day the review is due pushes the review a
    working day past the day its client holds (Thursday 3rd) — a miss, as the notice that would move it counts it —
    not merely to the day after in Istanbul, which would read as on time."""
    client = Client(name="Jane", email="jane@acme.example", timezone="Europe/London")
    project = Project(id="p", name="P", calendar="p", client=client, calendar_updates="invitations", approval="auto",
                      weekly_update="")
    ms = [milestone("mockups", 2, ("review", 0)), milestone("review", 3)]
    own = {"mockups": Forecast("p", "mockups", day(3), day(3), 0.9, "slow", day(2)),
           "review": Forecast("p", "review", day(2), day(2), 0.05, "early", day(3))}
    pv = ProjectView(project, ms, {}, {})

    def forecast(m: Milestone, *_: object) -> Forecast:
        return own[m.uid]

    review = pass_forecasts(pv, forecast, dt.datetime(2026, 12, 1, 9, tzinfo=TZ), CAL)["review"]
    assert pv.agreed(ms[1]) == day(3) and review.target == day(3)
    assert review.p80 == day(4) and review.p_miss == 0.9
