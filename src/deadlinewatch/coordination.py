"""Which daemon does which part of the work, when several share one state (`daemon.database`, PostgreSQL).

The work comes in parts, one lease each (adapters/store/postgres/leases.py): the mailbox (reading it, and IDLE on
it), the calendars, the evaluation (the client letters, the risk alerts, the weekly check-ins, the nudges) and the
outbox's sending. A daemon runs a worker only while it holds that worker's part; the lease of the run is
`current` while it runs, so every write the run makes checks first that the lease still holds (the PostgreSQL
store's transactions call `hold`), and a daemon paused or cut off past its lease writes and sends nothing.

A lease lasts `poll_seconds` (a dead daemon's parts are free within one poll) and is renewed every third of that;
each daemon also tries, at each renewal, the parts nobody holds. A stopping daemon gives its parts up at once and
says so on a channel: the others, listening, take them within a second, not when the leases would have run out.

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
    from deadlinewatch.adapters.store.postgres.leases import Daemon, Lease, Leases

log = logging.getLogger(__name__)

# the part of the work each worker does (workers.py): a worker runs only while its daemon holds it
PARTS = {"inbox": "mailbox", "calendar": "calendars", "evaluator": "evaluation", "outbox": "outbox"}

# the lease the running step works under (None: the daemon is alone with its state): what the PostgreSQL store's
# write transactions check first. A context variable, so the threads a step starts (asyncio.to_thread copies the
# context) carry it too
current: contextvars.ContextVar[Lease | None] = contextvars.ContextVar("deadlinewatch_lease", default=None)

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
    async def keep(self, stop: asyncio.Event, changed: Callable[[], None]) -> None: ...


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

    async def keep(self, stop: asyncio.Event, changed: Callable[[], None]) -> None:
        await stop.wait()


class Shared:
    """A daemon among others over one PostgreSQL state: it registers, beats its heartbeat, keeps the leases it
    holds, takes the free ones, hears at once when another gives its up, and gives its own up when it stops."""

    def __init__(self, leases: Leases, ttl: dt.timedelta, listen: Callable[[], object] | None = None) -> None:
        self.leases = leases
        self.ttl = ttl
        self.listen = listen  # a connection of its own to LISTEN on (None: the pool's, borrowed for it)
        self.daemon: Daemon | None = None
        self._held: dict[str, tuple[Lease, float]] = {}  # part → (lease, until when it counts, monotonic)
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

    def daemons(self) -> Sequence[Running]:
        """Every daemon registered on the shared state, with the unexpired leases it holds (the database's view)."""
        return [Running(d.id, d.host, d.pid, d.last_seen, d.holds) for d in self.leases.daemons()]

    # --- keeping them ------------------------------------------------------------------------------------------

    async def keep(self, stop: asyncio.Event, changed: Callable[[], None]) -> None:
        """Until `stop`: renew, take what is free, and tell `changed` when what this daemon holds changed; on stop,
        give everything up at once."""
        released = asyncio.Event()
        loop = asyncio.get_running_loop()
        self.daemon = await asyncio.to_thread(self.leases.register)
        log.info("daemon %d registered on the shared state; taking its parts of the work", self.daemon.id)
        listener = threading.Thread(target=self._listen, args=(loop, released, stop), daemon=True,
                                    name="deadlinewatch-leases")
        listener.start()
        told: tuple[str, ...] = ()  # what `changed` was last told this daemon holds
        try:
            while not stop.is_set():
                await asyncio.to_thread(self._round)
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
        """One renewal: heartbeat, the dead reaped (their leases free at once), each part renewed or taken."""
        from deadlinewatch.adapters.store.postgres.leases import LeaseLost

        assert self.daemon is not None  # registered in keep() first
        if not self.leases.heartbeat(self.daemon):  # reaped as dead while paused: start over
            with self._lock:
                self._held.clear()
            self.daemon = self.leases.register()
        self.leases.reap(self.ttl)
        for part in PARTS.values():
            with self._lock:
                held = self._held.get(part)
            started = time.monotonic()
            try:
                lease = self.leases.renew(held[0], self.ttl) if held is not None else None
                if lease is None:
                    lease = self.leases.acquire(self.daemon, part, self.ttl)
            except LeaseLost:
                lease = None
            with self._lock:
                if lease is None:
                    self._held.pop(part, None)
                else:
                    self._held[part] = (lease, started + self.ttl.total_seconds() * (1 - SAFETY))

    def _listen(self, loop: asyncio.AbstractEventLoop, released: asyncio.Event, stop: asyncio.Event) -> None:
        """LISTEN for a stopping daemon's leases given up, and wake the keeper at once (in a thread: psycopg's
        notifications block)."""
        from deadlinewatch.adapters.store.postgres.leases import RELEASED

        try:
            with self.leases.pool.connection() as conn:
                conn.autocommit = True
                conn.execute(f"LISTEN {RELEASED}")
                while not stop.is_set():
                    for _ in conn.notifies(timeout=1.0, stop_after=1):
                        loop.call_soon_threadsafe(released.set)
        except Exception as e:  # the keeper's renewals still take free parts, a third of a lease later
            log.warning("daemon: not listening for released leases (%s); free parts are taken at the next renewal",
                        e)
