"""Deadlines exactly as CONTRACT.md defines them."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from deadlinewatch.core.milestones import EntryProblem, milestones_from_ics
from deadlinewatch.core.model import Milestone

LONDON = zoneinfo.ZoneInfo("Europe/London")
ISTANBUL = zoneinfo.ZoneInfo("Europe/Istanbul")
NOW = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)


def one(body: str, categories: tuple[str, ...] = ()) -> tuple[list[Milestone], list[EntryProblem]]:
    ics = f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:t\n{body}\nEND:VCALENDAR\n"
    result = milestones_from_ics(ics, "p", categories, "Europe/London", "Europe/Istanbul", "x.ics",
                                 dt.datetime(2026, 11, 23, tzinfo=dt.UTC))
    return result.milestones, result.problems


def test_a_one_day_all_day_event_is_due_at_the_end_of_that_day() -> None:
    [m], _ = one("BEGIN:VEVENT\nUID:e\nSUMMARY:Launch\nDTSTART;VALUE=DATE:20261210\nDTEND;VALUE=DATE:20261211\n"
                 "END:VEVENT")
    assert m.deadline == dt.datetime(2026, 12, 11, 0, 0, tzinfo=LONDON)  # DTEND is exclusive


def test_an_all_day_event_without_dtend_is_due_at_the_end_of_its_day() -> None:
    [m], _ = one("BEGIN:VEVENT\nUID:e\nSUMMARY:x\nDTSTART;VALUE=DATE:20261210\nEND:VEVENT")
    assert m.deadline == dt.datetime(2026, 12, 11, 0, 0, tzinfo=LONDON)


def test_a_todo_due_date_is_the_end_of_that_day_in_the_clients_zone() -> None:
    [m], _ = one("BEGIN:VTODO\nUID:t\nSUMMARY:x\nDUE;VALUE=DATE:20261204\nEND:VTODO")
    assert m.deadline == dt.datetime(2026, 12, 5, 0, 0, tzinfo=LONDON)


def test_a_due_time_is_taken_as_is_and_floating_times_are_the_teams() -> None:
    [m], _ = one("BEGIN:VTODO\nUID:t\nSUMMARY:x\nDUE:20261204T170000Z\nEND:VTODO")
    assert m.deadline == dt.datetime(2026, 12, 4, 17, tzinfo=dt.UTC)
    [f], _ = one("BEGIN:VTODO\nUID:t\nSUMMARY:x\nDUE:20261204T170000\nEND:VTODO")
    assert f.deadline == dt.datetime(2026, 12, 4, 17, tzinfo=ISTANBUL)


def test_dtstart_plus_duration_when_there_is_no_due_or_dtend() -> None:
    [t], _ = one("BEGIN:VTODO\nUID:t\nSUMMARY:x\nDTSTART:20261201T090000Z\nDURATION:P2DT8H\nEND:VTODO")
    assert t.deadline == dt.datetime(2026, 12, 3, 17, tzinfo=dt.UTC)
    [e], _ = one("BEGIN:VEVENT\nUID:e\nSUMMARY:x\nDTSTART;TZID=Europe/Istanbul:20261201T090000\nDURATION:PT2H\n"
                 "END:VEVENT")
    assert e.deadline == dt.datetime(2026, 12, 1, 11, tzinfo=ISTANBUL)


def test_a_todo_due_by_a_dated_start_and_a_duration_is_due_at_the_end_of_the_day_it_makes() -> None:
    """The contract audit: DTSTART;VALUE=DATE:20261201 with DURATION:P3D was due at the start of 4 December — a day
    before DUE;VALUE=DATE:20261204, which is what it makes (a DATE DUE is the end of that day). An all-day
    event's DTSTART + DURATION stays exclusive, as its DTEND is."""
    [t], _ = one("BEGIN:VTODO\nUID:t\nSUMMARY:x\nDTSTART;VALUE=DATE:20261201\nDURATION:P3D\nEND:VTODO")
    [d], _ = one("BEGIN:VTODO\nUID:t\nSUMMARY:x\nDUE;VALUE=DATE:20261204\nEND:VTODO")
    assert t.deadline == d.deadline == dt.datetime(2026, 12, 5, 0, 0, tzinfo=LONDON)
    [e], _ = one("BEGIN:VEVENT\nUID:e\nSUMMARY:x\nDTSTART;VALUE=DATE:20261201\nDURATION:P3D\nEND:VEVENT")
    assert e.deadline == dt.datetime(2026, 12, 4, 0, 0, tzinfo=LONDON)


def test_status_closes_or_cancels_and_class_hides_from_the_client() -> None:
    found, _ = one("BEGIN:VTODO\nUID:a\nSUMMARY:a\nDUE:20261204T170000Z\nSTATUS:COMPLETED\nEND:VTODO\n"
                   "BEGIN:VTODO\nUID:b\nSUMMARY:b\nDUE:20261204T170000Z\nPERCENT-COMPLETE:100\nEND:VTODO\n"
                   "BEGIN:VTODO\nUID:c\nSUMMARY:c\nDUE:20261204T170000Z\nSTATUS:CANCELLED\nEND:VTODO\n"
                   "BEGIN:VTODO\nUID:d\nSUMMARY:d\nDUE:20261204T170000Z\nCLASS:CONFIDENTIAL\nEND:VTODO")
    assert [(m.uid, m.state, m.private) for m in found] == [
        ("a", "done", False), ("b", "done", False), ("c", "cancelled", False), ("d", "open", True)]


def test_categories_filter_which_entries_are_milestones() -> None:
    found, _ = one("BEGIN:VEVENT\nUID:m\nSUMMARY:Kick-off meeting\nDTSTART:20261201T090000Z\nCATEGORIES:meeting\n"
                   "END:VEVENT\nBEGIN:VTODO\nUID:t\nSUMMARY:x\nDUE:20261204T170000Z\nCATEGORIES:Milestone,web\n"
                   "END:VTODO", categories=("milestone",))
    assert [m.uid for m in found] == ["t"]


def test_a_broken_entry_is_reported_with_its_uid_and_the_others_still_read() -> None:
    found, problems = one("BEGIN:VTODO\nUID:nodate\nSUMMARY:x\nEND:VTODO\n"
                          "BEGIN:VTODO\nUID:ok\nSUMMARY:y\nDUE:20261204T170000Z\nEND:VTODO")
    assert [m.uid for m in found] == ["ok"]
    assert problems[0].uid == "nodate" and "DUE" in problems[0].reason


def test_garbage_is_a_problem_not_a_crash() -> None:
    result = milestones_from_ics("this is not a calendar", "p", (), "UTC", "UTC", "bad.ics", NOW)
    assert result.milestones == [] and result.problems and result.problems[0].href == "bad.ics"


def test_windows_zone_names_and_custom_vtimezones() -> None:
    [m], _ = one("BEGIN:VEVENT\nUID:w\nSUMMARY:x\nDTSTART;TZID=W. Europe Standard Time:20261210T100000\n"
                 "DTEND;TZID=W. Europe Standard Time:20261210T110000\nEND:VEVENT")
    assert m.deadline == dt.datetime(2026, 12, 10, 10, tzinfo=dt.UTC)
    custom = ("BEGIN:VTIMEZONE\nTZID:Studio Time\nBEGIN:STANDARD\nDTSTART:19700101T000000\nTZOFFSETFROM:+0500\n"
              "TZOFFSETTO:+0500\nTZNAME:ST\nEND:STANDARD\nEND:VTIMEZONE\n"
              "BEGIN:VTODO\nUID:c\nSUMMARY:x\nDUE;TZID=Studio Time:20261210T170000\nEND:VTODO")
    [c], _ = one(custom)
    assert c.deadline.astimezone(dt.UTC) == dt.datetime(2026, 12, 10, 12, tzinfo=dt.UTC)


def test_a_recurring_milestone_takes_its_next_occurrence_with_a_note() -> None:
    ics = ("BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:t\nBEGIN:VTODO\nUID:r\nSUMMARY:Monthly report\n"
           "DTSTART;VALUE=DATE:20260105\nDUE;VALUE=DATE:20260110\nRRULE:FREQ=MONTHLY\nEND:VTODO\nEND:VCALENDAR\n")
    result = milestones_from_ics(ics, "p", (), "Europe/London", "Europe/Istanbul", "r.ics",
                                 dt.datetime(2026, 11, 23, tzinfo=dt.UTC))
    [m] = result.milestones
    assert m.deadline == dt.datetime(2026, 12, 11, 0, 0, tzinfo=LONDON)  # the December occurrence, due 10 Dec
    assert result.recurring and "next occurrence" in result.notes[0].reason


def test_projects_copied_from_one_template_keep_their_own_milestones() -> None:
    ics = "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:t\nBEGIN:VTODO\nUID:same\nSUMMARY:x\nDUE:20261204T170000Z\n" \
          "END:VTODO\nEND:VCALENDAR\n"
    a = milestones_from_ics(ics, "alpha", (), "UTC", "UTC", "a.ics", NOW).milestones[0]
    b = milestones_from_ics(ics, "beta", (), "UTC", "UTC", "a.ics", NOW).milestones[0]
    assert (a.project, a.uid) != (b.project, b.uid)


def test_a_recurring_milestone_keeps_the_occurrence_still_due_today_on_the_clients_calendar() -> None:
    """A weekly review due each Friday (all-day, London client, Istanbul team). On Thursday 3 December at 21:30 in
    London — already Friday in Istanbul — and on Friday morning, the occurrence due is Friday 4 December's: the
    occurrence was chosen by its start, read at the team's midnight, so both moved the client's Friday to the
    11th while it was still due (the zone audit)."""
    ics = ("BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:t\nBEGIN:VTODO\nUID:w\nSUMMARY:Weekly review\n"
           "DTSTART;VALUE=DATE:20261106\nDUE;VALUE=DATE:20261106\nRRULE:FREQ=WEEKLY\nEND:VTODO\nEND:VCALENDAR\n")
    for now in (dt.datetime(2026, 12, 3, 21, 30, tzinfo=LONDON), dt.datetime(2026, 12, 4, 9, tzinfo=LONDON)):
        result = milestones_from_ics(ics, "p", (), "Europe/London", "Europe/Istanbul", "w.ics", now)
        [m] = result.milestones
        assert m.deadline == dt.datetime(2026, 12, 5, tzinfo=LONDON), now  # due Friday 4 December
        assert "(due 2026-12-04)" in result.notes[0].reason
    [later] = milestones_from_ics(ics, "p", (), "Europe/London", "Europe/Istanbul", "w.ics",
                                  dt.datetime(2026, 12, 5, 0, 30, tzinfo=LONDON)).milestones
    assert later.deadline == dt.datetime(2026, 12, 12, tzinfo=LONDON)  # past Friday's midnight: the next one


def test_a_milestones_start_day_is_the_date_its_entry_wrote_in_any_zone_pair() -> None:
    """An all-day DTSTART is the client's day, a floating one the team's: read in one zone for both, the forecast's
    plan (team's zone) read an all-day start a day early for a team west of its client, and the dependants
    (client's zone) a floating midnight start a day early for a client west of the team (the zone audit)."""
    ics = ("BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:t\nBEGIN:VTODO\nUID:a\nSUMMARY:All day\nDTSTART;VALUE=DATE:20261201\n"
           "DUE;VALUE=DATE:20261211\nEND:VTODO\nBEGIN:VTODO\nUID:f\nSUMMARY:Floating\nDTSTART:20261208T000000\n"
           "DUE;VALUE=DATE:20261211\nEND:VTODO\nEND:VCALENDAR\n")
    for client, team in (("Europe/London", "America/New_York"), ("Europe/London", "Europe/Istanbul"),
                         ("America/New_York", "Europe/Istanbul")):
        days = {m.uid: m.start_day() for m in milestones_from_ics(ics, "p", (), client, team, "x.ics", NOW).milestones}
        assert days == {"a": dt.date(2026, 12, 1), "f": dt.date(2026, 12, 8)}, (client, team)
        # and as the store gives it back: the offset it was written with is kept in its text
        again = dt.datetime.fromisoformat(next(m for m in milestones_from_ics(
            ics, "p", (), client, team, "x.ics", NOW).milestones if m.uid == "a").start.isoformat())  # type: ignore[union-attr]  # DTSTART set above
        assert again.date() == dt.date(2026, 12, 1)
