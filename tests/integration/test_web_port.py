"""The web port does not decide whether the daemon works. Under the descriptor limit systemd gives a service that
sets none (1,024, with no way up: the unit's system-call filter forbids setrlimit), a thousand idle connections
and a hundred half-sent requests on the web port, held as a botnet holds them, and still: the note in the inbox
is answered, `status` answers, the half-sent requests are cut off 10 s after they connected however steadily they
trickle, the sign-in page is served, and the log says so in a line or two, without a traceback."""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import resource
import selectors
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from deadlinewatch.demo.servers import free_port
from tests.conftest import Studio, deadlinewatch, start_daemon
from tests.integration.test_daemon import wait_for
from tests.integration.test_web import web_config
from tests.samples import NOTE

pytestmark = pytest.mark.integration

SYSTEMD_DEFAULT = 1024  # the soft RLIMIT_NOFILE of a service whose unit sets no LimitNOFILE=
HEADER_SECONDS = 10  # README, "The web port": a request's line and headers within 10 s of connecting
PER_ADDRESS = 32  # README: at most 32 connections from one address
IDLE_FROM = [f"127.0.1.{i}" for i in range(1, 21)]  # 20 addresses x 50 idle connections
HALF_SENT_FROM = [f"127.0.0.{i}" for i in range(2, 7)]  # 5 addresses x 20 half-sent requests
HALF_SENT = b"GET /signin HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/html\r\nX-Slow: "  # never finished


@dataclass(eq=False)
class Peer:
    source: str
    sock: socket.socket
    opened: float
    half_sent: bool
    closed: float | None = None
    next_byte: float = 0.0


class Crowd:
    """Connections to the web port from many loopback addresses (all of 127.0.0.0/8 is this machine's). An idle
    one that the daemon drops is opened again: at once when it had been let in (and timed out), a second later
    when it was refused; a half-sent request gets one more header byte a second and is never finished. A thread
    holds them, and watches the daemon's descriptors."""

    def __init__(self, port: int, daemon: int) -> None:
        self.port, self.daemon = port, daemon
        self.selector = selectors.DefaultSelector()
        self.half: list[Peer] = []
        self.dropped: list[Peer] = []  # idle ones the daemon closed, waiting to be opened again
        self.idle_open = 0
        # held while a peer moves between idle_open and dropped, so that a count read from the test's thread
        # never catches one in neither
        self.counting = threading.RLock()
        self.refused = 0  # idle connections dropped within a second of connecting: closed at once
        self.most_descriptors = 0
        self.seen: list[tuple[float, int]] = []  # the daemon's descriptors over the last second
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._hold, name="crowd", daemon=True)

    def open(self, source: str, half_sent: bool) -> Peer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((source, 0))
        if half_sent:
            sock.settimeout(10)
            sock.connect(("127.0.0.1", self.port))
            sock.sendall(HALF_SENT)
        sock.setblocking(False)
        if not half_sent:
            sock.connect_ex(("127.0.0.1", self.port))  # in progress: nothing will ever be sent on it
            with self.counting:
                self.idle_open += 1
        peer = Peer(source, sock, time.monotonic(), half_sent, next_byte=time.monotonic() + 1)
        self.selector.register(sock, selectors.EVENT_READ, peer)
        if half_sent:
            self.half.append(peer)
        return peer

    def open_idle(self, source: str, count: int, deadline: float) -> None:
        """`count` connections from `source`, established (the handshake done) before the next address's, until
        the deadline: a crowd that is really there, not SYNs waiting in a full backlog to be sent again."""
        peers = [self.open(source, half_sent=False) for _ in range(count)]
        with selectors.DefaultSelector() as writable:
            for peer in peers:
                writable.register(peer.sock, selectors.EVENT_WRITE)
            while writable.get_map() and time.monotonic() < deadline:
                for key, _ in writable.select(timeout=0.5):
                    writable.unregister(key.fileobj)

    def settled(self) -> bool:
        """The daemon has taken in the crowd: over 700 descriptors open, none more for a second."""
        seen = self.seen  # the thread replaces the list, never changes it
        return len(seen) > 5 and seen[-1][0] - seen[0][0] >= 0.9 and seen[0][1] >= 700 and seen[0][1] == seen[-1][1]

    def descriptors(self) -> int:
        return len(os.listdir(f"/proc/{self.daemon}/fd"))

    def _drop(self, peer: Peer, now: float) -> None:
        self.selector.unregister(peer.sock)
        peer.sock.close()
        peer.closed = now
        if not peer.half_sent:
            with self.counting:
                self.idle_open -= 1
                self.refused += now - peer.opened < 1
                self.dropped.append(peer)

    def _hold(self) -> None:
        while not self.stop.is_set():
            for key, _ in self.selector.select(timeout=0.1):
                peer: Peer = key.data
                try:
                    if peer.sock.recv(4096):
                        continue  # an answer: the close follows
                except BlockingIOError:
                    continue
                except OSError:
                    pass  # reset: closed unread
                self._drop(peer, time.monotonic())
            now = time.monotonic()
            for peer in self.half:
                if peer.closed is None and peer.next_byte <= now:
                    peer.next_byte = now + 1
                    try:
                        peer.sock.send(b"x")  # the header's value grows by a byte a second, its line never ends
                    except OSError:
                        self._drop(peer, now)
            # one that timed out comes back at once, one refused a second later
            with self.counting:
                again = [p for p in self.dropped
                         if (p.closed or now) - p.opened >= 1 or now - (p.closed or now) >= 1]
                self.dropped = [p for p in self.dropped if p not in again]
                for peer in again:
                    self.open(peer.source, half_sent=False)
            with contextlib.suppress(OSError):
                self.seen = [(t, n) for t, n in self.seen if now - t <= 1] + [(now, self.descriptors())]
                self.most_descriptors = max(self.most_descriptors, self.seen[-1][1])

    def close(self) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout=10)
        for key in list(self.selector.get_map().values()):
            assert isinstance(key.fileobj, socket.socket)  # the peers' sockets, registered above
            key.fileobj.close()
        self.selector.close()


@contextlib.contextmanager
def crowd_on(port: int, daemon: int) -> Iterator[Crowd]:
    crowd = Crowd(port, daemon)
    try:
        for source in HALF_SENT_FROM:
            for _ in range(20):
                crowd.open(source, half_sent=True)
        deadline = time.monotonic() + 15
        for source in IDLE_FROM:
            crowd.open_idle(source, 50, deadline)
        crowd.thread.start()
        yield crowd
    finally:
        crowd.close()


def _raise_own_limit(wanted: int) -> None:
    """This process holds the crowd: it needs more than the 1,024 descriptors it may have been given."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= wanted, "the test needs 4,096 descriptors"


def _limits(pid: int) -> tuple[int, int]:
    line = next(x for x in Path(f"/proc/{pid}/limits").read_text().splitlines() if x.startswith("Max open files"))
    soft, hard = line.split()[3:5]
    return int(soft), int(hard)


def _sign_in_page(port: int) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/signin")
        r = conn.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        conn.close()


def test_a_thousand_idle_and_a_hundred_half_sent_connections_leave_the_daemon_at_work(
        studio: Studio, tmp_path: Path) -> None:
    _raise_own_limit(4096)
    port = free_port()
    config = web_config(studio, tmp_path, port, f"http://127.0.0.1:{port}/")
    log = tmp_path / "daemon.log"
    proc = start_daemon(config, log)
    # systemd's default soft limit, and no way up (as under the unit's SystemCallFilter=~@resources): set before
    # the interpreter has even started, long before the daemon reads it
    resource.prlimit(proc.pid, resource.RLIMIT_NOFILE, (SYSTEMD_DEFAULT, SYSTEMD_DEFAULT))
    try:
        wait_for(lambda: "web pages on" in log.read_text(), 30, "the web pages")
        assert _limits(proc.pid) == (SYSTEMD_DEFAULT, SYSTEMD_DEFAULT)
        with crowd_on(port, proc.pid) as crowd:
            wait_for(crowd.settled, 30, "the daemon holding the crowd's connections")

            started = time.monotonic()
            studio.dovecot.save("progress", NOTE.encode())
            wait_for(lambda: any("alice@studio.example" in r for _, rs, _ in studio.smtp.messages for r in rs), 30,
                     "the reply to alice while the crowd holds the web port")
            answered = time.monotonic() - started
            held = crowd.descriptors()

            started = time.monotonic()
            status = deadlinewatch("status", config=config)
            asked = time.monotonic() - started
            assert status.returncode == 0 and "acme-web" in status.stdout, status.stderr
            assert asked < 10  # through the control socket, not the 60 s wait for an answer that never comes

            code, page = _sign_in_page(port)  # from 127.0.0.1, while the crowd is there
            assert code == 200 and 'type="password"' in page

            wait_for(lambda: all(p.closed is not None for p in crowd.half), HEADER_SECONDS + 10,
                     "the daemon closing the half-sent requests")
            lived = sorted((p.closed or 0) - p.opened for p in crowd.half)
            most, refused = crowd.most_descriptors, crowd.refused
            with crowd.counting:  # the crowd stayed a thousand
                assert crowd.idle_open + len(crowd.dropped) == len(IDLE_FROM) * 50
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
    text = log.read_text()
    print(f"reply after {answered:.1f} s with {held} descriptors open; status in {asked:.1f} s; half-sent cut off "
          f"after {lived[0]:.1f}-{lived[-1]:.1f} s; at most {most} descriptors; {refused} refusals seen")

    assert answered < 20
    assert held >= 600  # the crowd was still being held when the reply went out
    # every half-sent request was let in (it did not come over a cap) and cut off after 10 s in all, although a
    # byte arrived every second
    assert lived[0] >= HEADER_SECONDS - 1 and lived[-1] <= HEADER_SECONDS + 3, lived
    assert most < SYSTEMD_DEFAULT - 128  # the servers' descriptors were never at stake
    assert refused >= len(IDLE_FROM) * (50 - PER_ADDRESS)  # over 32 from one address: closed at once
    assert proc.returncode == 0
    assert "Traceback" not in text and "Too many open files" not in text and "out of system resource" not in text
    assert re.search(r"web: at most \d[\d,]* connections .*descriptor limit 1,024", text), text[-3000:]
    refusals = [line for line in text.splitlines() if re.search(r"web: .*connections? .*refused", line)]
    assert 1 <= len(refusals) <= 3, refusals  # thousands of refusals, a line a minute at most
