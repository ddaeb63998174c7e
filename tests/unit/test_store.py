"""The state on its own (a SQLite file, no server): actions carried out all or none, schema steps named, the
files private, and the rules each part keeps (what a fake of the Store port would have to keep too)."""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from deadlinewatch.adapters.store import MIGRATIONS, Store
from deadlinewatch.core.milestones import milestones_from_ics
from deadlinewatch.core.model import DecideHeld, QueueMail, RecordMessage, Report, SetOutboxState, ShowDate
from tests.samples import DESIGN, LAUNCH

NOW = dt.datetime(2026, 11, 30, 9, tzinfo=dt.UTC)


def mail(message_id: str, state: str = "pending", audience: str = "team") -> QueueMail:
    return QueueMail(kind="reply", audience=audience, token=message_id[1:9], message_id=message_id,
                     mail_from="pm@studio.example", recipients=("alice@studio.example",), message=b"x", created=NOW,
                     state=state, project="p")


def decided(key: str) -> RecordMessage:
    return RecordMessage(message_key=key, message_id=key, sender="alice@studio.example", subject="s",
                         received_at=NOW, outcome="accepted", target_folder="processed", project="p",
                         problems=(), raw=b"", body="")


def test_a_decisions_actions_happen_all_or_none(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    store.carry_out([decided("<n1@x>")], NOW)
    with pytest.raises(sqlite3.IntegrityError):  # the same message twice: the second decision fails whole
        store.carry_out([mail("<reply-a@x>"), decided("<n1@x>")], NOW)
    assert [i.message_id for i in store.outbox()] == []
    store.carry_out([mail("<held@x>", state="held", audience="client")], NOW)
    [held] = store.outbox()
    store.carry_out([DecideHeld(held.id, False, "pm@studio.example"), SetOutboxState(held.id, "rejected", "no")], NOW)
    assert store.outbox_item(held.id).state == "rejected"  # type: ignore[union-attr]
    store.close()


def test_each_schema_step_is_named_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="deadlinewatch.adapters.store"):
        Store.open(tmp_path).close()
    steps = [r.getMessage() for r in caplog.records if "schema v" in r.getMessage()]
    assert steps == [f"state: schema v{i} → v{i + 1}: {m.what}" for i, m in enumerate(MIGRATIONS)]
    assert all(m.what for m in MIGRATIONS)


def test_the_state_is_private_whatever_the_umask(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    folder.mkdir(mode=0o755)
    (folder / "deadlinewatch.sqlite3").touch(mode=0o644)  # left readable by an older version
    Store.open(folder).close()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "deadlinewatch.sqlite3").stat().st_mode) == 0o600


# --- the rules each part of the store keeps ------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path)
    yield s
    s.close()


def _sync(store: Store, entries: dict[str, str], deleted: Sequence[str] = (), token: str = "t") -> list[str]:
    parsed = {h: milestones_from_ics(ics, "p", (), "UTC", "UTC", h, NOW).milestones for h, ics in entries.items()}
    return store.apply_calendar("p", ref="p", url="http://dav/p/", token=token, fingerprint="f",
                                entries=[(h, "e", ics, False) for h, ics in entries.items()], parsed=parsed,
                                deleted=list(deleted), kept=set(), now=NOW)


def test_calendars_a_deleted_entry_cancels_its_milestone_a_moved_one_does_not(store: Store) -> None:
    _sync(store, {"/d.ics": DESIGN, "/l.ics": LAUNCH})
    assert store.calendar_state("p")["sync_token"] == "t"  # type: ignore[index]  # saved with the entries
    gone = _sync(store, {"/design-moved.ics": DESIGN}, deleted=["/d.ics", "/l.ics"], token="t2")
    assert gone == ["launch-1"]  # design-1 only changed its href
    states = {m.uid: m.state for m in store.milestones("p")}
    assert states == {"design-1": "open", "launch-1": "cancelled"}


def test_calendars_another_server_forgets_every_stored_url(store: Store) -> None:
    assert store.follow_server("http://a/\0pm") is False  # a new state: nothing to forget
    _sync(store, {"/d.ics": DESIGN})
    store.save_client_calendar_entry("p", "design-1", "http://a/client/design-1.ics", "e", 1, NOW.date(), "ok")
    assert store.follow_server("http://a/\0pm") is False
    assert store.follow_server("http://b/\0pm") is True
    assert store.calendar_state("p") is None and store.client_calendar_entry("p", "design-1") is None
    assert [m.uid for m in store.milestones("p")] == ["design-1"]  # the milestones stay


def test_outbox_a_decision_moves_the_held_group_once(store: Store) -> None:
    primary = store.enqueue_client_group([mail("<n@x>", "held", "client"), mail("<u@x>", "held", "client")],
                                         [ShowDate("p", "u1", 3, shown_date=NOW.date())],
                                         lambda pid: mail("<draft@x>"))
    draft = next(i for i in store.outbox() if i.message_id == "<draft@x>")
    assert draft.parent == primary
    assert store.decide(primary, True, now=NOW, decided_by="pm") is True
    assert {i.message_id: i.state for i in store.outbox(audience="client")} == {"<n@x>": "pending", "<u@x>": "pending"}
    assert store.decide(primary, False, now=NOW, decided_by="pm") is False  # already decided
    assert store.client_date("p", "u1").sequence == 3  # type: ignore[union-attr]


def test_outbox_the_sequence_shown_only_grows(store: Store) -> None:
    store.enqueue_client_group([mail("<a@x>", "pending", "client")], [ShowDate("p", "u1", 5)])
    store.enqueue_client_group([mail("<b@x>", "pending", "client")], [ShowDate("p", "u1", 2)])
    assert store.client_date("p", "u1").sequence == 5  # type: ignore[union-attr]


def test_outbox_sent_since_compares_times_not_text(store: Store) -> None:
    store.record_outgoing([mail("<w@x>")])
    istanbul = dt.timezone(dt.timedelta(hours=3))
    assert store.sent_since("reply", "p", NOW.astimezone(istanbul))  # the same moment, written another way
    assert not store.sent_since("reply", "p", NOW + dt.timedelta(seconds=1))


def test_inbox_failures_count_until_the_message_is_decided(store: Store) -> None:
    assert store.record_failure("<f@x>", "boom") == 1
    assert store.record_failure("<f@x>", "boom again") == 2
    assert store.failing_messages() == [("<f@x>", 2, "boom again")]
    store.carry_out([decided("<f@x>")], NOW)
    assert store.failing_messages() == []
    assert store.message_decisions(["<f@x>", "<other@x>"]) == {"<f@x>": "processed"}


def test_inbox_old_text_is_pruned_once_a_day(store: Store) -> None:
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


def test_notes_are_read_back_per_milestone_and_the_cache_sees_new_ones(store: Store) -> None:
    def note(key: str, at: dt.datetime, done: int) -> RecordMessage:
        report = Report("p", "u1", at, done, None, None, "", "", False, "a@x")
        return RecordMessage(message_key=key, message_id=key, sender="a@x", subject="s", received_at=at,
                             outcome="accepted", target_folder="processed", project="p", problems=(), raw=b"",
                             body="", reports=(report,))

    store.carry_out([note("<1@x>", NOW, 10)], NOW)
    assert [r.done for r in store.reports_by_milestone("p")["u1"]] == [10]
    store.carry_out([note("<2@x>", NOW + dt.timedelta(days=1), 20)], NOW)
    assert [r.done for r in store.reports_by_milestone("p")["u1"]] == [10, 20]
    assert [r.done for r in store.reports_by_milestone("p", recent=1)["u1"]] == [20]


def test_health_a_server_is_written_only_when_it_changes(store: Store) -> None:
    store.set_server("imap", True, "12 messages read", NOW)
    store.set_server("imap", True, "12 messages read", NOW + dt.timedelta(hours=1))
    assert store.servers() == {"imap": {"ok": True, "detail": "12 messages read"}}
    checked = store.db.execute("SELECT checked_at FROM servers").fetchone()[0]
    assert checked == NOW.isoformat()
