"""Nudging the team: silence is information. A milestone in progress with no note for `stale_after_days`
working days gets one friendly reminder to whoever reported on it last — once per silence, not every day."""

from __future__ import annotations

from deadlinewatch.core.intake import ascii_lower
from deadlinewatch.core.milestones import effective_state
from deadlinewatch.core.words import _
from deadlinewatch.services import PassReport, Services, bare


def nudge_silent(svc: Services, report: PassReport) -> None:
    now = svc.clock.now()
    today = now.astimezone(svc.composer.team_tz).date()
    stale_after = svc.config.policy.stale_after_days
    members = {ascii_lower(bare(m)) for m in svc.config.team.members}  # as the inbox compares senders
    for project in svc.config.projects:
        for m in svc.store.milestones(project.id):
            reports = svc.store.reports(project.id, m.uid)
            if not reports or effective_state(m, reports) != "open":
                continue  # not started (no note yet), or closed
            latest = reports[-1]
            since = latest.at.astimezone(svc.composer.team_tz).date()
            silent = svc.composer.workdays.count(since, today)
            if silent < stale_after:
                continue
            # one nudge per silence: none since the latest note (its id, made of that note's time, also makes the
            # outbox refuse a twin)
            if svc.store.sent_since("nudge", project.id, latest.at, uid=m.uid):
                continue
            token, msg_id = svc.composer.message_id("nudge", project.id, m.uid, latest.at.isoformat())
            to = latest.sender if latest.sender in members else bare(project.manager)
            forecast = svc.store.forecast(project.id, m.uid)
            msg = svc.letters.nudge(
                language=svc.config.team.language, sender=svc.composer.sender, to=to,
                reply_to=svc.config.imap.address, composed_at=now, message_id=msg_id, project_id=project.id,
                project_name=project.name, milestone=m.name, since=since, days=silent,
                forecast=svc.letters.forecast(svc.config.team.language, forecast) if forecast else
                svc.letters.gettext(svc.config.team.language, _("no forecast yet")),
            )
            svc.store.carry_out([svc.composer.outgoing(kind="nudge", audience="team", token=token, msg_id=msg_id,
                                          message=msg.as_bytes(), recipients=[to], now=now,
                                          project=project.id, uid=m.uid)], now)
            report.event("%s: nudged %s about \"%s\" (no note for %d working days)", project.id, to, m.name, silent)
