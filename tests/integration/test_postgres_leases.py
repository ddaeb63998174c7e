"""Daemons and leases on a real PostgreSQL: one holder at a time, takeover once a lease has run out (by the
database's clock), a holder that lost its lease writes nothing, a stopping daemon frees its leases at once, and a
dead daemon is found by its heartbeat's age."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest

from deadlinewatch.adapters.store.postgres.connection import open_pool
from deadlinewatch.adapters.store.postgres.leases import RELEASED, Lease, Leases, hold
from deadlinewatch.adapters.store.postgres.schema import migrate
from deadlinewatch.credentials import Secret
from deadlinewatch.errors import LeaseLost
from tests.postgres_server import PostgresDatabase

pytestmark = pytest.mark.integration

# long enough for the next statement to come in time on a loaded machine, short enough to wait out
SHORT = dt.timedelta(seconds=1)
LONG = dt.timedelta(hours=1)


@pytest.fixture
def leases(postgres: PostgresDatabase) -> Iterator[Leases]:
    with postgres.connect(autocommit=True) as conn:
        migrate(conn)
    pool = open_pool(postgres.url, Secret(postgres.password), max_size=10)
    try:
        yield Leases(pool)
    finally:
        pool.close()


def until(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.01)


def expired(leases: Leases, lease: Lease) -> Callable[[], bool]:
    """Whether the database's clock has passed the lease's expiry (the only clock leases go by)."""
    def check() -> bool:
        with leases.pool.connection() as conn:
            row = conn.execute("SELECT %s < now()", (lease.expires,)).fetchone()
            assert row is not None  # a SELECT without FROM: one row
            return bool(row[0])
    return check


def write_under(leases: Leases, lease: Lease, detail: str) -> None:
    """A write transaction made under a lease: the check first, then the change."""
    with leases.pool.connection() as conn, conn.transaction():
        hold(conn, lease)
        conn.execute("INSERT INTO servers VALUES (%s, 1, %s, '')", (detail, detail))


def written(leases: Leases) -> list[str]:
    with leases.pool.connection() as conn:
        return [name for (name,) in conn.execute("SELECT name FROM servers ORDER BY name")]


def test_of_daemons_competing_for_a_lease_exactly_one_holds_it(leases: Leases) -> None:
    competitors = [leases.register(pid=n) for n in range(8)]
    together = threading.Barrier(len(competitors))
    won: list[Lease | None] = []

    def compete(daemon_index: int) -> None:
        together.wait()
        won.append(leases.acquire(competitors[daemon_index], "mailbox:progress", LONG))

    threads = [threading.Thread(target=compete, args=(i,)) for i in range(len(competitors))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    holders = [lease for lease in won if lease is not None]
    assert len(won) == len(competitors) and len(holders) == 1
    assert leases.acquire(competitors[0], "mailbox:progress", LONG) is None  # held: no second holding, even its own
    assert [d.holds for d in leases.daemons() if d.holds] == [("mailbox:progress",)]


def test_an_expired_lease_is_taken_over_under_a_new_token(leases: Leases) -> None:
    a, b = leases.register(), leases.register()
    first = leases.acquire(a, "outbox", SHORT)
    assert first is not None
    renewed = leases.renew(first, SHORT)
    assert renewed is not None and renewed.token == first.token and renewed.expires > first.expires
    assert leases.acquire(b, "outbox", SHORT) is None
    until(expired(leases, renewed))
    taken = leases.acquire(b, "outbox", LONG)
    assert taken is not None and taken.holder == b.id and taken.token != first.token
    assert leases.renew(renewed, SHORT) is None  # the old holding is not revived


def test_a_holder_whose_lease_was_taken_over_writes_nothing(leases: Leases) -> None:
    a, b = leases.register(), leases.register()
    lost = leases.acquire(a, "project:acme-web", SHORT)
    assert lost is not None
    write_under(leases, lost, "a, in time")
    until(expired(leases, lost))
    taken = leases.acquire(b, "project:acme-web", LONG)
    assert taken is not None
    with pytest.raises(LeaseLost, match="project:acme-web"):
        write_under(leases, lost, "a, too late")
    write_under(leases, taken, "b")
    assert written(leases) == ["a, in time", "b"]


def test_a_holder_stalled_inside_its_write_is_cut_off_when_its_lease_runs_out(leases: Leases,
                                                                              postgres: PostgresDatabase) -> None:
    """A paused daemon in the middle of a write keeps the lease row share-locked: the server ends its session when
    the lease would have run out, so the takeover goes ahead and the stalled write never lands."""
    a, b = leases.register(), leases.register()
    lease = leases.acquire(a, "mailbox:progress", SHORT)
    assert lease is not None
    stalled = postgres.connect()
    try:
        stalled.execute("BEGIN")
        hold(stalled, lease)
        stalled.execute("INSERT INTO servers VALUES ('stalled', 1, '', '')")
        # the holder stalls here; the other daemon keeps trying, as it does on every poll
        taken: list[Lease] = []

        def taken_over() -> bool:
            lease = leases.acquire(b, "mailbox:progress", LONG)
            taken.extend([lease] if lease else [])
            return lease is not None

        until(taken_over)
        with pytest.raises(psycopg.errors.IdleInTransactionSessionTimeout):
            stalled.execute("COMMIT")
    finally:
        stalled.close()
    assert taken[0].holder == b.id
    assert written(leases) == []


def test_a_stopping_daemon_frees_its_leases_at_once(leases: Leases, postgres: PostgresDatabase) -> None:
    a, b = leases.register(), leases.register()
    for name in ("mailbox:progress", "project:acme-web", "outbox"):
        assert leases.acquire(a, name, LONG) is not None
    with postgres.connect(autocommit=True) as listener:
        listener.execute(f"LISTEN {RELEASED}")
        assert leases.stop(a) == 3
        heard = next(listener.notifies(timeout=5))
    assert (heard.channel, heard.payload) == (RELEASED, str(a.id))
    assert all(leases.acquire(b, name, LONG) for name in ("mailbox:progress", "project:acme-web", "outbox"))
    assert [(d.id, d.holds) for d in leases.daemons()] == [(b.id, ("mailbox:progress", "outbox", "project:acme-web"))]


def test_a_dead_daemon_is_found_by_its_heartbeat_on_the_databases_clock(leases: Leases) -> None:
    quiet, alive = leases.register(host="host-a"), leases.register(host="host-b")
    assert leases.acquire(quiet, "outbox", LONG) is not None
    timeout = dt.timedelta(milliseconds=300)
    assert leases.dead(timeout) == []

    def only_quiet_is_dead() -> bool:
        assert leases.heartbeat(alive)
        return [d.id for d in leases.dead(timeout)] == [quiet.id]

    until(only_quiet_is_dead)
    assert [d.id for d in leases.reap(timeout)] == [quiet.id]
    assert not leases.heartbeat(quiet)  # it learns it was declared dead
    with pytest.raises(LeaseLost, match="reaped"):
        leases.acquire(quiet, "outbox", LONG)
    assert leases.acquire(alive, "outbox", LONG) is not None  # its lease went with it, an hour early
