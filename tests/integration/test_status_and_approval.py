"""status, preview, approve and reject: what the manager sees and decides."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Studio, deadlinewatch
from tests.samples import NOTE

pytestmark = pytest.mark.integration


def dw(config: Path, *args: str, now: str = "2026-11-30T12:00") -> subprocess.CompletedProcess[str]:
    return deadlinewatch(*args, config=config, now=now)


def test_held_notices_wait_for_the_manager_and_status_shows_everything(studio: Studio) -> None:
    config, dovecot, smtp_tls = studio.config, studio.dovecot, studio.smtp
    config.write_text(config.read_text().replace('approval = "auto"', 'approval = "manager"'))

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
    [notice] = [n for n in status["notices"] if n["kind"] == "notice"]
    assert (notice["state"], notice["sent"]) == ("held", None)
    assert all(n["state"] == "held" for n in status["notices"])  # the introduction waits too
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
    [sent] = [n for n in after["notices"] if n["id"] == notice["id"]]
    assert sent["state"] == "sent" and sent["sent"] is not None
