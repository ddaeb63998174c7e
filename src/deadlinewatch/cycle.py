"""One pass: calendar sync → mailbox intake → what the clients must hear → outbox.

Each stage reads from the store and writes its outcome there before anything else happens, so a pass
interrupted anywhere resumes on the next one. The decisions come from the pure core; the stages only carry
them out through the adapters. A server that is down stops its own stage, not the pass.
"""

from __future__ import annotations

from deadlinewatch.services import PassReport, Services
from deadlinewatch.stages.calendar_sync import sync_calendars
from deadlinewatch.stages.client_calendar import update_client_calendars
from deadlinewatch.stages.clients import evaluate
from deadlinewatch.stages.inbox import read_inbox
from deadlinewatch.stages.outbox import send_outbox
from deadlinewatch.stages.team import nudge_silent

__all__ = ["PassReport", "Services", "run_pass"]


async def run_pass(svc: Services) -> PassReport:
    """One full pass; returns what happened. Never raises for a server problem: the report says it."""
    report = PassReport()
    svc.spread = None  # the team's bias is learned afresh each pass: milestones may have closed since
    started = svc.clock.now()
    await sync_calendars(svc, report)
    await read_inbox(svc, report)
    evaluate(svc, report)
    nudge_silent(svc, report)
    await send_outbox(svc, report)
    await update_client_calendars(svc, report)
    ok = not report.unavailable and not report.refused
    svc.store.record_pass(started, svc.clock.now(), ok, report.summary)
    return report
