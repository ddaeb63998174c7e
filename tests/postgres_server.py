"""Debian's PostgreSQL (15 on Debian 12) for the tests: one server per test session in a temporary folder, an
empty database for each test.

The server refuses to run as root, so when the tests run as root (CI) initdb and the postmaster run as the
`postgres` system user (setpriv execs, so the process kept is the postmaster itself); otherwise as the tests' own
user. It listens on 127.0.0.1 on a port found by binding 0 and on a Unix socket in its folder: the harness
administers it over the socket (trust, as `postgres`), the application connects over TCP as the role `dw` with a
SCRAM password, as a studio's daemons would. Durability is off (fsync, full-page writes): a test server's data
never outlives the session, and every CREATE DATABASE would otherwise wait on the disk.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from deadlinewatch.demo.servers import free_port


def _newest_bin() -> Path:
    """Debian's server binaries, off PATH: /usr/lib/postgresql/VERSION/bin (15 on Debian 12), the newest installed."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name))
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _newest_bin()
APP_ROLE = "dw"


def postgres_available() -> bool:
    return (PG_BIN / "postgres").exists() and (os.geteuid() != 0 or _postgres_user() is not None)


def _postgres_user() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        return None


@dataclass(frozen=True)
class PostgresDatabase:
    """One empty database owned by the application's role: the URL a config's `daemon.database` would hold
    (no password in it, as in a config file) and the password the daemon would read from its credential."""

    url: str
    password: str
    name: str

    def connect(self, autocommit: bool = False) -> psycopg.Connection[TupleRow]:
        return psycopg.connect(self.url, password=self.password, autocommit=autocommit)


class PostgresServer:
    """initdb, start, a database per test, stop. `stop()` also cleans up after a start that failed half-way."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or Path(tempfile.mkdtemp(prefix="dw-postgres-"))
        self.port = 0
        self.password = secrets.token_urlsafe(18)
        self.proc: subprocess.Popen[bytes] | None = None
        self._names = itertools.count(1)

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def socket_dir(self) -> Path:
        return self.directory / "sock"

    @property
    def log(self) -> Path:
        return self.directory / "postgres.log"

    def _as_server_user(self, argv: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return argv
        return ["setpriv", "--reuid", "postgres", "--regid", "postgres", "--init-groups", "--", *argv]

    def start(self) -> Self:
        # the socket folder must be reachable by the server's user (mkdtemp makes 0700 folders)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o755)
        for folder in (self.data, self.socket_dir):
            folder.mkdir(mode=0o700, exist_ok=True)
            if (user := _postgres_user()) is not None and os.geteuid() == 0:
                os.chown(folder, user.pw_uid, user.pw_gid)
        subprocess.run(self._as_server_user([
            str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-E", "UTF8", "--locale=C",
            "--auth-local=trust", "--auth-host=scram-sha-256", "--no-instructions", "--no-sync"]),
            check=True, capture_output=True, timeout=120)
        self.port = free_port()
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                       f"unix_socket_directories = '{self.socket_dir}'\npassword_encryption = 'scram-sha-256'\n"
                       "fsync = off\nfull_page_writes = off\nsynchronous_commit = off\n"
                       "shared_buffers = 32MB\nmax_connections = 200\n")
        (self.data / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self._as_server_user([str(PG_BIN / "postgres"), "-D", str(self.data)]),
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_ready()
        with self.admin() as admin:
            admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(APP_ROLE), sql.Literal(self.password)))
            admin.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(APP_ROLE), sql.Identifier(APP_ROLE)))
        return self

    def _wait_ready(self, timeout: float = 60) -> None:
        """Ready when it accepts a connection on its socket (pg_isready's test), never after a sleep."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited with code {self.proc.returncode} while starting:\n"
                                   f"{self.log.read_text(errors='replace')[-2000:]}")
            try:
                self.admin().close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def admin(self, dbname: str = "postgres") -> psycopg.Connection[TupleRow]:
        """The superuser over the Unix socket, autocommit (CREATE DATABASE runs outside a transaction)."""
        return psycopg.connect(host=str(self.socket_dir), port=self.port, user="postgres", dbname=dbname,
                               autocommit=True)

    def url(self, name: str = APP_ROLE) -> str:
        return f"postgresql://{APP_ROLE}@127.0.0.1:{self.port}/{name}"

    def database(self) -> PostgresDatabase:
        """A new empty database owned by `dw` (from template0: nothing a test left in template1 leaks in)."""
        name = f"{APP_ROLE}_{next(self._names)}"
        with self.admin() as admin:
            admin.execute(sql.SQL("CREATE DATABASE {} OWNER {} TEMPLATE template0").format(
                sql.Identifier(name), sql.Identifier(APP_ROLE)))
        return PostgresDatabase(self.url(name), self.password, name)

    def drop(self, database: PostgresDatabase) -> None:
        """Gone with its connections (a test's leftover pool included)."""
        with self.admin() as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database.name)))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown: sessions ended, no checkpoint wait for clients
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None
        shutil.rmtree(self.directory, ignore_errors=True)
