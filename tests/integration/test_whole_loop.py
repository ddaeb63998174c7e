"""`deadlinewatch once` across real CalDAV (Radicale and Xandikos), Dovecot and an SMTP server with STARTTLS+AUTH."""

from __future__ import annotations

import datetime as dt
import subprocess
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import imapclient
import pytest
from icalendar import Calendar

from deadlinewatch.demo.servers import CalDAVServer, DovecotServer, SmtpSink
from tests.conftest import approve_held, deadlinewatch, write_config
from tests.samples import BROKEN, DESIGN, LAUNCH, NOTE, SECRET, STRANGER

pytestmark = pytest.mark.integration

def _once(config: Path, now: str) -> subprocess.CompletedProcess[str]:
    return deadlinewatch("once", config=config, now=now)


def raw_folder(dovecot: DovecotServer, folder: str) -> list[bytes]:
    """A folder's messages as bytes, in UID order (mail with 8-bit headers too)."""
    with imapclient.IMAPClient("127.0.0.1", port=dovecot.port, ssl=False) as c:
        c.login("progress", "progresspw")
        if not c.folder_exists(folder):
            return []
        c.select_folder(folder, readonly=True)
        uids = c.search()
        data = c.fetch(uids, ["RFC822"]) if uids else {}
        return [data[u][b"RFC822"] for u in uids]


def _folder(dovecot: DovecotServer, folder: str) -> list[EmailMessage]:
    return [message_from_bytes(raw, policy=default_policy) for raw in raw_folder(dovecot, folder)]  # type: ignore[misc]


def delivered_to(sink: SmtpSink, address: str) -> list[EmailMessage]:
    """The messages the SMTP server took for an address (its envelope, not what the headers say: the manager is in
    the Cc of a client letter, and gets a copy of their own)."""
    return [message_from_bytes(raw, policy=default_policy) for _, rcpts, raw in sink.messages  # type: ignore[misc]
            if address in rcpts]


def _calendar_part(msg: EmailMessage) -> EmailMessage:
    """The one calendar part a client message carries (an invitation carries nothing else: no PUBLISH beside it)."""
    [request] = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
    assert request.get_param("method") == "REQUEST" and request["Content-Transfer-Encoding"] == "base64"
    return request  # type: ignore[return-value]


def test_once_warns_the_client_answers_the_team_and_files_every_message(
    caldav_server: CalDAVServer, dovecot: DovecotServer, smtp_tls: SmtpSink, tmp_path: Path
) -> None:
    user = "pm" if caldav_server.kind == "radicale" else "user"
    cal = caldav_server.make_calendar("acme-web", "acme-web")
    for uid, ics in (("design-1", DESIGN), ("launch-1", LAUNCH), ("internal-1", SECRET)):
        caldav_server.put(cal, uid, ics)
    for raw in (NOTE, STRANGER, BROKEN):
        dovecot.save("progress", raw.encode())
    config = write_config(tmp_path / "dw.toml", caldav_url=caldav_server.url, caldav_user=user,
                          imap_port=dovecot.port, smtp_port=smtp_tls.port)

    first = _once(config, "2026-11-30T12:00")
    assert first.returncode == 0, first.stderr

    sent = smtp_tls.parsed()
    to_client = delivered_to(smtp_tls, "jane@acme.example")
    # the first message introduces the client-visible milestones in one letter, inviting the nearest one
    intros = [m for m in to_client if m["X-Deadlinewatch-Kind"] == "intro"]
    assert len(intros) == 1 and "Internal security review" not in intros[0].as_string()
    assert len(to_client) == 1  # at first contact: the introduction, and the notice that is due is held:
    # the team is new (no closed milestone), and the forecast's date is over 1.5x as far off as the team's own
    [draft] = [m for m in sent if m["X-Deadlinewatch-Kind"] == "manager-draft"]
    why = " ".join(draft.get_body(("plain",)).get_content().split())
    assert "the forecast promises" in why and "the team's own date of" in why and "risks a second apology" in why
    assert approve_held(config, "2026-11-30T12:01")
    approved = _once(config, "2026-11-30T12:02")  # the approved notice goes out on the next pass
    assert approved.returncode == 0, approved.stderr
    sent = smtp_tls.parsed()
    to_client = delivered_to(smtp_tls, "jane@acme.example")
    assert len(to_client) == 2  # the introduction and the notice, nothing more
    notices = [m for m in to_client if m["X-Deadlinewatch-Kind"] == "notice"]
    assert len(notices) == 1, [m["Subject"] for m in sent]
    notice = notices[0]
    assert "pm@studio.example" in notice["Cc"]
    assert "Design mockups" in notice["Subject"]
    text = notice.get_body(("plain",)).get_content()
    # the five parts, in order
    order = [text.index(s) for s in ("I am sorry", "shareholder meeting", "brand assets arrived",
                                     "Our new date", "second designer", "To make up for", "The updated timeline")]
    assert order == sorted(order)
    assert "Internal security review" not in text  # private milestones never reach the client
    request = _calendar_part(notice)
    req = Calendar.from_ical(request.get_content())
    assert req["METHOD"] == "REQUEST"
    [event] = req.walk("VEVENT")
    # our UID for the client's entry, never the team calendar's; the SEQUENCE raised above the calendar's 2
    assert str(event["UID"]).startswith("dw-") and int(event["SEQUENCE"]) == 3
    # the manager is the organizer (smtp.from) and in Cc: an attendee is someone the invitation goes to
    assert str(event["ATTENDEE"]) == "mailto:jane@acme.example" and "pm@studio.example" in str(event["ORGANIZER"])
    assert event["DTSTART"].dt > dt.date(2026, 12, 4)  # the new date is after the deadline
    assert "10 Dec 2026" in text  # the launch, due on 10 December (an all-day DTEND is exclusive), in the table

    replies = [m for m in sent if "alice@studio.example" in str(m["To"]) and m["X-Deadlinewatch-Kind"] == "reply"]
    assert len(replies) == 1 and replies[0]["In-Reply-To"] == "<note-1@studio.example>"
    assert replies[0]["Auto-Submitted"] == "auto-replied"
    assert "Design mockups" in replies[0].get_content()
    bob = [m for m in sent if "bob@studio.example" in str(m["To"]) and m["X-Deadlinewatch-Kind"] == "reply"]
    assert len(bob) == 1 and "Lunch menu" in bob[0].get_content() and "lots" in bob[0].get_content()
    assert not [m for m in sent if m["To"] and "mallory" in m["To"]]  # strangers are never answered

    assert [m["Message-ID"] for m in _folder(dovecot, "deadlinewatch/processed")] == ["<note-1@studio.example>"]
    rejected = {m["Message-ID"] for m in _folder(dovecot, "deadlinewatch/rejected")}
    assert rejected == {"<evil-1@evil.example>", "<note-2@studio.example>"}

    # a second pass: nothing new is sent; our archive copies are filed in the sent folder
    count = len(smtp_tls.messages)
    second = _once(config, "2026-11-30T12:05")
    assert second.returncode == 0, second.stderr
    assert len(smtp_tls.messages) == count
    archived = {m["Message-ID"] for m in _folder(dovecot, "deadlinewatch/sent")}
    assert notice["Message-ID"] in archived
    assert _folder(dovecot, "INBOX") == []
