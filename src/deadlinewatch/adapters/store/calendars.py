"""Calendar sync state, the entries as fetched, the milestones parsed from them, and the client-facing calendar copy."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
from collections.abc import Mapping, Sequence

from deadlinewatch.adapters.store.database import Database, _datetime, _iso
from deadlinewatch.adapters.store.port import CalendarSync, ClientCalendarEntry
from deadlinewatch.core.model import Milestone


class Calendars(Database):
    """Calendar sync state, entries as fetched, the milestones parsed from them, the client-facing copy."""

    def calendar_state(self, project: str) -> CalendarSync | None:
        r = self.db.execute("SELECT ref, url, sync_token, fingerprint FROM calendars WHERE project = ?",
                            (project,)).fetchone()
        return CalendarSync(*r) if r else None

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
            if project is None and self.MILESTONES_BY_PROJECT:
                # every project's milestones read at once (a pass's team spread, first) are each project's too:
                # its evaluation then reads them from here, not once more per project (in the same order)
                by_project: dict[str | None, list[Milestone]] = {}
                for m in found:
                    by_project.setdefault(m.project, []).append(m)
                self._milestones_cache.update(by_project)
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

    def client_calendar_entry(self, project: str, uid: str) -> ClientCalendarEntry | None:
        r = self.db.execute("SELECT url, etag, sequence, date, status FROM client_calendar WHERE project = ? AND"
                            " uid = ?", (project, uid)).fetchone()
        return ClientCalendarEntry(r[0], r[1], r[2], dt.date.fromisoformat(r[3]), r[4]) if r else None

    def client_calendar_entries(self, project: str) -> dict[str, ClientCalendarEntry]:
        rows = self.db.execute("SELECT uid, url, etag, sequence, date, status FROM client_calendar WHERE project = ?",
                               (project,))
        return {r[0]: ClientCalendarEntry(r[1], r[2], r[3], dt.date.fromisoformat(r[4]), r[5]) for r in rows}

    def save_client_calendar_entry(self, project: str, uid: str, url: str, etag: str | None, sequence: int,
                                   date: dt.date, status: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO client_calendar VALUES (?,?,?,?,?,?,?)",
                       (project, uid, url, etag, sequence, date.isoformat(), status))

    def forget_client_calendar_entry(self, project: str, uid: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM client_calendar WHERE project = ? AND uid = ?", (project, uid))
