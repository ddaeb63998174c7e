"""What the inbox decides about one message, asserted on the actions it returns: `decide_message` is a pure function
of the message and what was looked up for it — no Dovecot, no store."""

from __future__ import annotations

import dataclasses
import datetime as dt
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import pytest

from deadlinewatch import config as config_mod
from deadlinewatch.adapters.store import OutboxItem
from deadlinewatch.adapters.templates import letters
from deadlinewatch.core import intake, notes
from deadlinewatch.core.forecast import Spread
from deadlinewatch.core.milestones import milestones_from_ics
from deadlinewatch.core.model import DecideHeld, QueueMail, RecordMessage, SetOutboxState
from deadlinewatch.decisions.forecaster import Forecaster
from deadlinewatch.decisions.inbox import Lookup, MessageDecision, decide_message, rules_of
from deadlinewatch.decisions.project_view import ProjectView
from deadlinewatch.decisions.studio import Studio
from deadlinewatch.demo.servers import write_local_config
from tests.mailtext import body
from tests.samples import DESIGN, NOTE, STRANGER

NOW = dt.datetime(2026, 11, 30, 9, tzinfo=dt.UTC)
FOLDERS = {"sent": "Sent", "processed": "dw/processed", "rejected": "dw/rejected"}


@pytest.fixture
def c(tmp_path: Path) -> Studio:
    path = write_local_config(tmp_path / "dw.toml", caldav_url="http://127.0.0.1:9/", imap_port=9, smtp_port=9,
                              approval="manager")
    return Studio(config_mod.load(path), letters(), b"k" * 32)


def decide(c: Studio, raw: str | bytes, lookup: Lookup) -> MessageDecision:
    incoming = intake.read_message(raw.encode() if isinstance(raw, str) else raw, NOW)
    return decide_message(c, Forecaster(c.workdays, c.team_tz, Spread()), rules_of(c.config), FOLDERS, incoming,
                          lookup, NOW)


def held(state: str = "held") -> OutboxItem:
    return OutboxItem(id=7, kind="notice", audience="client", project="acme-web", uid="design-1", token="abc123def0",
                      message_id="<dw.notice.1@studio.example>", mail_from="pm@studio.example",
                      recipients=("jane@acme.example",), message=b"", state=state, attempts=0, created=NOW,
                      sent=None, last_error=None, promised=None)


def test_a_members_note_is_recorded_with_its_notes_and_answered_in_one_decision(c: Studio) -> None:
    [design] = milestones_from_ics(DESIGN, "acme-web", (), "Europe/London", c.config.timezone, "/d.ics",
                                   NOW).milestones
    refs = [notes.MilestoneRef("acme-web", "design-1", "Design mockups")]
    incoming = intake.read_message(NOTE.encode(), NOW)
    note = notes.parse_note(incoming.subject, incoming.text, refs, ["acme-web"], NOW.date(), 5)
    decided = decide(c, NOTE, Lookup(note=note, milestones={"acme-web": [design]}))
    assert decided.verdict.outcome == "accepted" and decided.target == "dw/processed"
    [record] = decided.actions
    assert isinstance(record, RecordMessage) and record.message_key == "<note-1@studio.example>"
    assert [(r.uid, r.done, r.remaining_days) for r in record.reports] == [("design-1", 20, 10.0)]
    [reply] = record.outgoing
    assert reply.kind == "reply" and reply.recipients[0] == "alice@studio.example"
    text = body(message_from_bytes(reply.message, policy=default_policy))
    assert "Design mockups" in text and "20% done" in text


def test_a_stranger_is_filed_unanswered_and_keeps_nothing(c: Studio) -> None:
    decided = decide(c, STRANGER, Lookup())
    [record] = decided.actions
    assert decided.target == "dw/rejected" and isinstance(record, RecordMessage)
    assert record.outgoing == () and record.raw == b"" and record.body == "" and record.reports == ()


def test_our_own_archive_copy_goes_to_the_sent_folder(c: Studio) -> None:
    decided = decide(c, NOTE, Lookup(is_ours=True))
    assert (decided.verdict.outcome, decided.target) == ("archive", "Sent")


def _approval(word: str) -> str:
    return (f"From: pm@studio.example\nTo: progress@studio.example\nSubject: Re: [dw:abc123def0] draft\n"
            f"Message-ID: <pm-1@studio.example>\nDate: Mon, 30 Nov 2026 08:40:00 +0000\n\n{word}\n")


def test_the_managers_approval_by_mail_decides_the_held_notice_and_says_so(c: Studio) -> None:
    decided = decide(c, _approval("approve"), Lookup(held=held()))
    decision, answer, record = decided.actions
    assert decision == DecideHeld(7, True, "pm@studio.example")
    assert isinstance(answer, QueueMail) and answer.kind == "manager-decided"
    assert isinstance(record, RecordMessage) and record.outcome == "decision"
    assert decided.events == ["manager approved notice #7 by email"]


def test_the_managers_approval_by_mail_of_a_message_that_cannot_go_changes_nothing_and_says_why(c: Studio) -> None:
    """Approved by mail, a notice of a milestone cancelled since, or a check-in a notice overtook, went out (the
    command refused them; the mail did not). Refused the same way: nothing decided, the manager told why."""
    ms = milestones_from_ics(DESIGN, "acme-web", (), "Europe/London", c.config.timezone, "/d.ics", NOW).milestones
    project = c.config.projects[0]
    gone = ProjectView(project, [dataclasses.replace(m, state="cancelled") for m in ms], {}, {})
    overtaken = ProjectView(project, ms, {}, {}, sent={"design-1": NOW + dt.timedelta(hours=2)})
    for item, pv, why in ((held(), gone, "its milestone was cancelled in the team calendar since"),
                          (dataclasses.replace(held(), kind="weekly", uid=None), overtaken,
                           "a notice told the client newer dates since")):
        decided = decide(c, _approval("approve"), Lookup(held=item, held_view=pv))
        assert not any(isinstance(a, DecideHeld) for a in decided.actions) and decided.events == []
        answer = next(a for a in decided.actions if isinstance(a, QueueMail))
        said = " ".join(body(message_from_bytes(answer.message, policy=default_policy)).split())
        assert f"it cannot go out: {why}" in said and "answer reject" in said
    rejected = decide(c, _approval("reject"), Lookup(held=held(), held_view=gone))
    assert DecideHeld(7, False, "pm@studio.example") in rejected.actions
    # the manager says approve twice: each mail its answer (the same id, refused as a duplicate, left one unanswered)
    again = _approval("approve").replace("<pm-1@", "<pm-2@")
    answers = [a.message_id for mail in (_approval("approve"), again)
               for a in decide(c, mail, Lookup(held=held(), held_view=gone)).actions if isinstance(a, QueueMail)]
    assert len(answers) == 2 and len(set(answers)) == 2


def test_a_second_decision_on_a_decided_notice_changes_nothing(c: Studio) -> None:
    decided = decide(c, _approval("reject"), Lookup(held=held("pending")))
    answer, _record = decided.actions
    assert isinstance(answer, QueueMail) and b"already approved; nothing changed" in answer.message
    assert not any(isinstance(a, DecideHeld) for a in decided.actions) and decided.events == []


def test_a_bounce_fails_the_returned_message_once_and_tells_the_manager(c: Studio) -> None:
    dsn = ("From: MAILER-DAEMON@acme.example\nTo: pm@studio.example\nSubject: Undelivered\n"
           "Message-ID: <dsn-1@acme.example>\nAuto-Submitted: auto-replied\n"
           "Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n"
           "--b\nContent-Type: text/plain\n\nno such user\n--b--\n")
    sent = dataclasses.replace(held("sent"), kind="notice")
    decided = decide(c, dsn, Lookup(bounced=(sent,)))
    failed, tell, record = decided.actions
    assert isinstance(failed, SetOutboxState) and (failed.outbox_id, failed.state) == (7, "failed")
    assert isinstance(tell, QueueMail) and tell.kind == "manager-failed"
    assert isinstance(record, RecordMessage) and record.outcome == "bounce"
    assert decided.problems == ["message #7 (notice) to the client bounced"]
    already = decide(c, dsn, Lookup(bounced=(dataclasses.replace(sent, state="failed"),)))
    assert [type(a) for a in already.actions] == [RecordMessage]


def test_rejecting_a_back_in_the_plan_letter_says_what_the_client_then_holds(c: Studio) -> None:
    """The review: a manager rejecting the letter saying a cancelled milestone is back was answered "rejected" —
    not that the client keeps it for cancelled (page, calendar, no news) until one goes out, nor when one is drafted
    again. The mail's answer and the command's say it."""
    decided = decide(c, _approval("reject"), Lookup(held=dataclasses.replace(held(), kind="reinstate")))
    assert DecideHeld(7, False, "pm@studio.example") in decided.actions
    answer = next(a for a in decided.actions if isinstance(a, QueueMail))
    said = " ".join(body(message_from_bytes(answer.message, policy=default_policy)).split())
    assert "the client keeps holding the milestone cancelled" in said
    assert "drafted again once its date moves in the team calendar, and the client is told once it is delivered" \
        in said


def test_a_date_the_client_cannot_be_given_is_refused_in_the_managers_own_language(c: Studio) -> None:
    """The web and mail audit: a Turkish manager's "onayla 2026-12-03" (before the deadline, 4 December) was answered
    "… tarihi verilemez: not after the deadline of …" — the reason in the command line's English. The reason is
    said in the team's language, on the web page as in the mail (errors.DateRefused carries its words)."""
    tr = Studio(dataclasses.replace(c.config, team=dataclasses.replace(c.config.team, language="tr")), c.letters,
                b"k" * 32)
    ms = milestones_from_ics(DESIGN, "acme-web", (), "Europe/London", c.config.timezone, "/d.ics", NOW).milestones
    pv = ProjectView(tr.config.projects[0], ms, {}, {})
    answers = {}
    for written in ("onayla 2026-12-03", "onayla 2026-12-05"):  # before the deadline; a Saturday after it
        decided = decide(tr, _approval(written), Lookup(held=held(), held_view=pv))
        assert not any(isinstance(a, DecideHeld) for a in decided.actions)
        answer = next(a for a in decided.actions if isinstance(a, QueueMail))
        answers[written] = " ".join(body(message_from_bytes(answer.message, policy=default_policy)).split())
    assert ('tarihi verilemez: "Design mockups" için son tarihten (4 Ara 2026) sonra değil; yeni tarih, yerini '
            'aldığı tarihten sonra olmalı; hiçbir şey değişmedi') in answers["onayla 2026-12-03"]
    assert "ekibin iş günü değil" in answers["onayla 2026-12-05"] and "uygun olan ilk gün 7 Ara 2026" in \
        answers["onayla 2026-12-05"]
    assert not any(english in text for text in answers.values()
                   for english in ("not after", "working day", "the next day"))
