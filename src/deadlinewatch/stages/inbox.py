"""Stage 2: the inbox. Each message is decided once, recorded with what it causes, and only then moved.

One message in three moves: `look_up` reads what deciding it needs from the state (the notice it answers or
decides, the messages it bounces, the note's milestones and their notes so far); `decide_message` is a pure
function of the message and that lookup, returning the actions (the answer, the manager's decision, a bounce,
its record); the store carries them out in one transaction, and only then is the message moved."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import logging
import sqlite3
import weakref
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage

from deadlinewatch.adapters.mailbox import Fetched
from deadlinewatch.adapters.store import RECENT_REPORTS, OutboxItem
from deadlinewatch.config import Config
from deadlinewatch.core import intake, notes
from deadlinewatch.core.forecast import last_work_day
from deadlinewatch.core.letters import BlockSummary, Letters
from deadlinewatch.core.model import (
    Action,
    DecideHeld,
    Forecast,
    MarkMoved,
    Milestone,
    PruneMail,
    QueueMail,
    RecordFailure,
    RecordMessage,
    Report,
    SetOutboxState,
    SetServer,
)
from deadlinewatch.core.notes import NoteBlock, ParsedNote
from deadlinewatch.core.words import Days, Percent, Phrase, _, phrase
from deadlinewatch.errors import ConfigError, DeadlinewatchError, LoginRefused, ServerError
from deadlinewatch.services import Composer, PassReport, Services, bare, server_failed, server_ok
from deadlinewatch.stages import approval
from deadlinewatch.stages.evaluation import Snapshot, decide_milestone, decide_project
from deadlinewatch.stages.forecasts import Forecaster, ForecastFn, estimates, forecaster, pass_forecasts
from deadlinewatch.stages.manager_mail import compose_manager_message, record
from deadlinewatch.stages.project_view import ProjectView, view

log = logging.getLogger(__name__)
PARSE_ERRORS = (ValueError, LookupError, TypeError, AttributeError, UnicodeError)


def _parse_for(svc: Services) -> Callable[[intake.Incoming], notes.ParsedNote]:
    refs = [notes.MilestoneRef(m.project, m.uid, m.name) for m in svc.store.milestones() if m.state != "cancelled"]
    ids = [p.id for p in svc.config.projects]
    week = len(svc.config.policy.working_days)

    def parse(incoming: intake.Incoming) -> notes.ParsedNote:
        today = incoming.at.astimezone(svc.composer.team_tz).date()
        return notes.parse_note(incoming.subject, incoming.text, refs, ids, today, week)

    return parse


def rules_of(c: Config) -> intake.Rules:
    """Who is who for the inbox: the team, the managers, the clients (as the inbox compares addresses)."""
    return intake.Rules(
        members=frozenset(intake.ascii_lower(bare(m)) for m in c.team.members),
        managers=frozenset(intake.ascii_lower(bare(x)) for x in [c.team.manager, *(p.manager for p in c.projects)]),
        clients=frozenset(intake.ascii_lower(p.client.email) for p in c.projects),
        require_authentication=c.imap.require_authentication,
        authserv_id=c.imap.authserv_id,
    )


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
        # in the forecast's words ("stated …"), beside the days it counts at the notes' pace
        parts.append(phrase(_("stated %(days)s left"), days=Days(block.remaining_days)))
    if block.eta is not None:
        parts.append(phrase(_("ETA %(date)s"), date=block.eta))
    if block.blocked:
        parts.append(phrase(_("blocked")))
    for text, words in ((block.cause, _("cause: %(text)s")), (block.plan, _("plan: %(text)s")),
                        (block.prevent, _("prevent: %(text)s"))):
        if text:
            parts.append(phrase(words, text=text))
    return parts or [phrase(_("noted"))]


# --- deciding one message: pure -------------------------------------------------------------------------------


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
    # the note's project as the pass's evaluation reads it (stages/project_view.py `view`): its notes so far and
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


def decide_message(c: Composer, forecast: ForecastFn, rules: intake.Rules, folders: Mapping[str, str],
                   incoming: intake.Incoming, lookup: Lookup, now: dt.datetime) -> MessageDecision:
    """One message: what it is, the answer it gets, what it decides, and its record. A pure function of the
    message and what was looked up for it."""
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
        outgoing=tuple(messages),
    ))
    return out


def note_reports(note: ParsedNote, incoming: intake.Incoming) -> list[Report]:
    """What an accepted note records: one report a block, at the note's time."""
    return [b.report(incoming.at, incoming.sender) for b in note.blocks]


def _understood(lookup: Lookup) -> ParsedNote:
    if lookup.note is None:  # looked up for every member's readable mail: classify asks for no other
        raise LookupError("the note was not read before deciding")
    return lookup.note


def _reply(c: Composer, forecast: ForecastFn, incoming: intake.Incoming, verdict: intake.Verdict,
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
        forecasts, due = as_evaluated(c, pv, forecast, now, {b.uid for b in note.blocks}, lookup.closed)
        by_uid = {m.uid: m for m in pv.milestones}
        for block in note.blocks:
            m = by_uid[block.uid]
            blocks.append(_summary(c, block, m, forecasts.get(m.uid), m.uid in due, pv.reports.get(m.uid, [])))
    token, msg_id = c.message_id("reply", incoming.message_key)
    msg = c.letters.reply(
        language=c.config.team.language, sender=c.sender, to=incoming.sender,
        original_subject=incoming.subject, original_message_id=incoming.message_id,
        references=" ".join(incoming.references), composed_at=now, message_id=msg_id, accepted=note.ok,
        project_name=project_name, blocks=blocks,
        problems=[c.letters.say(c.config.team.language, [p]) for p in note.problems], **_example(c, note, lookup),
    )
    return c.outgoing(kind="reply", audience="team", token=token, msg_id=msg_id, message=msg.as_bytes(),
                      recipients=[incoming.sender], now=now, project=note.project)


def as_evaluated(c: Composer, pv: ProjectView, forecast: ForecastFn, now: dt.datetime, wanted: Collection[str],
                 history: int) -> tuple[dict[str, Forecast], set[str]]:
    """What the pass's evaluation makes of these milestones of a project now: their forecasts (each with what it
    waits for) and which of them the policy makes a client notice due for — so that a reply says what the risk
    alert, the manager's mail and the nudge of the same moment say. A notice due now for a milestone others wait
    for moves their promised dates within the pass (and so their forecasts): then the evaluation itself is asked
    (`decide_project`, its letters composed and dropped), else its forecasts and policy alone, which is cheaper.
    `history`: the team's closed milestones its spread learned from (a far promise may be held for the manager)."""
    forecasts = pass_forecasts(pv, forecast, now, c.workdays, c.team_tz, wanted)
    by_uid = {m.uid: m for m in pv.milestones}
    decided = {uid: decide_milestone(c, pv, by_uid[uid], f, now) for uid, f in forecasts.items()}
    notices = {uid for uid, d in decided.items() if d is not None and d.kind == "notice"}
    if any(not by_uid[uid].private and any(s in forecasts for s, _ in by_uid[uid].successors) for uid in notices):
        evaluation = decide_project(c, Snapshot(pv, now, None, history=history), forecast, now)
        forecasts = {f.uid: f for f in evaluation.forecasts}
        # the notices it plans; a private milestone's (never planned) as the policy decides it
        notices = {uid for p in evaluation.plans if p.messages and p.messages[0].kind == "notice"
                   and (uid := p.messages[0].uid) is not None} | {uid for uid in notices if by_uid[uid].private}
    return forecasts, {uid for uid in notices if uid in wanted}


def _summary(c: Composer, block: NoteBlock, m: Milestone, f: Forecast | None, notice_due: bool,
             history: Sequence[Report]) -> BlockSummary:
    """One milestone of a note as the reply tells it back: what the note said, the forecast with it, and — when
    the client notice is due and the notes never gave them — the request for the cause and the plan."""
    language = c.config.team.language
    if f is None:
        words = _say(c, language, (phrase(_("closed — done")),))
    else:
        deadline_day = last_work_day(m.deadline, c.team_tz)
        more = []
        if f.p50 is not None:
            late = c.workdays.count(deadline_day, f.p50)
            more.append(phrase(_("%(days)s after the deadline (%(date)s)"), days=Days(late), date=deadline_day)
                        if late > 0 else phrase(_("on time for the deadline (%(date)s)"), date=deadline_day))
        if notice_due:
            more.append(phrase(_("private milestone: the client is not told")) if m.private
                        else phrase(_("the client notice is due now")))
        words = "; ".join([c.letters.forecast(language, f), *([_say(c, language, tuple(more))] if more else [])])
    told = any(r.cause for r in history) and any(r.plan for r in history)
    read_as = _say(c, language, (phrase(_('"%(written)s" read as "%(name)s"'), written=block.matched_by,
                                        name=block.name),)) if block.matched_by else ""
    return BlockSummary(block.name, read_as, _say(c, language, tuple(_said(block)), ", "), words,
                        notice_due and not m.private and not told)


def _say(c: Composer, language: str, words: tuple[Phrase, ...], sep: str = "; ") -> str:
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


_SAID: weakref.WeakKeyDictionary[Letters, dict[tuple[str, tuple[Phrase, ...], str], str]] = \
    weakref.WeakKeyDictionary()
_SAID_KEPT = 4096


def _example(c: Composer, note: notes.ParsedNote, lookup: Lookup) -> dict[str, str]:
    """What the reply's example note names: the note's project and one of its milestones, when known."""
    project = note.project or (c.config.projects[0].id if c.config.projects else "acme-web")
    known = lookup.milestones.get(project, ())
    return {"example_project": project, "example_milestone": known[0].name if known else "Design mockups"}


def _forward(c: Composer, incoming: intake.Incoming, notice: OutboxItem | None, now: dt.datetime) -> QueueMail:
    manager = c.config.project(notice.project).manager if notice and notice.project else c.config.team.manager
    token, msg_id = c.message_id("forward", incoming.message_key)
    msg = c.letters.forward(language=c.config.team.language, sender=c.sender, to=manager, original=incoming.msg,
                            composed_at=now, message_id=msg_id)
    return c.outgoing(kind="forward", audience="team", token=token, msg_id=msg_id, message=msg.as_bytes(),
                      recipients=[bare(manager)], now=now)


def _decide(c: Composer, forecast: ForecastFn, incoming: intake.Incoming, verdict: intake.Verdict, lookup: Lookup,
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
    if approve and verdict.date is not None and lookup.held_view is not None:
        try:
            plan = approval.with_date(c, lookup.held_view, held, verdict.date, forecast, lookup.closed, now,
                                      incoming.sender)
        except DeadlinewatchError as e:  # a date not after the deadline, or not one the client can use
            out.actions.append(compose_manager_message(
                c, held, names, "decided", c.letters.gettext(language, _(
                    "the date %(date)s cannot be given: %(why)s; nothing changed"), date=verdict.date.isoformat(),
                    why=str(e).partition(": ")[2] or str(e)), now, in_reply_to=incoming.message_id))
            return
        words = c.letters.gettext(language, _("approved with the date %(date)s: it is written again for that date "
                                              "and goes out now"), date=verdict.date.isoformat())
        out.events.append(f"manager approved notice #{held.id} by email with the date {verdict.date.isoformat()}")
        out.actions += [plan.group(),
                        compose_manager_message(c, held, names, "decided", words, now,
                                                in_reply_to=incoming.message_id)]
        return
    words = c.letters.gettext(language, _("approved: it goes out now") if approve else
                              _("rejected: it will not be sent"))
    out.events.append(f"manager {'approved' if approve else 'rejected'} notice #{held.id} by email")
    out.actions += [DecideHeld(held.id, approve, incoming.sender),
                    compose_manager_message(c, held, names, "decided", words, now, in_reply_to=incoming.message_id)]


def _bounce(c: Composer, lookup: Lookup, now: dt.datetime, text: str, out: MessageDecision) -> None:
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


# --- reading the inbox: look up, decide, carry out, file ----------------------------------------------------------


def look_up(svc: Services, incoming: intake.Incoming, reading: Reading) -> Lookup:
    """What deciding this message needs from the state."""
    store = svc.store
    token_match = intake.TOKEN.search(incoming.subject)
    held = store.notice_for_decision(token_match.group(1) if token_match else "", incoming.references)
    # a bounce counts only as a delivery status notification of a client message that was sent (its Message-ID is
    # keyed: nobody outside can name one), never as any mail that quotes an id
    bounced = tuple(item for m in intake.returned_ids(incoming.msg)
                    if (item := store.client_message(m)) is not None and item.state == "sent"
                    ) if intake.is_automatic(incoming.msg, incoming.sender) else ()
    note = None
    if incoming.sender in reading.rules.members and not incoming.unreadable and not incoming.too_long:
        note = reading.parsed(incoming)
    project = note.project if note is not None and note.ok else None
    concerned = {p for p in (project, held.project if held else None, *(i.project for i in bounced)) if p}
    held_view, closed = None, 0
    if held is not None and held.state == "held" and held.project in {p.id for p in svc.config.projects}:
        held_view = view(store, svc.config.project(held.project))  # an approval may carry a date: composed again
    pv = None
    if note is not None and project is not None:  # the reply forecasts as the evaluation will once it is recorded
        pv = reading.view(project)
        reading.prepare(note_reports(note, incoming))
    if reading.forecaster is None:  # the team's spread, read before deciding: the decision reads nothing
        reading.forecaster = forecaster(svc)
    if held_view is not None or pv is not None:
        closed = reading.forecaster.spread.history
    return Lookup(
        is_ours=bool(incoming.message_id) and store.is_our_message_id(incoming.message_id),
        held=held, answered=store.notice_by_message_ids(incoming.references), bounced=bounced, note=note,
        milestones={p: store.milestones(p) for p in concerned},
        view=pv,
        held_view=held_view, closed=closed,
    )


MAX_ATTEMPTS = 3  # a message whose processing fails this often is filed as rejected: no poison stalls the inbox
BATCH = 200  # messages decided per commit: one fsync for many, while a crash loses little work (none is filed)


def _decide_one(svc: Services, report: PassReport, incoming: intake.Incoming, reading: Reading) -> str:
    """Decide one message and record it with everything it causes, in one transaction. Returns its folder."""
    now = svc.clock.now()
    try:
        lookup = look_up(svc, incoming, reading)
    except (RecursionError, *PARSE_ERRORS):
        lookup = Lookup()  # a message too broken to look up: decided as unreadable below
    forecast = reading.forecaster or forecaster(svc)  # a message too broken to look up forecasts nothing
    decided = decide_message(svc.composer, forecast, reading.rules, reading.folders, incoming, lookup, now)
    record(svc.store, svc.composer, decided.actions, now)
    reading.recorded(decided.reports, decided.actions)
    for event in decided.events:
        report.event("%s", event)
    for problem in decided.problems:
        report.problem(problem)
    _tell(report, incoming, decided.verdict)
    return decided.target


def _prepare(fetched: Sequence[Fetched], parse: Callable[[intake.Incoming], notes.ParsedNote], rules: intake.Rules,
             limit: int) -> list[tuple[Fetched, intake.Incoming, notes.ParsedNote | None]]:
    """Off the event loop (in a thread): each message parsed, its Authentication-Results read (a team member's or
    manager's), a delivery report's returned ids and text read, and a member's text read and note understood — the
    costly part of taking mail in, which must never hold the daemon's loop: deciding it there (`classify`,
    `look_up`) finds all of this read. Contained: whatever bytes a message holds, it comes back as an Incoming
    (unreadable, with the reason, at worst)."""
    out: list[tuple[Fetched, intake.Incoming, notes.ParsedNote | None]] = []
    readers = rules.members | rules.managers
    for item in fetched:
        too_large = (f"it is {item.size / 1e6:.1f} MB, and mail is read up to {limit / 1e6:.1f} MB "
                     "(imap.max_message_bytes)") if item.truncated else ""
        note = None
        try:
            incoming = intake.read_message(item.raw, item.arrived, too_large)
            if incoming.sender in readers and rules.require_authentication:
                incoming.authentication(rules.authserv_id)
            if intake.is_automatic(incoming.msg, incoming.sender) and intake.returned_ids(incoming.msg):
                _ = incoming.text  # what the manager is told of the bounce
            if incoming.sender in readers and not incoming.unreadable:  # a stranger's mail is filed unread
                _ = incoming.text
                if incoming.sender in rules.members:
                    note = parse(incoming)
        except Exception as e:  # contained: one message's bytes must never stop the others (decided below)
            log.warning("imap: message UID %d could not be read (%s); it is filed as rejected", item.uid,
                        type(e).__name__)
            incoming = intake.Incoming("sha256:" + hashlib.sha256(item.raw).hexdigest(), "", "", "", (), item.arrived,
                                       EmailMessage(), item.raw, f"it could not be read ({type(e).__name__})")
        out.append((item, incoming, note))
    return out


def _give_up(svc: Services, report: PassReport, incoming: intake.Incoming, error: str, folders: dict[str, str]
             ) -> str:
    known = svc.store.message_decisions([incoming.message_key])
    if known:  # decided before after all (its move failed): it goes where it was sent then
        return known[incoming.message_key]
    svc.store.carry_out([RecordMessage(
        message_key=incoming.message_key, message_id=incoming.message_id, sender=incoming.sender,
        subject=incoming.subject, received_at=incoming.at, outcome="rejected", target_folder=folders["rejected"],
        project=None, problems=(f"could not be processed after {MAX_ATTEMPTS} tries: {error}",), raw=b"", body="",
    )], svc.clock.now())
    report.problem(f"message {incoming.message_key} from {incoming.sender or '(no sender)'} could not be processed "
                   f"after {MAX_ATTEMPTS} tries ({error}); filed in {folders['rejected']}")
    return folders["rejected"]


# failures that are not one message's doing: the reading stops (what it decided is kept and filed) and the next
# one starts over, rather than counting them against each message
SYSTEMIC = (ServerError, LoginRefused, ConfigError, sqlite3.OperationalError)


async def read_inbox(svc: Services, report: PassReport) -> None:
    """Scan the inbox cheaply (UID and Message-ID), fetch only what was never decided, parse it off the loop,
    decide each message in a savepoint of its own, then move everything in batches — only ever after the store
    committed it. Whatever a message holds, it is decided, recorded and filed alone."""
    imap = svc.config.imap
    source = imap.folder
    folders = {"sent": imap.sent_folder, "processed": imap.processed_folder, "rejected": imap.rejected_folder}
    mailbox = svc.mailbox()
    try:
        scan = await asyncio.to_thread(mailbox.scan, source)
        before = svc.store.swap_uidvalidity(source, scan.uidvalidity)
        if before is not None and before != scan.uidvalidity:
            report.event("imap: UIDVALIDITY of %s changed (%d → %d): rescanning; Message-IDs keep anything from being "
                         "processed twice", source, before, scan.uidvalidity)
        decided = svc.store.message_decisions([i.message_id for i in scan.items if i.message_id])
        reading = Reading(svc, _parse_for(svc), rules_of(svc.config), folders, decided)
        unknown = []
        for listed in scan.items:
            if listed.message_id in decided:
                # decided (and committed) before: the move did not happen, or it is a re-delivery: just file it
                reading.file(decided[listed.message_id], listed.uid, listed.message_id)
            else:
                unknown.append(listed.uid)
        fetched = await asyncio.to_thread(mailbox.fetch, source, unknown, imap.max_message_bytes) if unknown else []
        halted: Exception | None = None
        for start in range(0, len(fetched), BATCH):
            prepared = await asyncio.to_thread(_prepare, fetched[start:start + BATCH], reading.parse, reading.rules,
                                               imap.max_message_bytes)
            reading.fresh()  # the evaluator or the calendar may have changed the state while this awaited
            # mail without a Message-ID is keyed by its digest, known only now: one decided before (whose move
            # failed) is only filed again
            reading.decided.update(svc.store.message_decisions(
                [i.message_key for _, i, _ in prepared if i.message_key not in reading.decided]))
            # each message in a savepoint of its own, a batch of them in one commit: nothing awaits in here
            with svc.store.batch():
                for item, incoming, note in prepared:
                    if note is not None:
                        reading.understood[incoming.message_key] = note
                    try:
                        _take(svc, report, item, incoming, reading)
                    except SYSTEMIC as e:
                        halted = e
                        break
            if halted is not None:
                break
        for target, entries in reading.moves.items():
            await asyncio.to_thread(mailbox.move, [uid for uid, _ in entries], source, target)
            svc.store.carry_out([MarkMoved(tuple(key for _, key in entries))], svc.clock.now())
        if isinstance(halted, sqlite3.OperationalError):
            report.problem(f"imap: the state database refused a write ({halted}); the rest of the inbox waits for "
                           "the next reading")
        elif halted is not None:
            raise halted
        _health(svc, report, len(scan.items))
        now = svc.clock.now()
        svc.store.carry_out([PruneMail(now - dt.timedelta(days=imap.keep_mail_days))], now)
    except (ServerError, LoginRefused) as e:
        server_failed(svc, report, "imap", e)
    except ConfigError as e:
        report.problem(str(e))
    finally:
        await asyncio.to_thread(mailbox.close)


def _health(svc: Services, report: PassReport, listed: int) -> None:
    """The inbox's line in `status` (and systemd's STATUS): reachable and keeping up, or how many messages keep
    failing — "imap ok" must never hide an inbox that does not move."""
    failing = svc.store.failing_messages()
    if failing:
        key, attempts, error = failing[0]
        why = (f"{len(failing)} message(s) failed and are tried again (first: {key[:80]}, {attempts} of "
               f"{MAX_ATTEMPTS} tries, {error[:200]})")
        report.lagging["inbox"] = why
        svc.store.carry_out([SetServer("imap", False, f"reachable, but not keeping up: {why}")], svc.clock.now())
    else:
        server_ok(svc, report, "imap", f"{listed} messages read")


@dataclass
class Reading:
    """One reading of the inbox: how it decides, what it decided, where each message goes, and each note's project
    as the evaluation reads it — read from the store once a batch, then kept as notes are recorded (a reply
    forecasts from it)."""

    svc: Services
    parse: Callable[[intake.Incoming], notes.ParsedNote]
    rules: intake.Rules
    folders: dict[str, str]
    decided: dict[str, str]
    moves: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    views: dict[str, ProjectView] = field(default_factory=dict)  # by project: see `view`
    understood: dict[str, ParsedNote] = field(default_factory=dict)  # notes parsed off the loop, by key
    forecaster: Forecaster | None = None  # made when a reply first needs a forecast (see `prepare`)

    def parsed(self, incoming: intake.Incoming) -> ParsedNote:
        """A member's note as understood off the loop (parsed here only if it was not)."""
        known = self.understood.pop(incoming.message_key, None)
        return known if known is not None else self.parse(incoming)

    def file(self, target: str, uid: int, message_key: str) -> None:
        self.moves.setdefault(target, []).append((uid, message_key))

    def fresh(self) -> None:
        """A new batch: what was read for the last one is read again when needed (other workers ran meanwhile)."""
        self.views.clear()
        self.forecaster = None

    def prepare(self, pending: Sequence[Report]) -> Forecaster:
        """The forecaster for the reply to a note whose notes are `pending`: the team's spread as the evaluation
        will learn it once they are recorded — learned again, with them, when they teach it something (a
        milestone's first estimate, or its Done: 100%), else the one of this batch."""
        if any(self._teaches(r) for r in pending):
            self.forecaster = forecaster(self.svc, pending)
        elif self.forecaster is None:
            self.forecaster = forecaster(self.svc)
        return self.forecaster

    def _teaches(self, r: Report) -> bool:
        pv = self.views.get(r.project)
        if pv is None:
            return True
        known = pv.reports.get(r.uid, [])
        return (r.done == 100 and all(x.done != 100 for x in known)) or \
            (estimates(r) and not any(map(estimates, known)))

    def view(self, project: str) -> ProjectView:
        """A note's project as the pass's evaluation reads it: read once a batch (no await within one: nothing
        else writes meanwhile), then kept as this reading records notes — not read again for each note, which
        would read every note of the project again each time."""
        if project not in self.views:
            self.views[project] = view(self.svc.store, self.svc.config.project(project))
        return self.views[project]

    def recorded(self, reports: Sequence[Report], actions: Sequence[Action] = ()) -> None:
        """A message's actions carried out: its notes join the projects' views; a decision on a client message
        (or a bounce) changes what a client holds, so the views are read again."""
        if any(not isinstance(a, RecordMessage | QueueMail) for a in actions):
            self.views.clear()
        for project, pv in list(self.views.items()):
            self.views[project] = with_notes(pv, [r for r in reports if r.project == project])


def with_notes(pv: ProjectView, reports: Sequence[Report]) -> ProjectView:
    """A project once these notes are recorded, each milestone's notes as the store then gives them back: the
    latest RECENT_REPORTS, oldest first (in the order recorded, for notes of the same time)."""
    if not reports:
        return pv
    kept = dict(pv.reports)
    for uid in {r.uid for r in reports}:
        kept[uid] = sorted([*kept.get(uid, ()), *(r for r in reports if r.uid == uid)],
                           key=lambda r: r.at)[-RECENT_REPORTS:]
    return dataclasses.replace(pv, reports=kept)


def _take(svc: Services, report: PassReport, item: Fetched, incoming: intake.Incoming, reading: Reading) -> None:
    """Decide one message (or count a failure at it) and note where it goes. Only SYSTEMIC errors leave here."""
    svc.tick()
    if incoming.message_key in reading.decided:  # two copies of one message in the inbox, or no Message-ID
        reading.file(reading.decided[incoming.message_key], item.uid, incoming.message_key)
        return
    try:
        target = _decide_one(svc, report, incoming, reading)  # its actions are carried out all or none
    except SYSTEMIC:
        raise
    except Exception as e:  # contained: one message must never stop the others, nor crash the daemon
        failed = _failed(svc, report, item, incoming, e, reading)
        if failed is None:
            return
        target = failed
    reading.decided[incoming.message_key] = target
    reading.file(target, item.uid, incoming.message_key)


def _failed(svc: Services, report: PassReport, item: Fetched, incoming: intake.Incoming, e: Exception,
            reading: Reading) -> str | None:
    """Count a failed attempt at a message: None while it is tried again, else the folder it is filed in. A message
    that cannot even be recorded is moved aside by UID: nothing may stall the inbox."""
    error = f"{type(e).__name__}: {str(e)[:300]}"
    log.warning("imap: processing message %s failed: %s", incoming.message_key[:200], error,
                exc_info=log.isEnabledFor(logging.DEBUG))
    try:
        with svc.store.transaction():
            attempts = 1 + next((n for key, n, _ in svc.store.failing_messages() if key == incoming.message_key), 0)
            svc.store.carry_out([RecordFailure(incoming.message_key, error)], svc.clock.now())
            if attempts < MAX_ATTEMPTS:
                report.problem(f"message {incoming.message_key[:200]} could not be processed ({error}); "
                               "it stays in the inbox and is tried again")
                return None
            return _give_up(svc, report, incoming, error, reading.folders)
    except SYSTEMIC:
        raise
    except Exception as again:  # the store cannot take even its failure: file it by UID, with a line in the log
        log.error("imap: message UID %d (%s) cannot even be recorded (%s: %s); moved to %s unrecorded", item.uid,
                  incoming.message_key[:200], type(again).__name__, str(again)[:300], reading.folders["rejected"])
        report.problem(f"message UID {item.uid} could not be recorded; moved to {reading.folders['rejected']}")
        return reading.folders["rejected"]


def _tell(report: PassReport, incoming: intake.Incoming, verdict: intake.Verdict) -> None:
    who = incoming.sender or "(no sender)"
    if verdict.outcome == "accepted" and verdict.note:
        names = ", ".join(b.name for b in verdict.note.blocks)
        report.event("note from %s accepted (%s): %s", who, verdict.note.project, names)
    elif verdict.outcome == "rejected" and verdict.note:
        report.event("note from %s rejected, sender told why: %s", who, "; ".join(map(str, verdict.note.problems)))
    elif verdict.outcome not in ("archive", "decision"):
        report.event("message from %s (%s): %s", who, incoming.subject or "no subject", verdict.reason)
