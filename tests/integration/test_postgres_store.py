"""The store contract (tests/unit/test_store_contract.py) kept by the PostgreSQL store, and what is its own: the
statements translated from the parts' dialect, the key shared by every daemon, a conflict run again."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from psycopg import sql

from deadlinewatch.adapters.store.postgres.store import PostgresStore
from deadlinewatch.core.model import ClientDate, ShowDate
from deadlinewatch.credentials import Secret
from deadlinewatch.errors import ServerError
from tests.postgres_server import PostgresDatabase
from tests.unit.test_store_contract import StoreContract, mail


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
        assert ours.outbox_item(primary).message_id == "<ours@x>"  # type: ignore[union-attr]
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
