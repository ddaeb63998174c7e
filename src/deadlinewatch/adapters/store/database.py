"""The state: one SQLite file in `daemon.state_dir`, versioned by `PRAGMA user_version` with named migrations.

WAL with synchronous=FULL, and every change is one explicit `BEGIN IMMEDIATE` transaction (a savepoint inside
another), so a crash leaves either all of a step or none of it. The parts of the store (calendars, inbox, notes,
forecasts, outbox, health, pages) each add their own methods to this connection; none inherits another.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import os
import secrets
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Self

from deadlinewatch.adapters.store.schema import MIGRATIONS
from deadlinewatch.core.model import Milestone, Report
from deadlinewatch.errors import StateConflict, StateError

log = logging.getLogger(__name__)


def _statements(script: str) -> Iterator[str]:
    """The statements of a migration, split by SQLite's own tokenizer (executescript would COMMIT early)."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            yield buffer
            buffer = ""
    if buffer.strip():
        raise ValueError(f"unfinished statement in a migration: {buffer.strip()[:80]}")


def _refused(e: BaseException) -> None:
    """A uniqueness the schema keeps is the port's StateConflict (what the in-memory store raises too)."""
    if isinstance(e, sqlite3.IntegrityError):
        raise StateConflict(f"the state refuses a duplicate: {e}") from e


def _iso(value: dt.date | dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _datetime(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def _private(path: Path) -> None:
    """The state folder 0700 and the database 0600, whatever the umask: every mail taken in is in it. A folder or
    file left readable by an older version is tightened (when it is ours to change)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    for target, mode in [(path.parent, 0o700), *((path.with_name(path.name + s), 0o600) for s in ("", "-wal", "-shm"))]:
        if target == path:
            with contextlib.suppress(FileExistsError):
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        with contextlib.suppress(FileNotFoundError, PermissionError):
            if stat.S_IMODE(target.stat().st_mode) & ~mode:
                os.chmod(target, mode)


class StateLock:
    """One writer at a time: `run` holds this for its life, `once` for its pass."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "deadlinewatch.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StateError(
                f"{self.path.parent} is in use by another deadlinewatch (a running daemon?); "
                "stop it first, or use its control commands (status, approve, reject, preview)"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class Database:
    """The SQLite connection and what every part of the store shares: transactions, the schema, the key."""

    # every project's milestones, read at once, fill each project's entry of the cache too (see milestones())
    MILESTONES_BY_PROJECT = True

    def __init__(self, path: Path) -> None:
        self.path = path
        self._savepoints = 0
        self._milestones_cache: dict[str | None, list[Milestone]] = {}  # see milestones()
        self._milestones_written = 0  # counts the writes to milestones: see version()
        # project's reports by milestone, as of the newest report id then (see reports_by_milestone)
        self._reports_cache: dict[tuple[str, int], tuple[int, dict[str, list[Report]]]] = {}
        # every project's, likewise, by how many notes are kept (see reports_by_project)
        self._every_report: dict[int, tuple[int, dict[str, dict[str, list[Report]]]]] = {}
        self._pruned_for: dt.date | None = None  # the day old mail was last pruned for (see prune_mail)
        try:
            _private(path)
            self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = FULL")
            self.db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
            self.key = self._key()
        except (sqlite3.Error, OSError) as e:
            raise StateError(f"cannot open the state database {path}: {e}") from None

    def _key(self) -> bytes:
        """The state's secret key, made once (os.urandom) and never shown."""
        row = self.db.execute("SELECT value FROM keys WHERE name = 'ids'").fetchone()
        if row is None:
            with self.transaction() as db:
                db.execute("INSERT OR IGNORE INTO keys VALUES ('ids', ?)", (secrets.token_bytes(32),))
            row = self.db.execute("SELECT value FROM keys WHERE name = 'ids'").fetchone()
        return bytes(row[0])

    @classmethod
    def open(cls, state_dir: Path) -> Self:
        return cls(state_dir / "deadlinewatch.sqlite3")

    def close(self) -> None:
        self.db.close()

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StateError(
                f"{self.path} has schema version {version}, newer than this deadlinewatch knows "
                f"({len(MIGRATIONS)}); upgrade deadlinewatch"
            )
        for i in range(version, len(MIGRATIONS)):
            with self.transaction():
                for statement in _statements(MIGRATIONS[i].sql):
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {i + 1}")
            log.info("state: schema v%d → v%d: %s", i, i + 1, MIGRATIONS[i].what)

    def _forget_reads(self) -> None:
        """What was read inside a transaction that failed may hold its writes (a note recorded, then rolled back,
        and its id given again to the next one): the kept reads go, and the next read is from the table."""
        self._reports_cache.clear()
        self._every_report.clear()
        self._milestones_cache.clear()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One explicit transaction (BEGIN IMMEDIATE: one commit, one fsync, for everything inside); inside
        another, a savepoint: this step fails alone, the outer one goes on. Only for code that does not await
        inside it — another task's transaction must never land in the middle of one."""
        if self.db.in_transaction:
            self._savepoints += 1
            name = f"step{self._savepoints}"
            self.db.execute(f"SAVEPOINT {name}")
            try:
                yield self.db
            except BaseException as e:
                self.db.execute(f"ROLLBACK TO {name}")
                self.db.execute(f"RELEASE {name}")
                self._forget_reads()
                _refused(e)
                raise
            self.db.execute(f"RELEASE {name}")
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException as e:
            self.db.execute("ROLLBACK")
            self._forget_reads()
            _refused(e)
            raise
        self.db.execute("COMMIT")
