"""Connecting to the shared state: the password from the credential, and a failure said as what to fix — a refused
sign-in and an unknown database are configuration problems (78), an unreachable server is unavailable (69); a
transaction that lost a conflict with another daemon's runs again."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import TupleRow

from deadlinewatch.adapters.store.postgres.connection import database_password, describe, open_pool, transaction
from deadlinewatch.credentials import Secret
from deadlinewatch.demo.servers import free_port
from deadlinewatch.errors import EX_CONFIG, EX_UNAVAILABLE, DeadlinewatchError
from tests.postgres_server import PostgresDatabase

pytestmark = pytest.mark.integration


def test_the_pool_signs_in_with_the_credential(postgres: PostgresDatabase, tmp_path: Path) -> None:
    (tmp_path / "database").write_text(postgres.password + "\n")
    password = database_password("", {"CREDENTIALS_DIRECTORY": str(tmp_path)})
    pool = open_pool(postgres.url, password)
    try:
        with pool.connection() as conn:
            assert conn.execute("SELECT current_user").fetchone() == ("dw",)
    finally:
        pool.close()


def test_the_password_file_comes_before_the_credential_and_neither_is_none(tmp_path: Path) -> None:
    (tmp_path / "database").write_text("from-credential")
    (tmp_path / "pw").write_text("from-file\n")
    env = {"CREDENTIALS_DIRECTORY": str(tmp_path)}
    from_file, from_credential = database_password(str(tmp_path / "pw"), env), database_password("", env)
    assert from_file is not None and from_file.reveal() == "from-file"
    assert from_credential is not None and from_credential.reveal() == "from-credential"
    assert database_password("", {}) is None  # libpq's own: the URL, PGPASSWORD, ~/.pgpass


@pytest.mark.parametrize(("change", "code", "words"), [
    ("password", EX_CONFIG, "refused the sign-in"),
    ("database", EX_CONFIG, "does not exist"),
    # the PostgreSQL audit: only libpq's last line ("Is the server running…?") was said, never what failed
    ("port", EX_UNAVAILABLE, "Connection refused"),
])
def test_a_failure_to_connect_says_what_to_fix(postgres: PostgresDatabase, change: str, code: int,
                                                words: str) -> None:
    url, password = postgres.url, Secret(postgres.password)
    if change == "password":
        password = Secret("wrong")
    elif change == "database":
        url = url.rsplit("/", 1)[0] + "/nowhere"
    else:
        url = url.replace(url.split(":")[-1].split("/")[0], str(free_port()))
    with pytest.raises(DeadlinewatchError) as caught:
        open_pool(url, password)
    assert caught.value.exit_code == code
    assert words in str(caught.value)
    if change == "port":
        assert "postgresql: daemon.database dw@127.0.0.1:" in str(caught.value) and "reachable" in str(caught.value)
    assert "wrong" not in str(caught.value) and postgres.password not in str(caught.value)


def test_a_url_is_shown_without_its_password() -> None:
    assert describe("postgresql://dw:s3cret@db.example:5433/studio") == "dw@db.example:5433/studio"


def test_a_transaction_that_lost_a_deadlock_runs_again_and_both_commit(postgres: PostgresDatabase) -> None:
    """Two daemons bump the same two counters in opposite orders: PostgreSQL breaks the deadlock by rolling one
    back (40P01), which runs again once the other has committed; each bump is counted once."""
    pool = open_pool(postgres.url, Secret(postgres.password), max_size=4)
    try:
        with pool.connection() as conn:
            conn.execute("CREATE TABLE counters (name TEXT PRIMARY KEY, n INTEGER NOT NULL)")
            conn.execute("INSERT INTO counters VALUES ('a', 0), ('b', 0)")
        together = threading.Barrier(2)
        runs = {"ab": 0, "ba": 0}
        failures: list[BaseException] = []

        def bump(order: str) -> None:
            def work(conn: psycopg.Connection[TupleRow]) -> None:
                runs[order] += 1
                conn.execute("UPDATE counters SET n = n + 1 WHERE name = %s", (order[0],))
                if runs[order] == 1:
                    together.wait(10)  # each holds its first row, then asks for the other's
                conn.execute("UPDATE counters SET n = n + 1 WHERE name = %s", (order[1],))

            try:
                transaction(pool, work)
            except BaseException as e:
                failures.append(e)

        threads = [threading.Thread(target=bump, args=(order,)) for order in runs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert failures == []
        assert sorted(runs.values()) == [1, 2]
        with pool.connection() as conn:
            assert conn.execute("SELECT name, n FROM counters ORDER BY name").fetchall() == [("a", 2), ("b", 2)]
        with pytest.raises(psycopg.errors.DivisionByZero):  # any other error: at once, not again
            transaction(pool, lambda conn: conn.execute("SELECT 1 / 0"))
    finally:
        pool.close()
