"""Nudging the team: silence is information. A milestone in progress with no note for `stale_after_days`
working days gets one friendly reminder to whoever reported on it last — once per silence, not every day."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Protocol

from deadlinewatch.adapters.store import Carrier, OutboxState
from deadlinewatch.config.schema import Project
from deadlinewatch.core.intake import ascii_lower
from deadlinewatch.core.milestones import effective_state
from deadlinewatch.core.model import Forecast, Milestone, QueueMail, Report
from deadlinewatch.core.words import _
from deadlinewatch.decisions.studio import Studio, bare
from deadlinewatch.services import PassReport, Services
from deadlinewatch.stages.state import ProjectsRead


class TeamStore(Carrier, OutboxState, Protocol):
    """What the nudge reads and writes through: what was sent when (its milestones, notes and forecasts are the
    evaluation's, read for the whole pass), and the outbox."""


def silence(c: Studio, m: Milestone, reports: Sequence[Report], now: dt.datetime) -> int | None:
    """The working days a milestone in progress (a note, not closed) has gone without a note, when that makes a
    nudge due (`stale_after_days` or more); None else. Nothing read: a pass asks it of every milestone."""
    if not reports or effective_state(m, reports) != "open":
        return None  # not started (no note yet), or closed
    tz = c.team_tz
    silent = c.workdays.count(reports[-1].at.astimezone(tz).date(), now.astimezone(tz).date())
    return silent if silent >= c.config.policy.stale_after_days else None


def plan_nudge(c: Studio, project: Project, m: Milestone, reports: Sequence[Report], forecast: Forecast | None,
               now: dt.datetime) -> QueueMail | None:
    """The nudge a milestone's silence makes due now, if any (`silence`), to whoever wrote the latest note, or the
    manager. Once per silence is the caller's to keep (the outbox: no nudge since the latest note)."""
    silent = silence(c, m, reports, now)
    if silent is None:
        return None
    latest = reports[-1]
    since = latest.at.astimezone(c.team_tz).date()
    members = {ascii_lower(bare(x)) for x in c.config.team.members}  # as the inbox compares senders
    # its id, made of the latest note's time, also makes the outbox refuse a twin
    token, msg_id = c.message_id("nudge", project.id, m.uid, latest.at.isoformat())
    to = latest.sender if latest.sender in members else bare(project.manager)
    language = c.config.team.language
    msg = c.letters.nudge(
        language=language, sender=c.sender, to=to, reply_to=c.config.imap.address, composed_at=now,
        message_id=msg_id, project_id=project.id, project_name=project.name, milestone=m.name, since=since,
        days=silent, forecast=c.letters.forecast(language, forecast) if forecast else
        c.letters.gettext(language, _("no forecast yet")),
    )
    return c.outgoing(kind="nudge", audience="team", token=token, msg_id=msg_id, message=msg.as_bytes(),
                      recipients=[to], now=now, project=project.id, uid=m.uid)


def nudge_silent(svc: Services[TeamStore], report: PassReport, read: ProjectsRead,
                 forecasts: Mapping[tuple[str, str], Forecast]) -> None:
    """The pass's nudges, from what its evaluation read (`read`) and forecast: the outbox is asked only about a
    milestone whose silence makes one due (asking it of every milestone, with its notes and forecast read again
    one by one, cost ten thousand milestones 3 s a pass)."""
    now = svc.clock.now()
    for project in svc.config.projects:
        notes = read.reports.get(project.id, {})
        for m in read.milestones.get(project.id, ()):
            reports = notes.get(m.uid, [])
            silent = silence(svc.composer, m, reports, now)
            # one nudge per silence: none since the latest note
            if silent is None or svc.store.sent_since("nudge", project.id, reports[-1].at, uid=m.uid):
                continue
            mail = plan_nudge(svc.composer, project, m, reports, forecasts.get((project.id, m.uid)), now)
            if mail is None:
                continue
            svc.store.carry_out([mail], now)
            report.event("%s: nudged %s about \"%s\" (no note for %d working days)", project.id, mail.recipients[0],
                         m.name, silent)
