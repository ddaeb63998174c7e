"""The one executor: a decision's actions (core/model.py's `Action` union), carried out in order through the store
port in one transaction — all of them happen or none does. Decisions return these values; nothing else writes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, assert_never

from deadlinewatch.adapters.store.port import replaced_by
from deadlinewatch.core.model import (
    Action,
    ApplyCalendar,
    DecideHeld,
    FollowServer,
    ForgetCalendar,
    ForgetClientCalendarEntry,
    ManagerCopy,
    MarkMoved,
    PruneMail,
    QueueGroup,
    QueueMail,
    RecordFailure,
    RecordMessage,
    RecordPass,
    SaveCalendarToken,
    SaveClientCalendarEntry,
    SaveForecasts,
    SetOutboxState,
    SetRiskAlert,
    SetServer,
    SwapUidvalidity,
)
from deadlinewatch.errors import StateConflict

if TYPE_CHECKING:
    from deadlinewatch.adapters.store.port import StorePort


@dataclass(frozen=True)
class Carried:
    """What carrying actions out gave back: the id of each QueueGroup's primary message, in order; the outbox
    messages a SetOutboxState with `expect` found in another state (claimed by someone else first), or a
    DecideHeld found no longer held; the milestones
    an ApplyCalendar found gone; a folder's UIDVALIDITY before a SwapUidvalidity (None: first seen); whether a
    FollowServer forgot calendar state of another server."""

    ids: tuple[int, ...] = ()
    refused: tuple[int, ...] = ()
    gone: tuple[str, ...] = ()
    uidvalidity: int | None = None
    forgot: bool = False


def _replaced(store: StorePort, held: int, primary: int) -> None:
    """A notice the manager approved with a date of their own replaces the held one only if it was still held when
    this group was recorded (the store marks it superseded by the new one): decided meanwhile — rejected, released,
    approved with another date — nothing of the group is kept, and the one who approved is told."""
    item = store.outbox_item(held)
    if item is None or replaced_by(item.decided_by) != primary:
        raise StateConflict(f"notice #{held} is {item.state if item else 'gone'}, not held: it was decided meanwhile; "
                            "nothing changed")


def carry_out(store: StorePort, actions: Sequence[Action], now: dt.datetime) -> Carried:
    ids: list[int] = []
    refused: list[int] = []
    gone: list[str] = []
    uidvalidity: int | None = None
    forgot = False
    with store.transaction():
        for action in actions:
            match action:
                case RecordMessage():
                    store.record_message(**{f.name: getattr(action, f.name) for f in fields(action)}, now=now)
                case QueueMail():
                    store.record_outgoing([action])
                case QueueGroup(messages, dates, about):
                    ids.append(store.enqueue_client_group(messages, dates))
                    if about is not None and about.approved is not None:
                        _replaced(store, about.approved.replaces, ids[-1])
                case ManagerCopy(parent, messages):
                    store.record_outgoing(messages, parent=parent)
                case DecideHeld(notice_id, approve, decided_by):
                    if not store.decide(notice_id, approve, now=now, decided_by=decided_by):
                        refused.append(notice_id)  # decided already (by another manager, or released)
                case SetOutboxState(outbox_id, state, error, attempt, expect, next_attempt, decided_by):
                    if not store.set_outbox_state(outbox_id, state, now=now, error=error, attempt=attempt,
                                                  expect=expect or None, next_attempt=next_attempt,
                                                  decided_by=decided_by or None):
                        refused.append(outbox_id)
                case SetRiskAlert(project, uid, alert):
                    store.set_risk_alert(project, uid, alert)
                case SaveForecasts(forecasts):
                    store.save_forecasts(forecasts, now)
                case SetServer(name, ok, detail):
                    store.set_server(name, ok, detail, now)
                case RecordPass(started, ok, summary):
                    store.record_pass(started, now, ok, summary)
                case RecordFailure(message_key, error):
                    store.record_failure(message_key, error)
                case MarkMoved(message_keys):
                    store.mark_moved(message_keys)
                case PruneMail(before):
                    store.prune_mail(before)
                case ApplyCalendar(project, ref, url, token, fingerprint, entries, parsed, deleted, kept):
                    gone += store.apply_calendar(project, ref=ref, url=url, token=token, fingerprint=fingerprint,
                                                 entries=entries, parsed=dict(parsed), deleted=deleted,
                                                 kept=set(kept), now=now)
                case SaveCalendarToken(project, ref, url, token, fingerprint):
                    store.save_calendar_token(project, ref, url, token, fingerprint)
                case ForgetCalendar(project):
                    store.forget_calendar(project)
                case FollowServer(server):
                    forgot = store.follow_server(server) or forgot
                case SaveClientCalendarEntry(project, uid, url, etag, sequence, date, status):
                    store.save_client_calendar_entry(project, uid, url, etag, sequence, date, status)
                case ForgetClientCalendarEntry(project, uid):
                    store.forget_client_calendar_entry(project, uid)
                case SwapUidvalidity(folder, value):
                    uidvalidity = store.swap_uidvalidity(folder, value)
                case _:
                    assert_never(action)
    return Carried(tuple(ids), tuple(refused), tuple(gone), uidvalidity, forgot)
