"""The team's word decides, on real servers (issue 25): the README's own note tells the client in the same pass;
a rejected date is never called the date we gave; the manager chooses the date by command and by mail."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from tests.conftest import Studio, calendar_parts, deadlinewatch
from tests.integration.test_conversation import LATER_NOTE, configure, manager_answer, once, sent, status
from tests.mailtext import body
from tests.samples import NOTE

pytestmark = pytest.mark.integration

HOMEPAGE = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VTODO
UID:homepage-1
DTSTAMP:20261101T000000Z
SUMMARY:Homepage build
DUE;VALUE=DATE:20261214
END:VTODO
END:VCALENDAR
"""
# the README's example note, word for word but the milestone: no ETA line, the team says five days late
README_NOTE = NOTE.replace("Milestone: design mockups", "Milestone: Homepage build").replace(
    "Remaining: 10 days", "Remaining: 15 days")


def test_the_readme_note_without_an_eta_tells_the_client_in_the_same_pass(studio: Studio) -> None:
    studio.caldav.put(studio.caldav.calendar_url("acme-web"), "homepage-1", HOMEPAGE)
    studio.dovecot.save("progress", README_NOTE.encode())
    once(studio, "2026-11-30T12:00")  # Monday: due Monday 14 December, ten working days on
    homepage = [n for n in status(studio)["notices"] if n["uid"] == "homepage-1" and n["kind"] == "notice"]
    assert len(homepage) == 1, status(studio)["notices"]
    if homepage[0]["state"] == "held":  # the forecast outruns a team it knows too little: both dates to the manager
        [draft] = [d for d in sent(studio, "manager-draft", to="pm@studio.example") if "Homepage" in str(d["Subject"])]
        text = body(draft).replace("\r\n", "\n")
        # both dates, why they differ, and what each choice risks (the note's time is its arrival here: the date
        # the team's Remaining ends follows from it)
        assert "The draft promises the forecast's date" in text and "later than the team's own date (" in text
        assert 'to send the team\'s date, reply "approve 2026-12-' in text
        assert "risks a second apology" in text
    else:
        [notice] = [m for m in sent(studio, "notice") if "Homepage build" in str(m["Subject"])]
        assert "I'm sorry to tell you" in body(notice)


def _held_notice(studio: Studio) -> dict[str, object]:
    notices: list[dict[str, object]] = status(studio)["notices"]
    [held] = [n for n in notices if n["kind"] == "notice" and n["state"] == "held"]
    return held


def _text(msg: EmailMessage) -> str:
    return body(msg)


def test_a_rejected_date_is_never_called_the_date_we_gave(studio: Studio) -> None:
    configure(studio, approval="manager")
    studio.dovecot.save("progress", NOTE.encode())
    once(studio, "2026-11-30T12:00")
    first = _held_notice(studio)
    assert deadlinewatch("reject", str(first["id"]), config=studio.config).returncode == 0
    once(studio, "2026-11-30T12:30")
    assert [n for n in status(studio)["notices"] if n["kind"] == "notice" and n["state"] == "held"] == []
    studio.dovecot.save("progress", LATER_NOTE.encode())  # the news moves past the rejected date
    once(studio, "2026-12-01T12:00")
    second = _held_notice(studio)
    assert second["id"] != first["id"]
    assert deadlinewatch("approve", str(second["id"]), config=studio.config).returncode == 0
    once(studio, "2026-12-01T12:30")
    [notice] = sent(studio, "notice")
    assert "the new date I gave you" not in _text(notice) and "another new date" not in str(notice["Subject"])
    assert "I'm sorry to tell you that we won't be able to deliver the “Design mockups” milestone by" in _text(notice)


NOON = "2026-11-30T12:10"  # the story's clock for the manager's commands: their date must be after its today


def test_the_manager_chooses_the_date_by_command(studio: Studio) -> None:
    configure(studio, approval="manager")
    studio.dovecot.save("progress", NOTE.encode())
    once(studio, "2026-11-30T12:00")
    held = _held_notice(studio)
    too_early = deadlinewatch("approve", str(held["id"]), "--date", "2026-12-04", config=studio.config, now=NOON)
    assert too_early.returncode == 2 and "not after the deadline" in too_early.stderr
    weekend = deadlinewatch("approve", str(held["id"]), "--date", "2026-12-19", config=studio.config, now=NOON)
    assert weekend.returncode == 2 and "2026-12-21" in weekend.stderr  # the next day that will do
    chosen = deadlinewatch("approve", str(held["id"]), "--date", "2026-12-18", config=studio.config, now=NOON)
    assert chosen.returncode == 0, chosen.stderr
    assert deadlinewatch("approve", str(held["id"]), config=studio.config, now=NOON).returncode == 1  # decided already
    once(studio, "2026-11-30T12:30")
    [notice] = sent(studio, "notice")
    assert "Friday, 18 December 2026" in _text(notice)
    [request] = calendar_parts(notice)
    assert "DTSTART;VALUE=DATE:20261218" in request.get_content()
    states = {n["id"]: n["state"] for n in status(studio)["notices"] if n["kind"] == "notice"}
    assert states[held["id"]] == "rejected" and list(states.values()).count("sent") == 1


def test_the_manager_chooses_the_date_by_mail(studio: Studio) -> None:
    configure(studio, approval="manager")
    studio.dovecot.save("progress", NOTE.encode())
    once(studio, "2026-11-30T12:00")
    [draft] = [d for d in sent(studio, "manager-draft", to="pm@studio.example") if "Design" in str(d["Subject"])]
    studio.dovecot.save("progress", manager_answer(draft, "approve 17 December\n\n> the draft\n"))
    once(studio, "2026-11-30T12:30")
    [notice] = sent(studio, "notice")
    assert "Thursday, 17 December 2026" in _text(notice)
    decided = [d for d in sent(studio, "manager-decided", to="pm@studio.example")]
    assert decided and "approved with the date 17 Dec 2026" in _text(decided[-1])  # in the team's locale
