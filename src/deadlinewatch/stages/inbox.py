"""Stage 2: the inbox. Each message is read off the loop (parsed, authenticated, its note understood); then a batch
of them: `snapshot` reads what deciding them needs (each message's facts — the notice it decides, the client
message it answers or bounces —, the projects concerned as the evaluation reads them, what the team's spread is
learned from), each message is decided from it alone by `decide_from` (decisions/inbox.py, pure), recorded with
what it causes in a savepoint of its own, and carried into the snapshot for the next (`after`); only then is
anything moved. A message that fails is tried again, then filed as rejected. A message is decided once: one
decided before — by its Message-ID (its digest without one) or by its place on the server (mailbox, UIDVALIDITY,
UID: the name that holds however its bytes are read) — is only filed again."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import hashlib
import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Protocol

from deadlinewatch.adapters.mailbox import Fetched
from deadlinewatch.adapters.store import HealthStore, InboxState
from deadlinewatch.core import intake, notes
from deadlinewatch.core.message_text import full_text
from deadlinewatch.core.model import (
    MarkMoved,
    Place,
    PruneMail,
    RecordFailure,
    RecordMessage,
    SetServer,
    SwapUidvalidity,
)
from deadlinewatch.core.notes import ParsedNote
from deadlinewatch.decisions.forecaster import learned_from
from deadlinewatch.decisions.inbox import (
    PARSE_ERRORS,
    Facts,
    InboxSnapshot,
    MessageDecision,
    after,
    carried,
    decide_from,
    rules_of,
)
from deadlinewatch.errors import ConfigError, LoginRefused, ServerError, StateBusy, StateConflict, Stopping
from deadlinewatch.services import PassReport, Services, server_failed, server_ok
from deadlinewatch.stages.state import (
    ProjectStore,
    by_project,
    keep_spread,
    read_learning,
    record,
    remember_spread,
    team_spread,
    view,
)


class InboxStore(ProjectStore, HealthStore, InboxState, Protocol):
    """What the inbox reads and writes through: the messages decided, the projects as their clients know them
    (the reply says what the evaluation will), the servers' health."""

log = logging.getLogger(__name__)


def _parse_for(svc: Services[InboxStore]) -> Callable[[intake.Incoming], notes.ParsedNote]:
    refs = [notes.MilestoneRef(m.project, m.uid, m.name) for m in svc.store.milestones() if m.state != "cancelled"]
    ids = [p.id for p in svc.config.projects]
    week = len(svc.config.policy.working_days)

    def parse(incoming: intake.Incoming) -> notes.ParsedNote:
        today = incoming.written_on(svc.composer.team_tz)  # the sender's day: what their dates count from
        return notes.quoted_only(notes.parse_note(incoming.subject, incoming.text, refs, ids, today, week),
                                 lambda: full_text(incoming.msg))

    return parse


def snapshot(svc: Services[InboxStore], batch: Sequence[tuple[intake.Incoming, ParsedNote | None]],
             carried: InboxSnapshot | None = None) -> tuple[InboxSnapshot, dict[str, Exception]]:
    """What deciding these messages reads, read at once before the first is decided (decisions/inbox.py
    InboxSnapshot): each message's facts (the notice it decides, the client message it answers, the ones it
    bounces), the milestones, the projects its note or held notice concern as the evaluation reads them, and —
    when the batch holds a note — what the team's spread is learned from. `carried`: the snapshot a decision made
    stale (a notice decided, a bounce): its facts and projects are read again, what the spread is learned from is
    kept (no note changed). Also returns, by message key, what could not be read for a message: counted against
    that message alone."""
    store = svc.store
    every = store.milestones()
    milestones = by_project(every)
    facts: dict[str, Facts] = {}
    unread: dict[str, Exception] = {}
    concerns: dict[str, set[str]] = {}  # by project, the messages it concerns
    for incoming, note in batch:
        if incoming.message_key in facts or incoming.message_key in unread:
            continue  # a second copy of a message (or another with its Message-ID): only filed, as the first goes
        try:
            facts[incoming.message_key] = found = _facts(store, incoming)
        except (RecursionError, *PARSE_ERRORS):  # a message too broken to look up: decided as unreadable
            continue
        except SYSTEMIC:
            raise
        except Exception as e:  # contained: this message's failure, not the batch's
            unread[incoming.message_key] = e
            continue
        for project in (note.project if note is not None and note.ok else None,
                        found.held.project if found.held is not None and found.held.state == "held" else None):
            if project:
                concerns.setdefault(project, set()).add(incoming.message_key)
    configured = {p.id: p for p in svc.config.projects}
    views = {}
    for project in sorted(p for p in concerns if p in configured):
        try:
            views[project] = view(store, configured[project])
        except SYSTEMIC:
            raise
        except Exception as e:  # contained: the failure of the messages about this project
            unread.update(dict.fromkeys(concerns[project], e))
    if carried is not None:
        return dataclasses.replace(carried, milestones=milestones, facts=facts, views=views), unread
    if not any(note is not None for _, note in batch):
        return InboxSnapshot(milestones, facts, views, team_spread(svc), svc.forecasts), unread
    learning = read_learning(svc, every)
    records = learned_from(learning)
    # the notes' milestones' notes as recorded: what the spread, learned again with this batch's notes, adds to
    stored = {(note.project, b.uid): views[note.project].reports.get(b.uid, []) for _, note in batch
              if note is not None and note.ok and note.project in views for b in note.blocks}
    spread = remember_spread(svc, ("inbox", store.version()), records)
    return InboxSnapshot(milestones, facts, views, spread, svc.forecasts, learning, records, stored), unread


def _facts(store: InboxStore, incoming: intake.Incoming) -> Facts:
    """What the store knows of one message."""
    token_match = intake.TOKEN.search(incoming.subject)
    # a bounce counts only as a delivery status notification of a client message that was sent (its Message-ID is
    # keyed: nobody outside can name one), never as any mail that quotes an id
    bounced = tuple(item for m in intake.returned_ids(incoming.msg)
                    if (item := store.client_message([m])) is not None and item.state == "sent"
                    ) if incoming.automatic else ()
    return Facts(is_ours=bool(incoming.message_id) and store.is_our_message_id(incoming.message_id),
                 held=store.notice_for_decision(token_match.group(1) if token_match else "", incoming.references),
                 answered=store.client_message(incoming.references), bounced=bounced)


MAX_ATTEMPTS = 3  # a message whose processing fails this often is filed as rejected: no poison stalls the inbox


BATCH = 200  # messages decided per commit: one fsync for many, while a crash loses little work (none is filed)


def _decide_one(svc: Services[InboxStore], report: PassReport, snap: InboxSnapshot, incoming: intake.Incoming,
                note: ParsedNote | None, reading: Reading, place: Place | None = None) -> MessageDecision:
    """Decide one message from the batch's snapshot and record it, where the server keeps it, with everything it
    causes, in one transaction."""
    now = svc.clock.now()
    decided = decide_from(svc.composer, snap, reading.rules, reading.folders, incoming, note, now, place)
    record(svc.store, svc.composer, decided.actions, now)
    # a closed milestone's statements are read once (svc.stated), as they never change — but a note about it does
    if noted := {(r.project, r.uid) for r in decided.reports}:
        for key in [k for k in svc.stated if isinstance(k, tuple) and (k[0], k[1]) in noted]:
            del svc.stated[key]
    if decided.learned is not None:  # the evaluation learns the same spread from the same records
        keep_spread(svc, ("inbox", svc.store.version()), *decided.learned)
    for event in decided.events:
        report.event("%s", event)
    for problem in decided.problems:
        report.problem(problem)
    _tell(report, incoming, decided.verdict)
    return decided


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
            if incoming.automatic and intake.returned_ids(incoming.msg):
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


def _give_up(svc: Services[InboxStore], report: PassReport, incoming: intake.Incoming, error: str,
             folders: dict[str, str], place: Place | None) -> str:
    known = _decided_before(svc, incoming.message_key, place)
    if known is not None:  # decided before after all (its move failed): it goes where it was sent then
        return known
    svc.store.carry_out([RecordMessage(
        message_key=incoming.message_key, message_id=incoming.message_id, sender=incoming.sender,
        subject=incoming.subject, received_at=incoming.at, outcome="rejected", target_folder=folders["rejected"],
        project=None, problems=(f"could not be processed after {MAX_ATTEMPTS} tries: {error}",), raw=b"", body="",
        place=place,
    )], svc.clock.now())
    report.problem(f"message {incoming.message_key} from {incoming.sender or '(no sender)'} could not be processed "
                   f"after {MAX_ATTEMPTS} tries ({error}); filed in {folders['rejected']}")
    return folders["rejected"]


def _decided_before(svc: Services[InboxStore], message_key: str, place: Place | None) -> str | None:
    """The folder a message decided before was sent to, found by its key or by its place; None if undecided."""
    known = svc.store.message_decisions([message_key])
    if message_key in known:
        return known[message_key]
    if place is not None:
        placed = svc.store.placed_decisions(place.mailbox, place.uidvalidity, [place.uid])
        if place.uid in placed:
            return placed[place.uid][1]
    return None


# failures that are not one message's doing: the reading stops (what it decided is kept and filed) and the next
# one starts over, rather than counting them against each message
SYSTEMIC = (ServerError, LoginRefused, ConfigError, sqlite3.OperationalError, StateBusy)


async def read_inbox(svc: Services[InboxStore], report: PassReport) -> None:
    """Scan the inbox cheaply (UID and Message-ID), fetch only what was never decided, parse it off the loop,
    decide each message in a savepoint of its own, then move everything in batches — only ever after the store
    committed it. Whatever a message holds, it is decided, recorded and filed alone."""
    imap = svc.config.imap
    source = imap.folder
    folders = {"sent": imap.sent_folder, "processed": imap.processed_folder, "rejected": imap.rejected_folder}
    mailbox = svc.mailbox()
    try:
        scan = await asyncio.to_thread(mailbox.scan, source)
        before = svc.store.carry_out([SwapUidvalidity(source, scan.uidvalidity)], svc.clock.now()).uidvalidity
        if before is not None and before != scan.uidvalidity:
            report.event("imap: UIDVALIDITY of %s changed (%d → %d): rescanning; Message-IDs keep anything from being "
                         "processed twice", source, before, scan.uidvalidity)
        # decided before, by the server's name for the message (its place) or by its Message-ID: only filed
        mailbox_name = f"{imap.username}@{imap.host}/{source}"
        placed = svc.store.placed_decisions(mailbox_name, scan.uidvalidity, [i.uid for i in scan.items])
        decided = svc.store.message_decisions([i.message_id for i in scan.items
                                               if i.message_id and i.uid not in placed])
        reading = Reading(_parse_for(svc), rules_of(svc.config), folders, decided, mailbox_name, scan.uidvalidity)
        unknown = []
        for listed in scan.items:
            if listed.uid in placed:
                key, target = placed[listed.uid]
                reading.file(target, listed.uid, key)
            elif listed.message_id in decided:
                # decided (and committed) before: the move did not happen, or it is a re-delivery: just file it
                reading.file(decided[listed.message_id], listed.uid, listed.message_id)
            else:
                unknown.append(listed.uid)
        halted: Exception | None = None

        def fetch_and_prepare(uids: list[int]) -> list[tuple[Fetched, intake.Incoming, ParsedNote | None]]:
            return _prepare(mailbox.fetch(source, uids, imap.max_message_bytes), reading.parse, reading.rules,
                            imap.max_message_bytes)

        # fetched and parsed a batch at a time, the next one (in a thread) while this one is decided: a stopping
        # daemon fetches no more than the batch in flight (a whole inbox fetched at once took seconds under load
        # before the first item's beat), and the IMAP round trips hide behind the deciding
        batches = [unknown[start:start + BATCH] for start in range(0, len(unknown), BATCH)]
        ahead = asyncio.ensure_future(asyncio.to_thread(fetch_and_prepare, batches[0])) if batches else None
        for n in range(len(batches)):
            assert ahead is not None  # one batch is always in flight until the last is taken
            try:
                prepared = await ahead
            except (ServerError, LoginRefused, ConfigError) as e:  # the batches decided before it are moved first
                ahead, halted = None, e
                break
            try:
                svc.tick()
            except Stopping as e:  # what was decided so far is moved below; no batch more is fetched
                halted = e
                break
            ahead = asyncio.ensure_future(asyncio.to_thread(fetch_and_prepare, batches[n + 1])) \
                if n + 1 < len(batches) else None
            # mail without a Message-ID is keyed by its digest, known only now: one decided before (whose move
            # failed) is only filed again
            reading.decided.update(svc.store.message_decisions(
                [i.message_key for _, i, _ in prepared if i.message_key not in reading.decided]))
            # each message in a savepoint of its own, a batch of them in one commit: nothing awaits in here
            with svc.store.transaction():
                halted = _take_batch(svc, report, prepared, reading)
            if halted is not None:
                break
        if ahead is not None:  # the batch fetched ahead of a halt: the connection is free once it is back
            with contextlib.suppress(Exception):
                await ahead
        for target, entries in reading.moves.items():
            await asyncio.to_thread(mailbox.move, [uid for uid, _ in entries], source, target)
            svc.store.carry_out([MarkMoved(tuple(key for _, key in entries))], svc.clock.now())
        if isinstance(halted, sqlite3.OperationalError | StateBusy):
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


def _health(svc: Services[InboxStore], report: PassReport, listed: int) -> None:
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
    """One reading of the inbox: how it decides, what it decided, and where each message goes."""

    parse: Callable[[intake.Incoming], notes.ParsedNote]
    rules: intake.Rules
    folders: dict[str, str]
    decided: dict[str, str]
    mailbox: str = ""  # the account and folder read ("": places not kept), and its UIDVALIDITY in this reading
    uidvalidity: int = 0
    moves: dict[str, list[tuple[int, str]]] = field(default_factory=dict)

    def place(self, uid: int) -> Place | None:
        return Place(self.mailbox, self.uidvalidity, uid) if self.mailbox else None

    def file(self, target: str, uid: int, message_key: str) -> None:
        self.moves.setdefault(target, []).append((uid, message_key))

    def file_decided(self, target: str | None, uid: int, message_key: str) -> None:
        """A message decided (or failed for good) goes to `target`; None: it stays, to be tried again."""
        if target is not None:
            self.decided[message_key] = target
            self.file(target, uid, message_key)

    def note(self, incoming: intake.Incoming, understood: ParsedNote | None) -> ParsedNote | None:
        """A member's readable note, as understood off the loop (parsed here only if it was not); None for any
        other mail."""
        if incoming.sender not in self.rules.members or incoming.unreadable or incoming.too_long:
            return None
        return understood if understood is not None else self.parse(incoming)


def _take_batch(svc: Services[InboxStore], report: PassReport,
                prepared: Sequence[tuple[Fetched, intake.Incoming, ParsedNote | None]],
                reading: Reading) -> Exception | None:
    """A batch of messages, snapshot → decide → record one after another (decisions/inbox.py `after` carries the
    snapshot along; one that changed what a client holds has the rest's facts read again). Returns what halted
    it."""
    todo = [(item, incoming, reading.note(incoming, note)) for item, incoming, note in prepared]
    snap: InboxSnapshot | None = None
    stale: InboxSnapshot | None = None  # the snapshot a decision made stale: what it learned from is kept
    unread: dict[str, Exception] = {}
    for n, (item, incoming, note) in enumerate(todo):
        try:
            svc.tick()
            if incoming.message_key in reading.decided:  # two copies of one message in the inbox, or no Message-ID
                reading.file(reading.decided[incoming.message_key], item.uid, incoming.message_key)
                continue
            place = reading.place(item.uid)
            if snap is None:
                try:
                    snap, unread = snapshot(svc, [(i, x) for _, i, x in todo[n:]], stale)
                except SYSTEMIC:
                    raise
                except Exception as e:  # contained: counted against the message it was read for
                    reading.file_decided(_failed(svc, report, item, incoming, e, reading), item.uid,
                                        incoming.message_key)
                    continue
            if (failed := unread.pop(incoming.message_key, None)) is not None:  # its own facts could not be read
                reading.file_decided(_failed(svc, report, item, incoming, failed, reading), item.uid,
                                    incoming.message_key)
                continue
            target, decided = _take(svc, report, snap, item, incoming, note, reading, place)
        except (*SYSTEMIC, Stopping) as e:  # stopping: what was decided is kept, and moved below
            return e
        if decided is not None and snap is not None:
            folded = after(snap, decided)
            if folded is None:  # the rest's facts are read again; what it learned from is carried
                stale = carried(snap, decided)
            snap = folded
        reading.file_decided(target, item.uid, incoming.message_key)
    return None


def _take(svc: Services[InboxStore], report: PassReport, snap: InboxSnapshot, item: Fetched,
          incoming: intake.Incoming, note: ParsedNote | None, reading: Reading, place: Place | None
          ) -> tuple[str | None, MessageDecision | None]:
    """Decide one message (or count a failure at it): the folder it goes to (None while it is tried again) and its
    decision, if it was carried out. Only SYSTEMIC errors leave here."""
    try:
        decided = _decide_one(svc, report, snap, incoming, note, reading, place)  # carried out all or none
        return decided.target, decided
    except SYSTEMIC:
        raise
    except Exception as e:  # contained: one message must never stop the others, nor crash the daemon
        # decided meanwhile (its key or its place taken): filed where that decision sent it, else a failure
        known = _decided_before(svc, incoming.message_key, place) if isinstance(e, StateConflict) else None
        if known is not None:
            log.warning("imap: message %s was decided already; filed in %s", incoming.message_key[:200], known)
            return known, None
        return _failed(svc, report, item, incoming, e, reading), None


def _failed(svc: Services[InboxStore], report: PassReport, item: Fetched, incoming: intake.Incoming, e: Exception,
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
            return _give_up(svc, report, incoming, error, reading.folders, reading.place(item.uid))
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
