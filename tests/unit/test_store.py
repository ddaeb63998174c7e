"""The state on its own (a SQLite file, no server): actions carried out all or none, schema steps named, the
files private."""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import stat
from pathlib import Path

import pytest

from deadlinewatch.adapters.store import MIGRATIONS, Store
from deadlinewatch.core.model import DecideHeld, QueueMail, RecordMessage, SetOutboxState

NOW = dt.datetime(2026, 11, 30, 9, tzinfo=dt.UTC)


def mail(message_id: str, state: str = "pending", audience: str = "team") -> QueueMail:
    return QueueMail(kind="reply", audience=audience, token=message_id[1:9], message_id=message_id,
                     mail_from="pm@studio.example", recipients=("alice@studio.example",), message=b"x", created=NOW,
                     state=state, project="p")


def decided(key: str) -> RecordMessage:
    return RecordMessage(message_key=key, message_id=key, sender="alice@studio.example", subject="s",
                         received_at=NOW, outcome="accepted", target_folder="processed", project="p",
                         problems=(), raw=b"", body="")


def test_a_decisions_actions_happen_all_or_none(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    store.carry_out([decided("<n1@x>")], NOW)
    with pytest.raises(sqlite3.IntegrityError):  # the same message twice: the second decision fails whole
        store.carry_out([mail("<reply-a@x>"), decided("<n1@x>")], NOW)
    assert [i.message_id for i in store.outbox()] == []
    store.carry_out([mail("<held@x>", state="held", audience="client")], NOW)
    [held] = store.outbox()
    store.carry_out([DecideHeld(held.id, False, "pm@studio.example"), SetOutboxState(held.id, "rejected", "no")], NOW)
    assert store.outbox_item(held.id).state == "rejected"  # type: ignore[union-attr]
    store.close()


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
