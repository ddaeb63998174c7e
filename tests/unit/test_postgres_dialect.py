"""The parts' SQL said to PostgreSQL (adapters/store/postgres/dialect.py): each rule on the statements the parts
write, without a server (the contract suite runs them on one: tests/integration/test_postgres_store.py)."""

from __future__ import annotations

import pytest

from deadlinewatch.adapters.store.postgres.dialect import Dialect, Statement, Table

TABLES = {
    "outbox": Table(("id", "kind", "state", "message"), ("id",), identity="id"),
    "client_dates": Table(("project", "uid", "sequence", "shown_date", "invited"), ("project", "uid")),
    "keys": Table(("name", "value"), ("name",)),
    "message_failures": Table(("message_key", "attempts", "last_error"), ("message_key",)),
    "client_entries": Table(("project", "uid", "entry_uid"), ("project", "uid")),
    "messages": Table(("message_key", "raw", "body", "decided_at"), ("message_key",)),
}


@pytest.fixture
def dialect() -> Dialect:
    return Dialect(TABLES)


def test_placeholders_become_psycopgs_and_every_percent_is_doubled(dialect: Dialect) -> None:
    # a ? inside a string literal is text; a % anywhere is doubled: psycopg reads every % of the statement
    assert dialect.translate("SELECT * FROM outbox WHERE kind = ? AND state LIKE 'a%?'").text == (
        "SELECT * FROM outbox WHERE kind = %s AND state LIKE 'a%%?'")
    assert dialect.translate("SELECT 100 % 7, ?").text == "SELECT 100 %% 7, %s"


def test_a_parameter_only_tested_for_null_is_given_a_type(dialect: Dialect) -> None:
    assert dialect.translate("SELECT * FROM keys WHERE ? IS NULL OR name = ?").text == (
        "SELECT * FROM keys WHERE %s::text IS NULL OR name = %s")


def test_a_blob_literal_is_the_same_bytes_as_bytea(dialect: Dialect) -> None:
    assert dialect.translate("UPDATE messages SET raw = x'', body = '' WHERE decided_at < ?").text == (
        "UPDATE messages SET raw = '\\x'::bytea, body = '' WHERE decided_at < %s")
    assert dialect.translate("SELECT X'00ff'").text == "SELECT '\\x00ff'::bytea"


def test_insert_or_ignore_does_nothing_on_any_conflict(dialect: Dialect) -> None:
    assert dialect.translate("INSERT OR IGNORE INTO client_entries (project, uid, entry_uid) VALUES (?,?,?)").text == (
        "INSERT INTO client_entries (project, uid, entry_uid) VALUES (%s,%s,%s) ON CONFLICT DO NOTHING")


def test_insert_or_replace_is_an_upsert_on_the_primary_key_that_makes_the_row_anew(dialect: Dialect) -> None:
    assert dialect.translate("INSERT OR REPLACE INTO keys VALUES ('caldav-server', ?)").text == (
        "INSERT INTO keys (name, value) VALUES ('caldav-server', %s)"
        " ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value")
    # a column the statement leaves out goes back to its default, as SQLite's REPLACE would make it
    assert dialect.translate("INSERT OR REPLACE INTO client_dates (project, uid, sequence) VALUES (?,?,?)").text == (
        "INSERT INTO client_dates (project, uid, sequence) VALUES (%s,%s,%s) ON CONFLICT (project, uid) DO UPDATE"
        " SET sequence = EXCLUDED.sequence, shown_date = DEFAULT, invited = DEFAULT")


def test_a_bare_column_in_an_upserts_assignments_is_the_existing_rows(dialect: Dialect) -> None:
    assert dialect.translate(
        "INSERT INTO message_failures VALUES (?, 1, ?) ON CONFLICT (message_key) DO UPDATE SET"
        " attempts = attempts + 1, last_error = excluded.last_error").text == (
        "INSERT INTO message_failures VALUES (%s, 1, %s) ON CONFLICT (message_key) DO UPDATE SET"
        " attempts = message_failures.attempts + 1, last_error = excluded.last_error")


def test_an_insert_into_a_table_with_an_identity_returns_the_new_id(dialect: Dialect) -> None:
    assert dialect.translate("INSERT INTO outbox (kind, state, message) VALUES (?,?,?)") == Statement(
        "INSERT INTO outbox (kind, state, message) VALUES (%s,%s,%s) RETURNING id", returns_id=True)
    # executemany returns no rows; a statement that says RETURNING already keeps its own
    assert dialect.translate("INSERT INTO outbox (kind) VALUES (?)", many=True).returns_id is False
    assert dialect.translate("INSERT INTO outbox (kind) VALUES (?) RETURNING kind").returns_id is False
    assert dialect.translate("INSERT INTO keys VALUES (?, ?)").returns_id is False  # no identity


def test_each_statement_is_translated_once(dialect: Dialect) -> None:
    first = dialect.translate("SELECT * FROM outbox WHERE id = ?")
    assert dialect.translate("SELECT * FROM outbox WHERE id = ?") is first


def test_a_table_the_database_lacks_is_named(dialect: Dialect) -> None:
    with pytest.raises(ValueError, match="'nowhere'"):
        dialect.translate("INSERT OR REPLACE INTO nowhere VALUES (?)")
