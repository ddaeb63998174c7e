"""Stage 4: the outbox. A message is recorded before any attempt, marked `sending` before the SMTP exchange and
`sent` after it; a send is never blindly repeated.

* A message left in `sending` by a crash is looked for in the mailbox first (every message is Bcc'd to the
  inbox): found, it was sent; not found, it goes again with the same bytes and Message-ID.
* Temporary failures (4xx, connection loss, timeouts) back off: 1, 2, 4 … minutes, at most an hour.
* Permanent failures (5xx) are kept with the reason, and the manager hears of them; so do refused recipients.
* Held messages (approval = "manager") go out undecided when `approval_hours` passed, or one working day before
  the deadline, whichever is first, with a note to the manager.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from deadlinewatch.adapters.store import OutboxItem
from deadlinewatch.core import policy
from deadlinewatch.core.forecast import last_work_day
from deadlinewatch.core.model import Action, DecideHeld, Milestone, SetOutboxState
from deadlinewatch.errors import ConfigError, LoginRefused, ServerError
from deadlinewatch.services import Composer, PassReport, Services, bare, server_failed, server_ok
from deadlinewatch.stages.manager_mail import compose_manager_message, names_of

MAX_BACKOFF = dt.timedelta(hours=1)


def backoff(attempts: int) -> dt.timedelta:
    return min(dt.timedelta(minutes=2 ** max(attempts - 1, 0)), MAX_BACKOFF)


@dataclass(frozen=True)
class Release:
    """A held client message whose time has come: released undecided, with the manager's note of it."""

    id: int
    why: str
    actions: tuple[Action, ...]


def decide_release(c: Composer, held: Sequence[OutboxItem], milestones: Sequence[Milestone],
                   now: dt.datetime) -> list[Release]:
    """Which held client messages go out undecided now: after `approval_hours`, or one working day before the
    deadline, whichever is first. Each is released with the manager's note of it, or neither is."""
    deadlines = {(m.project, m.uid): m.deadline for m in milestones}
    out = []
    for item in held:
        if item.parent is not None:
            continue  # it goes with its primary
        deadline = deadlines.get((item.project or "", item.uid or ""))
        deadline_day = last_work_day(deadline, c.team_tz) if deadline else None
        when, why = policy.hold_expiry(item.created, c.config.policy.approval_hours, deadline_day, c.workdays,
                                       c.team_tz)
        if now < when:
            continue
        names = {m.uid: m.name for m in milestones if m.project == item.project}
        words = c.letters.say(c.config.team.language, [why])
        out.append(Release(item.id, str(why), (DecideHeld(item.id, True, "timeout"),
                                               compose_manager_message(c, item, names, "released", words, now))))
    return out


def release_holds(svc: Services, report: PassReport) -> None:
    now = svc.clock.now()
    held = svc.store.outbox(states=("held",), audience="client")
    for release in decide_release(svc.composer, held, svc.store.milestones() if held else [], now):
        svc.store.carry_out(release.actions, now)
        report.event("held message #%d released undecided: %s", release.id, release.why)


async def _reconcile(svc: Services, item: OutboxItem) -> bool:
    """Was a message left in `sending` by a crash delivered? Its archive copy in the mailbox says so."""
    imap = svc.config.imap
    mailbox = svc.mailbox()
    try:
        return await asyncio.to_thread(mailbox.contains, item.message_id, [imap.folder, imap.sent_folder])
    except (ServerError, LoginRefused, ConfigError):
        return False  # cannot tell: sending again risks a duplicate with the same Message-ID, the documented window
    finally:
        await asyncio.to_thread(mailbox.close)


async def send_outbox(svc: Services, report: PassReport) -> None:
    release_holds(svc, report)
    now = svc.clock.now()
    tried: set[int] = set()
    while True:
        # sending can queue news for the manager (a refused recipient): those go in the same pass
        due = [i for i in svc.store.outbox(states=("pending", "sending")) if i.id not in tried
               and (i.next_attempt is None or i.next_attempt <= now)]
        if not due:
            break
        tried.update(i.id for i in due)
        if not await _send_all(svc, report, due, now):
            return
    server_ok(svc, report, "smtp", "outbox delivered")


async def _send_all(svc: Services, report: PassReport, items: list[OutboxItem], now: dt.datetime) -> bool:
    """Send these in order; False when the server is unavailable (the rest wait for the next pass)."""
    for item in items:
        svc.tick()
        if item.state == "sending" and await _reconcile(svc, item):
            svc.store.carry_out([SetOutboxState(item.id, "sent", expect=("sending",))], now)
            report.event("message #%d (%s) was sent before a restart: its archive copy is in the mailbox",
                         item.id, item.kind)
            continue
        claim = SetOutboxState(item.id, "sending", attempt=True, expect=("pending", "sending"))
        if svc.store.carry_out([claim], now).refused:
            continue
        try:
            refused = await svc.mailer.send(item.mail_from, item.recipients, item.message)
        except ServerError as e:
            # not sent (pending again), or perhaps sent (still `sending`: the next attempt first looks for its
            # archive copy); either way with a back-off, and the next attempt sends the same bytes
            later = svc.clock.now()
            svc.store.carry_out([SetOutboxState(item.id, "sending" if e.maybe_done else "pending", str(e),
                                                next_attempt=later + backoff(item.attempts + 1))], later)
            server_failed(svc, report, "smtp", e)
            return False
        except LoginRefused as e:
            svc.store.carry_out([SetOutboxState(item.id, "pending", str(e))], svc.clock.now())
            server_failed(svc, report, "smtp", e)
            return False
        _settle(svc, report, item, refused)
    return True


@dataclass
class Settled:
    """What one SMTP exchange comes to: the actions (its state, the manager's note), and what the pass says."""

    actions: list[Action]
    sent: bool
    events: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def settle(c: Composer, item: OutboxItem, refused: Mapping[str, str], names: Mapping[str, str],
           now: dt.datetime) -> Settled:
    """The outcome of one SMTP exchange, recipient by recipient: failed when the client (or, in shadow mode, the
    manager) or everyone was refused, else sent; the manager hears of a client message that failed or reached
    only some of its recipients. The state and the note go together: a crash between them would lose the note."""
    essential = {a.lower() for a in item.recipients[:1]}
    lost = {a.lower(): why for a, why in refused.items()}
    if len(lost) == len(item.recipients) or essential & set(lost):
        reason = "; ".join(f"{a}: {why}" for a, why in refused.items())
        failed: list[Action] = [SetOutboxState(item.id, "failed", reason)]
        if item.audience == "client":
            failed.append(compose_manager_message(c, item, names, "failed", reason, now))
        return Settled(failed, False, problems=[f"message #{item.id} ({item.kind}) refused by the SMTP server: "
                                                f"{reason}"])
    others = ", ".join(sorted(lost))
    done = Settled([SetOutboxState(item.id, "sent", "; ".join(f"{a}: {w}" for a, w in refused.items()) or None)],
                   True, events=[f"sent #{item.id} ({item.kind}) to {', '.join(item.recipients)}"])
    if lost and item.audience == "client":
        if bare(c.config.team.manager).lower() not in lost:
            done.actions.append(compose_manager_message(c, item, names, "failed", f"refused for {others}", now,
                                                        detail="The client's own copy was delivered."))
        done.problems.append(f"message #{item.id}: these recipients were refused: {others}")
    return done


def _settle(svc: Services, report: PassReport, item: OutboxItem, refused: dict[str, str]) -> None:
    now = svc.clock.now()
    settled = settle(svc.composer, item, refused, names_of(svc.store, item.project), now)
    svc.store.carry_out(settled.actions, now)
    if settled.sent:
        report.sent.append(item.id)
    for event in settled.events:
        report.event("%s", event)
    for problem in settled.problems:
        report.problem(problem)
