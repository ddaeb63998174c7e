"""Bad input and bad servers: a clear error, nothing lost, nothing sent twice."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import Studio, approve_held, deadlinewatch
from tests.integration.test_whole_loop import _folder
from tests.samples import NOTE

pytestmark = pytest.mark.integration


def once(config: Path, now: str) -> subprocess.CompletedProcess[str]:
    return deadlinewatch("once", config=config, now=now)


def test_an_smtp_outage_delays_the_notice_and_never_doubles_it(studio: Studio) -> None:
    config, dovecot, smtp_tls = studio.config, studio.dovecot, studio.smtp
    dovecot.save("progress", NOTE.encode())
    smtp_tls.refuse = "451 try again later"
    first = once(config, "2026-11-30T12:00")
    assert first.returncode == 69 and "temporary failure 451" in first.stderr
    assert smtp_tls.messages == []
    # the note was taken and filed even though nothing could be sent
    assert [m["Message-ID"] for m in _folder(dovecot, "deadlinewatch/processed")] == ["<note-1@studio.example>"]

    smtp_tls.refuse = ""
    second = once(config, "2026-11-30T12:10")
    assert second.returncode == 0, second.stderr
    assert approve_held(config)  # a new team's notice waits for the manager (the forecast outruns the team)
    third = once(config, "2026-11-30T12:20")
    assert third.returncode == 0, third.stderr
    notices = [m for m in smtp_tls.parsed() if m["X-Deadlinewatch-Kind"] == "notice"]
    assert len(notices) == 1
    assert len({m["Message-ID"] for m in smtp_tls.parsed()}) == len(smtp_tls.messages)  # nothing went twice


def test_malformed_mail_and_calendar_entries_are_reported_and_kept(studio: Studio) -> None:
    config, dovecot, smtp_tls = studio.config, studio.dovecot, studio.smtp
    studio.caldav.put(studio.caldav.calendar_url("acme-web"), "nodate-1",
                      "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VTODO\r\nUID:nodate-1\r\n"
                      "DTSTAMP:20261101T000000Z\r\nSUMMARY:Undated\r\nEND:VTODO\r\nEND:VCALENDAR\r\n")
    garbage = (b"From: alice@studio.example\r\nSubject: [acme-web] =?utf-8?q?broken\r\nMessage-ID: <g@x>\r\n"
               b"Content-Type: multipart/mixed; boundary=nothing\r\nContent-Transfer-Encoding: base64\r\n\r\n"
               b"\x00\xff not base64 at all \xfe")
    dovecot.save("progress", garbage)
    dovecot.save("progress", NOTE.encode())
    result = once(config, "2026-11-30T12:00")
    assert result.returncode == 0, result.stderr
    assert "entry nodate-1: a VTODO needs DUE" in result.stderr
    left = {m["Message-ID"] for m in _folder(dovecot, "INBOX")}
    assert not left & {"<g@x>", "<note-1@studio.example>"}  # what is left are our archive copies, filed next pass
    rejected = _folder(dovecot, "deadlinewatch/rejected")
    assert [m["Message-ID"] for m in rejected] == ["<g@x>"]
    assert any("jane@acme.example" in rs for _, rs, _ in smtp_tls.messages)  # the good note still counted
