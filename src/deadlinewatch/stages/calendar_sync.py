"""Stage 1: each project's calendar, as milestones in the store — only what changed since the last pass.

The calendar's URL, its sync token and every entry (with its ETag and text) are kept in the store, so an
unchanged calendar costs one request, and a change of config (categories, zones) re-reads the milestones from
the stored entries instead of the server. A broken calendar or entry is reported and skipped while the others
sync; an unreadable entry keeps its milestone's last good state instead of looking deleted.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Protocol

from deadlinewatch.adapters.calendar import CalendarEntry, Changes
from deadlinewatch.adapters.store import CalendarState, CalendarSync, HealthStore, Milestones
from deadlinewatch.config.schema import Project
from deadlinewatch.core.dependencies import find_cycles
from deadlinewatch.core.milestones import due_text, milestones_from_ics
from deadlinewatch.core.model import ApplyCalendar, FollowServer, ForgetCalendar, Milestone, SaveCalendarToken
from deadlinewatch.errors import CollectionError, ConfigError, LoginRefused, ServerError
from deadlinewatch.services import PassReport, Services, server_failed, server_ok


class CalendarStore(HealthStore, CalendarState, Milestones, Protocol):
    """What calendar sync reads and writes through: each calendar's sync state and entries, the milestones."""

log = logging.getLogger(__name__)


def fingerprint(svc: Services[CalendarStore], project: Project) -> str:
    """What turning entries into milestones depends on, besides the entries: a change re-reads them all."""
    parts = [",".join(sorted(project.categories)), project.client.timezone, svc.config.timezone]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def server_identity(svc: Services[CalendarStore]) -> str:
    """Which CalDAV account the stored calendar state belongs to (never the password)."""
    return f"{svc.config.caldav.url}\0{svc.config.caldav.username}"


def follow_server(svc: Services[CalendarStore], report: PassReport) -> None:
    if svc.store.carry_out([FollowServer(server_identity(svc))], svc.clock.now()).forgot:
        report.event("caldav: the calendars are found and listed anew on %s (caldav.url or caldav.username "
                     "changed); nothing remembered from another server is asked again", svc.config.caldav.url)


async def sync_calendars(svc: Services[CalendarStore], report: PassReport) -> None:
    follow_server(svc, report)
    for i, project in enumerate(svc.config.projects):
        svc.tick()
        state = svc.store.calendar_state(project.id)
        if state is not None and state.ref != project.calendar:
            state = None  # the project points at another calendar now: start over
        known = _StoredEtags(svc, project.id)
        try:
            changes = await asyncio.to_thread(svc.calendar.changes, project.calendar,
                                              state.url if state else None,
                                              state.sync_token if state else None, known)
        except (ServerError, LoginRefused) as e:
            server_failed(svc, report, "caldav", e)
            return
        except (ConfigError, CollectionError) as e:
            report.problem(f'projects[{i}].calendar = "{project.calendar}" (project {project.id}): {e}; '
                           "skipped this pass")
            svc.store.carry_out([ForgetCalendar(project.id)], svc.clock.now())  # next pass: it may have moved
            continue
        if changes.note:
            log.info("caldav: %s (project %s): %s", changes.url, project.id, changes.note)
        _apply(svc, report, project, changes, state)
    server_ok(svc, report, "caldav", "synced")


class _StoredEtags(Mapping[str, str]):
    """The stored ETags, read only if the listing needs them: an incremental sync never does."""

    def __init__(self, svc: Services[CalendarStore], project: str) -> None:
        self._load: Callable[[], dict[str, str]] = lambda: svc.store.entry_etags(project)
        self._etags: dict[str, str] | None = None

    def _all(self) -> dict[str, str]:
        if self._etags is None:
            self._etags = self._load()
        return self._etags

    def __getitem__(self, href: str) -> str:
        return self._all()[href]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


def _apply(svc: Services[CalendarStore], report: PassReport, project: Project, changes: Changes,
           state: CalendarSync | None) -> None:
    now = svc.clock.now()
    new_print = fingerprint(svc, project)
    old_print = state.fingerprint if state else ""
    entries: list[CalendarEntry] = list(changes.changed)
    reparse: list[tuple[str, str]] = svc.store.entries(project.id, recurring_only=old_print == new_print)
    if not entries and not changes.deleted and not reparse:
        # nothing changed: remember a new token if there is one, nothing else to read or write
        if state is None or (state.url, state.sync_token) != (changes.url, changes.token):
            svc.store.carry_out([SaveCalendarToken(project.id, project.calendar, changes.url, changes.token,
                                                   new_print)], now)
        return
    fresh = {e.href for e in entries}
    parsed: dict[str, list[Milestone]] = {}
    stored: list[tuple[str, str, str, bool]] = []
    kept: set[str] = set()
    # what changed on the server, then what must be read again: recurring entries (their next occurrence
    # moves on) or, after a change of config, every stored entry
    todo = [(e.href, e.ics, e.etag, True) for e in entries]
    todo += [(href, ics, "", False) for href, ics in reparse if href not in fresh and href not in changes.deleted]
    for href, ics, etag, changed in todo:
        result = milestones_from_ics(ics, project.id, project.categories, project.client.timezone,
                                     svc.config.timezone, href, now)
        parsed[href] = result.milestones
        if changed:
            stored.append((href, etag, ics, result.recurring))
            for note in result.notes:
                report.event("project %s, entry %s: %s", project.id, note.uid or href, note.reason)
        for p in result.problems:
            if p.uid or not result.milestones:
                kept.add(href)
            if changed:  # said once, when the entry changes, not on every pass
                report.problem(f"project {project.id}, calendar \"{project.calendar}\", entry {p.uid or href}: "
                               f"{p.reason}; skipped")
    before = {m.uid: m for m in svc.store.milestones(project.id)}
    gone = svc.store.carry_out([ApplyCalendar(
        project.id, project.calendar, changes.url, changes.token, new_print, tuple(stored),
        tuple((href, tuple(ms)) for href, ms in parsed.items()), tuple(changes.deleted), frozenset(kept))], now).gone
    new = [m for ms in parsed.values() for m in ms if m.uid not in before]
    if len(new) > 20:  # a first sync of a big calendar: one line, not thousands
        report.event("%s: %d new milestones, the first due %s", project.id, len(new),
                     due_text(min(m.deadline for m in new), project.client.timezone))
    else:
        for m in new:
            report.event("%s: new milestone \"%s\", due %s", project.id, m.name,
                         due_text(m.deadline, project.client.timezone))
    for href in parsed:
        for m in parsed[href]:
            old = before.get(m.uid)
            if old is not None and (old.deadline != m.deadline or old.state != m.state):
                report.event("%s: milestone \"%s\" changed: due %s, %s", project.id, m.name,
                             due_text(m.deadline, project.client.timezone), m.state)
    for uid in gone:
        report.event("%s: milestone %s is gone from the calendar", project.id, uid)
    if changes.changed or changes.deleted:
        current = {m.uid: m for m in svc.store.milestones(project.id) if m.state != "cancelled"}
        for cycle in find_cycles(current):
            report.problem(f"project {project.id}: the calendar's finish-to-start links form a cycle "
                           f"({' → '.join(cycle)}); dependants along it are not moved")
