"""The tests' PostgreSQL (tests/postgres_server.py): a database of its own for every test, reached over loopback
TCP as the application's role with its SCRAM password, as the daemons reach a studio's server."""

from __future__ import annotations

import psycopg
import pytest

from tests.postgres_server import PostgresDatabase, PostgresServer

pytestmark = pytest.mark.integration


def test_each_test_gets_an_empty_database_of_its_own(postgres: PostgresDatabase,
                                                      postgres_server: PostgresServer) -> None:
    with postgres.connect() as conn:
        conn.execute("CREATE TABLE left_behind (x INTEGER)")
    other = postgres_server.database()
    try:
        with other.connect() as conn:
            tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
        assert tables == (0,)
        assert other.url != postgres.url
    finally:
        postgres_server.drop(other)


def test_the_application_role_signs_in_over_loopback_with_its_password(postgres: PostgresDatabase) -> None:
    assert postgres.url.startswith("postgresql://dw@127.0.0.1:")
    with postgres.connect() as conn:
        assert conn.execute("SELECT current_user, inet_server_addr()::text").fetchone() == ("dw", "127.0.0.1/32")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(postgres.url, password="not-the-password").close()
