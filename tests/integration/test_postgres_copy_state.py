"""`copy-state URL`: a SQLite state made by the real pipeline (calendar, a team note, letters, the manager's
approval; the store's own methods for what two passes leave empty) copied into PostgreSQL, every table row for
row, ids and tokens kept; a second copy is refused."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from deadlinewatch import config as config_mod
from deadlinewatch.adapters.store import StateLock, Store
from deadlinewatch.core.model import RiskAlert
from tests.conftest import Studio, approve_held, deadlinewatch
from tests.postgres_server import PostgresDatabase
from tests.samples import NOTE

pytestmark = pytest.mark.integration


def sqlite_tables(path: Path) -> dict[str, list[tuple[object, ...]]]:
    db = sqlite3.connect(path)
    try:
        names = [n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {n: sorted(db.execute(f'SELECT * FROM "{n}"').fetchall(), key=repr) for n in names}
    finally:
        db.close()


def fill_what_the_passes_left_empty(state_dir: Path) -> None:
    """A row in each table these two passes leave empty, by the store's own methods: a poison message's failure,
    an alert that is up, the client-facing calendar copy, a web session."""
    store = Store.open(state_dir)
    try:
        at = dt.datetime(2026, 11, 30, 12, 20, tzinfo=dt.UTC)
        store.record_failure("INBOX:1:99", "the parser gave up")
        p_miss = 0.6180339887498949  # more digits than PostgreSQL's 4-byte REAL keeps
        store.set_risk_alert("acme-web", "design-1", RiskAlert(p_miss, dt.date(2026, 12, 14), dt.date(2026, 12, 9), at))
        store.save_client_calendar_entry("acme-web", "design-1", "http://127.0.0.1/c/design-1.ics", '"e1"', 2,
                                         dt.date(2026, 12, 14), "CONFIRMED")
        store.start_web_session("s" * 32, "pm@studio.example", at, at + dt.timedelta(hours=12))
    finally:
        store.close()


def test_copy_state_copies_every_table_row_for_row_and_refuses_a_second_time(
        studio: Studio, postgres: PostgresDatabase, tmp_path: Path) -> None:
    studio.dovecot.save("progress", NOTE.encode())
    assert deadlinewatch("once", config=studio.config, now="2026-11-30T12:00").returncode == 0
    assert approve_held(studio.config, now="2026-11-30T12:05")
    assert deadlinewatch("once", config=studio.config, now="2026-11-30T12:10").returncode == 0
    assert deadlinewatch("rotate-page", "acme-web", config=studio.config).returncode == 0
    fill_what_the_passes_left_empty(config_mod.load(str(studio.config)).state_dir)
    (tmp_path / "credentials").mkdir()
    (tmp_path / "credentials" / "database").write_text(postgres.password)
    env = {"CREDENTIALS_DIRECTORY": str(tmp_path / "credentials")}

    result = deadlinewatch("copy-state", postgres.url, config=studio.config, env=env)

    assert result.returncode == 0, result.stderr
    state = sqlite_tables(config_mod.load(str(studio.config)).state_dir / "deadlinewatch.sqlite3")
    assert [t for t, rows in state.items() if not rows] == []
    assert result.stdout.splitlines() == [f"{t}: {len(rows)} rows" for t, rows in state.items()]
    with postgres.connect() as conn:
        for table, rows in state.items():
            copied = conn.execute(f'SELECT * FROM "{table}"').fetchall()
            assert sorted(copied, key=repr) == rows, table
        # the next id of each table with one comes after the ids copied
        for table in ("outbox", "passes", "reports"):
            newest_row = conn.execute(f"SELECT max(id) FROM {table}").fetchone()
            following_row = conn.execute(f"SELECT nextval(pg_get_serial_sequence('{table}', 'id'))").fetchone()
            assert newest_row is not None and following_row is not None  # an aggregate and nextval: one row each
            (newest,), (following,) = newest_row, following_row
            assert following == newest + 1, table

    again = deadlinewatch("copy-state", postgres.url, config=studio.config, env=env)

    assert again.returncode == 1
    assert "is not empty" in again.stderr and "keys" in again.stderr and "Traceback" not in again.stderr
    assert postgres.password not in again.stderr


def test_copy_state_refuses_a_state_in_use_and_takes_the_password_from_the_config(
        studio: Studio, postgres: PostgresDatabase, tmp_path: Path) -> None:
    assert deadlinewatch("once", config=studio.config, now="2026-11-30T12:00").returncode == 0
    # the move under way: daemon.database set, its password in daemon.database_password_file
    (tmp_path / "database.pw").write_text(postgres.password + "\n")
    studio.config.write_text(studio.config.read_text().replace("[daemon]\n", f'[daemon]\ndatabase = "{postgres.url}"\n'
                             f'database_password_file = "{tmp_path / "database.pw"}"\n', 1))
    lock = StateLock(config_mod.load(str(studio.config)).state_dir)
    lock.acquire()
    try:
        refused = deadlinewatch("copy-state", postgres.url, config=studio.config)
    finally:
        lock.release()
    assert refused.returncode == 1 and "in use by another deadlinewatch" in refused.stderr
    with postgres.connect() as conn:  # untouched, not even migrated
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone() == (0,)

    result = deadlinewatch("copy-state", postgres.url, config=studio.config)

    assert result.returncode == 0, result.stderr
