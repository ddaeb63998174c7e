"""Stage 1: each project's calendar, as milestones in the store."""

from __future__ import annotations

import asyncio
import datetime as dt

from deadlinewatch.core.dependencies import find_cycles
from deadlinewatch.core.milestones import milestones_from_ics
from deadlinewatch.core.model import Milestone
from deadlinewatch.errors import ConfigError, LoginRefused, ServerError
from deadlinewatch.services import PassReport, Services, server_failed


def _when(moment: dt.datetime, tz: dt.tzinfo) -> str:
    return moment.astimezone(tz).strftime("%a %d %b %Y %H:%M")


async def sync_calendars(svc: Services, report: PassReport) -> None:
    for i, project in enumerate(svc.config.projects):
        try:
            entries = await asyncio.to_thread(svc.calendar.entries, project.calendar)
        except (ServerError, LoginRefused) as e:
            server_failed(svc, report, "caldav", e)
            return
        except ConfigError as e:
            report.problem(f'projects[{i}].calendar = "{project.calendar}" (project {project.id}): {e}')
            continue
        items: list[tuple[Milestone, str]] = []
        keep: set[str] = set()
        for entry in entries:
            found, problems = milestones_from_ics(entry.ics, project.id, project.categories,
                                                  project.client.timezone, svc.config.timezone, entry.href)
            items += [(m, entry.href) for m in found]
            for p in problems:
                keep.add(p.uid)
                report.problem(f"project {project.id}, calendar \"{project.calendar}\", entry {p.uid or p.href}: "
                               f"{p.reason}; skipped")
        before = {m.uid: m for m in svc.store.milestones(project.id)}
        gone = svc.store.replace_milestones(project.id, items, svc.clock.now(), keep=keep)
        for m, _ in items:
            old = before.get(m.uid)
            if old is None:
                report.event("%s: new milestone \"%s\", due %s", project.id, m.name, _when(m.deadline, svc.team_tz))
            elif old.deadline != m.deadline or old.state != m.state:
                report.event("%s: milestone \"%s\" changed: due %s, %s", project.id, m.name,
                             _when(m.deadline, svc.team_tz), m.state)
        for uid in gone:
            report.event("%s: milestone %s is gone from the calendar", project.id, uid)
        for cycle in find_cycles({m.uid: m for m, _ in items}):
            report.problem(f"project {project.id}: the calendar's finish-to-start links form a cycle "
                           f"({' → '.join(cycle)}); dependants along it are not moved")
    svc.store.set_server("caldav", True, "synced", svc.clock.now())
