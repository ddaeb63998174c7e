"""Calendar entries as milestones (CONTRACT.md "Milestones (from CalDAV)").

The deadline of an entry:
  * VTODO: DUE, else DTSTART + DURATION;
  * VEVENT: DTEND, else DTSTART + DURATION, else DTSTART;
  * a DATE-TIME is taken as is (floating times in the team's zone); a DATE means a day in the client's zone:
    a DUE or a lone DTSTART date means the end of that day, an all-day DTEND is exclusive (RFC 5545), so it
    is 00:00 of that date, i.e. the end of the event's last day.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass

from icalendar import Calendar, Component, vDuration

from deadlinewatch.core.forecast import last_work_day
from deadlinewatch.core.model import Milestone, Report
from deadlinewatch.errors import CalendarEntryError


@dataclass(frozen=True)
class EntryProblem:
    """A calendar entry that could not be read; reported and skipped, the others still sync."""

    href: str
    uid: str
    reason: str


def _as_datetime(value: dt.date | dt.datetime, team_tz: dt.tzinfo) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=team_tz)
    raise TypeError(value)


def _midnight(day: dt.date, tz: dt.tzinfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=tz)


def _prop(comp: Component, name: str) -> dt.date | dt.datetime | dt.timedelta | None:
    value = comp.get(name)
    if value is None:
        return None
    if isinstance(value, list):  # a property given twice: the first counts
        value = value[0]
    when: dt.date | dt.datetime | dt.timedelta = value.dt  # icalendar's vDDDTypes.dt is not annotated
    return when


def deadline_of(comp: Component, client_tz: dt.tzinfo, team_tz: dt.tzinfo) -> dt.datetime:
    start = _prop(comp, "DTSTART")
    duration = _prop(comp, "DURATION")
    if start is not None and not isinstance(start, dt.date):
        raise CalendarEntryError(f"DTSTART is not a date: {start!r}")
    if comp.name == "VTODO":
        due = _prop(comp, "DUE")
        if isinstance(due, dt.datetime):
            return _as_datetime(due, team_tz)
        if isinstance(due, dt.date):
            return _midnight(due + dt.timedelta(days=1), client_tz)
        if start is not None and isinstance(duration, dt.timedelta):
            if isinstance(start, dt.datetime):
                return _as_datetime(start, team_tz) + duration
            # the DUE it makes is a DATE, and a DATE DUE is the end of that day (CONTRACT.md): DTSTART 1 December
            # and P3D are due by the end of 4 December, as DUE;VALUE=DATE:20261204 is
            return _midnight(start + duration + dt.timedelta(days=1), client_tz)
        raise CalendarEntryError("a VTODO needs DUE, or DTSTART with DURATION, to have a deadline")
    end = _prop(comp, "DTEND")
    if isinstance(end, dt.datetime):
        return _as_datetime(end, team_tz)
    if isinstance(end, dt.date):
        return _midnight(end, client_tz)  # all-day DTEND is exclusive
    if start is None:
        raise CalendarEntryError("a VEVENT needs DTSTART (and DTEND or DURATION) to have a deadline")
    if isinstance(duration, dt.timedelta):
        if isinstance(start, dt.datetime):
            return _as_datetime(start, team_tz) + duration
        return _midnight(start + duration, client_tz)
    if isinstance(start, dt.datetime):
        return _as_datetime(start, team_tz)
    return _midnight(start + dt.timedelta(days=1), client_tz)


def successors_of(comp: Component) -> tuple[tuple[str, int], ...]:
    """RFC 9253 finish-to-start links on a predecessor: the successors' UIDs and the GAP, in whole days."""
    related = comp.get("RELATED-TO")
    if related is None:
        return ()
    out = []
    for value in related if isinstance(related, list) else [related]:
        if str(value.params.get("RELTYPE", "PARENT")).upper() != "FINISHTOSTART":
            continue
        gap = 0
        if "GAP" in value.params:
            try:
                # icalendar's vDuration.from_ical has no annotations
                # icalendar leaves vDuration.from_ical unannotated
                gap = max(vDuration.from_ical(str(value.params["GAP"])).days, 0)  # type: ignore[no-untyped-call]  # icalendar: unannotated
            except ValueError:
                raise CalendarEntryError(f'RELATED-TO GAP "{value.params["GAP"]}" is not a duration') from None
        out.append((str(value).strip(), gap))
    return tuple(out)


def state_of(comp: Component) -> str:
    status = str(comp.get("STATUS", "")).upper()
    if status == "CANCELLED":
        return "cancelled"
    if status == "COMPLETED" or comp.get("COMPLETED") is not None:
        return "done"
    try:
        if int(comp.get("PERCENT-COMPLETE", 0)) >= 100:
            return "done"
    except (TypeError, ValueError):
        pass
    return "open"


@dataclass
class Parsed:
    """What one calendar object holds: milestones, entries that could not be read, and notes worth a warning."""

    milestones: list[Milestone]
    problems: list[EntryProblem]
    notes: list[EntryProblem]
    recurring: bool = False


def next_occurrence(comp: Component, now: dt.datetime, deadline: dt.datetime, client_tz: dt.tzinfo,
                    team_tz: dt.tzinfo) -> dt.timedelta | None:
    """How far the first occurrence still due at `now` (its deadline after it) lies from the first, for an entry
    with an RRULE whose first deadline is `deadline`. DTSTART is read as deadline_of reads dates and times: an
    all-day one is the client's day, a floating time the team's."""
    from dateutil.rrule import rrulestr  # comes with icalendar

    start = _prop(comp, "DTSTART")
    if not isinstance(start, dt.date):
        raise CalendarEntryError("an RRULE needs a DTSTART")
    anchor = _as_datetime(start, team_tz) if isinstance(start, dt.datetime) else _midnight(start, client_tz)
    rule = comp.get("RRULE")
    rule_text = (rule[0] if isinstance(rule, list) else rule).to_ical().decode()
    # the occurrence whose own deadline is the first after now: one that started and is due later today counts
    occurrence = rrulestr(rule_text, dtstart=anchor).after(now - (deadline - anchor), inc=False)
    return None if occurrence is None else occurrence - anchor


def due_text(deadline: dt.datetime, zone: str) -> str:
    """A deadline as the studio's own English reads it (`status`, the pass's events): the day its client holds —
    an all-day deadline ends at the client's midnight (`zone`), which is the next day's date as a moment — or, for
    one at a time of day, that time where the client is ("2026-12-04 17:00 Europe/London")."""
    tz = zoneinfo.ZoneInfo(zone)
    local = deadline.astimezone(tz)
    if local.time() == dt.time():
        return last_work_day(deadline, tz).isoformat()  # the day it belongs to, as agreed_day has it
    return f"{local:%Y-%m-%d %H:%M} {zone}"


def milestones_from_ics(
    ics: str | bytes,
    project: str,
    categories: Sequence[str],
    client_tz: str,
    team_tz: str,
    href: str,
    now: dt.datetime,
) -> Parsed:
    """Every VTODO and VEVENT of one calendar object as a milestone, or a problem naming the entry.

    A recurring entry is unusual for a milestone: its next occurrence (at or after `now`) counts, with a note.
    """
    ctz, ttz = zoneinfo.ZoneInfo(client_tz), zoneinfo.ZoneInfo(team_tz)
    try:
        cal = Calendar.from_ical(ics)
    except ValueError as e:
        return Parsed([], [EntryProblem(href, "", f"not valid iCalendar: {e}")], [])
    wanted = {c.casefold() for c in categories}
    out: list[Milestone] = []
    problems: list[EntryProblem] = []
    notes: list[EntryProblem] = []
    recurring = False
    for comp in cal.walk():
        if comp.name not in ("VTODO", "VEVENT") or comp.get("RECURRENCE-ID") is not None:
            continue
        uid = str(comp.get("UID", "")).strip()
        try:
            if not uid:
                raise CalendarEntryError("it has no UID")
            if wanted:
                # icalendar 7 gives Event and Todo a `categories` property; the Component type does not declare it
                cats = {str(c).casefold() for c in comp.categories}  # type: ignore[attr-defined]  # see above
                if not cats & wanted:
                    continue
            deadline = deadline_of(comp, ctz, ttz)
            start = _prop(comp, "DTSTART")
            if comp.get("RRULE") is not None:
                recurring = True
                shift = next_occurrence(comp, now, deadline, ctz, ttz)
                if shift is None:
                    raise CalendarEntryError("its RRULE has no occurrence left")
                deadline += shift
                if isinstance(start, dt.date):
                    start = start + shift if isinstance(start, dt.datetime) else start + dt.timedelta(days=shift.days)
                notes.append(EntryProblem(href, uid, "a recurring milestone: its next occurrence counts "
                                                      f"(due {due_text(deadline, client_tz)})"))
            percent = comp.get("PERCENT-COMPLETE")
            out.append(Milestone(
                project=project,
                uid=uid,
                name=str(comp.get("SUMMARY", "")).strip() or uid,
                deadline=deadline,
                kind=comp.name,
                state=state_of(comp),
                private=str(comp.get("CLASS", "PUBLIC")).upper() in ("PRIVATE", "CONFIDENTIAL"),
                sequence=int(comp.get("SEQUENCE", 0) or 0),
                percent=int(percent) if percent is not None else None,
                start=(_as_datetime(start, ttz) if isinstance(start, dt.datetime)
                       else _midnight(start, ctz) if isinstance(start, dt.date) else None),
                successors=successors_of(comp),
            ))
        except (CalendarEntryError, ValueError, TypeError, AttributeError, KeyError, IndexError) as e:
            # icalendar raises unexpected types on some broken entries: each is contained to its entry
            problems.append(EntryProblem(href, uid, str(e) or type(e).__name__))
    return Parsed(out, problems, notes, recurring)


def effective_state(m: Milestone, reports: Sequence[Report]) -> str:
    """Open, done or cancelled: a note saying Done: 100% closes a milestone as the calendar would."""
    if m.state != "open":
        return m.state
    return "done" if said_done(reports) else "open"


def said_done(reports: Sequence[Report]) -> bool | None:
    """What a milestone's notes (oldest first) say of it being done: True when the latest note with a percent says
    Done: 100%, False when it says less, None when no note gave a percent."""
    latest = next((r.done for r in reversed(reports) if r.done is not None), None)
    return None if latest is None else latest == 100
