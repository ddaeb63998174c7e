"""The store over PostgreSQL: the same parts as SQLite's (calendars, inbox, notes, forecasts, outbox, health, pages),
their SQL written once, issued through `Connection` — what they use of `sqlite3.Connection`, over one psycopg
connection, each statement translated once (dialect.py).

Why the same parts and not a second store: the rules the pipeline relies on (a moved entry is not gone, SEQUENCE
only grows, a held group is decided once, a newer notice supersedes the held one) live in the parts' SQL and the
Python around it. Written twice they would drift apart; written once, the contract suite run over both engines
holds them to one meaning, and a new rule is one change. The cost on SQLite is nil: its parts run unchanged, on
sqlite3 itself, with no adapter between.

Semantics kept from SQLite's store:
- every statement outside `transaction()` is its own (autocommit), every `transaction()` one transaction, a
  `transaction()` inside another a savepoint: that step fails alone, the outer one goes on;
- an outermost transaction is SERIALIZABLE, as SQLite's one writer makes every transaction: a read followed by a
  write (the SEQUENCE shown, a message recorded once) cannot interleave with another daemon's. When PostgreSQL
  rolls one back for a conflict (40001) or a deadlock (40P01), the port's method that began it runs again from
  the start, a few times (`_retried`): nothing of it happened. Inside a caller's own transaction() it is the
  caller's to run again: errors.StateBusy goes up (the inbox's batch stops there, as for a locked SQLite file,
  and the next reading takes the rest; it is never counted against a message);
- a uniqueness refused is errors.StateConflict;
- dates and times are the same ISO 8601 text (the parts write them), so copy-state's rows are the same rows.

The migrations are postgres/schema.py's (SQLite's, translated type by type, and the shared tables); the key of our
ids is in the same `keys` table, made once by whichever daemon comes first.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import random
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Self, TypeVar, cast

import psycopg
from psycopg.rows import RowMaker
from psycopg_pool import PoolTimeout

from deadlinewatch.adapters.store.calendars import Calendars
from deadlinewatch.adapters.store.database import Database
from deadlinewatch.adapters.store.forecasts import Forecasts
from deadlinewatch.adapters.store.health import Health
from deadlinewatch.adapters.store.inbox import Inbox
from deadlinewatch.adapters.store.notes import Notes
from deadlinewatch.adapters.store.outbox import Outbox
from deadlinewatch.adapters.store.pages import Pages
from deadlinewatch.adapters.store.port import StorePort
from deadlinewatch.adapters.store.postgres.connection import Pool, describe, open_pool
from deadlinewatch.adapters.store.postgres.dialect import Dialect, read_tables
from deadlinewatch.adapters.store.postgres.leases import hold
from deadlinewatch.adapters.store.postgres.schema import migrate
from deadlinewatch.coordination import current
from deadlinewatch.credentials import Secret
from deadlinewatch.errors import ServerError, StateBusy, StateConflict, StateError

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])
K = TypeVar("K")
V = TypeVar("V")

# how many times a port method runs when PostgreSQL keeps rolling it back for a conflict with another daemon's
ATTEMPTS = 5

# The parts' statements that no rule of dialect.py carries over, and their PostgreSQL form: (1) SQLite takes the
# bare columns of a GROUP BY from the row of the MIN (notes.track_record's first estimates), PostgreSQL says that
# with DISTINCT ON, the ties settled the same way (the earlier note); (2) a subquery in FROM needs a name
# (notes.reports).
VARIANTS = {
    "SELECT project, uid, MIN(at), remaining_days, eta FROM reports"
    " WHERE remaining_days > 0 OR eta IS NOT NULL GROUP BY project, uid":
    "SELECT DISTINCT ON (project, uid) project, uid, at, remaining_days, eta FROM reports"
    " WHERE remaining_days > 0 OR eta IS NOT NULL ORDER BY project, uid, at, id",
    "SELECT * FROM (SELECT project, uid, at, done, remaining_days, eta, cause, plan, blocked, sender, prevent, id"
    " FROM reports WHERE project = ? AND uid = ? ORDER BY at DESC, id DESC LIMIT ?) ORDER BY at, id":
    "SELECT * FROM (SELECT project, uid, at, done, remaining_days, eta, cause, plan, blocked, sender, prevent, id"
    " FROM reports WHERE project = ? AND uid = ? ORDER BY at DESC, id DESC LIMIT ?) AS latest ORDER BY at, id",
}


class Row:
    """A row addressable by position and by column name, as sqlite3.Row is."""

    __slots__ = ("_names", "_values")

    def __init__(self, values: Sequence[Any], names: Mapping[str, int]) -> None:
        self._values = values
        self._names = names

    def __getitem__(self, key: int | str) -> Any:
        return self._values[self._names[key] if isinstance(key, str) else key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Row) and tuple(self._values) == tuple(other._values)

    def __hash__(self) -> int:
        return hash(tuple(self._values))

    def __repr__(self) -> str:
        return f"Row({ {name: self._values[i] for name, i in self._names.items()}!r})"


def _rows(cursor: psycopg.Cursor[Any]) -> RowMaker[Row]:
    """psycopg's row factory: each result's column names read once, shared by its rows (a name given twice is
    its first column, as in sqlite3.Row)."""
    names: dict[str, int] = {}
    for i, c in enumerate(cursor.description or ()):
        names.setdefault(c.name, i)
    return lambda values: Row(values, names)


class Coherent(dict[K, V]):
    """A cache a part keeps between calls (the milestones, a project's latest notes), good while `stamp(key)` — the
    database's count of the changes its entry depends on (schema.py's `changes`) — stands, whichever daemon made
    them. The stamp is read before the part reads what it caches: a change committed in between leaves the entry
    stale by its stamp (read again next time), never a stamp newer than its data."""

    def __init__(self, stamp: Callable[[K], int]) -> None:
        super().__init__()
        self._stamp = stamp
        self._stamps: dict[K, int] = {}
        self._read: dict[K, int] = {}

    def get(self, key: K, default: Any = None) -> Any:
        now = self._read[key] = self._stamp(key)
        if key in self and self._stamps.get(key) != now:
            del self[key]
        return super().get(key, default)

    def __setitem__(self, key: K, value: V) -> None:
        self._stamps[key] = self._read.pop(key) if key in self._read else self._stamp(key)
        super().__setitem__(key, value)


class Inserted:
    """What an INSERT of one row gives back: how many rows (1) and the new row's id, as sqlite3.Cursor does."""

    def __init__(self, rowcount: int, lastrowid: int | None) -> None:
        self.rowcount = rowcount
        self.lastrowid = lastrowid

    def fetchone(self) -> None:
        return None

    def fetchall(self) -> list[Row]:
        return []

    def __iter__(self) -> Iterator[Row]:
        return iter(())


# a connection's states inside a transaction block (a broken one, UNKNOWN, is in none: it is renewed)
_IN_TRANSACTION = {psycopg.pq.TransactionStatus.INTRANS, psycopg.pq.TransactionStatus.INERROR,
                   psycopg.pq.TransactionStatus.ACTIVE}


class Connection:
    """What the store's parts use of sqlite3.Connection (execute, executemany, in_transaction), over one psycopg
    connection in autocommit: outside a transaction, each statement is its own, as with SQLite's
    isolation_level=None."""

    def __init__(self, conn: psycopg.Connection[Any], dialect: Dialect,
                 renew: Callable[[psycopg.Connection[Any]], psycopg.Connection[Any]], where: str) -> None:
        self.conn = conn
        self.dialect = dialect
        self._renew = renew
        self._where = where

    @property
    def in_transaction(self) -> bool:
        return self.conn.info.transaction_status in _IN_TRANSACTION

    def live(self) -> psycopg.Connection[Any]:
        """The connection, a new one from the pool when the server dropped the old one (a restart, a failover)
        and no transaction was under way on it: what was in it is gone, and said so by the statement that
        found it broken (ServerError)."""
        if self.conn.broken or self.conn.closed:
            self.conn = self._renew(self.conn)
        return self.conn

    def lost(self, e: psycopg.OperationalError) -> ServerError | None:
        """The server as unreachable when `e` broke the connection; None for an error of the statement itself (a
        serialization failure is an OperationalError too: it is run again, not reported)."""
        if not self.conn.broken:
            return None
        return ServerError("postgresql", f"{self._where}: {str(e).strip().splitlines()[-1] if str(e).strip() else e}")

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> psycopg.Cursor[Row] | Inserted:
        statement = self.dialect.translate(VARIANTS.get(sql, sql))
        try:
            cursor = cast(psycopg.Cursor[Row], self.live().cursor(row_factory=_rows))
            cursor.execute(statement.text, parameters)
            if statement.returns_id:
                row = cursor.fetchone()
                return Inserted(cursor.rowcount, row[0] if row is not None else None)
        except psycopg.OperationalError as e:
            if (lost := self.lost(e)) is not None:
                raise lost from e
            raise
        return cursor

    def executemany(self, sql: str, parameters: Sequence[Sequence[Any]]) -> psycopg.Cursor[Row]:
        try:
            cursor = cast(psycopg.Cursor[Row], self.live().cursor(row_factory=_rows))
            cursor.executemany(self.dialect.translate(VARIANTS.get(sql, sql), many=True).text, parameters)
        except psycopg.OperationalError as e:
            if (lost := self.lost(e)) is not None:
                raise lost from e
            raise
        return cursor

    def close(self) -> None:
        self.conn.close()


class PostgresDatabase(Database):
    """What every part shares, over PostgreSQL: one connection of the pool (kept, as SQLite's store keeps its
    one), the schema, transactions, the key. The pool lends others to what runs beside it (entry_etags)."""

    # each project's cached milestones are stamped with that project's changes, read before its rows: an entry
    # filled from every project's rows would need a stamp read after them (a change between would go unseen)
    MILESTONES_BY_PROJECT = False

    def __init__(self, pool: Pool, url: str = "", *, owns_pool: bool = True) -> None:
        self.pool, self.url, self._owns_pool = pool, url, owns_pool
        self.path = Path()  # no file: the parts' SQLite-only uses of it are overridden below
        self._savepoints = 0
        self._milestones_written = 0
        self._pruned_for = None
        conn = pool.getconn()
        try:
            conn.autocommit = True
            migrate(conn)  # at READ COMMITTED: a daemon that waited on the migration lock sees what the first did
            conn.isolation_level = psycopg.IsolationLevel.SERIALIZABLE
            self._adapter: Connection | None = Connection(conn, Dialect(read_tables(conn)), self._renew,
                                                          describe(url) if url else "PostgreSQL")
        except BaseException:
            pool.putconn(conn)
            raise
        # the parts are written against sqlite3.Connection: Connection speaks the part of it they use
        self.db = cast(sqlite3.Connection, self._adapter)
        # what the parts keep between calls holds while no daemon changed it (SQLite's: while this one did not)
        self._milestones_cache = Coherent(lambda project: self._changes("milestones", project))
        self._reports_cache = Coherent(lambda key: self._changes("reports", key[0]))
        self._every_report = Coherent(lambda _recent: self._changes("reports", None))
        self.key = self._key()

    def _key(self) -> bytes:
        """The state's key, as SQLite's; two daemons starting together on an empty state both try to make it, and
        PostgreSQL rolls one back (40001): that one reads the other's."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return super()._key()
            except StateBusy:
                if attempt == ATTEMPTS:
                    raise
                time.sleep(random.uniform(0, 0.05 * attempt))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _changes(self, kind: str, project: str | None) -> int:
        """How often a project's milestones or notes (`kind`) were written, every project's without one."""
        return int(self.db.execute("SELECT coalesce(sum(n), 0) FROM changes WHERE kind = ? AND (? IS NULL OR"
                                   " project = ?)", (kind, project, project)).fetchone()[0])

    def _renew(self, old: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
        with contextlib.suppress(psycopg.Error):
            self.pool.putconn(old)  # a broken connection is discarded, not lent again
        where = describe(self.url) if self.url else "PostgreSQL"
        for _ in range(self.pool.max_size + 1):  # the pool's idle ones may have been dropped with it: tried first
            try:
                conn = self.pool.getconn()
            except PoolTimeout:
                raise ServerError("postgresql", f"{where}: no connection to the server") from None
            try:
                conn.autocommit = True
                conn.isolation_level = psycopg.IsolationLevel.SERIALIZABLE
                conn.execute("SELECT 1")
                return conn
            except psycopg.OperationalError:
                self.pool.putconn(conn)
        raise ServerError("postgresql", f"{where}: every connection to the server was dropped")

    @classmethod
    def open(cls, state_dir: Path) -> Self:
        raise TypeError(f"{cls.__name__} is opened by URL: {cls.__name__}.connect(url, password) "
                        "(engine.open_state chooses by daemon.database)")

    @classmethod
    def connect(cls, url: str, password: Secret | None = None) -> Self:
        """The store of the database at `url` (`daemon.database`), migrated; its failure said as a user can act
        on it (connection.py)."""
        pool = open_pool(url, password, max_size=2)
        try:
            return cls(pool, url)
        except BaseException:
            pool.close()
            raise

    def close(self) -> None:
        adapter, self._adapter = self._adapter, None
        if adapter is None:
            return
        conn = adapter.conn
        if not conn.closed and not conn.broken:
            conn.isolation_level = None
            conn.autocommit = False
        self.pool.putconn(conn)
        if self._owns_pool:
            self.pool.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {describe(self.url) if self.url else 'PostgreSQL'}>"

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One transaction (SERIALIZABLE); inside another, a savepoint: this step fails alone, the outer goes on."""
        if self._adapter is None:
            raise StateError("the PostgreSQL store is closed")
        adapter = self._adapter
        outermost = not adapter.in_transaction
        conn = adapter.live() if outermost else adapter.conn
        try:
            with conn.transaction():
                # a write made under a part of the work (coordination.current: the running step's lease) goes on only
                # while this daemon still holds it: one paused or cut off past its lease writes nothing
                if outermost and (lease := current.get()) is not None:
                    hold(conn, lease)
                yield self.db
        except psycopg.errors.IntegrityError as e:
            raise StateConflict(f"the state refuses a duplicate: {e.diag.message_primary or e}") from e
        except (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected) as e:
            raise StateBusy(f"PostgreSQL rolled the change back for a conflict with another daemon's ({e.sqlstate}); "
                            "nothing of it happened") from e
        except psycopg.OperationalError as e:
            if (lost := adapter.lost(e)) is not None:
                raise lost from e
            raise


def _retried(method: F) -> F:
    """`method` run again when PostgreSQL rolled its transaction back for a conflict (40001) or a deadlock (40P01),
    when it began that transaction; inside a caller's transaction the caller's is what must run again."""

    @functools.wraps(method)
    def run(self: PostgresStore, *args: Any, **kwargs: Any) -> Any:
        if self.db.in_transaction:
            return method(self, *args, **kwargs)
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return method(self, *args, **kwargs)
            except StateBusy as e:
                if attempt == ATTEMPTS:
                    raise
                log.info("%s lost a conflict with another daemon's transaction (%s); running it again",
                         method.__name__, getattr(e.__cause__, "sqlstate", "?"))
                time.sleep(random.uniform(0, 0.05 * attempt))
        raise AssertionError("unreachable: the last attempt returns or raises")

    return cast(F, run)


class PostgresStore(Calendars, Inbox, Notes, Forecasts, Outbox, Health, Pages, PostgresDatabase, StorePort):
    """The whole state in PostgreSQL: SQLite's parts over PostgresDatabase, and two methods of theirs said for a
    database every daemon shares: entry_etags (SQLite opens a connection of its own by the file's path) and
    version (SQLite counts this process's writes: it is the one writer)."""

    def version(self) -> tuple[int, int]:
        """Moves with every note and every change to a milestone, whichever daemon made it."""
        return self._changes("reports", None), self._changes("milestones", None)

    def entry_etags(self, project: str) -> dict[str, str]:
        """A calendar's stored ETags, asked from the CalDAV worker thread in the middle of a listing: through
        another connection of the pool, so the store's own stays the event loop's."""
        with self.pool.connection() as conn:
            return dict(conn.execute("SELECT href, etag FROM calendar_entries WHERE project = %s",
                                     (project,)).fetchall())


def _port_methods() -> list[str]:
    """Every method of the port (each concern's Protocol), carry_out included; not transaction and close."""
    names = {name for proto in StorePort.__mro__ if getattr(proto, "_is_protocol", False)
             for name, value in vars(proto).items() if callable(value) and not name.startswith("_")}
    return sorted(names - {"transaction", "close"})


for _name in _port_methods():
    setattr(PostgresStore, _name, _retried(getattr(PostgresStore, _name)))
