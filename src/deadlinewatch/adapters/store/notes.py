"""Progress notes as recorded, read back per milestone, and the track record the team's bias is learned from."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from itertools import groupby
from operator import itemgetter
from sys import intern
from typing import Any

from deadlinewatch.adapters.store.database import Database, _date
from deadlinewatch.adapters.store.port import RECENT_REPORTS, TrackRecord
from deadlinewatch.core.model import Milestone, Report

_REPORT_COLUMNS = "project, uid, at, done, remaining_days, eta, cause, plan, blocked, sender, prevent"


def _report(r: Sequence[Any]) -> Report:
    """A row of `_REPORT_COLUMNS`, by position: evaluation reads every open milestone's notes each pass. The
    project, milestone and sender repeat across a milestone's notes: one string each (sys.intern), not a copy
    per row — the notes kept between passes were the largest part of a daemon's memory."""
    return Report(intern(r[0]), intern(r[1]), dt.datetime.fromisoformat(r[2]), r[3], r[4], _date(r[5]), r[6],
                  r[7], bool(r[8]), intern(r[9]), r[10])


def _at(r: Report) -> str:
    """A note's time as the reports table orders it: its ISO text (the zone it was written in kept)."""
    return r.at.isoformat()


class Notes(Database):
    """Progress notes as recorded, read back per milestone, and the track record the team's bias is learned from."""

    def reports_by_milestone(self, project: str, recent: int = RECENT_REPORTS) -> dict[str, list[Report]]:
        """Every milestone's latest `recent` reports in a project, oldest first: one query for the project, read
        in the order of the (project, uid, at) index (a window function to keep the latest costs 2.5x more)."""
        # reports are only ever added (by this process: the state lock makes it the one writer), so a project's
        # reports read before stay good until a newer row of that project exists; a pass with no new note reads
        # nothing again
        newest = self.db.execute("SELECT MAX(id) FROM reports").fetchone()[0] or 0
        cached = self._reports_cache.get((project, recent))
        if cached is not None:
            # only the rows added since are read, each milestone's kept notes merged with its new ones: the inbox
            # reads a project again each batch of mail, and reading all of its notes each time grew with the
            # inbox (10,000 notes: a quarter of a million rows read back)
            added = self.db.execute(f"SELECT {_REPORT_COLUMNS} FROM reports WHERE id > ? AND project = ?"
                                    " ORDER BY uid, at, id", (cached[0], project)).fetchall() if cached[0] != newest \
                else []
            out = dict(cached[1])
            for uid, group in groupby(added, itemgetter(1)):
                # stable: a kept note of the same time stays before a newer row, as ORDER BY at, id gives them
                out[uid] = sorted([*out.get(uid, ()), *map(_report, group)], key=_at)[-recent:]
            self._reports_cache[(project, recent)] = (newest, out)
            return dict(out)
        rows = self.db.execute(f"SELECT {_REPORT_COLUMNS} FROM reports WHERE project = ? ORDER BY uid, at, id",
                               (project,))
        # the rows come milestone by milestone (ORDER BY uid): each milestone's notes made in one sweep, and only
        # its latest `recent` of them kept
        out = {uid: [_report(r) for r in group][-recent:] for uid, group in groupby(rows, itemgetter(1))}
        self._reports_cache[(project, recent)] = (newest, out)
        return dict(out)

    def reports_by_project(self, recent: int = RECENT_REPORTS) -> dict[str, dict[str, list[Report]]]:
        """Every project's reports_by_milestone, read at once: one query in the order of the (project, uid, at)
        index, not one per project. Kept as reports_by_milestone keeps a project's: a pass with no new note reads
        nothing again, and one after a few new notes reads again only the projects they are about."""
        newest = self.db.execute("SELECT MAX(id) FROM reports").fetchone()[0] or 0
        cached = self._every_report.get(recent)
        if cached is not None and cached[0] == newest:
            return dict(cached[1])
        if cached is None:
            rows = self.db.execute(f"SELECT {_REPORT_COLUMNS} FROM reports ORDER BY project, uid, at, id")
            out = {project: {uid: [_report(r) for r in notes][-recent:] for uid, notes in groupby(group, itemgetter(1))}
                   for project, group in groupby(rows, itemgetter(0))}
        else:
            out = dict(cached[1])
            for (project,) in self.db.execute("SELECT DISTINCT project FROM reports WHERE id > ?",
                                              (cached[0],)).fetchall():
                out[project] = self.reports_by_milestone(project, recent)
        self._every_report[recent] = (newest, out)
        return dict(out)

    def reports(self, project: str, uid: str, recent: int = RECENT_REPORTS) -> list[Report]:
        """A milestone's latest `recent` reports, oldest first."""
        rows = self.db.execute(f"SELECT * FROM (SELECT {_REPORT_COLUMNS}, id FROM reports WHERE project = ?"
                               " AND uid = ? ORDER BY at DESC, id DESC LIMIT ?) ORDER BY at, id",
                               (project, uid, recent))
        return [_report(r) for r in rows]

    def track_record(self, done: dict[tuple[str, str], dt.datetime] | None = None,
                     milestones: Sequence[Milestone] | None = None) -> list[TrackRecord]:
        """Every milestone's first estimate (the first note with a remaining time or an ETA) and, where a note
        declared it done, when: what the team's bias is learned from. Two grouped reads of the reports index
        (SQLite takes a bare column from the row of the MIN), not one query per milestone. `done`: done_at(), and
        `milestones`: every milestone, when the caller has them already (the team's spread does)."""
        firsts = self.db.execute(
            "SELECT project, uid, MIN(at), remaining_days, eta FROM reports"
            " WHERE remaining_days > 0 OR eta IS NOT NULL GROUP BY project, uid").fetchall()
        done = self.done_at() if done is None else done
        states = {(m.project, m.uid): m.state for m in milestones} if milestones is not None else {
            (r[0], r[1]): r[2] for r in self.db.execute("SELECT project, uid, state FROM milestones")}
        return [TrackRecord(dt.datetime.fromisoformat(r[2]), r[3], _date(r[4]), done.get((r[0], r[1])),
                            states.get((r[0], r[1]), "cancelled"), (r[0], r[1])) for r in firsts]

    def done_at(self) -> dict[tuple[str, str], dt.datetime]:
        """When a note first declared each milestone done (Done: 100%), by (project, uid)."""
        return {(r[0], r[1]): dt.datetime.fromisoformat(r[2]) for r in self.db.execute(
            "SELECT project, uid, MIN(at) FROM reports WHERE done = 100 GROUP BY project, uid")}
