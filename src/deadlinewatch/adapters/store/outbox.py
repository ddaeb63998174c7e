"""The outbox (every message, recorded before any attempt to send it) and what the client's calendar shows of
each milestone. `enqueue` writes one message; the inbox's part records the reply to a note with it, in the note's
transaction."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from deadlinewatch.adapters.store.database import Database, _date, _datetime, _iso
from deadlinewatch.adapters.store.port import (
    VOID_WITH_THEIR_LETTER,
    ClientRecord,
    OutboxItem,
    group_state,
    superseded_by,
)
from deadlinewatch.core.model import ClientDate, QueueMail, ShowDate


def enqueue(db: sqlite3.Connection, mail: QueueMail, parent: int | None = None) -> int:
    """One message into the outbox, inside the caller's transaction; its id."""
    cur = db.execute(
        "INSERT INTO outbox (kind, audience, project, uid, token, message_id, mail_from, recipients, message,"
        " state, created, promised, parent, next_attempt, decided_by, basis, shadow)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (mail.kind, mail.audience, mail.project, mail.uid, mail.token, mail.message_id, mail.mail_from,
         json.dumps(list(mail.recipients)), mail.message, mail.state, mail.created.isoformat(),
         _iso(mail.promised), parent, _iso(mail.not_before), mail.decided_by, _iso(mail.basis),
         int(mail.shadow)),
    )
    return int(cur.lastrowid or 0)


def shows_json(dates: Sequence[ShowDate]) -> str:
    """A group's dates as stored beside its primary message (the outbox's `shows` column)."""
    return json.dumps([{f.name: v.isoformat() if isinstance(v, dt.date) else v
                        for f in fields(d) for v in [getattr(d, f.name)]} for d in dates])


def shows_from_json(text: str) -> tuple[ShowDate, ...]:
    def day(v: str | None) -> dt.date | None:
        return dt.date.fromisoformat(v) if v else None

    return tuple(ShowDate(d["project"], d["uid"], int(d["sequence"]), day(d["shown_date"]), day(d["promised"]),
                          bool(d["delivered"]), bool(d["cancelled"]), bool(d["invited"]), d.get("entry_uid"),
                          bool(d.get("reinstated")), day(d.get("planned")))
                 for d in json.loads(text))


class Outbox(Database):
    """The outbox and the client dates."""

    def client_date(self, project: str, uid: str) -> ClientDate | None:
        """What the client's calendar shows of one milestone (the group's SEQUENCE rule reads it)."""
        r = self.db.execute("SELECT * FROM client_dates WHERE project = ? AND uid = ?", (project, uid)).fetchone()
        return self._client_date(r) if r else None

    @staticmethod
    def _client_date(r: sqlite3.Row) -> ClientDate:
        return ClientDate(r["sequence"], _date(r["shown_date"]), _date(r["promised"]), bool(r["delivered_sent"]),
                          bool(r["cancelled_sent"]), bool(r["invited"]))

    def client_dates(self, project: str) -> dict[str, ClientDate]:
        rows = self.db.execute("SELECT * FROM client_dates WHERE project = ?", (project,))
        return {r["uid"]: self._client_date(r) for r in rows}

    def entry_uids(self, project: str) -> dict[str, str]:
        """The UID each milestone's entry in the client's calendar went out with (the first one recorded)."""
        rows = self.db.execute("SELECT uid, entry_uid FROM client_entries WHERE project = ?", (project,))
        return {r["uid"]: r["entry_uid"] for r in rows}

    def enqueue_client_group(self, messages: Sequence[QueueMail], dates: Sequence[ShowDate]) -> int:
        """Client messages decided together and what they tell the client's calendar (with the UID of each entry),
        in one transaction. The first message is the primary; the others point at it. Returns its id (the manager's
        messages about the group are recorded after it, with it as their parent: ManagerCopy)."""
        with self.transaction() as db:
            primary = 0
            for i, message in enumerate(messages):
                row = enqueue(db, message, parent=primary if i else None)
                primary = primary or row
            lead = messages[0] if messages else None
            if lead is not None and lead.kind == "notice":
                # a newer notice for the same milestone replaces one still held: the manager decides the latest
                stale = [r[0] for r in db.execute(
                    "SELECT id FROM outbox WHERE project = ? AND uid = ? AND kind = 'notice' AND state = 'held'"
                    " AND parent IS NULL AND id != ?", (lead.project, lead.uid, primary))]
                for old in stale:
                    db.execute("UPDATE outbox SET state = 'rejected', decided_by = ? WHERE (id = ? OR parent = ?)"
                               " AND state = 'held'", (superseded_by(primary), old, old))
            for d in dates:
                shown = ClientDate.after(self.client_date(d.project, d.uid), d)
                db.execute("INSERT OR REPLACE INTO client_dates (project, uid, sequence, shown_date, promised,"
                           " delivered_sent, cancelled_sent, invited) VALUES (?,?,?,?,?,?,?,?)",
                           (d.project, d.uid, shown.sequence, _iso(shown.shown_date), _iso(shown.promised),
                            int(shown.delivered_sent), int(shown.cancelled_sent), int(shown.invited)))
                if d.entry_uid:  # an entry keeps the UID it first went out with
                    db.execute("INSERT OR IGNORE INTO client_entries (project, uid, entry_uid) VALUES (?,?,?)",
                               (d.project, d.uid, d.entry_uid))
            if primary:
                db.execute("UPDATE outbox SET shows = ? WHERE id = ?", (shows_json(dates), primary))
            return primary

    def notice_times(self, project: str) -> dict[str, dt.datetime]:
        """When each milestone's latest notice that told the client was recorded (sent or on its way; not held
        for the manager, not rejected, not refused by the client's server, not composed under approval = "shadow")."""
        rows = self.db.execute("SELECT uid, created FROM outbox WHERE project = ? AND kind = 'notice' AND"
                               " state NOT IN ('rejected', 'held', 'failed') AND shadow = 0 ORDER BY id", (project,))
        return {r["uid"]: dt.datetime.fromisoformat(r["created"]) for r in rows}

    def held_notices(self, project: str) -> dict[str, dt.datetime]:
        """The time of the newest note each milestone's notice still held for the manager was composed from."""
        rows = self.db.execute("SELECT uid, COALESCE(basis, created) AS basis FROM outbox WHERE project = ? AND"
                               " kind = 'notice' AND state = 'held' AND parent IS NULL ORDER BY id", (project,))
        return {r["uid"]: dt.datetime.fromisoformat(r["basis"]) for r in rows}

    def shown_groups(self, project: str) -> list[tuple[str, tuple[ShowDate, ...]]]:
        """Each client group's state and the dates it gave the client's calendar, oldest first."""
        rows = self.db.execute("SELECT state, shadow, decided_by, shows FROM outbox WHERE project = ? AND"
                               " audience = 'client' AND parent IS NULL AND shows IS NOT NULL ORDER BY id", (project,))
        return [(group_state(r["state"], r["shadow"], r["decided_by"]), shows_from_json(r["shows"])) for r in rows]

    def client_records(self, project: str | None = None) -> dict[str, ClientRecord]:
        """Every project's client record (one project's, with `project`): the client dates, the entries' UIDs, and
        the outbox's client messages and notices read once each, in id order, and sorted out here as
        first_client_message, shown_groups, notice_times and held_notices sort them (their bytes left unread)."""
        where, args = (" WHERE project = ?", (project,)) if project else ("", ())
        records: dict[str, ClientRecord] = {}

        def of(name: str) -> ClientRecord:
            if (found := records.get(name)) is None:
                found = records[name] = ClientRecord()
            return found

        for r in self.db.execute("SELECT * FROM client_dates" + where, args):
            of(r["project"]).dates[r["uid"]] = self._client_date(r)
        for r in self.db.execute("SELECT project, uid, entry_uid FROM client_entries" + where, args):
            of(r["project"]).entry_uids[r["uid"]] = r["entry_uid"]
        rows = self.db.execute(
            "SELECT project, uid, kind, audience, state, shadow, decided_by, parent, created, sent, basis, shows"
            " FROM outbox"
            + (where + " AND" if where else " WHERE project IS NOT NULL AND")
            + " (audience = 'client' OR kind = 'notice') ORDER BY id", args)
        shadows: dict[str, ClientRecord] = {}  # what the messages composed under shadow add (ClientRecord.shadow)
        for r in rows:
            name, record = r["project"], of(r["project"])
            counted = shadows.setdefault(name, ClientRecord()) if r["shadow"] else record
            if r["audience"] == "client" and counted.first_sent is None:
                counted = dataclasses.replace(counted, first_sent=dt.datetime.fromisoformat(r["created"]))
                if r["shadow"]:
                    shadows[name] = counted
                else:
                    record = records[name] = counted
            if r["kind"] == "notice" and r["state"] not in ("rejected", "held", "failed"):
                counted.told[r["uid"]] = dt.datetime.fromisoformat(r["created"])
                counted.sent[r["uid"]] = dt.datetime.fromisoformat(r["sent"] or r["created"])
                if not r["shadow"]:
                    (record.unsent.add if r["state"] in ("pending", "sending") else record.unsent.discard)(r["uid"])
            if r["kind"] == "notice" and r["state"] == "held" and r["parent"] is None:
                record.held[r["uid"]] = dt.datetime.fromisoformat(r["basis"] or r["created"])
            if r["audience"] == "client" and r["parent"] is None and r["shows"] is not None:
                record.groups.append((group_state(r["state"], r["shadow"], r["decided_by"]),
                                      shows_from_json(r["shows"])))
        for name, shadow in shadows.items():
            records[name] = dataclasses.replace(records[name], shadow=shadow)
        return records

    def first_client_message(self, project: str) -> OutboxItem | None:
        r = self.db.execute("SELECT * FROM outbox WHERE project = ? AND audience = 'client' AND shadow = 0"
                            " ORDER BY id LIMIT 1", (project,)).fetchone()
        return self._outbox_item(r) if r else None

    def client_message(self, message_ids: Sequence[str]) -> OutboxItem | None:
        for mid in message_ids:
            r = self.db.execute("SELECT * FROM outbox WHERE message_id = ? AND audience = 'client'", (mid,)).fetchone()
            if r:
                return self._outbox_item(r)
        return None

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

    def decide(self, notice_id: int, approve: bool, *, now: dt.datetime, decided_by: str) -> bool:
        """A held client message and the ones held with it (the group's other client messages, a reminder it
        schedules): pending (approved, or released undecided) or rejected. False when it is not held."""
        # imported here: the store opens before READY (daemon.py), and the email package MIME needs is a tenth of
        # a second the daemon's start need not wait for
        from deadlinewatch.core.mime import redated

        state = "pending" if approve else "rejected"
        with self.transaction() as db:
            held = db.execute("SELECT id, message FROM outbox WHERE (id = ? OR parent = ?) AND state = 'held'",
                              (notice_id, notice_id)).fetchall()
            if notice_id not in {r["id"] for r in held}:
                return False
            for r in held:  # approved, each goes out dated the day it was decided (mime.redated)
                message = redated(bytes(r["message"]), now) if approve else bytes(r["message"])
                db.execute("UPDATE outbox SET state = ?, decided_by = ?, message = ? WHERE id = ?",
                           (state, decided_by, message, r["id"]))
        return True

    @staticmethod
    def _outbox_item(r: sqlite3.Row) -> OutboxItem:
        return OutboxItem(
            id=r["id"], kind=r["kind"], audience=r["audience"], project=r["project"], uid=r["uid"], token=r["token"],
            message_id=r["message_id"], mail_from=r["mail_from"], recipients=tuple(json.loads(r["recipients"])),
            message=bytes(r["message"]), state=r["state"], attempts=r["attempts"],
            created=dt.datetime.fromisoformat(r["created"]), sent=_datetime(r["sent"]), last_error=r["last_error"],
            promised=_date(r["promised"]), parent=r["parent"], next_attempt=_datetime(r["next_attempt"]),
            decided_by=r["decided_by"], shadow=bool(r["shadow"]),
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
            moved = db.execute(sql, args).rowcount == 1
            if moved and state == "failed":
                db.execute(f"UPDATE outbox SET state = 'rejected', decided_by = 'its letter failed' WHERE parent = ?"
                           f" AND kind IN ({','.join('?' * len(VOID_WITH_THEIR_LETTER))}) AND state IN"
                           " ('pending', 'held')", (notice_id, *VOID_WITH_THEIR_LETTER))
            return moved

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

    def record_outgoing(self, messages: Sequence[QueueMail], parent: int | None = None) -> None:
        """Messages to the team or the manager, caused by something other than an incoming message."""
        with self.transaction() as db:
            for mail in messages:
                if db.execute("SELECT 1 FROM outbox WHERE message_id = ?", (mail.message_id,)).fetchone():
                    continue  # the same note was recorded before (ids are deterministic)
                enqueue(db, mail, parent=parent)
