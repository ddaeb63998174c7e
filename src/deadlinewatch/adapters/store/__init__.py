"""The state, split by concern behind one port (port.py): each part is a small class over one SQLite connection
(database.py), none inheriting another, and `Store` is all of them. Every change is one transaction; a step made
of several changes nests them as savepoints.

  port.py       the Store port: each concern's Protocol and the typed rows it returns
  executor.py   carry_out: a decision's actions, in order, in one transaction
  schema.py     the named migrations
  database.py   the connection, transactions, the key of our ids, the state lock, file permissions
  calendars.py  calendar sync state, entries, milestones, the client-facing calendar copy
  inbox.py      messages taken in and decided, their failures, folders' UIDVALIDITY
  notes.py      progress notes per milestone, the track record the team's bias is learned from
  forecasts.py  each milestone's latest forecast; the manager's risk alerts that are up
  outbox.py     messages to send (`enqueue`, which the inbox's part shares), what the client's calendar shows
  health.py     passes and servers' health
  pages.py      the client pages' tokens (new_page_token), the manager's web sessions
"""

from __future__ import annotations

from deadlinewatch.adapters.store.calendars import Calendars
from deadlinewatch.adapters.store.database import Database, StateLock
from deadlinewatch.adapters.store.forecasts import Forecasts
from deadlinewatch.adapters.store.health import Health
from deadlinewatch.adapters.store.inbox import Inbox
from deadlinewatch.adapters.store.notes import Notes
from deadlinewatch.adapters.store.outbox import Outbox
from deadlinewatch.adapters.store.pages import Pages
from deadlinewatch.adapters.store.port import (
    RECENT_REPORTS,
    CalendarState,
    CalendarSync,
    Carrier,
    ClientCalendarEntry,
    ClientCalendarState,
    ClientRecord,
    ForecastState,
    HealthState,
    HealthStore,
    InboxState,
    Milestones,
    NoteState,
    OutboxItem,
    OutboxState,
    PassRecord,
    ServerHealth,
    StorePort,
    TrackRecord,
    WebState,
)
from deadlinewatch.adapters.store.schema import MIGRATIONS, Migration

__all__ = ["MIGRATIONS", "RECENT_REPORTS", "CalendarState", "CalendarSync", "Carrier", "ClientCalendarEntry",
           "ClientCalendarState", "ClientRecord", "ForecastState", "HealthState", "HealthStore", "InboxState",
           "Migration", "Milestones", "NoteState", "OutboxItem", "OutboxState", "PassRecord", "ServerHealth",
           "StateLock", "Store", "StorePort", "TrackRecord", "WebState"]


class Store(Calendars, Inbox, Notes, Forecasts, Outbox, Health, Pages, Database, StorePort):
    """The whole state: every part over one connection (carry_out comes with the port)."""
