"""The client conversation on real servers: calendar data that lands, approval by email and by command,
every outbox transition (a crash between `sending` and `sent` included), bounces, cancellations, dependants,
the weekly check-in."""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import imapclient
import pytest
from icalendar import Calendar

from tests.conftest import Studio, approve_held, calendar_parts, deadlinewatch, write_config
from tests.ical import when
from tests.integration.test_whole_loop import _folder
from tests.mailtext import body
from tests.samples import NOTE

pytestmark = pytest.mark.integration

# the team revises its estimate eightfold (no longer noise it averages away): a second notice is due
LATER_NOTE = NOTE.replace("note-1@", "note-9@").replace("Done: 20%\nRemaining: 10 days",
                                                        "Done: 25%\nRemaining: 80 days")


def once(studio: Studio, now: str) -> None:
    result = deadlinewatch("once", config=studio.config, now=now)
    assert result.returncode == 0, result.stderr


def once_approved(studio: Studio, now: str) -> None:
    """One pass, the held notice approved, and the pass that sends it: a new team's notice waits for the manager
    (the forecast outruns a team with no closed milestone; CONTRACT.md)."""
    once(studio, now)
    assert approve_held(studio.config, now)
    once(studio, now)


def sent(studio: Studio, kind: str | None = None, to: str = "jane@acme.example") -> list[EmailMessage]:
    return [m for m in studio.smtp.parsed()
            if to in str(m.get("To", "")) and (kind is None or m["X-Deadlinewatch-Kind"] == kind)]


def configure(studio: Studio, **more: Any) -> None:
    write_config(studio.config, caldav_url=studio.caldav.url, caldav_user="pm", imap_port=studio.dovecot.port,
                 smtp_port=studio.smtp.port, **more)


def status(studio: Studio) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(deadlinewatch("status", "--json", config=studio.config).stdout)
    return report


def test_every_calendar_parses_in_both_parsers_uids_stay_and_sequence_grows(
    studio: Studio, icaljs: Callable[[bytes | str], dict[str, Any]]
) -> None:
    studio.dovecot.save("progress", NOTE.encode())
    once_approved(studio, "2026-11-30T12:00")
    studio.dovecot.save("progress", LATER_NOTE.encode())
    once_approved(studio, "2026-12-01T12:00")  # the eightfold revision outruns the team's own date too
    design_sequences = []
    for msg in sent(studio):
        for part in calendar_parts(msg):
            ics = part.get_content()
            ours = Calendar.from_ical(ics)
            theirs = icaljs(ics)
            assert theirs["method"] == str(ours["METHOD"]) == part.get_param("method")
            assert theirs["missingTimezones"] == []
            assert [e["uid"] for e in theirs["events"]] == [str(e["UID"]) for e in ours.walk("VEVENT")]
            assert all(e["allDay"] for e in theirs["events"])
            if part.get_param("method") == "REQUEST":
                [event] = theirs["events"]  # one UID a message
                assert event["organizer"] == "mailto:pm@studio.example"
                assert event["attendees"] == ["mailto:jane@acme.example"]
                assert event["uid"] not in ("design-1", "launch-1")  # ours, never the team calendar's UID
                if "Design mockups" in str(ours.walk("VEVENT")[0]["SUMMARY"]):
                    design_sequences.append(event["sequence"])
    # introduced with the calendar's SEQUENCE 2, then every date change raises it
    assert design_sequences == [2, 3, 4]
    notices = sent(studio, "notice")
    assert len(notices) == 2 and str(notices[1]["Subject"]).startswith("Design mockups: another new date, ")


def test_approval_by_email_and_by_command(studio: Studio) -> None:
    configure(studio, approval="manager")
    studio.dovecot.save("progress", NOTE.encode())
    once(studio, "2026-11-30T12:00")
    assert sent(studio) == []
    drafts = sent(studio, "manager-draft", to="pm@studio.example")
    assert len(drafts) == 2  # the introduction and the notice, each held with its draft
    draft = next(d for d in drafts if "Design mockups" in str(d["Subject"]))
    attached = next(p for p in draft.walk() if p.get_content_type() == "message/rfc822")
    # the letter as the client will read it
    assert str(attached.get_content()["Subject"]).startswith("Design mockups: new date ")
    token = str(draft["Subject"]).rsplit("[dw:", 1)[1].rstrip("]")

    reply = "Approve.\n\nOn Mon, someone wrote:\n> A client message is waiting\n"
    studio.dovecot.save("progress", manager_answer(draft, reply))
    once(studio, "2026-11-30T12:30")
    [notice] = sent(studio, "notice")
    assert token and str(notice["Subject"]).startswith("Design mockups: new date ")
    decided = sent(studio, "manager-decided", to="pm@studio.example")
    assert decided and "approved" in decided[0].get_content()

    intro = next(n for n in status(studio)["notices"] if n["kind"] == "intro" and n["state"] == "held")
    assert deadlinewatch("reject", str(intro["id"]), config=studio.config).returncode == 0
    once(studio, "2026-11-30T12:40")
    assert sent(studio, "intro") == []
    assert {n["state"] for n in status(studio)["notices"] if n["kind"] == "intro"} == {"rejected"}


def manager_answer(draft: EmailMessage, text: str) -> bytes:
    """The manager's reply to a draft, as their mail program writes it."""
    answer = EmailMessage()
    answer["From"] = "Studio PM <pm@studio.example>"
    answer["To"] = "progress@studio.example"
    answer["Subject"] = f"Re: {draft['Subject']}"
    answer["Message-ID"] = make_msgid(domain="studio.example")
    answer["In-Reply-To"] = draft["Message-ID"]
    answer.set_content(text)
    return answer.as_bytes()


def test_a_held_notice_goes_out_undecided_after_approval_hours(studio: Studio) -> None:
    configure(studio, approval="manager", policy="approval_hours = 1")
    studio.dovecot.save("progress", NOTE.encode())
    once(studio, "2026-11-30T12:00")
    assert sent(studio) == []
    once(studio, "2026-11-30T13:01")
    assert len(sent(studio, "notice")) == 1
    released = sent(studio, "manager-released", to="pm@studio.example")
    assert released and "an hour passed without a decision" in body(released[0])  # the letter attached to it


def _set_state(studio: Studio, kind: str, state: str) -> str:
    db = sqlite3.connect(studio.config.parent / "state" / "deadlinewatch.sqlite3")
    with db:
        (message_id,) = db.execute("SELECT message_id FROM outbox WHERE kind = ?", (kind,)).fetchone()
        db.execute("UPDATE outbox SET state = ? WHERE kind = ?", (state, kind))
    db.close()
    return str(message_id)


def test_a_crash_between_sending_and_sent_is_reconciled_by_the_archive_copy(studio: Studio) -> None:
    studio.dovecot.save("progress", NOTE.encode())
    once_approved(studio, "2026-11-30T12:00")
    before = len(studio.smtp.messages)
    # as if the daemon died after the SMTP exchange but before recording it: the archive copy is in the inbox
    message_id = _set_state(studio, "notice", "sending")
    once(studio, "2026-11-30T12:10")
    assert len(studio.smtp.messages) == before  # found in the mailbox: not sent again
    assert next(n for n in status(studio)["notices"] if n["kind"] == "notice")["state"] == "sent"

    # and when the archive copy is nowhere (the crash came before the server took it), it goes again, the same
    with imapclient.IMAPClient("127.0.0.1", port=studio.dovecot.port, ssl=False) as c:
        c.login("progress", "progresspw")
        for folder in ("INBOX", "deadlinewatch/sent"):
            c.select_folder(folder)
            c.delete_messages(c.search(["HEADER", "Message-ID", message_id]))
            c.expunge()
    mine = b"\r\nMessage-ID: " + message_id.encode() + b"\r\n"  # the manager's copy names it in References only
    first = next(raw for _, _, raw in studio.smtp.messages if mine in raw.split(b"\r\n\r\n")[0])
    _set_state(studio, "notice", "sending")
    once(studio, "2026-11-30T12:20")
    again = [raw for _, _, raw in studio.smtp.messages if mine in raw.split(b"\r\n\r\n")[0]]
    assert len(again) == 2 and again[1] == first  # byte-identical: same Message-ID, same DTSTAMP


def test_refused_recipients_are_handled_one_by_one(studio: Studio) -> None:
    configure(studio, client_cc=("cto@acme.example",))
    studio.smtp.refuse_rcpt = {"cto@acme.example"}
    studio.dovecot.save("progress", NOTE.encode())
    once_approved(studio, "2026-11-30T12:00")
    notice = next(n for n in status(studio)["notices"] if n["kind"] == "notice")
    assert notice["state"] == "sent"  # the client got it
    alerts = sent(studio, "manager-failed", to="pm@studio.example")
    assert alerts and "cto@acme.example" in alerts[0].get_content()

    studio.smtp.refuse_rcpt = {"jane@acme.example"}
    studio.dovecot.save("progress", LATER_NOTE.encode())
    once_approved(studio, "2026-12-01T12:00")
    second = [n for n in status(studio)["notices"] if n["kind"] == "notice"][-1]
    assert second["state"] == "failed"  # the client's own address refused: the notice did not arrive


def test_a_bounced_notice_is_marked_failed_and_the_manager_told(studio: Studio) -> None:
    studio.dovecot.save("progress", NOTE.encode())
    once_approved(studio, "2026-11-30T12:00")
    [notice] = sent(studio, "notice")
    bounce = (
        "From: Mail Delivery System <MAILER-DAEMON@mx.acme.example>\r\nTo: pm@studio.example\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <bounce-1@mx.acme.example>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\n<jane@acme.example>: mailbox unavailable\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.acme.example\r\n\r\n"
        "Final-Recipient: rfc822; jane@acme.example\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        f"--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {notice['Message-ID']}\r\n"
        "Subject: late\r\n--b--\r\n"
    )
    studio.dovecot.save("progress", bounce.encode())
    once(studio, "2026-11-30T12:30")
    state = next(n for n in status(studio)["notices"] if n["kind"] == "notice")["state"]
    assert state == "failed"
    alerts = sent(studio, "manager-failed", to="pm@studio.example")
    assert alerts and "returned it" in alerts[0].get_content()
    assert [m["Message-ID"] for m in _folder(studio.dovecot, "deadlinewatch/processed")][-1] == \
        "<bounce-1@mx.acme.example>"


def test_a_cancelled_milestone_the_client_has_seen_is_cancelled_in_their_calendar(studio: Studio) -> None:
    once(studio, "2026-11-30T12:00")
    [intro] = sent(studio, "intro")  # one letter at first contact: it invites Design mockups; Launch is in its table
    [invited] = calendar_parts(intro)
    invited_uid = str(Calendar.from_ical(invited.get_content()).walk("VEVENT")[0]["UID"])
    for uid in ("design-1", "launch-1"):
        studio.caldav.delete(studio.caldav.calendar_url("acme-web"), uid)
    once(studio, "2026-11-30T12:10")
    cancels = {str(m["Subject"]).split(" · ")[0]: m for m in sent(studio, "cancel")}
    assert set(cancels) == {"Cancelled: Design mockups", "Cancelled: Launch"}  # each gets its letter
    [part] = calendar_parts(cancels["Cancelled: Design mockups"])
    cal = Calendar.from_ical(part.get_content())
    [event] = cal.walk("VEVENT")
    assert part.get_param("method") == "CANCEL" == str(cal["METHOD"])
    # the entry the invitation made, newer than its SEQUENCE 2, and cancelled
    assert str(event["UID"]) == invited_uid and event["SEQUENCE"] == 3 and str(event["STATUS"]) == "CANCELLED"
    assert calendar_parts(cancels["Cancelled: Launch"]) == []  # never in their calendar: nothing to cancel there
    once(studio, "2026-11-30T12:20")
    assert len(sent(studio, "cancel")) == 2


def test_dependants_moved_by_a_slip_get_their_own_calendar_updates(studio: Studio) -> None:
    from tests.samples import DESIGN

    linked = DESIGN.replace("SEQUENCE:2\n", "SEQUENCE:2\nRELATED-TO;RELTYPE=FINISHTOSTART:launch-1\n")
    studio.caldav.put(studio.caldav.calendar_url("acme-web"), "design-1", linked)
    studio.dovecot.save("progress", NOTE.replace("Remaining: 10 days", "Remaining: 20 days").encode())
    once_approved(studio, "2026-11-30T12:00")
    [notice] = sent(studio, "notice")
    assert "“Launch” builds on this work, so its date moves too:\n\n- Launch: " in \
        body(notice).replace("\r\n", "\n")
    [update] = sent(studio, "update")
    [event] = Calendar.from_ical(calendar_parts(update)[0].get_content()).walk("VEVENT")
    assert str(event["UID"]).startswith("dw-") and event["SEQUENCE"] == 1
    assert when(event, "DTSTART").isoformat() > "2026-12-10"  # moved later than its deadline
    assert len(calendar_parts(notice)) == 1  # the notice invites its own milestone only; the update carries Launch


def test_the_weekly_check_in_goes_once_a_week_at_the_clients_time(studio: Studio) -> None:
    studio.dovecot.save("progress", NOTE.encode())
    once(studio, "2026-11-26T12:00")  # Thursday: the introduction
    once(studio, "2026-11-30T08:00+00:00")  # Monday, before 09:00 in London
    assert sent(studio, "weekly") == []
    once(studio, "2026-11-30T09:30+00:00")
    [weekly] = sent(studio, "weekly")
    text = body(weekly)
    assert "Design mockups: 20% done" in text and "Launch: not started yet" in text
    assert calendar_parts(weekly) == []  # the table, and no calendar data beside it
    once(studio, "2026-12-01T09:30+00:00")
    assert len(sent(studio, "weekly")) == 1


def test_preview_prints_what_would_be_sent_and_sends_nothing(studio: Studio) -> None:
    studio.dovecot.save("progress", NOTE.encode())
    configure(studio, approval="manager")
    once(studio, "2026-11-30T12:00")
    count = len(studio.smtp.messages)
    out = deadlinewatch("preview", "acme-web/design-1", config=studio.config, now="2026-11-30T12:05")
    assert out.returncode == 0 and "X-Deadlinewatch-Kind: notice" in out.stdout
    assert len(studio.smtp.messages) == count
    assert Path(studio.config.parent / "state").exists()


def test_the_managers_copy_of_a_notice_says_why_in_the_words_status_uses(studio: Studio) -> None:
    studio.dovecot.save("progress", NOTE.encode())
    once(studio, "2026-11-30T12:00")  # a new team's notice waits for the manager: the draft says why
    [why] = sent(studio, "manager-draft", to="pm@studio.example")
    design = next(m for m in status(studio)["milestones"] if m["uid"] == "design-1")
    # the forecast's own explanation, as `status` shows it at that moment (its ISO dates in the team's locale, its
    # figures in words)
    words, _, figures = design["reason"].partition(" → ")
    said = re.sub(r"\d{4}-\d{2}-\d{2}", lambda iso: f"{dt.date.fromisoformat(iso[0]):%-d %b %Y}", words)
    found = re.fullmatch(r"P50 (\S+), P80 (\S+), P\(miss\) (\d+%)", figures)
    assert found is not None, design["reason"]
    p50, p80, p_miss = found.groups()
    said += (f" So it is likely done by {dt.date.fromisoformat(p50):%-d %b %Y}, and by "
             f"{dt.date.fromisoformat(p80):%-d %b %Y} four times in five; the chance of missing ")
    # the chance is of missing a date it names (the deadline, or the date the client holds)
    assert design["reason"] and said in " ".join(body(why).split())
    assert re.search(re.escape(said) + rf"\d+ \w+ \d{{4}} is {p_miss}\.", " ".join(body(why).split()))
    # a new team: the 1.8x is the reference class's, not said to be this team's
    assert "Work like this has usually taken about" in design["reason"] and "This team's" not in design["reason"]
    assert approve_held(studio.config)
    once(studio, "2026-11-30T12:05")
    [notice] = sent(studio, "notice")
    assert "pm@studio.example" in str(notice["Cc"])  # the manager sees what the client sees …
    assert str(notice["Subject"]) != str(why["Subject"])  # … and, apart, why
