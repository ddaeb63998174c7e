"""The state's schema on PostgreSQL: SQLite's named migrations give the same tables, columns and indexes (what
copy-state relies on to copy rows one for one), each step is recorded once, and daemons starting together migrate
once under the advisory lock."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import TupleRow

from deadlinewatch.adapters.store import MIGRATIONS, Migration, Store
from deadlinewatch.adapters.store.postgres.schema import SHARED_MIGRATIONS, Step, migrate, postgres_sql
from deadlinewatch.errors import StateError
from tests.postgres_server import PostgresDatabase

pytestmark = pytest.mark.integration

# a column's type on each engine: SQLite's declared type, and how PostgreSQL spells the same values
SAME_VALUES = {"INTEGER": "bigint", "TEXT": "text", "REAL": "double precision", "BLOB": "bytea"}


def sqlite_schema(path: Path) -> tuple[dict[str, list[tuple[str, str, bool]]], set[str]]:
    db = sqlite3.connect(path)
    try:
        tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        columns = {t: [(name, SAME_VALUES[kind], bool(notnull or pk))
                       for _, name, kind, notnull, _, pk in db.execute(f"PRAGMA table_info({t})")] for t in tables}
        indexes = {i for (i,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")}
    finally:
        db.close()
    return columns, indexes


def postgres_schema(conn: psycopg.Connection[TupleRow], tables: set[str]) -> tuple[
        dict[str, list[tuple[str, str, bool]]], set[str]]:
    columns: dict[str, list[tuple[str, str, bool]]] = {}
    for table, name, kind, nullable in conn.execute(
            "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"):
        if table in tables:
            columns.setdefault(str(table), []).append((str(name), str(kind), nullable == "NO"))
    indexes = {str(i) for (i,) in conn.execute(
        "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND indexname NOT LIKE '%%\\_pkey' "
        "AND indexname NOT LIKE '%%\\_key'")}
    return columns, indexes


def test_the_state_has_the_same_tables_columns_and_indexes_on_both_engines(postgres: PostgresDatabase,
                                                                             tmp_path: Path) -> None:
    Store.open(tmp_path).close()
    sqlite_columns, sqlite_indexes = sqlite_schema(tmp_path / "deadlinewatch.sqlite3")
    with postgres.connect(autocommit=True) as conn:
        migrate(conn)
        columns, indexes = postgres_schema(conn, set(sqlite_columns))
    assert columns == sqlite_columns
    assert indexes - {"daemons_by_last_seen", "leases_by_holder"} == sqlite_indexes


def test_every_step_runs_once_and_is_recorded_by_name(postgres: PostgresDatabase) -> None:
    with postgres.connect(autocommit=True) as conn:
        first = migrate(conn)
        assert migrate(conn) == []
        recorded = conn.execute("SELECT series, version, what FROM migrations ORDER BY series DESC, version").fetchall()
    expected = [Step("state", i, m.what) for i, m in enumerate(MIGRATIONS, 1)]
    expected += [Step("shared", i, m.what) for i, m in enumerate(SHARED_MIGRATIONS, 1)]
    assert first == expected
    assert [Step(*row) for row in recorded] == expected


def test_daemons_starting_together_migrate_once(postgres: PostgresDatabase) -> None:
    starters = 4
    together = threading.Barrier(starters)
    ran: list[list[Step]] = []
    failures: list[BaseException] = []

    def start() -> None:
        try:
            with postgres.connect(autocommit=True) as conn:
                together.wait()
                ran.append(migrate(conn))
        except BaseException as e:
            failures.append(e)

    threads = [threading.Thread(target=start) for _ in range(starters)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert failures == []
    assert sorted(len(steps) for steps in ran) == [0] * (starters - 1) + [len(MIGRATIONS) + len(SHARED_MIGRATIONS)]
    with postgres.connect() as conn:
        assert conn.execute("SELECT count(*) FROM migrations").fetchone() == (len(MIGRATIONS) + len(SHARED_MIGRATIONS),)


def test_a_daemon_that_loses_the_making_of_the_key_to_another_reads_the_others(postgres: PostgresDatabase) -> None:
    """Two daemons starting together on an empty state both make its key; PostgreSQL rolls the later one back
    (40001: the other's row was not in its snapshot). That daemon reads the other's key and starts — it used to
    stop at start-up (bench/failover.py saw it). Made certain here: the other's insert is held open until ours
    waits on it."""
    import time

    from deadlinewatch.adapters.store.postgres.store import PostgresStore
    from deadlinewatch.credentials import Secret

    store = PostgresStore.connect(postgres.url, Secret(postgres.password))
    try:
        with postgres.connect(autocommit=True) as conn:
            conn.execute("DELETE FROM keys")
        theirs = bytes(range(32))
        made: list[bytes] = []
        failures: list[BaseException] = []

        def make() -> None:
            try:
                made.append(store._key())
            except BaseException as e:
                failures.append(e)

        with postgres.connect() as other:
            other.execute("INSERT INTO keys VALUES ('ids', %s)", (theirs,))
            ours = threading.Thread(target=make)
            ours.start()
            time.sleep(0.5)  # ours read no key, and its insert now waits on the other's
            other.commit()
        ours.join(30)
        assert failures == [] and made == [theirs]
    finally:
        store.close()


def test_a_database_migrated_by_a_newer_deadlinewatch_is_refused(postgres: PostgresDatabase) -> None:
    with postgres.connect(autocommit=True) as conn:
        migrate(conn)
        conn.execute("INSERT INTO migrations (series, version, what) VALUES ('state', %s, 'from the future')",
                     (len(MIGRATIONS) + 1,))
        with pytest.raises(StateError, match="newer than this deadlinewatch knows"):
            migrate(conn)


def test_a_migration_only_sqlite_understands_must_be_written_for_postgresql() -> None:
    with pytest.raises(StateError, match=r"'INSERT OR'.*WRITTEN_FOR_POSTGRES"):
        postgres_sql(Migration("a new step", "INSERT OR REPLACE INTO keys VALUES ('x', X'00');"))
    carried = postgres_sql(Migration("a new table",
                                     "CREATE TABLE t (id INTEGER PRIMARY KEY, p REAL, b BLOB, n INTEGER);"))
    assert carried == ("CREATE TABLE t (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, p DOUBLE PRECISION, "
                       "b BYTEA, n BIGINT);")
