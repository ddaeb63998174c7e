"""Calendar data for the client (CONTRACT.md "Calendar data").

Clients ignore emailed VTODOs and Outlook imports a multi-event file as new copies, so the entry that moves a
milestone in place is an iMIP REQUEST with exactly one VEVENT: all-day on the promised date, the UID of the
client's entry, a SEQUENCE that only grows, ORGANIZER = our sender (only the organizer's updates are applied). It
travels alone; the whole timeline is a feed (METHOD:PUBLISH, the same UIDs and SEQUENCEs) that the web pages serve.

The client's entry never carries the team calendar's UID: Thunderbird looks an invitation's UID up in every
writable calendar (calItipUtils' ItipItemFinder), Apple and Google match by UID too, so a manager or a client who
has the team's calendar would see "Update" overwrite the milestone's own deadline — deadlinewatch's input — and a
cancellation's "Delete" remove it. Each client entry has a UID of our own (`entry_uid`), keyed so that nobody
outside can compute it from the team's UID, and kept in the state once it went out.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import parseaddr

from icalendar import Calendar, Event, vCalAddress

from deadlinewatch.core.intake import one_line
from deadlinewatch.core.model import TimelineRow

PRODID = "-//deadlinewatch//deadlinewatch 0.1//EN"


def entry_uid(key: bytes, project: str, uid: str) -> str:
    """The UID of a milestone's entry in the client's calendar: stable per (project, milestone), an HMAC keyed with
    the state's secret (like our Message-IDs), so it reveals nothing of the team's UID and nobody outside can
    forge or predict it."""
    if not key:
        raise ValueError("a client entry's UID needs the state's key")
    digest = hmac.new(key, "\0".join(["client-entry", project, uid]).encode(), hashlib.sha256).hexdigest()
    return f"dw-{digest[:40]}"


def _one_line(text: str) -> str:
    """Names from calendars and configs as one line, without control characters: a raw newline would break the
    content line, and RFC 5545 text holds no controls (the letters' invitations never carried them either)."""
    return one_line(text)


def summary(row: TimelineRow, project_name: str) -> str:
    """What a client's entry is called: the project, then the milestone."""
    return _one_line(f"{project_name}: {row.name}")


def _calendar(method: str) -> Calendar:
    cal = Calendar()
    cal.add("PRODID", PRODID)
    cal.add("VERSION", "2.0")
    cal.add("CALSCALE", "GREGORIAN")
    cal.add("METHOD", method)
    return cal


def _address(mail: str, name: str = "") -> vCalAddress:
    display, addr = parseaddr(mail)
    address = vCalAddress(f"mailto:{addr}")
    if name or display:
        # a '"' in a name is written RFC 6868's way (^'), which vobject and Outlook show as it is: a ' reads the same
        address.params["CN"] = _one_line(name or display).replace('"', "'")
    return address


def _event(row: TimelineRow, project_name: str, stamp: dt.datetime, organizer: str,
           attendees: Sequence[tuple[str, str]], description: str) -> Event:
    if not row.entry_uid:  # the team's UID would overwrite the team's own entry wherever a program finds it
        raise ValueError(f"no client entry UID for milestone {row.uid!r}")
    ev = Event()
    ev.add("UID", row.entry_uid)
    ev.add("SEQUENCE", row.sequence)
    ev.add("DTSTAMP", stamp.astimezone(dt.UTC))
    ev.add("DTSTART", row.new)  # a date: all-day in whatever zone the client's calendar is in
    ev.add("DTEND", row.new + dt.timedelta(days=1))  # exclusive, RFC 5545
    ev.add("SUMMARY", summary(row, project_name))
    ev.add("TRANSP", "TRANSPARENT")  # a due date, not a meeting: it must not block the client's day
    ev.add("STATUS", "CANCELLED" if row.status == "cancelled" else "CONFIRMED")
    if description:
        ev.add("DESCRIPTION", description)
    ev.add("ORGANIZER", _address(organizer))
    for name, email in attendees:  # every recipient but the organizer: each one's program can then apply it
        att = _address(email, name)
        # TRUE: the buttons that apply an update in SOGo, Nextcloud and Thunderbird (docs/calendar-rsvp.md)
        att.params["RSVP"] = "TRUE"
        att.params["ROLE"] = "REQ-PARTICIPANT"
        att.params["PARTSTAT"] = "NEEDS-ACTION"
        ev.add("ATTENDEE", att)
    return ev


def request(row: TimelineRow, project_name: str, stamp: dt.datetime, organizer: str,
            attendees: Sequence[tuple[str, str]], description: str, method: str = "REQUEST") -> bytes:
    """The iMIP part for one milestone: METHOD REQUEST (or CANCEL) with exactly one VEVENT. A CANCEL always says
    STATUS:CANCELLED (RFC 5546 §3.2.5), whatever the row's status. `description`, in the client's language, is
    what the entry says (Thunderbird shows its card instead of the letter: without it, the entry has no text)."""
    if not description:
        raise ValueError(f"no description for the client's entry of {row.uid!r}")
    if method == "CANCEL":
        row = dataclasses.replace(row, status="cancelled")
    cal = _calendar(method)
    cal.add_component(_event(row, project_name, stamp, organizer, attendees, description))
    return _bytes(cal)


def publish(rows: Sequence[TimelineRow], project_name: str, stamp: dt.datetime, organizer: str,
            describe: Callable[[TimelineRow], str] | None = None) -> bytes:
    """The feed: every client-visible milestone, same UIDs and SEQUENCEs, METHOD:PUBLISH, no ATTENDEE (RFC 5546
    §3.2.1). Never attached to a letter — beside an invitation it makes copies in Outlook, Thunderbird and Gmail.
    `describe` gives each entry its DESCRIPTION in the client's language (Letters.entry_description)."""
    cal = _calendar("PUBLISH")
    cal.add("X-WR-CALNAME", _one_line(project_name))
    for row in rows:
        cal.add_component(_event(row, project_name, stamp, organizer, (), describe(row) if describe else ""))
    cal.add_missing_timezones()  # all-day dates use no TZID today; any TZID added later gets its VTIMEZONE
    return _bytes(cal)


def stored(row: TimelineRow, project_name: str, stamp: dt.datetime, organizer: str,
           attendees: Sequence[tuple[str, str]], description: str) -> bytes:
    """One milestone as an entry of the client-facing calendar: like the emailed one, without METHOD (a stored
    calendar object must not carry one, RFC 4791 4.1)."""
    cal = Calendar()
    cal.add("PRODID", PRODID)
    cal.add("VERSION", "2.0")
    cal.add_component(_event(row, project_name, stamp, organizer, attendees, description))
    return _bytes(cal)


@dataclass(frozen=True)
class Described:
    """What an iMIP part of ours does, for saying it in words where it must not be live (the manager's copies)."""

    method: str
    summary: str
    day: dt.date
    sequence: int


def described(ics: str | bytes) -> Described:
    """Our own one-VEVENT calendar part, read back."""
    cal = Calendar.from_ical(ics)
    [event] = cal.walk("VEVENT")
    start = event.decoded("DTSTART")
    day = start.date() if isinstance(start, dt.datetime) else start
    return Described(str(cal.get("METHOD", "")), str(event.get("SUMMARY", "")), day,
                     int(event.get("SEQUENCE", 0)))


def merged(theirs: str, ours: bytes) -> bytes:
    """Our date, SEQUENCE, status and description laid over the entry as someone else left it: their alarms,
    notes and other edits stay."""
    mine = Calendar.from_ical(ours).walk("VEVENT")[0]
    cal = Calendar.from_ical(theirs)
    events = cal.walk("VEVENT")
    if not events:
        return ours
    # their DURATION goes with their DTEND: an entry made timed, or saved by a program that writes a length, may not
    # have both (RFC 5545), and a server refuses one that does — the copy would then never move again
    for name in ("DTSTART", "DTEND", "DURATION", "SEQUENCE", "DTSTAMP", "DESCRIPTION", "STATUS", "SUMMARY"):
        if name in events[0]:
            del events[0][name]
        if name in mine:
            events[0].add(name, mine.decoded(name))
    return _bytes(cal)


def _bytes(cal: Calendar) -> bytes:
    data: bytes = cal.to_ical()  # icalendar's to_ical is not annotated
    return data
