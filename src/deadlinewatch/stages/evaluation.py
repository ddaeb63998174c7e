"""Stage 3: what each client must hear now — the forecasts, then the messages the policy decides.

In this order per project: cancellations of milestones the client has seen; the introduction (the first message
a client gets for a project); apology + replan notices with the dependants they move, and delivered notes;
the weekly check-in. Each decision is recorded in the outbox together with what it tells the client's calendar
(SEQUENCE, shown date, promise), in one transaction; under `approval = "manager"` it is held with a draft to the
manager.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from deadlinewatch.config import Project
from deadlinewatch.core import dependencies, policy
from deadlinewatch.core.forecast import last_work_day
from deadlinewatch.core.letters import ClientEnvelope, NoticeLetter, Progress, Recipient
from deadlinewatch.core.model import Forecast, Milestone, NoticeDecision, QueueMail, ShowDate, TimelineRow
from deadlinewatch.services import (
    PassReport,
    Services,
    bare,
    message_id,
    outgoing,
)
from deadlinewatch.stages.forecasts import forecast_milestone
from deadlinewatch.stages.manager_mail import manager_message
from deadlinewatch.stages.project_view import ProjectView, view


@dataclass(frozen=True)
class HeldRef:
    """A held client message, as the draft to the manager names it."""

    id: int
    kind: str
    project: str | None
    uid: str | None
    token: str


@dataclass
class Plan:
    """Client messages decided together: the first is the primary, the rest ride with it."""

    messages: list[QueueMail] = field(default_factory=list)
    dates: list[ShowDate] = field(default_factory=list)
    reason: str = ""


def _envelope(svc: Services, project: Project, kind: str, identity: Sequence[object], now: dt.datetime
              ) -> ClientEnvelope:
    token, msg_id = message_id(svc, kind, project.id, *identity)
    c = project.client
    return ClientEnvelope(project_name=project.name, client=Recipient(c.name, c.email, c.language, c.timezone),
                          sender=svc.sender, manager=project.manager, cc=c.cc, composed_at=now, message_id=msg_id,
                          token=token, kind=kind, shadow=project.approval == "shadow")


def _add(svc: Services, plan: Plan, project: Project, env: ClientEnvelope, message: bytes, now: dt.datetime,
         uid: str | None = None, promised: dt.date | None = None) -> None:
    to = [bare(project.manager)] if env.shadow else [project.client.email, bare(project.manager), *project.client.cc]
    state = "held" if project.approval == "manager" else "pending"
    plan.messages.append(outgoing(svc, kind=env.kind, audience="client", token=env.token, msg_id=env.message_id,
                                  message=message, recipients=to, now=now, project=project.id, uid=uid,
                                  state=state, promised=promised))


# --- the plans -----------------------------------------------------------------------------------------------


def plan_intro(svc: Services, pv: ProjectView, now: dt.datetime) -> Plan | None:
    """The first message a client gets: the timeline, and a REQUEST for each milestone (one UID a message)."""
    open_visible = [m for m in pv.visible() if pv.state(m) == "open"]
    if not open_visible:
        return None
    project = pv.project
    rows = pv.rows()
    by_uid = {r.uid: r for r in rows}
    first, *others = [by_uid[m.uid] for m in open_visible]
    plan = Plan(reason=f"introducing {len(rows)} milestones")
    env = _envelope(svc, project, "intro", [], now)
    _add(svc, plan, project, env, svc.letters.intro(env, rows, first, project.context).as_bytes(), now, first.uid)
    for row in others:
        env = _envelope(svc, project, "intro", [row.uid], now)
        _add(svc, plan, project, env, svc.letters.calendar(env, row).as_bytes(), now, row.uid)
    plan.dates = [ShowDate(project=project.id, uid=r.uid, sequence=r.sequence, shown_date=r.new)
                  for r in (first, *others)]
    return plan


def plan_notice(svc: Services, pv: ProjectView, m: Milestone, decision: NoticeDecision, now: dt.datetime) -> Plan:
    """Apology + replan (or a delivered note), with a one-UID update for each dependant it moves."""
    project, cal = pv.project, svc.workdays
    tz = pv.client_tz
    cd = pv.dates.get(m.uid)
    override: dict[str, tuple[dt.date, int]] = {}
    moved: dict[str, dt.date] = {}
    if decision.kind == "delivered":
        sequence = pv.sequence(m)
        override[m.uid] = (pv.shown(m), sequence)
    else:
        assert decision.promised is not None
        sequence = pv.sequence(m) + 1
        override[m.uid] = (decision.promised, sequence)
        by_uid = {x.uid: x for x in pv.milestones if pv.state(x) == "open" or x.uid == m.uid}
        current = {x.uid: pv.shown(x) for x in pv.milestones}
        moved = dependencies.shifted(by_uid, m.uid, decision.promised, current, cal, tz)
        for uid, new in moved.items():
            dep = by_uid[uid]
            if not dep.private:
                override[uid] = (new, pv.sequence(dep) + 1)
    rows = pv.rows(override)
    row = next(r for r in rows if r.uid == m.uid)
    history = pv.reports.get(m.uid, [])
    offers = [(o.min_slip_days, o.text) for o in svc.config.offers]
    identity = [m.uid, sequence] if decision.kind != "delivered" else [m.uid]
    env = _envelope(svc, project, decision.kind, identity, now)
    moved_rows = tuple(r for r in rows if r.uid in moved and r.uid in override)
    letter = NoticeLetter(
        envelope=env, milestone=row, deadline=last_work_day(m.deadline, tz), promised=decision.promised,
        slip_days=decision.slip_days,
        context=project.context, cause=next((r.cause for r in reversed(history) if r.cause), ""),
        plan=next((r.plan for r in reversed(history) if r.plan), ""),
        offer=policy.pick_offer(offers, decision.slip_days) if decision.kind != "delivered" else None,
        rows=rows, again=cd is not None and cd.promised is not None and decision.kind == "notice", moved=moved_rows,
    )
    plan = Plan(reason=decision.reason)
    _add(svc, plan, project, env, svc.letters.notice(letter).as_bytes(), now, m.uid, decision.promised)
    if decision.kind == "delivered":
        plan.dates.append(ShowDate(project=project.id, uid=m.uid, sequence=sequence, delivered=True))
        return plan
    plan.dates.append(ShowDate(project=project.id, uid=m.uid, sequence=sequence, shown_date=decision.promised,
                           promised=decision.promised))
    for r in moved_rows:
        dep_env = _envelope(svc, project, "update", [r.uid, r.sequence], now)
        _add(svc, plan, project, dep_env, svc.letters.calendar(dep_env, r).as_bytes(), now, r.uid)
        # the dependant's new date is a promise too: it is judged against it from now on
        plan.dates.append(ShowDate(project.id, r.uid, r.sequence, shown_date=r.new, promised=r.new))
    return plan


def plan_cancel(svc: Services, pv: ProjectView, m: Milestone, now: dt.datetime) -> Plan:
    """METHOD:CANCEL for a milestone the client has seen."""
    tz = pv.client_tz
    sequence = pv.sequence(m) + 1
    row = TimelineRow(m.uid, m.name, last_work_day(m.deadline, tz), pv.shown(m), "cancelled", sequence)
    env = _envelope(svc, pv.project, "cancel", [m.uid], now)
    plan = Plan(reason="cancelled in the calendar")
    _add(svc, plan, pv.project, env, svc.letters.calendar(env, row, cancel=True).as_bytes(), now, m.uid)
    plan.dates.append(ShowDate(project=pv.project.id, uid=m.uid, sequence=sequence, cancelled=True))
    return plan


def plan_weekly(svc: Services, pv: ProjectView, now: dt.datetime, since: dt.datetime) -> Plan | None:
    """The check-in, at the project's weekly_update time in the client's zone, once a week."""
    slot = policy.weekly_slot(now, pv.project.weekly_update, pv.client_tz)
    if slot is None or slot <= since:
        return None
    open_visible = [m for m in pv.visible() if pv.state(m) == "open"]
    if not open_visible:
        return None  # nothing open: no check-in to send
    if svc.store.sent_since("weekly", pv.project.id, slot):
        return None  # this slot's check-in is recorded already
    env = _envelope(svc, pv.project, "weekly", [slot.date().isoformat()], now)
    rows = pv.rows()
    week_ago = slot - dt.timedelta(days=7)
    progress = []
    for row in rows:
        history = pv.reports.get(row.uid, [])
        before = next((r.done for r in reversed(history) if r.done is not None and r.at <= week_ago), None)
        now_done = 100 if row.status == "done" else next((r.done for r in reversed(history) if r.done is not None),
                                                          None)
        progress.append(Progress(row, before, now_done, sum(1 for r in history if r.at > week_ago)))
    horizon = slot.date() + dt.timedelta(days=14)
    upcoming = sorted((r for r in rows if r.status != "done" and r.new <= horizon), key=lambda r: r.new)[:3]
    plan = Plan(reason=f"weekly check-in for the week of {slot.date().isoformat()}")
    message = svc.letters.weekly(env, rows, progress, upcoming, slot.date())
    _add(svc, plan, pv.project, env, message.as_bytes(), now)
    return plan


# --- the stage -------------------------------------------------------------------------------------------------


def _record(svc: Services, pv: ProjectView, plan: Plan, report: PassReport, what: str) -> int:
    project = pv.project
    first = plan.messages[0]
    to_manager = None
    if project.approval == "manager" or first.kind == "notice":
        # held: the draft, to approve; sent (auto, shadow): the manager's copy of a notice says why it went

        def to_manager(primary: int) -> QueueMail:
            ref = HeldRef(primary, first.kind, project.id, first.uid, first.token)
            if project.approval != "manager":
                return manager_message(svc, ref, "explained", plan.reason, svc.clock.now())
            extra = (f"{len(plan.messages) - 1} calendar update(s) go out with it."
                     if len(plan.messages) > 1 else "")
            return manager_message(svc, ref, "draft", plan.reason, svc.clock.now(), detail=extra, draft=first.message)

    notice_id = svc.store.enqueue_client_group(plan.messages, plan.dates, to_manager)
    state = {"manager": "held for the manager", "shadow": "shadow: to the manager only"}.get(project.approval,
                                                                                             "queued")
    report.event("%s: %s — #%d, %s; %s", project.id, what, notice_id, state, plan.reason)
    return notice_id


def evaluate(svc: Services, report: PassReport) -> None:
    now = svc.clock.now()
    everything: list[Forecast] = []
    for project in svc.config.projects:
        pv = view(svc, project)
        for m in pv.milestones:
            cd = pv.dates.get(m.uid)
            if m.state == "cancelled" and cd is not None and not cd.cancelled_sent and not m.private:
                _record(svc, pv, plan_cancel(svc, pv, m, now), report, f"cancellation of \"{m.name}\"")
        first = svc.store.first_client_message(project.id)
        if first is None:
            intro = plan_intro(svc, pv, now)
            if intro is not None:
                _record(svc, pv, intro, report, "introduction")
                pv = view(svc, project)
                first = svc.store.first_client_message(project.id)
        forecasts: dict[str, Forecast] = {}
        linked = {x.uid: x for x in pv.milestones if x.state != "cancelled"}
        followers = {s for x in linked.values() for s, _ in x.successors}
        for m in pv.milestones:  # in deadline order: predecessors are usually forecast first
            svc.tick()
            if m.state == "cancelled":
                continue
            reports = pv.reports.get(m.uid, [])
            cd = pv.dates.get(m.uid)
            f = forecast_milestone(svc, m, reports, cd, now)
            if m.uid in followers and pv.state(m) == "open":
                f = dependencies.waits_for(m, f, forecasts, linked, svc.workdays, svc.team_tz)
            if f is not None:
                forecasts[m.uid] = f
            state = pv.state(m)
            effective = m if state == m.state else dataclasses.replace(m, state=state)
            promise = policy.Promise(cd.promised if cd else None, cd.delivered_sent if cd else False)
            decision = policy.decide(effective, f, promise, svc.policy, svc.workdays,
                                     last_work_day(m.deadline, svc.team_tz), today=now.astimezone(svc.team_tz).date())
            if decision is None:
                continue
            if m.private:
                if decision.kind != "delivered":
                    report.event("%s: private milestone \"%s\" is at risk (%s); the client is not told",
                                 project.id, m.name, decision.reason)
                continue
            plan = plan_notice(svc, pv, m, decision, now)
            if decision.kind == "delivered":
                _record(svc, pv, plan, report, f"delivered note for \"{m.name}\"")
            else:
                days_left = (m.deadline - now).total_seconds() / 86400
                _record(svc, pv, plan, report, f"notice for \"{m.name}\", {days_left:.1f} days before its deadline, "
                                               f"promising {decision.promised}")
            pv = view(svc, project)  # the next decision sees the dates this one gave the client
        everything += forecasts.values()
        if first is not None:
            # the first check-in comes at least two days after the introduction, not hours after it
            weekly = plan_weekly(svc, pv, now, since=first.created + dt.timedelta(days=2))
            if weekly is not None:
                _record(svc, pv, weekly, report, "weekly check-in")
    svc.store.save_forecasts(everything, now)  # one transaction for the pass's forecasts
