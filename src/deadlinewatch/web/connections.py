"""The web port's door: how many connections the pages may hold, for how long, and what the log says about the
ones turned away. The daemon's own work (IMAP, SMTP, CalDAV, SQLite, the control socket, the journal) must
never wait for a file descriptor because strangers hold the web port open.

- **Caps.** At most `caps_for(limit).total` connections at once: the process's descriptor limit less RESERVE
  for the servers, never more than CEILING; at most PER_ADDRESS from one address (an IPv6 /64 is one address:
  one subscriber has all of it). web.trusted_proxies are held to the total only: every browser behind the proxy
  shares its address. Beyond a cap a new connection is closed at once, unread, with a reset (nothing kept on
  either side); the kernel's backlog, not the daemon, holds whatever waits to be accepted.
- **Time.** A connection's request line and headers within HEADER_SECONDS of connecting, in all however
  steadily it trickles (after an answer, aiohttp's keep-alive timeout gives the next request the same); a body
  within BODY_SECONDS (server.py reads it); a client that takes none of its answer for STALL_SECONDS is cut off.
- **Log.** One line when a condition starts, then at most one a minute with the count (`Tally`), never a line or
  a traceback per connection. Out of descriptors on accept (EMFILE) pauses accepting for ACCEPT_PAUSE and is
  counted like a refusal.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import resource
import socket
import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

HEADER_SECONDS = 10.0  # a request's line and headers are a few hundred bytes: a proxy sends them at once
BODY_SECONDS = 30.0  # the pages' forms are a few hundred bytes, 64 KiB at most (client_max_size)
STALL_SECONDS = 30.0  # an answer the client stops taking: no progress for this long
PER_ADDRESS = 32  # a browser opens 6 connections to a site; this leaves room for a few behind one NAT
CEILING = 4096  # connections in all, whatever the limit: a manager's pages and the clients' feeds
RESERVE = 256  # descriptors the web port never takes: IMAP (two), SMTP, CalDAV, SQLite and its WAL, the
# control socket and its clients, the journal, the metrics port, the files the letters and pages are made from
BACKLOG = 128
ACCEPT_PAUSE = 0.5  # out of descriptors: try again this much later (the connection waits in the backlog)
REPORT_SECONDS = 60.0
_YIELD_EVERY = 64  # refusals in a row before the accept loop lets the workers run
_NO_DESCRIPTOR = (errno.EMFILE, errno.ENFILE)


@dataclass(frozen=True)
class Caps:
    """The web port's share of the process's descriptors."""

    total: int
    per_address: int
    limit: int  # the descriptor limit they were made from


def caps_for(limit: int) -> Caps:
    """All but RESERVE of `limit` descriptors, at most CEILING; a small limit keeps three quarters of itself for
    the servers. `limit` < 0 is RLIM_INFINITY."""
    if limit < 0:
        return Caps(CEILING, PER_ADDRESS, limit)
    total = max(1, min(CEILING, max(limit - RESERVE, limit // 4)))
    return Caps(total, min(PER_ADDRESS, total), limit)


def raise_descriptor_limit() -> int:
    """The soft RLIMIT_NOFILE raised to the hard one where that is allowed (never lowered); the limit in force.
    Under the unit, setrlimit is refused (SystemCallFilter=~@resources) and LimitNOFILE= has set it already."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = 65536 if hard == resource.RLIM_INFINITY else hard  # Linux refuses an infinite descriptor limit
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (OSError, ValueError) as e:
            log.debug("web: the descriptor limit stays at %d (%s)", soft, e)
        else:
            soft = target
    return soft


def client_key(address: str) -> str:
    """What the per-address cap counts: an IPv4 address as it is, an IPv6 one by its /64."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])  # a link-local address's zone is not part of it
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class Admission:
    """The connections open, in all and by address; whether one more may come in."""

    def __init__(self, caps: Caps) -> None:
        self.caps = caps
        self.total = 0
        self.by_key: Counter[str] = Counter()

    def admit(self, key: str, exempt: bool = False) -> str | None:
        """None, and the connection counted; or why not: "total" or "address" (never for an exempt one)."""
        if self.total >= self.caps.total:
            return "total"
        if not exempt and self.by_key[key] >= self.caps.per_address:
            return "address"
        self.total += 1
        self.by_key[key] += 1
        return None

    def release(self, key: str) -> None:
        self.total -= 1
        self.by_key[key] -= 1
        if self.by_key[key] <= 0:
            del self.by_key[key]


@dataclass(frozen=True)
class Report:
    """A line to log: the first of a condition (said at once), or the count since the last line."""

    condition: str
    count: int
    seconds: float  # the time the count covers (0 for the first)
    who: tuple[tuple[str, int], ...]  # whom it concerned, the most frequent first
    first: bool


@dataclass
class _Window:
    said: float
    count: int = 0
    who: Counter[str] = field(default_factory=Counter)


class Tally:
    """Counts what happens at the door by condition and says each at most once a period: its first event at
    once, then the count of the period just past, until a quiet period ends it (the next event is said at once
    again). Times are the caller's clock: the tally itself never reads one."""

    def __init__(self, period: float = REPORT_SECONDS) -> None:
        self.period = period
        self._windows: dict[str, _Window] = {}

    def count(self, condition: str, now: float, who: str = "") -> Report | None:
        """One event; the report to say now when it is the first, else None (it is counted for later)."""
        window = self._windows.get(condition)
        if window is None:
            self._windows[condition] = _Window(now)
            return Report(condition, 1, 0.0, ((who, 1),) if who else (), True)
        window.count += 1
        if who:
            window.who[who] += 1
        return None

    def due(self, now: float) -> list[Report]:
        """The reports of the periods that have ended by `now`; a condition quiet for a whole period is closed."""
        out = []
        for condition, window in list(self._windows.items()):
            if now - window.said < self.period:
                continue
            if window.count:
                out.append(self._summary(condition, window, now))
                self._windows[condition] = _Window(now)
            else:
                del self._windows[condition]
        return out

    def flush(self, now: float) -> list[Report]:
        """What is counted and not yet said (at shutdown)."""
        out = [self._summary(c, w, now) for c, w in self._windows.items() if w.count]
        self._windows.clear()
        return out

    def next_due(self) -> float | None:
        return min((w.said + self.period for w in self._windows.values()), default=None)

    @staticmethod
    def _summary(condition: str, window: _Window, now: float) -> Report:
        return Report(condition, window.count, now - window.said, tuple(window.who.most_common()), False)


def describe(report: Report, caps: Caps) -> str:
    """The log line for a report."""
    n, who = report.count, report.who
    period = "in the last minute" if report.seconds >= REPORT_SECONDS - 1 else f"in the last {report.seconds:.0f} s"
    many = f"{n:,} connection{'s' if n != 1 else ''} refused {period}"
    then = " (any more are counted and reported once a minute)"
    if report.condition == "total":
        why = f"the cap of {caps.total:,} connections at once was reached"
        return f"web: a connection refused: {why}{then}" if report.first else f"web: {many}: {why}"
    if report.condition == "address":
        why = f"the cap of {caps.per_address} connections from one address was reached"
        if report.first:
            return f"web: a connection from {who[0][0]} refused: {why}{then}"
        top = f"; the most from {who[0][0]}: {who[0][1]:,}" if who else ""
        return f"web: {many}: {why} ({len(who):,} address{'es' if len(who) != 1 else ''}{top})"
    if report.condition == "descriptors":
        why = f"the process has no file descriptor left (its limit is {caps.limit:,})"
        if report.first:
            return f"web: accepting paused for {ACCEPT_PAUSE:g} s: {why}{then}"
        return f"web: accepting paused {n:,} more time{'s' if n != 1 else ''} {period}: {why}"
    what = ", ".join(w for w, _ in who[:3]) or "unknown"
    if report.first:
        return f"web: a connection could not be accepted or set up: {what}{then}"
    return f"web: {n:,} more connection{'s' if n != 1 else ''} could not be accepted or set up {period}: {what}"


class Door:
    """The listening sockets of web.listen and the connections let in through them, each handed to aiohttp's
    protocol (`protocol()` makes one) inside a `_Connection` that keeps the deadlines."""

    def __init__(self, protocol: Callable[[], asyncio.Protocol], caps: Caps, exempt: Callable[[str], bool]) -> None:
        self.protocol = protocol
        self.caps = caps
        self.exempt = exempt  # whether an address is held to the total cap only (a trusted proxy)
        self.admission = Admission(caps)
        self.tally = Tally()
        self._listeners: dict[socket.socket, asyncio.Task[None]] = {}
        self._connections: dict[asyncio.BaseTransport, _Connection] = {}
        self._timer: asyncio.TimerHandle | None = None

    async def open(self, host: str, port: int) -> None:
        """Listen on every address `host` names; OSError when one cannot be had (none is kept then)."""
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        sockets: list[socket.socket] = []
        try:
            for family, kind, proto, _, address in dict.fromkeys(infos):
                sock = socket.socket(family, kind, proto)
                sockets.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind(address)
                sock.listen(BACKLOG)
                sock.setblocking(False)
        except OSError:
            for sock in sockets:
                sock.close()
            raise
        for sock in sockets:
            task = loop.create_task(self._accept(sock), name=f"web accept {sock.getsockname()}")
            task.add_done_callback(self._stopped)
            self._listeners[sock] = task

    async def shut(self) -> None:
        """Stop listening; the connections let in stay (web.listen moved)."""
        listeners, self._listeners = self._listeners, {}
        for task in listeners.values():
            task.cancel()
        for sock, task in listeners.items():
            with contextlib.suppress(asyncio.CancelledError):
                await task
            sock.close()

    async def close(self) -> None:
        """Stop listening and say what is still counted; aiohttp's runner closes the connections."""
        await self.shut()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for report in self.tally.flush(asyncio.get_running_loop().time()):
            log.warning("%s", describe(report, self.caps))

    def received(self, transport: asyncio.BaseTransport | None) -> None:
        """A request's line and headers have come in on this connection (server.py's middleware says so)."""
        connection = self._connections.get(transport) if transport is not None else None
        if connection is not None:
            connection.received()

    @property
    def open_connections(self) -> int:
        return self.admission.total

    @property
    def addresses(self) -> list[Any]:
        """Where the door listens (socket addresses: port 0 asked for one of the kernel's choosing)."""
        return [sock.getsockname() for sock in self._listeners]

    async def _accept(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        refused_in_a_row = 0
        while True:
            try:
                conn, peer = await loop.sock_accept(sock)
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                continue
            except OSError as e:
                # the kernel keeps the connection in the backlog; the workers' descriptors come first
                self._note("descriptors" if e.errno in _NO_DESCRIPTOR else "error", e.strerror or str(e))
                await asyncio.sleep(ACCEPT_PAUSE)
                continue
            address = str(peer[0]) if isinstance(peer, tuple) else str(peer)
            key = client_key(address)
            refusal = self.admission.admit(key, self.exempt(address))
            if refusal is not None:
                _reset(conn)
                self._note(refusal, key)
                refused_in_a_row += 1
                if refused_in_a_row % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # a flood of refusals does not starve the workers
                continue
            refused_in_a_row = 0
            connection = _Connection(self, key)
            try:
                connection.inner = self.protocol()
                await loop.connect_accepted_socket(connection.itself, conn)
            except BaseException as e:
                if not connection.made:  # else connection_lost releases it
                    self.admission.release(key)
                    conn.close()
                if not isinstance(e, Exception):
                    raise  # cancelled: the door is shutting
                # one connection that cannot be set up does not close the door
                self._note("error", f"{type(e).__name__}: {e}", exc_info=True)

    @staticmethod
    def _stopped(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (e := task.exception()) is not None:
            log.error("web: %s stopped: %s", task.get_name(), e, exc_info=e)

    def _closed(self, connection: _Connection) -> None:
        if connection.transport is not None:
            self._connections.pop(connection.transport, None)
        self.admission.release(connection.key)

    def _note(self, condition: str, who: str, exc_info: bool = False) -> None:
        now = asyncio.get_running_loop().time()
        for report in self.tally.due(now):
            log.warning("%s", describe(report, self.caps))
        first = self.tally.count(condition, now, who)
        if first is not None:
            log.warning("%s", describe(first, self.caps), exc_info=exc_info)
        self._schedule()

    def _schedule(self) -> None:
        at = self.tally.next_due()
        if self._timer is None and at is not None:
            self._timer = asyncio.get_running_loop().call_at(at, self._report, at)

    def _report(self, at: float) -> None:
        self._timer = None
        for report in self.tally.due(max(at, asyncio.get_running_loop().time())):
            log.warning("%s", describe(report, self.caps))
        self._schedule()


class _Connection(asyncio.Protocol):
    """One connection let in: aiohttp's protocol inside, the door's deadlines around it (the first request's line
    and headers; an answer the client stops taking)."""

    def __init__(self, door: Door, key: str) -> None:
        self.door = door
        self.key = key
        self.inner: asyncio.Protocol = asyncio.Protocol()
        self.transport: asyncio.Transport | None = None
        self.made = False
        self._deadline: asyncio.TimerHandle | None = None
        self._stall: asyncio.TimerHandle | None = None

    def itself(self) -> _Connection:
        """The protocol factory asyncio asks for: this connection."""
        return self

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.made = True
        self.door._connections[transport] = self
        self._deadline = asyncio.get_running_loop().call_later(HEADER_SECONDS, self._cut_off)
        self.inner.connection_made(transport)

    def received(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        if self._stall is None:
            self._stall = asyncio.get_running_loop().call_later(STALL_SECONDS, self._cut_off)
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None
        self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._deadline, self._stall):
            if timer is not None:
                timer.cancel()
        self._deadline = self._stall = None
        self.door._closed(self)
        self.inner.connection_lost(exc)

    def _cut_off(self) -> None:
        if self.transport is not None:
            self.transport.abort()


def _reset(conn: socket.socket) -> None:
    """Close a refused connection at once: a reset, no FIN handshake nor TIME_WAIT kept for it."""
    with contextlib.suppress(OSError):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()

