"""status, preview, approve and reject: what the manager sees and decides."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from deadlinewatch.localservers import CalDAVServer, DovecotServer, SmtpSink
from tests.conftest import write_config
from tests.integration.test_whole_loop import DESIGN, LAUNCH, NOTE

pytestmark = pytest.mark.integration


def dw(config: Path, *args: str, now: str = "2026-11-30T12:00") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "deadlinewatch", "--config", str(config), "--now", now, *args],
                          capture_output=True, text=True, timeout=120)


def test_held_notices_wait_for_the_manager_and_status_shows_everything(
    radicale: CalDAVServer, dovecot: DovecotServer, smtp_tls: SmtpSink, tmp_path: Path
) -> None:
    cal = radicale.make_calendar("acme-web")
    radicale.put(cal, "design-1", DESIGN)
    radicale.put(cal, "launch-1", LAUNCH)
    config = write_config(tmp_path / "dw.toml", caldav_url=radicale.url, caldav_user="pm",
                          imap_port=dovecot.port, smtp_port=smtp_tls.port, approval="manager")

    before = dw(config, "preview", "Launch")
    assert before.returncode == 1 and "run `deadlinewatch once` first" in before.stderr

    dovecot.save("progress", NOTE.encode())
    assert dw(config, "once").returncode == 0
    assert not any("jane@acme.example" in rs for _, rs, _ in smtp_tls.messages)  # held, not sent

    status = json.loads(dw(config, "status", "--json").stdout)
    assert set(status) == {"last_pass", "servers", "milestones", "notices"}
    assert all(s["ok"] for s in status["servers"].values())
    design = next(m for m in status["milestones"] if m["uid"] == "design-1")
    assert design["done_percent"] == 20 and design["p_miss"] > 0.6 and design["promised"] is not None
    assert design["p50"] <= design["p80"] and "stated 10 working days left" in design["reason"]
    [notice] = status["notices"]
    assert (notice["kind"], notice["state"], notice["sent"]) == ("notice", "held", None)
    assert "jane@acme.example" in notice["to"]

    human = dw(config, "status")
    assert human.returncode == 0 and "Design mockups" in human.stdout and "held" in human.stdout

    preview = dw(config, "preview", "acme-web/Launch")
    assert preview.returncode == 0
    assert preview.stdout.startswith("policy would not send now")
    assert "Subject: ACME website relaunch: Launch" in preview.stdout and "BEGIN:VCALENDAR" in preview.stdout
    assert dw(config, "preview", "Nonexistent").returncode == 2

    assert dw(config, "approve", "999").returncode == 1
    assert dw(config, "approve", str(notice["id"])).returncode == 0
    assert dw(config, "approve", str(notice["id"])).returncode == 1  # already decided
    assert dw(config, "once", now="2026-11-30T12:10").returncode == 0
    assert sum("jane@acme.example" in rs for _, rs, _ in smtp_tls.messages) == 1
    after = json.loads(dw(config, "status", "--json").stdout)
    assert after["notices"][0]["state"] == "sent" and after["notices"][0]["sent"] is not None
