"""`status` as a person reads it: each deadline is the day its client holds, beside P50 and P80, which are days."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deadlinewatch import config as config_mod
from deadlinewatch.demo.servers import write_local_config
from deadlinewatch.manage import render_status


def _status(tmp_path: Path, deadline: str, project: str = "acme-web") -> str:
    config = config_mod.load(write_local_config(tmp_path / "dw.toml", caldav_url="http://127.0.0.1:9/", imap_port=9,
                                                smtp_port=9))
    milestone: dict[str, Any] = {
        "project": project, "uid": "design-1", "name": "Design mockups", "deadline": deadline, "state": "open",
        "done_percent": 40, "last_note": None, "p50": "2026-12-04", "p80": "2026-12-07", "p_miss": 0.55,
        "reason": "", "promised": None, "alert": False}
    data: dict[str, Any] = {"last_pass": None, "daemons": [], "servers": {}, "projects": [], "milestones": [milestone],
                            "notices": []}
    [line] = [line for line in render_status(data, config).splitlines() if "Design mockups" in line]
    return line


def test_an_all_day_deadline_is_the_day_its_client_holds(tmp_path: Path) -> None:
    # due Friday 4 December in London (the client's zone): it ends at London's midnight, the 5th at 00:00 — which
    # `status` showed as "due 2026-12-05T00:00" beside a P50 of the 4th, a day late read as on time
    line = _status(tmp_path, "2026-12-05T00:00:00+00:00")
    assert "due 2026-12-04, open" in line and "2026-12-05" not in line


def test_a_deadline_at_a_time_of_day_says_it_where_the_client_is(tmp_path: Path) -> None:
    assert "due 2026-12-04 17:00 Europe/London, open" in _status(tmp_path, "2026-12-04T20:00:00+03:00")


def test_a_project_no_longer_configured_shows_the_deadline_as_stored(tmp_path: Path) -> None:
    assert "due 2026-12-05T00:00, open" in _status(tmp_path, "2026-12-05T00:00:00+00:00", project="gone")


def test_every_moment_is_in_the_teams_zone_named_once(tmp_path: Path) -> None:
    """A notice created at 22:30 in London is 01:30 the next day in the team's Istanbul: `status` said "created
    2026-12-04T22:30" (the stored text, its offset cut off) where the dashboard says Dec 5 (the zone audit)."""
    config = config_mod.load(write_local_config(tmp_path / "dw.toml", caldav_url="http://127.0.0.1:9/", imap_port=9,
                                                smtp_port=9))
    notice = {"id": 3, "project": "acme-web", "uid": "design-1", "kind": "notice", "state": "sent",
              "to": "jane@acme.example", "created": "2026-12-04T22:30:00+00:00", "sent": "2026-12-04T22:31:00+00:00"}
    data: dict[str, Any] = {"last_pass": "2026-12-04T22:35:00+00:00", "daemons": [], "servers": {}, "projects": [],
                            "milestones": [], "notices": [notice]}
    text = render_status(data, config)
    assert "last pass: 2026-12-05 01:35 (Europe/Istanbul)" in text
    assert "created 2026-12-05 01:30, sent 2026-12-05 01:31" in text


def test_a_check_in_is_listed_by_its_project_not_a_milestone_of_none(tmp_path: Path) -> None:
    """The contract audit: `status` listed a weekly check-in as "acme-web/None"."""
    config = config_mod.load(write_local_config(tmp_path / "dw.toml", caldav_url="http://127.0.0.1:9/", imap_port=9,
                                                smtp_port=9))
    weekly = {"id": 4, "project": "acme-web", "uid": None, "kind": "weekly", "state": "sent",
              "to": "jane@acme.example", "created": "2026-12-04T09:00:00+00:00", "sent": None}
    data: dict[str, Any] = {"last_pass": None, "daemons": [], "servers": {}, "projects": [], "milestones": [],
                            "notices": [weekly]}
    text = render_status(data, config)
    assert "#4 weekly    sent     acme-web to jane@acme.example" in text and "None" not in text
