"""Hostile mail against Dovecot: whatever a message holds, it is decided, recorded and filed alone, and the notes
after it are answered in the same pass. Each case was reproduced against the main of 2026-12-01, where it stalled
the inbox for good."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from deadlinewatch import config as config_mod
from deadlinewatch import wiring
from deadlinewatch.adapters.clock import FixedClock
from deadlinewatch.adapters.mailbox import ImapMailbox
from deadlinewatch.adapters.store import Store
from deadlinewatch.errors import ServerError
from deadlinewatch.pipeline import run_pass
from tests.conftest import Studio, approve_held, deadlinewatch
from tests.integration.test_inbox import choke_on, note, replies_to
from tests.integration.test_whole_loop import raw_folder
from tests.samples import NOTE

pytestmark = pytest.mark.integration


def recorded(studio: Studio) -> list[str]:
    return [r for r in replies_to(studio, "alice@studio.example") if "This is what I recorded" in r]


def _nested(depth: int) -> bytes:
    body = "".join(f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n' for i in range(depth))
    return (f"From: Alice <alice@studio.example>\r\nSubject: [acme-web] progress\r\nMessage-ID: <deep@x>\r\n"
            f"MIME-Version: 1.0\r\n{body}Content-Type: text/plain\r\n\r\nMilestone: Design mockups\r\nDone: 5%\r\n"
            ).encode()


HOSTILE = {
    "an 8-bit Message-ID": b"From: Mallory <mallory@evil.example>\r\nMessage-ID: <\xc3\xa9@evil.example>\r\n"
                           b"Subject: hi\r\n\r\nhello\r\n",
    "an 8-bit From": b"From: \xc3\xa9ve <\xc3\xa9ve@evil.example>\r\nMessage-ID: <eve@evil.example>\r\n"
                     b"Subject: hi\r\n\r\nhello\r\n",
    "a Cyrillic lookalike of a member": note("lookalike@x", "Milestone: Design mockups\nDone: 99%\n",
                                             sender="Alice <\u0430lice@studio.example>"),
    "a dotted capital I in the domain": note("dotted@x", "Milestone: Design mockups\nDone: 99%\n",
                                             sender="Alice <alice@STUD\u0130O.example>"),
    "1,000 nested multipart parts": _nested(1000),
    "an 8-bit subject and body in no charset": b"From: Mallory <mallory@evil.example>\r\nMessage-ID: <bin@x>\r\n"
                                               b"Subject: \xff\xfe\x00\r\n\r\n\xff\x00\xfe\r\n",
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_one_hostile_message_never_stalls_the_inbox(studio: Studio, case: str) -> None:
    studio.dovecot.save("progress", HOSTILE[case])
    studio.dovecot.save("progress", NOTE.encode())
    first = deadlinewatch("once", config=studio.config, now="2026-11-30T12:00")
    assert first.returncode == 0, first.stderr
    assert "internal error" not in first.stderr and "Traceback" not in first.stderr
    assert len(recorded(studio)) == 1  # the good note after it, answered at once
    assert [r for r in raw_folder(studio.dovecot, "INBOX") if b"<dw." not in r.split(b"\r\n\r\n")[0]] == []
    assert HOSTILE[case].split(b"\r\n")[1] in b"".join(raw_folder(studio.dovecot, "deadlinewatch/rejected"))
    status = json.loads(deadlinewatch("status", "--json", config=studio.config).stdout)
    assert status["servers"]["imap"]["ok"]  # nothing is left failing
    again = deadlinewatch("once", config=studio.config, now="2026-11-30T12:05")
    assert again.returncode == 0 and len(recorded(studio)) == 1


def test_a_member_whose_note_is_nested_too_deep_is_told_why(studio: Studio) -> None:
    studio.dovecot.save("progress", _nested(1000))
    assert deadlinewatch("once", config=studio.config, now="2026-11-30T12:00").returncode == 0
    [reply] = replies_to(studio, "alice@studio.example")
    assert "could not be read" in reply and "multipart" in reply


def test_a_member_note_with_8bit_references_is_accepted(studio: Studio) -> None:
    raw = NOTE.replace("Message-ID: <note-1@studio.example>\n",
                       "Message-ID: <note-1@studio.example>\nReferences: <ok@studio.example> <\udcc3\udca9@x>\n")
    studio.dovecot.save("progress", raw.encode("utf-8", "surrogateescape"))
    assert deadlinewatch("once", config=studio.config, now="2026-11-30T12:00").returncode == 0
    [reply] = replies_to(studio, "alice@studio.example")
    assert "recorded" in reply.lower()
    answer = next(m for m in studio.smtp.parsed() if m["X-Deadlinewatch-Kind"] == "reply")
    assert answer["References"] == "<ok@studio.example> <note-1@studio.example>"


def _services(studio: Studio) -> tuple[config_mod.Config, Store]:
    config = config_mod.load(studio.config)
    return config, Store.open(config.state_dir)


def test_a_note_without_message_id_whose_move_failed_is_filed_once_not_looped(
    studio: Studio, monkeypatch: pytest.MonkeyPatch
) -> None:
    studio.dovecot.save("progress", NOTE.replace("Message-ID: <note-1@studio.example>\n", "").encode())
    config, store = _services(studio)
    svc = wiring.services(config, store, FixedClock(dt.datetime(2026, 11, 30, 9, tzinfo=dt.UTC)))
    real = ImapMailbox.move
    calls = {"n": 0}

    def fail_once(self: ImapMailbox, uids: list[int], source: str, target: str) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ServerError("imap", "connection reset during MOVE")
        real(self, uids, source, target)

    monkeypatch.setattr(ImapMailbox, "move", fail_once)
    try:
        first = asyncio.run(run_pass(svc))
        assert "imap" in first.unavailable  # the move failed: the note stays in the inbox, decided
        for _ in range(3):
            report = asyncio.run(run_pass(svc))
            assert not report.problems, report.problems
        assert len(raw_folder(studio.dovecot, "deadlinewatch/processed")) == 1
        assert [r for r in raw_folder(studio.dovecot, "INBOX") if b"<dw." not in r.split(b"\r\n\r\n")[0]] == []
        assert len(replies_to(studio, "alice@studio.example")) == 1  # answered once, not again
        assert store.failing_messages() == []
    finally:
        store.close()


def test_a_message_that_cannot_even_be_recorded_is_moved_aside_and_the_rest_goes_on(
    studio: Studio, monkeypatch: pytest.MonkeyPatch
) -> None:
    studio.dovecot.save("progress", note("cursed@x", "Milestone: Design mockups\nDone: 5%\n"))
    studio.dovecot.save("progress", NOTE.encode())
    config, store = _services(studio)
    svc = wiring.services(config, store, FixedClock(dt.datetime(2026, 11, 30, 9, tzinfo=dt.UTC)))
    real = Store.record_message

    def cursed(self: Store, **kw: Any) -> None:  # kw: record_message's own
        if kw["message_key"] == "<cursed@x>":
            raise sqlite3.IntegrityError("a row this message cannot have")
        real(self, **kw)

    monkeypatch.setattr(Store, "record_message", cursed)
    monkeypatch.setattr(Store, "record_failure", lambda self, key, error: (_ for _ in ()).throw(
        sqlite3.IntegrityError("nor its failure")))
    try:
        report = asyncio.run(run_pass(svc))
        assert any("could not be recorded" in p for p in report.problems)
        assert b"<cursed@x>" in b"".join(raw_folder(studio.dovecot, "deadlinewatch/rejected"))
        assert len(replies_to(studio, "alice@studio.example")) == 1
    finally:
        store.close()


def test_an_inbox_that_keeps_failing_shows_in_status(studio: Studio, monkeypatch: pytest.MonkeyPatch) -> None:
    choke_on(monkeypatch, "<poison@x>")
    studio.dovecot.save("progress", note("poison@x", "Milestone: Design mockups\nDone: 5%\n"))
    config, store = _services(studio)
    svc = wiring.services(config, store, FixedClock(dt.datetime(2026, 11, 30, 9, tzinfo=dt.UTC)))
    try:
        report = asyncio.run(run_pass(svc))
        assert "inbox" in report.lagging
        imap = store.servers()["imap"]
        assert not imap.ok and "not keeping up" in imap.detail and "<poison@x>" in imap.detail
    finally:
        store.close()


def test_a_stranger_keeps_nothing_in_the_state(studio: Studio) -> None:
    big = b"From: Mallory <mallory@evil.example>\r\nMessage-ID: <big@evil.example>\r\nSubject: x\r\n\r\n" + \
        b"spam " * 400_000
    studio.dovecot.save("progress", big)
    studio.dovecot.save("progress", NOTE.encode())
    assert deadlinewatch("once", config=studio.config, now="2026-11-30T12:00").returncode == 0
    state = config_mod.load(studio.config).state_dir
    with sqlite3.connect(state / "deadlinewatch.sqlite3") as db:
        kept = dict(db.execute("SELECT message_key, length(raw) + length(body) FROM messages").fetchall())
    assert kept["<big@evil.example>"] == 0 and kept["<note-1@studio.example>"] > 0
    assert (state / "deadlinewatch.sqlite3").stat().st_size < 1_000_000
    assert oct(state.stat().st_mode & 0o777) == "0o700"
    assert oct((state / "deadlinewatch.sqlite3").stat().st_mode & 0o777) == "0o600"


def test_old_mail_text_is_pruned_after_keep_mail_days(studio: Studio, tmp_path: Path) -> None:
    studio.dovecot.save("progress", NOTE.encode())
    assert deadlinewatch("once", config=studio.config, now="2026-11-30T12:00").returncode == 0
    state = config_mod.load(studio.config).state_dir
    assert deadlinewatch("once", config=studio.config, now="2027-03-30T12:00").returncode == 0  # 120 days on
    with sqlite3.connect(state / "deadlinewatch.sqlite3") as db:
        assert db.execute("SELECT length(raw), length(body) FROM messages WHERE message_key = ?",
                          ("<note-1@studio.example>",)).fetchone() == (0, 0)
        assert db.execute("SELECT COUNT(*) FROM reports").fetchone()[0] == 1  # the figures stay


BYPASS = ("Authentication-Results: mx.studio.example; dkim=none; spf=pass (x.dmarc=pass.header.from=studio.example"
          "@evil.example) smtp.mailfrom=x.dmarc=pass.header.from=studio.example@evil.example; dmarc=fail "
          "header.from=studio.example\r\n")
GENUINE = ("Authentication-Results: mx.studio.example; dkim=pass header.d=studio.example; dmarc=pass "
           "header.from=studio.example\r\n")


def _authenticating(studio: Studio, **more: str) -> None:
    from tests.integration.test_conversation import configure

    configure(studio, **more)
    text = studio.config.read_text().replace("require_authentication = false",
                                             'require_authentication = true\nauthserv_id = "mx.studio.example"')
    studio.config.write_text(text)


def test_a_pass_hidden_in_a_comment_forges_no_note_and_no_clients_letter(studio: Studio) -> None:
    _authenticating(studio)
    forged = note("forged@x", "Milestone: Design mockups\nDone: 10%\nRemaining: 40 days\n"
                              "Cause: please pay the next invoice to IBAN TR00 0000 0000\nPlan: none\n",
                  headers=BYPASS)
    studio.dovecot.save("progress", forged)
    assert deadlinewatch("once", config=studio.config, now="2026-11-30T12:00").returncode == 0
    assert b"<forged@x>" in b"".join(raw_folder(studio.dovecot, "deadlinewatch/rejected"))
    assert replies_to(studio, "alice@studio.example") == []
    assert not any(b"IBAN" in raw for _, _, raw in studio.smtp.messages)
    status = json.loads(deadlinewatch("status", "--json", config=studio.config).stdout)
    assert all(m["last_note"] is None for m in status["milestones"])


def test_a_forged_reject_from_the_managers_address_decides_nothing(studio: Studio) -> None:
    from tests.integration.test_conversation import sent, status

    _authenticating(studio, approval="manager")
    studio.dovecot.save("progress", NOTE.replace("Message-ID:", GENUINE.strip() + "\nMessage-ID:").encode())
    assert deadlinewatch("once", config=studio.config, now="2026-11-30T12:00").returncode == 0
    draft = next(d for d in sent(studio, "manager-draft", to="pm@studio.example") if "Design" in str(d["Subject"]))
    token = str(draft["Subject"]).rsplit("[dw:", 1)[1].rstrip("]")

    def answer(word: str, key: str, auth: str) -> bytes:
        return (f"From: Studio PM <pm@studio.example>\r\nTo: progress@studio.example\r\nSubject: Re: x [dw:{token}]"
                f"\r\nMessage-ID: <{key}@studio.example>\r\n{auth}\r\n{word}\r\n").encode()

    studio.dovecot.save("progress", answer("reject", "forged-reject", BYPASS))
    assert deadlinewatch("once", config=studio.config, now="2026-11-30T12:10").returncode == 0
    notice = next(n for n in status(studio)["notices"] if n["kind"] == "notice")
    assert notice["state"] == "held"
    studio.dovecot.save("progress", answer("approve", "real-approve", GENUINE))
    assert deadlinewatch("once", config=studio.config, now="2026-11-30T12:20").returncode == 0
    assert sent(studio, "notice")


def test_ids_are_keyed_so_a_bounce_cannot_be_forged_and_only_a_dsn_counts(studio: Studio) -> None:
    import hashlib

    from tests.integration.test_conversation import sent, status

    studio.dovecot.save("progress", NOTE.encode())
    assert deadlinewatch("once", config=studio.config, now="2026-11-30T12:00").returncode == 0
    assert approve_held(studio.config)  # a new team's notice waits for the manager (the forecast outruns the team)
    assert deadlinewatch("once", config=studio.config, now="2026-11-30T12:01").returncode == 0
    [notice] = sent(studio, "notice")
    intro = sent(studio, "intro")[0]
    # the id an outsider would compute with the unkeyed hash of before is not the id we used
    assert hashlib.sha256(b"intro\0acme-web").hexdigest()[:24] not in str(intro["Message-ID"])
    # "automatic" mail that quotes the real id, but is no delivery status notification: changes nothing
    fake = (f"From: MAILER-DAEMON@evil.example\r\nAuto-Submitted: auto-replied\r\nMessage-ID: <fake@evil.example>"
            f"\r\nSubject: Undelivered\r\n\r\nYour message {notice['Message-ID']} bounced.\r\n")
    studio.dovecot.save("progress", fake.encode())
    assert deadlinewatch("once", config=studio.config, now="2026-11-30T12:10").returncode == 0
    assert next(n for n in status(studio)["notices"] if n["kind"] == "notice")["state"] == "sent"
    assert sent(studio, "manager-failed", to="pm@studio.example") == []


def test_a_changed_caldav_url_sends_the_credentials_only_to_the_new_server(studio: Studio, tmp_path: Path) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from deadlinewatch.demo.servers import CalDAVServer
    from tests.conftest import write_config
    from tests.samples import DESIGN, LAUNCH

    assert deadlinewatch("once", config=studio.config, now="2026-11-30T12:00").returncode == 0
    new = CalDAVServer(tmp_path / "new", kind="radicale", users={"pm2": "NewServerPw-9"}).start()
    try:
        cal = new.make_calendar("acme-web", user="pm2")
        new.put(cal, "design-1", DESIGN, user="pm2")
        new.put(cal, "launch-1", LAUNCH.replace("SUMMARY:Launch", "SUMMARY:Launch on the new server"), user="pm2")
        old_port = studio.caldav.port
        studio.caldav.stop()
        heard: list[str] = []

        class OldServer(BaseHTTPRequestHandler):  # whatever still listens at the old address, and what it hears
            def log_message(self, *args: object) -> None:
                pass

            def _any(self) -> None:
                heard.append(f"{self.command} {self.path} {self.headers.get('Authorization')}")
                self.send_response(500)
                self.end_headers()

            do_GET = do_PUT = do_PROPFIND = do_REPORT = do_OPTIONS = _any

        old = ThreadingHTTPServer(("127.0.0.1", old_port), OldServer)
        threading.Thread(target=old.serve_forever, daemon=True).start()
        try:
            write_config(studio.config, caldav_url=new.url, caldav_user="pm2", caldav_password="NewServerPw-9",
                         imap_port=studio.dovecot.port, smtp_port=studio.smtp.port)
            result = deadlinewatch("once", config=studio.config, now="2026-11-30T12:10")
            assert result.returncode == 0, result.stdout + result.stderr
            assert heard == []
            assert "listed anew" in result.stdout
            status = json.loads(deadlinewatch("status", "--json", config=studio.config).stdout)
            assert "Launch on the new server" in {m["name"] for m in status["milestones"]}
            assert status["servers"]["caldav"]["ok"]
        finally:
            old.shutdown()
            old.server_close()
    finally:
        new.stop()


def test_mail_over_the_size_limit_is_never_read_whole(studio: Studio) -> None:
    text = studio.config.read_text().replace("require_authentication = false",
                                             "require_authentication = false\nmax_message_bytes = 100000")
    studio.config.write_text(text)
    padding = "Plan: " + "x" * 300_000 + "\n"
    studio.dovecot.save("progress", note("large-note@x", "Milestone: Design mockups\nDone: 30%\n" + padding))
    studio.dovecot.save("progress", note("large-spam@x", "buy " * 80_000, sender="Mallory <mallory@evil.example>"))
    result = deadlinewatch("once", config=studio.config, now="2026-11-30T12:00")
    assert result.returncode == 0, result.stderr
    [reply] = replies_to(studio, "alice@studio.example")
    assert "imap.max_message_bytes" in reply and "0.1 MB" in reply
    assert not replies_to(studio, "mallory")
    rejected = b"".join(raw_folder(studio.dovecot, "deadlinewatch/rejected"))
    assert b"<large-note@x>" in rejected and b"<large-spam@x>" in rejected
    state = config_mod.load(studio.config).state_dir
    with sqlite3.connect(state / "deadlinewatch.sqlite3") as db:
        assert db.execute("SELECT MAX(length(raw)) FROM messages").fetchone()[0] < 5_000  # headers at most


def test_a_note_of_100000_blocks_gets_a_short_answer_and_a_short_log_line(studio: Studio) -> None:
    blocks = "".join(f"Milestone: Design mockups {i}\nDone: 10%\n\n" for i in range(100_000))
    studio.dovecot.save("progress", note("flood@x", blocks))
    result = deadlinewatch("once", config=studio.config, now="2026-11-30T12:00")
    assert result.returncode == 0, result.stderr
    [reply] = replies_to(studio, "alice@studio.example")
    assert "longer than 200,000 characters" in reply and len(reply) < 5_000
    assert max(len(line) for line in (result.stdout + result.stderr).splitlines()) < 2_000


def test_mail_is_parsed_off_the_event_loop(studio: Studio, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from deadlinewatch.core import intake

    real = intake.read_message
    threads: list[bool] = []

    def spy(*args: Any, **kw: Any) -> intake.Incoming:  # read_message's own arguments, passed on
        threads.append(threading.current_thread() is threading.main_thread())
        return real(*args, **kw)

    monkeypatch.setattr(intake, "read_message", spy)
    studio.dovecot.save("progress", NOTE.encode())
    config, store = _services(studio)
    svc = wiring.services(config, store, FixedClock(dt.datetime(2026, 11, 30, 9, tzinfo=dt.UTC)))
    try:
        asyncio.run(run_pass(svc))  # the loop runs in this (the main) thread
        assert threads == [False]
        assert len(recorded(studio)) == 1
    finally:
        store.close()
