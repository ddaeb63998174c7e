"""`deadlinewatch once` across real CalDAV (Radicale and Xandikos), Dovecot and an SMTP server with STARTTLS+AUTH."""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Callable
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import imapclient
import pytest
from icalendar import Calendar

from deadlinewatch.demo.servers import CalDAVServer, SmtpSink
from tests.conftest import approve_held, deadlinewatch, write_config
from tests.dovecot import DovecotServer
from tests.ical import sequence, when
from tests.mailtext import body
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
    return [message_from_bytes(raw, policy=default_policy) for raw in raw_folder(dovecot, folder)]


def delivered_to(sink: SmtpSink, address: str) -> list[EmailMessage]:
    """The messages the SMTP server took for an address (its envelope, not what the headers say: the manager is in
    the Cc of a client letter, and gets a copy of their own)."""
    return [message_from_bytes(raw, policy=default_policy) for _, rcpts, raw in sink.messages
            if address in rcpts]


def _calendar_part(msg: EmailMessage) -> EmailMessage:
    """The one calendar part a client message carries (an invitation carries nothing else: no PUBLISH beside it)."""
    [request] = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
    assert request.get_param("method") == "REQUEST" and request["Content-Transfer-Encoding"] == "base64"
    return request


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
    why = " ".join(body(draft).split())
    assert "The draft promises the forecast's date" in why and "later than the team's own date (" in why
    assert "risks a second apology" in why
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
    text = body(notice)
    # the five parts, in order
    order = [text.index(s) for s in ("I'm sorry", "shareholder meeting", "brand assets arrived", "Our new date",
                                     "second designer", "make up for the inconvenience",
                                     "Here is the updated timeline")]
    assert order == sorted(order)
    assert "Internal security review" not in text  # private milestones never reach the client
    request = _calendar_part(notice)
    req = Calendar.from_ical(request.get_content())
    assert req["METHOD"] == "REQUEST"
    [event] = req.walk("VEVENT")
    # our UID for the client's entry, never the team calendar's; the SEQUENCE raised above the calendar's 2
    assert str(event["UID"]).startswith("dw-") and sequence(event) == 3
    # the manager is the organizer (smtp.from) and in Cc: an attendee is someone the invitation goes to
    assert str(event["ATTENDEE"]) == "mailto:jane@acme.example" and "pm@studio.example" in str(event["ORGANIZER"])
    assert when(event, "DTSTART") > dt.date(2026, 12, 4)  # the new date is after the deadline
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


# the whole conversation of #27's "Done when": a linked launch (a dependant's update), a milestone only ever in a
# letter's table, a client's colleague in Cc, two notices, the manager's approvals, then two cancellations
QA = LAUNCH.replace("launch-1", "qa-1").replace("SUMMARY:Launch", "SUMMARY:Content QA").replace(
    "20261210", "20270218").replace("20261211", "20270219")
LINKED_DESIGN = DESIGN.replace("SEQUENCE:2\n", "SEQUENCE:2\nRELATED-TO;RELTYPE=FINISHTOSTART:launch-1\n")
EIGHTFOLD = NOTE.replace("note-1@", "note-9@").replace("Done: 20%\nRemaining: 10 days", "Done: 25%\nRemaining: 80 days")


def _calendars(msg: EmailMessage) -> list[EmailMessage]:
    """Every calendar part of a message, nested ones (a draft's attached letter) included."""
    return [p for p in msg.walk() if p.get_content_type() == "text/calendar"]


def _team_uids(caldav: CalDAVServer, config: Path) -> set[str]:
    from deadlinewatch import config as config_mod
    from deadlinewatch.adapters.calendar import CalDAVCalendar

    loaded = config_mod.load(config)
    source = CalDAVCalendar(loaded.caldav.url, loaded.accounts["caldav"], timeout=30)
    return {str(e["UID"]) for entry in source.changes("acme-web", None, None, {}).changed
            for e in Calendar.from_ical(entry.ics).walk() if e.name in ("VEVENT", "VTODO")}


def test_no_message_carries_the_team_calendars_uid_and_the_manager_gets_no_live_calendar_part(
    radicale: CalDAVServer, dovecot: DovecotServer, smtp_tls: SmtpSink, tmp_path: Path,
    icaljs: Callable[[bytes | str], dict[str, Any]],
) -> None:
    cal = radicale.make_calendar("acme-web")
    for uid, ics in (("design-1", LINKED_DESIGN), ("launch-1", LAUNCH), ("qa-1", QA)):
        radicale.put(cal, uid, ics)
    config = write_config(tmp_path / "dw.toml", caldav_url=radicale.url, caldav_user="pm", imap_port=dovecot.port,
                          smtp_port=smtp_tls.port, client_cc=("cto@acme.example",))
    team = _team_uids(radicale, config)
    assert team == {"design-1", "launch-1", "qa-1"}

    dovecot.save("progress", NOTE.encode())
    for now in ("2026-11-30T12:00", "2026-11-30T12:01"):  # the intro, the notice held; approved, it goes
        assert _once(config, now).returncode == 0
        approve_held(config, now)
    dovecot.save("progress", EIGHTFOLD.encode())
    for now in ("2026-12-01T12:00", "2026-12-01T12:01"):  # a second notice: the promise is broken
        assert _once(config, now).returncode == 0
        approve_held(config, now)
    for uid in ("launch-1", "qa-1"):  # the launch was invited (the design moved it); Content QA only listed
        radicale.delete(cal, uid)
    assert _once(config, "2026-12-01T12:30").returncode == 0

    kinds = [message_from_bytes(raw, policy=default_policy)["X-Deadlinewatch-Kind"] for _, _, raw in
             smtp_tls.messages]
    assert {"intro", "notice", "update", "cancel", "manager-draft", "manager-copy"} <= set(kinds), kinds
    sequences: dict[str, list[int]] = {}  # every SEQUENCE sent to the client, by UID, in order
    cancelled: dict[str, str] = {}
    for _, rcpts, raw in smtp_tls.messages:
        msg = message_from_bytes(raw, policy=default_policy)
        parts = _calendars(msg)
        if "pm@studio.example" in rcpts:  # the manager's copies, drafts and notes: never a live calendar part
            assert parts == [] and b"method=" not in raw.lower(), msg["X-Deadlinewatch-Kind"]
            continue
        for part in parts:
            ics = part.get_content()
            assert icaljs(ics)["method"] == part.get_param("method")
            [event] = Calendar.from_ical(ics).walk("VEVENT")
            uid, revision = str(event["UID"]), sequence(event)
            assert uid not in team, f"{msg['X-Deadlinewatch-Kind']} carries the team calendar's UID {uid}"
            # the entry says what it is, in the client's language (English here)
            assert str(event["DESCRIPTION"]).startswith(("Moved from ", "Status: ")), event["DESCRIPTION"]
            assert isinstance(event["ATTENDEE"], list)  # two of them: icalendar gives a list
            assert sorted(str(a) for a in event["ATTENDEE"]) == ["mailto:cto@acme.example", "mailto:jane@acme.example"]
            if part.get_param("method") == "CANCEL":
                # only an entry the client's calendar has, cancelled, newer than every SEQUENCE it was sent with
                assert uid in sequences, "a cancellation of an entry never invited"
                assert str(event["STATUS"]) == "CANCELLED" and revision > max(sequences[uid])
                cancelled[uid] = str(event["SUMMARY"])
            sequences.setdefault(uid, []).append(revision)
    assert list(cancelled.values()) == ["ACME website relaunch: Launch"]  # Content QA was never in their calendar
    to_client = delivered_to(smtp_tls, "jane@acme.example")
    qa = [m for m in to_client if m["X-Deadlinewatch-Kind"] == "cancel" and "Content QA" in str(m["Subject"])]
    assert len(qa) == 1 and _calendars(qa[0]) == []  # its letter went, without a cancellation
    assert sum(m["X-Deadlinewatch-Kind"] == "notice" for m in to_client) == 2
    # each letter with a calendar part reached the manager as a copy of their own, the change said in words
    copies = delivered_to(smtp_tls, "pm@studio.example")
    said = [m for m in copies if m["X-Deadlinewatch-Kind"] == "manager-copy"]
    assert len(said) == sum(bool(_calendars(m)) for m in to_client)
    assert all("It is left out of this copy" in body(m) for m in said)


def test_under_shadow_the_manager_gets_every_letter_with_its_calendar_change_in_words_only(
    radicale: CalDAVServer, dovecot: DovecotServer, smtp_tls: SmtpSink, tmp_path: Path,
) -> None:
    cal = radicale.make_calendar("acme-web")
    for uid, ics in (("design-1", LINKED_DESIGN), ("launch-1", LAUNCH)):
        radicale.put(cal, uid, ics)
    config = write_config(tmp_path / "dw.toml", caldav_url=radicale.url, caldav_user="pm", imap_port=dovecot.port,
                          smtp_port=smtp_tls.port, approval="shadow")
    dovecot.save("progress", NOTE.encode())
    assert _once(config, "2026-11-30T12:00").returncode == 0
    assert delivered_to(smtp_tls, "jane@acme.example") == []
    shadows = [m for m in delivered_to(smtp_tls, "pm@studio.example")
               if str(m["Subject"]).strip().startswith("[shadow: would go to jane@acme.example]")]
    assert {m["X-Deadlinewatch-Kind"] for m in shadows} >= {"intro", "notice", "update"}
    for _, rcpts, raw in smtp_tls.messages:
        if "pm@studio.example" in rcpts:
            assert _calendars(message_from_bytes(raw, policy=default_policy)) == [] and b"method=" not in raw.lower()
    assert all("It is left out of this copy" in body(m) for m in shadows
               if m["X-Deadlinewatch-Kind"] != "weekly")
    # the client's own page and calendar copy show nothing the shadow letters said
    from deadlinewatch import config as config_mod
    from deadlinewatch.adapters.store import Store
    from deadlinewatch.stages.state import view, view_as_told

    loaded = config_mod.load(config)
    store = Store.open(loaded.state_dir)
    try:
        project = loaded.projects[0]
        assert view(store, project).dates["design-1"].promised is not None  # the manager saw the notice
        assert all(cd.promised is None for cd in view_as_told(store, project).dates.values())
    finally:
        store.close()
    # out of shadow, the client hears it all for the first time: introduced, and told of the slip as news — not
    # "again", not "the new date I gave you" (they were given none)
    config = write_config(tmp_path / "dw.toml", caldav_url=radicale.url, caldav_user="pm", imap_port=dovecot.port,
                          smtp_port=smtp_tls.port, approval="auto")
    assert _once(config, "2026-11-30T12:30").returncode == 0
    assert approve_held(config, "2026-11-30T12:31")  # a new team's first notice waits for the manager
    assert _once(config, "2026-11-30T12:32").returncode == 0
    to_client = delivered_to(smtp_tls, "jane@acme.example")
    kinds = [m["X-Deadlinewatch-Kind"] for m in to_client]
    assert "intro" in kinds and "notice" in kinds
    notice = next(m for m in to_client if m["X-Deadlinewatch-Kind"] == "notice")
    assert "again" not in body(notice) and "I gave you" not in body(notice)
    assert _calendars(notice)  # its entry goes into the client's calendar: the shadow invitation never did
