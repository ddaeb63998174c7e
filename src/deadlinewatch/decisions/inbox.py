"""What a message in the inbox causes, decided from the message and its lookup (pure): a note's reply to its
sender, the manager's decision on a held notice (with a date of their own), a bounce of a client message, a
forward of a client's answer — and the message's own record. Returns the actions; stages/inbox.py carries them
out and files the message.
"""

from __future__ import annotations

import datetime as dt
import weakref
import zoneinfo
from collections.abc import Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from deadlinewatch.adapters.store.port import OutboxItem
from deadlinewatch.config import Config
from deadlinewatch.core import intake, notes, policy
from deadlinewatch.core.forecast import Spread
from deadlinewatch.core.letters import BlockSummary, Letters
from deadlinewatch.core.model import (
    Action,
    DecideHeld,
    Forecast,
    Milestone,
    Place,
    QueueMail,
    RecordMessage,
    Report,
    SetOutboxState,
)
from deadlinewatch.core.notes import NoteBlock, ParsedNote
from deadlinewatch.core.words import Days, Percent, Phrase, _, phrase
from deadlinewatch.decisions import approval
from deadlinewatch.decisions.evaluation import (
    Snapshot,
    decide_milestone,
    decide_project,
    not_told_yet,
    outrun_factor,
    return_due,
)
from deadlinewatch.decisions.forecaster import (
    Forecaster,
    ForecastFn,
    Key,
    Learning,
    Records,
    estimates,
    learned_from,
    pass_forecasts,
    spread_of,
)
from deadlinewatch.decisions.manager_mail import compose_manager_message
from deadlinewatch.decisions.outbox import cannot_go
from deadlinewatch.decisions.project_view import ProjectView, with_notes
from deadlinewatch.decisions.studio import Studio, bare
from deadlinewatch.errors import DeadlinewatchError, Refused


def rules_of(c: Config) -> intake.Rules:
    """Who is who for the inbox: the team, the managers, the clients (as the inbox compares addresses)."""
    return intake.Rules(
        members=frozenset(intake.ascii_lower(bare(m)) for m in c.team.members),
        managers=frozenset(intake.ascii_lower(bare(x)) for x in [c.team.manager, *(p.manager for p in c.projects)]),
        clients=frozenset(intake.ascii_lower(p.client.email) for p in c.projects),
        require_authentication=c.imap.require_authentication,
        authserv_id=c.imap.authserv_id,
        zone=zoneinfo.ZoneInfo(c.timezone),
    )


# the answer to a rejected "back in the plan" letter: what the client then holds, and when it is asked again
REJECTED_RETURN = _("rejected: it will not be sent, and the client keeps holding the milestone cancelled — its page "
                    "and calendar leave it out, and it gets no news — until a letter saying it is back goes out; one "
                    "is drafted again once its date moves in the team calendar, and the client is told once it is "
                    "delivered")

STATES = {  # an outbox state, as the manager reads it
    "pending": _("approved"), "sending": _("being sent"), "sent": _("sent"), "rejected": _("rejected"),
    "failed": _("failed"),
}


def _said(block: NoteBlock) -> list[Phrase]:
    """What a note's block said, as the reply tells it back."""
    parts = []
    if block.done is not None:
        parts.append(phrase(_("%(done)s done"), done=Percent(block.done)))
    if block.remaining_days is not None:
        parts.append(phrase(_("%(days)s left"), days=Days(block.remaining_days)))
    if block.eta is not None:
        parts.append(phrase(_("ETA %(date)s"), date=block.eta))
    if block.blocked:
        parts.append(phrase(_("blocked")))
    return parts or ([] if _details(block) else [phrase(_("noted"))])


def _details(block: NoteBlock) -> list[Phrase]:
    """A note's sentences, each on its own line of the reply, label first: commas inside them would run into
    the figures' commas on one line."""
    return [phrase(words, text=text) for text, words in (
        (block.cause, _("Cause: %(text)s")), (block.plan, _("Plan: %(text)s")),
        (block.prevent, _("Prevent: %(text)s"))) if text]


@dataclass(frozen=True)
class Lookup:
    """What deciding one message reads from the state, read just before it: the message before may have changed
    it (a second approval of a notice sees the first one's outcome)."""

    is_ours: bool = False  # its Message-ID is one of ours: an archive copy
    held: OutboxItem | None = None  # the held (or once held) notice a manager's mail answers
    answered: OutboxItem | None = None  # the client message a client's mail replies to
    bounced: tuple[OutboxItem, ...] = ()  # sent client messages a delivery status notification returns
    note: ParsedNote | None = None  # a member's note, as understood
    milestones: Mapping[str, Sequence[Milestone]] = field(default_factory=dict)  # by project, those concerned
    # the note's project as the pass's evaluation reads it (stages/state.py `view`): its notes so far and
    # the dates its client holds — what the reply forecasts from and judges the client notice by
    view: ProjectView | None = None
    held_view: ProjectView | None = None  # a held notice's project as the client knows it (approve with a date)
    closed: int = 0  # the team's closed milestones the forecasts learned from (approve with a date; a reply)

    def names(self, project: str | None) -> dict[str, str]:
        return {m.uid: m.name for m in self.milestones.get(project or "", ())}


@dataclass
class MessageDecision:
    """What became of one message: the actions to carry out in one transaction (its record last), the folder it
    goes to, the notes it carries, and what the pass reports of it."""

    verdict: intake.Verdict
    target: str
    actions: list[Action] = field(default_factory=list)
    reports: list[Report] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    learned: tuple[Records, Spread] | None = None  # the team's spread learned again for this note's reply


@dataclass(frozen=True)
class Facts:
    """What the store knows of one message (InboxSnapshot.facts): whether it is one of ours (an archive copy), the
    held (or once held) notice a manager's mail decides, the client message a client's mail answers, the sent
    client messages a delivery status notification returns."""

    is_ours: bool = False
    held: OutboxItem | None = None
    answered: OutboxItem | None = None
    bounced: tuple[OutboxItem, ...] = ()


@dataclass(frozen=True)
class InboxSnapshot:
    """What deciding a batch of mail reads, read from the store before its first message is decided
    (stages/inbox.py `snapshot`), then carried along by the decisions themselves (`after`): the milestones, each
    message's facts, the projects its notes and held notices concern as the pass's evaluation reads them, and the
    team's spread with what it is learned from. A message is then decided from it alone (`decide_from`), with
    nothing read."""

    milestones: Mapping[str, Sequence[Milestone]]  # every project's, in deadline order
    facts: Mapping[str, Facts]  # by message key: a message missing here was too broken to look up
    views: Mapping[str, ProjectView]  # the notes' and held notices' projects, as the evaluation reads them
    spread: Spread  # the team's spread, as learned with `pending`
    known: dict[Hashable, Forecast]  # forecasts made before (Forecaster.known: remembered, never read)
    learning: Learning | None = None  # what the spread is learned from (None: the batch holds no note)
    records: Records | None = None  # what `spread` was learned from (None: not known)
    stored: Mapping[Key, Sequence[Report]] = field(default_factory=dict)  # the notes' milestones' notes, as read
    pending: tuple[Report, ...] = ()  # the notes of this batch decided so far


def decide_from(c: Studio, snap: InboxSnapshot, rules: intake.Rules, folders: Mapping[str, str],
                incoming: intake.Incoming, note: ParsedNote | None, now: dt.datetime, place: Place | None = None
                ) -> MessageDecision:
    """One message of a batch, decided from the batch's snapshot alone: its lookup and its forecaster taken from
    the snapshot (the team's spread learned again, with the batch's notes, when this note teaches it something:
    the reply forecasts as the evaluation will once it is recorded), then `decide_message`."""
    try:
        lookup, spread, records = _lookup(snap, incoming, note)
    except (RecursionError, *PARSE_ERRORS):
        lookup, spread, records = Lookup(), snap.spread, snap.records  # too broken to look up: decided unreadable
    decided = decide_message(c, Forecaster(c.workdays, c.team_tz, spread, snap.known), rules, folders, incoming,
                             lookup, now, place)
    if spread is not snap.spread and records is not None and decided.reports:  # learned from notes recorded
        decided.learned = (records, spread)
    return decided


def _lookup(snap: InboxSnapshot, incoming: intake.Incoming, note: ParsedNote | None
            ) -> tuple[Lookup, Spread, Records | None]:
    facts = snap.facts[incoming.message_key]
    held = facts.held
    project = note.project if note is not None and note.ok else None
    # a note's project, understood or not: a reply listing its problems gives an example with one of its milestones
    said = note.project if note is not None else None
    concerned = {p for p in (said, held.project if held else None, *(i.project for i in facts.bounced)) if p}
    # an approval may carry a date: composed again, from the project as the client knows it
    held_view = snap.views.get(held.project) if held is not None and held.state == "held" and held.project else None
    pv = snap.views.get(project) if project is not None else None
    spread, records = snap.spread, snap.records
    if note is not None and pv is not None and snap.learning is not None:
        mine = note_reports(note, incoming)
        if any(_teaches(snap, r) for r in mine):  # learned again, with this batch's notes as if recorded
            records = learned_from(snap.learning, [*snap.pending, *mine], snap.stored)
            if records != snap.records:
                spread = spread_of(records, snap.spread)
    return Lookup(
        is_ours=facts.is_ours, held=held, answered=facts.answered, bounced=facts.bounced, note=note,
        milestones={p: snap.milestones.get(p, ()) for p in concerned}, view=pv, held_view=held_view,
        closed=spread.history if held_view is not None or pv is not None else 0,
    ), spread, records


def _teaches(snap: InboxSnapshot, r: Report) -> bool:
    """Does a note teach the team's spread something: its milestone's first estimate, its Done: 100%, or anything
    about a milestone already closed (its statements, learned from, change)?"""
    pv = snap.views.get(r.project)
    if pv is None or r.done == 100:
        return True
    known = pv.reports.get(r.uid, [])
    closed = snap.learning is not None and (r.project, r.uid) in snap.learning.done_at
    return closed or any(x.done == 100 for x in known) or (estimates(r) and not any(map(estimates, known)))


def after(snap: InboxSnapshot, decided: MessageDecision) -> InboxSnapshot | None:
    """The snapshot once a message's decision is carried out (`carried`). None when the decision changed more than
    notes and replies (a notice decided, a client message bounced): what the client holds changed, and the rest of
    the batch is read again (from `carried`: what the spread is learned from stays)."""
    if any(not isinstance(a, RecordMessage | QueueMail) for a in decided.actions):
        return None
    return carried(snap, decided)


def carried(snap: InboxSnapshot, decided: MessageDecision) -> InboxSnapshot:
    """The snapshot with a decision's notes: they join their projects and the spread's pending notes, and the
    spread learned again for them stands."""
    records, spread = decided.learned or (snap.records, snap.spread)
    return replace(snap, views={p: with_notes(pv, [r for r in decided.reports if r.project == p])
                                for p, pv in snap.views.items()},
                   pending=(*snap.pending, *decided.reports), spread=spread, records=records)


def decide_message(c: Studio, forecast: ForecastFn, rules: intake.Rules, folders: Mapping[str, str],
                   incoming: intake.Incoming, lookup: Lookup, now: dt.datetime, place: Place | None = None
                   ) -> MessageDecision:
    """One message: what it is, the answer it gets, what it decides, and its record (with where the server keeps
    it). A pure function of the message and what was looked up for it."""
    context = intake.Context(is_ours=lookup.is_ours, answers_notice=lookup.answered is not None,
                             decides=lookup.held.token if lookup.held else "",
                             bounced=tuple(i.message_id for i in lookup.bounced))
    try:
        verdict = intake.classify(incoming, rules, context, lambda _: _understood(lookup))
    except (RecursionError, *PARSE_ERRORS) as e:
        # a message so broken the email library chokes on it: kept and filed, never a crashed pass
        verdict = intake.Verdict("rejected", "rejected", f"unreadable message ({type(e).__name__})")
    out = MessageDecision(verdict, folders[verdict.folder])
    if verdict.note is not None and verdict.note.ok:
        out.reports = note_reports(verdict.note, incoming)
    messages: list[QueueMail] = []
    if verdict.reply:
        messages.append(_reply(c, forecast, incoming, verdict, out.reports, lookup, now))
    if verdict.outcome == "forwarded":
        messages.append(_forward(c, incoming, lookup.answered, now))
    if verdict.outcome == "decision":
        _decide(c, forecast, incoming, verdict, lookup, now, out)
    if verdict.outcome == "bounce":
        _bounce(c, lookup, now, incoming.text, out)
    note = verdict.note is not None  # only a member's note is kept whole (and only for imap.keep_mail_days)
    out.actions.append(RecordMessage(
        message_key=incoming.message_key, message_id=incoming.message_id, sender=incoming.sender,
        subject=incoming.subject, received_at=incoming.at, outcome=verdict.outcome, target_folder=out.target,
        project=verdict.note.project if verdict.note else None,
        problems=tuple(map(str, verdict.note.problems)) if verdict.note else (verdict.reason,),
        raw=incoming.raw if note else b"", body=incoming.text if note else "", reports=tuple(out.reports),
        outgoing=tuple(messages), place=place,
    ))
    return out


def note_reports(note: ParsedNote, incoming: intake.Incoming) -> list[Report]:
    """What an accepted note records: one report a block, at the note's time."""
    return [b.report(incoming.at, incoming.sender) for b in note.blocks]


def _understood(lookup: Lookup) -> ParsedNote:
    if lookup.note is None:  # looked up for every member's readable mail: classify asks for no other
        raise LookupError("the note was not read before deciding")
    return lookup.note


def _reply(c: Studio, forecast: ForecastFn, incoming: intake.Incoming, verdict: intake.Verdict,
           reports: Sequence[Report], lookup: Lookup, now: dt.datetime) -> QueueMail:
    note = verdict.note
    assert note is not None
    blocks: list[BlockSummary] = []
    project_name = ""
    if note.ok and note.project:
        project = c.config.project(note.project)
        project_name = project.name
        # the project once this note is recorded, as the pass's evaluation reads it
        pv = with_notes(lookup.view or ProjectView(project, list(lookup.milestones.get(project.id, ())), {}, {}),
                        reports)
        forecasts, due, held = as_evaluated(c, pv, forecast, now, {b.uid for b in note.blocks}, lookup.closed)
        by_uid = {m.uid: m for m in pv.milestones}
        for block in note.blocks:
            m = by_uid[block.uid]
            blocks.append(_summary(c, block, m, pv.agreed(m), forecasts.get(m.uid), m.uid in due,
                                   pv.reports.get(m.uid, []), held=m.uid in held))
    token, msg_id = c.message_id("reply", incoming.message_key)
    letter = c.letters.reply_letter(
        language=c.config.team.language, sender=c.sender, to=incoming.sender,
        original_subject=incoming.subject, original_message_id=incoming.message_id,
        references=" ".join(incoming.references), composed_at=now, message_id=msg_id, accepted=note.ok,
        project_name=project_name, blocks=blocks,
        problems=[c.letters.say(c.config.team.language, [p]) for p in note.problems], **_example(c, note, lookup),
    )
    return c.outgoing(kind="reply", audience="team", token=token, msg_id=msg_id, message=letter.as_bytes(),
                      recipients=[incoming.sender], now=now, project=note.project)


def as_evaluated(c: Studio, pv: ProjectView, forecast: ForecastFn, now: dt.datetime, wanted: Collection[str],
                 history: int) -> tuple[dict[str, Forecast], set[str], set[str]]:
    """What the pass's evaluation makes of these milestones of a project now: their forecasts (each with what it
    waits for) and which of them the policy makes a client notice due for — so that a reply says what the risk
    alert, the manager's mail and the nudge of the same moment say. A notice due now for a milestone others wait
    for moves their promised dates within the pass (and so their forecasts): then the evaluation itself is asked
    (`decide_project`, its letters composed and dropped), else its forecasts and policy alone, which is cheaper.
    `history`: the team's closed milestones its spread learned from (a far promise may be held for the manager).
    Third, which of the notices due wait for the manager's approval: every one under approval "manager"; one held
    for a reason of its plan's own is known only where the evaluation itself was asked (planning each notice due
    for every note cost a whole project's letters a note: a second and more each, with a held notice re-planned at
    every note)."""
    forecasts = pass_forecasts(pv, forecast, now, c.workdays, wanted)
    by_uid = {m.uid: m for m in pv.milestones}
    decided = {uid: decide_milestone(c, pv, by_uid[uid], f, now) for uid, f in forecasts.items()}
    # no notice of a milestone the client holds for cancelled — unless the letter saying it is back goes out first
    # in the same pass, unheld (decide_project's order)
    client_day = now.astimezone(pv.client_tz).date()
    notices = {uid for uid, d in decided.items() if d is not None and d.kind == "notice"
               and (not_told_yet(pv, by_uid[uid], client_day) is None
                    or (return_due(pv, by_uid[uid], client_day) and pv.project.approval != "manager"))}
    # known without planning the letters: the manager approves every client letter, or the notice's date outruns
    # the team's own so far that the manager chooses, or nothing gives it a date (plan_notice's holds, the same
    # rules)
    today = now.astimezone(c.team_tz).date()
    held: set[str] = {uid for uid, d in decided.items() if d is not None and uid in notices
                      and not by_uid[uid].private and (pv.project.approval == "manager"
                                                       or outrun_factor(d, today, history, c.workdays) is not None
                                                       or policy.unestimated(d.forecast))}
    # a notice's plan moves the dates of the work that waits for it, and comes after the dates promised for the
    # work it waits for (dependencies.earliest): its date, and so its hold, are the plan's, not the policy's
    waited_for = {s for m in pv.milestones if m.state != "cancelled" for s, _ in m.successors}
    if any(not by_uid[uid].private and (uid in waited_for or any(s in forecasts for s, _ in by_uid[uid].successors))
           for uid in notices):
        evaluation = decide_project(c, Snapshot(pv, now, None, history=history), forecast, now)
        forecasts = {f.uid: f for f in evaluation.forecasts}
        # the notices it plans; a private milestone's (never planned) as the policy decides it
        planned = [p.messages[0] for p in evaluation.plans if p.messages and p.messages[0].kind == "notice"
                   and p.messages[0].uid is not None]
        notices = {q.uid for q in planned if q.uid} | {uid for uid in notices if by_uid[uid].private}
        held = {q.uid for q in planned if q.uid and q.state == "held"}
    return forecasts, {uid for uid in notices if uid in wanted}, held


def _summary(c: Studio, block: NoteBlock, m: Milestone, deadline_day: dt.date, f: Forecast | None, notice_due: bool,
             history: Sequence[Report], held: bool = False) -> BlockSummary:
    """One milestone of a note as the reply tells it back: what the note said, the forecast with it, and — when
    the client notice is due and the notes never gave them — the request for the cause and the plan. `held`: the
    notice due waits for the manager's approval (as_evaluated), so it is not sent now but drafted for them."""
    language = c.config.team.language
    if f is None:
        words = _say(c, language, (phrase(_("closed — done")),))
    else:
        more = []
        held_date = f.target if f.target is not None and f.target != deadline_day else None
        if f.p50 is not None and held_date is not None:
            # a date moved: late or not against the date the client holds now, the original beside it
            late = c.workdays.count(held_date, f.p50)
            more.append(phrase(_("The likely date is %(days)s after %(date)s, the date the client holds now (the "
                                 "original deadline was %(deadline)s)."), days=Days(late), date=held_date,
                               deadline=deadline_day)
                        if late > 0 else phrase(_("The likely date is in time for %(date)s, the date the client holds "
                                                  "now (the original deadline was %(deadline)s)."), date=held_date,
                                                deadline=deadline_day))
        elif f.p50 is not None:
            late = c.workdays.count(deadline_day, f.p50)
            more.append(phrase(_("The likely date is %(days)s after the deadline (%(date)s)."), days=Days(late),
                               date=deadline_day)
                        if late > 0 else phrase(_("The likely date meets the deadline (%(date)s)."), date=deadline_day))
        if notice_due:
            more.append(phrase(_("It is a private milestone: the client is not told.")) if m.private
                        else phrase(_("The client needs to hear now; the notice is waiting for the manager's "
                                      "approval.")) if held
                        else phrase(_("The client notice is due now.")))
        words = " ".join([c.letters.forecast(language, f), *([_say(c, language, tuple(more))] if more else [])])
    told = any(r.cause for r in history) and any(r.plan for r in history)
    read_as = _say(c, language, (phrase(_('"%(written)s" read as "%(name)s"'), written=block.matched_by,
                                        name=block.name),)) if block.matched_by else ""
    return BlockSummary(block.name, read_as, _say(c, language, tuple(_said(block)), ", "), words,
                        notice_due and not m.private and not told,
                        tuple(_say(c, language, (p,)) for p in _details(block)))


def _say(c: Studio, language: str, words: tuple[Phrase, ...], sep: str = " ") -> str:
    """`Letters.say`, each distinct set of phrases rendered once: a pass's replies say the same things again and
    again ("60% done, stated 4 working days left", "on time for the deadline (Mon, 1 Mar 2027)"), and rendering
    one (the catalog, Babel's dates and numbers in the team's locale) is what a reply's lines cost most."""
    known = _SAID.setdefault(c.letters, {})  # by the Letters: a reload (new catalogs, a new zone) starts afresh
    key = (language, words, sep)
    text = known.get(key)
    if text is None:
        if len(known) >= _SAID_KEPT:
            known.clear()
        text = known[key] = c.letters.say(language, words, sep)
    return text


_SAID_KEPT = 4096


def _example(c: Studio, note: notes.ParsedNote, lookup: Lookup) -> dict[str, str]:
    """What the reply's example note names: the note's project and one of its milestones, when known."""
    project = note.project or (c.config.projects[0].id if c.config.projects else "acme-web")
    known = [m for m in lookup.milestones.get(project, ()) if m.state == "open"] or lookup.milestones.get(project, ())
    return {"example_project": project, "example_milestone": known[0].name if known else "Design mockups"}


def _forward(c: Studio, incoming: intake.Incoming, notice: OutboxItem | None, now: dt.datetime) -> QueueMail:
    manager = c.config.project(notice.project).manager if notice and notice.project else c.config.team.manager
    token, msg_id = c.message_id("forward", incoming.message_key)
    msg = c.letters.forward(language=c.config.team.language, sender=c.sender, to=manager, original=incoming.msg,
                            composed_at=now, message_id=msg_id)
    return c.outgoing(kind="forward", audience="team", token=token, msg_id=msg_id, message=msg.as_bytes(),
                      recipients=[bare(manager)], now=now)


def _decide(c: Studio, forecast: ForecastFn, incoming: intake.Incoming, verdict: intake.Verdict, lookup: Lookup,
            now: dt.datetime, out: MessageDecision) -> None:
    """The manager's approve/reject by mail: the decision, and the answer saying what became of it."""
    held = lookup.held
    assert held is not None
    names = lookup.names(held.project)
    language = c.config.team.language
    if held.state != "held":
        already = c.letters.gettext(language, STATES.get(held.state, held.state))
        out.actions.append(compose_manager_message(
            c, held, names, "decided", c.letters.gettext(language, _("already %(state)s; nothing changed"),
                                                         state=already), now, in_reply_to=incoming.message_id))
        return
    if verdict.decision == "unclear":
        out.actions.append(compose_manager_message(
            c, held, names, "decided", c.letters.gettext(language, _(
                "the date could not be read (%(why)s); nothing changed: answer again with approve and a date such "
                "as 2026-12-11"), why=verdict.reason.partition(": ")[2]), now, in_reply_to=incoming.message_id))
        return
    approve = verdict.decision == "approve"
    if approve and lookup.held_view is not None and (refused := cannot_go(held, lookup.held_view, now)) is not None:
        answer = c.letters.say(language, [refused.refused])
        out.actions.append(compose_manager_message(c, held, names, "decided", answer, now,
                                                   in_reply_to=incoming.message_id))
        return
    if approve and verdict.date is not None and lookup.held_view is not None:
        try:
            plan = approval.with_date(c, lookup.held_view, held, verdict.date, forecast, lookup.closed, now,
                                      incoming.sender)
        except DeadlinewatchError as e:  # a date not after the deadline, or not one the client can use
            refusal = e.words if isinstance(e, Refused) else phrase(_(
                "the date %(date)s cannot be given: %(why)s; nothing changed"), date=verdict.date, why=str(e))
            out.actions.append(compose_manager_message(c, held, names, "decided", c.letters.say(language, [refusal]),
                                                       now, in_reply_to=incoming.message_id))
            return
        # the manager's date said back in the manager's own locale: what was understood, not what was typed
        words = c.letters.say(language, [phrase(_("approved with the date %(date)s: it is written again for that "
                                                  "date and goes out now"), date=verdict.date)])
        out.events.append(f"manager approved notice #{held.id} by email with the date {verdict.date.isoformat()}")
        out.actions += [plan.group(),
                        compose_manager_message(c, held, names, "decided", words, now,
                                                in_reply_to=incoming.message_id)]
        return
    words = c.letters.gettext(language, _("approved: it goes out now") if approve else REJECTED_RETURN
                              if held.kind == "reinstate" else _("rejected: it will not be sent"))
    out.events.append(f"manager {'approved' if approve else 'rejected'} notice #{held.id} by email")
    out.actions += [DecideHeld(held.id, approve, incoming.sender),
                    compose_manager_message(c, held, names, "decided", words, now, in_reply_to=incoming.message_id)]


def _bounce(c: Studio, lookup: Lookup, now: dt.datetime, text: str, out: MessageDecision) -> None:
    """Client messages returned by the client's server: failed, and the manager told."""
    for item in lookup.bounced:
        if item.state == "failed":
            continue
        out.problems.append(f"message #{item.id} ({item.kind}) to the client bounced")
        out.actions += [SetOutboxState(item.id, "failed", "bounced: " + text[:300]),
                        compose_manager_message(c, item, lookup.names(item.project), "failed",
                                                c.letters.gettext(c.config.team.language,
                                                                  _("the client's mail server returned it")),
                                                now, detail=text[:1500])]


PARSE_ERRORS = (ValueError, LookupError, TypeError, AttributeError, UnicodeError)


_SAID: weakref.WeakKeyDictionary[Letters, dict[tuple[str, tuple[Phrase, ...], str], str]] = \
    weakref.WeakKeyDictionary()
