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
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from deadlinewatch import config as config_mod
from deadlinewatch import control, manage, wiring
from deadlinewatch.adapters.clock import Clock
from deadlinewatch.adapters.mailbox import IdleWatcher
from deadlinewatch.adapters.store import StateLock, Store
from deadlinewatch.cycle import Services, run_pass
from deadlinewatch.errors import ConfigError

if TYPE_CHECKING:
    from deadlinewatch.metrics import Metrics

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
    metrics = _metrics(config)
    heartbeat = Heartbeat()
    svc.tick = heartbeat.beat
    sd_notify("READY=1\nSTATUS=started")
    log.info("deadlinewatch running: %d projects, state in %s", len(config.projects), config.state_dir)

    async def passes() -> None:
        nonlocal svc, watcher
        while not stop.is_set():
            heartbeat.beat()
            if reload.is_set():
                reload.clear()
                try:
                    new = load(config_path)
                    svc = wiring.services(new, store, clock)
                    svc.tick = heartbeat.beat
                except ConfigError as e:
                    log.error("reload refused, keeping the running configuration: %s", e)
                else:
                    watcher.stop()
                    watcher = _watch(svc, loop, wake)
                    log.info("configuration reloaded from %s", config_path)
            wake.clear()
            started = time.monotonic()
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
                    poll = svc.config.daemon["poll_seconds"]
                    down = sorted({*report.unavailable, *report.refused})
                    sd_notify("STATUS=" + (f"degraded: {', '.join(down)} unavailable, retrying in {poll} s" if down
                                           else f"ok: {report.summary}"))
                    if metrics is not None:
                        metrics.record(report, time.monotonic() - started, store,
                                       svc.config.policy["warn_probability"])
            if stop.is_set():
                break
            # waiting is progress too: the heartbeat goes on while the loop waits for mail or the next poll
            deadline = time.monotonic() + svc.config.daemon["poll_seconds"]
            while not stop.is_set() and not wake.is_set() and time.monotonic() < deadline:
                heartbeat.beat()
                waiters = {asyncio.create_task(stop.wait()), asyncio.create_task(wake.wait())}
                _, pending = await asyncio.wait(waiters, timeout=min(5.0, max(deadline - time.monotonic(), 0)),
                                                return_when=asyncio.FIRST_COMPLETED)
                for task in pending:
                    task.cancel()

    try:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(passes())
            tasks.create_task(_watchdog(heartbeat, stop))
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


class Heartbeat:
    """The main loop's proof of life: beaten at every step and while it waits, read by the watchdog."""

    def __init__(self) -> None:
        self.last = time.monotonic()

    def beat(self) -> None:
        self.last = time.monotonic()


async def _watchdog(heartbeat: Heartbeat, stop: asyncio.Event) -> None:
    """WATCHDOG=1 at half of systemd's WatchdogSec, only while the main loop shows progress: a stuck pass stops
    the pings and systemd restarts the service."""
    usec = int(os.environ.get("WATCHDOG_USEC", "0") or 0)
    if usec <= 0 or int(os.environ.get("WATCHDOG_PID", str(os.getpid())) or os.getpid()) != os.getpid():
        return
    interval = usec / 1e6
    while not stop.is_set():
        if time.monotonic() - heartbeat.last < interval:
            sd_notify("WATCHDOG=1")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval / 2)


def _metrics(config: config_mod.Config) -> Metrics | None:
    listen = config.metrics["listen"]
    if not listen:
        return None
    from deadlinewatch.metrics import Metrics

    metrics = Metrics()
    try:
        metrics.serve(listen)
    except OSError as e:
        raise ConfigError(f'metrics.listen = "{listen}": cannot listen there ({e.strerror})') from None
    log.info("metrics on http://%s/metrics", listen)
    return metrics


def _watch(svc: Services, loop: asyncio.AbstractEventLoop, wake: asyncio.Event) -> IdleWatcher:
    watcher = IdleWatcher(wiring.imap_settings(svc.config), svc.config.imap["folder"], loop, wake.set)
    watcher.start()
    return watcher
