"""Stage 5: the client-facing calendar (optional per project `client_calendar`): one all-day VEVENT per
client-visible milestone, with the date and SEQUENCE the client was sent and the latest status.

Updates carry `If-Match` with the ETag we last saw. When someone changed the entry meanwhile (412), it is read
again and our date, SEQUENCE and status are laid over their version, so their edits (alarms, notes) survive.
The source calendar is never written.
"""

from __future__ import annotations

import asyncio
from typing import Protocol
from urllib.parse import quote

from deadlinewatch.adapters.calendar import CalendarSource
from deadlinewatch.adapters.store import ClientCalendarState
from deadlinewatch.config.schema import Project
from deadlinewatch.core import timeline
from deadlinewatch.core.model import ForgetClientCalendarEntry, SaveClientCalendarEntry, TimelineRow
from deadlinewatch.errors import CollectionError, ConfigError, LoginRefused, ServerError
from deadlinewatch.services import PassReport, Services, server_failed
from deadlinewatch.stages.calendar_sync import CalendarStore, follow_server
from deadlinewatch.stages.state import ProjectStore, view_as_told


class ClientCalendarStore(CalendarStore, ProjectStore, ClientCalendarState, Protocol):
    """What the client's calendar copy reads and writes through: the project as its client was told it, each
    entry's copy on the client's calendar, and calendar sync's state (it follows the same server)."""


async def update_client_calendars(svc: Services[ClientCalendarStore], report: PassReport) -> None:
    calendar = svc.calendar
    follow_server(svc, report)
    for project in svc.config.projects:
        if not project.client_calendar:
            continue
        try:
            await _update(svc, calendar, project, report)
        except (ServerError, LoginRefused) as e:
            server_failed(svc, report, "caldav", e)
            return
        except (ConfigError, CollectionError) as e:
            report.problem(f'project {project.id}: client_calendar = "{project.client_calendar}": {e}')


async def _update(svc: Services[ClientCalendarStore], calendar: CalendarSource, project: Project,
                  report: PassReport) -> None:
    pv = view_as_told(svc.store, project)  # a date held for the manager is not in the client's calendar yet
    rows = list(pv.rows())
    entries = svc.store.client_calendar_entries(project.id)
    # a cancelled milestone the client knew of (a date told, or an entry in this copy) stays, marked cancelled
    # — or one open again whose return to the plan the client was not told yet (held for the manager)
    seen_cancelled = [m for m in pv.milestones if (m.state == "cancelled" or pv.cancelled_for_client(m))
                      and not m.private and (m.uid in pv.dates or m.uid in entries)]
    for m in seen_cancelled:
        told = pv.dates.get(m.uid)
        rows.append(TimelineRow(m.uid, m.name, pv.shown(m), pv.shown(m), "cancelled",
                                told.sequence if told else pv.sequence(m), pv.entry_uid(m.uid)))
    base: str | None = None
    page_url = pv.page_url(svc.config.web.base_url)
    for row in rows:
        written = entries.get(row.uid)
        # what the entry says, as in the letters' invitations: its name, the status, the page's address (Letters);
        # kept with it, so that a renamed milestone or project reaches the copy as a new date does
        description = svc.letters.entry_description(project.client.language, row, page_url, project.client.timezone)
        text = f"{timeline.summary(row, project.name)}\n{description}"
        if written and (written.sequence, written.date, written.status) == (row.sequence, row.new, text):
            continue
        if base is None:
            base = await asyncio.to_thread(calendar.resolve_url, project.client_calendar)
        # named after the entry's UID (ours), never the team's: the link is shared with the client
        url = written.url if written else f"{base}{quote(row.entry_uid, safe='')}.ics"
        # a shared calendar, read by link (a feed): no ATTENDEE, as in every feed
        ours = timeline.stored(row, project.name, svc.clock.now(), svc.composer.sender, (), description)
        try:
            etag = await _write(calendar, url, ours, written.etag if written else None, project, row, report)
        except CollectionError as e:  # this entry refused: the others are written all the same
            report.problem(f'project {project.id}: client_calendar = "{project.client_calendar}": the entry of '
                           f'"{row.name}" ({url}) could not be written ({e}); trying again next pass')
            continue
        if etag is None:
            report.problem(f"project {project.id}: {url} keeps changing under us; trying again next pass")
            continue
        svc.store.carry_out([SaveClientCalendarEntry(project.id, row.uid, url, etag, row.sequence, row.new, text)],
                            svc.clock.now())
        report.event("%s: client calendar: \"%s\" on %s (SEQUENCE %d)", project.id, row.name, row.new, row.sequence)
    # an entry of a milestone that is no longer the client's to see (made private in the team calendar since): taken
    # out, as the client's page and feed leave it out — left there, it would keep a date nobody updates
    shown = {row.uid for row in rows}
    for uid, written in entries.items():
        if uid in shown:
            continue
        await asyncio.to_thread(calendar.delete, written.url)
        svc.store.carry_out([ForgetClientCalendarEntry(project.id, uid)], svc.clock.now())
        report.event("%s: client calendar: the entry of %s taken out (no longer the client's to see)", project.id,
                     uid)


async def _write(calendar: CalendarSource, url: str, ours: bytes, etag: str | None, project: Project,
                 row: TimelineRow, report: PassReport) -> str | None:
    """Our entry written where it was (If-Match), its new ETag; None when it keeps changing under us. Someone edited
    (or created) it meanwhile: our facts laid over their version, so their alarms and notes stay — or, when the
    server refuses what that makes (an edit no merge can keep), our entry whole, which moves all the same."""
    new = await asyncio.to_thread(calendar.put, url, ours.decode(), etag)
    if new is not None:
        return new
    current = await asyncio.to_thread(calendar.get, url)
    if current is None:
        return await asyncio.to_thread(calendar.put, url, ours.decode(), None)
    try:
        new = await asyncio.to_thread(calendar.put, url, timeline.merged(current[0], ours).decode(),
                                      current[1] or None)
    except CollectionError as e:
        report.problem(f"project {project.id}: the client calendar entry for \"{row.name}\" had been edited, and "
                       f"the server refused it with our date laid over ({e}); it is written again as ours")
        return await asyncio.to_thread(calendar.put, url, ours.decode(), current[1] or None)
    if new is not None:
        report.event("%s: client calendar entry for \"%s\" had been edited; merged", project.id, row.name)
    return new
