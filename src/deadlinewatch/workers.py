"""The daemon's workers: one task per stage, each woken by what concerns it.

  inbox      IMAP IDLE says there is new mail (and every poll_seconds, for servers without IDLE): read the
             notes, decide, queue the replies; then wakes the evaluator.
  calendar   every poll_seconds: sync the milestones from CalDAV; then wakes the evaluator.
  evaluator  after either of those, a manager's decision, every poll_seconds (a forecast grows more certain as
             days pass without a note), or the next project's weekly check-in slot, whichever comes first:
             forecasts, the policy's client messages, the team's nudges; records the pass; then wakes the outbox.
  outbox     after the evaluator, a manager's decision, every poll_seconds and when a retry falls due: sends,
             then keeps the client calendars.

So a note that tips a milestone waits for no calendar sync, and a slow CalDAV server delays no reply. A worker's
failure is contained: logged with its traceback, said in STATUS, and the worker tries again after a back-off
while the others go on. The store is touched only from the event loop (the stages' blocking I/O runs in threads),
and every stage step commits on its own, so workers interleave safely at their awaits.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import functools
import logging
import threading
import time
import zoneinfo
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from deadlinewatch.adapters.store import StorePort
from deadlinewatch.coordination import PARTS, Coordination, Solo, current
from deadlinewatch.core import policy
from deadlinewatch.errors import LeaseLost, Stopping
from deadlinewatch.pipeline import STEP, record_pass
from deadlinewatch.services import PassReport, Services

log = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 8.0  # systemd's TimeoutStopSec is 10 s: finish the step in flight within this
BEAT_SECONDS = 5.0  # a waiting worker proves it is alive this often
UNREADABLE_SECONDS = 5.0  # an idle worker that cannot read when it is next due looks again after this
MAX_RETRY_SECONDS = 300.0  # a failed worker tries again after 1, 2, 4 … seconds, at most this


class Heartbeat:
    """A worker's proof of life: beaten at every step and while it waits, read by the watchdog."""

    def __init__(self) -> None:
        self.last = time.monotonic()

    def beat(self) -> None:
        self.last = time.monotonic()


@dataclass
class Worker:
    name: str
    run: Callable[[Services[StorePort], PassReport], Coroutine[Any, Any, None]]
    wakes: tuple[str, ...] = ()
    after: str | None = None  # its first run waits for that worker's first run
    due: asyncio.Event = field(default_factory=asyncio.Event)
    ran: asyncio.Event = field(default_factory=asyncio.Event)  # set once its first run ended, well or not
    heartbeat: Heartbeat = field(default_factory=Heartbeat)
    last: PassReport | None = None  # what its latest run did
    error: str | None = None  # why its latest run failed, if it did
    failures: int = 0


class Crew:
    """The workers and what they share: the current Services (swapped on reload) and the stop event."""

    def __init__(self, svc: Services[StorePort], stop: asyncio.Event,
                 on_run: Callable[[str, PassReport, float], None] = lambda name, report, seconds: None,
                 coordination: Coordination | None = None, requested: threading.Event | None = None) -> None:
        self.svc = svc
        self.stop = stop
        # set by the stop signal itself (daemon.stop_on_signals), before the loop gets to set `stop`: a step that
        # holds the loop (a batch of mail decided in one transaction) sees it at its next item
        self.requested = requested or threading.Event()
        self.on_run = on_run
        # which parts of the work are this daemon's (coordination.py): all of them, alone with a SQLite state
        self.coordination: Coordination = coordination or Solo()
        self.on_holding: Callable[[], None] = lambda: None  # told when what this daemon holds changed
        self.workers = {w.name: w for w in (
            # notes name milestones: the first reading of the inbox waits for the first calendar sync
            Worker("inbox", STEP["inbox"].run, wakes=("evaluator",), after="calendar"),
            Worker("calendar", STEP["calendar"].run, wakes=("evaluator",)),
            Worker("evaluator", self._evaluate, wakes=("outbox",)),
            Worker("outbox", STEP["outbox"].run),
        )}

    def wake(self, *names: str) -> None:
        """Ask these workers to run now: here, and on the daemon that holds the part of one this daemon does not."""
        self._wake_here(names)
        self.coordination.wake_others([n for n in names if not self.coordination.holds(PARTS[n])])

    def _wake_here(self, names: Sequence[str]) -> None:
        for name in names:
            self.workers[name].due.set()

    async def run(self) -> None:
        """Every worker in a TaskGroup until `stop`; each runs at once."""
        self._wake_here(list(self.workers))
        finished = asyncio.Event()  # every worker has ended: only then are the parts of the work given up

        async def work() -> None:
            try:
                async with asyncio.TaskGroup() as workers:
                    for worker in self.workers.values():
                        workers.create_task(self._loop(worker), name=f"deadlinewatch-{worker.name}")
            finally:
                finished.set()

        async with asyncio.TaskGroup() as group:
            # the parts of the work kept (renewed, taken, handed over) while the workers run, the last step in flight
            # included; a part newly this daemon's runs at once
            group.create_task(self.coordination.keep(finished, self._holding_changed, self._wake_here),
                              name="deadlinewatch-coordination")
            group.create_task(work())

    def _holding_changed(self) -> None:
        self.on_holding()
        self._wake_here(list(self.workers))

    def alive(self, within: float) -> bool:
        """Has every worker shown progress in the last `within` seconds? A stuck one stops the watchdog's pings."""
        now = time.monotonic()
        return all(now - w.heartbeat.last < within for w in self.workers.values())

    def status(self) -> str:
        """systemd's one-line STATUS: what is degraded and when it is retried, else how the last pass went."""
        down: dict[str, str] = {}
        for w in self.workers.values():
            if w.error is not None:
                down[f"{w.name} worker"] = f"failed ({w.error}), retrying in {self._retry(w):.0f} s"
            elif w.last is not None:
                for server in sorted({*w.last.unavailable, *w.last.refused}):
                    down[server] = ("login refused" if server in w.last.refused else "unavailable") + \
                                   f", retrying in {self.svc.config.daemon.poll_seconds} s"
                for stage, why in w.last.lagging.items():
                    down[stage] = f"not keeping up: {why}"
                for server, why in w.last.at_risk.items():
                    down[f"{server} sign-in"] = f"at risk: {why}"
        if down:
            return "degraded: " + "; ".join(f"{what} {detail}" for what, detail in sorted(down.items()))
        evaluator = self.workers["evaluator"].last
        return "ok: " + (evaluator.summary if evaluator is not None else "starting")

    # --- one worker ------------------------------------------------------------------------------------------

    async def _loop(self, w: Worker) -> None:
        try:
            await self._runs(w)
        finally:
            if self.stop.is_set():  # its part is another daemon's at once, whatever the other workers still do
                await asyncio.to_thread(self.coordination.give_up, PARTS[w.name])

    async def _runs(self, w: Worker) -> None:
        if w.after is not None:
            await self._wait_for_first(w, self.workers[w.after])
        while not self.stop.is_set():
            await self._wait(w, self._retry(w) if w.error is not None else self._idle_seconds(w))
            if self.stop.is_set():
                return
            w.due.clear()
            part = PARTS[w.name]
            if not self.coordination.holds(part):  # another daemon does this part: wait to be woken or for it
                continue
            # a copy per run, with its own heartbeat; the run works under this part's lease (its writes check it)
            svc = dataclasses.replace(self.svc, tick=functools.partial(self._tick, w),
                                      counts=functools.partial(self.coordination.holds, part))
            report = PassReport()
            started = time.monotonic()
            lease = current.set(self.coordination.lease(part))
            try:
                task = asyncio.create_task(w.run(svc, report))  # the task's context is a copy: the lease goes with it
            finally:
                current.reset(lease)
            if not await self._finish(task):
                return
            w.ran.set()
            exc = task.exception()
            if isinstance(exc, Stopping):  # it ended at an item's boundary: the rest is the next holder's
                log.info("%s worker: %s", w.name, exc)
            elif isinstance(exc, LeaseLost):  # its part is another daemon's now: what it was writing did not happen
                log.info("%s worker: %s; another daemon does this part now", w.name, exc)
                w.error = None
            elif exc is not None:  # contained: this worker backs off, the others go on
                w.failures += 1
                w.error = f"{type(exc).__name__}: {exc}"
                log.error("%s worker failed, retrying in %.0f s: %s", w.name, self._retry(w), exc, exc_info=exc)
            else:
                w.failures, w.error, w.last = 0, None, report
                log.debug("%s worker: %s (%.3f s)", w.name, report.summary, time.monotonic() - started)
                self.on_run(w.name, report, time.monotonic() - started)
                self.wake(*w.wakes)

    def _tick(self, w: Worker) -> None:
        """A step's beat between its items: proof of life, and — once the daemon is stopping — the end of the step
        there, so its part of the work is given up within an item, not after the whole batch (it used to send a
        hundred more replies after SIGTERM before handing the outbox over)."""
        w.heartbeat.beat()
        if self.stop.is_set() or self.requested.is_set():
            raise Stopping("stopping: the rest of this step is left for the next run")

    async def _wait_for_first(self, w: Worker, before: Worker) -> None:
        """Hold `w`'s first run until `before` has run once: here, or — when another daemon does `before`'s part
        — once the state shows its work (a milestone synced), or after one poll, whichever comes first: a daemon
        that holds the mailbox but not the calendars must not wait for a worker of its own that never runs."""
        waited = time.monotonic()
        while not self.stop.is_set() and not before.ran.is_set():
            elsewhere = self.coordination.holds(PARTS[w.name]) and not self.coordination.holds(PARTS[before.name])
            if elsewhere and (time.monotonic() - waited >= self.svc.config.daemon.poll_seconds
                              or self._synced_elsewhere()):
                return
            w.heartbeat.beat()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(before.ran.wait(), timeout=1.0)

    def _synced_elsewhere(self) -> bool:
        """Does the state show another daemon's calendar sync (a milestone)? No while it cannot be read (a database
        restarting): the wait goes on, never the daemon's end."""
        try:
            return bool(self.svc.store.milestones())
        except Exception as e:  # contained, as a run is
            log.warning("cannot read the state to see a calendar sync (%s: %s); waiting on", type(e).__name__, e)
            return False

    async def _finish(self, task: asyncio.Task[None]) -> bool:
        """Wait for a run; on stop, give the step in flight STOP_GRACE_SECONDS, then abandon it (each step
        commits on its own, so abandoning is safe). True when the run ended by itself."""
        stopper = asyncio.create_task(self.stop.wait())
        try:
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if not task.done():
                await asyncio.wait({task}, timeout=STOP_GRACE_SECONDS)
        finally:
            stopper.cancel()
        if task.done():
            return True
        task.cancel()
        return False

    async def _wait(self, w: Worker, seconds: float) -> None:
        """Until the worker is due, `seconds` pass, or stop; beating meanwhile (waiting is progress too)."""
        deadline = time.monotonic() + max(seconds, 0.0)
        while not self.stop.is_set() and not w.due.is_set() and time.monotonic() < deadline:
            w.heartbeat.beat()
            waiters = {asyncio.create_task(self.stop.wait()), asyncio.create_task(w.due.wait())}
            _, pending = await asyncio.wait(waiters, timeout=min(BEAT_SECONDS, max(deadline - time.monotonic(), 0)),
                                            return_when=asyncio.FIRST_COMPLETED)
            for waiter in pending:
                waiter.cancel()
        w.heartbeat.beat()

    def _retry(self, w: Worker) -> float:
        return float(min(2 ** max(w.failures - 1, 0), MAX_RETRY_SECONDS))

    def _idle_seconds(self, w: Worker) -> float:
        poll = float(self.svc.config.daemon.poll_seconds)
        if w.name == "evaluator":
            return min(poll, self._until_next_check_in())
        if w.name == "outbox":
            try:
                return min(poll, self._until_next_retry())
            except Exception as e:  # contained, as a run is: a database restarting must not end the daemon
                log.warning("%s worker: cannot read when its next retry is due (%s: %s); looking again in %.0f s",
                            w.name, type(e).__name__, e, min(poll, UNREADABLE_SECONDS))
                return min(poll, UNREADABLE_SECONDS)
        return poll

    def _until_next_retry(self) -> float:
        now = self.svc.clock.now()
        waiting = [i.next_attempt for i in self.svc.store.outbox(states=("pending", "sending"))
                   if i.next_attempt is not None]
        return max((min(waiting) - now).total_seconds(), 0.0) if waiting else float("inf")

    def _until_next_check_in(self) -> float:
        now = self.svc.clock.now()
        slots = []
        for project in self.svc.config.projects:
            last = policy.weekly_slot(now, project.weekly_update, zoneinfo.ZoneInfo(project.client.timezone))
            if last is not None:
                slots.append(last + dt.timedelta(days=7))
        # one second past the slot, so that the evaluator sees it as passed
        return (min(slots) - now).total_seconds() + 1 if slots else float("inf")

    # --- the runs that are more than one stage -------------------------------------------------------------

    async def _evaluate(self, svc: Services[StorePort], report: PassReport) -> None:
        """The pipeline's evaluation, recorded as a pass that names the servers other workers found down."""
        started = svc.clock.now()
        await STEP["evaluator"].run(svc, report)
        record_pass(svc, started, report, down=(s for w in self.workers.values() if w.last is not None
                                                for s in (*w.last.unavailable, *w.last.refused)))
