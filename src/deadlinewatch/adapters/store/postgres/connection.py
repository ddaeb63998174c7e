"""Connecting to the shared state: the `postgresql://` URL of `daemon.database` (a config file holds no password),
the password from a credential, and a pool of connections that every part of the state borrows from.

The pool is psycopg's thread-safe one: the store's calls are synchronous, made from the daemon's worker threads
(never on the event loop). A first connection is made alone before the pool opens, so that a wrong password or
an unknown database is one sentence naming the fix, not a pool retrying in the background.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import TupleRow
from psycopg_pool import ConnectionPool, PoolTimeout

from deadlinewatch.credentials import Secret
from deadlinewatch.errors import ConfigError, LoginRefused, ServerError

log = logging.getLogger(__name__)

Pool = ConnectionPool[psycopg.Connection[TupleRow]]
T = TypeVar("T")

# SQLSTATEs of a refused sign-in (28P01 a wrong password, 28000 a role pg_hba.conf turns away) and of a database
# that does not exist (3D000): the configuration is wrong, waiting will not help
_REFUSED = {"28P01", "28000"}
_NO_DATABASE = "3D000"


def database_password(password_file: str = "", env: Mapping[str, str] = os.environ) -> Secret | None:
    """`daemon.database_password_file`, else the credential `$CREDENTIALS_DIRECTORY/database` (systemd's
    LoadCredential=database:…), else None — libpq then takes it from the URL, PGPASSWORD or ~/.pgpass."""
    if password_file:
        path, what = Path(password_file), f"daemon.database_password_file = {password_file!r}"
    else:
        credentials = env.get("CREDENTIALS_DIRECTORY", "").split(":")[0]
        path, what = Path(credentials, "database"), f"the credential {credentials}/database"
        if not credentials or not path.exists():
            return None
    try:
        return Secret(path.read_text().rstrip("\r\n"))
    except OSError as e:
        raise ConfigError(f"{what}: cannot read it ({e.strerror})") from None


def describe(url: str) -> str:
    """The URL as it may be shown: user@host:port/dbname, never a password written into it."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "the configured PostgreSQL database"
    user = f"{parts['user']}@" if parts.get("user") else ""
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"{user}{parts.get('host') or 'localhost'}{port}/{parts.get('dbname') or ''}"


def _failure(url: str, e: psycopg.Error) -> ConfigError | ServerError:
    # libpq says what failed on its first line ("connection to server at … failed: Connection refused") and asks
    # its question on the last ("Is the server running on that host…?"): both, the failure first
    lines = [line.strip() for line in str(e).strip().splitlines() if line.strip()]
    detail = " — ".join(dict.fromkeys([lines[0], lines[-1]])) if lines else type(e).__name__
    text = str(e)
    if e.sqlstate in _REFUSED or "password authentication failed" in text or "no password supplied" in text:
        return LoginRefused(f"daemon.database: PostgreSQL refused the sign-in to {describe(url)} ({detail}); "
                            "check the password ($CREDENTIALS_DIRECTORY/database or daemon.database_password_file)")
    if e.sqlstate == _NO_DATABASE or "does not exist" in text:
        return ConfigError(f"daemon.database: {describe(url)}: {detail}")
    return ServerError("postgresql", f"daemon.database {describe(url)} does not answer ({detail}): is PostgreSQL "
                                     "running, and reachable from this machine?")


def connect(url: str, password: Secret | None, autocommit: bool = False) -> psycopg.Connection[TupleRow]:
    """One connection of its own (the migration, the copy), its failure said as a user can act on it."""
    try:
        return psycopg.connect(make_conninfo(url, **_parameters(password)), autocommit=autocommit)
    except psycopg.ProgrammingError as e:
        raise ConfigError(f"daemon.database: not a PostgreSQL URL ({e})") from None
    except psycopg.OperationalError as e:
        raise _failure(url, e) from None


def _parameters(password: Secret | None) -> dict[str, str | int]:
    parameters: dict[str, str | int] = {"application_name": "deadlinewatch", "connect_timeout": 10}
    if password:
        parameters["password"] = password.reveal()
    return parameters


def open_pool(url: str, password: Secret | None, max_size: int = 4, timeout: float = 10.0) -> Pool:
    """The shared state's pool: up to `max_size` connections, at least one kept open; a borrower waits `timeout`
    seconds at most for one."""
    connect(url, password).close()
    pool: Pool = ConnectionPool(url, kwargs=_parameters(password), min_size=1, max_size=max_size, open=True,
                                timeout=timeout, name="deadlinewatch")
    try:
        pool.wait(timeout)
    except PoolTimeout:
        pool.close()
        raise ServerError("postgresql", f"{describe(url)}: no connection within {timeout:.0f} s") from None
    return pool


def transaction(pool: Pool, work: Callable[[psycopg.Connection[TupleRow]], T], attempts: int = 5) -> T:
    """`work` as one transaction on a connection of the pool, its result once committed. When PostgreSQL rolls it
    back for a conflict with another daemon's transaction — a serialization failure (40001) or a deadlock (40P01):
    nothing of it happened, and the other went on — it runs again from the start, up to `attempts` times, after a
    short random pause so that the two do not meet again. Any other error, and the last conflict, is raised."""
    for attempt in range(1, attempts + 1):
        try:
            with pool.connection() as conn, conn.transaction():
                return work(conn)
        except (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected) as e:
            if attempt == attempts:
                raise
            log.info("a transaction lost a conflict with another's (%s); running it again", e.sqlstate)
            time.sleep(random.uniform(0, 0.05 * attempt))
    raise AssertionError("unreachable: the last attempt returns or raises")
