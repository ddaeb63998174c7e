"""What the outbox decides, asserted on the actions it returns: which held messages go out undecided, and what an
SMTP exchange's outcome comes to — no SMTP server, no store."""

from __future__ import annotations

import dataclasses
import datetime as dt
from email import message_from_bytes
from email.policy import default as email_policy
from pathlib import Path

import pytest

from deadlinewatch import config as config_mod
from deadlinewatch.adapters.store import OutboxItem
from deadlinewatch.adapters.store.port import WITHDRAWN
from deadlinewatch.adapters.templates import letters
from deadlinewatch.core.milestones import milestones_from_ics
from deadlinewatch.core.model import DecideHeld, QueueMail, Report, SetOutboxState
from deadlinewatch.decisions.outbox import UNASKED, cannot_go, decide_release, due, settle, withdraw_overtaken
from deadlinewatch.decisions.project_view import ProjectView
from deadlinewatch.decisions.studio import Studio
from deadlinewatch.demo.servers import write_local_config
from tests.mailtext import body
from tests.samples import DESIGN

CREATED = dt.datetime(2026, 11, 30, 9, tzinfo=dt.UTC)  # a Monday; design-1 is due Friday 4 December


@pytest.fixture
def c(tmp_path: Path) -> Studio:
    path = write_local_config(tmp_path / "dw.toml", caldav_url="http://127.0.0.1:9/", imap_port=9, smtp_port=9,
                              approval="manager")
    return Studio(config_mod.load(path), letters(), b"k" * 32)


def item(state: str = "held", parent: int | None = None, uid: str = "design-1") -> OutboxItem:
    return OutboxItem(id=3, kind="notice", audience="client", project="acme-web", uid=uid, token="t0k3n",
                      message_id="<dw.notice.3@studio.example>", mail_from="pm@studio.example",
                      recipients=("jane@acme.example", "pm@studio.example", "progress@studio.example"), message=b"",
                      state=state, attempts=1, created=CREATED, sent=None, last_error=None, promised=None,
                      parent=parent)


def test_a_held_notice_goes_out_undecided_after_approval_hours_with_the_managers_note(c: Studio) -> None:
    design = milestones_from_ics(DESIGN, "acme-web", (), "Europe/London", c.config.timezone, "/d.ics",
                                 CREATED).milestones
    hours = c.config.policy.approval_hours
    assert decide_release(c, [item()], design, CREATED + dt.timedelta(hours=hours - 1)) == []
    [release] = decide_release(c, [item(), item(parent=3)], design, CREATED + dt.timedelta(hours=hours))
    decided, note = release.actions
    assert decided == DecideHeld(3, True, "timeout") and release.id == 3
    assert isinstance(note, QueueMail) and note.kind == "manager-released" and b"Design mockups" in note.message


def test_a_released_letters_unsent_draft_to_the_manager_is_withdrawn_with_it(c: Studio) -> None:
    """The contract audit: a notice made within a working day of its date was held and released in the same pass,
    and the manager got "Approve? #55 is waiting for your decision" after the letter had gone — then "went out
    without your decision". The draft not sent yet is withdrawn; the note of the release says what went."""
    design = milestones_from_ics(DESIGN, "acme-web", (), "Europe/London", c.config.timezone, "/d.ics",
                                 CREATED).milestones
    later = CREATED + dt.timedelta(hours=c.config.policy.approval_hours)
    [release] = decide_release(c, [item()], design, later, drafts={3: [7], 4: [8]})
    decided, note, unasked = release.actions
    assert decided == DecideHeld(3, True, "timeout") and isinstance(note, QueueMail)
    assert unasked == SetOutboxState(7, "rejected", UNASKED, expect=("pending",), decided_by=WITHDRAWN)
    assert len(decide_release(c, [item()], design, later)[0].actions) == 2


def test_the_note_of_a_release_gives_the_date_the_letter_gave_and_the_letter_itself(c: Studio) -> None:
    """The manager was told only "Message #3 … went out without your decision" — not what it told the client: its
    draft may never have reached them (withdrawn with the release, above). The note gives the new date and has the
    letter attached as it went out, its calendar data in words."""
    design = milestones_from_ics(DESIGN, "acme-web", (), "Europe/London", c.config.timezone, "/d.ics",
                                 CREATED).milestones
    letter = (b"From: pm@studio.example\r\nTo: jane@acme.example\r\nSubject: A new date for Design mockups\r\n"
              b"Content-Type: text/plain; charset=utf-8\r\n\r\nDear Jane, our new date is Friday 11 December.\r\n")
    sent = dataclasses.replace(item(), message=letter, promised=dt.date(2026, 12, 11))
    [release] = decide_release(c, [sent], design, CREATED + dt.timedelta(hours=c.config.policy.approval_hours))
    _, note = release.actions
    assert isinstance(note, QueueMail)
    msg = message_from_bytes(note.message, policy=email_policy)
    said = " ".join(body(msg).split())
    assert "went out without your decision" in said
    assert "The new date it gives Jane Doe: Friday, December 11, 2026." in said
    assert "It is attached as it went out." in said
    [attached] = [p for p in msg.walk() if p.get_content_type() == "message/rfc822"]
    assert "our new date is Friday 11 December" in attached.as_string()


def test_a_check_in_held_with_a_notice_never_goes_after_it_when_both_run_out_together(c: Studio) -> None:
    """The review: the check-in held because a notice of its project waited (plan_weekly), both undecided, were
    released in one pass — the client read the new date, then "Next up is Design, due on Friday, 13 November". The
    notice released overtakes the check-in: it is withdrawn, whichever of them the outbox lists first."""
    design = milestones_from_ics(DESIGN, "acme-web", (), "Europe/London", c.config.timezone, "/d.ics",
                                 CREATED).milestones
    weekly = dataclasses.replace(item(), id=2, kind="weekly", uid=None, token="w33kly")
    later = CREATED + dt.timedelta(hours=c.config.policy.approval_hours)
    for held in ([weekly, item()], [item(), weekly]):
        released = {r.id: r.actions[0] for r in decide_release(c, held, design, later)}
        assert released[3] == DecideHeld(3, True, "timeout")
        assert released[2] == DecideHeld(2, False, WITHDRAWN)  # withdrawn, the manager told why


def test_a_held_notice_goes_out_a_working_day_before_its_deadline_however_young(c: Studio) -> None:
    design = milestones_from_ics(DESIGN, "acme-web", (), "Europe/London", c.config.timezone, "/d.ics",
                                 CREATED).milestones
    # the deadline is the day the client holds (Friday 4 December in London); the last working day before it,
    # Thursday 3 December, starts at midnight in the team's zone (Istanbul, UTC+3)
    young = dataclasses.replace(item(), created=dt.datetime(2026, 12, 2, 18, tzinfo=dt.UTC))
    assert decide_release(c, [young], design, dt.datetime(2026, 12, 2, 20, 59, tzinfo=dt.UTC)) == []
    [release] = decide_release(c, [young], design, dt.datetime(2026, 12, 2, 21, tzinfo=dt.UTC))
    assert "is one working day away" in release.why


def test_a_held_notice_of_a_milestone_cancelled_since_is_withdrawn_never_sent(c: Studio) -> None:
    """A notice held for the manager; meanwhile the milestone is cancelled in the team calendar, and its cancellation
    goes out. The held notice went out undecided after approval_hours — a new date, at a lower SEQUENCE, for a
    milestone the client had just been told was cancelled (the client-side audit). It is withdrawn instead, the
    manager told; the cancellation letter itself still goes."""
    [design] = milestones_from_ics(DESIGN.replace("SEQUENCE:2\n", "SEQUENCE:2\nSTATUS:CANCELLED\n"), "acme-web", (),
                                   "Europe/London", c.config.timezone, "/d.ics", CREATED).milestones
    assert design.state == "cancelled"
    later = CREATED + dt.timedelta(hours=c.config.policy.approval_hours)
    [release] = decide_release(c, [item()], [design], later)
    decided, note = release.actions
    assert decided == DecideHeld(3, False, "withdrawn") and release.withdrawn
    assert isinstance(note, QueueMail) and note.kind == "manager-decided"
    said = message_from_bytes(note.message, policy=email_policy)
    assert "withdrawn, never sent: its milestone was cancelled in the team calendar since" in " ".join(
        body(said).split()) and "withdrawn" in str(said["Subject"])
    cancel = dataclasses.replace(item(), kind="cancel")
    [sent] = decide_release(c, [cancel], [design], later)
    assert sent.actions[0] == DecideHeld(3, True, "timeout") and not sent.withdrawn


def test_a_held_check_in_a_notice_overtook_is_withdrawn_never_sent(c: Studio) -> None:
    """A check-in held for the manager on Monday; on Monday afternoon a notice tells the client a new date. Released
    undecided on Tuesday, the check-in's timeline — the old date, on track — went out after the news and
    contradicted it. It is withdrawn, the manager told; a check-in made after the notice goes as before."""
    design = milestones_from_ics(DESIGN, "acme-web", (), "Europe/London", c.config.timezone, "/d.ics",
                                 CREATED).milestones
    weekly = dataclasses.replace(item(), kind="weekly", uid=None)
    later = CREATED + dt.timedelta(hours=c.config.policy.approval_hours)
    told = {"acme-web": CREATED + dt.timedelta(hours=6)}
    [release] = decide_release(c, [weekly], design, later, told=told)
    decided, note = release.actions
    assert decided == DecideHeld(3, False, "withdrawn") and release.withdrawn
    assert isinstance(note, QueueMail) and note.kind == "manager-decided"
    said = " ".join(body(message_from_bytes(note.message, policy=email_policy)).split())
    assert "a notice told the client newer dates since" in said
    [sent] = decide_release(c, [weekly], design, later, told={"acme-web": CREATED - dt.timedelta(hours=1)})
    assert sent.actions[0] == DecideHeld(3, True, "timeout") and not sent.withdrawn
    [notice] = decide_release(c, [item()], design, later, told=told)  # a notice is judged by its own rules
    assert not notice.withdrawn


def test_a_held_letter_its_milestone_has_since_made_wrong_is_withdrawn(c: Studio) -> None:
    """A placeholder notice held (no note gave an estimate) for a milestone the team then marks completed in the
    calendar went out undecided the day before its date — "we won't be able to deliver … by Friday" — before its
    delivered note (the review of the session's change). Withdrawn; and so is a held cancellation of a milestone
    open again, which would tell the client it is gone after it came back."""
    [design] = milestones_from_ics(DESIGN, "acme-web", (), "Europe/London", c.config.timezone, "/d.ics",
                                   CREATED).milestones
    later = CREATED + dt.timedelta(hours=c.config.policy.approval_hours)
    done = dataclasses.replace(design, state="done")
    [release] = decide_release(c, [item()], [done], later)
    assert release.withdrawn and "completed in the team calendar since" in release.why
    [delivered] = decide_release(c, [dataclasses.replace(item(), kind="delivered")], [done], later)
    assert not delivered.withdrawn  # the delivered note is the news
    [back] = decide_release(c, [dataclasses.replace(item(), kind="cancel")], [design], later)
    assert back.withdrawn and "open again in the team calendar since" in back.why


def test_a_held_letter_its_notes_have_since_made_wrong_is_withdrawn(c: Studio) -> None:
    """What the notes say counts as the calendar does (effective_state): a delivered note of a milestone a later
    note says is not done after all (Done: 90%), or open again in the calendar with no note to close it, is
    withdrawn — it would tell the client "delivered" of open work; a notice of one a note since said is Done: 100%
    is withdrawn too, its delivered note being the news. The approval path refuses them alike (cannot_go)."""
    [design] = milestones_from_ics(DESIGN, "acme-web", (), "Europe/London", c.config.timezone, "/d.ics",
                                   CREATED).milestones
    later = CREATED + dt.timedelta(hours=c.config.policy.approval_hours)
    delivered = dataclasses.replace(item(), kind="delivered")
    key = ("acme-web", "design-1")
    for said in ({key: False}, {}):  # a later note took it back; the calendar reopened it, no note closed it
        [undone] = decide_release(c, [delivered], [design], later, said=said)
        assert undone.withdrawn and "not done after all" in undone.why
        assert undone.actions[0] == DecideHeld(3, False, WITHDRAWN)
    [goes] = decide_release(c, [delivered], [design], later, said={key: True})  # the note's Done: 100% stands
    assert not goes.withdrawn
    [closed] = decide_release(c, [delivered], [dataclasses.replace(design, state="done")], later, said={key: False})
    assert not closed.withdrawn  # completed in the calendar: done, whatever a note said before
    [news] = decide_release(c, [item()], [design], later, said={key: True})
    assert news.withdrawn and "is done since (a note said Done: 100%)" in news.why
    [sent] = withdraw_overtaken(c, [dataclasses.replace(delivered, state="pending")], [design], CREATED,
                                said={key: False})
    assert sent.actions[0] == SetOutboxState(3, "rejected", sent.why, expect=("pending",), decided_by=WITHDRAWN)
    assert withdraw_overtaken(c, [dataclasses.replace(delivered, state="pending")], [design], CREATED,
                              said={key: True}) == []
    pv = ProjectView(c.config.project("acme-web"), [design], {"design-1": [_report(100), _report(90)]}, {})
    refused = cannot_go(delivered, pv, later)
    assert refused is not None and refused.command.format(id=3).startswith("delivered note #3 cannot go out")
    assert cannot_go(delivered, dataclasses.replace(pv, reports={"design-1": [_report(90), _report(100)]}),
                     later) is None


def _report(done: int) -> Report:
    return Report("acme-web", "design-1", CREATED, done=done, sender="alice@studio.example")


def test_a_message_delivered_to_everyone_is_sent_and_nothing_else(c: Studio) -> None:
    settled = settle(c, item("sending"), {}, {"design-1": "Design mockups"}, CREATED)
    assert settled.sent and settled.actions == [SetOutboxState(3, "sent", None)] and settled.problems == []


def test_a_refused_client_fails_the_message_and_the_manager_hears_why(c: Studio) -> None:
    settled = settle(c, item("sending"), {"jane@acme.example": "550 no such user"}, {"design-1": "Design mockups"},
                     CREATED)
    failed, note = settled.actions
    assert not settled.sent and failed == SetOutboxState(3, "failed", "jane@acme.example: 550 no such user")
    assert isinstance(note, QueueMail) and note.kind == "manager-failed"
    assert settled.problems == ["message #3 (notice) refused by the SMTP server: jane@acme.example: 550 no such user"]


def test_a_client_refused_for_now_is_tried_again_later_and_given_up_on_only_after_hours(c: Studio) -> None:
    """The audit: the client's server answered RCPT with "451 4.7.1 Greylisted"; the introduction was marked
    failed at once and never tried again, so the client never got it. A 4xx is "come back later", as a server's
    own 4xx always was here: the message waits its back-off, for RECIPIENT_PATIENCE from the first such refusal
    (an outage's tries before it do not count: the review); then it fails, and the manager is told."""
    from deadlinewatch.decisions.outbox import RECIPIENT_PATIENCE

    greylisted = {"jane@acme.example": "451 4.7.1 Greylisted"}
    worn = dataclasses.replace(item("sending"), attempts=9)  # nine tries lost to an outage first
    settled = settle(c, worn, greylisted, {}, CREATED)
    [again] = settled.actions
    assert not settled.sent and again == SetOutboxState(
        3, "pending", f"refused for now since {CREATED.isoformat()}: jane@acme.example: 451 4.7.1 Greylisted",
        next_attempt=CREATED + dt.timedelta(hours=1), expect=("sending",))
    assert "tried again from" in settled.problems[0]
    kept = dataclasses.replace(worn, last_error=again.error)  # as the store keeps it, through the next claim
    later = CREATED + RECIPIENT_PATIENCE - dt.timedelta(minutes=1)
    [still] = settle(c, kept, greylisted, {}, later).actions
    assert isinstance(still, SetOutboxState) and still.state == "pending" and still.error == again.error
    failed, note = settle(c, kept, greylisted, {}, CREATED + RECIPIENT_PATIENCE).actions
    assert isinstance(failed, SetOutboxState) and failed.state == "failed"
    assert "still refused for now 6 hours after the first" in str(failed.error)
    assert isinstance(note, QueueMail) and note.kind == "manager-failed"
    # an SMTP outage between two refusals keeps when the first was (the second review: it started the six hours
    # again, and a client greylisted for good behind a flaky relay was never given up on)
    from deadlinewatch.decisions.outbox import kept_refusal

    outage = dataclasses.replace(kept, last_error=kept_refusal(kept.last_error, "smtp: connection lost"))
    given_up = settle(c, outage, greylisted, {}, CREATED + RECIPIENT_PATIENCE).actions[0]
    assert isinstance(given_up, SetOutboxState) and given_up.state == "failed"
    assert kept_refusal(None, "smtp: connection lost") == "smtp: connection lost"
    # 5xx is for good, at once
    assert settle(c, item("sending"), {"jane@acme.example": "550 no such user"}, {}, CREATED).actions[0] == \
        SetOutboxState(3, "failed", "jane@acme.example: 550 no such user")


def test_a_refused_copy_is_sent_for_the_client_and_told_to_the_manager(c: Studio) -> None:
    settled = settle(c, item("sending"), {"progress@studio.example": "552 full"}, {}, CREATED)
    sent, note = settled.actions
    assert settled.sent and sent == SetOutboxState(3, "sent", "progress@studio.example: 552 full")
    assert isinstance(note, QueueMail) and b"delivered" in note.message
    refused_manager = settle(c, item("sending"), {"pm@studio.example": "550"}, {}, CREATED)
    assert [type(a) for a in refused_manager.actions] == [SetOutboxState]  # no note to an address that refuses


def test_a_held_second_notice_waits_as_long_as_the_date_the_client_holds_allows(c: Studio) -> None:
    """A second notice held on Saturday 5 December, the deadline (Friday 4th) gone, the client promised the 10th:
    it went out undecided in the pass that made it, the hold counted to the deadline long past (the client-side
    audit). Counted to the date the client holds, the manager has approval_hours to decide, as for any notice."""
    design = milestones_from_ics(DESIGN, "acme-web", (), "Europe/London", c.config.timezone, "/d.ics",
                                 CREATED).milestones
    created = dt.datetime(2026, 12, 5, 9, 5, tzinfo=dt.UTC)
    second = dataclasses.replace(item(), created=created)
    promised = {("acme-web", "design-1"): dt.date(2026, 12, 10)}
    assert len(decide_release(c, [second], design, created)) == 1  # as it was: the deadline alone, long past
    hours = dt.timedelta(hours=c.config.policy.approval_hours)
    assert decide_release(c, [second], design, created, promised) == []
    assert decide_release(c, [second], design, created + hours - dt.timedelta(minutes=1), promised) == []
    [release] = decide_release(c, [second], design, created + hours, promised)
    assert release.why == f"{c.config.policy.approval_hours} hours passed without a decision"


def test_a_held_introduction_goes_out_whatever_became_of_the_milestone_it_names(c: Studio) -> None:
    """An introduction names the project's first milestone; that milestone cancelled since is no reason to withdraw
    it (the review of the session's change: the client was then never introduced). Only the messages about the
    milestone's date are withdrawn."""
    [design] = milestones_from_ics(DESIGN.replace("SEQUENCE:2\n", "SEQUENCE:2\nSTATUS:CANCELLED\n"), "acme-web", (),
                                   "Europe/London", c.config.timezone, "/d.ics", CREATED).milestones
    later = CREATED + dt.timedelta(hours=c.config.policy.approval_hours)
    assert design.state == "cancelled"
    [intro] = decide_release(c, [dataclasses.replace(item(), kind="intro")], [design], later)
    assert intro.actions[0] == DecideHeld(3, True, "timeout") and not intro.withdrawn


def test_a_held_notice_made_after_the_date_it_breaks_says_so_when_released(c: Studio) -> None:
    """A second notice made on the 11th for a promise of the 10th goes out at once (late news waits for nobody);
    the manager's note said "the deadline (2026-12-10) is one working day away" (the review of the session's
    change). It says the date passed."""
    design = milestones_from_ics(DESIGN, "acme-web", (), "Europe/London", c.config.timezone, "/d.ics",
                                 CREATED).milestones
    created = dt.datetime(2026, 12, 11, 9, tzinfo=dt.UTC)
    [release] = decide_release(c, [dataclasses.replace(item(), created=created)], design, created,
                               {("acme-web", "design-1"): dt.date(2026, 12, 10)})
    assert release.why == "the date the client holds (2026-12-10) has passed: the news could not wait"


def test_a_client_letter_waits_while_an_older_one_of_its_project_waits_for_its_retry(c: Studio) -> None:
    """The audit: a notice approved during an SMTP outage waited out its back-off while a newer notice of the same
    milestone went — the client's last letter carried the stale date. A project's client letters go in order; the
    team's mail, and other projects' letters, do not wait."""
    later = CREATED + dt.timedelta(minutes=4)
    old = dataclasses.replace(item("pending"), id=3, next_attempt=later)
    new = dataclasses.replace(item("pending"), id=5)
    other = dataclasses.replace(item("pending"), id=6, project="beta")
    reply = dataclasses.replace(item("pending"), id=7, audience="team", kind="reply")
    assert [i.id for i in due([old, new, other, reply], CREATED)] == [6, 7]
    assert [i.id for i in due([old, new, other, reply], later)] == [3, 5, 6, 7]


def test_an_approved_letter_its_milestone_has_since_made_wrong_is_withdrawn_before_it_goes(c: Studio) -> None:
    """The audit: a notice approved while the SMTP server refused (451) stayed pending; the team completed the
    milestone meanwhile, and on recovery the client got "new date …" and "Delivered" in one pass. What the team
    calendar has made wrong never goes: checked again just before sending, its dependant's update with it."""
    done = [dataclasses.replace(m, state="done") for m in milestones_from_ics(
        DESIGN, "acme-web", (), "Europe/London", c.config.timezone, "/d.ics", CREATED).milestones]
    rider = dataclasses.replace(item("pending", parent=3), id=4, kind="update", uid="launch-1")
    # the manager's reminder to call the client about the letter (the review: it stayed, about a letter never sent)
    call = dataclasses.replace(item("pending", parent=3), id=5, kind="manager-call", audience="team")
    first, *rest = withdraw_overtaken(c, [item("pending"), rider, call], done, CREATED)
    withdrawn, note = first.actions
    assert withdrawn == SetOutboxState(3, "rejected", str(first.why), expect=("pending",),
                                       decided_by=WITHDRAWN) and first.withdrawn
    assert isinstance(note, QueueMail) and note.kind == "manager-decided"
    assert "completed in the team calendar since" in body(message_from_bytes(note.message, policy=email_policy))
    assert [r.actions for r in rest] == [
        (SetOutboxState(i, "rejected", "goes with #3, withdrawn", expect=("pending",), decided_by=WITHDRAWN),)
        for i in (4, 5)]
    # still open, or a message already on the wire (sending: reconciled, never withdrawn): it goes
    assert withdraw_overtaken(c, [item("pending")], [dataclasses.replace(m, state="open") for m in done],
                              CREATED) == []
    assert withdraw_overtaken(c, [item("sending")], done, CREATED) == []


def test_a_draft_offers_a_date_of_the_managers_own_only_for_a_notice(c: Studio) -> None:
    """The contract audit: the draft of an introduction offered "approve YYYY-MM-DD" and `approve 19 --date …`,
    which are then refused: only a notice takes the manager's date."""
    from deadlinewatch.decisions.manager_mail import compose_manager_message

    def said(kind: str) -> str:
        mail = compose_manager_message(c, dataclasses.replace(item(), kind=kind), {"design-1": "Design mockups"},
                                       "draft", "why", CREATED)
        return body(message_from_bytes(mail.message, policy=email_policy))

    assert "--date YYYY-MM-DD" in said("notice") and '"approve YYYY-MM-DD"' in said("notice")
    assert "--date" not in said("intro") and "YYYY-MM-DD" not in said("intro")
    assert "deadlinewatch approve 3\n" in said("intro").replace("\r\n", "\n")
