"""The real pipeline over PostgreSQL: `daemon.database` set, the commands a studio uses — once, status, preview,
approve, reject, run — work against the database (Radicale, Dovecot and the SMTP server as everywhere else), and
no SQLite state is made."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Studio, approve_held, deadlinewatch, start_daemon
from tests.integration.test_daemon import wait_for
from tests.samples import NOTE

pytestmark = pytest.mark.integration


def on_postgres(studio: Studio, database: Any) -> None:
    """The studio's config with daemon.database set, its password in a file as a credential would be."""
    password = studio.config.parent / "database.pw"
    password.write_text(database.password + "\n")
    password.chmod(0o600)
    studio.config.write_text(studio.config.read_text().replace(
        "[daemon]\n", f'[daemon]\ndatabase = "{database.url}"\ndatabase_password_file = "{password}"\n', 1))


def run(studio: Studio, *args: str, now: str = "2026-11-30T12:00") -> str:
    result = deadlinewatch(*args, config=studio.config, now=now)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_pass_over_postgresql_answers_the_note_and_sends_the_notice_once_approved(
        studio: Studio, postgres: Any) -> None:
    on_postgres(studio, postgres)
    studio.dovecot.save("progress", NOTE.encode())
    run(studio, "once")
    assert any("alice@studio.example" in r for _, rs, _ in studio.smtp.messages for r in rs)  # the reply
    state = json.loads(run(studio, "status", "--json"))
    held = [n for n in state["notices"] if n["state"] == "held"]
    assert {n["kind"] for n in held} >= {"notice"}  # a new team's first notice waits for the manager
    assert "Design mockups" in run(studio, "preview", "design-1")
    intro = [n["id"] for n in held if n["kind"] == "intro"]
    for notice_id in intro:
        run(studio, "reject", str(notice_id))
    assert approve_held(studio.config, "2026-11-30T12:00")
    run(studio, "once", now="2026-11-30T12:05")
    notices = [m for m in studio.smtp.parsed() if m["X-Deadlinewatch-Kind"] == "notice"]
    assert len(notices) == 1 and "jane@acme.example" in str(notices[0]["To"])
    assert str(notices[0]["Subject"]).startswith("Design mockups: new date ")
    assert not list((studio.config.parent / "state").glob("*.sqlite3"))  # the state is the database's alone
    with postgres.connect() as conn:
        assert conn.execute("SELECT count(*) FROM reports WHERE uid = 'design-1'").fetchone() == (1,)  # the note
        assert conn.execute("SELECT count(*) FROM outbox WHERE kind = 'notice' AND state = 'sent'").fetchone() == (1,)


def test_the_daemon_runs_over_postgresql_and_answers_commands(studio: Studio, postgres: Any, tmp_path: Path) -> None:
    on_postgres(studio, postgres)
    log = tmp_path / "daemon.log"
    proc = start_daemon(studio.config, log)
    try:
        wait_for(lambda: "deadlinewatch running" in log.read_text(), 30, "the daemon")
        studio.dovecot.save("progress", NOTE.encode())
        wait_for(lambda: any("alice@studio.example" in r for _, rs, _ in studio.smtp.messages for r in rs), 30,
                 "the reply to alice")
        wait_for(lambda: any(n["kind"] == "notice" for n in json.loads(run(studio, "status", "--json"))["notices"]),
                 30, "the notice, in status (through the daemon's control socket)")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with postgres.connect() as conn:
        assert conn.execute("SELECT count(*) FROM reports WHERE uid = 'design-1'").fetchone() == (1,)
