"""The store contract (tests/unit/test_store_contract.py) kept by the PostgreSQL store, and what is its own: the
statements translated from the parts' dialect, the key shared by every daemon, a conflict run again."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql

from deadlinewatch.adapters.store import Store, StorePort
from deadlinewatch.adapters.store.postgres.store import PostgresStore
from deadlinewatch.core.model import (
    ClientDate,
    DecideHeld,
    Forecast,
    ManagerCopy,
    RecordMessage,
    Report,
    RiskAlert,
    SetOutboxState,
    ShowDate,
)
from deadlinewatch.credentials import Secret
from deadlinewatch.errors import ServerError, StateBusy
from tests.postgres_server import PostgresDatabase
from tests.samples import DESIGN, LAUNCH
from tests.unit.test_store_contract import NOW, StoreContract, _sync, found, mail


def open_store(database: Any) -> PostgresStore:
    return PostgresStore.connect(database.url, Secret(database.password))


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def store(self, postgres: Any) -> Iterator[PostgresStore]:
        opened = open_store(postgres)
        yield opened
        opened.close()


def test_every_daemon_finds_the_same_key_of_our_ids(postgres: Any) -> None:
    first, second = open_store(postgres), open_store(postgres)
    try:
        assert first.key == second.key and len(first.key) == 32
    finally:
        first.close()
        second.close()
    again = open_store(postgres)
    assert again.key == first.key  # kept across a restart
    again.close()


def test_text_is_ordered_byte_by_byte_as_in_sqlite_whatever_the_databases_collation(
        postgres_server: Any, postgres: Any) -> None:
    name = postgres.name + "_icu"
    with postgres_server.admin() as admin:  # ICU's English, as a cluster made with a linguistic locale sorts
        admin.execute(sql.SQL("CREATE DATABASE {} OWNER dw TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'")
                      .format(sql.Identifier(name)))
    database = PostgresDatabase(postgres_server.url(name), postgres.password, name)
    store = open_store(database)
    try:
        for key in ("<b@x>", "<B@x>", "<a@x>"):
            store.record_failure(key, "boom")
        assert [key for key, _, _ in store.failing_messages()] == ["<B@x>", "<a@x>", "<b@x>"]  # SQLite's order
    finally:
        store.close()
        postgres_server.drop(database)


def test_a_method_that_loses_a_conflict_with_another_daemon_runs_again(
        postgres: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    ours, theirs = open_store(postgres), open_store(postgres)
    read = ours.client_date
    interleaved: list[bool] = []

    def read_then_theirs_commits(project: str, uid: str) -> ClientDate | None:
        """Our transaction has read the date shown; another daemon records a newer one before we write ours."""
        seen = read(project, uid)
        if not interleaved:
            interleaved.append(True)
            theirs.enqueue_client_group([mail("<theirs@x>", "pending", "client")], [ShowDate("p", "u1", 7)])
        return seen

    monkeypatch.setattr(ours, "client_date", read_then_theirs_commits)
    caplog.set_level(logging.INFO, "deadlinewatch.adapters.store.postgres.store")
    try:
        primary = ours.enqueue_client_group([mail("<ours@x>", "pending", "client")], [ShowDate("p", "u1", 5)])
        assert found(ours.outbox_item(primary)).message_id == "<ours@x>"
        assert ours.client_dates("p")["u1"].sequence == 7  # read again: the SEQUENCE shown never goes back
        assert "lost a conflict with another daemon's transaction (40001)" in caplog.text
    finally:
        ours.close()
        theirs.close()


def test_a_dropped_connection_is_the_server_down_and_the_next_call_connects_again(
        postgres_server: Any, postgres: Any) -> None:
    store = open_store(postgres)
    try:
        store.record_outgoing([mail("<a@x>")])
        with postgres_server.admin() as admin:  # a restart, a failover: every session of the database ends
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                          (postgres.name,))
        with pytest.raises(ServerError, match="postgresql"):
            store.outbox()
        assert [i.message_id for i in store.outbox()] == ["<a@x>"]
        store.record_outgoing([mail("<b@x>")])
        assert len(store.outbox()) == 2
    finally:
        store.close()


def _every_call(store: StorePort) -> None:
    """A day of the pipeline through the port, every table written: what copy-state carries from one engine to
    the other, made by each."""
    store.follow_server("http://dav/\0pm")
    _sync(store, {"/d.ics": DESIGN, "/l.ics": LAUNCH})
    store.save_client_calendar_entry("p", "design-1", "http://dav/c/design-1.ics", '"e1"', 2, NOW.date(), "ok")
    report = Report("p", "design-1", NOW, 40, 2.5, NOW.date(), "late assets", "daily review", True, "a@x", "earlier")
    store.carry_out([RecordMessage(message_key="INBOX:1:7", message_id="<n@x>", sender="a@x", subject="s",
                                   received_at=NOW, outcome="accepted", target_folder="processed", project="p",
                                   problems=("one", "two"), raw=b"raw \x00\xff", body="body", reports=(report,))],
                    NOW)
    primary = store.enqueue_client_group(
        [dataclasses.replace(mail("<c@x>", "held", "client"), kind="notice", uid="design-1", basis=NOW)],
        [ShowDate("p", "design-1", 3, shown_date=NOW.date(), promised=NOW.date(), invited=True, entry_uid="dw-1")])
    store.carry_out([ManagerCopy(primary, (mail("<draft@x>"),)), DecideHeld(primary, True, "pm@studio.example"),
                     SetOutboxState(primary, "sent", attempt=True)], NOW)
    store.save_forecasts([Forecast("p", "design-1", NOW.date(), NOW.date(), 0.6180339887498949, "slow")], NOW)
    store.set_risk_alert("p", "design-1", RiskAlert(0.6180339887498949, NOW.date(), None, NOW))
    store.record_pass(NOW, NOW + dt.timedelta(seconds=2), True, "3 events")
    store.set_server("smtp", False, "refused", NOW)
    store.record_failure("INBOX:1:8", "the parser gave up")
    store.swap_uidvalidity("INBOX", 4294967295)  # unsigned 32-bit: more than PostgreSQL's INTEGER holds
    store.start_web_session("s" * 32, "pm@studio.example", NOW, NOW + dt.timedelta(hours=12))
    store.prune_mail(NOW + dt.timedelta(days=40))


def test_the_same_calls_leave_the_same_rows_as_on_sqlite(postgres: Any, tmp_path: Path) -> None:
    sqlite, pg = Store.open(tmp_path), open_store(postgres)
    try:
        for store in (sqlite, pg):
            _every_call(store)
    finally:
        sqlite.close()
        pg.close()
    source = sqlite3.connect(tmp_path / "deadlinewatch.sqlite3")
    # every table but the random ones: the key of our ids, the client pages' tokens
    tables = [t for (t,) in source.execute("SELECT name FROM sqlite_master WHERE type = 'table'"
                                           " AND name NOT IN ('keys', 'client_pages')")]
    with postgres.connect() as conn:
        for table in tables:
            mine = sorted(source.execute(f'SELECT * FROM "{table}"').fetchall(), key=repr)
            theirs = sorted(conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table))).fetchall(),
                            key=repr)
            assert mine and theirs == mine, table
    assert len(tables) == 16
    source.close()


def test_a_conflict_inside_a_callers_transaction_is_the_callers_to_run_again(postgres: Any) -> None:
    ours, theirs = open_store(postgres), open_store(postgres)
    try:
        with pytest.raises(StateBusy, match="40001"), ours.transaction():
            ours.record_outgoing([mail("<a@x>")])
            assert ours.client_dates("p") == {}  # read in our snapshot ...
            theirs.enqueue_client_group([mail("<t@x>", "pending", "client")], [ShowDate("p", "u1", 7)])
            ours.enqueue_client_group([mail("<o@x>", "pending", "client")], [ShowDate("p", "u1", 5)])  # ... written
        assert [i.message_id for i in ours.outbox()] == ["<t@x>"]  # nothing of ours happened
        assert ours.client_dates("p")["u1"].sequence == 7
    finally:
        ours.close()
        theirs.close()


def test_a_row_answers_by_name_and_by_position_as_sqlites_does(postgres: Any) -> None:
    query = "SELECT 1 AS a, 'x' AS b, 2 AS a"
    mine = sqlite3.connect(":memory:")
    mine.row_factory = sqlite3.Row
    expected = mine.execute(query).fetchone()
    store = open_store(postgres)
    try:
        row = store.db.execute(query).fetchone()
        assert (row[0], row["a"], row["b"], row[-1], list(row), len(row)) == (
            expected[0], expected["a"], expected["b"], expected[-1], list(expected), len(expected))
    finally:
        store.close()
        mine.close()


def test_another_daemons_calendar_change_is_seen_and_moves_the_version(postgres: Any) -> None:
    ours, theirs = open_store(postgres), open_store(postgres)
    try:
        _sync(ours, {"/d.ics": DESIGN, "/l.ics": LAUNCH})
        assert {m.state for m in ours.milestones("p")} == {"open"} and len(ours.milestones()) == 2  # kept
        seen = ours.version()
        _sync(theirs, {"/d.ics": DESIGN}, deleted=["/l.ics"], token="t2")  # another daemon syncs the calendar
        assert {m.uid: m.state for m in ours.milestones("p")} == {"design-1": "open", "launch-1": "cancelled"}
        assert {m.state for m in ours.milestones()} == {"open", "cancelled"}
        assert ours.version() != seen
        seen = ours.version()
        theirs.carry_out([_note("<v@x>", "p")], NOW)  # and records a note
        assert ours.version() != seen
    finally:
        ours.close()
        theirs.close()


def _note(key: str, project: str) -> RecordMessage:
    return RecordMessage(message_key=key, message_id=key, sender="a@x", subject="s", received_at=NOW,
                         outcome="accepted", target_folder="processed", project=project, problems=(), raw=b"",
                         body="", reports=(Report(project, "u1", NOW, 10, None, None, "", "", False, "a@x"),))


def test_a_note_committed_after_a_newer_one_is_still_read(postgres: Any) -> None:
    """Ids are handed out when a note is written, not when it commits: another daemon's note (id n) may commit
    after a note of another project (id n + 1) that this one has already read past."""
    ours, slow, quick = open_store(postgres), open_store(postgres), open_store(postgres)
    try:
        late = slow.transaction()
        late.__enter__()
        slow.carry_out([_note("<late@x>", "p")], NOW)  # id n, not committed yet
        quick.carry_out([_note("<quick@x>", "q")], NOW)  # id n + 1, committed
        assert ours.reports_by_milestone("p") == {}
        late.__exit__(None, None, None)
        assert [r.done for r in ours.reports_by_milestone("p")["u1"]] == [10]
    finally:
        for store in (ours, slow, quick):
            store.close()


def test_a_percent_sign_in_the_parts_sql_reaches_postgresql_as_written(postgres: Any) -> None:
    store = open_store(postgres)
    try:
        assert tuple(store.db.execute("SELECT 'a%' || ?, '?' || 'b%'", ("x",)).fetchone()) == ("a%x", "?b%")
    finally:
        store.close()
