"""Daemons sharing one PostgreSQL state divide the work by leases: every part is held by exactly one of them, a
stopping daemon's parts are taken within a second, a dead one's within a lease, and a daemon frozen past its
leases no longer counts on them when it wakes."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from deadlinewatch.adapters.store.postgres.connection import open_pool
from deadlinewatch.adapters.store.postgres.leases import Leases
from deadlinewatch.adapters.store.postgres.schema import migrate
from deadlinewatch.coordination import PARTS, Shared, Solo
from deadlinewatch.credentials import Secret
from tests.postgres_server import PostgresDatabase

pytestmark = pytest.mark.integration

TTL = dt.timedelta(seconds=3)
NOW = dt.datetime(2026, 11, 30, 9, tzinfo=dt.UTC)
EVERY_PART = tuple(sorted(PARTS.values()))


@pytest.fixture
def leases(postgres: PostgresDatabase) -> Iterator[Callable[[], Leases]]:
    """Each daemon's own pool over one migrated database (as daemons on several machines have)."""
    with postgres.connect(autocommit=True) as conn:
        migrate(conn)
    pools = []

    def make() -> Leases:
        pool = open_pool(postgres.url, Secret(postgres.password), max_size=4)
        pools.append(pool)
        return Leases(pool)

    try:
        yield make
    finally:
        for pool in pools:
            pool.close()


@asynccontextmanager
async def daemon(make: Callable[[], Leases]) -> AsyncIterator[tuple[Shared, asyncio.Event, asyncio.Task[None]]]:
    shared, stop = Shared(make(), TTL), asyncio.Event()
    task = asyncio.create_task(shared.keep(stop, lambda: None))
    try:
        yield shared, stop, task
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)


async def until(condition: Callable[[], bool], timeout: float) -> float:
    """Seconds until `condition` held; fails after `timeout`."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, "the condition never held"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


def divided(*daemons: Shared) -> bool:
    """Every part held, each by one daemon only, each daemon its share (the parts divided by the daemons); with one
    daemon given: it holds its share of two, the rest is another's."""
    held = [part for d in daemons for part in d.holding()]
    share = len(EVERY_PART) // 2
    if len(daemons) == 1:
        return len(held) == share
    return sorted(held) == list(EVERY_PART) and all(len(d.holding()) == share for d in daemons)


async def test_two_daemons_divide_the_work_each_part_held_once(leases: Callable[[], Leases]) -> None:
    async with daemon(leases) as (a, _, _), daemon(leases) as (b, _, _):
        await until(lambda: divided(a, b), timeout=5)
        await asyncio.sleep(TTL.total_seconds())  # through renewals: still divided, nobody lost a part
        assert divided(a, b)
        seen = {d.id: d.holds for d in a.leases.daemons()}
        assert a.daemon is not None and b.daemon is not None
        assert sorted([*seen[a.daemon.id], *seen[b.daemon.id]]) == list(EVERY_PART)


async def test_a_stopping_daemons_parts_are_taken_within_a_second(leases: Callable[[], Leases]) -> None:
    async with daemon(leases) as (a, stop_a, task_a):
        await until(lambda: a.holding() == EVERY_PART, timeout=5)
        async with daemon(leases) as (b, _, _):
            # a hands b its share at a's next renewal
            await until(lambda: divided(a, b), timeout=5)
            stop_a.set()
            await asyncio.wait_for(task_a, timeout=5)
            took = await until(lambda: b.holding() == EVERY_PART, timeout=5)
            assert took < 1.0, f"took {took:.2f} s"
            assert [d.id for d in b.leases.daemons()] == [b.daemon.id if b.daemon else -1]  # a's row is gone


async def test_a_stopping_daemons_worker_hands_its_part_over_before_the_others_end(
        leases: Callable[[], Leases]) -> None:
    """A stopping daemon's inbox worker has ended while its outbox still finishes a send: the mailbox is another
    daemon's within a second, and the stopping one does not take it back at its next renewal."""
    async with daemon(leases) as (a, _, _):
        await until(lambda: a.holding() == EVERY_PART, timeout=5)
        async with daemon(leases) as (b, _, _):
            await until(lambda: divided(a, b), timeout=5)
            await until(lambda: "mailbox" in a.holding(), timeout=10)  # the renewals pass parts back and forth
            await asyncio.to_thread(a.give_up, "mailbox")
            took = await until(lambda: "mailbox" in b.holding(), timeout=5)
            assert took < 1.0, f"took {took:.2f} s"
            await asyncio.sleep(TTL.total_seconds())  # a's renewals go on (its other workers run): it keeps off
            assert "mailbox" not in a.holding() and "mailbox" in b.holding()


class Holder:
    """A daemon's share of the work in a process of its own (tests/lease_holder.py), to kill or freeze."""

    def __init__(self, postgres: PostgresDatabase) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.lease_holder", postgres.url, postgres.password, str(TTL.total_seconds())],
            stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
        self.holds: tuple[str, ...] = ()
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def seen(self) -> tuple[str, ...]:
        while not self.lines.empty():
            self.holds = tuple(json.loads(self.lines.get())["holds"])
        return self.holds

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)


@pytest.fixture
def holder(postgres: PostgresDatabase) -> Iterator[Holder]:
    h = Holder(postgres)
    try:
        yield h
    finally:
        if h.process.poll() is None:
            os.kill(h.process.pid, signal.SIGCONT)
        h.kill()


async def test_a_killed_daemons_parts_are_taken_within_one_lease(holder: Holder,
                                                                 leases: Callable[[], Leases]) -> None:
    await until(lambda: holder.seen() == EVERY_PART, timeout=10)
    holder.kill()  # SIGKILL: no renewal, no release; its rows stay behind until its leases run out
    async with daemon(leases) as (b, _, _):
        took = await until(lambda: b.holding() == EVERY_PART, timeout=10)
        assert took <= TTL.total_seconds() + TTL.total_seconds() / 3 + 0.5, f"took {took:.2f} s"


async def test_a_frozen_daemon_holds_nothing_when_it_wakes_past_its_leases(holder: Holder,
                                                                           leases: Callable[[], Leases]) -> None:
    await until(lambda: holder.seen() == EVERY_PART, timeout=10)
    os.kill(holder.process.pid, signal.SIGSTOP)  # paused: no renewals
    async with daemon(leases) as (b, _, _):
        await until(lambda: b.holding() == EVERY_PART, timeout=10)
        os.kill(holder.process.pid, signal.SIGCONT)  # awake after its leases ran out: they are b's now
        await until(lambda: holder.seen() == (), timeout=10)  # the first thing it knows: it holds nothing
        # then, a daemon again, it is handed its share under new leases (b gives up what is beyond its own)
        await until(lambda: len(holder.seen()) == 2 and divided(b) and not set(holder.seen()) & set(b.holding()),
                    timeout=10)


async def test_a_holder_stops_counting_on_a_lease_before_the_database_would(leases: Callable[[], Leases]) -> None:
    keeper = Shared(leases(), TTL)
    keeper.daemon = keeper.leases.register()
    keeper._round()  # one renewal, then none: as if paused
    lease = keeper.lease("outbox")
    assert lease is not None
    await until(lambda: keeper.lease("outbox") is None, timeout=TTL.total_seconds())
    with keeper.leases.pool.connection() as conn:  # by its own clock it let go while the database still counted it
        row = conn.execute("SELECT %s > now()", (lease.expires,)).fetchone()
    assert row is not None and row[0] is True


async def test_alone_with_sqlite_a_daemon_holds_everything() -> None:
    solo = Solo()
    assert solo.holding() == EVERY_PART and all(solo.holds(p) for p in PARTS.values())
    stop = asyncio.Event()
    task = asyncio.create_task(solo.keep(stop, lambda: None))
    stop.set()
    await asyncio.wait_for(task, timeout=1)


async def test_a_daemon_that_lost_its_part_writes_nothing_under_it(postgres: PostgresDatabase,
                                                                   leases: Callable[[], Leases]) -> None:
    from deadlinewatch.adapters.store.postgres.store import PostgresStore
    from deadlinewatch.coordination import current
    from deadlinewatch.core.model import SetServer
    from deadlinewatch.errors import LeaseLost

    store = PostgresStore.connect(postgres.url, Secret(postgres.password))
    a, b = leases(), leases()
    try:
        mine = a.acquire(a.register(), "outbox", dt.timedelta(seconds=1))
        assert mine is not None
        token = current.set(mine)  # the step running under the outbox's lease
        try:
            store.carry_out([SetServer("smtp", True, "sent under my lease")], NOW)
            assert store.servers()["smtp"].detail == "sent under my lease"
            await asyncio.sleep(1.2)  # its lease runs out (a pause, a cut-off link) and another daemon takes it
            assert b.acquire(b.register(), "outbox", TTL) is not None
            with pytest.raises(LeaseLost):
                store.carry_out([SetServer("smtp", False, "written after losing the lease")], NOW)
            assert store.servers()["smtp"].detail == "sent under my lease"  # nothing of it landed
        finally:
            current.reset(token)
        store.carry_out([SetServer("smtp", False, "outside any part of the work")], NOW)  # no lease: no check
        assert store.servers()["smtp"].detail == "outside any part of the work"
    finally:
        store.close()


async def test_a_daemon_rides_out_a_database_that_stops_answering(postgres: PostgresDatabase,
                                                                  leases: Callable[[], Leases]) -> None:
    """The shared state out of reach: the daemon's parts lapse (it stops acting on them) and it keeps trying; when
    the state answers again it takes its parts back — it never stops on it."""
    from urllib.parse import urlsplit

    from tests.faultproxy import FaultProxy

    leases()  # the database migrated
    proxy = FaultProxy(urlsplit(postgres.url).port or 5432).start()
    url = postgres.url.replace(f":{urlsplit(postgres.url).port}/", f":{proxy.port}/")
    pool = open_pool(url, Secret(postgres.password), max_size=4, timeout=2)
    shared, stop = Shared(Leases(pool), TTL), asyncio.Event()
    task = asyncio.create_task(shared.keep(stop, lambda: None))
    try:
        await until(lambda: shared.holding() == EVERY_PART, timeout=10)
        proxy.mode = "reset"  # new connections refused ...
        with postgres.connect(autocommit=True) as admin:  # ... and the ones it has cut, as a failover would
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = "
                          "'deadlinewatch' AND pid <> pg_backend_pid() AND datname = current_database()")
        await until(lambda: shared.holding() == (), timeout=TTL.total_seconds() + 2)
        assert not task.done()  # it rides it out
        proxy.mode = "pass"
        await until(lambda: shared.holding() == EVERY_PART, timeout=TTL.total_seconds() * 3)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)
        pool.close()
        proxy.stop()


async def test_a_daemon_paused_between_its_claim_and_the_data_sends_nothing(postgres: PostgresDatabase,
                                                                            leases: Callable[[], Leases]) -> None:
    """The outbox claims a message (`sending`) under its lease, then talks SMTP. Paused in between past the lease
    (another daemon took the outbox, found no archive copy and sent the message itself), it must not send it a
    second time when it wakes: the lease is checked once the envelope is accepted, right before DATA."""
    from deadlinewatch.adapters.mailer import SmtpMailer, SmtpSettings
    from deadlinewatch.adapters.store.postgres.store import PostgresStore
    from deadlinewatch.coordination import current
    from deadlinewatch.credentials import ServerAccount
    from deadlinewatch.demo.servers import SmtpSink
    from deadlinewatch.errors import LeaseLost
    from deadlinewatch.stages.outbox import still_ours

    store = PostgresStore.connect(postgres.url, Secret(postgres.password))
    sink = SmtpSink(users={"pm@studio.example": "pw"}).start()
    mailer = SmtpMailer(SmtpSettings("127.0.0.1", sink.port, "none", ServerAccount("pm@studio.example", Secret("pw"))))
    message = b"From: pm@studio.example\r\nTo: client@example.com\r\nSubject: news\r\n\r\nhello\r\n"
    a, b = leases(), leases()
    try:
        mine = a.acquire(a.register(), "outbox", dt.timedelta(seconds=1))
        assert mine is not None
        token = current.set(mine)
        try:
            await mailer.send("pm@studio.example", ["client@example.com"], message,
                              before_data=lambda: still_ours(store))
            assert len(sink.messages) == 1  # while the lease holds, the message goes
            await asyncio.sleep(1.2)  # paused past its lease, and another daemon has the outbox now
            assert b.acquire(b.register(), "outbox", TTL) is not None
            with pytest.raises(LeaseLost):
                await mailer.send("pm@studio.example", ["client@example.com"], message,
                                  before_data=lambda: still_ours(store))
            assert len(sink.messages) == 1  # the envelope was given, the message was not
        finally:
            current.reset(token)
    finally:
        sink.stop()
        store.close()
