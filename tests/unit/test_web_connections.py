"""The web port's door (web/connections.py): the caps made from the descriptor limit, what counts as one address,
the once-a-minute log, and the door itself on real loopback sockets in this process — refusals by cap, the
header deadline however a request trickles, a client that stops reading, accept running out of descriptors."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import resource
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable

import pytest

from deadlinewatch.web import connections
from deadlinewatch.web.connections import Admission, Caps, Door, Report, Tally, caps_for, client_key, describe

# --- the caps -----------------------------------------------------------------------------------------------


def test_systemds_default_limit_leaves_256_descriptors_to_the_servers() -> None:
    assert caps_for(1024) == Caps(total=768, per_address=32, limit=1024)


def test_a_generous_limit_is_capped_at_4096_connections() -> None:
    assert caps_for(8192).total == 4096  # the unit's LimitNOFILE=8192: 4,096 kept for the servers
    assert caps_for(1 << 20).total == 4096
    assert caps_for(-1) == Caps(4096, 32, -1)  # RLIM_INFINITY


def test_a_small_limit_keeps_three_quarters_for_the_servers() -> None:
    assert caps_for(300) == Caps(75, 32, 300)
    assert caps_for(64) == Caps(16, 16, 64)  # never more per address than in all
    assert caps_for(2).total == 1


def _limit_in_child(soft: int, hard: int) -> int:
    """raise_descriptor_limit() in a process of its own (it changes the process's limit), started with these."""
    code = "from deadlinewatch.web.connections import raise_descriptor_limit as r; print(r())"
    return int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60,
                              preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))).stdout)


def test_the_soft_limit_is_raised_to_the_hard_one_at_start() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 2048:
        pytest.skip(f"the hard descriptor limit here is {hard}")
    assert _limit_in_child(1024, 2048) == 2048
    assert _limit_in_child(1024, 1024) == 1024  # no way up (as under the unit's filter): the limit as it is


# --- one address ------------------------------------------------------------------------------------------


def test_an_ipv6_address_counts_by_its_64() -> None:
    assert client_key("2001:db8:1:2::5") == client_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::5") != client_key("2001:db8:1:2::5")
    assert client_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert client_key("192.0.2.7") == "192.0.2.7"
    assert client_key("fe80::1%eth0") == "fe80::/64"


def test_admission_refuses_over_either_cap_and_frees_a_place_when_one_closes() -> None:
    door = Admission(Caps(total=3, per_address=2, limit=0))
    assert door.admit("a") is None and door.admit("a") is None
    assert door.admit("a") == "address"
    assert door.admit("proxy", exempt=True) is None  # a trusted proxy: the total only
    assert door.admit("b") == "total" and door.admit("proxy", exempt=True) == "total"
    door.release("a")
    assert door.admit("b") is None
    assert door.total == 3 and dict(door.by_key) == {"a": 1, "proxy": 1, "b": 1}


# --- the log: a line a minute -------------------------------------------------------------------------------


def test_a_thousand_refusals_in_a_minute_make_two_lines() -> None:
    tally = Tally(60)
    said = [r for t in range(1000) if (r := tally.count("total", t * 0.05)) is not None]
    assert said == [Report("total", 1, 0.0, (), True)]
    assert tally.due(59.9) == []
    [summary] = tally.due(60.0)
    assert (summary.count, summary.first, summary.seconds) == (999, False, 60.0)
    assert describe(summary, caps_for(1024)) == \
        "web: 999 connections refused in the last minute: the cap of 768 connections at once was reached"
    assert tally.due(120.0) == []  # a quiet minute ends it …
    assert tally.count("total", 130.0) is not None  # … and the next refusal is said at once


def test_a_steady_flood_is_said_once_a_minute_whatever_its_rate() -> None:
    tally, lines = Tally(60), 0
    for tick in range(0, 600_000):  # ten minutes, a refusal every millisecond
        now = tick / 1000
        lines += len(tally.due(now)) + (tally.count("address", now, f"192.0.2.{tick % 7}") is not None)
    lines += len(tally.flush(600.0))
    assert lines == 11  # the first at once, then one a minute


def test_each_condition_has_its_own_minute_and_names_whom_it_concerned() -> None:
    tally = Tally(60)
    assert tally.count("address", 0, "192.0.2.1") == Report("address", 1, 0.0, (("192.0.2.1", 1),), True)
    assert tally.count("descriptors", 1, "Too many open files") is not None
    for _ in range(5):
        tally.count("address", 2, "192.0.2.9")
    tally.count("address", 3, "192.0.2.1")
    [address] = tally.flush(30)
    assert address.who == (("192.0.2.9", 5), ("192.0.2.1", 1))
    assert describe(address, caps_for(1024)) == (
        "web: 6 connections refused in the last 30 s: the cap of 32 connections from one address was reached "
        "(2 addresses; the most from 192.0.2.9: 5)")
    assert tally.next_due() is None


# --- the door, on real sockets --------------------------------------------------------------------------------


class Recorder(asyncio.Protocol):
    """The protocol inside the door (aiohttp's in the daemon): what it was given. A request's end (a blank line)
    is told to the door, as the web pages' middleware does."""

    def __init__(self, door: Callable[[], Door]) -> None:
        self.door = door
        self.data = b""
        self.transport: asyncio.Transport | None = None
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.data += data
        if b"\r\n\r\n" in self.data:
            self.door().received(self.transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set_result(exc)


class Served:
    def __init__(self, door: Door, port: int, made: list[Recorder]) -> None:
        self.door, self.port, self.made = door, port, made

    async def connect(self, source: str = "127.0.0.1") -> socket.socket:
        sock = socket.socket()
        sock.bind((source, 0))
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", self.port))
        return sock


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    made: list[Recorder] = []
    door: Door | None = None

    def the_door() -> Door:
        assert door is not None  # made before anyone connects
        return door

    def protocol() -> asyncio.Protocol:
        made.append(Recorder(the_door))
        return made[-1]

    door = Door(protocol, Caps(total=4, per_address=2, limit=100), lambda address: address == "127.0.0.1")
    await door.open("127.0.0.1", 0)
    port = door.addresses[0][1]
    yield Served(door, port, made)
    await door.close()
    for r in made:
        if r.transport is not None:
            r.transport.abort()


async def _closed(sock: socket.socket) -> bool:
    """Whether the door closed this connection (it is read until then; a few seconds at most)."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(5):
            while await loop.sock_recv(sock, 4096):
                pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass
    return True


async def _until(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        while not check():
            await asyncio.sleep(0.01)


async def test_over_a_cap_a_connection_is_reset_unread_and_said_once(
        served: Served, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "deadlinewatch.web.connections")
    held = [await served.connect("127.0.0.2"), await served.connect("127.0.0.2")]
    over = [await served.connect("127.0.0.2") for _ in range(3)]
    for sock in over:
        with contextlib.suppress(ConnectionResetError):  # the reset may be there before anything is sent
            sock.send(b"GET / HTTP/1.1\r\n\r\n")  # never read
        assert await _closed(sock)
    held += [await served.connect("127.0.0.1"), await served.connect("127.0.0.1")]  # a trusted proxy: 3 and 4
    beyond = await served.connect("127.0.0.1")
    assert await _closed(beyond)
    await _until(lambda: len(served.made) == 4)
    assert served.door.open_connections == 4 and all(r.data == b"" for r in served.made)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "web: a connection from 127.0.0.2 refused: the cap of 2 connections from one address was reached (any more "
        "are counted and reported once a minute)",
        "web: a connection refused: the cap of 4 connections at once was reached (any more are counted and "
        "reported once a minute)"]
    held[0].close()  # a place comes free
    await _until(lambda: served.door.open_connections == 3)
    again = await served.connect("127.0.0.3")
    await _until(lambda: served.door.open_connections == 4)
    for sock in [*held, *over, beyond, again]:
        sock.close()
    await served.door.close()
    assert caplog.records[-1].getMessage().startswith("web: 2 connections refused in the last")
    assert not any(r.exc_info for r in caplog.records)


async def test_a_request_trickled_a_byte_at_a_time_is_cut_off_after_the_header_time_in_all(
        served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connections, "HEADER_SECONDS", 0.5)
    loop = asyncio.get_running_loop()
    idle, slow, whole = await served.connect(), await served.connect("127.0.0.2"), await served.connect("127.0.0.3")
    started = loop.time()
    await loop.sock_sendall(whole, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")

    async def trickle() -> None:
        for byte in b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx":
            await asyncio.sleep(0.05)
            await loop.sock_sendall(slow, bytes([byte]))

    trickling = asyncio.create_task(trickle())
    assert await _closed(idle) and await _closed(slow)
    assert 0.45 < loop.time() - started < 1.5  # 0.5 s in all, though a byte came every 50 ms
    trickling.cancel()
    with pytest.raises((asyncio.CancelledError, OSError)):
        await trickling
    assert served.door.open_connections == 1  # the request that came whole is past the deadline
    for sock in (idle, slow, whole):
        sock.close()


async def test_a_client_that_stops_reading_its_answer_is_cut_off(
        served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connections, "STALL_SECONDS", 0.3)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", served.port))
    await _until(lambda: bool(served.made) and served.made[0].transport is not None)
    transport = served.made[0].transport
    assert transport is not None
    served.door.received(transport)
    started = asyncio.get_running_loop().time()
    transport.write(b"x" * 8_000_000)  # far more than the socket buffers hold: writing pauses, and stays paused
    async with asyncio.timeout(5):
        await served.made[0].lost
    assert asyncio.get_running_loop().time() - started >= 0.3
    assert served.door.open_connections == 0
    sock.close()


async def test_out_of_descriptors_accepting_pauses_with_one_line_and_goes_on(
        served: Served, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    loop = asyncio.get_running_loop()
    monkeypatch.setattr(connections, "ACCEPT_PAUSE", 0.001)
    real, failures = loop.sock_accept, [0]

    async def sock_accept(sock: socket.socket) -> tuple[socket.socket, object]:
        if failures[0] < 500:
            failures[0] += 1
            raise OSError(errno.EMFILE, "Too many open files")
        return await real(sock)

    monkeypatch.setattr(loop, "sock_accept", sock_accept)
    caplog.set_level(logging.INFO, "deadlinewatch.web.connections")
    await served.door.shut()
    await served.door.open("127.0.0.1", served.port)
    client = await served.connect()
    await _until(lambda: len(served.made) == 1)  # once descriptors are back, the waiting connection is taken
    assert failures[0] == 500
    await served.door.close()
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "web: accepting paused for 0.001 s: the process has no file descriptor left (its limit is 100) (any more "
        "are counted and reported once a minute)",
        lines[1]]
    assert lines[1].startswith("web: accepting paused 499 more times in the last")
    assert not any(r.exc_info for r in caplog.records)
    client.close()


def test_a_report_of_an_unexpected_accept_error_names_it() -> None:
    report = Report("error", 3, 60.0, (("ENOBUFS", 3),), False)
    assert describe(report, caps_for(1024)) == \
        "web: 3 more connections could not be accepted or set up in the last minute: ENOBUFS"


async def test_a_body_that_does_not_arrive_in_time_is_answered_408_and_the_connection_closed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace
    from typing import cast

    from aiohttp import web

    from deadlinewatch.adapters.store import StorePort
    from deadlinewatch.services import Services
    from deadlinewatch.web import server

    monkeypatch.setattr(connections, "BODY_SECONDS", 0.5)
    seen: list[bytes] = []

    async def form(request: web.Request) -> web.Response:
        seen.append(await request.read())
        return web.Response(text="thanks")

    app = web.Application(middlewares=[server._guard])
    # a stand-in for the services: the guard reads only config.web.base_url
    services = cast(Services[StorePort], SimpleNamespace(config=SimpleNamespace(web=SimpleNamespace(base_url=""))))
    app[server.SERVICES] = lambda: services
    app.router.add_post("/", form)
    runner = web.AppRunner(app, access_log=None, lingering_time=0.5)  # WebServer's is 2 s
    await runner.setup()
    protocol = runner.server
    assert protocol is not None  # made by setup()
    door = Door(protocol, caps_for(1024), lambda _: False)
    await door.open("127.0.0.1", 0)
    port = door.addresses[0][1]
    loop = asyncio.get_running_loop()

    async def answer(sock: socket.socket, until: bytes) -> bytes:
        """What the server says, until `until` shows (b"" for the end of the connection)."""
        got = b""
        async with asyncio.timeout(5):
            while not until or until not in got:
                chunk = await loop.sock_recv(sock, 4096)
                if not chunk:
                    break
                got += chunk
        return got

    try:
        whole, slow = socket.socket(), socket.socket()
        for sock in (whole, slow):
            sock.setblocking(False)
            await loop.sock_connect(sock, ("127.0.0.1", port))
        head = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                b"Content-Length: 10\r\n\r\n")
        await loop.sock_sendall(whole, head + b"a=12345678")
        await loop.sock_sendall(slow, head + b"a=1")  # and never the rest
        started = loop.time()
        assert (await answer(whole, b"thanks")).startswith(b"HTTP/1.1 200") and seen == [b"a=12345678"]
        late = await answer(slow, b"")  # the 408, then the end of the connection
        assert late.startswith(b"HTTP/1.1 408") and 0.45 < loop.time() - started < 4
        assert b"Content-Security-Policy" in late  # the guard's headers on it too
        whole.close()
        slow.close()
    finally:
        await door.close()
        await runner.cleanup()
