"""Bad input and bad servers: a clear error, nothing lost, nothing sent twice."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from deadlinewatch.localservers import CalDAVServer, DovecotServer, SmtpSink
from tests.conftest import write_config
from tests.integration.test_whole_loop import DESIGN, NOTE, _folder

pytestmark = pytest.mark.integration


def once(config: Path, now: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "deadlinewatch", "--config", str(config), "--now", now, "once"],
                          capture_output=True, text=True, timeout=120)


def test_an_smtp_outage_delays_the_notice_and_never_doubles_it(
    radicale: CalDAVServer, dovecot: DovecotServer, smtp_tls: SmtpSink, tmp_path: Path
) -> None:
    cal = radicale.make_calendar("acme-web")
    radicale.put(cal, "design-1", DESIGN)
    dovecot.save("progress", NOTE.encode())
    config = write_config(tmp_path / "dw.toml", caldav_url=radicale.url, caldav_user="pm",
                          imap_port=dovecot.port, smtp_port=smtp_tls.port)
    smtp_tls.refuse = "451 try again later"
    first = once(config, "2026-11-30T12:00")
    assert first.returncode == 69 and "temporary failure 451" in first.stderr
    assert smtp_tls.messages == []
    # the note was taken and filed even though nothing could be sent
    assert [m["Message-ID"] for m in _folder(dovecot, "deadlinewatch/processed")] == ["<note-1@studio.example>"]

    smtp_tls.refuse = ""
    second = once(config, "2026-11-30T12:10")
    assert second.returncode == 0, second.stderr
    third = once(config, "2026-11-30T12:20")
    assert third.returncode == 0, third.stderr
    to_client = [rs for _, rs, _ in smtp_tls.messages if "jane@acme.example" in rs]
    assert len(to_client) == 1


def test_malformed_mail_and_calendar_entries_are_reported_and_kept(
    radicale: CalDAVServer, dovecot: DovecotServer, smtp_tls: SmtpSink, tmp_path: Path
) -> None:
    cal = radicale.make_calendar("acme-web")
    radicale.put(cal, "design-1", DESIGN)
    radicale.put(cal, "nodate-1", "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VTODO\r\nUID:nodate-1\r\n"
                                  "DTSTAMP:20261101T000000Z\r\nSUMMARY:Undated\r\nEND:VTODO\r\nEND:VCALENDAR\r\n")
    garbage = (b"From: alice@studio.example\r\nSubject: [acme-web] =?utf-8?q?broken\r\nMessage-ID: <g@x>\r\n"
               b"Content-Type: multipart/mixed; boundary=nothing\r\nContent-Transfer-Encoding: base64\r\n\r\n"
               b"\x00\xff not base64 at all \xfe")
    dovecot.save("progress", garbage)
    dovecot.save("progress", NOTE.encode())
    config = write_config(tmp_path / "dw.toml", caldav_url=radicale.url, caldav_user="pm",
                          imap_port=dovecot.port, smtp_port=smtp_tls.port)
    result = once(config, "2026-11-30T12:00")
    assert result.returncode == 0, result.stderr
    assert "entry nodate-1: a VTODO needs DUE" in result.stderr
    left = {m["Message-ID"] for m in _folder(dovecot, "INBOX")}
    assert not left & {"<g@x>", "<note-1@studio.example>"}  # what is left are our archive copies, filed next pass
    rejected = _folder(dovecot, "deadlinewatch/rejected")
    assert [m["Message-ID"] for m in rejected] == ["<g@x>"]
    assert any("jane@acme.example" in rs for _, rs, _ in smtp_tls.messages)  # the good note still counted
