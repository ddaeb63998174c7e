"""Thousands of malformed messages and calendar entries: each is contained to itself — a verdict or a problem
with a reason — and never an exception that would stop a pass."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from deadlinewatch.core.intake import Context, Incoming, Rules, classify, read_message
from deadlinewatch.core.milestones import milestones_from_ics
from deadlinewatch.core.notes import MilestoneRef, ParsedNote, parse_note

ARRIVED = dt.datetime(2026, 11, 30, 10, tzinfo=dt.UTC)
RULES = Rules(frozenset({"alice@studio.example"}), frozenset({"pm@studio.example"}), frozenset(), False, "")
HEADERS = ["From", "To", "Subject", "Date", "Message-ID", "In-Reply-To", "References", "Content-Type",
           "Content-Transfer-Encoding", "MIME-Version", "Auto-Submitted", "Authentication-Results", "Reply-To"]
text = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=120)
header_line = st.tuples(st.sampled_from(HEADERS), text).map(lambda kv: f"{kv[0]}: {kv[1]}")
mime = st.lists(header_line, max_size=10).map("\r\n".join)
SETTINGS = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def parse(incoming: Incoming) -> ParsedNote:
    return parse_note(incoming.subject, incoming.text, [MilestoneRef("p", "u", "Design")], ["p"], ARRIVED.date())


@SETTINGS
@given(st.binary(max_size=600))
def test_any_bytes_are_read_and_decided(raw: bytes) -> None:
    incoming = read_message(raw, ARRIVED)
    verdict = classify(incoming, RULES, Context(), parse)
    assert verdict.folder in ("processed", "rejected", "sent") and verdict.reason


@SETTINGS
@given(mime, st.binary(max_size=400), st.sampled_from(["", "From: alice@studio.example\r\n"]))
@example("From: :;0", b"", "")  # found by CI: the email library raises AttributeError on this From
@example("Reply-To: :;x\r\nAuthentication-Results: :;0", b"", "From: alice@studio.example\r\n")
def test_mail_with_wild_headers_is_read_and_decided(headers: str, body: bytes, sender: str) -> None:
    raw = (sender + headers).encode("utf-8", "surrogateescape") + b"\r\n\r\n" + body
    incoming = read_message(raw, ARRIVED)
    verdict = classify(incoming, RULES, Context(), parse)
    assert verdict.folder in ("processed", "rejected", "sent")
    assert isinstance(incoming.text, str)


PROPS = ["UID", "SUMMARY", "DUE", "DTSTART", "DTEND", "DURATION", "STATUS", "CLASS", "CATEGORIES", "RRULE",
         "PERCENT-COMPLETE", "COMPLETED", "RELATED-TO;RELTYPE=FINISHTOSTART;GAP=P2D", "DUE;VALUE=DATE",
         "DTSTART;TZID=Nowhere/Zone", "SEQUENCE", "RECURRENCE-ID"]
VALUES = st.one_of(text, st.sampled_from(["20261210", "20261210T100000Z", "20261210T100000", "P1D", "-PT5M",
                                          "FREQ=DAILY;COUNT=3", "FREQ=BOGUS", "100", "COMPLETED", "PRIVATE",
                                          "x,y", "", "99999999", "2026-12-10"]))
component = st.tuples(st.sampled_from(["VTODO", "VEVENT", "VJOURNAL", "VTIMEZONE"]),
                      st.lists(st.tuples(st.sampled_from(PROPS), VALUES), max_size=8))


@SETTINGS
@given(st.lists(component, max_size=3))
def test_malformed_calendar_entries_become_problems_not_crashes(
        components: list[tuple[str, list[tuple[str, str]]]]) -> None:
    body = "".join(f"BEGIN:{name}\r\n" + "".join(f"{k}:{v}\r\n" for k, v in props) + f"END:{name}\r\n"
                   for name, props in components)
    ics = f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:fuzz\r\n{body}END:VCALENDAR\r\n"
    result = milestones_from_ics(ics, "p", (), "Europe/London", "Europe/Istanbul", "f.ics", ARRIVED)
    for m in result.milestones:
        assert m.deadline.tzinfo is not None and m.uid
    for p in result.problems:
        assert p.reason


@SETTINGS
@given(st.binary(max_size=400))
def test_calendar_bytes_of_any_kind(raw: bytes) -> None:
    result = milestones_from_ics(raw, "p", (), "UTC", "UTC", "x.ics", ARRIVED)
    assert result.milestones == []  # no bytes of this kind hold a whole milestone
    if not raw.strip():
        return
    assert result.problems or b"BEGIN:VCALENDAR" in raw.upper()  # garbage is a problem with a reason


# the forecast's arithmetic, on any history a team could write and any spread a team's record could teach
day = st.dates(min_value=dt.date(2026, 1, 1), max_value=dt.date(2027, 12, 31))
report = st.tuples(day, st.integers(0, 23), st.none() | st.integers(0, 100),
                   st.none() | st.floats(0, 2000, allow_nan=False), st.none() | day, st.booleans())
closed = st.tuples(st.floats(0, 500, allow_nan=False), st.floats(0, 5000, allow_nan=False), st.booleans())


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(report, max_size=12), day, st.none() | day, st.sampled_from(["VTODO", "VEVENT"]), day,
       st.lists(closed, max_size=30), st.lists(closed, max_size=30))
def test_any_history_gets_a_sane_forecast(
        reports: list[tuple[dt.date, int, int | None, float | None, dt.date | None, bool]], deadline: dt.date,
        start: dt.date | None, kind: str, today: dt.date, records: list[tuple[float, float, bool]],
        plans: list[tuple[float, float, bool]]) -> None:
    from deadlinewatch.core.forecast import Closed, forecast, learn
    from deadlinewatch.core.model import Milestone, Report
    from deadlinewatch.core.workdays import WorkCalendar

    utc = dt.UTC
    spread = learn([Closed(*r) for r in records], plans=[Closed(*p) for p in plans])
    m = Milestone("p", "m", "Design", dt.datetime.combine(deadline, dt.time(0), tzinfo=utc), kind=kind,
                  start=dt.datetime.combine(start, dt.time(0), tzinfo=utc) if start else None)
    notes = [Report("p", "m", dt.datetime.combine(d, dt.time(h), tzinfo=utc), done=done, remaining_days=rem,
                    eta=eta, blocked=blocked) for d, h, done, rem, eta, blocked in reports]
    now = max([n.at for n in notes] + [dt.datetime.combine(today, dt.time(12), tzinfo=utc)])
    f = forecast(m, notes, now, WorkCalendar(), utc, spread=spread)
    assert f.p_miss is None or 0.0 <= f.p_miss <= 1.0
    assert (f.p50 is None) == (f.p80 is None) and (f.p50 is None or (f.p80 is not None and f.p50 <= f.p80))
    assert f.reason
