"""Daemon benchmark: evaluation at scale, start-up to READY, and memory.

1. Evaluation: a state with P projects / M milestones / N stored notes (default 1,000 / 10,000 / 100,000,
   written straight into the store); the time of the first evaluation stage (forecasts, policy, the team's
   nudges, nothing to send; it reads every note) and of later ones with no new note, beside the time to merely
   read the same milestones and notes back from SQLite (the floor any first evaluation pays), same run. Goal: under 1 s.
2. Start-up: `deadlinewatch run` until it tells systemd READY=1 (its servers down: READY must not wait for
   them), beside `python -c pass` with the same interpreter; and its stop: SIGTERM three seconds into the first
   pass to the end of the process (systemd's stop and a restart wait on it).
3. Memory: the resident set after the first evaluation at that size, in a process of its own that opens the
   seeded state as the daemon does (this one also wrote the state, and its peak counts that too), beside the
   same process before the pass (its modules imported, config read, services wired). With --top N, where it
   goes: tracemalloc's snapshots before and after that first pass in a second such process (under `-X
   tracemalloc`, so its imports are counted too) — what start-up holds by package, and the N lines that
   allocated most of what the pass kept (Lingua's models live outside Python's heap: see the start-up's RSS).

Run: python bench/daemon.py [--projects 1000 --milestones 10000 --notes 100000] [--top 15]. Printed, never
asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import NotRequired, TypedDict

from deadlinewatch import config as config_mod
from deadlinewatch import wiring
from deadlinewatch.adapters.clock import FixedClock
from deadlinewatch.adapters.store import Store
from deadlinewatch.core.model import Milestone, Report
from deadlinewatch.demo.servers import free_port
from deadlinewatch.services import PassReport
from deadlinewatch.stages.evaluation import evaluate

# the state is seeded around the real hour: `run` (part 2) reads it with the system clock, and a state seeded days
# before would find every milestone silent and compose ten thousand nudges before it could stop
NOW = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)


def write_config(folder: Path, projects: int) -> Path:
    closed = free_port()
    lines = [f'[daemon]\nstate_dir = "{folder}/state"\ntimezone = "Europe/Istanbul"\n',
             f'[caldav]\nurl = "http://127.0.0.1:{closed}/"\n',
             f'[imap]\nhost = "127.0.0.1"\nport = {closed}\nsecurity = "none"\nusername = "p"\npassword = "x"\n'
             'address = "progress@studio.example"\nrequire_authentication = false\n',
             f'[smtp]\nhost = "127.0.0.1"\nport = {closed}\nsecurity = "none"\nfrom = "PM <pm@studio.example>"\n',
             '[team]\nmembers = ["alice@studio.example"]\nmanager = "pm@studio.example"\n',
             '[policy]\nholidays = ""\nweekly_update = ""\n']
    for p in range(projects):
        lines.append(f'[[projects]]\nid = "p{p}"\nname = "Project {p}"\ncalendar = "p{p}"\n'
                     f'client = {{ name = "Client {p}", email = "c{p}@client.example" }}\n')
    path = folder / "dw.toml"
    path.write_text("\n".join(lines))
    path.chmod(0o600)
    return path


def seed(store: Store, projects: int, milestones: int, notes: int) -> None:
    per_project = max(milestones // projects, 1)
    per_milestone = max(notes // milestones, 1)
    rows = []
    for p in range(projects):
        items = []
        for i in range(per_project):
            deadline = NOW + dt.timedelta(days=30 + i * 3)
            # a VTODO with a DTSTART (its plan) as most are: the forecast's plan signal is part of what is measured
            items.append(Milestone(f"p{p}", f"m{i}", f"Milestone {i}", deadline,
                                   start=NOW - dt.timedelta(days=per_milestone + 1)))
        store.apply_calendar(f"p{p}", ref=f"p{p}", url=f"http://x/p{p}/", token="t", fingerprint="",
                             entries=[], parsed={f"/p{p}/m{i}.ics": [m] for i, m in enumerate(items)},
                             deleted=[], kept=set(), now=NOW)
        for i in range(per_project):
            for n in range(per_milestone):
                at = NOW - dt.timedelta(days=per_milestone - n)
                # a team on track: steady progress, a remaining time that shrinks as the days pass
                rows.append(Report(f"p{p}", f"m{i}", at, done=min(5 * n, 90), remaining_days=per_milestone - n + 5,
                                   sender="alice@studio.example"))
    with store.transaction() as db:
        db.executemany("INSERT INTO messages (message_key, message_id, sender, subject, received_at, outcome,"
                       " target_folder, project, problems, raw, body, decided_at) VALUES ('seed', 'seed', '', '',"
                       " ?, 'accepted', '', NULL, '[]', x'', '', ?)", [(NOW.isoformat(), NOW.isoformat())])
        db.executemany("INSERT INTO reports (message_key, project, uid, at, done, remaining_days, eta, cause, plan,"
                       " blocked, sender) VALUES ('seed',?,?,?,?,?,NULL,'','',0,?)",
                       [(r.project, r.uid, r.at.isoformat(), r.done, r.remaining_days, r.sender) for r in rows])
        # every project introduced already: the evaluation measured is the steady state, not a first contact
        db.executemany("INSERT INTO outbox (kind, audience, project, uid, token, message_id, mail_from, recipients,"
                       " message, state, created) VALUES ('intro','client',?,NULL,?,?,'','[]',x'','sent',?)",
                       [(f"p{p}", f"t{p}", f"<i{p}@x>", NOW.isoformat()) for p in range(projects)])


def read_floor(store: Store) -> float:
    started = time.perf_counter()
    for m in store.milestones():
        store.reports(m.project, m.uid)
    return time.perf_counter() - started


def startup(config: Path, rounds: int = 5) -> tuple[float, float, float]:
    """The median time to READY=1, of `python -c pass`, and from SIGTERM (some seconds into the first pass, the
    state read) to the process's end."""
    ready, bare, stopped = [], [], []
    for _ in range(rounds):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        bare.append(time.perf_counter() - started)
        path = config.parent / "notify.sock"
        path.unlink(missing_ok=True)
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind(str(path))
            sock.settimeout(60)
            started = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "-m", "deadlinewatch", "--config", str(config), "run"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    env={**os.environ, "NOTIFY_SOCKET": str(path)})
            while b"READY=1" not in sock.recv(4096):
                pass
            ready.append(time.perf_counter() - started)
            time.sleep(3)  # into the first pass: the state read, forecasts made
            started = time.perf_counter()
            proc.terminate()
            proc.wait(timeout=60)
            stopped.append(time.perf_counter() - started)
    return statistics.median(ready), statistics.median(bare), statistics.median(stopped)


def resident_mb() -> tuple[float, float]:
    """This process's resident set now and at its peak (VmRSS, VmHWM), in MB."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024


def _where(filename: str) -> str:
    """An allocation's file as a reader names it: a package's path from its own name, ours from deadlinewatch/."""
    for mark in ("site-packages/", "/src/", "/lib/python3"):
        if mark in filename:
            tail = filename.split(mark, 1)[1]
            return tail.split("/", 1)[1] if mark == "/lib/python3" and "/" in tail else tail
    return filename.rsplit("/", 2)[-2] + "/" + filename.rsplit("/", 1)[-1] if "/" in filename else filename


def _package(filename: str) -> str:
    where = _where(filename)
    if where.startswith("deadlinewatch/"):
        return "/".join(where.split("/")[:2]).removesuffix(".py")  # deadlinewatch/core, deadlinewatch/adapters …
    return where.split("/")[0].removesuffix(".py") if "/" in where or where.endswith(".py") else where


class Memory(TypedDict):
    """What part 3's child prints, one line of JSON: its resident set in MB and, under tracemalloc (--top), bytes
    by package and by line (JSON gives the tuples back as lists: they are only unpacked)."""
    before: float
    after: float
    peak: float
    start: NotRequired[list[tuple[str, int]]]  # package, bytes held at start
    start_total: NotRequired[int]
    kept: NotRequired[list[tuple[str, int, int]]]  # file:line, bytes, blocks the first pass kept
    kept_total: NotRequired[int]


def memory_of(config_path: Path, top: int) -> None:
    """The child of part 3: the state opened as the daemon opens it, one first pass, what it holds (JSON)."""
    config = config_mod.load(config_path)
    store = Store.open(config.state_dir)
    svc = wiring.services(config, store, FixedClock(NOW))
    gc.collect()
    before = resident_mb()[0]
    snapshot = tracemalloc.take_snapshot() if tracemalloc.is_tracing() else None
    if snapshot is not None:  # the pass traced by line alone: 20 frames a block would take minutes
        tracemalloc.stop()
        tracemalloc.start(1)
    evaluate(svc, PassReport())
    gc.collect()
    now, peak = resident_mb()
    out: Memory = {"before": before, "after": now, "peak": peak}
    if snapshot is not None:
        kept = tracemalloc.take_snapshot()  # only what the pass allocated and still holds
        by_package: dict[str, int] = {}
        for stat in snapshot.statistics("traceback"):
            # the newest frame that is a file of a package: a module's code counts for whoever imports it
            frame = next((f for f in reversed(stat.traceback) if not f.filename.startswith("<")), None)
            name = _package(frame.filename) if frame else "the interpreter"
            by_package[name] = by_package.get(name, 0) + stat.size
        out["start"] = sorted(by_package.items(), key=lambda kv: -kv[1])[:top]
        out["start_total"] = sum(by_package.values())
        lines = kept.statistics("lineno")
        out["kept"] = [(f"{_where(d.traceback[0].filename)}:{d.traceback[0].lineno}", d.size, d.count)
                       for d in lines[:top]]
        out["kept_total"] = sum(d.size for d in lines)
    store.close()
    print(json.dumps(out))


def measure_memory(config_path: Path, top: int = 0) -> Memory:
    command = [sys.executable, *(["-X", "tracemalloc=20"] if top else []), __file__, "--memory-of", str(config_path),
               "--top", str(top)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    memory: Memory = json.loads(done.stdout.strip().splitlines()[-1])
    return memory


def print_allocations(traced: Memory, top: int) -> None:
    mib = 1024 * 1024
    print(f"\nwhere it goes (tracemalloc, top {top}; Python's heap only)")
    print(f"  held at start, {traced['start_total'] / mib:.1f} MiB, by package:")
    for name, size in traced["start"]:
        print(f"    {size / mib:7.2f} MiB  {name}")
    print(f"  kept by the first pass, {traced['kept_total'] / mib:.1f} MiB, by line:")
    for where, size, count in traced["kept"]:
        print(f"    {size / mib:7.2f} MiB  {count:8d} blocks  {where}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--milestones", type=int, default=10_000)
    parser.add_argument("--notes", type=int, default=100_000)
    parser.add_argument("--top", type=int, default=0, help="show where the memory goes: the N largest")
    parser.add_argument("--memory-of", type=Path, help=argparse.SUPPRESS)  # part 3's child process
    args = parser.parse_args()
    if args.memory_of:
        memory_of(args.memory_of, args.top)
        return
    folder = Path(tempfile.mkdtemp(prefix="dw-bench-daemon-"))
    config_path = write_config(folder, args.projects)
    config = config_mod.load(config_path)
    store = Store.open(config.state_dir)
    started = time.perf_counter()
    seed(store, args.projects, args.milestones, args.notes)
    print(f"seeded {args.projects} projects, {args.milestones} milestones, {args.notes} notes "
          f"in {time.perf_counter() - started:.1f} s")
    svc = wiring.services(config, store, FixedClock(NOW))
    floor = min(read_floor(store) for _ in range(3))
    times, queued = [], 0
    for _ in range(4):
        started = time.perf_counter()
        report = PassReport()
        evaluate(svc, report)
        times.append(time.perf_counter() - started)
        queued += len(report.events)
        svc.spread = None
    seeder_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    store.close()
    memory = measure_memory(config_path)
    print(f"\nevaluation ({args.milestones} milestones, {args.notes} notes; {queued} client messages queued)")
    print(f"  reading the milestones and notes back from SQLite: {floor:7.3f} s")
    print(f"  deadlinewatch evaluation, first pass (reads all):  {times[0]:7.3f} s"
          f"   ratio {times[0] / floor:5.1f}x   (goal: under 1 s)")
    steady = statistics.median(times[1:])
    print(f"  deadlinewatch evaluation, a pass with no new note: {steady:7.3f} s"
          f"   ratio {steady / floor:5.1f}x   (median of 3; the notes read before are kept)")
    before, after, peak = memory["before"], memory["after"], memory["peak"]
    print("\nresident memory, a process that opens this state and evaluates it once (as the daemon does)")
    print(f"  before the pass (modules, config, services):     {before:5.0f} MB")
    print(f"  after the first pass:                            {after:5.0f} MB   ratio {after / before:5.2f}x"
          f"   (goal: under 150 MB; its peak {peak:.0f} MB)")
    print(f"  this bench's own peak (it also seeded the state): {seeder_peak:5.0f} MB")
    if args.top:
        print_allocations(measure_memory(config_path, args.top), args.top)
    ready, bare, stopped = startup(config_path)
    print("\nstart-up to READY=1, servers down (median of 5)")
    print(f"  python -c pass: {bare:6.3f} s   deadlinewatch run: {ready:6.3f} s")
    print(f"  SIGTERM three seconds later to the end of the process: {stopped:6.3f} s   ratio {stopped / bare:5.1f}x"
          " python -c pass")


if __name__ == "__main__":
    main()
