"""The passes run and each server's health, for `status` and systemd's STATUS."""

from __future__ import annotations

import datetime as dt

from deadlinewatch.adapters.store.database import Database
from deadlinewatch.adapters.store.port import PassRecord, ServerHealth


class Health(Database):
    """The passes run and each server's health, for `status` and systemd's STATUS."""

    def record_pass(self, started: dt.datetime, finished: dt.datetime, ok: bool, summary: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO passes (started, finished, ok, summary) VALUES (?,?,?,?)",
                       (started.isoformat(), finished.isoformat(), int(ok), summary))

    def last_pass(self) -> PassRecord | None:
        r = self.db.execute("SELECT started, finished, ok, summary FROM passes ORDER BY id DESC LIMIT 1").fetchone()
        return PassRecord(dt.datetime.fromisoformat(r[0]), dt.datetime.fromisoformat(r[1]), bool(r[2]),
                          r[3]) if r else None

    def set_server(self, name: str, ok: bool, detail: str, now: dt.datetime) -> None:
        """A server's health; written only when it changes (a pass must not cost an fsync per server)."""
        row = self.db.execute("SELECT ok, detail FROM servers WHERE name = ?", (name,)).fetchone()
        if row is not None and (bool(row["ok"]), row["detail"]) == (ok, detail):
            return
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO servers VALUES (?,?,?,?)", (name, int(ok), detail, now.isoformat()))

    def servers(self) -> dict[str, ServerHealth]:
        rows = self.db.execute("SELECT name, ok, detail FROM servers")
        return {r[0]: ServerHealth(bool(r[1]), r[2]) for r in rows}
