"""The state: one SQLite file in `daemon.state_dir`, versioned by `PRAGMA user_version` with migrations.

WAL with synchronous=FULL, and every change is one explicit `BEGIN IMMEDIATE` transaction, so a crash leaves
either all of a step or none of it. Every stage reads its input here and writes its output here; a restart
resumes where the last committed step left off.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import secrets
import sqlite3
import stat
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deadlinewatch.core.model import Forecast, Milestone, Report
from deadlinewatch.errors import StateError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Migration:
    """One step of the schema, from version i to i + 1: what it is for, in a few words, and its SQL."""

    what: str
    sql: str


# Each entry moves the schema from version i to i + 1. Never edit a released entry: append a new one.
MIGRATIONS: list[Migration] = [Migration(
    "milestones, inbox messages, notes, forecasts, client dates, the outbox, passes and servers",
    """
    CREATE TABLE milestones (
        project TEXT NOT NULL, uid TEXT NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL,
        deadline TEXT NOT NULL, state TEXT NOT NULL, private INTEGER NOT NULL, sequence INTEGER NOT NULL,
        percent INTEGER, start TEXT, href TEXT NOT NULL, synced_at TEXT NOT NULL,
        PRIMARY KEY (project, uid)
    );
    -- every message taken from the inbox, decided once; `moved` says whether the IMAP move happened
    CREATE TABLE messages (
        message_key TEXT PRIMARY KEY, message_id TEXT NOT NULL, sender TEXT NOT NULL, subject TEXT NOT NULL,
        received_at TEXT NOT NULL, outcome TEXT NOT NULL, target_folder TEXT NOT NULL, project TEXT,
        problems TEXT NOT NULL, raw BLOB NOT NULL, body TEXT NOT NULL, decided_at TEXT NOT NULL,
        moved INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE reports (
        id INTEGER PRIMARY KEY, message_key TEXT NOT NULL REFERENCES messages(message_key),
        project TEXT NOT NULL, uid TEXT NOT NULL, at TEXT NOT NULL, done INTEGER, remaining_days REAL,
        eta TEXT, cause TEXT NOT NULL, plan TEXT NOT NULL, blocked INTEGER NOT NULL, sender TEXT NOT NULL
    );
    CREATE INDEX reports_by_milestone ON reports (project, uid, at);
    CREATE TABLE forecasts (
        project TEXT NOT NULL, uid TEXT NOT NULL, computed_at TEXT NOT NULL, p50 TEXT, p80 TEXT, p_miss REAL,
        reason TEXT NOT NULL, target TEXT, PRIMARY KEY (project, uid)
    );
    -- what the client's calendar shows for each milestone: the SEQUENCE only ever grows
    CREATE TABLE client_dates (
        project TEXT NOT NULL, uid TEXT NOT NULL, sequence INTEGER NOT NULL, shown_date TEXT,
        promised TEXT, delivered_sent INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (project, uid)
    );
    -- the outbox: a message is composed and recorded here before any attempt to send it
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY, kind TEXT NOT NULL, audience TEXT NOT NULL, project TEXT, uid TEXT,
        token TEXT NOT NULL UNIQUE, message_id TEXT NOT NULL UNIQUE, mail_from TEXT NOT NULL,
        recipients TEXT NOT NULL, message BLOB NOT NULL, state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, created TEXT NOT NULL, sent TEXT, last_error TEXT,
        promised TEXT, decided_by TEXT
    );
    CREATE INDEX outbox_by_state ON outbox (state, id);
    CREATE TABLE passes (id INTEGER PRIMARY KEY, started TEXT NOT NULL, finished TEXT NOT NULL,
                         ok INTEGER NOT NULL, summary TEXT NOT NULL);
    CREATE TABLE servers (name TEXT PRIMARY KEY, ok INTEGER NOT NULL, detail TEXT NOT NULL,
                          checked_at TEXT NOT NULL);
    """)]

MIGRATIONS.append(Migration(
    "finish-to-start links, SMTP back-off, drafts pointing at their notice, cancellations sent",
    """
    -- finish-to-start links read from RELATED-TO (JSON list of [successor uid, gap days])
    ALTER TABLE milestones ADD COLUMN successors TEXT NOT NULL DEFAULT '[]';
    -- retries of temporary SMTP failures back off; a draft to the manager points at its held notice
    ALTER TABLE outbox ADD COLUMN next_attempt TEXT;
    ALTER TABLE outbox ADD COLUMN parent INTEGER;
    ALTER TABLE client_dates ADD COLUMN cancelled_sent INTEGER NOT NULL DEFAULT 0;
    """))

MIGRATIONS.append(Migration(
    "failed attempts at a message, each folder's UIDVALIDITY",
    """
    -- a message that made its processing fail: after MAX_ATTEMPTS it is filed as rejected (no poison stalls)
    CREATE TABLE message_failures (message_key TEXT PRIMARY KEY, attempts INTEGER NOT NULL, last_error TEXT NOT NULL);
    -- each folder's UIDVALIDITY as last seen: a change is logged (Message-IDs keep the rescan harmless)
    CREATE TABLE folders (name TEXT PRIMARY KEY, uidvalidity INTEGER NOT NULL);
    """))

MIGRATIONS.append(Migration(
    "calendar sync state, entries as fetched, the client-facing calendar copy",
    """
    -- each project's calendar: its resolved URL and the RFC 6578 sync token to ask with next time
    CREATE TABLE calendars (project TEXT PRIMARY KEY, ref TEXT NOT NULL, url TEXT NOT NULL, sync_token TEXT,
                            fingerprint TEXT NOT NULL DEFAULT '');
    -- every entry as last fetched: a change of config re-reads milestones from here, not from the server
    CREATE TABLE calendar_entries (project TEXT NOT NULL, href TEXT NOT NULL, etag TEXT NOT NULL,
                                   ics TEXT NOT NULL, recurring INTEGER NOT NULL DEFAULT 0,
                                   PRIMARY KEY (project, href));
    -- the client-facing calendar copy: what we last wrote for each milestone, and its ETag
    CREATE TABLE client_calendar (project TEXT NOT NULL, uid TEXT NOT NULL, url TEXT NOT NULL, etag TEXT,
                                  sequence INTEGER NOT NULL, date TEXT NOT NULL, status TEXT NOT NULL,
                                  PRIMARY KEY (project, uid));
    """))

MIGRATIONS.append(Migration(
    "the key of our ids and the CalDAV account, old mail found by date",
    """
    -- the key that makes our Message-IDs and [dw:…] tokens impossible for anyone else to compute (HMAC)
    CREATE TABLE keys (name TEXT PRIMARY KEY, value BLOB NOT NULL);
    -- the text of old mail is pruned after imap.keep_mail_days
    CREATE INDEX messages_by_decided ON messages (decided_at);
    """))

# the forecast reads a milestone's recent notes (the pace over three weeks, the latest statement, the latest
# cause and plan); older notes change nothing, and reading them all would make every note cost more than the last
RECENT_REPORTS = 200
_REPORT_COLUMNS = "project, uid, at, done, remaining_days, eta, cause, plan, blocked, sender"


def _report(r: Sequence[Any]) -> Report:
    """A row of `_REPORT_COLUMNS`, by position: evaluation reads every open milestone's notes each pass."""
    return Report(r[0], r[1], dt.datetime.fromisoformat(r[2]), r[3], r[4], _date(r[5]), r[6], r[7], bool(r[8]),
                  r[9])

CLIENT_KINDS = ("intro", "notice", "update", "cancel", "delivered", "weekly")


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


@dataclass(frozen=True)
class OutboxItem:
    id: int
    kind: str
    audience: str
    project: str | None
    uid: str | None
    token: str
    message_id: str
    mail_from: str
    recipients: tuple[str, ...]
    message: bytes
    state: str
    attempts: int
    created: dt.datetime
    sent: dt.datetime | None
    last_error: str | None
    promised: dt.date | None
    parent: int | None = None
    next_attempt: dt.datetime | None = None


@dataclass(frozen=True)
class ClientDate:
    """What the client's calendar shows of a milestone; SEQUENCE only ever grows."""

    sequence: int
    shown_date: dt.date | None
    promised: dt.date | None
    delivered_sent: bool
    cancelled_sent: bool = False


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


@dataclass(frozen=True)
class TrackRecord:
    """A milestone's first estimate and how it went: done by a note at `done_at`, or still `state`."""

    estimated_at: dt.datetime
    remaining_days: float | None
    eta: dt.date | None
    done_at: dt.datetime | None
    state: str


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._savepoints = 0
        self._milestones_cache: dict[str | None, list[Milestone]] = {}  # see milestones()
        self._milestones_written = 0  # counts the writes to milestones: see version()
        # project's reports by milestone, as of the newest report id then (see reports_by_milestone)
        self._reports_cache: dict[tuple[str, int], tuple[int, dict[str, list[Report]]]] = {}
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
    def open(cls, state_dir: Path) -> Store:
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

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One explicit transaction; inside a `batch()`, a savepoint: this step fails alone, the batch goes on."""
        if self.db.in_transaction:
            self._savepoints += 1
            name = f"step{self._savepoints}"
            self.db.execute(f"SAVEPOINT {name}")
            try:
                yield self.db
            except BaseException:
                self.db.execute(f"ROLLBACK TO {name}")
                self.db.execute(f"RELEASE {name}")
                raise
            self.db.execute(f"RELEASE {name}")
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Many steps, one commit (one fsync): the inbox decides a few hundred messages at a time. Only for code
        that does not await inside it — another task's transaction must never land in the middle of a batch."""
        with self.transaction():
            yield

    # --- milestones -----------------------------------------------------------------------------------

    # --- calendar sync state ----------------------------------------------------------------------------------

    def calendar_state(self, project: str) -> dict[str, Any] | None:
        r = self.db.execute("SELECT * FROM calendars WHERE project = ?", (project,)).fetchone()
        return dict(r) if r else None

    def save_calendar_token(self, project: str, ref: str, url: str, token: str | None, fingerprint: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO calendars (project, ref, url, sync_token, fingerprint)"
                       " VALUES (?,?,?,?,?)", (project, ref, url, token, fingerprint))

    def follow_server(self, server: str) -> bool:
        """The CalDAV account (caldav.url and username) the stored calendar URLs, sync tokens and client-calendar
        entries belong to. When the config names another, they are all forgotten in one transaction: credentials
        go only to the configured server, never to a URL remembered from the old one. The entries' texts stay
        (compared by ETag, they are read again from the new server). True when state was forgotten."""
        row = self.db.execute("SELECT value FROM keys WHERE name = 'caldav-server'").fetchone()
        if row is not None and bytes(row[0]).decode() == server:
            return False
        # no account recorded (a state from before it was): its URLs are of unknown origin, so they go too
        had = self.db.execute("SELECT 1 FROM calendars UNION ALL SELECT 1 FROM client_calendar LIMIT 1").fetchone()
        with self.transaction() as db:
            db.execute("DELETE FROM calendars")
            db.execute("DELETE FROM client_calendar")
            db.execute("INSERT OR REPLACE INTO keys VALUES ('caldav-server', ?)", (server.encode(),))
        return had is not None

    def forget_calendar(self, project: str) -> None:
        """Drop a calendar's URL and sync token (its entries stay, to be compared by ETag)."""
        with self.transaction() as db:
            db.execute("DELETE FROM calendars WHERE project = ?", (project,))

    def entry_etags(self, project: str) -> dict[str, str]:
        """A calendar's stored ETags. Asked from the CalDAV worker thread in the middle of a listing, so it reads
        through a connection of its own: the daemon's other stages keep using the main one on the event loop."""
        with contextlib.closing(sqlite3.connect(self.path.resolve().as_uri() + "?mode=ro", uri=True,
                                                  timeout=30)) as db:
            rows = db.execute("SELECT href, etag FROM calendar_entries WHERE project = ?", (project,))
            return dict(rows.fetchall())

    def entries(self, project: str, recurring_only: bool = False) -> list[tuple[str, str]]:
        sql = "SELECT href, ics FROM calendar_entries WHERE project = ?" + (" AND recurring = 1" if recurring_only
                                                                            else "")
        return [(r["href"], r["ics"]) for r in self.db.execute(sql, (project,))]

    def apply_calendar(
        self, project: str, *, ref: str, url: str, token: str | None, fingerprint: str,
        entries: Sequence[tuple[str, str, str, bool]], parsed: Mapping[str, Sequence[Milestone]],
        deleted: Sequence[str], kept: set[str], now: dt.datetime,
    ) -> list[str]:
        """One calendar's changes in one transaction: the entries (href, etag, ics, recurring) as fetched, the
        milestones parsed from each changed href, and the hrefs gone. Milestones that vanished from an entry or
        whose entry is gone are marked cancelled — except for `kept` hrefs (unreadable this time: they keep
        their last good state). The sync token is part of the same transaction: a token saved without the
        entries it stands for would hide those changes from every later incremental sync. Returns the UIDs that
        went away."""
        gone: list[str] = []
        with self.transaction() as db:
            self.save_calendar_token(project, ref, url, token, fingerprint)
            db.executemany("INSERT OR REPLACE INTO calendar_entries VALUES (?,?,?,?,?)",
                           [(project, h, e, ics, int(rec)) for h, e, ics, rec in entries])
            db.executemany("DELETE FROM calendar_entries WHERE project = ? AND href = ?",
                           [(project, h) for h in deleted])
            for href in [*parsed, *deleted]:
                if href in kept:
                    continue
                now_uids = {m.uid for m in parsed.get(href, ())}
                for r in db.execute("SELECT uid FROM milestones WHERE project = ? AND href = ? AND state != "
                                    "'cancelled'", (project, href)).fetchall():
                    if r["uid"] not in now_uids:
                        gone.append(r["uid"])
                        self._milestones_changed()
                        db.execute("UPDATE milestones SET state = 'cancelled', synced_at = ? WHERE project = ?"
                                   " AND uid = ?", (now.isoformat(), project, r["uid"]))
            for href, milestones in parsed.items():
                for m in milestones:
                    self._upsert_milestone(db, m, href, now)
        moved = {m.uid for ms in parsed.values() for m in ms}  # an entry that only changed its href is not gone
        return [uid for uid in gone if uid not in moved]

    def _milestones_changed(self) -> None:
        self._milestones_cache.clear()
        self._milestones_written += 1

    def version(self) -> tuple[int, int]:
        """Changes when the milestones or the reports do (reports are only ever added): what was learned from
        them before still holds while it is the same."""
        return self.db.execute("SELECT MAX(id) FROM reports").fetchone()[0] or 0, self._milestones_written

    def _upsert_milestone(self, db: sqlite3.Connection, m: Milestone, href: str, now: dt.datetime) -> None:
        self._milestones_changed()
        db.execute(
            "INSERT INTO milestones (project, uid, name, kind, deadline, state, private, sequence, percent,"
            " start, href, synced_at, successors) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT (project, uid) DO UPDATE SET "
            "name=excluded.name, kind=excluded.kind, deadline=excluded.deadline, state=excluded.state, "
            "private=excluded.private, sequence=excluded.sequence, percent=excluded.percent, "
            "start=excluded.start, href=excluded.href, synced_at=excluded.synced_at, "
            "successors=excluded.successors",
            (m.project, m.uid, m.name, m.kind, m.deadline.isoformat(), m.state, int(m.private), m.sequence,
             m.percent, _iso(m.start), href, now.isoformat(), json.dumps([list(s) for s in m.successors])),
        )

    def client_calendar_entry(self, project: str, uid: str) -> dict[str, Any] | None:
        r = self.db.execute("SELECT * FROM client_calendar WHERE project = ? AND uid = ?", (project, uid)).fetchone()
        return dict(r) if r else None

    def save_client_calendar_entry(self, project: str, uid: str, url: str, etag: str | None, sequence: int,
                                   date: dt.date, status: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO client_calendar VALUES (?,?,?,?,?,?,?)",
                       (project, uid, url, etag, sequence, date.isoformat(), status))

    def milestones(self, project: str | None = None) -> list[Milestone]:
        """A project's milestones (all, without one), in deadline order. Kept between calendar changes: the inbox
        asks for them with every note it answers (never cached from inside a transaction, which may roll back)."""
        cached = self._milestones_cache.get(project)
        if cached is not None:
            return list(cached)
        sql = "SELECT * FROM milestones" + (" WHERE project = ?" if project else "") + " ORDER BY deadline, name"
        rows = self.db.execute(sql, (project,) if project else ()).fetchall()
        found = self._milestones_from(rows)
        if not self.db.in_transaction:
            self._milestones_cache[project] = found
        return list(found)

    @staticmethod
    def _milestones_from(rows: Sequence[sqlite3.Row]) -> list[Milestone]:
        return [
            Milestone(project=r["project"], uid=r["uid"], name=r["name"],
                      deadline=dt.datetime.fromisoformat(r["deadline"]), kind=r["kind"], state=r["state"],
                      private=bool(r["private"]), sequence=r["sequence"], percent=r["percent"],
                      start=_datetime(r["start"]),
                      successors=tuple((uid, gap) for uid, gap in json.loads(r["successors"])))
            for r in rows
        ]

    # --- inbox ----------------------------------------------------------------------------------------

    def record_message(
        self,
        *,
        message_key: str,
        message_id: str,
        sender: str,
        subject: str,
        received_at: dt.datetime,
        outcome: str,
        target_folder: str,
        project: str | None,
        problems: Sequence[str],
        raw: bytes,
        body: str,
        reports: Sequence[Report],
        now: dt.datetime,
        outgoing: Sequence[dict[str, Any]] = (),
    ) -> None:
        """A decided message, its reports and the messages it causes (the reply), in one transaction."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO messages (message_key, message_id, sender, subject, received_at, outcome, target_folder,"
                " project, problems, raw, body, decided_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (message_key, message_id, sender, subject, received_at.isoformat(), outcome, target_folder, project,
                 json.dumps(list(problems), ensure_ascii=False), raw, body, now.isoformat()),
            )
            for r in reports:
                db.execute(
                    "INSERT INTO reports (message_key, project, uid, at, done, remaining_days, eta, cause, plan,"
                    " blocked, sender) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (message_key, r.project, r.uid, r.at.isoformat(), r.done, r.remaining_days, _iso(r.eta),
                     r.cause, r.plan, int(r.blocked), r.sender),
                )
            for item in outgoing:
                self._enqueue(db, **item)
            db.execute("DELETE FROM message_failures WHERE message_key = ?", (message_key,))

    def prune_mail(self, before: dt.datetime) -> int:
        """Forget the text of mail decided before `before` (imap.keep_mail_days): the decision and the notes'
        figures stay. Returns how many messages lost their text."""
        with self.transaction() as db:
            return int(db.execute("UPDATE messages SET raw = x'', body = '' WHERE decided_at < ?"
                                  " AND (length(raw) > 0 OR length(body) > 0)", (before.isoformat(),)).rowcount)

    def failing_messages(self) -> list[tuple[str, int, str]]:
        """Messages still in the inbox after failed attempts: (message key, attempts, last error)."""
        return [(r[0], r[1], r[2]) for r in self.db.execute(
            "SELECT f.message_key, f.attempts, f.last_error FROM message_failures f"
            " LEFT JOIN messages m USING (message_key) WHERE m.message_key IS NULL ORDER BY f.message_key")]

    def sent_since(self, kind: str, project: str, since: dt.datetime, uid: str | None = None) -> bool:
        """Was a message of this kind (about this milestone) recorded since then? How a weekly check-in or a
        nudge knows it was done for this slot or this silence."""
        sql = "SELECT created FROM outbox WHERE kind = ? AND project = ?"
        args: list[Any] = [kind, project]
        if uid is not None:
            sql += " AND uid = ?"
            args.append(uid)
        # times are stored with the offset they were made in: compared as times, not as text
        return any(dt.datetime.fromisoformat(r[0]) >= since for r in self.db.execute(sql + " ORDER BY id DESC"
                                                                                       " LIMIT 20", args))

    def record_outgoing(self, messages: Sequence[dict[str, Any]]) -> None:
        """Messages to the team or the manager, caused by something other than an incoming message."""
        with self.transaction() as db:
            for item in messages:
                if db.execute("SELECT 1 FROM outbox WHERE message_id = ?", (item["message_id"],)).fetchone():
                    continue  # the same note was recorded before (ids are deterministic)
                self._enqueue(db, **item)

    def mark_moved(self, message_keys: Sequence[str]) -> None:
        with self.transaction() as db:
            db.executemany("UPDATE messages SET moved = 1 WHERE message_key = ?", [(k,) for k in message_keys])

    def message_decisions(self, message_keys: Sequence[str]) -> dict[str, str]:
        """message key → target folder, for those of these messages already decided."""
        out: dict[str, str] = {}
        for i in range(0, len(message_keys), 500):
            chunk = list(message_keys[i:i + 500])
            rows = self.db.execute(f"SELECT message_key, target_folder FROM messages WHERE message_key IN "
                                   f"({','.join('?' * len(chunk))})", chunk)
            out.update({r["message_key"]: r["target_folder"] for r in rows})
        return out

    def record_failure(self, message_key: str, error: str) -> int:
        """Count one failed attempt at a message; returns the attempts so far."""
        with self.transaction() as db:
            db.execute("INSERT INTO message_failures VALUES (?, 1, ?) ON CONFLICT (message_key) DO UPDATE SET"
                       " attempts = attempts + 1, last_error = excluded.last_error", (message_key, error))
            return int(db.execute("SELECT attempts FROM message_failures WHERE message_key = ?",
                                  (message_key,)).fetchone()[0])

    def swap_uidvalidity(self, folder: str, uidvalidity: int) -> int | None:
        """Record a folder's UIDVALIDITY; returns the one seen before, if any."""
        with self.transaction() as db:
            row = db.execute("SELECT uidvalidity FROM folders WHERE name = ?", (folder,)).fetchone()
            db.execute("INSERT OR REPLACE INTO folders VALUES (?, ?)", (folder, uidvalidity))
        return int(row[0]) if row else None

    def reports_by_milestone(self, project: str, recent: int = RECENT_REPORTS) -> dict[str, list[Report]]:
        """Every milestone's latest `recent` reports in a project, oldest first: one query for the project, read
        in the order of the (project, uid, at) index (a window function to keep the latest costs 2.5x more)."""
        # reports are only ever added (by this process: the state lock makes it the one writer), so a project's
        # reports read before stay good until a newer row of that project exists; a pass with no new note reads
        # nothing again
        newest = self.db.execute("SELECT MAX(id) FROM reports").fetchone()[0] or 0
        cached = self._reports_cache.get((project, recent))
        if cached is not None and (cached[0] == newest or self.db.execute(
                "SELECT 1 FROM reports WHERE id > ? AND project = ? LIMIT 1", (cached[0], project)).fetchone() is None):
            self._reports_cache[(project, recent)] = (newest, cached[1])
            return dict(cached[1])
        rows = self.db.execute(f"SELECT {_REPORT_COLUMNS} FROM reports WHERE project = ? ORDER BY uid, at, id",
                               (project,))
        out: dict[str, list[Report]] = {}
        for r in rows:
            out.setdefault(r[1], []).append(_report(r))
        for uid, reports in out.items():
            if len(reports) > recent:
                out[uid] = reports[-recent:]
        self._reports_cache[(project, recent)] = (newest, out)
        return dict(out)

    def reports(self, project: str, uid: str, recent: int = RECENT_REPORTS) -> list[Report]:
        """A milestone's latest `recent` reports, oldest first."""
        rows = self.db.execute(f"SELECT * FROM (SELECT {_REPORT_COLUMNS}, id FROM reports WHERE project = ?"
                               " AND uid = ? ORDER BY at DESC, id DESC LIMIT ?) ORDER BY at, id",
                               (project, uid, recent))
        return [_report(r) for r in rows]

    def note_count(self) -> dict[str, int]:
        return {r["outcome"]: r["n"] for r in
                self.db.execute("SELECT outcome, COUNT(*) AS n FROM messages GROUP BY outcome")}

    # --- forecasts and client dates -----------------------------------------------------------------------

    def save_forecasts(self, forecasts: Sequence[Forecast], now: dt.datetime) -> None:
        """A pass's forecasts, in one transaction (one fsync, not one per milestone)."""
        with self.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO forecasts VALUES (?,?,?,?,?,?,?,?)",
                [(f.project, f.uid, now.isoformat(), _iso(f.p50), _iso(f.p80), f.p_miss, f.reason, _iso(f.target))
                 for f in forecasts],
            )

    def track_record(self, done: dict[tuple[str, str], dt.datetime] | None = None) -> list[TrackRecord]:
        """Every milestone's first estimate (the first note with a remaining time or an ETA) and, where a note
        declared it done, when: what the team's bias is learned from. Two grouped reads of the reports index
        (SQLite takes a bare column from the row of the MIN), not one query per milestone. `done`: done_at(),
        when the caller has it already."""
        firsts = self.db.execute(
            "SELECT project, uid, MIN(at), remaining_days, eta FROM reports"
            " WHERE remaining_days > 0 OR eta IS NOT NULL GROUP BY project, uid").fetchall()
        done = self.done_at() if done is None else done
        states = {(r[0], r[1]): r[2] for r in self.db.execute("SELECT project, uid, state FROM milestones")}
        return [TrackRecord(dt.datetime.fromisoformat(r[2]), r[3], _date(r[4]), done.get((r[0], r[1])),
                            states.get((r[0], r[1]), "cancelled")) for r in firsts]

    def done_at(self) -> dict[tuple[str, str], dt.datetime]:
        """When a note first declared each milestone done (Done: 100%), by (project, uid)."""
        return {(r[0], r[1]): dt.datetime.fromisoformat(r[2]) for r in self.db.execute(
            "SELECT project, uid, MIN(at) FROM reports WHERE done = 100 GROUP BY project, uid")}

    def forecast(self, project: str, uid: str) -> Forecast | None:
        r = self.db.execute("SELECT * FROM forecasts WHERE project = ? AND uid = ?", (project, uid)).fetchone()
        if r is None:
            return None
        return Forecast(r["project"], r["uid"], _date(r["p50"]), _date(r["p80"]), r["p_miss"], r["reason"],
                        _date(r["target"]))

    def at_risk(self, warn_probability: float) -> int:
        """Open milestones whose latest forecast reaches the warning threshold."""
        return int(self.db.execute(
            "SELECT COUNT(*) FROM forecasts f JOIN milestones m USING (project, uid)"
            " WHERE m.state = 'open' AND f.p_miss >= ?", (warn_probability,)).fetchone()[0])

    def client_date(self, project: str, uid: str) -> ClientDate | None:
        r = self.db.execute("SELECT * FROM client_dates WHERE project = ? AND uid = ?", (project, uid)).fetchone()
        return self._client_date(r) if r else None

    @staticmethod
    def _client_date(r: sqlite3.Row) -> ClientDate:
        return ClientDate(r["sequence"], _date(r["shown_date"]), _date(r["promised"]), bool(r["delivered_sent"]),
                          bool(r["cancelled_sent"]))

    def client_dates(self, project: str) -> dict[str, ClientDate]:
        rows = self.db.execute("SELECT * FROM client_dates WHERE project = ?", (project,))
        return {r["uid"]: self._client_date(r) for r in rows}

    def enqueue_client_group(
        self, messages: Sequence[dict[str, Any]], dates: Sequence[dict[str, Any]],
        to_manager: Callable[[int], dict[str, Any]] | None = None,
    ) -> int:
        """Client messages decided together, what they tell the client's calendar, and the manager's message
        about them (the draft when held, the why of a notice) — one transaction. The first message is the
        primary; the others point at it. Returns its id."""
        with self.transaction() as db:
            primary = 0
            for i, message in enumerate(messages):
                row = self._enqueue(db, **message, parent=primary if i else None)
                primary = primary or row
            for d in dates:
                db.execute(
                    "INSERT INTO client_dates (project, uid, sequence, shown_date, promised, delivered_sent,"
                    " cancelled_sent) VALUES (?,?,?,?,?,?,?) ON CONFLICT (project, uid) DO UPDATE SET"
                    " sequence = MAX(client_dates.sequence, excluded.sequence),"
                    " shown_date = COALESCE(excluded.shown_date, client_dates.shown_date),"
                    " promised = COALESCE(excluded.promised, client_dates.promised),"
                    " delivered_sent = MAX(client_dates.delivered_sent, excluded.delivered_sent),"
                    " cancelled_sent = MAX(client_dates.cancelled_sent, excluded.cancelled_sent)",
                    (d["project"], d["uid"], d["sequence"], _iso(d.get("shown_date")), _iso(d.get("promised")),
                     int(d.get("delivered", False)), int(d.get("cancelled", False))),
                )
            if to_manager is not None:
                self._enqueue(db, **to_manager(primary), parent=primary)
            return primary

    def first_client_message(self, project: str) -> OutboxItem | None:
        r = self.db.execute("SELECT * FROM outbox WHERE project = ? AND audience = 'client' ORDER BY id LIMIT 1",
                            (project,)).fetchone()
        return self._outbox_item(r) if r else None

    def client_message(self, message_id: str) -> OutboxItem | None:
        r = self.db.execute("SELECT * FROM outbox WHERE message_id = ? AND audience = 'client'",
                            (message_id,)).fetchone()
        return self._outbox_item(r) if r else None

    def notice_for_decision(self, token: str, references: Sequence[str]) -> OutboxItem | None:
        """The held (or once held) primary client message a manager's mail answers: by the token in its
        subject, or by the draft it replies to."""
        if token:
            r = self.db.execute("SELECT * FROM outbox WHERE token = ? AND audience = 'client' AND parent IS NULL",
                                (token,)).fetchone()
            if r:
                return self._outbox_item(r)
        for mid in references:
            r = self.db.execute("SELECT p.* FROM outbox d JOIN outbox p ON p.id = d.parent"
                                " WHERE d.message_id = ? AND d.kind = 'manager-draft'", (mid,)).fetchone()
            if r:
                return self._outbox_item(r)
        return None

    def decide(self, notice_id: int, approve: bool, *, now: dt.datetime, decided_by: str,
               released: bool = False) -> bool:
        """A held client message and the ones sent with it: pending (approved, or released undecided) or
        rejected. False when it is not held."""
        state = "pending" if approve else "rejected"
        with self.transaction() as db:
            moved = db.execute("UPDATE outbox SET state = ?, decided_by = ? WHERE id = ? AND state = 'held'",
                               (state, decided_by, notice_id)).rowcount
            if moved:
                db.execute("UPDATE outbox SET state = ?, decided_by = ? WHERE parent = ? AND audience = 'client'"
                           " AND state = 'held'", (state, decided_by, notice_id))
        return bool(moved)

    # --- outbox ---------------------------------------------------------------------------------------

    def _enqueue(
        self, db: sqlite3.Connection, *, kind: str, audience: str, project: str | None, uid: str | None,
        token: str, message_id: str, mail_from: str, recipients: Sequence[str], message: bytes, state: str,
        created: dt.datetime, promised: dt.date | None = None, parent: int | None = None,
    ) -> int:
        cur = db.execute(
            "INSERT INTO outbox (kind, audience, project, uid, token, message_id, mail_from, recipients, message,"
            " state, created, promised, parent) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (kind, audience, project, uid, token, message_id, mail_from, json.dumps(list(recipients)), message,
             state, created.isoformat(), _iso(promised), parent),
        )
        return int(cur.lastrowid or 0)

    @staticmethod
    def _outbox_item(r: sqlite3.Row) -> OutboxItem:
        return OutboxItem(
            id=r["id"], kind=r["kind"], audience=r["audience"], project=r["project"], uid=r["uid"], token=r["token"],
            message_id=r["message_id"], mail_from=r["mail_from"], recipients=tuple(json.loads(r["recipients"])),
            message=bytes(r["message"]), state=r["state"], attempts=r["attempts"],
            created=dt.datetime.fromisoformat(r["created"]), sent=_datetime(r["sent"]), last_error=r["last_error"],
            promised=_date(r["promised"]), parent=r["parent"], next_attempt=_datetime(r["next_attempt"]),
        )

    def outbox(self, states: Sequence[str] | None = None, audience: str | None = None) -> list[OutboxItem]:
        sql, args = "SELECT * FROM outbox WHERE 1=1", []
        if states:
            sql += f" AND state IN ({','.join('?' * len(states))})"
            args += list(states)
        if audience:
            sql += " AND audience = ?"
            args.append(audience)
        return [self._outbox_item(r) for r in self.db.execute(sql + " ORDER BY id", args)]

    def outbox_item(self, notice_id: int) -> OutboxItem | None:
        r = self.db.execute("SELECT * FROM outbox WHERE id = ?", (notice_id,)).fetchone()
        return self._outbox_item(r) if r else None

    def is_our_message_id(self, message_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM outbox WHERE message_id = ?", (message_id,)).fetchone() is not None

    def notice_by_message_ids(self, message_ids: Sequence[str]) -> OutboxItem | None:
        for mid in message_ids:
            r = self.db.execute("SELECT * FROM outbox WHERE message_id = ? AND audience = 'client'", (mid,)).fetchone()
            if r:
                return self._outbox_item(r)
        return None

    def set_outbox_state(self, notice_id: int, state: str, *, now: dt.datetime, error: str | None = None,
                         attempt: bool = False, expect: Sequence[str] | None = None, decided_by: str | None = None,
                         next_attempt: dt.datetime | None = None) -> bool:
        """Move a message to `state`; with `expect`, only from one of those states. True when it moved."""
        with self.transaction() as db:
            sql = "UPDATE outbox SET state = ?, last_error = COALESCE(?, last_error)"
            args: list[Any] = [state, error]
            if attempt:
                sql += ", attempts = attempts + 1"
            if state == "sent":
                sql += ", sent = ?"
                args.append(now.isoformat())
            if decided_by:
                sql += ", decided_by = ?"
                args.append(decided_by)
            sql += ", next_attempt = ?"
            args.append(_iso(next_attempt))
            sql += " WHERE id = ?"
            args.append(notice_id)
            if expect:
                sql += f" AND state IN ({','.join('?' * len(expect))})"
                args += list(expect)
            return db.execute(sql, args).rowcount == 1

    # --- passes and servers ---------------------------------------------------------------------------------

    def record_pass(self, started: dt.datetime, finished: dt.datetime, ok: bool, summary: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO passes (started, finished, ok, summary) VALUES (?,?,?,?)",
                       (started.isoformat(), finished.isoformat(), int(ok), summary))

    def last_pass(self) -> dict[str, Any] | None:
        r = self.db.execute("SELECT * FROM passes ORDER BY id DESC LIMIT 1").fetchone()
        return dict(r) if r else None

    def set_server(self, name: str, ok: bool, detail: str, now: dt.datetime) -> None:
        """A server's health; written only when it changes (a pass must not cost an fsync per server)."""
        row = self.db.execute("SELECT ok, detail FROM servers WHERE name = ?", (name,)).fetchone()
        if row is not None and (bool(row["ok"]), row["detail"]) == (ok, detail):
            return
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO servers VALUES (?,?,?,?)", (name, int(ok), detail, now.isoformat()))

    def servers(self) -> dict[str, dict[str, Any]]:
        rows = self.db.execute("SELECT * FROM servers")
        return {r["name"]: {"ok": bool(r["ok"]), "detail": r["detail"]} for r in rows}
