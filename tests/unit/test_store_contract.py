"""One suite, every store: each rule the pipeline relies on, written once (StoreContract) and run against the SQLite
store and the in-memory one (tests/memory_store.py). A rule one of them breaks fails here, by name.

Another store joins with one line in STORES (how to open an empty one; a fixture it needs, such as `postgres`, is
asked for by name), or, elsewhere, with a class that names StoreContract as its base and gives a `store` fixture."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

import pytest

from deadlinewatch.adapters.store import CalendarSync, ClientRecord, PassRecord, ServerHealth, Store, StorePort
from deadlinewatch.adapters.store.port import SHADOW, WITHDRAWN
from deadlinewatch.core.milestones import milestones_from_ics
from deadlinewatch.core.model import (
    ClientDate,
    DecideHeld,
    FollowServer,
    Forecast,
    ForgetClientCalendarEntry,
    ManagerCopy,
    Place,
    QueueMail,
    RecordMessage,
    Report,
    RiskAlert,
    SetOutboxState,
    ShowDate,
)
from deadlinewatch.core.words import Days, phrase
from deadlinewatch.errors import StateConflict
from tests.memory_store import MemoryStore
from tests.samples import DESIGN, LAUNCH

NOW = dt.datetime(2026, 11, 30, 9, tzinfo=dt.UTC)
T = TypeVar("T")


def mail(message_id: str, state: str = "pending", audience: str = "team") -> QueueMail:
    return QueueMail(kind="reply", audience=audience, token=message_id[1:9], message_id=message_id,
                     mail_from="pm@studio.example", recipients=("alice@studio.example",), message=b"x", created=NOW,
                     state=state, project="p")


def decided(key: str, place: Place | None = None, target: str = "processed") -> RecordMessage:
    return RecordMessage(message_key=key, message_id=key, sender="alice@studio.example", subject="s",
                         received_at=NOW, outcome="accepted", target_folder=target, project="p",
                         problems=(), raw=b"", body="", place=place)


def _sync(store: StorePort, entries: dict[str, str], deleted: Sequence[str] = (), token: str = "t") -> list[str]:
    parsed = {h: milestones_from_ics(ics, "p", (), "UTC", "UTC", h, NOW).milestones for h, ics in entries.items()}
    return store.apply_calendar("p", ref="p", url="http://dav/p/", token=token, fingerprint="f",
                                entries=[(h, "e", ics, False) for h, ics in entries.items()], parsed=parsed,
                                deleted=list(deleted), kept=set(), now=NOW)


def client_date(store: StorePort, uid: str) -> ClientDate | None:
    return store.client_dates("p").get(uid)


def found(value: T | None) -> T:
    """What a lookup returned, asserted to be there (a lookup that finds nothing returns None)."""
    assert value is not None
    return value


class StoreContract:
    """The rules every store keeps. A subclass gives the `store` fixture: an empty store, closed after the test."""

    def test_a_decisions_actions_happen_all_or_none(self, store: StorePort) -> None:
        store.carry_out([decided("<n1@x>")], NOW)
        with pytest.raises(StateConflict):  # the same message twice: the second decision fails whole
            store.carry_out([mail("<reply-a@x>"), decided("<n1@x>")], NOW)
        assert [i.message_id for i in store.outbox()] == []
        store.carry_out([mail("<held@x>", state="held", audience="client")], NOW)
        [held] = store.outbox()
        store.carry_out([DecideHeld(held.id, False, "pm@studio.example"), SetOutboxState(held.id, "rejected", "no")],
                        NOW)
        assert found(store.outbox_item(held.id)).state == "rejected"

    def test_calendars_a_deleted_entry_cancels_its_milestone_a_moved_one_does_not(self, store: StorePort) -> None:
        _sync(store, {"/d.ics": DESIGN, "/l.ics": LAUNCH})
        assert store.calendar_state("p") == CalendarSync("p", "http://dav/p/", "t", "f")  # saved with the entries
        gone = _sync(store, {"/design-moved.ics": DESIGN}, deleted=["/d.ics", "/l.ics"], token="t2")
        assert gone == ["launch-1"]  # design-1 only changed its href
        states = {m.uid: m.state for m in store.milestones("p")}
        assert states == {"design-1": "open", "launch-1": "cancelled"}

    def test_calendars_another_server_forgets_every_stored_url(self, store: StorePort) -> None:
        def follow(server: str) -> bool:
            return store.carry_out([FollowServer(server)], NOW).forgot

        assert follow("http://a/\0pm") is False  # a new state: nothing to forget
        _sync(store, {"/d.ics": DESIGN})
        store.save_client_calendar_entry("p", "design-1", "http://a/client/design-1.ics", "e", 1, NOW.date(), "ok")
        assert follow("http://a/\0pm") is False
        assert follow("http://b/\0pm") is True
        assert store.calendar_state("p") is None and store.client_calendar_entry("p", "design-1") is None
        assert [m.uid for m in store.milestones("p")] == ["design-1"]  # the milestones stay

    def test_calendars_the_client_copys_entries_are_listed_and_forgotten(self, store: StorePort) -> None:
        store.save_client_calendar_entry("p", "design-1", "http://a/c/d.ics", "e1", 2, NOW.date(), "ok")
        store.save_client_calendar_entry("p", "launch-1", "http://a/c/l.ics", None, 1, NOW.date(), "ok")
        store.save_client_calendar_entry("q", "launch-1", "http://a/q/l.ics", "e3", 1, NOW.date(), "ok")
        assert set(store.client_calendar_entries("p")) == {"design-1", "launch-1"}
        assert store.client_calendar_entries("p")["design-1"] == store.client_calendar_entry("p", "design-1")
        store.carry_out([ForgetClientCalendarEntry("p", "launch-1")], NOW)
        assert set(store.client_calendar_entries("p")) == {"design-1"} and store.client_calendar_entry("q", "launch-1")

    def test_outbox_a_decision_moves_the_held_group_once(self, store: StorePort) -> None:
        later = NOW + dt.timedelta(days=2)
        reminder = dataclasses.replace(mail("<remind@x>", "held"), kind="manager-follow-up", not_before=later)
        primary = store.enqueue_client_group([mail("<n@x>", "held", "client"), mail("<u@x>", "held", "client")],
                                             [ShowDate("p", "u1", 3, shown_date=NOW.date())])
        store.carry_out([ManagerCopy(primary, (mail("<draft@x>"), reminder))], NOW)
        draft = next(i for i in store.outbox() if i.message_id == "<draft@x>")
        assert draft.parent == primary
        assert store.decide(primary, True, now=NOW, decided_by="pm") is True
        assert {i.message_id: i.state for i in store.outbox(audience="client")} == {"<n@x>": "pending",
                                                                                   "<u@x>": "pending"}
        # the reminder the held letter scheduled goes with it, on its day; the draft was never held
        scheduled = next(i for i in store.outbox() if i.message_id == "<remind@x>")
        assert (scheduled.state, scheduled.next_attempt, scheduled.parent) == ("pending", later, primary)
        assert next(i for i in store.outbox() if i.message_id == "<draft@x>").state == "pending"
        assert store.decide(primary, False, now=NOW, decided_by="pm") is False  # already decided
        assert found(store.outbox_item(primary)).decided_by == "pm"  # who decided is kept
        assert found(client_date(store, "u1")).sequence == 3

    def test_outbox_an_approved_letter_goes_out_dated_the_day_it_was_approved(self, store: StorePort) -> None:
        composed = (b"From: pm@studio.example\r\nDate: Mon, 30 Nov 2026 09:00:00 +0000\r\nMessage-ID: <n@x>\r\n\r\n"
                    b"Date: body\r\n")
        letters = [dataclasses.replace(mail(f"<{n}@x>", "held", "client"), message=composed) for n in ("n", "u")]
        approved = store.enqueue_client_group(letters, [])
        rejected = store.enqueue_client_group([dataclasses.replace(mail("<r@x>", "held", "client"),
                                                                   message=composed)], [])
        store.decide(rejected, False, now=NOW + dt.timedelta(days=1), decided_by="pm")
        assert store.decide(approved, True, now=NOW + dt.timedelta(days=1, hours=5), decided_by="pm")
        for item in store.outbox(states=("pending",)):  # the whole group; the body's "Date:" is not a header
            assert item.message == composed.replace(b"Mon, 30 Nov 2026 09:00:00", b"Tue, 01 Dec 2026 14:00:00")
        assert store.outbox(states=("rejected",))[0].message == composed  # what no one will read stays as it was

    def test_outbox_knows_when_each_milestones_latest_notice_was_made(self, store: StorePort) -> None:
        def notice(mid: str, uid: str, at: dt.datetime, state: str = "pending") -> QueueMail:
            return dataclasses.replace(mail(mid, state, "client"), kind="notice", uid=uid, created=at)

        store.enqueue_client_group([notice("<n1@x>", "u1", NOW)], [])
        store.enqueue_client_group([notice("<n2@x>", "u1", NOW + dt.timedelta(days=3))], [])
        rejected = store.enqueue_client_group([notice("<n3@x>", "u2", NOW, "held")], [])
        store.decide(rejected, False, now=NOW, decided_by="pm")
        assert store.notice_times("p") == {"u1": NOW + dt.timedelta(days=3)}  # a rejected notice told nobody
        assert store.notice_times("q") == {}

    def test_outbox_a_newer_notice_replaces_the_one_held_and_is_known_by_the_note_it_was_made_from(
            self, store: StorePort) -> None:
        def notice(mid: str, uid: str, state: str = "held", basis: dt.datetime | None = None) -> QueueMail:
            return dataclasses.replace(mail(mid, state, "client"), kind="notice", uid=uid, basis=basis)

        earlier = NOW - dt.timedelta(hours=3)
        first = store.enqueue_client_group([notice("<h1@x>", "u1", basis=earlier), notice("<r1@x>", "u1")], [])
        store.enqueue_client_group([notice("<h2@x>", "u2")], [])  # no basis: the time it was made
        rejected = store.enqueue_client_group([notice("<h3@x>", "u3")], [])
        store.decide(rejected, False, now=NOW, decided_by="pm")
        store.enqueue_client_group([notice("<s@x>", "u4", state="pending")], [])
        assert store.held_notices("p") == {"u1": earlier, "u2": NOW} and store.held_notices("q") == {}
        newer = store.enqueue_client_group([notice("<h4@x>", "u1", basis=NOW)], [])
        assert store.held_notices("p") == {"u1": NOW, "u2": NOW}  # the manager decides the latest
        replaced = [i for i in store.outbox() if i.id == first or i.parent == first]
        assert {(i.state, i.decided_by) for i in replaced} == {("rejected", f"superseded by #{newer}")}
        assert store.decide(first, True, now=NOW, decided_by="pm") is False  # decided once: by the newer one

    def test_a_step_inside_a_transaction_fails_alone_and_a_failed_transaction_leaves_nothing(
            self, store: StorePort) -> None:
        with store.transaction():
            store.record_outgoing([mail("<a@x>")])
            with pytest.raises(StateConflict):
                store.carry_out([decided("<n@x>"), decided("<n@x>")], NOW)  # this step fails whole ...
            store.record_outgoing([mail("<b@x>")])  # ... and the batch goes on
        assert [i.message_id for i in store.outbox()] == ["<a@x>", "<b@x>"]
        assert store.message_decisions(["<n@x>"]) == {}
        with pytest.raises(RuntimeError), store.transaction():
            store.record_outgoing([mail("<c@x>")])
            store.carry_out([decided("<m@x>")], NOW)
            raise RuntimeError("the process dies here")
        assert [i.message_id for i in store.outbox()] == ["<a@x>", "<b@x>"]
        assert store.message_decisions(["<m@x>"]) == {}

    def test_outbox_the_sequence_shown_only_grows(self, store: StorePort) -> None:
        store.enqueue_client_group([mail("<a@x>", "pending", "client")], [ShowDate("p", "u1", 5)])
        store.enqueue_client_group([mail("<b@x>", "pending", "client")], [ShowDate("p", "u1", 2)])
        assert found(client_date(store, "u1")).sequence == 5

    def test_outbox_sent_since_compares_times_not_text(self, store: StorePort) -> None:
        store.record_outgoing([mail("<w@x>")])
        istanbul = dt.timezone(dt.timedelta(hours=3))
        assert store.sent_since("reply", "p", NOW.astimezone(istanbul))  # the same moment, written another way
        assert not store.sent_since("reply", "p", NOW + dt.timedelta(seconds=1))

    def test_inbox_failures_count_until_the_message_is_decided(self, store: StorePort) -> None:
        assert store.record_failure("<f@x>", "boom") == 1
        assert store.record_failure("<f@x>", "boom again") == 2
        assert store.failing_messages() == [("<f@x>", 2, "boom again")]
        store.carry_out([decided("<f@x>")], NOW)
        assert store.failing_messages() == []
        assert store.message_decisions(["<f@x>", "<other@x>"]) == {"<f@x>": "processed"}

    def test_inbox_old_text_is_pruned_once_a_day(self, store: StorePort) -> None:
        def kept(key: str) -> RecordMessage:
            return RecordMessage(message_key=key, message_id=key, sender="a@x", subject="s", received_at=NOW,
                                 outcome="accepted", target_folder="processed", project="p", problems=(), raw=b"raw",
                                 body="body")

        store.carry_out([kept("<k1@x>")], NOW)
        assert store.prune_mail(NOW - dt.timedelta(days=1)) == 0  # younger than the cut
        assert store.prune_mail(NOW + dt.timedelta(days=1)) == 1
        store.carry_out([kept("<k2@x>")], NOW + dt.timedelta(hours=2))
        assert store.prune_mail(NOW + dt.timedelta(days=1, hours=3)) == 0  # the same day: not asked again
        assert store.prune_mail(NOW + dt.timedelta(days=2)) == 1

    def test_notes_are_read_back_per_milestone_and_the_cache_sees_new_ones(self, store: StorePort) -> None:
        def note(key: str, at: dt.datetime, done: int) -> RecordMessage:
            report = Report("p", "u1", at, done, None, None, "late assets", "daily review", False, "a@x",
                            prevent="assets are due a week before the work starts")
            return RecordMessage(message_key=key, message_id=key, sender="a@x", subject="s", received_at=at,
                                 outcome="accepted", target_folder="processed", project="p", problems=(), raw=b"",
                                 body="", reports=(report,))

        store.carry_out([note("<1@x>", NOW, 10)], NOW)
        assert [r.done for r in store.reports_by_milestone("p")["u1"]] == [10]
        store.carry_out([note("<2@x>", NOW + dt.timedelta(days=1), 20)], NOW)
        assert [r.done for r in store.reports_by_milestone("p")["u1"]] == [10, 20]
        assert [r.done for r in store.reports_by_milestone("p", recent=1)["u1"]] == [20]
        kept = store.reports_by_milestone("p")["u1"][0]  # every field comes back, the note's Prevent with the rest
        assert (kept.cause, kept.plan, kept.prevent) == ("late assets", "daily review",
                                                         "assets are due a week before the work starts")
        # a note read inside a transaction that then fails was never recorded: no later read shows it (a message
        # that fails alone in the inbox's batch must not leave its note in a forecast), and the next note is read
        with pytest.raises(RuntimeError), store.transaction():
            store.carry_out([note("<3@x>", NOW + dt.timedelta(days=2), 30)], NOW)
            assert [r.done for r in store.reports_by_milestone("p")["u1"]] == [10, 20, 30]
            assert [r.done for r in store.reports_by_project()["p"]["u1"]] == [10, 20, 30]
            raise RuntimeError("the message fails after its note was read")
        assert [r.done for r in store.reports_by_milestone("p")["u1"]] == [10, 20]
        assert [r.done for r in store.reports_by_project()["p"]["u1"]] == [10, 20]
        store.carry_out([note("<4@x>", NOW + dt.timedelta(days=3), 40)], NOW)
        assert [r.done for r in store.reports_by_milestone("p")["u1"]] == [10, 20, 40]
        assert [r.done for r in store.reports_by_project()["p"]["u1"]] == [10, 20, 40]

    def test_calendars_entries_and_tokens_are_kept_per_project(self, store: StorePort) -> None:
        _sync(store, {"/d.ics": DESIGN})
        assert store.entry_etags("p") == {"/d.ics": "e"} and store.entry_etags("other") == {}
        assert store.entries("p") == [("/d.ics", DESIGN)] and store.entries("p", recurring_only=True) == []
        store.save_calendar_token("p", "p", "http://dav/p/", "t9", "f2")
        assert store.calendar_state("p") == CalendarSync("p", "http://dav/p/", "t9", "f2")
        store.forget_calendar("p")
        assert store.calendar_state("p") is None and store.entries("p") == [("/d.ics", DESIGN)]  # texts stay

    def test_calendars_an_unreadable_entry_keeps_its_milestones(self, store: StorePort) -> None:
        _sync(store, {"/d.ics": DESIGN, "/l.ics": LAUNCH})
        gone = store.apply_calendar("p", ref="p", url="http://dav/p/", token="t2", fingerprint="f", entries=[],
                                    parsed={}, deleted=[], kept={"/l.ics"}, now=NOW)
        assert gone == [] and {m.state for m in store.milestones("p")} == {"open"}

    def test_calendars_milestones_come_in_deadline_order_and_the_version_moves(self, store: StorePort) -> None:
        before = store.version()
        _sync(store, {"/l.ics": LAUNCH, "/d.ics": DESIGN})
        assert [m.uid for m in store.milestones("p")] == ["design-1", "launch-1"]
        assert [m.uid for m in store.milestones()] == ["design-1", "launch-1"] and store.milestones("q") == []
        assert store.version() != before
        seen = store.version()
        store.carry_out([RecordMessage(message_key="<v@x>", message_id="<v@x>", sender="a@x", subject="s",
                                       received_at=NOW, outcome="accepted", target_folder="processed", project="p",
                                       problems=(), raw=b"", body="",
                                       reports=(Report("p", "design-1", NOW, 50, None, None, "", "", False, "a@x"),))],
                        NOW)
        assert store.version() != seen  # a new note: what was learned before is learned again

    def test_calendars_each_projects_milestones_after_every_projects_are_its_own(self, store: StorePort) -> None:
        _sync(store, {"/l.ics": LAUNCH, "/d.ics": DESIGN})
        store.apply_calendar("q", ref="q", url="http://dav/q/", token="t", fingerprint="f", entries=[],
                             parsed={"/q.ics": milestones_from_ics(LAUNCH, "q", (), "UTC", "UTC", "/q.ics",
                                                                  NOW).milestones}, deleted=[], kept=set(), now=NOW)
        assert [(m.project, m.uid) for m in store.milestones()] == [("p", "design-1"), ("p", "launch-1"),
                                                                     ("q", "launch-1")]
        # read after every project's at once (a pass's team spread): each project's own, in deadline order
        assert [m.uid for m in store.milestones("p")] == ["design-1", "launch-1"]
        assert [m.uid for m in store.milestones("q")] == ["launch-1"]
        _sync(store, {"/d.ics": DESIGN}, deleted=["/l.ics"], token="t2")
        assert {m.uid: m.state for m in store.milestones("p")} == {"design-1": "open", "launch-1": "cancelled"}
        assert [m.state for m in store.milestones("q")] == ["open"]

    def test_outbox_the_manager_answers_by_token_or_by_replying_to_the_draft(self, store: StorePort) -> None:
        draft = dataclasses.replace(mail("<draft@x>"), kind="manager-draft")
        primary = store.enqueue_client_group([mail("<n@x>", "held", "client"), mail("<u@x>", "held", "client")], [])
        store.carry_out([ManagerCopy(primary, (draft,))], NOW)
        assert found(store.notice_for_decision("n@x>", [])).id == primary  # token = id[1:9]
        assert store.notice_for_decision("u@x>", []) is None  # a rider is not decided on its own
        assert found(store.notice_for_decision("", ["<other@x>", "<draft@x>"])).id == primary
        assert store.notice_for_decision("", ["<n@x>"]) is None  # the notice itself is not the draft
        assert found(store.first_client_message("p")).message_id == "<n@x>"
        assert store.first_client_message("q") is None
        assert found(store.client_message(["<u@x>"])).parent == primary
        assert store.client_message(["<draft@x>"]) is None  # the draft goes to the team
        assert found(store.client_message(["<zz@x>", "<u@x>"])).message_id == "<u@x>"
        assert store.is_our_message_id("<draft@x>") and not store.is_our_message_id("<zz@x>")

    def test_outbox_a_date_shown_keeps_what_a_later_one_leaves_out(self, store: StorePort) -> None:
        store.enqueue_client_group([mail("<a@x>", "pending", "client")],
                                   [ShowDate("p", "u1", 1, shown_date=dt.date(2026, 12, 4),
                                             promised=dt.date(2026, 12, 4))])
        store.enqueue_client_group([mail("<b@x>", "pending", "client")], [ShowDate("p", "u1", 1, delivered=True)])
        assert set(store.client_dates("p")) == {"u1"} and store.client_dates("q") == {}
        d = client_date(store, "u1")
        assert d is not None and (d.shown_date, d.promised, d.delivered_sent, d.cancelled_sent) == (
            dt.date(2026, 12, 4), dt.date(2026, 12, 4), True, False)
        store.enqueue_client_group([mail("<c@x>", "pending", "client")], [ShowDate("p", "u1", 2, cancelled=True)])
        assert client_date(store, "u1") == ClientDate(2, dt.date(2026, 12, 4), dt.date(2026, 12, 4), True, True,
                                                       invited=False)
        store.enqueue_client_group([mail("<i@x>", "pending", "client")], [ShowDate("p", "u1", 2, invited=True)])
        store.enqueue_client_group([mail("<j@x>", "pending", "client")], [ShowDate("p", "u1", 3)])
        assert found(client_date(store, "u1")).invited  # once in their calendar, it stays

    def test_outbox_a_state_moves_only_from_what_is_expected(self, store: StorePort) -> None:
        store.record_outgoing([mail("<s@x>")])
        [item] = store.outbox()
        assert store.set_outbox_state(item.id, "sending", now=NOW, attempt=True, expect=("pending",))
        assert not store.set_outbox_state(item.id, "sending", now=NOW, expect=("pending",))
        later = NOW + dt.timedelta(minutes=5)
        assert store.set_outbox_state(item.id, "pending", now=NOW, error="421 try later", next_attempt=later)
        assert store.set_outbox_state(item.id, "sent", now=NOW + dt.timedelta(minutes=6))
        done = store.outbox_item(item.id)
        assert done is not None and (done.state, done.attempts, done.last_error, done.sent, done.next_attempt) == (
            "sent", 1, "421 try later", NOW + dt.timedelta(minutes=6), None)
        assert store.outbox(states=("pending",)) == [] and store.outbox(audience="client") == []
        assert not store.set_outbox_state(999, "sent", now=NOW)

    def test_outbox_the_same_message_is_recorded_once(self, store: StorePort) -> None:
        store.record_outgoing([mail("<r@x>"), mail("<r@x>")])
        store.record_outgoing([mail("<r@x>")])
        assert [i.message_id for i in store.outbox()] == ["<r@x>"]
        with pytest.raises(StateConflict):
            store.enqueue_client_group([mail("<r@x>", "pending", "client")], [ShowDate("p", "u1", 9)])
        assert client_date(store, "u1") is None  # the group failed whole

    def test_inbox_uidvalidity_counts_and_moves(self, store: StorePort) -> None:
        assert store.swap_uidvalidity("INBOX", 7) is None
        assert store.swap_uidvalidity("INBOX", 8) == 7
        store.carry_out([decided("<a@x>"), decided("<b@x>")], NOW)
        store.mark_moved(["<a@x>"])
        assert store.note_count() == {"accepted": 2}
        with pytest.raises(StateConflict):
            store.carry_out([decided("<c@x>"), decided("<a@x>")], NOW)
        assert store.note_count() == {"accepted": 2}

    def test_inbox_a_message_is_decided_once_by_its_place_and_once_by_its_message_id(self, store: StorePort) -> None:
        inbox = "progress@imap.example/INBOX"
        store.carry_out([decided("<a@x>", Place(inbox, 7, 1)), decided("sha256:b", Place(inbox, 7, 2), "rejected"),
                         decided("<old@x>")], NOW)  # decided before places were kept: no place
        assert store.placed_decisions(inbox, 7, [1, 2, 3]) == {1: ("<a@x>", "processed"), 2: ("sha256:b", "rejected")}
        # the same UID read again under another key (its bytes read otherwise), or the same key at another UID
        for twin in (decided("sha256:other", Place(inbox, 7, 2)), decided("<a@x>", Place(inbox, 7, 9))):
            with pytest.raises(StateConflict):
                store.carry_out([twin], NOW)
        # a UID is the server's name for a message only under its UIDVALIDITY, and in its mailbox
        assert store.placed_decisions(inbox, 8, [1, 2]) == {}
        assert store.placed_decisions("progress@imap.example/notes", 7, [1, 2]) == {}
        store.carry_out([decided("<c@x>", Place(inbox, 8, 1)), decided("<d@x>", Place("progress@imap.example/notes",
                                                                                       7, 1)), decided("<e@x>")], NOW)
        assert store.placed_decisions(inbox, 8, [1]) == {1: ("<c@x>", "processed")}
        assert store.note_count() == {"accepted": 6}

    def test_notes_the_track_record_is_each_milestones_first_estimate(self, store: StorePort) -> None:
        _sync(store, {"/d.ics": DESIGN, "/l.ics": LAUNCH})

        def note(key: str, uid: str, at: dt.datetime, done: int | None, remaining: float | None) -> RecordMessage:
            report = Report("p", uid, at, done, remaining, None, "", "", False, "a@x")
            return RecordMessage(message_key=key, message_id=key, sender="a@x", subject="s", received_at=at,
                                 outcome="accepted", target_folder="processed", project="p", problems=(), raw=b"",
                                 body="", reports=(report,))

        day = dt.timedelta(days=1)
        store.carry_out([note("<1@x>", "design-1", NOW, 10, None),  # no estimate yet
                         note("<2@x>", "design-1", NOW + day, 40, 3),
                         note("<3@x>", "design-1", NOW + 2 * day, 70, 1),
                         note("<4@x>", "design-1", NOW + 4 * day, 100, 0),
                         note("<5@x>", "launch-1", NOW + day, 5, 8),
                         note("<6@x>", "ghost", NOW + day, 5, 2)], NOW)
        assert store.done_at() == {("p", "design-1"): NOW + 4 * day}
        record = {(r.estimated_at, r.remaining_days, r.done_at, r.state) for r in store.track_record()}
        assert record == {(NOW + day, 3, NOW + 4 * day, "open"), (NOW + day, 8, None, "open"),
                          (NOW + day, 2, None, "cancelled")}
        # the milestones the caller read already give the same states
        assert store.track_record(store.done_at(), store.milestones()) == store.track_record()
        assert [r.done for r in store.reports("p", "design-1", recent=2)] == [70, 100]

    def test_forecasts_the_latest_counts_and_only_open_ones_are_at_risk(self, store: StorePort) -> None:
        _sync(store, {"/d.ics": DESIGN, "/l.ics": LAUNCH})
        store.save_forecasts([Forecast("p", "design-1", None, None, 0.5, "slow"),
                              Forecast("p", "launch-1", None, None, 0.95, "late")], NOW)
        store.save_forecasts([Forecast("p", "design-1", None, None, 0.92, "slower")], NOW)
        assert found(store.forecast("p", "design-1")).reason == "slower"
        said = Forecast("p", "launch-1", NOW.date(), NOW.date(), 0.95,
                        words=(phrase("stated %(days)s left", days=Days(4)),))  # its English made when read
        store.save_forecasts([said], NOW)
        assert found(store.forecast("p", "launch-1")).reason == said.reason == (
            "stated 4 working days left → P50 2026-11-30, P80 2026-11-30, P(miss) 95%")
        assert store.forecast("p", "ghost") is None
        assert store.at_risk(0.9) == 2
        _sync(store, {"/d.ics": DESIGN}, deleted=["/l.ics"], token="t2")
        assert store.at_risk(0.9) == 1

    def test_health_the_last_pass_and_each_server(self, store: StorePort) -> None:
        assert store.last_pass() is None
        store.record_pass(NOW, NOW + dt.timedelta(seconds=2), True, "3 events")
        store.record_pass(NOW + dt.timedelta(minutes=1), NOW + dt.timedelta(minutes=1, seconds=1), False, "smtp down")
        assert store.last_pass() == PassRecord(NOW + dt.timedelta(minutes=1), NOW + dt.timedelta(minutes=1, seconds=1),
                                               False, "smtp down")
        store.set_server("smtp", False, "refused", NOW)
        store.set_server("smtp", True, "ok", NOW)
        assert store.servers() == {"smtp": ServerHealth(True, "ok")}

    def test_the_key_of_our_ids_is_secret(self, store: StorePort) -> None:
        assert len(store.key) == 32  # lasting across a restart: each store's own tests (test_store.py for SQLite)

    def test_a_client_page_token_is_made_once_per_project_random_and_kept(self, store: StorePort) -> None:
        assert store.page_tokens() == {}
        first = store.make_page_tokens(["p", "q"])
        assert set(first) == {"p", "q"} and first["p"] != first["q"]
        assert all(len(t) >= 22 for t in first.values())  # at least 128 bits, URL-safe base64
        assert store.make_page_tokens(["q", "r"])["q"] == first["q"]  # kept; a new project gets its own
        assert store.page_tokens() == {**first, "r": store.page_tokens()["r"]}
        assert store.page_tokens("q") == {"q": first["q"]} and store.page_tokens("none") == {}
        rotated = store.rotate_page_token("q")  # a leaked link: a new token, the old one names nothing
        assert rotated != first["q"] and store.page_tokens("q") == {"q": rotated} and len(rotated) >= 22
        assert store.make_page_tokens(["q"]) == {"q": rotated}

    def test_outbox_each_group_keeps_the_dates_it_gave_and_its_state(self, store: StorePort) -> None:
        shown = [ShowDate("p", "u1", 3, shown_date=NOW.date(), promised=NOW.date(), invited=True)]
        primary = store.enqueue_client_group([mail("<g1@x>", "held", "client"), mail("<g2@x>", "held", "client")],
                                             shown)
        assert store.shown_groups("p") == [("held", tuple(shown))] and store.shown_groups("q") == []
        store.decide(primary, False, now=NOW, decided_by="pm")
        assert store.shown_groups("p") == [("rejected", tuple(shown))]

    def test_outbox_a_group_the_pass_withdrew_is_read_back_as_withdrawn(self, store: StorePort) -> None:
        """Rejected by the manager, or withdrawn by the pass (what it said overtaken): a letter saying a milestone is
        back in the plan is drafted again on the same date only after the second."""
        back = (ShowDate("p", "u1", 5, shown_date=NOW.date(), invited=True, reinstated=True),)
        manager = store.enqueue_client_group([mail("<m1@x>", "held", "client")], back)
        withdrawn = store.enqueue_client_group([mail("<w1@x>", "held", "client")], back)
        store.decide(manager, False, now=NOW, decided_by="pm@studio.example")
        store.carry_out([DecideHeld(withdrawn, False, WITHDRAWN)], NOW)
        assert store.shown_groups("p") == [("rejected", back), (WITHDRAWN, back)]
        assert store.client_records("p")["p"].groups == [("rejected", back), (WITHDRAWN, back)]

    def test_outbox_a_milestone_back_in_the_plan_is_no_longer_cancelled_for_the_client(self, store: StorePort) -> None:
        gone = ShowDate("p", "u1", 4, cancelled=True)
        back = ShowDate("p", "u1", 5, shown_date=NOW.date(), invited=True, reinstated=True)
        store.enqueue_client_group([mail("<c1@x>", "pending", "client")], [gone])
        assert store.client_dates("p")["u1"].cancelled_sent
        store.enqueue_client_group([mail("<b1@x>", "pending", "client")], [back])
        now = store.client_dates("p")["u1"]
        assert not now.cancelled_sent and now.sequence == 5 and now.shown_date == NOW.date()
        assert store.shown_groups("p")[1] == ("pending", (back,))  # read back as it was decided

    def test_outbox_a_failed_letter_voids_the_managers_reminders_of_what_it_promised(self, store: StorePort) -> None:
        """A notice promised the client the steps by Friday and a call: it bounced, and on Friday the manager was
        still reminded "Notice #3 promised Jane a letter by today" (the review). Failed, it takes them with it; its
        other messages (the manager's copy, sent already) stay as they are."""
        primary = store.enqueue_client_group([dataclasses.replace(mail("<n@x>", "pending", "client"), kind="notice")],
                                             [])
        later = NOW + dt.timedelta(days=3)
        follow = dataclasses.replace(mail("<f@x>"), kind="manager-follow-up", not_before=later)
        call = dataclasses.replace(mail("<c@x>"), kind="manager-call", not_before=later)
        store.carry_out([ManagerCopy(primary, (mail("<copy@x>"), follow, call))], NOW)
        assert store.set_outbox_state(primary, "failed", now=NOW, error="bounced: 550 no such user")
        states = {i.message_id: i.state for i in store.outbox()}
        assert states == {"<n@x>": "failed", "<copy@x>": "pending", "<f@x>": "rejected", "<c@x>": "rejected"}

    def test_outbox_a_group_composed_in_shadow_is_read_back_as_shadow_sent_or_not(self, store: StorePort) -> None:
        shown = (ShowDate("p", "u1", 2, shown_date=NOW.date(), promised=NOW.date()),)
        shadow = dataclasses.replace(mail("<s1@x>", "pending", "client"), shadow=True)
        primary = store.enqueue_client_group([shadow], shown)
        store.enqueue_client_group([mail("<r1@x>", "pending", "client")], shown)
        assert store.shown_groups("p") == [(SHADOW, shown), ("pending", shown)]
        assert store.client_records("p")["p"].groups == [(SHADOW, shown), ("pending", shown)]
        assert store.set_outbox_state(primary, "sent", now=NOW)
        item = store.outbox_item(primary)
        assert item is not None and item.shadow and item.state == "sent"
        assert store.client_records()["p"].groups[0] == (SHADOW, shown)

    def test_outbox_a_client_entry_keeps_the_uid_it_first_went_out_with(self, store: StorePort) -> None:
        first = ShowDate("p", "u1", 1, shown_date=NOW.date(), invited=True, entry_uid="dw-ours")
        store.enqueue_client_group([mail("<e1@x>", "pending", "client")], [first, ShowDate("p", "u2", 0)])
        assert store.entry_uids("p") == {"u1": "dw-ours"} and store.entry_uids("q") == {}
        again = dataclasses.replace(first, sequence=2, entry_uid="dw-other")
        store.enqueue_client_group([mail("<e2@x>", "pending", "client")], [again])
        assert store.entry_uids("p") == {"u1": "dw-ours"}  # it keeps moving in place: its UID never changes
        assert store.shown_groups("p")[1] == ("pending", (again,))

    def test_outbox_every_projects_client_record_is_what_its_own_reads_say(self, store: StorePort) -> None:
        def client(mid: str, project: str, uid: str, state: str = "pending", kind: str = "notice",
                   at: dt.datetime = NOW, basis: dt.datetime | None = None) -> QueueMail:
            return dataclasses.replace(mail(mid, state, "client"), kind=kind, project=project, uid=uid, created=at,
                                       basis=basis)

        later = NOW + dt.timedelta(days=2)
        store.enqueue_client_group([client("<i@x>", "p", "", kind="intro", at=NOW - dt.timedelta(days=1))],
                                   [ShowDate("p", "u1", 1, shown_date=NOW.date(), invited=True, entry_uid="dw-1")])
        store.enqueue_client_group([client("<n1@x>", "p", "u1", at=later)],
                                   [ShowDate("p", "u1", 2, shown_date=later.date(), promised=later.date())])
        held = store.enqueue_client_group([client("<h@x>", "p", "u2", "held", basis=NOW), client("<c@x>", "p", "u2")],
                                          [ShowDate("p", "u2", 1, shown_date=later.date(), promised=later.date())])
        store.enqueue_client_group([client("<q@x>", "q", "u1", "held")], [])
        rejected = store.enqueue_client_group([client("<r@x>", "q", "u3", "held")], [ShowDate("q", "u3", 4)])
        store.decide(rejected, False, now=NOW, decided_by="pm")
        # refused by the client's server: it told them nothing
        refused = store.enqueue_client_group([client("<f@x>", "q", "u4", at=later)], [ShowDate("q", "u4", 2)])
        assert store.set_outbox_state(refused, "failed", now=later, error="550 no such user")
        store.record_outgoing([dataclasses.replace(mail("<t@x>"), project="t")])  # to the team only: no record
        # under approval = "shadow" (to the manager alone): kept apart, counted only while the project is in shadow
        store.enqueue_client_group([dataclasses.replace(client("<si@x>", "s", "", kind="intro"), shadow=True)], [])
        store.enqueue_client_group([dataclasses.replace(client("<sn@x>", "s", "u1", at=later), shadow=True)],
                                   [ShowDate("s", "u1", 2, shown_date=later.date(), promised=later.date())])
        records = store.client_records()
        assert set(records) == {"p", "q", "s"} and held
        shadow = records["s"]
        assert shadow.first_sent is None and shadow.told == {} and shadow.shadow is not None
        assert shadow.shadow.first_sent == NOW and shadow.shadow.told == {"u1": later}
        assert shadow.in_shadow().first_sent == NOW and shadow.in_shadow().told == {"u1": later}
        assert records["p"].in_shadow() is records["p"]  # nothing composed in shadow: the same record
        for project in ("p", "q", "t", "s"):
            first = store.first_client_message(project)
            record = records.get(project, ClientRecord())
            assert dataclasses.replace(record, sent={}, shadow=None, unsent=set()) == ClientRecord(
                first.created if first else None, store.client_dates(project), store.entry_uids(project),
                store.shown_groups(project), store.notice_times(project), store.held_notices(project))
            # a notice not sent yet went out, as far as the letters say it, when it was made
            assert record.sent == record.told
            assert store.client_records(project) == {p: r for p, r in records.items() if p == project}
        assert records["p"].first_sent == NOW - dt.timedelta(days=1) and records["p"].held == {"u2": NOW}
        assert records["q"].told == {} and store.notice_times("q") == {}  # rejected, failed: neither told the client
        assert [state for state, _ in records["q"].groups] == ["held", "rejected", "failed"]

    def test_notes_every_projects_are_read_at_once_and_the_cache_sees_new_ones(self, store: StorePort) -> None:
        def note(key: str, project: str, uid: str, at: dt.datetime, done: int) -> RecordMessage:
            return dataclasses.replace(decided(key), project=project, reports=(
                Report(project, uid, at, done, None, None, "", "", False, "a@x"),))

        assert store.reports_by_project() == {}
        store.carry_out([note("<1@x>", "p", "u1", NOW, 10), note("<2@x>", "q", "u1", NOW, 30),
                         note("<3@x>", "p", "u2", NOW + dt.timedelta(hours=1), 50)], NOW)
        assert store.reports_by_project() == {p: store.reports_by_milestone(p) for p in ("p", "q")}
        store.carry_out([note("<4@x>", "q", "u1", NOW - dt.timedelta(days=1), 20)], NOW)  # an older note, told late
        every = store.reports_by_project()
        assert [r.done for r in every["q"]["u1"]] == [20, 30] and [r.done for r in every["p"]["u1"]] == [10]
        assert store.reports_by_project(recent=1)["q"] == {"u1": [every["q"]["u1"][-1]]}

    def test_a_risk_alert_is_kept_until_it_comes_down(self, store: StorePort) -> None:
        up = RiskAlert(0.62, NOW.date(), NOW.date(), NOW)
        store.set_risk_alert("p", "u1", up)
        store.set_risk_alert("p", "u2", dataclasses.replace(up, p80=None, target=None))
        assert store.risk_alerts() == {("p", "u1"): up, ("p", "u2"): dataclasses.replace(up, p80=None, target=None)}
        store.set_risk_alert("p", "u1", dataclasses.replace(up, p_miss=0.9))  # said again: replaced
        store.set_risk_alert("p", "u2", None)
        assert store.risk_alerts() == {("p", "u1"): dataclasses.replace(up, p_miss=0.9)}
        store.set_risk_alert("q", "u1", up)
        assert store.risk_alerts("q") == {("q", "u1"): up} and set(store.risk_alerts()) == {("p", "u1"), ("q", "u1")}

    def test_a_web_session_counts_until_it_is_signed_out_or_expires_and_the_expired_are_pruned(
            self, store: StorePort) -> None:
        day = dt.timedelta(days=1)
        store.start_web_session("phone", "pm@studio.example", NOW, NOW + 14 * day)
        store.start_web_session("desk", "pm@studio.example", NOW, NOW + day)
        assert store.web_session("phone", NOW) == store.web_session("desk", NOW) == "pm@studio.example"
        assert store.web_session("never-started", NOW) is None
        with pytest.raises(StateConflict):
            store.start_web_session("phone", "pm@studio.example", NOW, NOW + day)
        assert store.end_web_session("phone") is True and store.end_web_session("phone") is False
        assert store.web_session("phone", NOW) is None  # signed out
        assert store.web_session("desk", NOW + day - dt.timedelta(seconds=1)) == "pm@studio.example"
        assert store.web_session("desk", NOW + day) is None  # expired
        store.start_web_session("tablet", "pm@studio.example", NOW + 2 * day, NOW + 16 * day)  # prunes the expired
        assert store.web_session("tablet", NOW + 3 * day) == "pm@studio.example"
        assert store.web_session("tablet", NOW + 16 * day) is None
        store.start_web_session("desk", "pm@studio.example", NOW + 2 * day, NOW + 3 * day)  # its sid is free again


# how to open an empty store of each kind in this tree, by name; a fixture it needs is asked of `request`
STORES: dict[str, Callable[[pytest.FixtureRequest], StorePort]] = {
    "sqlite": lambda request: Store.open(request.getfixturevalue("tmp_path")),
    "memory": lambda request: MemoryStore(),
}


class TestStores(StoreContract):
    @pytest.fixture(params=list(STORES))
    def store(self, request: pytest.FixtureRequest) -> Iterator[StorePort]:
        opened = STORES[request.param](request)
        yield opened
        opened.close()
