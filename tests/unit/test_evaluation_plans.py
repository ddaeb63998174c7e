"""The evaluation's decisions, asserted on what it returns — no server and no store: a project as its client knows
it is built from plain data, `decide_project` is a pure function of it. The last test runs the whole stage over
the in-memory store (tests/memory_store.py), with every outside server untouchable."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Sequence
from email import message_from_bytes
from email.policy import default as email_policy
from pathlib import Path
from typing import Any, Literal

import pytest
from icalendar import Calendar

from deadlinewatch import config as config_mod
from deadlinewatch.adapters.clock import FixedClock
from deadlinewatch.adapters.templates import letters
from deadlinewatch.config.schema import Offer
from deadlinewatch.core import timeline
from deadlinewatch.core.forecast import Spread
from deadlinewatch.core.milestones import milestones_from_ics
from deadlinewatch.core.model import ClientDate, Forecast, QueueMail, Report, ShowDate
from deadlinewatch.decisions.evaluation import Plan, Snapshot, decide_project, plan_alert, plan_weekly
from deadlinewatch.decisions.forecaster import Forecaster
from deadlinewatch.decisions.manager_mail import manager_messages
from deadlinewatch.decisions.project_view import ProjectView
from deadlinewatch.decisions.studio import Studio
from deadlinewatch.demo.servers import write_local_config
from deadlinewatch.services import PassReport, Services
from deadlinewatch.stages.evaluation import evaluate
from deadlinewatch.web import pages
from tests.mailtext import body
from tests.memory_store import MemoryStore
from tests.samples import DESIGN, LAUNCH

NOW = dt.datetime(2026, 11, 30, 9, tzinfo=dt.UTC)  # a Monday
SLIPPING = Report("acme-web", "design-1", NOW, 20, 15.0, None, "the assets came late", "a second designer", False,
                  "alice@studio.example")


class Untouchable:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a decision must not reach an outside server ({name})")


def _config(tmp_path: Path, approval: str = "auto") -> config_mod.Config:
    return config_mod.load(write_local_config(tmp_path / "dw.toml", caldav_url="http://127.0.0.1:9/", imap_port=9,
                                              smtp_port=9, approval=approval))


def _composer(tmp_path: Path, approval: str = "auto") -> Studio:
    return Studio(_config(tmp_path, approval), letters(), b"k" * 32)


def _milestones(c: Studio) -> dict[str, list[Any]]:
    return {href: milestones_from_ics(ics, "acme-web", (), "Europe/London", c.config.timezone, href, NOW).milestones
            for href, ics in (("/design-1.ics", DESIGN), ("/launch-1.ics", LAUNCH))}


def _synced(store: MemoryStore, c: Studio) -> None:
    """The store as after a first sync of the sample calendar."""
    parsed = _milestones(c)
    store.apply_calendar("acme-web", ref="acme-web", url="http://127.0.0.1:9/pm/acme-web/", token="t1",
                         fingerprint="f", entries=[(h, "e", "", False) for h in parsed], parsed=parsed, deleted=[],
                         kept=set(), now=NOW)


def _snapshot(c: Studio, *, reports: dict[str, list[Report]] | None = None,
              dates: dict[str, ClientDate] | None = None, first_sent: dt.datetime | None = None,
              weekly_slot: dt.datetime | None = None) -> Snapshot:
    ms = sorted((m for ms in _milestones(c).values() for m in ms), key=lambda m: m.deadline)
    return Snapshot(ProjectView(c.config.projects[0], ms, reports or {}, dates or {}), first_sent, weekly_slot)


def _forecaster(c: Studio) -> Forecaster:
    return Forecaster(c.workdays, c.team_tz, Spread())


def _client(c: Studio, **changes: Any) -> Studio:
    """The composer with the project's client (language, …) or the project itself changed."""
    project = c.config.projects[0]
    client_keys = {k: v for k, v in changes.items() if k in ("language", "timezone", "name", "holidays")}
    project = dataclasses.replace(project, client=dataclasses.replace(project.client, **client_keys),
                                  **{k: v for k, v in changes.items() if k not in client_keys and k != "offers"})
    config = dataclasses.replace(c.config, projects=(project,), offers=changes.get("offers", c.config.offers))
    return Studio(config, c.letters, c.key)


def _notice(c: Studio, reports: list[Report], dates: dict[str, ClientDate] | None = None,
            told: dict[str, dt.datetime] | None = None) -> Any:
    snap = _snapshot(c, reports={"design-1": reports}, dates=dates, first_sent=NOW - dt.timedelta(days=1))
    snap = dataclasses.replace(snap, view=dataclasses.replace(snap.view, project=c.config.projects[0],
                                                              told=told or {}))
    [notice] = decide_project(c, snap, _forecaster(c), NOW).plans
    return notice


def _to_manager(c: Studio, plan: Plan, primary: int) -> list[QueueMail]:
    """The manager's messages about a plan, once it is recorded as `primary`."""
    return manager_messages(c, plan.group(), primary, NOW)


def _text(mail: QueueMail) -> str:
    msg = message_from_bytes(mail.message, policy=email_policy)
    return body(msg).replace("\r\n", "\n")


def test_the_first_pass_introduces_the_timeline_and_says_what_the_calendar_shows(tmp_path: Path) -> None:
    c = _composer(tmp_path)
    decided = decide_project(c, _snapshot(c), _forecaster(c), NOW)
    [intro] = decided.plans
    assert intro.what == "introduction" and intro.about is not None
    # one letter, inviting the nearest milestone: never one mail per milestone at first contact
    assert [(m.kind, m.uid) for m in intro.messages] == [("intro", "design-1")]
    assert all(isinstance(m, QueueMail) and m.audience == "client" and m.state == "pending" for m in intro.messages)
    # the client's letter carries the invitation; the manager, in its Cc, gets a copy of their own (auto: no draft)
    assert intro.messages[0].recipients == ("jane@acme.example", "progress@studio.example")
    [copy] = _to_manager(c, intro, 1)
    assert (copy.kind, copy.audience, copy.state, copy.recipients) == (
        "manager-copy", "team", "pending", ("pm@studio.example", "progress@studio.example"))
    assert b"text/calendar" not in copy.message and b"Cc: pm@studio.example" in copy.message
    # every date is in the client's hands (the table); only the first is in their calendar
    ours = {uid: timeline.entry_uid(c.key, "acme-web", uid) for uid in ("design-1", "launch-1")}
    assert intro.dates == [ShowDate("acme-web", "design-1", 2, shown_date=dt.date(2026, 12, 4), invited=True,
                                    entry_uid=ours["design-1"]),
                           ShowDate("acme-web", "launch-1", 0, shown_date=dt.date(2026, 12, 10),
                                    entry_uid=ours["launch-1"])]
    assert not set(ours.values()) & {"design-1", "launch-1"}  # the client's entries never carry the team's UIDs
    assert {f.uid for f in decided.forecasts} == {"design-1", "launch-1"}


def test_a_slipping_milestone_gets_a_notice_whose_sequence_follows_what_was_just_shown(tmp_path: Path) -> None:
    c = _composer(tmp_path)
    shown = {"design-1": ClientDate(4, dt.date(2026, 12, 4), None, False)}  # the client's calendar has SEQUENCE 4
    decided = decide_project(c, _snapshot(c, reports={"design-1": [SLIPPING]}, dates=shown,
                                          first_sent=NOW - dt.timedelta(days=1)), _forecaster(c), NOW)
    [notice] = decided.plans
    assert notice.what.startswith('notice for "Design mockups"')
    [mail] = notice.messages
    [date] = notice.dates
    assert mail.kind == "notice" and date.sequence == 5 and date.shown_date == date.promised == mail.promised
    assert date.promised is not None and date.promised > dt.date(2026, 12, 4)
    # the manager hears why a notice went, once the notice has its number; the note gave a plan: no follow-up
    assert notice.about is not None and [m.kind for m in _to_manager(c, notice, 17)] == ["manager-explained",
                                                                                     "manager-copy"]


def test_a_notice_decided_with_the_introduction_sees_the_dates_it_showed(tmp_path: Path) -> None:
    c = _composer(tmp_path)
    intro, notice = decide_project(c, _snapshot(c, reports={"design-1": [SLIPPING]}), _forecaster(c), NOW).plans
    assert [d.sequence for d in intro.dates if d.uid == "design-1"] == [2]
    assert [d.sequence for d in notice.dates if d.uid == "design-1"] == [3]


def test_a_dependant_moved_by_a_notice_is_judged_against_its_new_date_in_the_same_pass(tmp_path: Path) -> None:
    c = _composer(tmp_path)
    snap = _snapshot(c, reports={"design-1": [SLIPPING]}, first_sent=NOW - dt.timedelta(days=1))
    linked = [m if m.uid != "design-1" else type(m)(**{**m.__dict__, "successors": (("launch-1", 0),)})
              for m in snap.view.milestones]
    view = ProjectView(snap.view.project, linked, snap.view.reports, {})
    [notice] = decide_project(c, Snapshot(view, snap.first_sent, None), _forecaster(c), NOW).plans
    assert [(m.kind, m.uid) for m in notice.messages] == [("notice", "design-1"), ("update", "launch-1")]
    [moved] = [d for d in notice.dates if d.uid == "launch-1"]
    assert moved.sequence == 1 and moved.promised is not None and moved.promised > dt.date(2026, 12, 10)


def test_under_manager_approval_every_message_is_held_with_a_draft_naming_it(tmp_path: Path) -> None:
    c = _composer(tmp_path, approval="manager")
    [intro] = decide_project(c, _snapshot(c), _forecaster(c), NOW).plans
    assert {m.state for m in intro.messages} == {"held"}
    assert intro.about is not None
    draft, copy = _to_manager(c, intro, 42)
    assert draft.kind == "manager-draft" and draft.recipients[0] == "pm@studio.example"
    assert b"approve 42" in draft.message
    assert (copy.kind, copy.state) == ("manager-copy", "held")  # it goes when the letter goes, if it does
    for mail in (draft, copy):  # neither carries a live invitation
        assert [p for p in message_from_bytes(mail.message, policy=email_policy).walk()
                if p.get_content_type() == "text/calendar"] == []


def test_the_weekly_check_in_waits_two_days_after_the_introduction(tmp_path: Path) -> None:
    c = _composer(tmp_path)
    slot = dt.datetime(2026, 11, 30, 9, tzinfo=dt.UTC)
    early = decide_project(c, _snapshot(c, first_sent=slot - dt.timedelta(days=1), weekly_slot=slot),
                           _forecaster(c), NOW)
    assert early.plans == []
    due = decide_project(c, _snapshot(c, first_sent=slot - dt.timedelta(days=5), weekly_slot=slot),
                         _forecaster(c), NOW)
    # Launch (10 December) is not in the client's calendar yet and comes near: its own invitation, then the week
    assert [p.what for p in due.plans] == ['invitation for "Design mockups"', 'invitation for "Launch"',
                                           "weekly check-in"]
    assert [p.messages[0].kind for p in due.plans] == ["update", "update", "weekly"]


def test_the_first_weekly_says_it_is_the_first_and_a_later_week_without_notes_says_no_new_figures(
        tmp_path: Path) -> None:
    """plan_weekly's rule: the check-in is the first when last week's slot came before the introduction (or too
    soon after it to count, WEEKLY_AFTER); it then says so, never "nothing moved since last week". A week later,
    with no note in it, the letter says no new figures came, not that nothing moved (fourth reading, defect 2)."""
    c = _composer(tmp_path)
    pv = _snapshot(c).view
    slot = dt.datetime(2026, 11, 30, 9, tzinfo=dt.UTC)
    intro = slot - dt.timedelta(days=5)  # Wednesday before: last Monday's slot came before it
    first = plan_weekly(c, pv, slot, slot, first_sent=intro)
    assert first is not None
    text = " ".join(_text(first.messages[0]).split())
    assert "This is my first weekly update on ACME website relaunch" in text and "since last week" not in text
    # last week's slot only a day after the introduction: too soon to have counted, so this one is still the first
    soon = plan_weekly(c, pv, slot, slot, first_sent=slot - dt.timedelta(days=8))
    assert soon is not None and "This is my first weekly update" in _text(soon.messages[0])
    later = plan_weekly(c, pv, slot + dt.timedelta(days=7), slot + dt.timedelta(days=7), first_sent=intro)
    assert later is not None
    text = " ".join(_text(later.messages[0]).split())
    assert "first weekly update" not in text
    assert "The progress figures below are unchanged since last week's update." in text


def test_the_check_in_waits_while_a_notice_of_its_project_waits_for_the_manager(tmp_path: Path) -> None:
    """The client-side audit: a notice for the design held at 07:30 for the manager; the check-in at 09:30 said
    "Next up is Design, due on Friday, 13 November … if one of their dates has to move, you'll hear it from me
    straight away", and at 11:00 the approved notice said the date had moved. The check-in waits with the notice
    (a notice that goes out withdraws it); with none waiting it goes as before. In the pass itself too: the
    notice held in it holds the check-in made after it."""
    c = _composer(tmp_path)
    pv = _snapshot(c).view
    slot = dt.datetime(2026, 11, 30, 9, tzinfo=dt.UTC)
    free = plan_weekly(c, pv, slot, slot, first_sent=slot - dt.timedelta(days=20))
    assert free is not None and free.held == [] and free.messages[0].state == "pending"
    waits = plan_weekly(c, dataclasses.replace(pv, held={"design-1": slot - dt.timedelta(hours=2)}), slot, slot,
                        first_sent=slot - dt.timedelta(days=20), waiting={"design-1"})
    assert waits is not None and waits.messages[0].state == "held"
    [why] = waits.held
    assert why.startswith('the notice about "Design mockups" waits for your decision')
    snap = dataclasses.replace(_snapshot(c, reports={"design-1": [SLIPPING]}, first_sent=slot - dt.timedelta(days=20)),
                               weekly_slot=slot)
    manager = _composer(tmp_path, "manager")
    states = {p.messages[0].kind: (p.messages[0].state, p.held) for p in decide_project(
        manager, dataclasses.replace(snap, view=dataclasses.replace(snap.view, project=manager.config.projects[0])),
        _forecaster(manager), slot).plans}
    assert states["notice"][0] == "held" and states["weekly"][0] == "held"
    assert any(why.startswith('the notice about "Design mockups" waits') for why in states["weekly"][1])


def test_the_why_now_note_names_the_rule_of_the_policy_that_made_the_notice_due(tmp_path: Path) -> None:
    """plan_notice sets the manager's "Why now" from the rule core/policy.decide fired, with its dates: the team's
    own date past the date the client holds, else the chance of missing it at warn_probability (fourth reading,
    defect 4) — and the note of a notice that went out says it, not only the letter composer given it."""
    c = _composer(tmp_path)
    own = _notice(c, [SLIPPING])  # "Remaining: 15 days" on Monday 30 November: the team's own date is 21 December
    assert own.trigger == ("the team's latest note puts the end of the work on Dec 21, 2026, past Dec 4, 2026, the "
                           "date Jane Doe holds, and the client hears as soon as the team's own date passes theirs.")
    [note] = [m for m in _to_manager(c, own, 9) if m.kind == "manager-explained"]
    said = " ".join(_text(note).split())
    assert said.startswith("Notice #9 has gone to Jane Doe (jane@acme.example) without waiting for you; you're in "
                           f"Cc. Why now: {own.trigger}")
    # no date of the team's own: the pace alone (10% → 20% in two weeks) takes the chance past warn_probability
    slow = [dataclasses.replace(SLIPPING, at=NOW - dt.timedelta(days=14), done=10, remaining_days=None),
            dataclasses.replace(SLIPPING, remaining_days=None)]
    pace = _notice(c, slow)
    assert pace.trigger.startswith("the chance of missing Dec 4, 2026, the date Jane Doe holds, has reached ")
    assert pace.trigger.endswith(", and the client hears at 97%.")
    assert "Why now: the chance of missing Dec 4, 2026" in _text(
        next(m for m in _to_manager(c, pace, 9) if m.kind == "manager-explained")).replace("\n", " ")


def test_a_cancelled_milestone_the_client_saw_is_cancelled_in_their_calendar(tmp_path: Path) -> None:
    c = _composer(tmp_path)
    snap = _snapshot(c, dates={"launch-1": ClientDate(3, dt.date(2026, 12, 10), None, False)},
                     first_sent=NOW - dt.timedelta(days=1))
    launch = next(m for m in snap.view.milestones if m.uid == "launch-1")
    gone = ProjectView(snap.view.project, [m if m is not launch else type(m)(**{**m.__dict__, "state": "cancelled"})
                                           for m in snap.view.milestones], {}, snap.view.dates)
    [cancel] = decide_project(c, Snapshot(gone, snap.first_sent, None), _forecaster(c), NOW).plans
    assert cancel.what == 'cancellation of "Launch"'
    assert cancel.dates == [ShowDate("acme-web", "launch-1", 4, cancelled=True,
                                     entry_uid=timeline.entry_uid(c.key, "acme-web", "launch-1"))]


@pytest.mark.parametrize("updates", ["invitations", "feed"])
def test_a_milestone_made_private_after_it_was_in_the_clients_calendar_is_taken_out_saying_so(
        tmp_path: Path, updates: str) -> None:
    """The calendar audit: Launch was in the client's calendar (an invitation went) when the team marked it private.
    The page, the feed and the calendar copy left it out — but their own calendar kept it on 10 December, a date
    nothing would move again however it slipped. A letter says it is off the timeline they share, and its CANCEL
    (above the SEQUENCE they hold) takes the entry out; once. Under "feed" the feed leaves it out by itself."""
    c = _client(_composer(tmp_path), calendar_updates=updates)
    snap = _snapshot(c, dates={"launch-1": ClientDate(3, dt.date(2026, 12, 10), None, False,
                                                      invited=updates == "invitations")},
                     first_sent=NOW - dt.timedelta(days=7))
    private = [dataclasses.replace(m, private=True) if m.uid == "launch-1" else m for m in snap.view.milestones]
    snap = dataclasses.replace(snap, view=dataclasses.replace(snap.view, milestones=private))
    plans = [p for p in decide_project(c, snap, _forecaster(c), NOW).plans if p.messages[0].uid == "launch-1"]
    if updates == "feed":
        assert plans == []
        return
    [gone] = plans
    assert gone.what == '"Launch" off the client\'s timeline (made private)'
    assert gone.dates == [ShowDate("acme-web", "launch-1", 4, cancelled=True,
                                   entry_uid=timeline.entry_uid(c.key, "acme-web", "launch-1"))]
    letter = message_from_bytes(gone.messages[0].message, policy=email_policy)
    assert str(letter["Subject"]).startswith("Off your timeline: Launch")
    text = body(letter)
    assert "now part of our internal work" in text and "cancelled" not in text.lower()
    [part] = [p for p in letter.walk() if p.get_content_type() == "text/calendar"]
    assert part.get_param("method") == "CANCEL"
    [event] = Calendar.from_ical(part.get_content()).walk("VEVENT")
    assert event["SEQUENCE"] == 4
    after = dataclasses.replace(snap, view=snap.view.after(gone.dates))
    assert [p for p in decide_project(c, after, _forecaster(c), NOW).plans if p.messages[0].uid == "launch-1"] == []


@pytest.mark.parametrize("approval", ["auto", "manager"])
def test_the_stage_over_the_in_memory_store_records_each_decision_once(tmp_path: Path, approval: str) -> None:
    config = _config(tmp_path, approval)
    store = MemoryStore()
    c = Studio(config, letters(), store.key)
    _synced(store, c)
    svc = Services(config, store, Untouchable(), Untouchable, Untouchable(), FixedClock(NOW),
                   letters())
    evaluate(svc, report := PassReport())
    assert len(report.events) == 1 and "introduction" in report.events[0]
    clients = store.outbox(audience="client")
    assert [i.kind for i in clients] == ["intro"]
    assert {i.state for i in clients} == {"held" if approval == "manager" else "pending"}
    assert [i.kind for i in store.outbox(audience="team")] == (
        ["manager-draft", "manager-copy"] if approval == "manager" else ["manager-copy"])
    assert store.client_dates("acme-web") == {"design-1": ClientDate(2, dt.date(2026, 12, 4), None, False),
                                              "launch-1": ClientDate(0, dt.date(2026, 12, 10), None, False,
                                                                     invited=False)}
    assert store.forecast("acme-web", "design-1") is not None
    evaluate(svc, again := PassReport())  # the same time, nothing new: nothing more to say
    assert again.events == [] and len(store.outbox()) == len(clients) + 1 + (approval == "manager")


@pytest.mark.parametrize("mode", ["feed", "off"])
def test_without_invitations_the_letters_carry_no_calendar_and_no_calendar_only_mail_goes(
        tmp_path: Path, mode: Literal["feed", "off"]) -> None:
    config = _config(tmp_path)
    project = dataclasses.replace(config.projects[0], calendar_updates=mode, client_feed_url="https://f.example/f")
    c = Studio(dataclasses.replace(config, projects=(project,)), letters(), b"k" * 32)
    snap = _snapshot(c, reports={"design-1": [SLIPPING]})
    linked = [m if m.uid != "design-1" else dataclasses.replace(m, successors=(("launch-1", 0),))
              for m in snap.view.milestones]
    view = dataclasses.replace(snap.view, project=project, milestones=linked)
    intro, notice = decide_project(c, Snapshot(view, None, None), _forecaster(c), NOW).plans
    assert {d.uid for d in intro.dates} == {"design-1", "launch-1"} and not any(d.invited for d in intro.dates)
    assert [m.kind for m in notice.messages] == ["notice"]  # the dependant moves in the feed, not by mail
    assert {d.uid for d in notice.dates} == {"design-1", "launch-1"}
    for message in (*intro.messages, *notice.messages):
        assert b"text/calendar" not in message.message
        assert (b"https://f.example/f" in message.message) == (mode == "feed")


def test_without_client_feed_url_the_letters_link_the_projects_feed_on_the_web_pages(tmp_path: Path) -> None:
    config = _config(tmp_path)
    project = dataclasses.replace(config.projects[0], calendar_updates="feed", client_feed_url="")
    web = dataclasses.replace(config.web, listen="127.0.0.1:8080", base_url="https://studio.example/dw/")
    c = Studio(dataclasses.replace(config, projects=(project,), web=web), letters(), b"k" * 32)
    snap = _snapshot(c)
    view = dataclasses.replace(snap.view, project=project, page_token="T" * 32)
    [intro] = decide_project(c, Snapshot(view, None, None), _forecaster(c), NOW).plans
    letter = message_from_bytes(intro.messages[0].message, policy=email_policy)
    text = body(letter)
    assert f"https://studio.example/dw/p/{'T' * 32}/timeline.ics" in text
    assert f"Your project's page, always up to date: https://studio.example/dw/p/{'T' * 32}/" in text.splitlines()


def test_the_client_is_told_no_date_the_manager_holds_back_or_rejected(tmp_path: Path) -> None:
    c = _composer(tmp_path)
    moved = ShowDate("acme-web", "design-1", 3, shown_date=dt.date(2026, 12, 11), promised=dt.date(2026, 12, 11))
    first = ShowDate("acme-web", "design-1", 2, shown_date=dt.date(2026, 12, 4))
    later = ShowDate("acme-web", "launch-1", 1, shown_date=dt.date(2026, 12, 14))
    decided = {"design-1": ClientDate.after(ClientDate.after(None, first), moved),
               "launch-1": ClientDate.after(None, later)}
    pv = dataclasses.replace(_snapshot(c).view, dates=decided)
    for state in ("held", "rejected"):
        told = pv.as_told([("sent", (first,)), (state, (moved, later))])
        assert told.dates["design-1"] == ClientDate.after(None, first)  # the date before the held notice
        assert "launch-1" not in told.dates  # only the held group moved it: the calendar's own date stands
        assert told.rows()[0].new == dt.date(2026, 12, 4)
    assert pv.as_told([("sent", (first,)), ("pending", (moved, later))]).dates == decided  # approved: told


def test_the_manager_hears_early_once_per_episode_and_again_only_when_it_worsens(tmp_path: Path) -> None:
    from deadlinewatch.core import alert as risk
    from deadlinewatch.core.model import Forecast, RiskAlert

    c = _composer(tmp_path)
    cal = c.workdays

    def f(p: float, p80: dt.date = dt.date(2026, 12, 10), target: dt.date = dt.date(2026, 12, 4)) -> Forecast:
        return Forecast("acme-web", "design-1", p80, p80, p, "why", target)

    assert risk.change("open", f(0.49), None, 0.5, cal) is None
    assert risk.change("open", f(0.5), None, 0.5, cal) == "raise"
    up = RiskAlert(0.5, dt.date(2026, 12, 10), dt.date(2026, 12, 4), NOW)
    assert risk.change("open", f(0.36), up, 0.5, cal) is None  # within the hysteresis band: still up, quiet
    assert risk.change("open", f(0.68), up, 0.5, cal) is None  # a wobble is not news
    assert risk.change("open", f(0.7), up, 0.5, cal) == "worse"
    assert risk.change("open", f(0.55, p80=dt.date(2026, 12, 18)), up, 0.5, cal) == "worse"  # P80 6 days later
    assert risk.change("open", f(0.34), up, 0.5, cal) == "clear"
    assert risk.change("done", None, up, 0.5, cal) == "end"  # closed: the episode ends without a mail
    assert risk.change("open", f(0.2, target=dt.date(2026, 12, 18)), up, 0.5, cal) == "end"  # the client was told


def test_the_pace_says_how_much_faster_the_work_must_go(tmp_path: Path) -> None:
    from deadlinewatch.core import alert as risk

    cal = _composer(tmp_path).workdays
    day = dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC)
    notes = [Report("acme-web", "design-1", day - dt.timedelta(days=14), 20),
             Report("acme-web", "design-1", day, 40)]
    p = risk.pace(notes, day.date(), dt.date(2026, 12, 14), cal)  # 10 working days: 2 points a day
    assert (p.done, p.per_day, p.needed_days, p.remaining_days) == (40, 2.0, 30.0, 10) and p.factor == 3.0
    stalled = risk.pace([*notes[:1], Report("acme-web", "design-1", day, 20)], day.date(), dt.date(2026, 12, 14), cal)
    assert stalled.per_day == 0 and stalled.needed_days is None


def test_a_slipping_milestone_raises_the_managers_alert_in_the_teams_language(tmp_path: Path) -> None:
    c = _composer(tmp_path)
    earlier = dataclasses.replace(SLIPPING, at=NOW - dt.timedelta(days=14), done=10)
    decided = decide_project(c, _snapshot(c, reports={"design-1": [earlier, SLIPPING]}), _forecaster(c), NOW)
    [raised] = [a for a in decided.alerts if a.uid == "design-1"]
    assert raised.what == "raise" and raised.state is not None and raised.message is not None
    assert raised.message.recipients[0] == "pm@studio.example" and raised.message.audience == "team"
    letter = message_from_bytes(raised.message.message, policy=email_policy)
    text = body(letter)
    assert str(letter["Subject"]) == "At risk: ACME website relaunch: Design mockups"
    assert "at the notes' recent pace it needs" in text and "To recover it, " in text
    assert "The client notice is due now." in text
    # said once: the same forecast with the alert up says nothing more
    again = decide_project(c, dataclasses.replace(_snapshot(c, reports={"design-1": [earlier, SLIPPING]}),
                                                  alerts={"design-1": raised.state}), _forecaster(c), NOW)
    assert [a for a in again.alerts if a.uid == "design-1"] == []


def test_a_letter_with_free_text_in_another_language_is_held_for_the_manager_saying_why(tmp_path: Path) -> None:
    c = _client(_composer(tmp_path), language="tr")
    english = dataclasses.replace(SLIPPING, plan="a second designer joins the team on Monday")
    notice = _notice(c, [english])
    assert {m.state for m in notice.messages} == {"held"}  # policy.approval is "auto": held for its own reason
    assert any("Cause" in why and "(en)" in why for why in notice.held)
    assert any("Plan" in why for why in notice.held)
    assert not [why for why in notice.held if "Prevent" in why]  # none given: nothing to judge
    [draft, *_] = _to_manager(c, notice, 5)
    assert draft.kind == "manager-draft" and b"the assets came late" in draft.message  # quoted in why it waits
    # and left out of the letter (the client-side audit: released undecided after approval_hours, an English client
    # read "The delay is our responsibility: tasarım onayı beklenenden geç geldi"): it promises the steps instead
    letter = _text(notice.messages[0])
    assert "the assets came late" not in letter and "second designer" not in letter
    assert notice.follow_up is not None and "somut adımları" in letter
    assert any("leaves it out" in why for why in notice.held)
    turkish = dataclasses.replace(SLIPPING, cause="marka dosyaları bir hafta geç geldi",
                                  plan="pazartesi ikinci bir tasarımcı katılıyor")
    offers = (Offer(1, (("en", "No charge for the extra round."), ("tr", "Ek tur ücretsiz."))),)
    # the project's context is free text too: the Turkish letter needs it in Turkish (issue 28, item 9)
    fine = _notice(_client(c, offers=offers, context="12 Aralık'taki yıllık hissedarlar toplantınız"), [turkish])
    assert fine.held == [] and {m.state for m in fine.messages} == {"pending"}
    assert "Ek tur ücretsiz." in _text(fine.messages[0])


def test_an_offer_rung_without_the_clients_language_holds_the_notice(tmp_path: Path) -> None:
    offers = (Offer(1, (("en", "No charge for the extra round."),)),)
    c = _client(_composer(tmp_path), language="tr", offers=offers)
    turkish = dataclasses.replace(SLIPPING, cause="marka dosyaları geç geldi", plan="ikinci bir tasarımcı katılıyor")
    notice = _notice(c, [turkish])
    assert [why for why in notice.held if "offer" in why] and {m.state for m in notice.messages} == {"held"}
    assert "No charge" not in _text(notice.messages[0])  # never an English offer in a Turkish letter


def test_a_notice_without_a_plan_promises_the_steps_by_a_date_and_schedules_the_managers_reminder(
        tmp_path: Path) -> None:
    c = _composer(tmp_path)
    notice = _notice(c, [dataclasses.replace(SLIPPING, plan="")])
    assert notice.follow_up == dt.date(2026, 12, 2)  # two working days after Monday 30 November
    # held for the manager it may go a working day later (its hold), never more: a long approval_hours pushed the
    # steps past the deadline they were for (the review); with a date the manager chose, it goes now
    manager = Studio(dataclasses.replace(c.config, policy=dataclasses.replace(c.config.policy, approval_hours=120),
                                         projects=(dataclasses.replace(c.config.projects[0], approval="manager"),)),
                     c.letters, c.key)
    assert _notice(manager, [dataclasses.replace(SLIPPING, plan="")]).follow_up == dt.date(2026, 12, 3)
    assert "By Wednesday, 2 December 2026, I'll write to you with the concrete steps" in _text(notice.messages[0])
    explained, reminder, _copy = _to_manager(c, notice, 9)
    assert (explained.kind, reminder.kind) == ("manager-explained", "manager-follow-up")
    assert reminder.not_before == dt.datetime(2026, 12, 2, 9, tzinfo=c.team_tz) and reminder.state == "pending"
    reminded = " ".join(body(message_from_bytes(reminder.message, policy=email_policy)).split())
    assert "Notice #9 promised Jane Doe (jane@acme.example) a letter by today. It should give the concrete steps" \
        in reminded
    # composed days before it goes, it claims nothing of notes not yet written (sixth native reading: it said "the
    # notes show the team's latest cause, plan and prevention" when the team had given none)
    assert "latest cause" not in reminded and "where they give no cause, plan or prevention yet, ask the team " \
        "for them first." in reminded
    held = _notice(_client(c, approval="manager"), [dataclasses.replace(SLIPPING, plan="")])
    # the reminder waits with the letter
    assert [m.state for m in _to_manager(c, held, 9)] == ["pending", "held", "held"]


def test_a_second_notice_names_the_broken_date_and_needs_a_plan_newer_than_the_last_notice(tmp_path: Path) -> None:
    c = _composer(tmp_path)
    promised = dt.date(2026, 12, 8)
    dates = {"design-1": ClientDate(5, promised, promised, False)}
    last_notice = NOW - dt.timedelta(days=3)
    old = dataclasses.replace(SLIPPING, at=last_notice - dt.timedelta(days=1))
    late = Report("acme-web", "design-1", NOW, 30, 20.0)  # the promise of 8 December is certain to break
    stale = _notice(c, [old, late], dates, {"design-1": last_notice})
    assert any("no Cause/Plan newer than the last notice" in why for why in stale.held)
    assert stale.ask_team == "Cause/Plan"  # the team is asked for them: whoever reported last, answering as a note
    [ask] = stale.team
    asked = message_from_bytes(ask.message, policy=email_policy)
    assert ask.recipients[0] == "alice@studio.example" and asked["Reply-To"] == c.config.imap.address
    assert "Cause: ...\nPlan: ..." in asked.get_content().replace("\r\n", "\n")
    text = _text(stale.messages[0])
    assert "we won't make Tuesday, 8 December 2026, the new date I gave you" in text
    assert "a second designer" not in text  # the plan that failed is not offered again
    assert old.cause not in text  # nor the reassurance that came with it
    fresh = dataclasses.replace(SLIPPING, at=NOW - dt.timedelta(hours=2), plan="we cut the second review round")
    renewed = _notice(c, [old, late, fresh], dates, {"design-1": last_notice})
    assert renewed.held == [] and "we cut the second review round" in _text(renewed.messages[0])
    assert old.cause in _text(renewed.messages[0])  # said again in a note after the notice: the team stands by it
    # a second slip is owned with a step of ours: the manager calls the next working day, and is reminded then
    assert renewed.call == dt.date(2026, 12, 1)
    # held for the manager, it may go only when its hold runs out (Tuesday 1 December, 09:00): the call it names is
    # the working day after that, never a day the client reads of after it passed (the client-side audit)
    assert stale.call == dt.date(2026, 12, 2) and "I'll call you on Wednesday, 2 December 2026" in text
    # the day named, not "tomorrow": a held letter goes out dated the day it is approved
    assert "I'll call you on Tuesday, 1 December 2026" in _text(renewed.messages[0])
    reminder = next(m for m in _to_manager(c, renewed, 9) if m.kind == "manager-call")
    assert reminder.not_before == dt.datetime(2026, 12, 1, 9, tzinfo=c.team_tz)
    assert b"you would call them today" in reminder.message
    # a day the client counts on that the new date misses: the call is to agree what still reaches them before it,
    # as the letter says, and the reminder says so
    counting = _client(c, context="your annual shareholder meeting on 12 December")
    missed = _notice(counting, [old, late, fresh], dates, {"design-1": last_notice})
    assert "what we can still get to you before Saturday, 12 December 2026" in _text(missed.messages[0])
    reminder = next(m for m in _to_manager(counting, missed, 9) if m.kind == "manager-call")
    said = " ".join(body(message_from_bytes(reminder.message, policy=email_policy)).split())
    assert "you would call them today to agree what can still reach them before Saturday, December 12, 2026" in said


def test_the_delivered_note_gives_the_day_of_delivery_and_the_letters_are_signed_by_a_person(tmp_path: Path) -> None:
    c = _client(_composer(tmp_path), signature="Deniz Kaya")
    promised = dt.date(2026, 12, 8)
    done = Report("acme-web", "design-1", dt.datetime(2026, 11, 27, 15, tzinfo=dt.UTC), 100)
    notice = _notice(c, [done], {"design-1": ClientDate(5, promised, promised, False)})
    text = _text(notice.messages[0])
    assert "we delivered the “Design mockups” milestone on Friday, 27 November 2026" in text
    assert text.rstrip().endswith("Kind regards,\nDeniz Kaya")
    # by the date first agreed (4 December) after all, the new date is said to be no longer needed — never "thank you
    # for your patience while we got the work back on track" for work that was never late (the client-side audit)
    flat = " ".join(text.split())
    assert "It came in by the date we first agreed after all, so the new date I gave you is no longer needed." in flat
    assert "back on track" not in flat
    late = Report("acme-web", "design-1", dt.datetime(2026, 12, 7, 15, tzinfo=dt.UTC), 100)
    after = " ".join(_text(_notice(c, [late], {"design-1": ClientDate(5, promised, promised, False)},
                                   ).messages[0]).split())
    assert "back on track" in after and "first agreed after all" not in after
    today = Report("acme-web", "design-1", NOW - dt.timedelta(hours=1), 100)
    sent = _text(_notice(c, [today], {"design-1": ClientDate(5, promised, promised, False)}).messages[0])
    assert "we delivered the “Design mockups” milestone today" in sent
    # held for the manager, it may go days later: the day is named (the client-side audit: "delivered today",
    # released four days after)
    manager = _client(_composer(tmp_path, "manager"), signature="Deniz Kaya")
    held = _notice(manager, [today], {"design-1": ClientDate(5, promised, promised, False)}).messages[0]
    assert held.state == "held" and "we delivered the “Design mockups” milestone on Monday, 30 November 2026" in \
        _text(held)


def test_the_daemon_learns_the_teams_stated_remaining_times_from_its_closed_milestones_reading_each_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The daemon's spread, like the replay's: each closed milestone's `Remaining:` statements against the day a
    note said Done: 100%. A team that said 5, 4, 3 days and was done on the day is taken at its word; the notes of
    a closed milestone are read once."""
    from deadlinewatch.stages.state import team_spread

    config = _config(tmp_path)
    store = MemoryStore()
    svc = Services(config, store, Untouchable(), Untouchable, Untouchable(), FixedClock(NOW),
                   letters())
    before = team_spread(svc)
    assert before.stated_bias == before.bias  # nothing closed: the first estimates' (the prior) stand in
    reports = []
    for week in range(1, 9):  # eight closed milestones, each said 5, 4, 3 working days on Mon, Tue, Wed: done Mon
        monday = NOW - dt.timedelta(weeks=week)
        uid = f"m{week}"
        reports += [Report("acme-web", uid, monday + dt.timedelta(days=d), remaining_days=5 - d) for d in range(3)]
        reports.append(Report("acme-web", uid, monday + dt.timedelta(days=7), done=100))
    store.record_message(message_key="k", message_id="<k@x>", sender="pm@studio.example", subject="s",
                         received_at=NOW, outcome="recorded", target_folder="done", project="acme-web",
                         problems=(), raw=b"", body="", reports=reports, now=NOW)
    learned = team_spread(svc)
    assert learned.stated_bias == pytest.approx(1.0, abs=0.1) and learned.remaining < before.remaining
    assert len(svc.stated) == 8
    reads: list[tuple[object, ...]] = []

    def read_reports(*a: Any, **k: Any) -> list[Report]:  # a spy: any read of the notes is seen
        reads.append(a)
        return []

    monkeypatch.setattr(store, "reports", read_reports)
    svc.learned.clear()
    assert team_spread(svc) == learned and reads == []  # learned again, from what was read before


@pytest.mark.parametrize("closed", [0, 6])
def test_a_promise_far_beyond_a_new_teams_own_eta_waits_for_the_manager_with_both_dates(tmp_path: Path,
                                                                                        closed: int) -> None:
    """A team with few closed milestones is forecast by the reference class (work takes about 1.8x its estimate):
    when that promises the client a date far beyond the team's own ETA (over 1.5x its distance), the manager sees
    both dates and why before the client does; a team whose record the forecast learned from is believed."""
    from deadlinewatch.core.forecast import Closed, learn

    c = _composer(tmp_path)
    note = Report("acme-web", "design-1", NOW, done=30, eta=dt.date(2027, 1, 25))  # after the 4 December deadline
    spread = learn([Closed(10, 18)] * closed)  # about the prior's bias either way: only the history differs
    assert spread.history == closed and spread.bias > 1.5
    snap = dataclasses.replace(_snapshot(c, reports={"design-1": [note]}, first_sent=NOW - dt.timedelta(days=1)),
                               history=closed)
    [notice] = decide_project(c, snap, Forecaster(c.workdays, c.team_tz, spread), NOW).plans
    [promised] = [d.promised for d in notice.dates if d.uid == "design-1"]
    assert promised is not None
    assert promised > dt.date(2027, 3, 1)  # the reference class's date, a month and more past the team's
    held = [why for why in notice.held if "than the team's own date (" in why]
    if closed:
        assert held == []
    else:
        [why] = held  # both dates, how far apart, and why the forecast is not to be trusted over the team
        assert why.startswith("The draft promises the forecast's date, May 4, 2027, 67 working days later than the "
                              "team's own date (Jan 25, 2027). The forecast has no closed milestone of this team to "
                              "learn from yet")
        # the manager's choices, and what each risks
        assert 'to send the team\'s date, reply "approve 2027-01-25"' in why


def test_a_held_notice_whose_team_keeps_the_agreed_date_offers_to_keep_it_not_to_send_it(tmp_path: Path) -> None:
    """The forecast outruns a new team whose own date keeps the day agreed with the client (the notice is due on
    the forecast alone): the manager is offered to keep the date (reject), the forecast's or a date of their own
    after the agreed day — never "approve with the team's date", which is no new date and `approve` refuses."""
    c = _composer(tmp_path)
    agreed = dt.date(2026, 12, 4)
    note = Report("acme-web", "design-1", NOW, done=30, eta=agreed)

    def forecast(m: Any, reports: Sequence[Report], cd: ClientDate | None, now: dt.datetime,
                 day: dt.date) -> Forecast | None:
        return Forecast(m.project, m.uid, dt.date(2027, 1, 20), dt.date(2027, 2, 1), 0.99, "", day,
                        agreed if m.uid == "design-1" else None) if m.uid == "design-1" else None

    snap = dataclasses.replace(_snapshot(c, reports={"design-1": [note]}, first_sent=NOW - dt.timedelta(days=1)),
                               history=0)
    assert snap.view.agreed(snap.view.milestones[0]) == agreed
    [notice] = decide_project(c, snap, forecast, NOW).plans
    [why] = [w for w in notice.held if "than the team's own date (" in w]
    assert "(Dec 4, 2026), which keeps the date agreed with the client" in why
    assert "rejecting keeps the agreed date, as the team says" in why
    assert "a date of your own must come after Dec 4, 2026" in why and "the team's date, reply" not in why


def test_a_turkish_teams_dashboard_gives_the_forecasts_reason_in_turkish_while_status_keeps_english(
        tmp_path: Path) -> None:
    """The reason is kept as phrases beside its English: the dashboard says it in team.language (its dates and
    probability stand beside it), `status --json` keeps the English word for word."""
    from deadlinewatch import manage
    from deadlinewatch.web.server import read_dashboard, render_dashboard

    config = _config(tmp_path)
    config = dataclasses.replace(config, team=dataclasses.replace(config.team, language="tr"))
    store = MemoryStore()
    c = Studio(config, letters(), store.key)
    _synced(store, c)
    store.record_message(message_key="k", message_id="<k@x>", sender="alice@studio.example", subject="s",
                         received_at=NOW, outcome="recorded", target_folder="done", project="acme-web",
                         problems=(), raw=b"", body="", reports=[SLIPPING], now=NOW)
    svc = Services(config, store, Untouchable(), Untouchable, Untouchable(), FixedClock(NOW),
                   letters())
    evaluate(svc, PassReport())
    [english] = [m["reason"] for m in manage.status_data(store, config)["milestones"] if m["uid"] == "design-1"]
    assert english.startswith("The team says it needs another 15 working days.") and "→ P50" in english
    html = render_dashboard(read_dashboard(svc), "pm@studio.example", "csrf", True)
    assert "Ekip 15 iş günü daha gerektiğini söylüyor." in html and "The team says" not in html
    assert "→ P50" not in html  # the dates are shown beside the reason, in the team's own words
    assert "henüz bağlanılmadı" in html and "not contacted yet" not in html  # the servers, before any pass
    store.set_server("caldav", True, "synced", NOW)
    store.set_server("smtp", False, "smtp.host = \"mail.example\": connection refused", NOW)
    html = render_dashboard(read_dashboard(svc), "pm@studio.example", "csrf", True)
    assert "takvim eşitlendi" in html and "synced" not in html
    assert "connection refused" in html  # a fault as the daemon reports it, naming the key to fix


def test_a_pass_writes_only_the_forecasts_that_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ten thousand unchanged forecasts rewritten every pass were most of a pass with no new note (bench/daemon.py):
    the first pass writes each, a pass with nothing new writes none, a note rewrites its milestone's."""
    config = _config(tmp_path)
    store = MemoryStore()
    _synced(store, Studio(config, letters(), store.key))
    written: list[list[str]] = []
    save = store.save_forecasts

    def save_forecasts(fs: Sequence[Forecast], now: dt.datetime) -> None:  # a spy on each write
        written.append([f.uid for f in fs])
        save(fs, now)

    monkeypatch.setattr(store, "save_forecasts", save_forecasts)
    svc = Services(config, store, Untouchable(), Untouchable, Untouchable(), FixedClock(NOW),
                   letters())
    evaluate(svc, PassReport())
    evaluate(svc, PassReport())
    assert written == [["design-1", "launch-1"], []]
    store.record_message(message_key="k", message_id="<k@x>", sender="alice@studio.example", subject="s",
                         received_at=NOW, outcome="recorded", target_folder="done", project="acme-web",
                         problems=(), raw=b"", body="", reports=[SLIPPING], now=NOW)
    evaluate(svc, PassReport())
    assert written[-1] == ["design-1"]
    assert store.forecast("acme-web", "design-1") == svc.saved[("acme-web", "design-1")]


def test_a_chain_of_three_never_inverts_in_the_letter_the_updates_or_the_dates_the_client_keeps(
        tmp_path: Path) -> None:
    """Design mockups → Content migration → Launch, finish-to-start: a slip of the mockups moves each after the
    one it builds on — in the notice's timeline, in each dependant's own calendar update, and in the dates kept
    for the client's page and feed."""
    from deadlinewatch.core.model import Milestone

    c = _composer(tmp_path)
    snap = _snapshot(c, reports={"design-1": [SLIPPING]}, first_sent=NOW - dt.timedelta(days=1))
    design, launch = (next(m for m in snap.view.milestones if m.uid == uid) for uid in ("design-1", "launch-1"))
    content = Milestone("acme-web", "content-1", "Content migration", dt.datetime(2026, 12, 8, tzinfo=dt.UTC),
                        successors=(("launch-1", 0),))
    chain = [dataclasses.replace(design, successors=(("content-1", 0),)), content, launch]
    view = ProjectView(snap.view.project, chain, snap.view.reports, {})
    [notice] = decide_project(c, Snapshot(view, snap.first_sent, None), _forecaster(c), NOW).plans
    shown = {d.uid: d.shown_date for d in notice.dates}
    assert shown["design-1"] is not None and shown["content-1"] is not None and shown["launch-1"] is not None
    assert shown["design-1"] < shown["content-1"] < shown["launch-1"]
    assert [(m.kind, m.uid) for m in notice.messages] == [("notice", "design-1"), ("update", "content-1"),
                                                         ("update", "launch-1")]
    text = _text(notice.messages[0])
    timeline = text[text.index("Here is the updated timeline:"):]
    assert timeline.index("Design mockups") < timeline.index("Content migration") < timeline.index("Launch")
    for update in notice.messages[1:]:  # each update carries its own milestone's new date
        day = shown[update.uid or ""]
        assert day is not None and day.strftime("%Y%m%d").encode() in _calendar(update)


def _calendar(mail: QueueMail) -> bytes:
    msg = message_from_bytes(mail.message, policy=email_policy)
    decoded = (p.get_payload(decode=True) for p in msg.walk() if p.get_content_type() == "text/calendar")
    return b"".join(payload if isinstance(payload, bytes) else b"" for payload in decoded)  # a leaf: bytes or None


def test_an_entry_the_client_has_keeps_its_uid_and_a_new_one_gets_ours(tmp_path: Path) -> None:
    """A milestone that went out before client entries had UIDs of their own keeps the team's (the migration
    recorded it): the client's entry moves in place. One that never went out gets ours, keyed: no letter or
    invitation carries the team calendar's UID for it, and nobody outside can compute ours from it."""
    c = _composer(tmp_path)
    snap = _snapshot(c, reports={"design-1": [SLIPPING]}, first_sent=NOW - dt.timedelta(days=1),
                     dates={"design-1": ClientDate(2, dt.date(2026, 12, 4), None, False)})
    kept = dataclasses.replace(snap, view=dataclasses.replace(snap.view, entry_uids={"design-1": "design-1"}))
    [notice] = decide_project(c, kept, _forecaster(c), NOW).plans
    [date] = notice.dates
    assert date.entry_uid == "design-1"
    [part] = [p for p in message_from_bytes(notice.messages[0].message, policy=email_policy).walk()
              if p.get_content_type() == "text/calendar"]
    assert "UID:design-1\r\n" in part.get_content()
    ours = timeline.entry_uid(c.key, "acme-web", "launch-1")
    assert ours.startswith("dw-") and ours != timeline.entry_uid(b"another key", "acme-web", "launch-1")
    assert [r.entry_uid for r in snap.view.rows()] == ["", ""]  # a view without the key makes no UID …
    with pytest.raises(ValueError, match="no client entry UID"):  # … and no calendar data with the team's
        c.letters.calendar(_envelope_for(c, snap.view), snap.view.rows()[1])


def _envelope_for(c: Studio, pv: ProjectView) -> Any:
    from deadlinewatch.decisions.evaluation import _envelope

    return _envelope(c, pv, "update", ["launch-1"], NOW)


def _calendar_parts(mail: QueueMail) -> list[Any]:
    return [p for p in message_from_bytes(mail.message, policy=email_policy).walk()
            if p.get_content_type() == "text/calendar"]


@pytest.mark.parametrize(("invited", "rejected", "method"), [(True, False, "CANCEL"), (False, False, None),
                                                            (True, True, None)])
def test_a_cancellation_cancels_only_an_entry_the_clients_calendar_has(
        tmp_path: Path, invited: bool, rejected: bool, method: str | None) -> None:
    """Invited: METHOD:CANCEL, STATUS:CANCELLED, a SEQUENCE above every one decided. Seen only in a letter's table,
    or invited by a letter the manager rejected: the letter goes, with no cancellation of an entry never had."""
    c = _composer(tmp_path)
    seen = ClientDate(3, dt.date(2026, 12, 10), None, False, invited=invited)
    snap = _snapshot(c, dates={"launch-1": seen}, first_sent=NOW - dt.timedelta(days=1))
    gone = [m if m.uid != "launch-1" else dataclasses.replace(m, state="cancelled") for m in snap.view.milestones]
    view = dataclasses.replace(snap.view, milestones=gone)
    invitation = ShowDate("acme-web", "launch-1", 3, shown_date=dt.date(2026, 12, 10), invited=True)
    view = view.judged([("sent", (dataclasses.replace(invitation, invited=False),)),
                        *([("rejected", (invitation,))] if rejected else [])])
    [cancel] = decide_project(c, Snapshot(view, snap.first_sent, None), _forecaster(c), NOW).plans
    assert [m.kind for m in cancel.messages] == ["cancel"] and "out of the project plan" in _text(cancel.messages[0])
    parts = _calendar_parts(cancel.messages[0])
    assert [p.get_param("method") for p in parts] == ([method] if method else [])
    if method:
        [event] = Calendar.from_ical(parts[0].get_content()).walk("VEVENT")
        assert str(event["STATUS"]) == "CANCELLED" and event["SEQUENCE"] == 4


def test_a_context_written_in_another_language_holds_the_introduction_and_the_notice_saying_why(
        tmp_path: Path) -> None:
    """A Bengali client's project whose `context` is in English: the letter would put English into Bengali."""
    c = _client(_composer(tmp_path), language="bn", context="your annual shareholder meeting on 12 December")
    [intro] = decide_project(c, _snapshot(c), _forecaster(c), NOW).plans
    assert intro.messages[0].state == "held"
    assert any(why.startswith("the context is written in another language (latin)") for why in intro.held)
    notice = _notice(c, [SLIPPING])
    assert notice.messages[0].state == "held"
    assert any(why.startswith("the context is written in another language (latin)") for why in notice.held)
    # the same context in Bengali goes as it is
    c = _client(_composer(tmp_path), language="bn", context="১২ ডিসেম্বরের বার্ষিক শেয়ারহোল্ডার সভা")
    [intro] = decide_project(c, _snapshot(c), _forecaster(c), NOW).plans
    assert intro.messages[0].state == "pending" and not intro.held


def test_the_team_counts_to_the_day_the_client_agreed(tmp_path: Path) -> None:
    """An all-day deadline is the client's day: its instant is midnight where the client is. A team east of its
    client (Istanbul, London) read that instant as the next day — Saturday 5 December for a Friday 4 December
    deadline — in its forecasts, replies and alerts; it now counts to the day the client holds."""
    from deadlinewatch.core.forecast import last_work_day

    c = _composer(tmp_path)
    snap = _snapshot(c, reports={"design-1": [SLIPPING]})
    design = next(m for m in snap.view.milestones if m.uid == "design-1")
    assert (str(c.team_tz), c.config.projects[0].client.timezone) == ("Europe/Istanbul", "Europe/London")
    assert last_work_day(design.deadline, c.team_tz) == dt.date(2026, 12, 5)  # the old reading: a day late
    assert snap.view.agreed(design) == dt.date(2026, 12, 4)
    f = _forecaster(c)(design, [SLIPPING], None, NOW, snap.view.agreed(design))
    assert f is not None and f.target == dt.date(2026, 12, 4)
    notice = next(p for p in decide_project(c, snap, _forecaster(c), NOW).plans if p.what.startswith("notice"))
    assert "by Friday, 4 December 2026" in _text(notice.messages[0])


def test_the_dashboard_shows_each_deadline_as_the_day_its_client_holds(tmp_path: Path) -> None:
    """The design is due Friday 4 December where the client is (London): its all-day deadline ends at London's
    midnight, three in the morning of the 5th in the team's Istanbul. The card said "deadline 5 Dec 2026" (the
    moment's day in the team's zone), a day later than the client's, beside P50 and P80 days counted to the 4th."""
    from deadlinewatch.web.server import read_dashboard, render_dashboard

    config = _config(tmp_path)
    store = MemoryStore()
    c = Studio(config, letters(), store.key)
    _synced(store, c)
    svc = Services(config, store, Untouchable(), Untouchable, Untouchable(), FixedClock(NOW), letters())
    evaluate(svc, PassReport())
    seen = read_dashboard(svc)
    [card] = [card for card in pages.dashboard(
        seen.data, seen.selection, seen.notes, seen.held, seen.names, today=NOW.date(), zone=seen.zone,
        language="en", warn_probability=0.6, deadlines=seen.deadlines).cards if card.name == "Design mockups"]
    assert card.deadline == "4 Dec 2026" and card.fan.deadline == dt.date(2026, 12, 4)  # the team's date form
    html = render_dashboard(seen, "pm@studio.example", "csrf", True)
    assert "deadline 4 Dec 2026" in html and "5 Dec 2026" not in html


def test_an_offer_made_for_another_milestone_is_said_to_stand_not_made_again_as_news(tmp_path: Path) -> None:
    """The launch's notice, sent 24 November, made the client an offer for its slip. The design's first notice, on
    the same rung of the ladder, says that offer stands and covers this delay too, dated — not the same gesture as
    news two days later (sixth native reading, a correctness 4). An offer on another rung is news; one the client
    never received (a notice held, never sent) is news too."""
    c = _client(_composer(tmp_path), offers=(Offer(1, (("en", "We will not charge for the extra review round."),)),))
    launch = {"launch-1": ClientDate(2, dt.date(2026, 12, 15), dt.date(2026, 12, 15), False)}
    sent = {"launch-1": dt.datetime(2026, 11, 24, 10, tzinfo=dt.UTC)}

    def notice(dates: dict[str, ClientDate], went: dict[str, dt.datetime], studio: Studio = c) -> str:
        snap = _snapshot(studio, reports={"design-1": [SLIPPING]}, dates=dates, first_sent=NOW - dt.timedelta(days=7))
        snap = dataclasses.replace(snap, view=dataclasses.replace(snap.view, sent=went))
        [plan] = [p for p in decide_project(studio, snap, _forecaster(studio), NOW).plans
                  if p.messages[0].uid == "design-1"]
        return _text(plan.messages[0])

    stands = notice(launch, sent)
    assert ("As I said on 24 November, we will not charge for the extra review round, and that covers this delay "
            "too.") in stands and "make up for the inconvenience" not in stands
    news = notice(launch, {})  # the launch's notice never went
    assert "We'd like to make up for the inconvenience. We will not charge for the extra review round." in news
    # a ladder of two: the launch's slip of a day got the first rung, the design's bigger one gets the second
    ladder = _client(c, offers=(Offer(1, (("en", "We will not charge for the extra review round."),)),
                                Offer(2, (("en", "We will take 10% off this milestone's invoice."),))))
    nearer = {"launch-1": ClientDate(2, dt.date(2026, 12, 11), dt.date(2026, 12, 11), False)}
    other = notice(nearer, sent, ladder)
    assert "As I said on" not in other and "We'd like to make up for the inconvenience. We will take 10% off" in other


def test_the_call_and_the_steps_a_letter_promises_never_fall_on_the_clients_public_holiday(tmp_path: Path) -> None:
    """A second notice on Thursday 24 December, the team in Istanbul (Friday the 25th a working day there), the
    client in London with its bank holidays: the letter said "I'll call you on Friday, 25 December 2026" and "By
    Monday, 28 December 2026, I'll write to you" — Christmas Day and the Boxing Day holiday where the client is.
    Both now fall on Tuesday the 29th, the first day that is the team's working day and no holiday of the client's."""
    c = _client(_composer(tmp_path), holidays="GB")
    now = dt.datetime(2026, 12, 24, 10, tzinfo=dt.UTC)
    promised = dt.date(2026, 12, 28)
    last_notice = now - dt.timedelta(days=3)
    old = dataclasses.replace(SLIPPING, at=last_notice - dt.timedelta(days=1))
    fresh = Report("acme-web", "design-1", now - dt.timedelta(hours=2), 30, 20.0, cause="review found gaps")
    snap = _snapshot(c, reports={"design-1": [old, fresh]},
                     dates={"design-1": ClientDate(5, promised, promised, False)},
                     first_sent=now - dt.timedelta(days=20))
    snap = dataclasses.replace(snap, view=dataclasses.replace(snap.view, told={"design-1": last_notice}))
    [notice] = [p for p in decide_project(c, snap, _forecaster(c), now).plans if p.messages[0].uid == "design-1"]
    assert (notice.call, notice.follow_up) == (dt.date(2026, 12, 29), dt.date(2026, 12, 29))
    text = _text(notice.messages[0])
    assert "I'll call you on Tuesday, 29 December 2026" in text and "By Tuesday, 29 December 2026, I'll write" in text
    assert "25 December" not in text and "By Monday, 28 December" not in text


def test_the_alert_dates_what_the_client_was_told_by_when_the_notice_went(tmp_path: Path) -> None:
    """A notice drafted on 30 November, held, approved and sent on 2 December: the manager's alert says the client
    was told on Dec 2 — the day the letter itself names when it says "As I said on 2 December" — not the day the
    draft was recorded (the zone audit: the alert and the letter disagreed)."""
    c = _composer(tmp_path)
    promised = dt.date(2026, 12, 9)
    view = _snapshot(c, dates={"design-1": ClientDate(5, promised, promised, False)}).view
    view = dataclasses.replace(view, told={"design-1": dt.datetime(2026, 11, 30, 9, tzinfo=dt.UTC)},
                               sent={"design-1": dt.datetime(2026, 12, 2, 9, tzinfo=dt.UTC)})
    design = next(m for m in view.milestones if m.uid == "design-1")
    late = Forecast("acme-web", "design-1", dt.date(2026, 12, 15), dt.date(2026, 12, 18), 0.9, "slow", promised)
    risk = plan_alert(c, view, design, late, None, None, NOW + dt.timedelta(days=3))
    assert risk is not None and risk.message is not None
    text = " ".join(body(message_from_bytes(risk.message.message, policy=email_policy)).split())
    assert "was told Dec 9, 2026 on Dec 2, 2026" in text and "Nov 30" not in text

def _notice_held_for_the_manager(tmp_path: Path) -> tuple[Studio, MemoryStore, int]:
    """Design slipping under approval "manager": the studio, the store, the id of its notice held for the manager."""
    from deadlinewatch.stages.state import record

    c = _composer(tmp_path, "manager")
    store = MemoryStore()
    _synced(store, c)
    [notice] = [p for p in decide_project(c, _snapshot(c, reports={"design-1": [SLIPPING]},
                                                       first_sent=NOW - dt.timedelta(days=7)), _forecaster(c),
                                          NOW).plans if p.messages[0].kind == "notice"]
    (held_id,) = record(store, c, [notice.group()], NOW).ids
    return c, store, held_id


def test_approving_a_held_notice_of_a_milestone_cancelled_since_is_refused(tmp_path: Path) -> None:
    """The manager approves a notice held for them after its milestone was cancelled in the team calendar: a new
    date for a milestone the client is told is cancelled. `approve` refuses and says to reject it."""
    from deadlinewatch import manage
    from deadlinewatch.errors import DeadlinewatchError

    c, store, held_id = _notice_held_for_the_manager(tmp_path)
    cancelled = {href: [dataclasses.replace(m, state="cancelled") if m.uid == "design-1" else m for m in ms]
                 for href, ms in _milestones(c).items()}
    store.apply_calendar("acme-web", ref="acme-web", url="http://127.0.0.1:9/pm/acme-web/", token="t2",
                         fingerprint="f", entries=[(h, "e2", "", False) for h in cancelled], parsed=cancelled,
                         deleted=[], kept=set(), now=NOW)
    with pytest.raises(DeadlinewatchError, match="cancelled in the team calendar since"):
        manage.decide(store, str(held_id), True, c.config, None)
    assert manage.decide(store, str(held_id), False, c.config, None).startswith(f"notice #{held_id} rejected")


def test_a_notice_rejected_while_it_is_approved_with_a_date_never_goes_out(tmp_path: Path) -> None:
    """The audit: `reject 4` answered "rejected" while `approve 4 --date` was composing the letter again (commands
    run on a thread of their own beside the daemon) — and the dated copy was recorded after it, and sent. The held
    notice is checked in the very transaction that records its replacement: decided meanwhile, nothing is kept."""
    from deadlinewatch import manage
    from deadlinewatch.adapters.clock import FixedClock
    from deadlinewatch.core.model import DecideHeld
    from deadlinewatch.errors import StateConflict

    c, store, held_id = _notice_held_for_the_manager(tmp_path)
    read = store.outbox_item(held_id)  # what `approve --date` read before composing
    assert read is not None and read.state == "held"
    store.carry_out([DecideHeld(held_id, False, "pm@studio.example")], NOW)  # the reject, meanwhile
    count = len(store.outbox())
    with pytest.raises(StateConflict, match=f"notice #{held_id} is rejected, not held"):
        manage._approve_with_date(store, read, dt.date(2027, 1, 20), c.config, FixedClock(NOW), "cli")
    assert len(store.outbox()) == count  # nothing of the dated copy was kept


def test_the_calendar_update_of_a_dependant_is_decided_with_its_notice_never_alone(tmp_path: Path) -> None:
    """The client-side audit: `status` listed the launch's calendar update (moved by the design's slip) as a held
    letter of its own, and `approve` of its id sent it — "Launch has to move … it builds on earlier work of ours that
    is running late" with no notice saying which work, or why. It is decided with its notice: approving its id is
    refused, naming the notice; the dashboard offers the notice alone."""
    from deadlinewatch import manage
    from deadlinewatch.errors import UsageError
    from deadlinewatch.stages.state import record

    c = _composer(tmp_path, "manager")
    store = MemoryStore()
    _synced(store, c)
    snap = _snapshot(c, reports={"design-1": [SLIPPING]}, first_sent=NOW - dt.timedelta(days=1))
    linked = [m if m.uid != "design-1" else type(m)(**{**m.__dict__, "successors": (("launch-1", 0),)})
              for m in snap.view.milestones]
    view = ProjectView(snap.view.project, linked, snap.view.reports, {})
    [notice] = decide_project(c, Snapshot(view, snap.first_sent, None), _forecaster(c), NOW).plans
    (notice_id,) = record(store, c, [notice.group()], NOW).ids
    [update] = [i for i in store.outbox(audience="client") if i.kind == "update"]
    assert (update.state, update.parent) == ("held", notice_id)
    with pytest.raises(UsageError, match=f"goes out with notice #{notice_id}.*approve or reject #{notice_id}"):
        manage.decide(store, str(update.id), True, c.config, None)
    assert found_state(store, update.id) == "held"
    assert manage.decide(store, str(notice_id), True, c.config, None).startswith(f"notice #{notice_id} approved")
    assert found_state(store, update.id) == "pending"  # decided with its notice


def found_state(store: MemoryStore, item_id: int) -> str:
    item = store.outbox_item(item_id)
    assert item is not None
    return item.state


@pytest.mark.parametrize("made", [dt.timedelta(hours=1), dt.timedelta(0)])
def test_approving_a_held_check_in_a_notice_overtook_is_refused(tmp_path: Path, made: dt.timedelta) -> None:
    """Monday's check-in waits for the manager; a notice made after it — or in the same pass (the review: both are
    made at 09:00 on a Monday under approval = "manager") — is approved first and tells the client a new date.
    Approved next, the check-in would show the old date, on track, after the news: `approve` refuses it and says to
    reject it (the next check-in shows the new dates)."""
    from deadlinewatch import manage
    from deadlinewatch.errors import DeadlinewatchError
    from deadlinewatch.stages.state import record, view

    c = _composer(tmp_path, "manager")
    store = MemoryStore()
    _synced(store, c)
    weekly = plan_weekly(c, view(store, c.config.projects[0]), NOW, NOW)
    assert weekly is not None
    (weekly_id,) = record(store, c, [weekly.group()], NOW).ids
    later = NOW + made
    [notice] = [p for p in decide_project(c, _snapshot(c, reports={"design-1": [SLIPPING]},
                                                       first_sent=NOW - dt.timedelta(days=7)), _forecaster(c),
                                          later).plans if p.messages[0].kind == "notice"]
    (notice_id,) = record(store, c, [notice.group()], later).ids
    assert manage.decide(store, str(notice_id), True, c.config, None).startswith(f"notice #{notice_id} approved")
    with pytest.raises(DeadlinewatchError, match="before a notice told the client newer dates"):
        manage.decide(store, str(weekly_id), True, c.config, None)
    assert manage.decide(store, str(weekly_id), False, c.config, None).startswith(f"notice #{weekly_id} rejected")


def test_a_managers_date_must_come_after_the_date_the_client_was_last_promised(tmp_path: Path) -> None:
    """A second notice approved with a date before the promise it breaks said "we won't make Thursday, 10 December
    2026, the new date I gave you … Our new date is Wednesday, 9 December 2026" (the client-side audit): the date
    was checked against the deadline alone. It must come after the date it replaces."""
    from deadlinewatch.decisions.approval import check_date
    from deadlinewatch.errors import UsageError

    c = _composer(tmp_path)
    promised = dt.date(2026, 12, 10)
    pv = _snapshot(c, dates={"design-1": ClientDate(5, promised, promised, False)}).view
    with pytest.raises(UsageError, match="not after 2026-12-10, the date the client was last promised"):
        check_date(c, pv, "design-1", dt.date(2026, 12, 9))
    check_date(c, pv, "design-1", dt.date(2026, 12, 11))  # after it: a new date
    check_date(c, _snapshot(c).view, "design-1", dt.date(2026, 12, 9))  # never promised: after the deadline will do


@pytest.mark.parametrize("updates", ["feed", "off"])
def test_a_cancellation_gets_its_letter_whatever_the_calendar_updates(tmp_path: Path, updates: str) -> None:
    """The client saw the design's date (the introduction's table) and the design is cancelled: under
    calendar_updates "feed" or "off" no letter went at all — the README's "gets a letter" held only for
    invitations (the client-side audit). The letter goes, with no METHOD:CANCEL (nothing was invited)."""
    c = _client(_composer(tmp_path), calendar_updates=updates)
    snap = _snapshot(c, dates={"design-1": ClientDate(1, dt.date(2026, 12, 4), None, False, invited=False)},
                     first_sent=NOW - dt.timedelta(days=7))
    ms = [dataclasses.replace(m, state="cancelled") if m.uid == "design-1" else m for m in snap.view.milestones]
    snap = dataclasses.replace(snap, view=dataclasses.replace(snap.view, milestones=ms))
    [cancel] = [p for p in decide_project(c, snap, _forecaster(c), NOW).plans if p.messages[0].kind == "cancel"]
    letter = message_from_bytes(cancel.messages[0].message, policy=email_policy)
    assert "we've taken “Design mockups”" in body(letter) and "text/calendar" not in str(letter)
    # a cancellation whose date is long past is no news: the first pass after an upgrade writes none (the review)
    later = NOW + dt.timedelta(days=30)
    assert [p for p in decide_project(c, snap, _forecaster(c), later).plans if p.messages[0].kind == "cancel"] == []


def test_a_standing_offer_is_dated_by_the_newest_notice_that_said_it(tmp_path: Path) -> None:
    """The launch's own notice (24 November) made the first rung's offer; the design's first notice (26 November)
    made the second rung's and moved the launch onto that rung's slip. The design's second notice says the second
    offer stands "As I said on 26 November" — dating it by the launch's notice named a day that offer was never made
    (the review of the session's change)."""
    ladder = (Offer(1, (("en", "We will not charge for the extra review round."),)),
              Offer(2, (("en", "We will take 10% off this milestone's invoice."),)))
    c = _client(_composer(tmp_path), offers=ladder)
    dates = {"design-1": ClientDate(5, dt.date(2026, 12, 9), dt.date(2026, 12, 9), False),
             "launch-1": ClientDate(3, dt.date(2026, 12, 15), dt.date(2026, 12, 15), False)}
    sent = {"launch-1": dt.datetime(2026, 11, 24, 10, tzinfo=dt.UTC), "design-1": dt.datetime(2026, 11, 26, 10,
                                                                                              tzinfo=dt.UTC)}
    late = Report("acme-web", "design-1", NOW, 30, 20.0, cause="the review found gaps", plan="we cut a round")
    snap = _snapshot(c, reports={"design-1": [late]}, dates=dates, first_sent=NOW - dt.timedelta(days=14))
    snap = dataclasses.replace(snap, view=dataclasses.replace(snap.view, sent=sent, told=sent))
    [plan] = [p for p in decide_project(c, snap, _forecaster(c), NOW).plans if p.messages[0].uid == "design-1"]
    assert "As I said on 26 November, we will take 10% off" in _text(plan.messages[0])


def test_a_new_date_is_never_one_that_has_passed(tmp_path: Path) -> None:
    """The client-side audit: a daemon down past a deadline (no pass from 4 November to 4 December) sent "Our new
    date is Friday, 27 November 2026" on 4 December — the placeholder counted from the deadline. It counts from
    today when the deadline is behind; and the manager's own date must be after today as well."""
    from deadlinewatch.decisions.approval import check_date
    from deadlinewatch.errors import DateRefused

    c = _composer(tmp_path)
    snap = _snapshot(c, first_sent=NOW - dt.timedelta(days=30))
    late = dt.datetime(2026, 12, 16, 9, tzinfo=dt.UTC)  # Wednesday, twelve days after the design's Friday 4 December
    [notice] = [p for p in decide_project(c, snap, _forecaster(c), late).plans
                if p.messages and p.messages[0].kind == "notice" and p.messages[0].uid == "design-1"]
    [promised] = [d.promised for d in notice.dates if d.uid == "design-1"]
    assert promised == dt.date(2026, 12, 23)  # a working week from today, never 11 December
    assert "Our new date is Wednesday, 23 December 2026" in " ".join(_text(notice.messages[0]).split())
    with pytest.raises(DateRefused, match="not after today"):
        check_date(c, snap.view, "design-1", dt.date(2026, 12, 15), today=late.date())
    check_date(c, snap.view, "design-1", dt.date(2026, 12, 17), today=late.date())


def test_a_milestone_no_note_estimates_waits_for_the_managers_date_before_its_own_passes(tmp_path: Path) -> None:
    """No note about the design (due Friday 4 December): nothing on Monday; on Wednesday, two working days before
    it, the notice is decided — held for the manager under approval "auto", its date a placeholder a working week
    on, which the letter claims neither to expect nor to be worked to, and the manager is told so and how to give
    the date. It was decided only after the date had passed, and then once a working day."""
    c = _composer(tmp_path)
    snap = _snapshot(c, first_sent=NOW - dt.timedelta(days=1))
    def notices(now: dt.datetime) -> list[Plan]:
        return [p for p in decide_project(c, snap, _forecaster(c), now).plans
                if p.messages and p.messages[0].kind == "notice"]

    assert notices(NOW) == []
    [notice] = notices(NOW + dt.timedelta(days=2))  # the launch, due 10 December, is not about to pass yet
    letter = notice.messages[0]
    assert (letter.kind, letter.state) == ("notice", "held")
    assert [d.promised for d in notice.dates if d.uid == "design-1"] == [dt.date(2026, 12, 11)]
    text = " ".join(_text(letter).split())
    assert "before that date" in text
    assert "Our new date is Friday, 11 December 2026, and if it changes, you'll hear it from me straight away." in text
    assert "working to" not in text and "expect to meet" not in text
    [why] = notice.held
    assert why.startswith("No note gives this milestone an estimate (a remaining time, an ETA or a trend), and the "
                          "date the client holds, Dec 4, 2026, is about to pass: the draft's date, Dec 11, 2026, is "
                          "only a placeholder")
    assert '"approve 2026-12-11"' in why
    # why it is due now, as the manager's mail says it: not "the forecast runs past it" (there is none)
    assert notice.trigger.startswith("no note gives an estimate, and Dec 4, 2026, the date Jane Doe holds, is about")


@pytest.mark.parametrize("updates", ["invitations", "feed"])
def test_a_cancelled_milestone_back_in_the_plan_is_announced_once_and_put_back_in_the_calendar(
        tmp_path: Path, updates: str) -> None:
    """The client was told "Launch" is cancelled (its entry taken out of their calendar); the team reopens it. Nothing
    told them: the feed showed it again, their calendar kept it cancelled, and a later notice spoke of a milestone
    they thought gone. Now a letter says it is back, on the date it has; under "invitations" a REQUEST above the
    cancellation's SEQUENCE puts the entry back. Once told, nothing more — until it is cancelled again."""
    c = _client(_composer(tmp_path), calendar_updates=updates)
    told_gone = ClientDate(4, dt.date(2026, 12, 10), None, False, cancelled_sent=True, invited=updates == "invitations")
    snap = _snapshot(c, dates={"launch-1": told_gone}, first_sent=NOW - dt.timedelta(days=7))
    [back] = [p for p in decide_project(c, snap, _forecaster(c), NOW).plans if p.messages[0].kind == "reinstate"]
    assert back.what == '"Launch" back in the plan'
    [shown] = back.dates
    assert (shown.sequence, shown.shown_date, shown.reinstated) == (5, dt.date(2026, 12, 10), True)
    letter = message_from_bytes(back.messages[0].message, policy=email_policy)
    text = " ".join(body(letter).split())
    assert str(letter["Subject"]).startswith("Back in the plan: Launch, 10 Dec")
    assert "“Launch” is back in the project plan after all, on Thursday, 10 December 2026" in text
    parts = [p for p in letter.walk() if p.get_content_type() == "text/calendar"]
    if updates == "invitations":
        [event] = Calendar.from_ical(parts[0].get_content()).walk("VEVENT")
        assert (event.get("SEQUENCE"), str(event["STATUS"])) == (5, "CONFIRMED")
        assert "puts the entry back in your calendar" in text
    else:
        assert parts == [] and "calendar" not in text
    after = ClientDate.after(told_gone, shown)
    assert not after.cancelled_sent and after.sequence == 5
    again = dataclasses.replace(snap, view=dataclasses.replace(snap.view, dates={"launch-1": after}))
    assert [p for p in decide_project(c, again, _forecaster(c), NOW).plans if p.messages[0].kind == "reinstate"] == []
    # cancelled again: its cancellation goes, as the first one did
    ms = [dataclasses.replace(m, state="cancelled") if m.uid == "launch-1" else m for m in snap.view.milestones]
    gone = dataclasses.replace(again, view=dataclasses.replace(again.view, milestones=ms))
    kinds = [p.messages[0].kind for p in decide_project(c, gone, _forecaster(c), NOW).plans]
    assert "cancel" in kinds and "reinstate" not in kinds


def test_cancelled_back_in_the_plan_and_cancelled_again_each_letter_is_recorded_once(tmp_path: Path) -> None:
    """Cancelled, back in the plan, cancelled again: the second cancellation had the first one's Message-ID, the
    store refused it, and the pass stopped there — every pass after (the review of the session's change)."""
    from deadlinewatch.stages.state import record, view

    c = _composer(tmp_path)
    store = MemoryStore()
    _synced(store, c)
    project = c.config.projects[0]
    [intro] = decide_project(c, dataclasses.replace(_snapshot(c), view=view(store, project)), _forecaster(c),
                             NOW - dt.timedelta(days=7)).plans
    record(store, c, [intro.group()], NOW - dt.timedelta(days=7))
    first = dataclasses.replace(_snapshot(c), view=view(store, project), first_sent=NOW - dt.timedelta(days=7))

    def with_launch(state: str) -> Snapshot:
        now = view(store, project)
        ms = [dataclasses.replace(m, state=state) if m.uid == "launch-1" else m for m in now.milestones]
        return dataclasses.replace(first, view=dataclasses.replace(now, milestones=ms))

    ids = []
    for state, kind in (("cancelled", "cancel"), ("open", "reinstate"), ("cancelled", "cancel")):
        plans = [p for p in decide_project(c, with_launch(state), _forecaster(c), NOW).plans
                 if p.messages[0].kind == kind]
        assert len(plans) == 1, (state, kind)
        ids += [plans[0].messages[0].message_id]
        record(store, c, [plans[0].group()], NOW)
    assert len(set(ids)) == 3


def test_a_return_to_the_plan_held_for_the_manager_shows_the_client_nothing_of_the_milestone_yet(
        tmp_path: Path) -> None:
    """"Launch" was cancelled and the client told; the team reopened it and the letter saying it is back waits for
    the manager. The client's page, feed and calendar copy showed it live again, the week's check-in listed it, and
    a notice about it could go out before the letter that brings it back (the review of the session's change): the
    client learns nothing of it until that letter is approved — then everything follows at once."""
    c = _composer(tmp_path)
    told = ShowDate("acme-web", "launch-1", 3, shown_date=dt.date(2026, 12, 10))
    gone = ShowDate("acme-web", "launch-1", 4, cancelled=True)
    back = ShowDate("acme-web", "launch-1", 5, shown_date=dt.date(2026, 12, 10), reinstated=True)
    dates = {"launch-1": ClientDate.after(ClientDate.after(ClientDate.after(None, told), gone), back)}
    slipping = Report("acme-web", "launch-1", NOW, 10, 30.0, cause="the host is late", plan="we switch hosts")
    snap = _snapshot(c, dates=dates, reports={"launch-1": [slipping]}, first_sent=NOW - dt.timedelta(days=14),
                     weekly_slot=NOW)

    def client_sees(state: str) -> tuple[list[str], list[str], list[str]]:
        groups = [("sent", (told,)), ("sent", (gone,)), (state, (back,))]
        judged = dataclasses.replace(snap, view=snap.view.judged(groups))
        decided = decide_project(c, judged, _forecaster(c), NOW)
        weekly = [p for p in decided.plans if p.messages[0].kind == "weekly"]
        about = [p.messages[0].kind for p in decided.plans if p.messages[0].uid == "launch-1"]
        page = [r.name for r in pages.client_page(snap.view.as_told(groups), NOW).rows]
        return about, page, [line for p in weekly for line in _text(p.messages[0]).splitlines() if "Launch" in line]

    about, page, weekly = client_sees("held")
    assert (about, page, weekly) == ([], ["Design mockups"], [])
    about, page, weekly = client_sees("sent")
    assert "notice" in about and page == ["Design mockups", "Launch"] and weekly
    # cancelled again while its return was rejected: the client holds it cancelled still, and hears nothing twice
    ms = [dataclasses.replace(m, state="cancelled") if m.uid == "launch-1" else m for m in snap.view.milestones]
    for state, expected in (("rejected", []), ("sent", ["cancel"])):
        groups = [("sent", (told,)), ("sent", (gone,)), (state, (back,))]
        again = dataclasses.replace(snap, view=dataclasses.replace(snap.view, milestones=ms).judged(groups))
        assert [p.messages[0].kind for p in decide_project(c, again, _forecaster(c), NOW).plans
                if p.messages[0].uid == "launch-1"] == expected, state
    # decided in the same pass: the check-in after a letter that went out lists it; after one held, not
    for approval, listed in (("auto", True), ("manager", False)):
        fresh = _client(_composer(tmp_path, approval))
        gone_only = {"launch-1": ClientDate.after(ClientDate.after(None, told), gone)}
        view = _snapshot(fresh, dates=gone_only, first_sent=NOW - dt.timedelta(days=14), weekly_slot=NOW)
        judged = dataclasses.replace(view, view=view.view.judged([("sent", (told,)), ("sent", (gone,))]))
        plans = decide_project(fresh, judged, _forecaster(fresh), NOW).plans
        assert [p.messages[0].kind for p in plans if p.messages[0].kind == "reinstate"] == ["reinstate"]
        [weekly_plan] = [p for p in plans if p.messages[0].kind == "weekly"]
        assert ("Launch" in _text(weekly_plan.messages[0])) is listed, approval


@pytest.mark.parametrize(("state", "shown"), [("held", True), ("rejected", True), ("sent", False)])
def test_a_cancellation_the_client_was_not_told_leaves_the_milestone_on_their_page(
        tmp_path: Path, state: str, shown: bool) -> None:
    """The audit: Launch, in the client's calendar on 10 December, was cancelled in the team calendar and its
    cancellation letter waited for the manager — yet it left the client's page and feed at once, and their calendar
    copy marked it cancelled; rejected, it stayed gone. The client holds it live at the date they were told until
    a cancellation goes out."""
    c = _composer(tmp_path)
    told = ShowDate("acme-web", "launch-1", 3, shown_date=dt.date(2026, 12, 10))
    gone = ShowDate("acme-web", "launch-1", 4, cancelled=True)
    dates = {"launch-1": ClientDate.after(ClientDate.after(None, told), gone)}
    snap = _snapshot(c, dates=dates)
    ms = [dataclasses.replace(m, state="cancelled") if m.uid == "launch-1" else m for m in snap.view.milestones]
    pv = dataclasses.replace(snap.view, milestones=ms).as_told([("sent", (told,)), (state, (gone,))])
    rows = {r.name: r for r in pages.client_page(pv, NOW).rows}
    assert ("Launch" in rows) is shown
    if shown:
        assert rows["Launch"].date == "10 December 2026"
        assert [r.sequence for r in pv.rows() if r.uid == "launch-1"] == [3]  # the SEQUENCE they hold


@pytest.mark.parametrize(("state", "drafted"), [("withdrawn", True), ("rejected", False)])
def test_a_cancellation_withdrawn_because_it_reopened_is_drafted_again_when_it_is_cancelled_again(
        tmp_path: Path, state: str, drafted: bool) -> None:
    """The review: Launch's cancellation was withdrawn before it went (the team reopened it meanwhile); cancelled
    again later, no letter was ever drafted — the cancellation counted as decided — while the client's page kept
    Launch live for good. It is drafted afresh. One the manager rejected is not: the manager chose that the client
    keeps it (the page shows it at the date they hold), and nothing tells a second cancellation from the first."""
    from deadlinewatch.adapters.store.port import WITHDRAWN

    c = _composer(tmp_path)
    told = ShowDate("acme-web", "launch-1", 3, shown_date=dt.date(2026, 12, 10))
    gone = ShowDate("acme-web", "launch-1", 4, cancelled=True)
    groups = [("sent", (told,)), (WITHDRAWN if state == "withdrawn" else state, (gone,))]
    snap = _snapshot(c, dates={"launch-1": ClientDate.after(ClientDate.after(None, told), gone)},
                     first_sent=NOW - dt.timedelta(days=3))
    ms = [dataclasses.replace(m, state="cancelled") if m.uid == "launch-1" else m for m in snap.view.milestones]
    view = dataclasses.replace(snap.view, milestones=ms)
    plans = decide_project(c, dataclasses.replace(snap, view=view.judged(groups)), _forecaster(c), NOW).plans
    cancels = [p for p in plans if p.messages[0].kind == "cancel"]
    assert bool(cancels) is drafted
    if drafted:
        assert [d.sequence for d in cancels[0].dates] == [5]  # above the withdrawn one's


def _launch_cancelled_then_back_held(tmp_path: Path) -> tuple[Studio, Studio, MemoryStore, int]:
    """Launch cancelled and the client told (approval "auto"), then reopened under approval "manager": its "back in
    the plan" letter held. The studio under each approval, the store, the held letter's id."""
    from deadlinewatch.stages.state import record, view

    (tmp_path / "a").mkdir()
    (tmp_path / "m").mkdir()
    auto, manager = _composer(tmp_path / "a"), _composer(tmp_path / "m", "manager")
    store = MemoryStore()
    _synced(store, auto)
    [intro] = decide_project(auto, dataclasses.replace(_snapshot(auto), view=view(store, auto.config.projects[0])),
                             _forecaster(auto), NOW - dt.timedelta(days=7)).plans
    record(store, auto, [intro.group()], NOW - dt.timedelta(days=7))
    [gone] = [p for p in decide_project(auto, _launch(store, auto, "cancelled"), _forecaster(auto), NOW).plans
              if p.messages[0].kind == "cancel"]
    record(store, auto, [gone.group()], NOW)
    [back] = [p for p in decide_project(manager, _launch(store, manager, "open"), _forecaster(manager), NOW).plans
              if p.messages[0].kind == "reinstate"]
    (held,) = record(store, manager, [back.group()], NOW).ids
    return auto, manager, store, held


def _launch(store: MemoryStore, c: Studio, state: str, later: int = 0, *,
            reports: Sequence[Report] = ()) -> Snapshot:
    """The project as the store has it, with Launch in `state` and its deadline `later` days on."""
    from deadlinewatch.stages.state import view

    pv = view(store, c.config.projects[0])
    ms = [dataclasses.replace(m, state=state, deadline=m.deadline + dt.timedelta(days=later))
          if m.uid == "launch-1" else m for m in pv.milestones]
    return dataclasses.replace(_snapshot(c), view=dataclasses.replace(pv, milestones=ms, reports={
        "launch-1": list(reports)} if reports else pv.reports), first_sent=NOW - dt.timedelta(days=7))


@pytest.mark.parametrize("how", ["rejected", "withdrawn"])
def test_a_return_to_the_plan_that_never_went_out_is_drafted_again_when_the_news_moves(
        tmp_path: Path, how: str) -> None:
    """The review: a "back in the plan" letter the manager rejected — or the pass withdrew, Launch cancelled again
    meanwhile — left the milestone hidden from the client for good: no letter ever again, whatever its date. Rejected,
    it is not drafted again for the same date (the manager said no to that letter), but is once the date moves;
    withdrawn, it is drafted again as soon as Launch reopens."""
    from deadlinewatch import manage
    from deadlinewatch.adapters.store.port import WITHDRAWN
    from deadlinewatch.core.model import DecideHeld

    auto, manager, store, held = _launch_cancelled_then_back_held(tmp_path)
    if how == "rejected":
        said = manage.decide(store, str(held), False, manager.config, NOW.isoformat())
        assert said.startswith(f"notice #{held} rejected: the client keeps holding the milestone cancelled")
    else:
        store.carry_out([DecideHeld(held, False, WITHDRAWN)], NOW)
        again = decide_project(auto, _launch(store, auto, "cancelled"), _forecaster(auto), NOW)
        assert [p for p in again.plans if p.messages[0].uid == "launch-1"] == []  # they hold it cancelled already

    def decided(later: int) -> list[str]:
        out = decide_project(auto, _launch(store, auto, "open", later), _forecaster(auto), NOW + dt.timedelta(days=1))
        return [p.messages[0].kind for p in out.plans if p.messages[0].uid == "launch-1"]

    assert decided(0) == ([] if how == "rejected" else ["reinstate"])
    assert decided(7) == ["reinstate"]


def _promised_cancelled_back() -> tuple[tuple[ShowDate, ...], dict[str, ClientDate]]:
    """Launch told for 10 December, promised for the 15th, cancelled, then back in the plan on the 15th (the team
    calendar had the 10th then): the four dates decided, and what the client's calendar shows after them all."""
    shows = (ShowDate("acme-web", "launch-1", 3, shown_date=dt.date(2026, 12, 10)),
             ShowDate("acme-web", "launch-1", 4, shown_date=dt.date(2026, 12, 15), promised=dt.date(2026, 12, 15)),
             ShowDate("acme-web", "launch-1", 5, cancelled=True),
             ShowDate("acme-web", "launch-1", 6, shown_date=dt.date(2026, 12, 15), reinstated=True,
                      planned=dt.date(2026, 12, 10)))
    return shows, {"launch-1": functools.reduce(ClientDate.after, shows[1:], ClientDate.after(None, shows[0]))}


def test_a_rejected_return_to_a_promised_date_is_drafted_again_when_the_team_calendar_moves(tmp_path: Path) -> None:
    """The second review: Launch had been promised for 15 December, then cancelled; reopened, the letter saying it is
    back on the 15th was rejected. Its date was the promise, which nothing could move while the client held it
    cancelled: no letter ever again, whatever the team calendar said. A move there is news: it is drafted again."""
    c = _composer(tmp_path)
    shows, dates = _promised_cancelled_back()
    told, promised, gone, back = shows
    groups = [("sent", (told,)), ("sent", (promised,)), ("sent", (gone,)), ("rejected", (back,))]

    def returns(later: int) -> list[str]:
        ms = [dataclasses.replace(m, deadline=m.deadline + dt.timedelta(days=later)) if m.uid == "launch-1" else m
              for m in _snapshot(c).view.milestones]
        snap = _snapshot(c, dates=dates, first_sent=NOW - dt.timedelta(days=14))
        view = dataclasses.replace(snap.view, milestones=ms).judged(groups)
        return [p.messages[0].kind for p in decide_project(c, dataclasses.replace(snap, view=view), _forecaster(c),
                                                           NOW).plans if p.messages[0].uid == "launch-1"]

    assert returns(0) == []
    assert returns(7) == ["reinstate"]


@pytest.mark.parametrize("back_state", ["withdrawn", "rejected"])
def test_a_milestone_the_client_holds_cancelled_that_is_delivered_after_all_is_told_delivered(
        tmp_path: Path, back_state: str) -> None:
    """Launch had been promised for 15 December, then cancelled and the client told; the team reopened it, and the
    letter saying it is back was withdrawn once Launch was done (or the manager rejected it). The client, warned
    once, never heard it was delivered: the delivered note waited for a letter saying it was back that could no
    longer come. It goes out, and brings Launch back onto their page and calendar, delivered."""
    from deadlinewatch.adapters.store.port import WITHDRAWN

    c = _composer(tmp_path)
    shows, dates = _promised_cancelled_back()
    told, promised, gone, back = shows
    groups = [("sent", (told,)), ("sent", (promised,)), ("sent", (gone,)),
              (WITHDRAWN if back_state == "withdrawn" else back_state, (back,))]
    done = Report("acme-web", "launch-1", NOW - dt.timedelta(hours=2), 100, None, sender="alice@studio.example")
    snap = _snapshot(c, dates=dates, reports={"launch-1": [done]}, first_sent=NOW - dt.timedelta(days=14))
    pv = snap.view.judged(groups)
    assert pv.cancelled_for_client(next(m for m in pv.milestones if m.uid == "launch-1"))
    decided = decide_project(c, dataclasses.replace(snap, view=pv), _forecaster(c), NOW)
    [plan] = [p for p in decided.plans if p.messages[0].uid == "launch-1"]
    assert plan.messages[0].kind == "delivered"
    assert [d.sequence for d in plan.dates] == [7]  # above the cancellation's and the withdrawn return's
    text = _text(plan.messages[0])
    assert "Good news: we delivered" in text and "Launch" in text.partition("The timeline now:")[2]
    sent = pv.after(plan.dates)
    assert not sent.cancelled_for_client(next(m for m in sent.milestones if m.uid == "launch-1"))
    assert "Launch" in [r.name for r in pages.client_page(sent, NOW).rows]
    # once told, never again
    again = decide_project(c, dataclasses.replace(snap, view=sent), _forecaster(c), NOW + dt.timedelta(hours=1))
    assert [p for p in again.plans if p.messages[0].uid == "launch-1"] == []


def test_while_a_return_to_the_plan_waits_preview_and_the_reply_to_a_note_say_no_notice(tmp_path: Path) -> None:
    """The review: `preview Launch` stopped with StopIteration (the notice's timeline no longer has Launch), and the
    reply to a note that Launch is late said its notice waits for the manager — a notice never drafted."""
    from deadlinewatch import manage
    from deadlinewatch.decisions.inbox import as_evaluated

    _, manager, store, _ = _launch_cancelled_then_back_held(tmp_path)
    said = manage.preview(manager.config, store, "launch-1", NOW.isoformat())
    assert said.startswith('policy would not send now: "Launch" is open again; the client, told it was cancelled,')
    late = Report("acme-web", "launch-1", NOW, 10, 30.0, cause="the host is late", plan="we switch hosts")
    snap = _launch(store, manager, "open", reports=[late])
    _, notices, _ = as_evaluated(manager, snap.view, _forecaster(manager), NOW, {"launch-1"}, 0)
    kinds = [p.messages[0].kind for p in decide_project(manager, snap, _forecaster(manager), NOW).plans
             if p.messages[0].uid == "launch-1"]
    assert notices == set() and "notice" not in kinds


def test_back_in_the_plan_only_after_a_cancellation_the_client_was_told_and_nothing_before_it(
        tmp_path: Path) -> None:
    """A cancellation the manager rejected told nothing: the milestone open again gets no "I know I'd told you we
    had taken it out" (the review). One told, open again with its date passed, gets neither an apology nor an
    invitation for a milestone the client holds cancelled: the pass says why, and the return waits for a date."""
    c = _composer(tmp_path)
    told = ShowDate("acme-web", "launch-1", 3, shown_date=dt.date(2026, 12, 10))
    gone = ShowDate("acme-web", "launch-1", 4, cancelled=True)
    dates = {"launch-1": ClientDate.after(ClientDate.after(None, told), gone)}
    snap = _snapshot(c, dates=dates, first_sent=NOW - dt.timedelta(days=7))
    for state, expected in (("rejected", []), ("sent", ["reinstate"])):
        judged = snap.view.judged([("sent", (told,)), (state, (gone,))])
        kinds = [p.messages[0].kind for p in decide_project(c, dataclasses.replace(snap, view=judged),
                                                            _forecaster(c), NOW).plans]
        assert [k for k in kinds if k == "reinstate"] == expected, state
    late = Report("acme-web", "launch-1", NOW, 10, 20.0)  # open again, its date passed, a note saying it is late
    after = NOW + dt.timedelta(days=14)
    past = dataclasses.replace(snap, view=dataclasses.replace(snap.view.judged([("sent", (told,)), ("sent", (gone,))]),
                                                              reports={"launch-1": [late]}))
    decided = decide_project(c, past, _forecaster(c), after)
    assert [p for p in decided.plans if p.messages[0].uid == "launch-1"] == []
    assert any("open again but its date has passed" in e for e in decided.events)
