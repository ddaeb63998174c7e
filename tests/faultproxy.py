"""A TCP proxy that misbehaves on demand, between the daemon and a real server: latency, a black hole, resets,
and a cut right after the SMTP DATA terminator (the server took the message; the client never hears so)."""

from __future__ import annotations

import asyncio
import contextlib
import threading


class FaultProxy:
    MODES = ("pass", "latency", "blackhole", "reset", "cut-after-data")

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.mode = "pass"
        self.latency = 0.0
        self.cuts = 0  # how many exchanges were cut after DATA
        self.active = 0  # connections being relayed now (a test can act mid-exchange)
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

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        mode = self.mode
        if mode == "blackhole":
            await asyncio.sleep(3600)  # accept and say nothing, ever
            return
        if mode == "reset":
            client_w.transport.abort()
            return
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            client_w.transport.abort()
            return
        cut = asyncio.Event()

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, from_client: bool) -> None:
            tail = b""  # the terminator may arrive split over reads
            with contextlib.suppress(ConnectionError, OSError):
                while not cut.is_set():
                    data = await reader.read(65536)
                    if not data or (cut.is_set() and not from_client):
                        break  # after the cut, nothing the server says reaches the client
                    if self.mode == "latency" and self.latency:  # read live: a fault can clear mid-connection
                        await asyncio.sleep(self.latency)
                    window, tail = tail + data, (tail + data)[-4:]
                    terminator = from_client and self.mode == "cut-after-data" and b"\r\n.\r\n" in window
                    if terminator:
                        cut.set()  # before the server can answer
                        self.cuts += 1
                        self.mode = "pass"  # one cut; the retry goes through
                    writer.write(data)
                    await writer.drain()
                    if terminator:
                        await asyncio.sleep(0.3)  # the server reads the message and sends its 250 …
                        client_w.transport.abort()  # … which the client never hears
            with contextlib.suppress(ConnectionError, OSError):
                writer.close()

        self.active += 1
        try:
            await asyncio.gather(pipe(client_r, server_w, True), pipe(server_r, client_w, False))
        finally:
            self.active -= 1
