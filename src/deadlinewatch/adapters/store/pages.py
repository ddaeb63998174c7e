"""The client pages' tokens: `/p/<token>/` names a project to whoever holds the link, and to nobody else."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from deadlinewatch.adapters.store.database import Database
from deadlinewatch.adapters.store.port import new_page_token


class Pages(Database):
    """The random token of each project's client page: made once, kept across restarts and reloads."""

    def page_tokens(self, project: str | None = None) -> dict[str, str]:
        """Every project's token, or one project's (what its view reads)."""
        rows = self.db.execute("SELECT project, token FROM client_pages WHERE ? IS NULL OR project = ?",
                               (project, project))
        return {r["project"]: r["token"] for r in rows}

    def make_page_tokens(self, projects: Sequence[str]) -> dict[str, str]:
        """Every named project's token, making the missing ones (a write only when one is missing)."""
        have = self.page_tokens()
        missing = [p for p in dict.fromkeys(projects) if p not in have]
        if missing:
            with self.transaction() as db:
                now = dt.datetime.now(dt.UTC).isoformat()
                for project in missing:
                    db.execute("INSERT OR IGNORE INTO client_pages VALUES (?,?,?)", (project, new_page_token(), now))
            have = self.page_tokens()
        return {p: have[p] for p in projects}
