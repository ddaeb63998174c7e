"""Daemons and leases as rows: who is running, and which daemon does which part of the work, by the database's
clock (the shape of Synapse's worker_locks, with a daemons table as Oban's peers).

A daemon registers a row and renews its `last_seen` on a timer; one whose heartbeat is older than the timeout is
dead, by the database's `now()`, whatever the clocks of the machines say. A lease is one daemon's right to one
part of the work (a mailbox, a project's calendar, the outbox) until it expires. Acquiring is one statement that
inserts the lease or takes over an expired one; every holder gets a new random token, so a daemon that was
paused or cut off past its lease finds out by the token — `hold()`, the first statement of each write transaction
made under a lease, refuses to go on. A stopping daemon gives all its leases up at once (and says so on a
channel), so another takes over on its next try, not when the leases run out.

Leases, not session advisory locks: a session lock breaks behind PgBouncer's transaction pooling, and outlives a
crashed host until the server notices the connection is gone. The calls are synchronous, made from the daemon's
worker threads through the pool; each is one short transaction of its own.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import socket
from dataclasses import dataclass

import psycopg
from psycopg.rows import TupleRow

from deadlinewatch.adapters.store.postgres.connection import Pool
from deadlinewatch.errors import LeaseLost

# LISTEN on this channel to hear, at once, that a stopping daemon gave its leases up (the payload: its id)
RELEASED = "deadlinewatch_leases_released"

_LEASE = "name, holder, token, expires"
_DAEMON = "id, host, pid, started, last_seen"


@dataclass(frozen=True)
class Daemon:
    """A running daemon as the database sees it; `holds` names the leases it held, unexpired, when read."""

    id: int
    host: str
    pid: int
    started: dt.datetime
    last_seen: dt.datetime
    holds: tuple[str, ...] = ()
    stopping: bool = False  # it hands its parts over as its workers end: out of the division of the work


@dataclass(frozen=True)
class Lease:
    """One daemon's right to one part of the work until `expires` (the database's clock); `token` is this
    holding's own: the same name held again, by anyone, has another."""

    name: str
    holder: int
    token: str
    expires: dt.datetime


def _lease(row: TupleRow | None) -> Lease | None:
    return Lease(*row) if row is not None else None


def hold(conn: psycopg.Connection[TupleRow], lease: Lease) -> None:
    """The first statement of a write transaction made under `lease`: it goes on only while the lease is this
    holding's (by token) and unexpired; else LeaseLost, and the caller's transaction rolls back.

    The lease row is share-locked until the transaction ends, so nobody takes it over while the write is under
    way (a takeover waits for the commit, and so does the holder's own renewal: keep such writes short). And
    should the holder stall inside the transaction (a paused process, a cut-off host), the server ends its session
    when the lease would have run out: the row lock goes with it, the takeover proceeds, and the stalled write
    never commits."""
    if conn.autocommit and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
        raise ValueError("hold() checks a lease for the transaction it begins: call it inside one")
    row = conn.execute(
        "SELECT set_config('idle_in_transaction_session_timeout',"
        "                  greatest(1, ceil(extract(epoch FROM expires - now()) * 1000))::bigint::text, true)"
        " FROM leases WHERE name = %s AND token = %s AND expires > now() FOR SHARE",
        (lease.name, lease.token)).fetchone()
    if row is None:
        raise LeaseLost(f"the lease {lease.name!r} is no longer this daemon's (expired, or taken over)")


class Leases:
    """The daemons and leases of one shared state, through its pool."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    def register(self, host: str | None = None, pid: int | None = None) -> Daemon:
        """This daemon's row, started and last seen now (the database's now)."""
        with self.pool.connection() as conn:
            row = conn.execute(f"INSERT INTO daemons (host, pid) VALUES (%s, %s) RETURNING {_DAEMON}",
                               (host or socket.gethostname(), os.getpid() if pid is None else pid)).fetchone()
        assert row is not None  # INSERT … RETURNING returns the row it inserted
        return Daemon(*row)

    def heartbeat(self, daemon: Daemon) -> bool:
        """Seen now. False when its row is gone — reaped as dead: it holds nothing and must register again."""
        with self.pool.connection() as conn:
            return conn.execute("UPDATE daemons SET last_seen = now() WHERE id = %s", (daemon.id,)).rowcount == 1

    def acquire(self, daemon: Daemon, name: str, ttl: dt.timedelta) -> Lease | None:
        """The lease `name` for `ttl` when it is free or expired, with a new token; None while another holds it
        (or this daemon holds it already: renew() keeps a lease)."""
        try:
            with self.pool.connection() as conn:
                return _lease(conn.execute(
                    "INSERT INTO leases (name, holder, token, expires) VALUES (%s, %s, %s, now() + %s)"
                    " ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, token = EXCLUDED.token,"
                    "                                  expires = EXCLUDED.expires"
                    " WHERE leases.expires < now()"
                    f" RETURNING {_LEASE}",
                    (name, daemon.id, secrets.token_urlsafe(16), ttl)).fetchone())
        except psycopg.errors.ForeignKeyViolation:
            raise LeaseLost(f"daemon {daemon.id} was reaped as dead: it takes no lease until it registers again") \
                from None

    def renew(self, lease: Lease, ttl: dt.timedelta) -> Lease | None:
        """The same holding for `ttl` more from now; None once it has expired or was taken over (a lease that ran
        out is not revived: its holder acquires anew, under a new token)."""
        with self.pool.connection() as conn:
            return _lease(conn.execute(
                "UPDATE leases SET expires = now() + %s WHERE name = %s AND token = %s AND expires > now()"
                f" RETURNING {_LEASE}", (ttl, lease.name, lease.token)).fetchone())

    def release(self, lease: Lease) -> bool:
        """One lease given up at once (this holding's, by token), said on RELEASED for another to take: a daemon
        that holds more than its share of the work hands the rest over. Waits for a write still made under it
        (hold() share-locks the row); False when it was no longer this holding's."""
        with self.pool.connection() as conn:
            gone = conn.execute("DELETE FROM leases WHERE name = %s AND token = %s",
                                (lease.name, lease.token)).rowcount == 1
            conn.execute("SELECT pg_notify(%s, %s)", (RELEASED, str(lease.holder)))
        return gone

    def stop(self, daemon: Daemon) -> int:
        """A stopping daemon's leases given up at once and its row gone, in one transaction; how many leases it
        held. Whoever listens on RELEASED hears it when this commits."""
        with self.pool.connection() as conn:
            released = conn.execute("DELETE FROM leases WHERE holder = %s", (daemon.id,)).rowcount
            conn.execute("DELETE FROM daemons WHERE id = %s", (daemon.id,))
            conn.execute("SELECT pg_notify(%s, %s)", (RELEASED, str(daemon.id)))
        return released

    def daemons(self) -> list[Daemon]:
        """Every registered daemon, oldest first, each with the names of the unexpired leases it holds."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT d.id, d.host, d.pid, d.started, d.last_seen,"
                "       coalesce(array_agg(l.name ORDER BY l.name) FILTER (WHERE l.name IS NOT NULL), '{}'),"
                "       d.stopping"
                " FROM daemons d LEFT JOIN leases l ON l.holder = d.id AND l.expires > now()"
                " GROUP BY d.id ORDER BY d.id").fetchall()
        return [Daemon(row[0], row[1], row[2], row[3], row[4], tuple(row[5]), row[6]) for row in rows]

    def stopping(self, daemon: Daemon) -> None:
        """A daemon begins to stop: the others count it out of the division of the work from now on (they take
        each part it gives up at once), and hear it on RELEASED."""
        with self.pool.connection() as conn:
            conn.execute("UPDATE daemons SET stopping = true WHERE id = %s", (daemon.id,))
            conn.execute("SELECT pg_notify(%s, %s)", (RELEASED, str(daemon.id)))

    def dead(self, timeout: dt.timedelta) -> list[Daemon]:
        """The daemons not seen for longer than `timeout`, by the database's clock."""
        with self.pool.connection() as conn:
            rows = conn.execute(f"SELECT {_DAEMON} FROM daemons WHERE last_seen < now() - %s ORDER BY id",
                                (timeout,)).fetchall()
        return [Daemon(*row) for row in rows]

    def reap(self, timeout: dt.timedelta) -> list[Daemon]:
        """The dead daemons' rows removed, and with them their leases, expired or not: their work is free for the
        others now, not when each lease runs out."""
        with self.pool.connection() as conn:
            rows = conn.execute(f"DELETE FROM daemons WHERE last_seen < now() - %s RETURNING {_DAEMON}",
                                (timeout,)).fetchall()
        return sorted((Daemon(*row) for row in rows), key=lambda d: d.id)
