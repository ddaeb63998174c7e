"""`deadlinewatch run`: a pass on every IDLE wake-up, SIGHUP reloads (or refuses), SIGTERM ends it cleanly."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Studio, deadlinewatch, start_daemon
from tests.samples import NOTE

pytestmark = pytest.mark.integration


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_the_daemon_answers_a_note_within_seconds_and_stops_cleanly(studio: Studio, tmp_path: Path) -> None:
    config, dovecot, smtp_tls = studio.config, studio.dovecot, studio.smtp
    proc = start_daemon(config, tmp_path / "daemon.log")
    try:
        wait_for(lambda: "deadlinewatch running" in (tmp_path / "daemon.log").read_text(), 30, "the daemon")
        # a second daemon, or a `once`, refuses to run beside it
        once = deadlinewatch("once", config=config)
        assert once.returncode == 1 and "in use by another deadlinewatch" in once.stderr

        time.sleep(0.5)  # let the first pass finish, so the note below arrives while the daemon IDLEs
        started = time.monotonic()
        dovecot.save("progress", NOTE.encode())
        wait_for(lambda: any("alice@studio.example" in r for _, rs, _ in smtp_tls.messages for r in rs), 15,
                 "the reply to alice")
        assert time.monotonic() - started < 10  # IDLE, not the 30 s poll
        wait_for(lambda: any("jane@acme.example" in rs for _, rs, _ in smtp_tls.messages), 15, "the notice")

        config.write_text(config.read_text().replace("[policy]", "[policy]\nwarn_probability = 5"))
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload refused" in (tmp_path / "daemon.log").read_text(), 15, "the refused reload")
        assert proc.poll() is None

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert "deadlinewatch stopped" in (tmp_path / "daemon.log").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_commands_go_through_the_running_daemon(studio: Studio, tmp_path: Path) -> None:
    config = studio.config
    config.write_text(config.read_text().replace('approval = "auto"', 'approval = "manager"'))
    proc = start_daemon(config, tmp_path / "daemon.log")
    try:
        wait_for(lambda: "deadlinewatch running" in (tmp_path / "daemon.log").read_text(), 30, "the daemon")
        assert (config.parent / "state" / "control.sock").is_socket()
        studio.dovecot.save("progress", NOTE.encode())
        wait_for(lambda: '"state": "held"' in deadlinewatch("status", "--json", config=config).stdout and
                 '"kind": "notice"' in deadlinewatch("status", "--json", config=config).stdout, 20, "a held notice")
        status = json.loads(deadlinewatch("status", "--json", config=config).stdout)
        notice = next(n for n in status["notices"] if n["kind"] == "notice")
        # the daemon answers for itself: alone with its SQLite state, it holds every part of the work
        [running] = status["daemons"]
        assert running["pid"] == proc.pid and running["holds"] == ["calendars", "evaluation", "mailbox", "outbox"]
        preview = deadlinewatch("preview", "acme-web/Design mockups", config=config)
        assert preview.returncode == 0 and "X-Deadlinewatch-Kind: notice" in preview.stdout
        assert deadlinewatch("approve", "12345", config=config).returncode == 1
        started = time.monotonic()
        approved = deadlinewatch("approve", str(notice["id"]), config=config)
        assert approved.returncode == 0, approved.stderr
        # the daemon acts on the decision at once: no waiting for the 30 s poll
        wait_for(lambda: any("jane@acme.example" in rs for _, rs, _ in studio.smtp.messages), 10, "the notice")
        assert time.monotonic() - started < 10
        assert deadlinewatch("reject", str(notice["id"]), config=config).returncode == 1  # already decided
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
    assert not (config.parent / "state" / "control.sock").exists()
    assert json.loads(deadlinewatch("status", "--json", config=config).stdout)["daemons"] == []  # none runs now


def test_systemd_hears_ready_status_and_the_watchdog_and_prometheus_sees_the_passes(
    studio: Studio, tmp_path: Path
) -> None:
    import socket as socketlib
    import urllib.request

    from deadlinewatch.demo.servers import free_port

    notify = tmp_path / "notify.sock"
    listener = socketlib.socket(socketlib.AF_UNIX, socketlib.SOCK_DGRAM)
    listener.bind(str(notify))
    listener.settimeout(0.2)
    port = free_port()
    config = studio.config
    text = config.read_text().replace("[policy]", f'[metrics]\nlisten = "127.0.0.1:{port}"\n\n[policy]')
    config.write_text(text)
    proc = start_daemon(config, tmp_path / "daemon.log", NOTIFY_SOCKET=str(notify), WATCHDOG_USEC="2000000")
    messages: list[str] = []

    def heard(what: str) -> bool:
        with contextlib.suppress(TimeoutError):
            messages.append(listener.recv(4096).decode())
        return any(what in m for m in messages)

    try:
        wait_for(lambda: heard("READY=1"), 30, "READY=1")
        wait_for(lambda: heard("STATUS=ok"), 30, "a STATUS line after the first pass")
        wait_for(lambda: heard("WATCHDOG=1"), 10, "the watchdog")

        def page() -> str:
            text: str = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
            return text

        # one task per stage, each timed (the inbox's first run waits for the first calendar sync)
        stages = [f'deadlinewatch_stage_seconds_count{{stage="{s}"}}' for s in ("inbox", "calendar", "evaluator",
                                                                               "outbox")]
        wait_for(lambda: all(s in page() for s in stages), 30, "a run of every worker in the metrics")
        text = page()
        passes = re.search(r"^deadlinewatch_passes_total (\S+)$", text, re.M)
        assert passes is not None and float(passes.group(1)) >= 1
        assert "deadlinewatch_pass_seconds_bucket" in text and "deadlinewatch_milestones_at_risk" in text
        assert re.search(r"^deadlinewatch_inbox_failing 0\.0$", text, re.M)  # an inbox that keeps up
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        wait_for(lambda: heard("STOPPING=1"), 5, "STOPPING=1")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        listener.close()
