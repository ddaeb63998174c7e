"""What only the SQLite store has: schema steps named and logged, private files, an fsync spared. The rules every
store keeps are in test_store_contract.py, run against this one and the in-memory fake."""

from __future__ import annotations

import datetime as dt
import logging
import stat
from pathlib import Path

import pytest

from deadlinewatch.adapters.store import MIGRATIONS, Store

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


def test_health_a_server_is_written_only_when_it_changes(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    store.set_server("imap", True, "12 messages read", NOW)
    store.set_server("imap", True, "12 messages read", NOW + dt.timedelta(hours=1))
    assert store.servers() == {"imap": {"ok": True, "detail": "12 messages read"}}
    checked = store.db.execute("SELECT checked_at FROM servers").fetchone()[0]
    assert checked == NOW.isoformat()
    store.close()
