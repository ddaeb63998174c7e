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
    once = dw(config, "once")
    assert once.returncode == 0
    assert not any("jane@acme.example" in rs for _, rs, _ in smtp_tls.messages)  # held, not sent
    # the design is due Friday 4 December where the client is (London): its day, not the moment's in the team's
    # zone (Istanbul, "Sat 05 Dec 2026 03:00"), as `status` says it beside P50 and P80
    assert 'new milestone "Design mockups", due 2026-12-04' in once.stdout + once.stderr

    status = json.loads(dw(config, "status", "--json").stdout)
    assert set(status) == {"last_pass", "daemons", "servers", "projects", "milestones", "notices"}
    assert status["daemons"] == []  # `once` ran and ended: no daemon runs on this state
    assert status["projects"] == [{"id": "acme-web", "name": "ACME website relaunch", "client_page": None}]  # web off
    assert all(s["ok"] for s in status["servers"].values())
    design = next(m for m in status["milestones"] if m["uid"] == "design-1")
    # held: nothing was promised to the client yet (status says what the client was told)
    assert design["done_percent"] == 20 and design["p_miss"] > 0.6 and design["promised"] is None
    assert design["p50"] <= design["p80"] and "The team says it needs another 10 working days." in design["reason"]
    assert design["alert"] is True  # the manager heard first, in a mail of its own
    alerts = [data for _, rs, data in smtp_tls.messages if b"Subject: At risk: ACME website relaunch: Design mockups"
              in data and "pm@studio.example" in rs]
    assert len(alerts) == 1 and b"To recover it, " in alerts[0]
    [notice] = [n for n in status["notices"] if n["kind"] == "notice"]
    assert (notice["state"], notice["sent"]) == ("held", None)
    assert all(n["state"] == "held" for n in status["notices"])  # the introduction waits too
    assert "jane@acme.example" in notice["to"]

    human = dw(config, "status")
    assert human.returncode == 0 and "Design mockups: due 2026-12-04, open" in human.stdout and "held" in human.stdout

    preview = dw(config, "preview", "acme-web/Launch")
    assert preview.returncode == 0
    assert preview.stdout.startswith("policy would not send now")
    assert "Subject: Launch: new date " in preview.stdout and "BEGIN:VCALENDAR" in preview.stdout
    assert dw(config, "preview", "Nonexistent").returncode == 2

    assert dw(config, "approve", "999").returncode == 1
    assert dw(config, "approve", str(notice["id"])).returncode == 0
    assert dw(config, "approve", str(notice["id"])).returncode == 1  # already decided
    assert dw(config, "once", now="2026-11-30T12:10").returncode == 0
    assert sum("jane@acme.example" in rs for _, rs, _ in smtp_tls.messages) == 1
    after = json.loads(dw(config, "status", "--json").stdout)
    [sent] = [n for n in after["notices"] if n["id"] == notice["id"]]
    assert sent["state"] == "sent" and sent["sent"] is not None and sent["decided_by"] == "cli"
    assert sum(b"Subject: At risk:" in data for _, _, data in smtp_tls.messages) == 1  # once per episode


def _todo(uid: str, name: str, start: str, due: str) -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VTODO\r\n"
            f"UID:{uid}\r\nDTSTAMP:20261101T000000Z\r\nSUMMARY:{name}\r\n"
            f"DTSTART;VALUE=DATE:{start}\r\nDUE;VALUE=DATE:{due}\r\nEND:VTODO\r\nEND:VCALENDAR\r\n")


def _note(n: int, date: str, body: str) -> bytes:
    return (f"From: Alice <alice@studio.example>\r\nTo: progress@studio.example\r\n"
            f"Subject: [acme-web] progress\r\nDate: {date}\r\nMessage-ID: <plan-{n}@studio.example>\r\n\r\n"
            f"{body}\r\n").encode()


def test_the_daemon_learns_how_the_teams_plans_run_from_the_calendar(studio: Studio) -> None:
    """VTODOs with a DTSTART carry the team's plan. Two that were planned for a week took three: the plan of
    the next one is read as about 3x too short — and `status` says so, in the reason."""
    cal = studio.caldav.calendar_url("acme-web")
    studio.caldav.put(cal, "wire-1", _todo("wire-1", "Wireframes", "20261005", "20261009"))
    studio.caldav.put(cal, "copy-1", _todo("copy-1", "Site copy", "20261005", "20261009"))
    studio.caldav.put(cal, "seo-1", _todo("seo-1", "SEO audit", "20261123", "20261211"))
    config = studio.config
    assert dw(config, "once", now="2026-10-05T09:00").returncode == 0  # the calendar is read
    for n, name in enumerate(("Wireframes", "Site copy")):
        studio.dovecot.save("progress", _note(n, "Fri, 23 Oct 2026 16:00:00 +0000", f"Milestone: {name}\nDone: 100%"))
    studio.dovecot.save("progress", _note(2, "Mon, 30 Nov 2026 08:00:00 +0000", "Milestone: SEO audit\nDone: 25%"))
    assert dw(config, "once").returncode == 0
    status = json.loads(dw(config, "status", "--json").stdout)
    seo = next(m for m in status["milestones"] if m["uid"] == "seo-1")
    assert "The plan gave it 15 working days from 2026-11-23" in seo["reason"], seo["reason"]
    learned = float(seo["reason"].split("this team's plans have taken ")[1].split(" times")[0])
    assert learned > 2.0  # the prior's 1.8x moved toward the 3x these two took
    assert seo["p_miss"] > 0.5 and seo["p80"] > "2026-12-11"


def test_the_daemon_relearns_the_plans_bias_when_a_note_closes_a_milestone_the_same_day(studio: Studio) -> None:
    """The learned spread is kept between passes while nothing it was learned from changed — and only then."""
    import asyncio
    import datetime as dt

    from deadlinewatch import config as config_mod
    from deadlinewatch import wiring
    from deadlinewatch.adapters.clock import FixedClock
    from deadlinewatch.adapters.store import Store
    from deadlinewatch.core.forecast import Spread
    from deadlinewatch.pipeline import run_pass

    cal = studio.caldav.calendar_url("acme-web")
    studio.caldav.put(cal, "wire-1", _todo("wire-1", "Wireframes", "20261005", "20261009"))
    config = config_mod.load(studio.config)
    store = Store.open(config.state_dir)
    svc = wiring.services(config, store, FixedClock(dt.datetime(2026, 11, 30, 9, tzinfo=dt.UTC)))
    def used() -> Spread:  # the spread the pass's evaluation forecast with: the last one learned
        [spread] = svc.learned.values()
        return spread

    try:
        asyncio.run(run_pass(svc))
        before = used()
        asyncio.run(run_pass(svc))
        assert used() is before  # nothing changed: not learned again
        done = _note(9, "Mon, 30 Nov 2026 08:00:00 +0000", "Milestone: Wireframes\nDone: 100%")
        studio.dovecot.save("progress", done)
        asyncio.run(run_pass(svc))
        # open, it said "more than 41 working days for a plan of 5"; done, it says "exactly 41": less than that
        assert used().plan_bias != before.plan_bias
    finally:
        store.close()
