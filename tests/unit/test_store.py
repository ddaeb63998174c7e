"""What only the SQLite store has: schema steps named and logged, private files, an fsync spared. The rules every
store keeps are in test_store_contract.py, run against this one and the in-memory fake."""

from __future__ import annotations

import datetime as dt
import logging
import stat
from pathlib import Path

import pytest

from deadlinewatch.adapters.store import MIGRATIONS, ServerHealth, Store

NOW = dt.datetime(2026, 11, 30, 9, tzinfo=dt.UTC)


def test_each_schema_step_is_named_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="deadlinewatch.adapters.store"):
        Store.open(tmp_path).close()
    steps = [r.getMessage() for r in caplog.records if "schema v" in r.getMessage()]
    assert steps == [f"state: schema v{i} → v{i + 1}: {m.what}" for i, m in enumerate(MIGRATIONS)]
    assert all(m.what for m in MIGRATIONS)


def test_the_state_is_private_whatever_the_umask(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    folder.mkdir(mode=0o755)
    (folder / "deadlinewatch.sqlite3").touch(mode=0o644)  # left readable by an older version
    Store.open(folder).close()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "deadlinewatch.sqlite3").stat().st_mode) == 0o600


def test_the_key_of_our_ids_lasts_across_a_restart(tmp_path: Path) -> None:
    first = Store.open(tmp_path)
    again = Store.open(tmp_path)
    assert len(first.key) == 32 and again.key == first.key
    first.close()
    again.close()


def test_expired_web_sessions_are_pruned_when_one_starts(tmp_path: Path) -> None:
    """Not kept for ever: a session a browser never ended leaves no row once it has expired."""
    store = Store.open(tmp_path)
    day = dt.timedelta(days=1)
    store.start_web_session("desk", "pm@studio.example", NOW, NOW + day)
    store.start_web_session("phone", "pm@studio.example", NOW, NOW + 14 * day)
    store.start_web_session("tablet", "pm@studio.example", NOW + 2 * day, NOW + 16 * day)
    assert [r[0] for r in store.db.execute("SELECT sid FROM web_sessions ORDER BY sid")] == ["phone", "tablet"]
    store.close()


def test_health_a_server_is_written_only_when_it_changes(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    store.set_server("imap", True, "12 messages read", NOW)
    store.set_server("imap", True, "12 messages read", NOW + dt.timedelta(hours=1))
    assert store.servers() == {"imap": ServerHealth(True, "12 messages read")}
    checked = store.db.execute("SELECT checked_at FROM servers").fetchone()[0]
    assert checked == NOW.isoformat()
    store.close()


def test_entries_clients_already_have_keep_the_team_uid_they_went_out_with(tmp_path: Path) -> None:
    """The migration that gave client entries UIDs of our own: a milestone a letter, an invitation or the
    client-facing calendar already carried keeps the UID it went out with (the team's), so the client's entry
    keeps moving in place; one never sent has none recorded (it gets ours when it first goes out)."""
    import sqlite3

    from deadlinewatch.adapters.store.database import _statements

    step = next(i for i, m in enumerate(MIGRATIONS) if m.what.startswith("the UID of each milestone's entry"))
    db = sqlite3.connect(tmp_path / "deadlinewatch.sqlite3")
    for migration in MIGRATIONS[:step]:
        for statement in _statements(migration.sql):
            db.execute(statement)
    db.execute(f"PRAGMA user_version = {step}")
    db.execute("INSERT INTO client_dates (project, uid, sequence, shown_date) VALUES ('p', 'design-1', 3, "
               "'2026-12-10')")
    db.execute("INSERT INTO client_calendar VALUES ('p', 'launch-1', 'https://dav/c/launch-1.ics', 'e', 0, "
               "'2026-12-18', 'Status: on track')")
    db.commit()
    db.close()
    store = Store.open(tmp_path)
    assert store.entry_uids("p") == {"design-1": "design-1", "launch-1": "launch-1"}
    assert store.entry_uids("q") == {}
    store.close()
