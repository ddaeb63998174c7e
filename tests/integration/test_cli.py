"""The command line: exit codes and messages of CONTRACT.md, against real servers where a server is involved."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import pytest

from deadlinewatch.demo.servers import CalDAVServer, SmtpSink, free_port
from tests.conftest import deadlinewatch, write_config
from tests.dovecot import DovecotServer

pytestmark = pytest.mark.integration


def dw(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return deadlinewatch(*args, env=env)


def test_init_writes_an_owner_only_starter_config_and_never_overwrites(tmp_path: Path) -> None:
    out = tmp_path / "etc" / "dw.toml"
    first = dw("init", "--out", str(out))
    assert first.returncode == 0 and "check-config --connect" in first.stdout
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert "[[projects]]" in out.read_text()
    again = dw("init", "--out", str(out))
    assert again.returncode == 1 and "already exists" in again.stderr


def test_a_bad_config_exits_78_with_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "dw.toml"
    path.write_text('[daemon]\npoll_seconds = "often"\n')
    result = dw("--config", str(path), "check-config")
    assert result.returncode == 78
    assert 'daemon.poll_seconds = "often": expected a whole number' in result.stderr
    assert "Traceback" not in result.stderr


def test_config_from_the_environment_variable(tmp_path: Path) -> None:
    result = dw("check-config", env={"DEADLINEWATCH_CONFIG": str(tmp_path / "missing.toml")})
    assert result.returncode == 78 and "missing.toml" in result.stderr and "deadlinewatch init" in result.stderr


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert dw("frobnicate").returncode == 2
    assert dw("--now", "yesterday-ish", "init", "--out", "-").returncode == 2


def test_once_exits_69_when_servers_are_unreachable_and_keeps_what_it_could(tmp_path: Path) -> None:
    closed = free_port()
    config = write_config(tmp_path / "dw.toml", caldav_url=f"http://127.0.0.1:{closed}/", caldav_user="pm",
                          imap_port=closed, smtp_port=closed, smtp_security="none", smtp_user="")
    result = dw("--config", str(config), "once")
    assert result.returncode == 69, result.stderr
    assert "caldav unavailable" in result.stderr and "imap unavailable" in result.stderr
    status = json.loads(dw("--config", str(config), "status", "--json").stdout)
    assert status["servers"]["caldav"]["ok"] is False and status["last_pass"] is not None


def test_a_refused_login_exits_78(radicale: CalDAVServer, tmp_path: Path) -> None:
    closed = free_port()
    config = write_config(tmp_path / "dw.toml", caldav_url=radicale.url, caldav_user="pm", imap_port=closed,
                          smtp_port=closed, smtp_security="none", smtp_user="")
    (tmp_path / "caldav.pw").write_text("wrong\n")
    result = dw("--config", str(config), "once")
    assert result.returncode == 78, result.stderr
    assert "refused the login" in result.stderr and "wrong" not in result.stderr


def test_check_config_connect_logs_in_to_each_server(
    radicale: CalDAVServer, dovecot: DovecotServer, smtp_tls: SmtpSink, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "dw.toml", caldav_url=radicale.url, caldav_user="pm",
                          imap_port=dovecot.port, smtp_port=smtp_tls.port)
    result = dw("--config", str(config), "check-config", "--connect")
    assert result.returncode == 0, result.stderr
    assert "caldav: logged in" in result.stdout and "imap: logged in" in result.stdout
    assert "smtp: connected" in result.stdout and "logged in" in result.stdout.splitlines()[-1]
    (tmp_path / "smtp.pw").write_text("wrong\n")
    refused = dw("--config", str(config), "check-config", "--connect")
    assert refused.returncode == 78 and "smtp.username / password" in refused.stderr


def test_an_ambiguous_milestone_exits_2_and_lists_the_candidates(tmp_path: Path) -> None:
    from tests.samples import DESIGN, LAUNCH

    radicale = CalDAVServer(tmp_path / "radicale", kind="radicale").start()
    try:
        for calendar in ("acme-web", "acme-app"):  # two projects copied from one template: the same names
            url = radicale.make_calendar(calendar)
            radicale.put(url, "design-1", DESIGN)
            radicale.put(url, "launch-1", LAUNCH)
        second = ('[[projects]]\nid = "acme-app"\nname = "ACME app"\ncalendar = "acme-app"\n'
                  'client = { name = "Jane Doe", email = "jane@acme.example", language = "en", '
                  'timezone = "Europe/London" }\n')
        config = write_config(tmp_path / "dw.toml", caldav_url=radicale.url, caldav_user="pm", imap_port=free_port(),
                              smtp_port=free_port(), extra=second)
        deadlinewatch("once", config=config, now="2026-11-30T12:00")  # IMAP and SMTP are down: the calendar syncs
        ambiguous = deadlinewatch("preview", "Design mockups", config=config, now="2026-11-30T12:00")
        assert ambiguous.returncode == 2
        assert "acme-web/design-1" in ambiguous.stderr and "acme-app/design-1" in ambiguous.stderr
        one = deadlinewatch("preview", "acme-app/Design mockups", config=config, now="2026-11-30T12:00")
        assert one.returncode == 0, one.stderr
    finally:
        radicale.stop()
