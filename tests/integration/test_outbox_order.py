"""What the client reads after an SMTP outage, end to end (Radicale, Dovecot, an SMTP sink that refuses for a while):
their letters in the order they were written, and none the team calendar has made wrong since it was approved."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from email import message_from_bytes
from email.policy import default as email_policy
from pathlib import Path
from typing import Any

import pytest

from deadlinewatch.demo.servers import CalDAVServer, SmtpSink
from tests.conftest import deadlinewatch, write_config
from tests.dovecot import DovecotServer
from tests.faultproxy import FaultProxy
from tests.integration.test_daemon import wait_for
from tests.mailtext import body
from tests.samples import DESIGN, LAUNCH, NOTE

pytestmark = pytest.mark.integration

OUTAGE = "451 4.3.0 try again later"


@pytest.fixture
def sink(dovecot: DovecotServer) -> Iterator[SmtpSink]:
    smtp = SmtpSink(local_address="progress@studio.example", deliver=lambda raw: dovecot.save("progress", raw))
    smtp.start()
    yield smtp
    smtp.stop()


def _config(radicale: CalDAVServer, dovecot: DovecotServer, sink: SmtpSink, tmp_path: Path) -> tuple[str, Path]:
    cal = radicale.make_calendar("acme-web")
    radicale.put(cal, "design-1", DESIGN)
    radicale.put(cal, "launch-1", LAUNCH)
    return cal, write_config(tmp_path / "dw.toml", caldav_url=radicale.url, caldav_user="pm", imap_port=dovecot.port,
                             smtp_port=sink.port, smtp_security="none", smtp_user="")


def _notices(config: Path, now: str) -> list[dict[str, Any]]:
    notices: list[dict[str, Any]] = json.loads(deadlinewatch("status", "--json", config=config, now=now).stdout)[
        "notices"]
    return notices


def _approve_held(config: Path, now: str) -> None:
    for n in _notices(config, now):
        if n["state"] == "held":
            assert deadlinewatch("approve", str(n["id"]), config=config, now=now).returncode == 0


def _client_subjects(sink: SmtpSink) -> list[str]:
    return [str(message_from_bytes(raw, policy=email_policy)["Subject"]) for _, rcpts, raw in sink.messages
            if "jane@acme.example" in [r.lower() for r in rcpts]]


def test_a_newer_notice_never_reaches_the_client_before_the_older_one_an_outage_held_back(
        radicale: CalDAVServer, dovecot: DovecotServer, sink: SmtpSink, tmp_path: Path) -> None:
    """The first notice (14 January) was approved, then met a one-pass outage and waited out its back-off; a newer
    note made a second notice (22 February), approved and sent at once — and the first went after it: the client's
    last letter carried the stale date."""
    _, config = _config(radicale, dovecot, sink, tmp_path)
    dovecot.save("progress", NOTE.encode())
    assert deadlinewatch("once", config=config, now="2026-11-30T12:00").returncode == 0
    _approve_held(config, "2026-11-30T12:01")
    sink.refuse = OUTAGE
    deadlinewatch("once", config=config, now="2026-11-30T12:02")
    sink.refuse = ""
    later = (NOTE.replace("note-1@", "note-9@").replace("Remaining: 10 days", "Remaining: 30 days")
             .replace("Mon, 30 Nov 2026 08:30:00 +0000", "Mon, 30 Nov 2026 09:04:00 +0000"))
    dovecot.save("progress", later.encode())
    deadlinewatch("once", config=config, now="2026-11-30T12:02:30")
    _approve_held(config, "2026-11-30T12:02:40")
    deadlinewatch("once", config=config, now="2026-11-30T12:02:50")
    assert deadlinewatch("once", config=config, now="2026-11-30T12:10").returncode == 0
    dated = [s for s in _client_subjects(sink) if "new date" in s]
    assert len(dated) == 2 and "another new date" in dated[-1], dated
    assert "14 January 2027" not in dated[-1], dated


def test_a_notice_approved_during_an_outage_is_withdrawn_when_the_milestone_is_completed_meanwhile(
        radicale: CalDAVServer, dovecot: DovecotServer, sink: SmtpSink, tmp_path: Path) -> None:
    """Approved while the SMTP server refused, the notice stayed pending; the team completed Design in its calendar;
    on recovery the client got "new date …" for work already done. It is withdrawn, and the manager told."""
    cal, config = _config(radicale, dovecot, sink, tmp_path)
    dovecot.save("progress", NOTE.encode())
    sink.refuse = OUTAGE
    deadlinewatch("once", config=config, now="2026-11-30T12:00")
    [held] = [n for n in _notices(config, "2026-11-30T12:00") if n["state"] == "held" and n["kind"] == "notice"]
    assert deadlinewatch("approve", str(held["id"]), config=config, now="2026-11-30T12:10").returncode == 0
    deadlinewatch("once", config=config, now="2026-11-30T12:15")
    radicale.put(cal, "design-1", DESIGN.replace(
        "SEQUENCE:2", "SEQUENCE:3\nSTATUS:COMPLETED\nPERCENT-COMPLETE:100\nCOMPLETED:20261130T100000Z"))
    sink.refuse = ""
    result = deadlinewatch("once", config=config, now="2026-11-30T15:00")
    assert result.returncode == 0, result.stderr
    assert f"message #{held['id']} withdrawn before it went" in result.stdout
    [gone] = [n for n in _notices(config, "2026-11-30T15:00") if n["id"] == held["id"]]
    assert gone["state"] == "rejected"
    assert not [s for s in _client_subjects(sink) if "new date" in s]
    told = [message_from_bytes(raw, policy=email_policy) for _, _, raw in sink.messages]
    assert any(m["X-Deadlinewatch-Kind"] == "manager-decided" and "completed in the team calendar since" in body(m)
               for m in told)


def test_a_send_that_fails_never_writes_over_what_another_process_made_of_the_message(
        radicale: CalDAVServer, dovecot: DovecotServer, sink: SmtpSink, tmp_path: Path) -> None:
    """The audit, on PostgreSQL: `once` waited in its SMTP exchange while a daemon started on the other machine,
    found the message `sending` with no archive copy, and sent it; `once` then timed out and wrote `pending` over
    `sent` — and the daemon sent it a second time. Shown here over SQLite, the other process's write made by hand:
    a failed exchange writes the message's state only over its own claim."""
    proxy = FaultProxy(sink.port).start()
    try:
        _, config = _config(radicale, dovecot, sink, tmp_path)
        config.write_text(config.read_text().replace(f"port = {sink.port}\n", f"port = {proxy.port}\n")
                          .replace('from = "Studio PM', 'timeout_seconds = 3\nfrom = "Studio PM'))
        dovecot.save("progress", NOTE.encode())
        assert deadlinewatch("once", config=config, now="2026-11-30T12:00").returncode == 0
        [held] = [n for n in _notices(config, "2026-11-30T12:00") if n["state"] == "held" and n["kind"] == "notice"]
        assert deadlinewatch("approve", str(held["id"]), config=config, now="2026-11-30T12:01").returncode == 0
        proxy.mode = "hold-connection"  # once's exchange hangs: nothing reaches the server
        once = subprocess.Popen([sys.executable, "-m", "deadlinewatch", "--config", str(config), "--now",
                                 "2026-11-30T12:05", "once"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_for(proxy.held.is_set, 60, "once in its SMTP exchange")
        with sqlite3.connect(tmp_path / "state" / "deadlinewatch.sqlite3", timeout=30) as db:  # another process
            db.execute("UPDATE outbox SET state = 'sent' WHERE id = ?", (held["id"],))  # sent it meanwhile
        once.communicate(timeout=120)
        [after] = [n for n in _notices(config, "2026-11-30T12:06") if n["id"] == held["id"]]
        assert after["state"] == "sent"
        deadlinewatch("once", config=config, now="2026-11-30T12:30")
        assert not [s for s in _client_subjects(sink) if "new date" in s]  # never sent again by us
    finally:
        proxy.stop()


def test_a_client_greylisted_gets_the_letter_once_their_server_lets_it_through(
        radicale: CalDAVServer, dovecot: DovecotServer, sink: SmtpSink, tmp_path: Path) -> None:
    """The audit: the client's server answered RCPT "451 greylisted"; the introduction was marked failed at once,
    the manager told, and it was never tried again — the client never had it."""
    _, config = _config(radicale, dovecot, sink, tmp_path)
    sink.later_rcpt = {"jane@acme.example"}
    assert deadlinewatch("once", config=config, now="2026-11-30T12:00").returncode == 0
    [intro] = [n for n in _notices(config, "2026-11-30T12:00") if n["kind"] == "intro"]
    assert intro["state"] == "pending" and not _client_subjects(sink)
    # nothing went to anyone without the client: no manager's copy, and no archive copy in the mailbox that a
    # later, interrupted try would take for proof of delivery (the review)
    assert not [raw for _, _, raw in sink.messages if b"X-Deadlinewatch-Kind: intro" in raw]
    sink.later_rcpt = set()  # the greylist lets it through now
    assert deadlinewatch("once", config=config, now="2026-11-30T12:30").returncode == 0
    [intro] = [n for n in _notices(config, "2026-11-30T12:30") if n["kind"] == "intro"]
    assert intro["state"] == "sent" and len(_client_subjects(sink)) == 1


def test_a_letter_put_off_in_a_pass_is_not_overtaken_by_the_next_one_in_the_same_pass(
        radicale: CalDAVServer, dovecot: DovecotServer, sink: SmtpSink, tmp_path: Path) -> None:
    """The review: the order across passes held, but within one the introduction was put off (the client
    greylisted) and the notice due beside it went right after — the client read the notice first."""
    _, config = _config(radicale, dovecot, sink, tmp_path)
    dovecot.save("progress", NOTE.encode())
    sink.later_rcpt, sink.later_left = {"jane@acme.example"}, 1
    assert deadlinewatch("once", config=config, now="2026-11-30T12:00").returncode == 0  # the intro put off
    _approve_held(config, "2026-11-30T12:01")  # the notice (held: its date outruns the team's) goes out now
    sink.later_left = 1  # the intro's next try is put off again, in the pass where the notice is due too
    assert deadlinewatch("once", config=config, now="2026-11-30T12:10").returncode == 0
    assert not _client_subjects(sink)
    assert deadlinewatch("once", config=config, now="2026-11-30T12:30").returncode == 0
    read = [str(message_from_bytes(raw, policy=email_policy)["X-Deadlinewatch-Kind"]) for _, rcpts, raw in
            sink.messages if "jane@acme.example" in [r.lower() for r in rcpts]]
    assert read[:2] == ["intro", "notice"], read


def test_a_held_delivered_note_is_withdrawn_when_a_later_note_says_the_work_is_not_done(
        radicale: CalDAVServer, dovecot: DovecotServer, sink: SmtpSink, tmp_path: Path) -> None:
    """The client was warned of Design; Alice wrote Done: 100%, and the delivered note waited for the manager; a
    little later she wrote Done: 90% (the review found a fault). The held note stayed held, and went out on its
    timeout — or on the manager's approval — telling the client "delivered" of work still open. It is withdrawn,
    and the manager told why."""
    _, config = _config(radicale, dovecot, sink, tmp_path)
    config.write_text(config.read_text().replace('approval = "auto"', 'approval = "manager"'))
    dovecot.save("progress", NOTE.encode())
    assert deadlinewatch("once", config=config, now="2026-11-30T12:00").returncode == 0
    _approve_held(config, "2026-11-30T12:01")
    assert deadlinewatch("once", config=config, now="2026-11-30T12:02").returncode == 0  # the client is warned
    done = NOTE.replace("Done: 20%\nRemaining: 10 days", "Done: 100%")
    dovecot.save("progress", done.replace("note-1@", "note-2@").replace("08:30:00", "09:30:00").encode())
    assert deadlinewatch("once", config=config, now="2026-11-30T12:40").returncode == 0
    [held] = [n for n in _notices(config, "2026-11-30T12:40") if n["kind"] == "delivered"]
    assert held["state"] == "held"
    dovecot.save("progress", done.replace("note-1@", "note-3@").replace("Done: 100%", "Done: 90%")
                 .replace("08:30:00", "09:45:00").encode())
    result = deadlinewatch("once", config=config, now="2026-11-30T12:50")
    assert result.returncode == 0, result.stderr
    [gone] = [n for n in _notices(config, "2026-11-30T12:50") if n["id"] == held["id"]]
    assert gone["state"] == "rejected", gone
    assert f"held message #{held['id']} withdrawn" in result.stdout
    assert deadlinewatch("approve", str(held["id"]), config=config, now="2026-11-30T12:51").returncode != 0
    assert deadlinewatch("once", config=config, now="2026-12-02T12:00").returncode == 0
    assert not [s for s in _client_subjects(sink) if "elivered" in s], _client_subjects(sink)
    told = [message_from_bytes(raw, policy=email_policy) for _, _, raw in sink.messages]
    assert any(m["X-Deadlinewatch-Kind"] == "manager-decided" and "not done after all" in " ".join(body(m).split())
               for m in told)
