"""The daemon: supervision of the workers (workers.py), until SIGTERM/SIGINT.

READY=1 goes to systemd once the config and the store are open — servers that are down at boot do not get the
service killed; STATUS= says what is degraded; WATCHDOG=1 only while every worker makes progress. SIGHUP re-reads
the configuration; an invalid new one is refused and the old one kept. Shutdown is an event passed in
(`run(..., stop)`); SIGTERM and SIGINT set it (stop_on_signals), marking the stop at once for a step that holds
the loop, so that it ends at its next item.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from deadlinewatch import config as config_mod
from deadlinewatch import control
from deadlinewatch.adapters.clock import Clock
from deadlinewatch.adapters.store import StateLock
from deadlinewatch.adapters.store.engine import open_state
from deadlinewatch.coordination import Coordination, Shared, Solo
from deadlinewatch.errors import ConfigError

if TYPE_CHECKING:
    from deadlinewatch.adapters.mailbox import IdleWatcher
    from deadlinewatch.adapters.store.postgres.connection import Pool
    from deadlinewatch.metrics import Metrics
    from deadlinewatch.services import PassReport
    from deadlinewatch.web.server import WebServer
    from deadlinewatch.workers import Crew

log = logging.getLogger(__name__)

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
    store = open_state(config.state_dir, config.daemon.database, config.accounts.get("database"))
    loop = asyncio.get_running_loop()
    reload = asyncio.Event()
    requested = threading.Event()
    restore_signals = stop_on_signals(loop, stop, requested)
    loop.add_signal_handler(signal.SIGHUP, reload.set)
    metrics = _metrics(config)
    crew: Crew | None = None  # built right after READY: importing the adapters and letters costs most of a start

    def on_command(request: dict[str, object]) -> dict[str, object]:
        """A command from the control socket, in a thread of its own (control.serve) over a connection of its own
        to the state: the loop's connection is the loop's alone, and a pass's transaction never sees a command's."""
        from deadlinewatch import manage

        current = crew.svc.config if crew is not None else config
        own = open_state(current.state_dir, current.daemon.database, current.accounts.get("database"))
        try:
            answer = manage.handle(current, own, request,
                                   daemons=crew.coordination.daemons if crew is not None else Solo().daemons)
        finally:
            own.close()
        if crew is not None and request.get("command") in ("approve", "reject") and answer.get("exit") == 0:
            loop.call_soon_threadsafe(crew.wake, "evaluator", "outbox")  # it goes out now, not at the next poll
        return answer

    control_path = control.daemon_socket(config)
    control_server = await control.serve(control_path, on_command)
    # ready: the config is valid, the store open, commands are answered; servers that are down do not hold it up
    sd_notify("READY=1\nSTATUS=started")
    from deadlinewatch import wiring
    from deadlinewatch.workers import Crew

    coordination, shared_pool = _coordination(config)
    crew = Crew(wiring.services(config, store, clock), stop,
                on_run=lambda name, report, seconds: _after_run(crew, metrics, name, report, seconds),
                coordination=coordination, requested=requested)
    watcher: IdleWatcher | None = None

    def follow_mailbox() -> None:
        """IDLE on the mailbox while this daemon holds it, and only then: another daemon's IDLE is its own."""
        nonlocal watcher
        if crew.coordination.holds("mailbox") and watcher is None:
            watcher = _watch(crew, loop)
        elif not crew.coordination.holds("mailbox") and watcher is not None:
            watcher.stop()
            watcher = None

    crew.on_holding = follow_mailbox
    follow_mailbox()
    pages: WebServer | None = None
    log.info("deadlinewatch running: %d projects, state in %s", len(config.projects), config.state_dir)

    async def reloader() -> None:
        nonlocal watcher, pages
        while not stop.is_set():
            await _first(stop, reload)
            if stop.is_set():
                return
            reload.clear()
            try:
                crew.svc = wiring.services(load(config_path), store, clock)
            except ConfigError as e:
                log.error("reload refused, keeping the running configuration: %s", e)
                continue
            if watcher is not None:
                watcher.stop()
                watcher = None
            follow_mailbox()
            try:
                if pages is not None:
                    await pages.move(crew.svc.config.web.listen)
                elif crew.svc.config.web.listen:
                    pages = await _pages(crew)
            except ConfigError as e:
                log.error("reload: the web pages stay off: %s", e)
            log.info("configuration reloaded from %s", config_path)
            crew.wake(*crew.workers)  # the evaluator too: the check-in times may have changed

    try:
        if config.web.listen:
            pages = await _pages(crew)
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(crew.run())
            tasks.create_task(reloader())
            tasks.create_task(_watchdog(crew, stop))
    finally:
        sd_notify("STOPPING=1")
        if pages is not None:
            await pages.stop()
        control_server.close()
        control_path.unlink(missing_ok=True)
        if watcher is not None:
            watcher.stop()
        if shared_pool is not None:
            shared_pool.close()
        loop.remove_signal_handler(signal.SIGHUP)
        restore_signals()
        store.close()
        lock.release()
        log.info("deadlinewatch stopped")


def stop_on_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event, requested: threading.Event
                    ) -> Callable[[], None]:
    """SIGTERM and SIGINT stop the daemon; returns what puts the handlers before back. The handler is Python's own,
    which runs between two bytecodes of whatever the main thread runs, not the loop's (add_signal_handler), which
    runs when the loop next polls: a step deciding a batch of mail in one transaction holds the loop for a second
    or more under load, and it must see the stop at its next item (`requested`, Crew._tick), so that its parts of
    the work are handed over within a second of the signal. `stop` is set through the loop, as a thread would."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def handler(signum: int, frame: object) -> None:
        # stopping: no more full sweeps of the cycle collector over the state the daemon holds (a thousand
        # milestones' notes and forecasts took seconds a sweep, and the stop waited on them); refcounting still frees
        gc.disable()
        requested.set()
        loop.call_soon_threadsafe(stop.set)

    for sig in previous:
        signal.signal(sig, handler)

    def restore() -> None:
        for sig, before in previous.items():
            signal.signal(sig, before)

    return restore


def _after_run(crew: Crew | None, metrics: Metrics | None, name: str, report: PassReport, seconds: float) -> None:
    assert crew is not None  # a worker ran: the crew exists
    sd_notify(f"STATUS={crew.status()}")
    if metrics is not None:
        metrics.record(name, report, seconds, crew.svc.store, crew.svc.config.policy.warn_probability)


async def _first(*events: asyncio.Event) -> None:
    """Until any of these events is set."""
    waiters = {asyncio.create_task(e.wait()) for e in events}
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def _watchdog(crew: Crew, stop: asyncio.Event) -> None:
    """WATCHDOG=1 at half of systemd's WatchdogSec, only while every worker shows progress: a stuck stage stops
    the pings and systemd restarts the service. A worker waiting for a server that is down is not stuck."""
    usec = int(os.environ.get("WATCHDOG_USEC", "0") or 0)
    if usec <= 0 or int(os.environ.get("WATCHDOG_PID", str(os.getpid())) or os.getpid()) != os.getpid():
        return
    interval = usec / 1e6
    while not stop.is_set():
        if crew.alive(within=interval):
            sd_notify("WATCHDOG=1")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval / 2)


def _metrics(config: config_mod.Config) -> Metrics | None:
    listen = config.metrics.listen
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


async def _pages(crew: Crew) -> WebServer:
    """The web pages on web.listen, over the crew's current services; a decision there wakes the workers that
    act on it, as one from the control socket does."""
    from deadlinewatch.web.server import WebServer

    crew.svc.store.make_page_tokens([p.id for p in crew.svc.config.projects])
    pages = WebServer(lambda: crew.svc, lambda: crew.wake("evaluator", "outbox"), crew.coordination.daemons)
    await pages.start(crew.svc.config.web.listen)
    return pages


def _coordination(config: config_mod.Config) -> tuple[Coordination, Pool | None]:
    """Alone with a SQLite state, every part of the work; over PostgreSQL, the parts this daemon's leases give it
    (coordination.py), kept through a pool of their own — the store's connection is the loop's, and the leases'
    renewals must not wait behind a pass."""
    if not config.daemon.database:
        return Solo(), None
    return shared_coordination(config)


def shared_coordination(config: config_mod.Config, every_part: bool = False) -> tuple[Shared, Pool]:
    """A daemon's place among the others on the shared state, and the pool its leases are kept through
    (`every_part`: `once`'s, which holds them all)."""
    from deadlinewatch.adapters.store.postgres.connection import open_pool
    from deadlinewatch.adapters.store.postgres.leases import Leases
    from deadlinewatch.coordination import lease_time

    account = config.accounts.get("database")
    pool = open_pool(config.daemon.database, account.password if account else None, max_size=3)
    return Shared(Leases(pool), lease_time(config.daemon.poll_seconds), every_part=every_part), pool


def _watch(crew: Crew, loop: asyncio.AbstractEventLoop) -> IdleWatcher:
    from deadlinewatch import wiring
    from deadlinewatch.adapters.mailbox import IdleWatcher

    config = crew.svc.config
    watcher = IdleWatcher(wiring.imap_settings(config), config.imap.folder, loop, lambda: crew.wake("inbox"))
    watcher.start()
    return watcher
