"""`deadlinewatch demo`: no config, its own servers, a story, and a client email a mail program shows."""

from __future__ import annotations

import subprocess
import sys
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import pytest
from icalendar import Calendar

pytestmark = pytest.mark.integration


def test_the_demo_tells_the_story_and_leaves_the_client_email(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "deadlinewatch", "--now", "2026-11-23", "demo", "--out", str(out)],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    story = result.stdout
    assert "note from alice@studio.example accepted" in story
    assert "rejected, sender told why" in story  # bob's malformed note
    assert "introduction — #1" in story
    assert 'notice for "Design mockups"' in story and "days before its deadline" in story
    assert 'delivered note for "Design mockups"' in story and "weekly check-in" in story

    intro_file = out / "client-01-intro.eml"
    intro = message_from_bytes(intro_file.read_bytes(), policy=default_policy)
    assert intro["To"] == "Jane Doe <jane@acme.example>" and "timeline" in str(intro["Subject"])
    notice_file = sorted(out.glob("client-*-notice.eml"))[0]
    notice = message_from_bytes(notice_file.read_bytes(), policy=default_policy)
    assert notice["To"] == "Jane Doe <jane@acme.example>" and "pm@studio.example" in notice["Cc"]
    assert str(notice["Subject"]).startswith("Design mockups: new date ")
    assert notice.get_body(("html",)) is not None and notice.get_body(("plain",)) is not None
    stem = notice_file.name.removesuffix(".eml")
    assert not list(out.glob("*-timeline.ics"))  # no PUBLISH beside an invitation (it makes copies)
    request = Calendar.from_ical((out / f"{stem}-request.ics").read_bytes())
    [uid] = [str(e["UID"]) for e in request.walk("VEVENT")]
    assert uid.startswith("dw-") and uid != "demo-design"  # the client's entry: our UID, never the team's
    assert sorted(out.glob("client-*-delivered.eml")) and sorted(out.glob("client-*-weekly.eml"))
    # the demo leaves no servers behind: its temporary folder is gone
    assert "Starting local servers in" in story
    folder = story.split("Starting local servers in ", 1)[1].split(" ")[0]
    assert not Path(folder).exists()
