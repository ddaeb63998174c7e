"""Stage 4: the outbox. A message is recorded before any attempt, marked `sending` before the SMTP exchange and
`sent` after it; a send is never blindly repeated.

* A message left in `sending` by a crash is looked for in the mailbox first (every message is Bcc'd to the
  inbox): found, it was sent; not found, it goes again with the same bytes and Message-ID.
* Temporary failures (4xx, connection loss, timeouts) back off: 1, 2, 4 … minutes, at most an hour.
* Permanent failures (5xx) are kept with the reason, and the manager hears of them; so do refused recipients.
* Held messages (approval = "manager") go out undecided when `approval_hours` passed, or one working day before
  the deadline, whichever is first, with a note to the manager.

What becomes of a message is decided purely (decisions/outbox.py: decide_outbox over one snapshot before sending,
then settle and backoff for each exchange); this step talks to the SMTP server and the mailbox, and carries the
decisions out.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Protocol

from deadlinewatch.adapters.store import Carrier, HealthStore, Milestones, NoteState, OutboxItem, OutboxState
from deadlinewatch.core.model import SetOutboxState
from deadlinewatch.decisions.outbox import (
    OutboxSnapshot,
    backoff,
    decide_outbox,
    due,
    kept_refusal,
    settle,
    went_out,
)
from deadlinewatch.errors import ConfigError, LeaseLost, LoginRefused, ServerError
from deadlinewatch.services import PassReport, Services, server_failed, server_ok
from deadlinewatch.stages.state import names_of, promised_dates, said_done_of


class OutboxStore(HealthStore, OutboxState, Milestones, NoteState, Protocol):
    """What the outbox stage reads and writes through: the outbox, the milestones (their names, and what their
    notes say of them being done), the servers' health."""


def snapshot(svc: Services[OutboxStore], now: dt.datetime) -> OutboxSnapshot:
    """What deciding before sending reads, at once (decisions/outbox.OutboxSnapshot)."""
    store = svc.store
    held = store.outbox(states=("held",), audience="client")
    unsent = store.outbox(states=("pending",))  # the client's letters, and what goes with each
    projects = {p.id: p for p in svc.config.projects}
    # when each project with a held check-in last told its client of a notice (went out): a check-in older is
    # overtaken
    told = {p: went_out(record.sent, record.unsent, now)
            for p in {i.project for i in held if i.kind == "weekly" and i.project}
            if (record := store.client_records(p).get(p)) is not None and record.sent}
    return OutboxSnapshot(
        held=held, unsent=unsent, milestones=store.milestones() if held or unsent else [],
        promised=promised_dates(store, (projects[i.project] for i in held if i.project and i.project in projects)),
        told=told, said=said_done_of(store, [*held, *unsent]))


def settle_waiting(svc: Services[OutboxStore], report: PassReport) -> None:
    """Before any SMTP exchange: held letters released undecided or withdrawn, and letters on their way their
    milestones have made wrong withdrawn (decisions/outbox.decide_outbox), each decided only if it still waits —
    the manager, or another daemon's send, may have decided it meanwhile."""
    now = svc.clock.now()
    for release in decide_outbox(svc.composer, snapshot(svc, now), now):
        with svc.store.transaction():
            if svc.store.carry_out(release.actions[:1], now).refused:
                continue  # decided or claimed meanwhile: it is that decision's now
            svc.store.carry_out(release.actions[1:], now)
        if release.on_its_way:
            report.event("message #%d withdrawn before it went: %s", release.id, release.why)
        else:
            report.event("held message #%d %s: %s", release.id, "withdrawn" if release.withdrawn else
                         "released undecided", release.why)


async def _reconcile(svc: Services[OutboxStore], item: OutboxItem) -> bool:
    """Was a message left in `sending` by a crash delivered? Its archive copy in the mailbox says so."""
    imap = svc.config.imap
    mailbox = svc.mailbox()
    try:
        return await asyncio.to_thread(mailbox.contains, item.message_id, [imap.folder, imap.sent_folder])
    except (ServerError, LoginRefused, ConfigError):
        return False  # cannot tell: sending again risks a duplicate with the same Message-ID, the documented window
    finally:
        await asyncio.to_thread(mailbox.close)


async def send_outbox(svc: Services[OutboxStore], report: PassReport) -> None:
    settle_waiting(svc, report)
    now = svc.clock.now()
    tried: set[int] = set()
    while True:
        # sending can queue news for the manager (a refused recipient): those go in the same pass
        turn = [i for i in due(svc.store.outbox(states=("pending", "sending")), now) if i.id not in tried]
        if not turn:
            break
        tried.update(i.id for i in turn)
        if not await _send_all(svc, report, turn, now):
            return
    server_ok(svc, report, "smtp", "outbox delivered")


async def _send_all(svc: Services[OutboxStore], report: PassReport, items: list[OutboxItem], now: dt.datetime) -> bool:
    """Send these in order; False when the server is unavailable (the rest wait for the next pass). A project whose
    client letter is put off in here (its client refused for now) sends no later client letter this pass: they go
    in order (decisions/outbox.due)."""
    put_off: set[str | None] = set()
    for item in items:
        svc.tick()
        if item.audience == "client" and item.project in put_off:
            continue
        if item.state == "sending" and await _reconcile(svc, item):
            svc.store.carry_out([SetOutboxState(item.id, "sent", expect=("sending",))], now)
            report.event("message #%d (%s) was sent before a restart: its archive copy is in the mailbox",
                         item.id, item.kind)
            continue
        claim = SetOutboxState(item.id, "sending", attempt=True, expect=("pending", "sending"))
        if svc.store.carry_out([claim], now).refused:
            continue
        if not svc.counts():
            # paused since the claim, past the lease (another daemon may have taken the outbox, found no archive
            # copy and sent it): no session opened; the message stays `sending` for the holder to reconcile
            raise LeaseLost(f"the outbox is no longer this daemon's: message #{item.id} left to its holder")
        try:
            # the claim was made under the outbox's lease; a daemon paused since (past the lease, so another may
            # have taken the message over) finds out before the message goes, not after
            refused = await svc.mailer.send(item.mail_from, item.recipients, item.message,
                                            before_data=lambda: still_ours(svc.store))
        except ServerError as e:
            # not sent (pending again), or perhaps sent (still `sending`: the next attempt first looks for its
            # archive copy); either way with a back-off, and the next attempt sends the same bytes
            later = svc.clock.now()
            # only over our own claim: a process that took the message over meanwhile (a daemon started while
            # `once` waited on the server) and sent it keeps it sent
            svc.store.carry_out([SetOutboxState(item.id, "sending" if e.maybe_done else "pending",
                                                kept_refusal(item.last_error, str(e)),
                                                next_attempt=later + backoff(item.attempts + 1),
                                                expect=("sending",))], later)
            server_failed(svc, report, "smtp", e)
            return False
        except LoginRefused as e:
            svc.store.carry_out([SetOutboxState(item.id, "pending", kept_refusal(item.last_error, str(e)),
                                                expect=("sending",))], svc.clock.now())
            server_failed(svc, report, "smtp", e)
            return False
        if not _settle(svc, report, item, refused) and item.audience == "client":
            put_off.add(item.project)
    return True


def still_ours(store: Carrier) -> None:
    """LeaseLost unless the part this step works under is still this daemon's: a transaction under a lease checks
    it first (PostgreSQL; alone over SQLite there is no lease, and nothing to check)."""
    with store.transaction():
        pass


def _settle(svc: Services[OutboxStore], report: PassReport, item: OutboxItem, refused: dict[str, str]) -> bool:
    """The exchange's outcome carried out; False when the message did not go (failed, or put off)."""
    now = svc.clock.now()
    settled = settle(svc.composer, item, refused, names_of(svc.store, item.project), now)
    svc.store.carry_out(settled.actions, now)
    if settled.sent:
        report.sent.append(item.id)
    for event in settled.events:
        report.event("%s", event)
    for problem in settled.problems:
        report.problem(problem)
    return settled.sent
