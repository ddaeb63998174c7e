"""The state, split by concern: each part is a small class over one SQLite connection (database.py), and `Store`
is all of them. Every change is one transaction; a step made of several changes nests them as savepoints.

  schema.py     the named migrations
  database.py   the connection, transactions, the key of our ids, the state lock, file permissions
  calendars.py  calendar sync state, entries, milestones, the client-facing calendar copy
  inbox.py      messages taken in and decided, their failures, folders' UIDVALIDITY
  notes.py      progress notes per milestone, the track record the team's bias is learned from
  forecasts.py  each milestone's latest forecast
  outbox.py     messages to send, and what the client's calendar shows (client dates)
  health.py     passes and servers' health
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import fields
from typing import assert_never

from deadlinewatch.adapters.store.calendars import Calendars
from deadlinewatch.adapters.store.database import Database, StateLock
from deadlinewatch.adapters.store.forecasts import Forecasts
from deadlinewatch.adapters.store.health import Health
from deadlinewatch.adapters.store.inbox import Inbox
from deadlinewatch.adapters.store.notes import RECENT_REPORTS, Notes, TrackRecord
from deadlinewatch.adapters.store.outbox import CLIENT_KINDS, ClientDate, Outbox, OutboxItem
from deadlinewatch.adapters.store.schema import MIGRATIONS, Migration
from deadlinewatch.core.model import Action, DecideHeld, QueueMail, RecordMessage, SetOutboxState

__all__ = ["CLIENT_KINDS", "MIGRATIONS", "RECENT_REPORTS", "ClientDate", "Migration", "OutboxItem", "StateLock",
           "Store", "TrackRecord"]


class Store(Calendars, Inbox, Notes, Forecasts, Outbox, Health, Database):
    """The whole state: every part over one connection."""

    def carry_out(self, actions: Sequence[Action], now: dt.datetime) -> None:
        """A decision's actions, in order, in one transaction: all of them happen or none does."""
        with self.transaction():
            for action in actions:
                match action:
                    case RecordMessage():
                        self.record_message(**{f.name: getattr(action, f.name) for f in fields(action)}, now=now)
                    case QueueMail():
                        self.record_outgoing([action])
                    case DecideHeld(notice_id, approve, decided_by):
                        self.decide(notice_id, approve, now=now, decided_by=decided_by)
                    case SetOutboxState(outbox_id, state, error):
                        self.set_outbox_state(outbox_id, state, now=now, error=error)
                    case _:
                        assert_never(action)
