"""`copy-state URL`: the SQLite state copied into an empty PostgreSQL database, for a move to `daemon.database`.

Every table, row for row: the ids (outbox, notes, passes) and tokens (client pages, [dw:…] tokens, the key our
Message-IDs are made with) are kept, so that mail already sent still threads and client pages keep their
addresses; each identity sequence is set past the ids copied. The target is migrated first, and must be empty:
copying into a state already in use would mix two studios' mail. The copy is one transaction on each side (a
snapshot of SQLite, all of PostgreSQL or nothing), checked by counting rows before it commits.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from deadlinewatch.adapters.store.database import Database, StateLock
from deadlinewatch.adapters.store.postgres.connection import describe
from deadlinewatch.adapters.store.postgres.schema import migrate
from deadlinewatch.adapters.store.schema import MIGRATIONS
from deadlinewatch.errors import StateError

# the record of the schema itself: made by migrate(), not copied
_SCHEMA_RECORD = "migrations"


@dataclass(frozen=True)
class Copied:
    table: str
    rows: int


def _sqlite_tables(source: sqlite3.Connection) -> list[tuple[str, list[str]]]:
    """The state's tables with their columns, in the order they were made: a table another one refers to (messages,
    for the notes read from them) was made first, so its rows are there before the rows that refer to them."""
    tables = [name for (name,) in source.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%' ORDER BY rowid")]
    return [(t, [row[1] for row in source.execute(f'PRAGMA table_info("{t}")')]) for t in tables]


def _postgres_columns(conn: psycopg.Connection[TupleRow]) -> dict[str, list[str]]:
    columns: dict[str, list[str]] = {}
    for table, column in conn.execute("SELECT table_name, column_name FROM information_schema.columns"
                                      " WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"):
        columns.setdefault(table, []).append(column)
    return columns


def _source(path: Path) -> sqlite3.Connection:
    """The SQLite state, at this deadlinewatch's schema version (an older one is migrated first, as the daemon
    would), opened read-only."""
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    if source.execute("PRAGMA user_version").fetchone()[0] != len(MIGRATIONS):
        source.close()
        Database(path).close()
        source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    return source


def copy_state(state_dir: Path, conn: psycopg.Connection[TupleRow], url: str = "") -> list[Copied]:
    """Every table of the SQLite state in `state_dir` into the database `conn` is connected to (autocommit, outside
    a transaction), which must be empty; what was copied, table by table. `url` names the target in messages. The
    state lock is held meanwhile: a running daemon would go on changing what is being copied."""
    path = state_dir / "deadlinewatch.sqlite3"
    if not path.exists():
        raise StateError(f"no state in {state_dir} to copy")
    lock = StateLock(state_dir)
    lock.acquire()
    try:
        return _copy(path, conn, describe(url) if url else "the target database")
    finally:
        lock.release()


def _copy(path: Path, conn: psycopg.Connection[TupleRow], target: str) -> list[Copied]:
    source = _source(path)
    try:
        migrate(conn)
        source.execute("BEGIN")  # one snapshot of the state, whatever else reads it meanwhile
        tables = _sqlite_tables(source)
        with conn.transaction():
            columns = _postgres_columns(conn)
            mismatched = [t for t, cols in tables if columns.get(t) != cols]
            if mismatched:
                raise StateError(f"{target}: the tables {', '.join(mismatched)} differ from the SQLite state's: "
                                 "is it another deadlinewatch version's?")
            # nobody else writes while the copy runs: a daemon started meanwhile waits for it
            conn.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(
                sql.SQL(", ").join(sql.Identifier(t) for t in columns if t != _SCHEMA_RECORD)))
            used = [t for t in columns if t != _SCHEMA_RECORD and conn.execute(
                sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(t))).fetchone() != (False,)]
            if used:
                raise StateError(f"{target} is not empty ({', '.join(used)} have rows): copy-state copies into an "
                                 "empty database only — create a new one (CREATE DATABASE … OWNER …) and copy there")
            copied = [Copied(table, _copy_table(source, conn, table, cols)) for table, cols in tables]
            _set_sequences(conn)
            for c in copied:
                (count,) = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(c.table))
                                        ).fetchone() or (None,)
                if count != c.rows:
                    raise StateError(f"{target}: {c.table} has {count} rows after the copy, not {c.rows}; "
                                     "nothing was copied")
    finally:
        source.close()
    return copied


def _copy_table(source: sqlite3.Connection, conn: psycopg.Connection[TupleRow], table: str, cols: list[str]) -> int:
    names = ", ".join(f'"{c}"' for c in cols)
    rows = 0
    with conn.cursor().copy(sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(c) for c in cols))) as copy:
        for row in source.execute(f'SELECT {names} FROM "{table}" ORDER BY rowid'):
            copy.write_row(row)
            rows += 1
    return rows


def _set_sequences(conn: psycopg.Connection[TupleRow]) -> None:
    """Each identity column's sequence past the largest id copied: the next outbox message is max + 1."""
    identities = conn.execute("SELECT table_name, column_name FROM information_schema.columns"
                              " WHERE table_schema = current_schema() AND is_identity = 'YES'").fetchall()
    for table, column in identities:
        conn.execute(sql.SQL("SELECT setval(pg_get_serial_sequence({}, {}), max({})) FROM {} HAVING count(*) > 0")
                     .format(sql.Literal(table), sql.Literal(column), sql.Identifier(column), sql.Identifier(table)))
