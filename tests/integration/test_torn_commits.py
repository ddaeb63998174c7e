"""No torn commits: a step that fails halfway leaves all of it or none of it, so the next pass finds everything
it still has to do. Each failure is injected at the worst moment, on real servers."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from deadlinewatch import config as config_mod
from deadlinewatch import wiring
from deadlinewatch.adapters.clock import FixedClock
from deadlinewatch.adapters.store import Store, StorePort
from deadlinewatch.pipeline import run_pass
from deadlinewatch.services import Services
from deadlinewatch.stages import outbox
from tests.conftest import Studio
from tests.integration.test_conversation import configure, sent
from tests.samples import DESIGN, NOTE

pytestmark = pytest.mark.integration


class Crash(Exception):
    """The process dying at this point: nothing after it runs."""


def _services(studio: Studio, at: dt.datetime) -> tuple[Services[StorePort], Store]:
    config = config_mod.load(studio.config)
    store = Store.open(config.state_dir)
    return wiring.services(config, store, FixedClock(at)), store


def _crash_once(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> None:
    real = getattr(owner, name)
    armed = {"on": True}

    def crash(*args: Any, **kw: Any) -> Any:
        if armed["on"]:
            armed["on"] = False
            raise Crash(name)
        return real(*args, **kw)

    monkeypatch.setattr(owner, name, crash)


def test_a_calendar_sync_that_fails_halfway_loses_no_change(studio: Studio, monkeypatch: pytest.MonkeyPatch) -> None:
    svc, store = _services(studio, dt.datetime(2026, 11, 30, 9, tzinfo=dt.UTC))
    try:
        asyncio.run(run_pass(svc))
        cal = studio.caldav.calendar_url("acme-web")
        studio.caldav.put(cal, "design-1", DESIGN.replace("DUE;VALUE=DATE:20261204", "DUE;VALUE=DATE:20261211"))
        studio.caldav.put(cal, "extra-1", DESIGN.replace("design-1", "extra-1").replace("Design mockups", "Extra"))
        studio.caldav.delete(cal, "launch-1")
        _crash_once(monkeypatch, Store, "_upsert_milestone")  # after the sync token, before the entries
        with pytest.raises(Crash):
            asyncio.run(run_pass(svc))
        asyncio.run(run_pass(svc))  # an incremental sync: it must still see all three changes
        by_uid = {m.uid: m for m in store.milestones("acme-web")}
        assert by_uid["design-1"].deadline.date() >= dt.date(2026, 12, 11)
        assert "extra-1" in by_uid and by_uid["extra-1"].state == "open"
        assert by_uid["launch-1"].state == "cancelled"
    finally:
        store.close()


def test_a_refused_notice_and_the_managers_note_of_it_are_one_step(
    studio: Studio, monkeypatch: pytest.MonkeyPatch
) -> None:
    studio.dovecot.save("progress", NOTE.encode())
    studio.smtp.refuse_rcpt = {"jane@acme.example"}
    svc, store = _services(studio, dt.datetime(2026, 11, 30, 9, tzinfo=dt.UTC))
    try:
        _crash_once(monkeypatch, Store, "record_outgoing")  # the outcome is written, the manager's note is not
        with pytest.raises(Crash):
            asyncio.run(run_pass(svc))
        asyncio.run(run_pass(svc))
        failed = [i for i in store.outbox(audience="client") if i.state == "failed"]
        assert failed, "the refused client message is recorded as failed"
        notes = [i for i in store.outbox(audience="team") if i.kind == "manager-failed"]
        assert len(notes) == len(failed)  # the manager hears of each, once
        assert sent(studio, "manager-failed", to="pm@studio.example")
    finally:
        store.close()


def test_a_hold_released_undecided_and_the_managers_note_of_it_are_one_step(
    studio: Studio, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(studio, approval="manager")
    studio.dovecot.save("progress", NOTE.encode())
    svc, store = _services(studio, dt.datetime(2026, 11, 30, 9, tzinfo=dt.UTC))
    try:
        asyncio.run(run_pass(svc))
        assert sent(studio, "notice") == []
        svc.clock = FixedClock(dt.datetime(2026, 12, 2, 9, tzinfo=dt.UTC))  # past approval_hours
        _crash_once(monkeypatch, Store, "record_outgoing")  # released, but the note to the manager not recorded
        with pytest.raises(Crash):
            asyncio.run(outbox.send_outbox(svc, wiring_report()))
        asyncio.run(outbox.send_outbox(svc, wiring_report()))
        released = [i for i in store.outbox(audience="team") if i.kind == "manager-released"]
        assert released and sent(studio, "notice")
        primaries = [i for i in store.outbox(audience="client") if i.parent is None]
        assert len(primaries) == 2  # the introduction and the notice, each released with a note to the manager
        assert len(released) == len(primaries)
    finally:
        store.close()


def wiring_report() -> Any:
    from deadlinewatch.services import PassReport

    return PassReport()
