"""The web pages' state: the client pages' tokens (`/p/<token>/` names a project to whoever holds the link, and
to nobody else) and the manager's sessions."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence

from deadlinewatch.adapters.store.database import Database


def new_page_token() -> str:
    """A client page's token: 192 random bits, URL-safe (CONTRACT.md asks for at least 128). Every store makes its
    tokens with this."""
    return secrets.token_urlsafe(24)


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

    def rotate_page_token(self, project: str) -> str:
        """A new random token for a project's client page (and feed): the old address names nothing from now."""
        token = new_page_token()
        with self.transaction() as db:
            now = dt.datetime.now(dt.UTC).isoformat()
            db.execute("INSERT INTO client_pages VALUES (?,?,?) ON CONFLICT (project) DO UPDATE SET"
                       " token = excluded.token, created = excluded.created", (project, token, now))
        return token

    # --- the manager's sessions: a signed cookie counts only while its session is kept here --------------------

    def start_web_session(self, sid: str, user: str, now: dt.datetime, expires: dt.datetime) -> None:
        with self.transaction() as db:
            self._prune_web_sessions(now)
            db.execute("INSERT INTO web_sessions (sid, username, created, expires) VALUES (?, ?, ?, ?)",
                       (sid, user, _stamp(now), _stamp(expires)))

    def web_session(self, sid: str, now: dt.datetime) -> str | None:
        """Who the session is for, while it lasts; None once signed out or expired (or never started)."""
        row = self.db.execute("SELECT username FROM web_sessions WHERE sid = ? AND expires > ?",
                              (sid, _stamp(now))).fetchone()
        return str(row["username"]) if row else None

    def end_web_session(self, sid: str) -> bool:
        with self.transaction() as db:
            return db.execute("DELETE FROM web_sessions WHERE sid = ?", (sid,)).rowcount > 0

    def _prune_web_sessions(self, now: dt.datetime) -> int:
        with self.transaction() as db:
            return db.execute("DELETE FROM web_sessions WHERE expires <= ?", (_stamp(now),)).rowcount


def _stamp(moment: dt.datetime) -> str:
    """UTC to the second, always one width: compared as text in SQL, earlier is smaller."""
    return moment.astimezone(dt.UTC).replace(microsecond=0).isoformat()
