"""The daemon's evaluator wakes for each project's weekly check-in slot by itself (no worker of its own for it):
it sleeps until poll_seconds or the next slot, whichever comes first."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
import signal
import threading
import time
import zoneinfo
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from deadlinewatch import config as config_mod
from deadlinewatch.adapters.clock import FixedClock
from deadlinewatch.adapters.store import StorePort
from deadlinewatch.adapters.templates import letters
from deadlinewatch.coordination import Running
from deadlinewatch.core import policy
from deadlinewatch.core.model import QueueMail
from deadlinewatch.daemon import stop_on_signals
from deadlinewatch.demo.servers import write_local_config
from deadlinewatch.errors import LeaseLost, ServerError
from deadlinewatch.services import PassReport, Services
from deadlinewatch.stages.outbox import send_outbox
from deadlinewatch.workers import UNREADABLE_SECONDS, Crew
from tests.memory_store import MemoryStore


def _crew(tmp_path: Path, now: dt.datetime) -> Crew:
    config = config_mod.load(write_local_config(tmp_path / "dw.toml", caldav_url="http://127.0.0.1:9/", imap_port=9,
                                                smtp_port=9))
    svc = Services(config, MemoryStore(), Any, Any, Any, FixedClock(now), letters())  # type: ignore[arg-type]  # no server: never reached
    return Crew(svc, asyncio.Event())


def test_the_evaluator_sleeps_until_the_next_check_in_slot_when_it_comes_before_the_poll(tmp_path: Path) -> None:
    probe = _crew(tmp_path, dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC))
    project = probe.svc.config.projects[0]
    assert project.weekly_update  # the demo's project sends a weekly check-in
    zone = zoneinfo.ZoneInfo(project.client.timezone)
    last = policy.weekly_slot(probe.svc.clock.now(), project.weekly_update, zone)
    assert last is not None
    slot = last + dt.timedelta(days=7)
    poll = probe.svc.config.daemon.poll_seconds
    assert set(probe.workers) == {"inbox", "calendar", "evaluator", "outbox"}  # no worker that only waits
    assert poll > 21
    # twenty seconds before the slot: the evaluator wakes one second after it, not at the next poll
    near = _crew(tmp_path, slot - dt.timedelta(seconds=20))
    assert near._idle_seconds(near.workers["evaluator"]) == 21
    # a day before: the poll comes first
    far = _crew(tmp_path, slot - dt.timedelta(days=1))
    assert far._idle_seconds(far.workers["evaluator"]) == poll
    assert far._idle_seconds(far.workers["calendar"]) == poll


class Holding:
    """A daemon's share of the work, fixed: these parts are its, the others another daemon's."""

    def __init__(self, *parts: str) -> None:
        self.parts = parts
        self.woken_elsewhere: list[str] = []

    def holds(self, part: str) -> bool:
        return part in self.parts

    def lease(self, part: str) -> None:
        return None

    def holding(self) -> tuple[str, ...]:
        return self.parts

    def daemons(self) -> list[Running]:
        return []

    def wake_others(self, workers: Sequence[str]) -> None:
        self.woken_elsewhere.extend(workers)

    def give_up(self, part: str) -> None:
        """Fixed: nothing to hand over."""

    async def keep(self, stop: asyncio.Event, changed: Callable[[], None],
                   woken: Callable[[Sequence[str]], None] = lambda workers: None) -> None:
        await stop.wait()


async def test_a_daemon_runs_only_the_workers_whose_part_of_the_work_it_holds(tmp_path: Path) -> None:
    crew = _crew(tmp_path, dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC))
    crew.coordination = holding = Holding("outbox", "calendars")
    ran: list[str] = []
    for worker in crew.workers.values():
        async def run(svc: Services[StorePort], report: PassReport, name: str = worker.name) -> None:
            ran.append(name)
        worker.run = run
        worker.after = None
    task = asyncio.create_task(crew.run())
    await asyncio.sleep(0.3)
    crew.stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert sorted(set(ran)) == ["calendar", "outbox"]  # no inbox, no evaluation: another daemon's parts
    # the calendar's run wakes the evaluator, whose part is another daemon's: that daemon is woken
    assert "evaluator" in holding.woken_elsewhere and "outbox" not in holding.woken_elsewhere


async def test_the_mailboxs_holder_does_not_wait_for_a_calendar_sync_another_daemon_does(tmp_path: Path) -> None:
    """The inbox's first run waits for the first calendar sync — here when this daemon syncs the calendars; when
    another daemon does, for its work to show in the state, or one poll at most (it found this daemon waiting
    forever for a worker of its own that never runs)."""
    import dataclasses

    async def runs(*parts: str) -> list[str]:
        crew = _crew(tmp_path, dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC))
        config = crew.svc.config
        crew.svc = dataclasses.replace(crew.svc, config=dataclasses.replace(
            config, daemon=dataclasses.replace(config.daemon, poll_seconds=1)))
        crew.coordination = Holding(*parts)
        ran: list[str] = []
        for worker in crew.workers.values():
            async def run(svc: Services[StorePort], report: PassReport, name: str = worker.name) -> None:
                if name == "calendar":
                    await crew.stop.wait()  # a first sync that does not end before the daemon stops
                ran.append(name)
            worker.run = run
        task = asyncio.create_task(crew.run())
        await asyncio.sleep(2.5)
        crew.stop.set()
        await asyncio.wait_for(task, timeout=10)
        return ran

    assert "inbox" in await runs("mailbox")  # the calendars are another daemon's: within a poll, it reads
    assert "inbox" not in await runs("mailbox", "calendars")  # its own sync has not ended: it waits for it


async def test_a_state_that_cannot_be_read_while_idle_never_ends_the_daemon(tmp_path: Path) -> None:
    """The PostgreSQL audit: a database restart let the leases lapse and woke every worker; the outbox worker of a
    daemon that did not hold the outbox read when its next retry was due outside any run's containment, and the
    ServerError ended the daemon ("internal error: ExceptionGroup"). It looks again later; the daemon goes on."""
    crew = _crew(tmp_path, dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC))
    crew.coordination = Holding("mailbox")

    def down(*args: object, **kwargs: object) -> list[object]:
        raise ServerError("database", "terminating connection due to administrator command")

    crew.svc.store.outbox = down  # type: ignore[method-assign, assignment]  # the database restarting
    crew.svc.store.milestones = down  # type: ignore[method-assign, assignment]  # the database restarting
    for worker in crew.workers.values():
        async def run(svc: Services[StorePort], report: PassReport) -> None:
            return None
        worker.run = run
    assert crew._idle_seconds(crew.workers["outbox"]) == UNREADABLE_SECONDS
    task = asyncio.create_task(crew.run())
    await asyncio.sleep(1.5)
    assert not task.done()
    crew.stop.set()
    await asyncio.wait_for(task, timeout=10)  # ended by the stop, not by the error


async def test_a_stopping_daemon_ends_a_long_step_at_its_next_item(tmp_path: Path) -> None:
    """A step works item by item (a batch of notes, the outbox's messages), beating between them; once the
    daemon stops, the step ends at the next beat — not after the whole batch (a stopping daemon sent a hundred
    more replies before it handed the outbox over) — and the worker says so without counting a failure."""
    crew = _crew(tmp_path, dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC))
    items: list[int] = []
    for worker in crew.workers.values():
        async def run(svc: Services[StorePort], report: PassReport, name: str = worker.name) -> None:
            if name != "outbox":
                return
            for i in range(10_000):
                svc.tick()
                items.append(i)
                await asyncio.sleep(0.001)
        worker.run = run
    task = asyncio.create_task(crew.run())
    await asyncio.sleep(0.2)
    crew.stop.set()
    stopped = time.monotonic()
    await asyncio.wait_for(task, timeout=5)
    assert time.monotonic() - stopped < 1 and 0 < len(items) < 10_000
    assert crew.workers["outbox"].error is None and crew.workers["outbox"].failures == 0


async def test_a_stop_signal_ends_a_step_that_holds_the_loop_at_its_next_item(tmp_path: Path) -> None:
    """A batch of mail is decided in one transaction, without an await: it holds the loop, so a stop set by the
    loop's own signal handling would wait for the whole batch. The signal's handler (daemon.stop_on_signals) marks
    the stop at once, and the step ends at its next item — a real SIGTERM, sent to this process from a thread."""
    requested = threading.Event()
    crew = _crew(tmp_path, dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC))
    crew.requested = requested
    items: list[int] = []
    for worker in crew.workers.values():
        async def run(svc: Services[StorePort], report: PassReport, name: str = worker.name) -> None:
            if name != "inbox":
                return
            for i in range(20_000):  # about 10 s, never yielding to the loop
                svc.tick()
                items.append(i)
                time.sleep(0.0005)
        worker.run = run
    restore = stop_on_signals(asyncio.get_running_loop(), crew.stop, requested)
    try:
        sent: list[float] = []

        def terminate() -> None:  # from a thread: this test's own code waits, like the loop, for the step
            sent.append(time.monotonic())
            os.kill(os.getpid(), signal.SIGTERM)

        threading.Timer(0.5, terminate).start()
        await asyncio.wait_for(crew.run(), timeout=15)
        ended = time.monotonic()
    finally:
        restore()
    assert sent and ended - sent[0] < 1 and 0 < len(items) < 20_000
    assert crew.workers["inbox"].error is None and crew.workers["inbox"].failures == 0


async def test_an_outbox_step_whose_part_lapsed_opens_no_smtp_session(tmp_path: Path) -> None:
    """Paused between a message's claim and its SMTP session past the outbox's lease (another daemon may have
    taken the outbox, found no archive copy and sent the message): on waking the step opens no session — the
    lease is checked by this machine's clock right before, no round trip a pause could slip into — and leaves
    the message `sending`, for the holder to reconcile."""
    now = dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC)
    crew = _crew(tmp_path, now)
    crew.svc.store.carry_out([QueueMail(kind="reply", audience="team", token="t1", message_id="<r1@x>",
                                        mail_from="pm@studio.example", recipients=("alice@studio.example",),
                                        message=b"x", created=now, state="pending", project="p")], now)

    class NoSession:
        async def send(self, *args: object, **kwargs: object) -> dict[str, str]:
            raise AssertionError("an SMTP session was opened after the outbox's lease lapsed")

        async def check(self) -> str:
            raise AssertionError("no session either")

    svc = dataclasses.replace(crew.svc, mailer=NoSession(), counts=lambda: False)
    with pytest.raises(LeaseLost):
        await send_outbox(svc, PassReport())
    assert [i.state for i in crew.svc.store.outbox()] == ["sending"]


async def test_a_pass_under_leases_stops_at_a_step_whose_part_lapsed(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The review: `once` over PostgreSQL ran a step whose lease had lapsed meanwhile (a step held the loop past the
    renewal) with no lease at all — its writes checked nothing. It stops there; each step it runs counts only while
    its part is held."""
    from deadlinewatch import pipeline

    crew = _crew(tmp_path, dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC))
    ran: list[tuple[str, bool]] = []

    def step(name: str) -> pipeline.Step:
        async def run(svc: Services[StorePort], report: PassReport) -> None:
            ran.append((name, svc.counts()))
        return pipeline.Step(name, run)

    monkeypatch.setattr(pipeline, "STEPS", tuple(step(s.name) for s in pipeline.STEPS))
    held = {"calendars", "mailbox", "evaluation"}  # the outbox's lease lapsed
    with pytest.raises(LeaseLost, match="outbox"):
        await pipeline.run_pass(crew.svc, lambda part: object() if part in held else None)  # type: ignore[arg-type, return-value]  # a lease's stand-in
    assert ran == [("calendar", True), ("inbox", True), ("evaluator", True)]
