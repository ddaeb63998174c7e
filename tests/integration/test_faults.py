"""Faults between the daemon and its servers, through a misbehaving proxy: it stays up, backs off, recovers, and
loses nothing — and a send cut after the DATA terminator is not sent again."""

from __future__ import annotations

import collections
import datetime as dt
import signal
from pathlib import Path

import pytest

from deadlinewatch.demo.servers import CalDAVServer, SmtpSink
from tests.conftest import deadlinewatch, start_daemon, write_config
from tests.dovecot import DovecotServer
from tests.faultproxy import FaultProxy
from tests.integration.test_daemon import wait_for
from tests.samples import DESIGN, LAUNCH, NOTE

pytestmark = pytest.mark.integration


def _calendar(radicale: CalDAVServer) -> None:
    cal = radicale.make_calendar("acme-web")
    radicale.put(cal, "design-1", DESIGN)
    radicale.put(cal, "launch-1", LAUNCH)


def test_a_send_cut_after_data_is_reconciled_not_repeated(
    radicale: CalDAVServer, dovecot: DovecotServer, tmp_path: Path
) -> None:
    _calendar(radicale)
    sink = SmtpSink(local_address="progress@studio.example", deliver=lambda raw: dovecot.save("progress", raw))
    sink.start()
    proxy = FaultProxy(sink.port).start()
    try:
        config = write_config(tmp_path / "dw.toml", caldav_url=radicale.url, caldav_user="pm",
                              imap_port=dovecot.port, smtp_port=proxy.port, smtp_security="none", smtp_user="")
        dovecot.save("progress", NOTE.encode())
        proxy.mode = "cut-after-data"
        first = deadlinewatch("once", config=config, now="2026-11-30T12:00")
        assert first.returncode == 69 and proxy.cuts == 1
        # after the back-off: the cut message's archive copy is in the mailbox, so it counts as sent
        later = (dt.datetime(2026, 11, 30, 12, 5)).isoformat()
        second = deadlinewatch("once", config=config, now=later)
        assert second.returncode == 0, second.stderr
        assert "was sent before a restart" in second.stdout
        ids = collections.Counter(raw.split(b"Message-ID: ", 1)[1].split(b"\r\n", 1)[0]
                                  for _, _, raw in sink.messages)
        assert ids and max(ids.values()) == 1  # nothing went twice
        status = deadlinewatch("status", "--json", config=config).stdout
        assert '"state": "sending"' not in status and '"state": "pending"' not in status
    finally:
        proxy.stop()
        sink.stop()


def test_the_daemon_outlives_an_imap_black_hole_and_recovers(
    radicale: CalDAVServer, dovecot: DovecotServer, tmp_path: Path
) -> None:
    _calendar(radicale)
    sink = SmtpSink().start()
    proxy = FaultProxy(dovecot.port).start()
    proxy.mode = "blackhole"
    proc = None
    try:
        config = write_config(tmp_path / "dw.toml", caldav_url=radicale.url, caldav_user="pm", imap_port=proxy.port,
                              smtp_port=sink.port, smtp_security="none", smtp_user="")
        config.write_text(config.read_text().replace('address = "progress@studio.example"',
                                                     'address = "progress@studio.example"\ntimeout_seconds = 2')
                          .replace("poll_seconds = 30", "poll_seconds = 10"))
        proc = start_daemon(config, tmp_path / "daemon.log")
        wait_for(lambda: "imap unavailable" in (tmp_path / "daemon.log").read_text(), 40, "IMAP to time out")
        assert proc.poll() is None  # degraded, not dead
        dovecot.save("progress", NOTE.encode())
        proxy.mode = "pass"
        wait_for(lambda: any("alice@studio.example" in rs for _, rs, _ in sink.messages), 40, "recovery")
        assert proc.poll() is None
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=15)
        proxy.stop()
        sink.stop()


CONTENT_QA = DESIGN.replace("design-1", "qa-1").replace("Design mockups", "Content QA").replace("20261204",
                                                                                               "20261209")


def test_a_slow_resetting_or_restarting_caldav_server_delays_no_reply_and_loses_no_milestone(
    radicale: CalDAVServer, dovecot: DovecotServer, tmp_path: Path
) -> None:
    _calendar(radicale)
    sink = SmtpSink().start()
    proxy = FaultProxy(radicale.port).start()
    proxy.mode, proxy.latency = "latency", 0.2  # every chunk of every answer 0.2 s late
    proc = None
    log = tmp_path / "daemon.log"
    try:
        config = write_config(tmp_path / "dw.toml", caldav_url=f"http://127.0.0.1:{proxy.port}/", caldav_user="pm",
                              imap_port=dovecot.port, smtp_port=sink.port, smtp_security="none", smtp_user="")
        config.write_text(config.read_text().replace('password_file = "' + str(tmp_path) + '/caldav.pw"',
                                                     f'password_file = "{tmp_path}/caldav.pw"\ntimeout_seconds = 3')
                          .replace("poll_seconds = 30", "poll_seconds = 10"))
        proc = start_daemon(config, log)

        def client_heard() -> bool:
            return any("jane@acme.example" in rs for _, rs, _ in sink.messages)

        wait_for(client_heard, 40, "the introduction, synced through a slow server")

        # a server that resets every connection: CalDAV is degraded, the team's notes are answered all the same
        proxy.mode = "reset"
        wait_for(lambda: "caldav unavailable" in log.read_text(), 30, "CalDAV to be reported unavailable")
        dovecot.save("progress", NOTE.encode())
        wait_for(lambda: any("alice@studio.example" in rs for _, rs, _ in sink.messages), 15,
                 "the reply to alice while CalDAV is down")
        assert proc.poll() is None

        # a restart in the middle of a sync: the request in flight dies with the server; the next sync reads all
        radicale.put(radicale.calendar_url("acme-web"), "qa-1", CONTENT_QA)
        proxy.mode, proxy.latency = "latency", 1.0
        wait_for(lambda: proxy.active > 0, 30, "a sync in flight")
        radicale.restart()
        proxy.mode = "pass"

        def synced() -> bool:
            status = deadlinewatch("status", "--json", config=config)
            return status.returncode == 0 and '"Content QA"' in status.stdout
        wait_for(synced, 60, "the milestone added meanwhile, synced after the restart")
        assert proc.poll() is None
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=15) == 0
        proxy.stop()
        sink.stop()
