"""Which daemon does which part of the work, when several share one state (`daemon.database`, PostgreSQL).

The work comes in parts, one lease each (adapters/store/postgres/leases.py): the mailbox (reading it, and IDLE on
it), the calendars, the evaluation (the client letters, the risk alerts, the weekly check-ins, the nudges) and the
outbox's sending. A daemon runs a worker only while it holds that worker's part; the lease of the run is
`current` while it runs, so every write the run makes checks first that the lease still holds (the PostgreSQL
store's transactions call `hold`), and a daemon paused or cut off past its lease writes and sends nothing.

A lease lasts 0.6 of `poll_seconds` and is renewed every third of that; at each renewal a daemon also takes parts
nobody holds, up to its share (the parts divided by the daemons alive), and hands over what it holds beyond it, so
that two daemons divide the work rather than one doing it all while the other waits; a part nobody took for a
lease's time is anyone's. A dead daemon's parts are free within a lease. A stopping daemon gives each part up as
soon as its worker is done, and says so on a channel: the others, listening, take them within a second.

With SQLite — one daemon over one file, behind its state lock — the daemon holds everything (`Solo`).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime as dt
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from deadlinewatch.adapters.store.postgres.connection import Pool
    from deadlinewatch.adapters.store.postgres.leases import Daemon, Lease, Leases

log = logging.getLogger(__name__)

# the channel on which a daemon wakes workers whose parts another holds ("<daemon id>:<worker>,<worker>")
WAKE = "deadlinewatch_wake"

# the part of the work each worker does (workers.py): a worker runs only while its daemon holds it
PARTS = {"inbox": "mailbox", "calendar": "calendars", "evaluator": "evaluation", "outbox": "outbox"}

# the lease the running step works under (None: the daemon is alone with its state): what the PostgreSQL store's
# write transactions check first. A context variable, so the threads a step starts (asyncio.to_thread copies the
# context) carry it too
current: contextvars.ContextVar[Lease | None] = contextvars.ContextVar("deadlinewatch_lease", default=None)

LEASE_SHARE = 0.6  # a lease lasts this share of poll_seconds: a dead daemon's part is taken within 0.8 of a poll
RENEWALS_PER_LEASE = 3  # a lease is renewed this often within its time: two renewals may fail before it runs out
SAFETY = 0.2  # a holder stops counting on its lease this share of the lease's time before the database would


@dataclass(frozen=True)
class Running:
    """A running daemon as `status` shows it (CONTRACT.md's `daemons`): what it holds of the work."""

    id: int
    host: str
    pid: int
    last_seen: dt.datetime
    holds: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "host": self.host, "pid": self.pid, "last_seen": self.last_seen.isoformat(),
                "holds": list(self.holds)}


class Coordination(Protocol):
    """What the workers ask: may this daemon do this part now, and under which lease; and who runs."""

    def holds(self, part: str) -> bool: ...
    def lease(self, part: str) -> Lease | None: ...
    def holding(self) -> tuple[str, ...]: ...
    def daemons(self) -> Sequence[Running]: ...
    def wake_others(self, workers: Sequence[str]) -> None: ...
    def give_up(self, part: str) -> None:
        """A stopping daemon's worker has ended: its part is another's at once, not when every worker has."""
        ...
    async def keep(self, stop: asyncio.Event, changed: Callable[[], None],
                   woken: Callable[[Sequence[str]], None] = lambda workers: None) -> None: ...


class Solo:
    """One daemon with its state to itself (SQLite): every part is its own, and nothing needs keeping."""

    def holds(self, part: str) -> bool:
        return True

    def lease(self, part: str) -> Lease | None:
        return None

    def holding(self) -> tuple[str, ...]:
        return tuple(sorted(PARTS.values()))

    def daemons(self) -> Sequence[Running]:
        """This daemon alone (its state lock keeps any other out)."""
        return [Running(1, socket.gethostname(), os.getpid(), dt.datetime.now(dt.UTC), self.holding())]

    def wake_others(self, workers: Sequence[str]) -> None:
        """No other daemon to wake."""

    def give_up(self, part: str) -> None:
        """Nobody to give it to."""

    async def keep(self, stop: asyncio.Event, changed: Callable[[], None],
                   woken: Callable[[Sequence[str]], None] = lambda workers: None) -> None:
        await stop.wait()


def wake(pool: Pool, workers: Sequence[str], sender: int = 0) -> None:
    """Wake these workers on whichever daemon holds their parts, over the database's channel: "sender:workers",
    as Shared._listen reads it (a daemon ignores its own; 0, no daemon's: `approve` where none runs)."""
    with pool.connection(timeout=2) as conn:
        conn.execute("SELECT pg_notify(%s, %s)", (WAKE, f"{sender}:{','.join(workers)}"))


def lease_time(poll_seconds: int) -> dt.timedelta:
    """How long a lease lasts: taken over, after a daemon dies, within its time and one renewal of the taker's —
    LEASE_SHARE × (1 + 1/RENEWALS_PER_LEASE) of a poll, within one poll as CONTRACT.md promises."""
    return dt.timedelta(seconds=max(poll_seconds * LEASE_SHARE, 3.0))


def running(database: str, store: object, poll_seconds: int) -> Sequence[Running]:
    """The daemons alive on the shared state at `database` (seen within a lease's time), read without being one of
    them (`status` and `once` without a daemon of their own); none on a SQLite state (database ""), which a running
    daemon locks."""
    if not database:
        return []
    from deadlinewatch.adapters.store.postgres.leases import Leases
    from deadlinewatch.adapters.store.postgres.store import PostgresStore

    assert isinstance(store, PostgresStore)  # open_state opens PostgreSQL for a database URL

    alive = Leases(store.pool).daemons()
    seen_since = dt.datetime.now(dt.UTC) - lease_time(poll_seconds)
    return [Running(d.id, d.host, d.pid, d.last_seen, d.holds) for d in alive if d.last_seen >= seen_since]


class Shared:
    """A daemon among others over one PostgreSQL state: it registers, beats its heartbeat, keeps the leases it
    holds, takes the free ones, hears at once when another gives its up, and gives its own up when it stops."""

    def __init__(self, leases: Leases, ttl: dt.timedelta, listen: Callable[[], object] | None = None,
                 every_part: bool = False) -> None:
        self.leases = leases
        self.ttl = ttl
        # `once`: it takes every part as it comes free and hands none over (a daemon's share is the parts divided
        # by the daemons alive): the pass it runs must be the only one at work on the shared state
        self.every_part = every_part
        self.listen = listen  # a connection of its own to LISTEN on (None: the pool's, borrowed for it)
        self.daemon: Daemon | None = None
        self._held: dict[str, tuple[Lease, float]] = {}  # part → (lease, until when it counts, monotonic)
        self._free_since: dict[str, float] = {}  # part → since when this daemon has seen nobody take it (monotonic)
        self._given_up: set[str] = set()  # parts a stopping daemon handed over: never taken again by it
        self._lock = threading.Lock()

    # --- what the workers ask ----------------------------------------------------------------------------------

    def holds(self, part: str) -> bool:
        return self.lease(part) is not None

    def lease(self, part: str) -> Lease | None:
        """The lease of `part` while it counts: renewed in time, and not within SAFETY of its end by this
        machine's clock (the database's decides; ours only ever gives up early)."""
        with self._lock:
            held = self._held.get(part)
        return held[0] if held is not None and time.monotonic() < held[1] else None

    def holding(self) -> tuple[str, ...]:
        return tuple(sorted(p for p in PARTS.values() if self.holds(p)))

    def give_up(self, part: str) -> None:
        """A stopping daemon's worker has ended: its part's lease given up now and said on the channel, so another
        daemon takes it within a second — not once the slowest of this daemon's workers has ended too."""
        with self._lock:
            first = not self._given_up
            self._given_up.add(part)
            held = self._held.pop(part, None)
        if first and self.daemon is not None:
            with contextlib.suppress(Exception):  # unmarked, it still gives its parts up (the others take them later)
                self.leases.stopping(self.daemon)  # the others count this daemon out: they take what it gives up
        if held is not None:
            with contextlib.suppress(Exception):  # a state that is gone frees it by its expiry
                self.leases.release(held[0])

    def daemons(self) -> Sequence[Running]:
        """Every daemon registered on the shared state, with the unexpired leases it holds (the database's view)."""
        return [Running(d.id, d.host, d.pid, d.last_seen, d.holds) for d in self.leases.daemons()]

    def wake_others(self, workers: Sequence[str]) -> None:
        """Wake these workers on whichever daemon holds their parts (a note read here, the evaluation there: the
        client hears at once, not at the other's next poll). A notification, one short statement."""
        if self.daemon is None or not workers:
            return
        try:
            wake(self.leases.pool, workers, self.daemon.id)
        except Exception as e:  # they run at their next poll all the same
            log.info("daemon %d: could not wake %s on the others (%s)", self.daemon.id, ", ".join(workers), e)

    # --- keeping them ------------------------------------------------------------------------------------------

    async def keep(self, stop: asyncio.Event, changed: Callable[[], None],
                   woken: Callable[[Sequence[str]], None] = lambda workers: None) -> None:
        """Until `stop`: renew, take what is free, and tell `changed` when what this daemon holds changed, and
        `woken` which workers another daemon wakes; on stop, give everything up at once."""
        released = asyncio.Event()
        loop = asyncio.get_running_loop()
        pause = self.ttl.total_seconds() / RENEWALS_PER_LEASE
        while self.daemon is None:  # the shared state may be out of reach at first: this daemon holds nothing till then
            try:
                self.daemon = await asyncio.to_thread(self.leases.register)
            except Exception as e:
                log.warning("daemon: the shared state does not answer (%s); trying again in %.0f s", e, pause)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=pause)
                if stop.is_set():
                    return
        log.info("daemon %d registered on the shared state; taking its parts of the work", self.daemon.id)
        listener = threading.Thread(target=self._listen, args=(loop, released, stop, woken), daemon=True,
                                    name="deadlinewatch-leases")
        listener.start()
        told: tuple[str, ...] = ()  # what `changed` was last told this daemon holds
        out_of_reach = False
        try:
            while not stop.is_set():
                try:
                    await asyncio.to_thread(self._round)
                    if out_of_reach:
                        log.info("daemon %d: the shared state answers again", self.daemon.id)
                    out_of_reach = False
                except Exception as e:  # its leases lapse by themselves: it holds nothing until the state answers
                    if not out_of_reach:
                        log.warning("daemon %d: the shared state does not answer (%s); its parts of the work lapse "
                                    "until it does", self.daemon.id, e)
                    out_of_reach = True
                if (now := self.holding()) != told:  # a round's doing, or leases that lapsed while it was paused
                    log.info("daemon %d holds %s", self.daemon.id, ", ".join(now) or "nothing")
                    told = now
                    changed()
                released.clear()
                waiters = {asyncio.create_task(stop.wait()), asyncio.create_task(released.wait())}
                _, pending = await asyncio.wait(waiters, timeout=self.ttl.total_seconds() / RENEWALS_PER_LEASE,
                                                return_when=asyncio.FIRST_COMPLETED)
                for waiter in pending:
                    waiter.cancel()
        finally:
            with self._lock:
                self._held.clear()
            if self.daemon is not None:
                with contextlib.suppress(Exception):  # a state that is gone frees the leases by their expiry
                    given = await asyncio.to_thread(self.leases.stop, self.daemon)
                    log.info("daemon %d stopped: %d parts of the work given up", self.daemon.id, given)

    def _round(self) -> None:
        """One renewal: heartbeat, the dead reaped (their leases free at once), each part renewed, taken while this
        daemon holds less than its share (or nobody took it for a lease's time), or handed over beyond it."""
        from deadlinewatch.errors import LeaseLost

        assert self.daemon is not None  # registered in keep() first
        if not self.leases.heartbeat(self.daemon):  # reaped as dead while paused: start over
            with self._lock:
                self._held.clear()
            self.daemon = self.leases.register()
        self.leases.reap(self.ttl)
        alive = max(sum(1 for d in self.leases.daemons() if not d.stopping), 1)
        # the parts divided by the daemons alive and not stopping, rounded up (all of them for `once`)
        share = len(PARTS) if self.every_part else -(-len(PARTS) // alive)
        for part in sorted(PARTS.values()):
            with self._lock:
                if self._given_up and part not in self._held:
                    continue  # stopping: it keeps what its running workers hold, and takes nothing
                held = self._held.get(part)
                mine = sum(1 for p in self._held if p != part)
            started = time.monotonic()
            try:
                lease = self.leases.renew(held[0], self.ttl) if held is not None else None
                if lease is not None and mine >= share:  # beyond its share: another daemon takes it now
                    self.leases.release(lease)
                    lease = None
                elif lease is None and (mine < share or started - self._free_since.setdefault(part, started)
                                        >= self.ttl.total_seconds()):
                    lease = self.leases.acquire(self.daemon, part, self.ttl)
            except LeaseLost:
                lease = None
            with self._lock:
                if lease is None:
                    self._held.pop(part, None)
                else:
                    self._held[part] = (lease, started + self.ttl.total_seconds() * (1 - SAFETY))
                    self._free_since.pop(part, None)

    def _listen(self, loop: asyncio.AbstractEventLoop, released: asyncio.Event, stop: asyncio.Event,
                woken: Callable[[Sequence[str]], None]) -> None:
        """LISTEN for leases given up (the keeper takes them at once) and for workers another daemon wakes (in a
        thread: psycopg's notifications block)."""
        from deadlinewatch.adapters.store.postgres.leases import RELEASED

        said = False
        while not stop.is_set():
            try:
                with self.leases.pool.connection() as conn:
                    conn.autocommit = True
                    conn.execute(f"LISTEN {RELEASED}")
                    conn.execute(f"LISTEN {WAKE}")
                    said = False
                    while not stop.is_set():
                        for note in conn.notifies(timeout=1.0, stop_after=1):
                            if note.channel == RELEASED:
                                loop.call_soon_threadsafe(released.set)
                                continue
                            sender, _, names = note.payload.partition(":")
                            if self.daemon is None or sender != str(self.daemon.id):
                                loop.call_soon_threadsafe(woken, tuple(n for n in names.split(",") if n in PARTS))
            except Exception as e:  # meanwhile the renewals still take free parts, and workers run at their polls
                if not said:
                    log.warning("daemon: not listening to the other daemons (%s); listening again in a second", e)
                    said = True
                time.sleep(1.0)
