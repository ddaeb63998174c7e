"""Every message taken from the inbox, decided once: its decision, what it caused, its failures, and each
folder's UIDVALIDITY."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator, Sequence

from deadlinewatch.adapters.store.database import Database, _iso
from deadlinewatch.adapters.store.outbox import enqueue
from deadlinewatch.core.model import Place, QueueMail, Report

IN_CHUNK = 500  # values asked for in one IN (...): below the 999 parameters older SQLite builds allow a statement


class Inbox(Database):
    """Every message taken from the inbox, decided once, with what it caused (its reply queued by the outbox's
    `enqueue`, in the same transaction)."""

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
        outgoing: Sequence[QueueMail] = (),
        place: Place | None = None,
    ) -> None:
        """A decided message, its reports and the messages it causes (the reply), in one transaction. Its key or
        its place recorded before is a StateConflict (the schema's uniqueness)."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO messages (message_key, message_id, sender, subject, received_at, outcome, target_folder,"
                " project, problems, raw, body, decided_at, mailbox, uidvalidity, uid)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (message_key, message_id, sender, subject, received_at.isoformat(), outcome, target_folder, project,
                 json.dumps(list(problems), ensure_ascii=False), raw, body, now.isoformat(),
                 *((place.mailbox, place.uidvalidity, place.uid) if place else (None, None, None))),
            )
            for r in reports:
                db.execute(
                    "INSERT INTO reports (message_key, project, uid, at, done, remaining_days, eta, cause, plan,"
                    " blocked, sender, prevent) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (message_key, r.project, r.uid, r.at.isoformat(), r.done, r.remaining_days, _iso(r.eta),
                     r.cause, r.plan, int(r.blocked), r.sender, r.prevent),
                )
            for item in outgoing:
                enqueue(db, item)
            db.execute("DELETE FROM message_failures WHERE message_key = ?", (message_key,))

    def prune_mail(self, before: dt.datetime) -> int:
        """Forget the text of mail decided before `before` (imap.keep_mail_days): the decision and the notes'
        figures stay. Once a day is enough (the first reading of each day); returns how many lost their text."""
        if self._pruned_for == before.date():
            return 0
        with self.transaction() as db:
            pruned = int(db.execute("UPDATE messages SET raw = x'', body = '' WHERE decided_at < ?"
                                    " AND (length(raw) > 0 OR length(body) > 0)", (before.isoformat(),)).rowcount)
        self._pruned_for = before.date()
        return pruned

    def failing_messages(self) -> list[tuple[str, int, str]]:
        """Messages still in the inbox after failed attempts: (message key, attempts, last error)."""
        return [(r[0], r[1], r[2]) for r in self.db.execute(
            "SELECT f.message_key, f.attempts, f.last_error FROM message_failures f"
            " LEFT JOIN messages m USING (message_key) WHERE m.message_key IS NULL ORDER BY f.message_key")]

    def mark_moved(self, message_keys: Sequence[str]) -> None:
        with self.transaction() as db:
            db.executemany("UPDATE messages SET moved = 1 WHERE message_key = ?", [(k,) for k in message_keys])

    def _rows_in(self, sql: str, params: Sequence[object], values: Sequence[object]) -> Iterator[sqlite3.Row]:
        """The rows of `sql`, which ends in "IN", for each of `values`: asked IN_CHUNK at a time (SQLite bounds the
        parameters of one statement)."""
        for i in range(0, len(values), IN_CHUNK):
            chunk = list(values[i:i + IN_CHUNK])
            yield from self.db.execute(f"{sql} ({','.join('?' * len(chunk))})", [*params, *chunk])

    def message_decisions(self, message_keys: Sequence[str]) -> dict[str, str]:
        """message key → target folder, for those of these messages already decided."""
        return {r["message_key"]: r["target_folder"] for r in self._rows_in(
            "SELECT message_key, target_folder FROM messages WHERE message_key IN", (), message_keys)}

    def placed_decisions(self, mailbox: str, uidvalidity: int, uids: Sequence[int]) -> dict[int, tuple[str, str]]:
        """UID → (message key, target folder), for those of these messages of the mailbox (under this
        UIDVALIDITY) decided."""
        return {int(r["uid"]): (r["message_key"], r["target_folder"]) for r in self._rows_in(
            "SELECT uid, message_key, target_folder FROM messages WHERE mailbox = ? AND uidvalidity = ? AND uid IN",
            (mailbox, uidvalidity), uids)}

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

    def note_count(self) -> dict[str, int]:
        return {r["outcome"]: r["n"] for r in
                self.db.execute("SELECT outcome, COUNT(*) AS n FROM messages GROUP BY outcome")}
