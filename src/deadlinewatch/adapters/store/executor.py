"""The one executor: a decision's actions (core/model.py's `Action` union), carried out in order through the store
port in one transaction — all of them happen or none does. Decisions return these values; nothing else writes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, assert_never

from deadlinewatch.core.model import Action, DecideHeld, QueueGroup, QueueMail, RecordMessage, SetOutboxState

if TYPE_CHECKING:
    from deadlinewatch.adapters.store.port import StorePort


def carry_out(store: StorePort, actions: Sequence[Action], now: dt.datetime) -> None:
    with store.transaction():
        for action in actions:
            match action:
                case RecordMessage():
                    store.record_message(**{f.name: getattr(action, f.name) for f in fields(action)}, now=now)
                case QueueMail():
                    store.record_outgoing([action])
                case QueueGroup(messages, dates, to_manager):
                    store.enqueue_client_group(messages, dates, to_manager)
                case DecideHeld(notice_id, approve, decided_by):
                    store.decide(notice_id, approve, now=now, decided_by=decided_by)
                case SetOutboxState(outbox_id, state, error):
                    store.set_outbox_state(outbox_id, state, now=now, error=error)
                case _:
                    assert_never(action)
