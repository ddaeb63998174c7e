"""The team's word decides (issue 25): the team's own date, what the client was told and nothing else, dates the
client can use, and the manager's own date — on the policy, the project view and the manager's reply."""

from __future__ import annotations

import dataclasses
import datetime as dt
import zoneinfo
from typing import Any

from deadlinewatch.config.schema import Client, Project
from deadlinewatch.core.forecast import forecast, team_date
from deadlinewatch.core.intake import decision_word, manager_decision
from deadlinewatch.core.model import ClientDate, Forecast, Milestone, Report, ShowDate
from deadlinewatch.core.policy import Policy, Promise, decide, replan
from deadlinewatch.core.workdays import WorkCalendar

TZ = zoneinfo.ZoneInfo("Europe/Istanbul")
CAL = WorkCalendar(holidays="TR")
MON = dt.datetime(2026, 11, 30, 10, tzinfo=TZ)
# due in 10 working days after Monday 30 November: the end of Monday 14 December
DUE_IN_TEN = Milestone("p", "m", "Homepage", dt.datetime(2026, 12, 15, 0, 0, tzinfo=TZ))
DEFAULTS = Policy(warn_probability=0.98, renotify_slip_days=3, alert_probability=0.93)


def note(at: dt.datetime, **kw: Any) -> Report:  # kw: Report's own fields
    return Report("p", "m", at, **kw)


def test_the_teams_own_date_is_its_eta_else_the_working_day_its_remaining_ends() -> None:
    assert team_date([note(MON, remaining_days=15)], CAL, TZ) == dt.date(2026, 12, 21)
    assert team_date([note(MON, remaining_days=2.5)], CAL, TZ) == dt.date(2026, 12, 3)  # a part day is a day
    assert team_date([note(MON, eta=dt.date(2026, 12, 18), remaining_days=15)], CAL, TZ) == dt.date(2026, 12, 18)
    # the newest note that gives a date speaks for the team; one with only a percentage leaves it standing
    later = [note(MON, eta=dt.date(2026, 12, 18)), note(MON + dt.timedelta(days=1), remaining_days=3),
             note(MON + dt.timedelta(days=2), done=50)]
    assert team_date(later, CAL, TZ) == dt.date(2026, 12, 4)
    assert team_date([note(MON, done=20)], CAL, TZ) is None


def test_the_readme_note_makes_the_notice_due_at_once_without_an_eta_line() -> None:
    """"Done: 20%, Remaining: 15 days" on a milestone due in 10 working days: the team said it will be late."""
    f = forecast(DUE_IN_TEN, [note(MON, done=20, remaining_days=15)], MON, CAL, TZ)
    assert f.team_date == dt.date(2026, 12, 21) and f.p_miss is not None and f.p_miss < DEFAULTS.warn_probability
    d = decide(DUE_IN_TEN, f, Promise(None), DEFAULTS, CAL, dt.date(2026, 12, 14), today=MON.date())
    assert d is not None and d.kind == "notice"
    assert d.promised is not None and d.promised >= dt.date(2026, 12, 21)  # never before the team's own date


def test_a_held_or_rejected_date_is_not_decided_again_until_the_news_moves_past_it() -> None:
    f = forecast(DUE_IN_TEN, [note(MON, done=20, remaining_days=15)], MON, CAL, TZ)
    first = decide(DUE_IN_TEN, f, Promise(None), DEFAULTS, CAL, dt.date(2026, 12, 14), today=MON.date())
    assert first is not None and first.promised is not None
    withheld = Promise(None, withheld=first.promised)
    assert decide(DUE_IN_TEN, f, withheld, DEFAULTS, CAL, dt.date(2026, 12, 14), today=MON.date()) is None
    worse = forecast(DUE_IN_TEN, [note(MON, done=20, remaining_days=40)], MON, CAL, TZ)
    again = decide(DUE_IN_TEN, worse, withheld, DEFAULTS, CAL, dt.date(2026, 12, 14), today=MON.date())
    assert again is not None and again.promised is not None and again.promised > first.promised


def test_no_promised_date_falls_on_a_public_holiday_where_the_client_is() -> None:
    london = WorkCalendar(frozenset(range(7)), "GB")
    m = Milestone("p", "m", "Launch", dt.datetime(2026, 12, 19, 0, 0, tzinfo=TZ))
    christmas = dt.date(2026, 12, 25)
    f = Forecast("p", "m", christmas, christmas, 0.99, "why", dt.date(2026, 12, 18), christmas)
    # Christmas and Boxing Day (observed on Monday 28 December in 2026) are no days to promise a London client
    assert replan(m, f, CAL, dt.date(2026, 12, 18), london).promised == dt.date(2026, 12, 29)
    assert replan(m, f, CAL, dt.date(2026, 12, 18)).promised == dt.date(2026, 12, 25)  # no client holidays given
    # without any estimate: a placeholder a working week after the deadline's day (the manager is asked for the
    # date), on a day the client can use
    assert replan(m, None, CAL, dt.date(2026, 12, 18)).promised == dt.date(2026, 12, 25)
    assert replan(m, None, CAL, dt.date(2026, 12, 18), london).promised == dt.date(2026, 12, 29)


def test_a_date_held_or_rejected_is_never_what_the_client_was_told() -> None:
    from deadlinewatch.decisions.project_view import ProjectView

    told = ShowDate("p", "m", 3, shown_date=dt.date(2026, 12, 9), promised=dt.date(2026, 12, 9))
    refused = ShowDate("p", "m", 4, shown_date=dt.date(2027, 1, 27), promised=dt.date(2027, 1, 27))
    decided = {"m": ClientDate.after(ClientDate.after(None, told), refused)}
    client = Client(name="Jane", email="jane@acme.example")
    project = Project(id="p", name="P", calendar="p", client=client, calendar_updates="invitations",
                      approval="auto", weekly_update="")
    pv = ProjectView(project, [], {}, decided)
    for state in ("held", "rejected", "failed"):  # failed: the client's server refused it
        judged = pv.judged([("sent", (told,)), (state, (refused,))])
        assert judged.dates["m"].promised == dt.date(2026, 12, 9)  # "the new date I gave you" is this one
        assert judged.dates["m"].sequence == 4  # the SEQUENCE only grows, told or not
        assert judged.withheld == {"m": dt.date(2027, 1, 27)}
    never = pv.judged([("rejected", (told, refused))])
    assert never.dates["m"].promised is None and never.dates["m"].shown_date is None


def test_a_letter_composed_in_shadow_tells_the_client_nothing_once_the_project_is_out_of_it() -> None:
    """approval = "shadow" sends the client's letters to the manager alone. Under shadow the manager sees what the
    client would have got — a second letter says "again" of the first — but the client's own page, feed and
    calendar copy never show a shadow date, and once the project leaves shadow the shadow letters never happened
    but for their SEQUENCE: the first real notice is decided afresh (no date withheld), and an invitation
    composed in shadow is composed again."""
    from deadlinewatch.adapters.store.port import SHADOW
    from deadlinewatch.decisions.project_view import ProjectView

    invited = ShowDate("p", "m", 1, shown_date=dt.date(2026, 12, 4), invited=True)
    moved = ShowDate("p", "m", 2, shown_date=dt.date(2026, 12, 9), promised=dt.date(2026, 12, 9))
    decided = {"m": ClientDate.after(ClientDate.after(None, invited), moved)}
    groups = [(SHADOW, (invited,)), (SHADOW, (moved,))]
    client = Client(name="Jane", email="jane@acme.example")
    project = Project(id="p", name="P", calendar="p", client=client, calendar_updates="invitations",
                      approval="shadow", weekly_update="")
    trying = ProjectView(project, [], {}, decided)
    simulated = trying.judged(groups)
    assert simulated.dates["m"].promised == dt.date(2026, 12, 9) and simulated.in_calendar == frozenset({"m"})
    assert trying.as_told(groups).dates == {}  # the page, the feed, the calendar copy: nothing was told
    live = dataclasses.replace(trying, project=dataclasses.replace(trying.project, approval="auto")).judged(groups)
    assert live.dates["m"] == ClientDate(2, None, None, False, False, invited=False)  # only the SEQUENCE stays
    assert live.withheld == {} and live.in_calendar == frozenset()
    # a real letter after them tells the client: its date is the promise, its invitation puts the entry there
    again = ShowDate("p", "m", 3, shown_date=dt.date(2026, 12, 11), promised=dt.date(2026, 12, 11), invited=True)
    after = dataclasses.replace(live, dates={"m": ClientDate.after(decided["m"], again)}).judged(
        [*groups, ("sent", (again,))])
    assert after.dates["m"].promised == dt.date(2026, 12, 11) and after.in_calendar == frozenset({"m"})


def test_the_manager_approves_with_a_date_in_their_own_words() -> None:
    today = dt.date(2026, 12, 6)
    assert manager_decision("approve 2026-12-11", today) == ("approve", dt.date(2026, 12, 11), "")
    assert manager_decision("Onayla, 11 Aralık", today) == ("approve", dt.date(2026, 12, 11), "")
    assert manager_decision("অনুমোদন ১১ ডিসেম্বর", today) == ("approve", dt.date(2026, 12, 11), "")
    assert manager_decision("onayla 11.12.2026", today) == ("approve", dt.date(2026, 12, 11), "")  # day first
    assert manager_decision("onayla 11 Aralık 17.00", today) == ("approve", dt.date(2026, 12, 11), "")
    # a version or a decimal is no date (the review: "the 2.4 release" was approved for 2 April, "3.5 gün" 3 May)
    for words in ("approve, fine for the 2.4 release", "onayla, 3.5 gün sorun değil"):
        word, date, problem = manager_decision(words, today)
        assert (word, date) == ("approve", None) and problem, words
    assert manager_decision("Approve.\n\n> quoted 2026-01-01", today) == ("approve", None, "")
    # a weekday, as a note's ETA may say it (6 December 2026 is a Sunday): not dropped for the letter's own date
    assert manager_decision("approve Friday", today) == ("approve", dt.date(2026, 12, 11), "")
    assert manager_decision("Onayla, önümüzdeki cuma", today) == ("approve", dt.date(2026, 12, 11), "")
    assert manager_decision("Approve, thanks!", today) == ("approve", None, "")
    # "next Friday" on a Tuesday: this week's or the week after's — asked, never a week's guess in the letter
    word, date, problem = manager_decision("approve next Friday", dt.date(2026, 12, 8))
    assert (word, date) == ("approve", None)
    assert problem == '"next Friday" is ambiguous: this week\'s (2026-12-11) or the week after\'s (2026-12-18)? ' \
        "Write the date"
    word, date, problem = manager_decision("approve 03/04", today)
    assert (word, date) == ("approve", None) and "ambiguous" in problem  # never silently the letter's date
    assert manager_decision("reject 2026-12-11", today)[:2] == ("reject", None)


def test_every_accepted_decision_word_is_read_whole_in_every_language() -> None:
    from deadlinewatch.core.intake import APPROVE, REJECT

    for word in APPROVE:
        assert decision_word(f"{word}\n") == "approve", word
        assert decision_word(f"{word.capitalize()}, thanks!") == "approve", word
    for word in REJECT:
        assert decision_word(f"{word}.") == "reject", word


def test_replay_takes_the_readme_note_as_the_team_saying_it_will_be_late() -> None:
    """The same note through `replay`: the client notice is due at that very report, at the default threshold."""
    import csv
    import io

    from deadlinewatch.core.replay import read_rows, replay

    text = ("milestone,deadline,started_on,reported_on,percent_done,remaining_days,eta,completed_on\n"
            "homepage,2026-12-14,,2026-11-30,20,15,,2026-12-21\n")
    reader = csv.DictReader(io.StringIO(text))
    result = replay(read_rows(reader, reader.fieldnames or []), DEFAULTS, CAL)
    [row] = result.trace
    assert row.alarm and row.p_miss is not None and row.p_miss < DEFAULTS.warn_probability
