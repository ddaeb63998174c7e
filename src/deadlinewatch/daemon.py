"""The daemon: a pass on every IMAP IDLE wake-up and every poll_seconds, until SIGTERM/SIGINT.

SIGHUP re-reads the configuration; an invalid new one is refused and the old one kept. Shutdown is an event
passed in (`run(..., stop)`); the signal handlers only set it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Callable

from deadlinewatch import config as config_mod
from deadlinewatch import control, manage, wiring
from deadlinewatch.adapters.clock import Clock
from deadlinewatch.adapters.mailbox import IdleWatcher
from deadlinewatch.adapters.store import StateLock, Store
from deadlinewatch.cycle import Services, run_pass
from deadlinewatch.errors import ConfigError

log = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 8.0  # systemd's TimeoutStopSec is 10 s: finish the step in flight within this


def sd_notify(message: str) -> None:
    """Tell systemd (Type=notify) how we are; a no-op outside systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        sock.sendall(message.encode())


async def run(config_path: str, clock: Clock, stop: asyncio.Event,
              load: Callable[[str], config_mod.Config] = config_mod.load) -> None:
    config = load(config_path)
    lock = StateLock(config.state_dir)
    config.state_dir.mkdir(parents=True, exist_ok=True)
    lock.acquire()
    store = Store.open(config.state_dir)
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()
    reload = asyncio.Event()

    def on_hup() -> None:
        reload.set()
        wake.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, on_hup)
    svc = wiring.services(config, store, clock)
    watcher = _watch(svc, loop, wake)

    def on_command(request: dict[str, object]) -> dict[str, object]:
        answer = manage.handle(svc.config, store, request)
        if request.get("command") in ("approve", "reject") and answer.get("exit") == 0:
            wake.set()  # the decision goes out now, not at the next poll
        return answer

    control_path = control.daemon_socket(config)
    control_server = await control.serve(control_path, on_command)
    sd_notify("READY=1\nSTATUS=started")
    log.info("deadlinewatch running: %d projects, state in %s", len(config.projects), config.state_dir)
    try:
        while not stop.is_set():
            if reload.is_set():
                reload.clear()
                try:
                    new = load(config_path)
                    svc = wiring.services(new, store, clock)
                except ConfigError as e:
                    log.error("reload refused, keeping the running configuration: %s", e)
                else:
                    watcher.stop()
                    watcher = _watch(svc, loop, wake)
                    log.info("configuration reloaded from %s", config_path)
            wake.clear()
            pass_task = asyncio.create_task(run_pass(svc))
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({pass_task, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if not pass_task.done():
                # finish the step in flight if it is quick; every step commits on its own, so abandoning is safe
                await asyncio.wait({pass_task}, timeout=STOP_GRACE_SECONDS)
                pass_task.cancel()
            stopper.cancel()
            if pass_task.done() and not pass_task.cancelled():
                exc = pass_task.exception()
                if exc is not None:
                    log.error("pass failed: %s", exc, exc_info=exc)
                    sd_notify(f"STATUS=degraded: {exc}")
                else:
                    report = pass_task.result()
                    sd_notify(f"STATUS={'ok' if not report.unavailable else 'degraded'}: {report.summary}")
            if stop.is_set():
                break
            waiters = {asyncio.create_task(stop.wait()), asyncio.create_task(wake.wait())}
            _, pending = await asyncio.wait(waiters, timeout=svc.config.daemon["poll_seconds"],
                                            return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
    finally:
        sd_notify("STOPPING=1")
        control_server.close()
        control_path.unlink(missing_ok=True)
        watcher.stop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        store.close()
        lock.release()
        log.info("deadlinewatch stopped")


def _watch(svc: Services, loop: asyncio.AbstractEventLoop, wake: asyncio.Event) -> IdleWatcher:
    watcher = IdleWatcher(wiring.imap_settings(svc.config), svc.config.imap["folder"], loop, wake.set)
    watcher.start()
    return watcher
