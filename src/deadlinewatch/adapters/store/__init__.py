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

from deadlinewatch.adapters.store.calendars import Calendars
from deadlinewatch.adapters.store.database import Database, StateLock
from deadlinewatch.adapters.store.forecasts import Forecasts
from deadlinewatch.adapters.store.health import Health
from deadlinewatch.adapters.store.inbox import Inbox
from deadlinewatch.adapters.store.notes import RECENT_REPORTS, Notes, TrackRecord
from deadlinewatch.adapters.store.outbox import CLIENT_KINDS, ClientDate, Outbox, OutboxItem
from deadlinewatch.adapters.store.schema import MIGRATIONS, Migration

__all__ = ["CLIENT_KINDS", "MIGRATIONS", "RECENT_REPORTS", "ClientDate", "Migration", "OutboxItem", "StateLock",
           "Store", "TrackRecord"]


class Store(Calendars, Inbox, Notes, Forecasts, Outbox, Health, Database):
    """The whole state: every part over one connection."""
