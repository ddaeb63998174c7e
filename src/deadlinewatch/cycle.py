"""One pass: calendar sync → mailbox intake → evaluation → outbox.

Each stage reads from the store and writes its outcome there before anything else happens, so a pass
interrupted anywhere resumes on the next one. The decisions come from the pure core; this module only
carries them out through the adapters. A server that is down stops its own stage, not the pass.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import make_msgid, parseaddr

from deadlinewatch.adapters.calendar import CalendarSource
from deadlinewatch.adapters.clock import Clock
from deadlinewatch.adapters.mailbox import Mailbox
from deadlinewatch.adapters.mailer import Mailer, PermanentFailure
from deadlinewatch.adapters.store import ClientDate, Store
from deadlinewatch.config import Config, Project
from deadlinewatch.core import intake, notes, policy
from deadlinewatch.core.forecast import forecast, last_work_day
from deadlinewatch.core.letters import BlockSummary, Letters, NoticeLetter, Recipient, forward
from deadlinewatch.core.milestones import milestones_from_ics
from deadlinewatch.core.model import Forecast, Milestone, NoticeDecision, Report, TimelineRow
from deadlinewatch.core.workdays import WorkCalendar
from deadlinewatch.errors import ConfigError, LoginRefused, ServerError

log = logging.getLogger(__name__)


@dataclass
class Services:
    """The adapters one pass works through, and the configuration it obeys."""

    config: Config
    store: Store
    calendar: CalendarSource
    mailbox: Callable[[], Mailbox]
    mailer: Mailer
    clock: Clock
    letters: Letters

    @property
    def team_tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.config.timezone)

    @property
    def workdays(self) -> WorkCalendar:
        return WorkCalendar.from_policy(self.config.policy)

    @property
    def policy(self) -> policy.Policy:
        p = self.config.policy
        return policy.Policy(p["warn_probability"], p["renotify_slip_days"])


@dataclass
class PassReport:
    """What a pass did, for the story (demo), the log and the exit code (`once`)."""

    events: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    sent: list[int] = field(default_factory=list)

    def event(self, text: str, *args: object) -> None:
        message = text % args if args else text
        log.info("%s", message)
        self.events.append(message)

    def problem(self, text: str) -> None:
        log.warning("%s", text)
        self.problems.append(text)

    @property
    def summary(self) -> str:
        parts = [f"{len(self.events)} events", f"{len(self.sent)} sent"]
        if self.unavailable:
            parts.append("unavailable: " + ", ".join(sorted(self.unavailable)))
        if self.refused:
            parts.append("login refused: " + ", ".join(self.refused))
        if self.problems:
            parts.append(f"{len(self.problems)} problems")
        return "; ".join(parts)


def _server_failed(svc: Services, report: PassReport, server: str, e: ServerError | LoginRefused) -> None:
    now = svc.clock.now()
    svc.store.set_server(server, False, str(e), now)
    if isinstance(e, LoginRefused):
        report.refused.append(server)
        report.problem(f"{server}: {e}")
    else:
        report.unavailable[server] = e.detail
        report.problem(f"{server} unavailable: {e.detail}")


# --- stage 1: calendar ----------------------------------------------------------------------------------


async def sync_calendars(svc: Services, report: PassReport) -> None:
    for i, project in enumerate(svc.config.projects):
        try:
            entries = await asyncio.to_thread(svc.calendar.entries, project.calendar)
        except (ServerError, LoginRefused) as e:
            _server_failed(svc, report, "caldav", e)
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
    svc.store.set_server("caldav", True, "synced", svc.clock.now())


def _when(moment: dt.datetime, tz: dt.tzinfo) -> str:
    return moment.astimezone(tz).strftime("%a %d %b %Y %H:%M")


# --- stage 2: mailbox ----------------------------------------------------------------------------------------


def _domain(svc: Services) -> str:
    return parseaddr(svc.config.smtp["from"])[1].rpartition("@")[2] or "deadlinewatch.invalid"


def _new_message_id(svc: Services, kind: str) -> tuple[str, str]:
    token = secrets.token_hex(6)
    return token, make_msgid(idstring=f"dw-{kind}-{token}", domain=_domain(svc))


def _bare(address: str) -> str:
    return parseaddr(address)[1]


def effective_state(m: Milestone, reports: list[Report]) -> str:
    """Open, done or cancelled: a note saying Done: 100% closes a milestone as the calendar would."""
    if m.state != "open":
        return m.state
    latest_done = next((r.done for r in reversed(reports) if r.done is not None), None)
    return "done" if latest_done == 100 else "open"


def forecast_milestone(svc: Services, m: Milestone, reports: list[Report], cd: ClientDate | None,
                       now: dt.datetime) -> Forecast | None:
    if effective_state(m, reports) != "open":
        return None
    deadline_day = last_work_day(m.deadline, svc.team_tz)
    target = cd.promised if cd is not None and cd.promised is not None else deadline_day
    return forecast(m, reports, now, svc.workdays, svc.team_tz, target=target)


def _parse_for(svc: Services) -> Callable[[intake.Incoming], notes.ParsedNote]:
    refs = [notes.MilestoneRef(m.project, m.uid, m.name) for m in svc.store.milestones() if m.state != "cancelled"]
    ids = [p.id for p in svc.config.projects]
    week = len(svc.config.policy["working_days"])

    def parse(incoming: intake.Incoming) -> notes.ParsedNote:
        today = incoming.at.astimezone(svc.team_tz).date()
        return notes.parse_note(incoming.subject, incoming.text, refs, ids, today, week)

    return parse


def _rules(svc: Services) -> intake.Rules:
    c = svc.config
    return intake.Rules(
        members=frozenset(_bare(m).lower() for m in c.team["members"]),
        manager=_bare(c.team["manager"]).lower(),
        clients=frozenset(p.client.email.lower() for p in c.projects),
        require_authentication=c.imap["require_authentication"],
        authserv_id=c.imap["authserv_id"],
    )


def _said(block: notes.NoteBlock, svc: Services) -> str:
    parts = []
    if block.done is not None:
        parts.append(f"{block.done}% done")
    if block.remaining_days is not None:
        parts.append(f"{block.remaining_days:g} working days left")
    if block.eta is not None:
        parts.append(f"ETA {block.eta.isoformat()}")
    if block.blocked:
        parts.append("blocked")
    if block.cause:
        parts.append(f"cause: {block.cause}")
    if block.plan:
        parts.append(f"plan: {block.plan}")
    return ", ".join(parts) or "noted"


def _compose_reply(svc: Services, incoming: intake.Incoming, verdict: intake.Verdict,
                   reports: list[Report], now: dt.datetime) -> dict[str, object]:
    note = verdict.note
    assert note is not None
    blocks: list[BlockSummary] = []
    project_name = ""
    if note.ok:
        project = svc.config.project(note.project) if note.project else None
        project_name = project.name if project else ""
        by_uid = {m.uid: m for m in svc.store.milestones(note.project)}
        for block in note.blocks:
            m = by_uid[block.uid]
            history = svc.store.reports(m.project, m.uid) + [r for r in reports if r.uid == m.uid]
            cd = svc.store.client_date(m.project, m.uid)
            f = forecast_milestone(svc, m, history, cd, now)
            deadline_day = last_work_day(m.deadline, svc.team_tz)
            if f is None:
                words, at_risk = "closed — done", False
            else:
                words = f.reason
                if f.p50 is not None:
                    late = svc.workdays.count(deadline_day, f.p50)
                    words += (f"; {late} working days after the deadline ({deadline_day.isoformat()})" if late > 0
                              else f"; on time for the deadline ({deadline_day.isoformat()})")
                at_risk = f.p_miss is not None and f.p_miss >= svc.policy.warn_probability
                if at_risk and m.private:
                    words += "; private milestone: the client is not told"
                elif at_risk:
                    words += "; a client notice will go out"
            has_cause = any(r.cause for r in history)
            has_plan = any(r.plan for r in history)
            blocks.append(BlockSummary(block.name, block.matched_by, _said(block, svc), words,
                                       at_risk and not m.private and not (has_cause and has_plan)))
    token, message_id = _new_message_id(svc, "reply")
    msg = svc.letters.reply(
        language=svc.config.team["language"], sender=svc.config.smtp["from"], to=incoming.sender,
        original_subject=incoming.subject, original_message_id=incoming.message_id,
        references=" ".join(incoming.references), composed_at=now, message_id=message_id, accepted=note.ok,
        project_name=project_name, blocks=blocks, problems=note.problems, example=notes.EXAMPLE,
    )
    return dict(kind="reply", audience="team", project=note.project, uid=None, token=token, message_id=message_id,
                mail_from=_bare(svc.config.smtp["from"]), recipients=[incoming.sender, svc.config.imap["address"]],
                message=msg.as_bytes(), state="pending", created=now)


def _compose_forward(svc: Services, incoming: intake.Incoming, now: dt.datetime) -> dict[str, object]:
    token, message_id = _new_message_id(svc, "fwd")
    msg = forward(sender=svc.config.smtp["from"], to=svc.config.team["manager"],
                              original=incoming.msg, composed_at=now, message_id=message_id)
    return dict(kind="forward", audience="team", project=None, uid=None, token=token, message_id=message_id,
                mail_from=_bare(svc.config.smtp["from"]),
                recipients=[_bare(svc.config.team["manager"]), svc.config.imap["address"]],
                message=msg.as_bytes(), state="pending", created=now)


async def read_inbox(svc: Services, report: PassReport) -> None:
    imap = svc.config.imap
    folders = {"sent": imap["sent_folder"], "processed": imap["processed_folder"], "rejected": imap["rejected_folder"]}
    mailbox = svc.mailbox()
    try:
        fetched = await asyncio.to_thread(mailbox.fetch, imap["folder"])
        if not fetched:
            svc.store.set_server("imap", True, "inbox empty", svc.clock.now())
            return
        parse, rules = _parse_for(svc), _rules(svc)
        for item in fetched:
            incoming = intake.read_message(item.raw, item.arrived)
            prior = svc.store.message_decision(incoming.message_key)
            if prior is not None:
                # decided (and committed) before; the move did not happen or it is a copy: just file it
                await asyncio.to_thread(mailbox.move, item.uid, imap["folder"], prior[0])
                svc.store.mark_moved(incoming.message_key)
                continue
            now = svc.clock.now()
            is_ours = bool(incoming.message_id) and svc.store.is_our_message_id(incoming.message_id)
            answers = svc.store.notice_by_message_ids(incoming.references) is not None
            try:
                verdict = intake.classify(incoming, rules, is_ours, answers, parse)
            except (ValueError, LookupError, TypeError) as e:
                # a message so broken the parser chokes: keep it, file it as rejected, never crash the pass
                verdict = intake.Verdict("rejected", "rejected", f"unreadable message: {e}")
            reports: list[Report] = []
            outgoing: list[dict[str, object]] = []
            if verdict.note is not None and verdict.note.ok:
                reports = [
                    Report(verdict.note.project or "", b.uid, incoming.at, b.done, b.remaining_days, b.eta,
                           b.cause, b.plan, b.blocked, incoming.sender)
                    for b in verdict.note.blocks
                ]
            if verdict.reply:
                outgoing.append(_compose_reply(svc, incoming, verdict, reports, now))
            if verdict.outcome == "forwarded":
                outgoing.append(_compose_forward(svc, incoming, now))
            body = "" if verdict.outcome == "archive" else _safe_text(incoming)
            target = folders[verdict.folder]
            svc.store.record_message(
                message_key=incoming.message_key, message_id=incoming.message_id, sender=incoming.sender,
                subject=incoming.subject, received_at=incoming.at, outcome=verdict.outcome, target_folder=target,
                project=verdict.note.project if verdict.note else None,
                problems=list(verdict.note.problems) if verdict.note else [verdict.reason],
                raw=b"" if verdict.outcome == "archive" else incoming.raw, body=body, reports=reports, now=now,
                outgoing=outgoing,
            )
            _tell_intake(report, incoming, verdict)
            await asyncio.to_thread(mailbox.move, item.uid, imap["folder"], target)
            svc.store.mark_moved(incoming.message_key)
        svc.store.set_server("imap", True, f"{len(fetched)} messages read", svc.clock.now())
    except (ServerError, LoginRefused) as e:
        _server_failed(svc, report, "imap", e)
    except ConfigError as e:
        report.problem(str(e))
    finally:
        await asyncio.to_thread(mailbox.close)


def _safe_text(incoming: intake.Incoming) -> str:
    try:
        return incoming.text
    except (ValueError, LookupError, TypeError):
        return ""


def _tell_intake(report: PassReport, incoming: intake.Incoming, verdict: intake.Verdict) -> None:
    who = incoming.sender or "(no sender)"
    if verdict.outcome == "accepted" and verdict.note:
        names = ", ".join(b.name for b in verdict.note.blocks)
        report.event("note from %s accepted (%s): %s", who, verdict.note.project, names)
    elif verdict.outcome == "rejected" and verdict.note:
        report.event("note from %s rejected, sender told why: %s", who, "; ".join(verdict.note.problems))
    elif verdict.outcome != "archive":
        report.event("message from %s (%s): %s", who, incoming.subject or "no subject", verdict.reason)


# --- stage 3: evaluation ---------------------------------------------------------------------------------


def _rows(svc: Services, project: Project, milestones: list[Milestone], dates: dict[str, ClientDate],
          override: dict[str, tuple[dt.date, int]]) -> tuple[TimelineRow, ...]:
    """The client-visible timeline: every public milestone, old date → new date."""
    tz = zoneinfo.ZoneInfo(project.client.timezone)
    rows = []
    for m in milestones:
        if m.private or m.state == "cancelled":
            continue
        old = last_work_day(m.deadline, tz)
        cd = dates.get(m.uid)
        new, seq = override.get(m.uid, (cd.shown_date if cd and cd.shown_date else old,
                                        max(cd.sequence if cd else 0, m.sequence)))
        state = effective_state(m, svc.store.reports(m.project, m.uid))
        status = "done" if state == "done" else "moved" if new != old else "on track"
        rows.append(TimelineRow(m.uid, m.name, old, new, status, seq))
    return tuple(rows)


def compose_notice(svc: Services, project: Project, m: Milestone, decision: NoticeDecision,
                   now: dt.datetime) -> tuple[dict[str, object], int]:
    milestones = svc.store.milestones(project.id)
    dates = svc.store.client_dates(project.id)
    cd = dates.get(m.uid)
    current_seq = max(cd.sequence if cd else 0, m.sequence)
    if decision.kind == "delivered":
        sequence = current_seq
        shown = cd.shown_date if cd and cd.shown_date else last_work_day(m.deadline, svc.team_tz)
    else:
        assert decision.promised is not None
        sequence, shown = current_seq + 1, decision.promised
    rows = _rows(svc, project, milestones, dates, {m.uid: (shown, sequence)})
    row = next(r for r in rows if r.uid == m.uid)
    history = svc.store.reports(m.project, m.uid)
    cause = next((r.cause for r in reversed(history) if r.cause), "")
    plan = next((r.plan for r in reversed(history) if r.plan), "")
    offers = [(o.min_slip_days, o.text) for o in svc.config.offers]
    shadow = project.approval == "shadow"
    token, message_id = _new_message_id(svc, decision.kind)
    letter = NoticeLetter(
        kind=decision.kind, project_name=project.name,
        client=Recipient(project.client.name, project.client.email, project.client.language, project.client.timezone),
        sender=svc.config.smtp["from"], manager=project.manager, cc=project.client.cc, milestone=row,
        deadline=last_work_day(m.deadline, zoneinfo.ZoneInfo(project.client.timezone)), promised=decision.promised,
        slip_days=decision.slip_days, context=project.context, cause=cause, plan=plan,
        offer=policy.pick_offer(offers, decision.slip_days) if decision.kind != "delivered" else None,
        rows=rows, composed_at=now, message_id=message_id, token=token, shadow=shadow,
    )
    msg = svc.letters.notice(letter)
    recipients = [_bare(project.manager)] if shadow else [project.client.email, _bare(project.manager),
                                                          *project.client.cc]
    recipients.append(svc.config.imap["address"])  # the archive copy, filed in sent_folder
    state = "held" if project.approval == "manager" else "pending"
    return dict(kind=decision.kind, audience="client", project=project.id, uid=m.uid, token=token,
                message_id=message_id, mail_from=_bare(svc.config.smtp["from"]), recipients=recipients,
                message=msg.as_bytes(), state=state, created=now, promised=decision.promised), sequence


def evaluate(svc: Services, report: PassReport) -> None:
    now = svc.clock.now()
    for project in svc.config.projects:
        for m in svc.store.milestones(project.id):
            if m.state == "cancelled":
                continue
            reports = svc.store.reports(m.project, m.uid)
            cd = svc.store.client_date(m.project, m.uid)
            f = forecast_milestone(svc, m, reports, cd, now)
            if f is not None:
                svc.store.save_forecast(f, now)
            effective = Milestone(**{**m.__dict__, "state": effective_state(m, reports)})
            promise = policy.Promise(cd.promised if cd else None, cd.delivered_sent if cd else False)
            decision = policy.decide(effective, f, promise, svc.policy, svc.workdays,
                                     last_work_day(m.deadline, svc.team_tz))
            if decision is None:
                continue
            if m.private:
                if decision.kind != "delivered":
                    report.event("%s: private milestone \"%s\" is at risk (%s); the client is not told",
                                 project.id, m.name, decision.reason)
                continue
            message, sequence = compose_notice(svc, project, m, decision, now)
            notice_id = svc.store.enqueue_client_message(
                project=project.id, uid=m.uid, sequence=sequence,
                shown_date=decision.promised, promised=decision.promised,
                delivered=decision.kind == "delivered", message=message,
            )
            if decision.kind == "delivered":
                report.event("%s: \"%s\" is done; delivered note #%d to the client", project.id, m.name, notice_id)
            else:
                days_left = (m.deadline - now).total_seconds() / 86400
                report.event("%s: %s #%d to the client for \"%s\", %.1f days before its deadline: promised %s "
                             "(%s)", project.id, decision.kind, notice_id, m.name, days_left,
                             decision.promised.isoformat() if decision.promised else "-", decision.reason)


# --- stage 4: outbox -----------------------------------------------------------------------------------------


async def send_outbox(svc: Services, report: PassReport) -> None:
    now = svc.clock.now()
    for item in svc.store.outbox(states=("pending", "sending")):
        if not svc.store.set_outbox_state(item.id, "sending", now=now, attempt=True, expect=("pending", "sending")):
            continue
        try:
            await svc.mailer.send(item.mail_from, item.recipients, item.message)
        except PermanentFailure as e:
            svc.store.set_outbox_state(item.id, "failed", now=svc.clock.now(), error=str(e))
            report.problem(f"message #{item.id} ({item.kind}) refused by the SMTP server: {e}")
            continue
        except (ServerError, LoginRefused) as e:
            # not sent: back to pending, tried again next pass (the only repeat is of an unconfirmed send)
            svc.store.set_outbox_state(item.id, "pending", now=svc.clock.now(), error=str(e))
            _server_failed(svc, report, "smtp", e)
            return
        svc.store.set_outbox_state(item.id, "sent", now=svc.clock.now())
        report.sent.append(item.id)
        report.event("sent #%d (%s) to %s", item.id, item.kind, ", ".join(item.recipients))
    svc.store.set_server("smtp", True, "outbox delivered", svc.clock.now())


async def run_pass(svc: Services) -> PassReport:
    """One full pass; returns what happened. Never raises for a server problem: the report says it."""
    report = PassReport()
    started = svc.clock.now()
    await sync_calendars(svc, report)
    await read_inbox(svc, report)
    evaluate(svc, report)
    await send_outbox(svc, report)
    ok = not report.unavailable and not report.refused
    svc.store.record_pass(started, svc.clock.now(), ok, report.summary)
    return report
