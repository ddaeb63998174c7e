"""A TCP proxy that misbehaves on demand, between the daemon and a real server: latency, a black hole, resets,
a cut right after the SMTP DATA terminator (the server took the message; the client never hears so) — and holds:
a connection kept open and silent at one point of its exchange, so that a test can kill the process on the other
end right there (a crash point at a real place, not one the code under test is told about):

- "hold-connection": the next connection is accepted and never answered (nothing reaches the server);
- "hold-after-data": the next SMTP DATA goes through whole, and the server's answer never comes back (the server
  has the message; the client waits for its 250);
- "hold-command": the next client line matching `hold_on` is never forwarded, nor anything after it (an IMAP
  MOVE that never reaches the server).

Each hold happens once (the mode is "pass" again after it), sets `held`, and names the client's port in
`held_peer` (`socket_owner` tells which process that is); a held connection stays open until its client goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class CrashPoint:
    """Where a daemon is killed, as a proxy holds it there (#30 item 6), and what may follow."""

    server: str  # whose proxy holds: "smtp" (in front of the SMTP server) or "imap" (in front of Dovecot)
    mode: str  # the FaultProxy hold
    archived: bool = True  # whether the held message's archive copy (its Bcc to the inbox) reaches the mailbox
    duplicate: bool = False  # what the documented window allows: the held message delivered twice


CRASH_POINTS = {
    "after sending is committed": CrashPoint("smtp", "hold-connection"),
    "after DATA, its archive copy filed": CrashPoint("smtp", "hold-after-data"),
    "after DATA, its archive copy missing": CrashPoint("smtp", "hold-after-data", archived=False, duplicate=True),
    "before the IMAP move": CrashPoint("imap", "hold-command"),
}
# the IMAP command held "before the IMAP move": the notes' move (archive copies go to the sent folder)
NOTES_MOVE = re.compile(rb"MOVE [^\r\n]*deadlinewatch/processed")


class FaultProxy:
    MODES = ("pass", "latency", "blackhole", "reset", "cut-after-data", "hold-connection", "hold-after-data",
             "hold-command")

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.mode = "pass"
        self.latency = 0.0
        self.hold_on: re.Pattern[bytes] = re.compile(rb"(?!)")  # "hold-command": the client line to hold at
        self.cuts = 0  # how many exchanges were cut after DATA
        self.active = 0  # connections being relayed now (a test can act mid-exchange)
        self.held = threading.Event()  # a hold happened
        self.held_peer = 0  # the client's port of the held connection
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> FaultProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        def shutdown() -> None:
            for task in asyncio.all_tasks(self.loop):
                task.cancel()
            self.loop.call_soon(self.loop.stop)

        self.loop.call_soon_threadsafe(shutdown)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self.loop.run_forever()
        server.close()

    def _hold(self, client_w: asyncio.StreamWriter) -> None:
        self.mode = "pass"  # one hold; whatever comes next goes through
        self.held_peer = int(client_w.get_extra_info("peername")[1])
        self.held.set()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        mode = self.mode
        if mode == "blackhole":
            await asyncio.sleep(3600)  # accept and say nothing, ever
            return
        if mode == "reset":
            client_w.transport.abort()
            return
        if mode == "hold-connection":
            self._hold(client_w)
            await _until_gone(client_r, client_w)
            return
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            client_w.transport.abort()
            return
        cut = asyncio.Event()
        held = False

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, from_client: bool) -> None:
            nonlocal held
            tail = b""  # the terminator (or the line held at) may arrive split over reads
            with contextlib.suppress(ConnectionError, OSError):
                while not cut.is_set():
                    data = await reader.read(65536)
                    if not data or (cut.is_set() and not from_client):
                        break  # after the cut, nothing the server says reaches the client
                    if self.mode == "latency" and self.latency:  # read live: a fault can clear mid-connection
                        await asyncio.sleep(self.latency)
                    window, tail = tail + data, (tail + data)[-200:]
                    if from_client and self.mode == "hold-command" and self.hold_on.search(window):
                        held = True
                        cut.set()
                        self._hold(client_w)
                        break  # never forwarded
                    terminator = (from_client and self.mode in ("cut-after-data", "hold-after-data")
                                  and b"\r\n.\r\n" in window)
                    if terminator:
                        cut.set()  # before the server can answer
                        if self.mode == "hold-after-data":
                            held = True
                            self._hold(client_w)
                        else:
                            self.cuts += 1
                            self.mode = "pass"  # one cut; the retry goes through
                    writer.write(data)
                    await writer.drain()
                    if terminator and not held:
                        await asyncio.sleep(0.3)  # the server reads the message and sends its 250 …
                        client_w.transport.abort()  # … which the client never hears
            if not (held and writer is client_w):  # a held client waits on, in silence
                with contextlib.suppress(ConnectionError, OSError):
                    writer.close()

        self.active += 1
        try:
            await asyncio.gather(pipe(client_r, server_w, True), pipe(server_r, client_w, False))
            if held:
                await _until_gone(client_r, client_w)
        finally:
            self.active -= 1


async def _until_gone(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
    """Read (and drop) what a held client still says until it goes — killed, or given up."""
    with contextlib.suppress(ConnectionError, OSError):
        while await client_r.read(65536):
            pass
        client_w.close()


def socket_owner(local_port: int, remote_port: int, pids: dict[int, str]) -> str | None:
    """The label of the process (among `pids`) whose socket goes from `local_port` to `remote_port` on loopback: the
    socket's inode from /proc/net/tcp, then the process with a descriptor on it. None when none of them has it."""
    inode = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if (int(cols[1].rsplit(":", 1)[1], 16) == local_port
                        and int(cols[2].rsplit(":", 1)[1], 16) == remote_port and cols[9] != "0"):
                    inode = cols[9]
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for pid, label in pids.items():
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                        return label
    return None
