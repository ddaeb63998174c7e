"""Nudging the team: silence is information. A milestone in progress with no note for `stale_after_days`
working days gets one friendly reminder to whoever reported on it last — once per silence, not every day."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol

from deadlinewatch.adapters.store import Carrier, ForecastState, Milestones, NoteState, OutboxState
from deadlinewatch.config.schema import Project
from deadlinewatch.core.intake import ascii_lower
from deadlinewatch.core.milestones import effective_state
from deadlinewatch.core.model import Forecast, Milestone, QueueMail, Report
from deadlinewatch.core.words import _
from deadlinewatch.decisions.studio import Studio, bare
from deadlinewatch.services import PassReport, Services


class TeamStore(Carrier, Milestones, NoteState, ForecastState, OutboxState, Protocol):
    """What the nudge reads and writes through: milestones, their notes and forecasts, what was sent when."""


def plan_nudge(c: Studio, project: Project, m: Milestone, reports: Sequence[Report], forecast: Forecast | None,
               now: dt.datetime) -> QueueMail | None:
    """The nudge a milestone's silence makes due now, if any: in progress (a note, not closed) and no note for
    `stale_after_days` working days; to whoever wrote the latest note, or the manager. Once per silence is the
    caller's to keep (the outbox: no nudge since the latest note)."""
    if not reports or effective_state(m, reports) != "open":
        return None  # not started (no note yet), or closed
    today = now.astimezone(c.team_tz).date()
    latest = reports[-1]
    since = latest.at.astimezone(c.team_tz).date()
    silent = c.workdays.count(since, today)
    if silent < c.config.policy.stale_after_days:
        return None
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


def nudge_silent(svc: Services[TeamStore], report: PassReport) -> None:
    now = svc.clock.now()
    for project in svc.config.projects:
        for m in svc.store.milestones(project.id):
            reports = svc.store.reports(project.id, m.uid)
            if not reports or effective_state(m, reports) != "open":
                continue
            # one nudge per silence: none since the latest note
            if svc.store.sent_since("nudge", project.id, reports[-1].at, uid=m.uid):
                continue
            mail = plan_nudge(svc.composer, project, m, reports, svc.store.forecast(project.id, m.uid), now)
            if mail is None:
                continue
            svc.store.carry_out([mail], now)
            tz = svc.composer.team_tz
            silent = svc.composer.workdays.count(reports[-1].at.astimezone(tz).date(), now.astimezone(tz).date())
            report.event("%s: nudged %s about \"%s\" (no note for %d working days)", project.id, mail.recipients[0],
                         m.name, silent)
