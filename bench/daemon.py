"""Daemon benchmark: evaluation at scale, start-up to READY, and memory.

1. Evaluation: a state with P projects / M milestones / N stored notes (default 1,000 / 10,000 / 100,000,
   written straight into the store); the time of the first evaluation stage (forecasts, policy, nothing to
   send; it reads every note) and of later ones with no new note, beside the time to merely read the same
   milestones and notes back from SQLite (the floor any first evaluation pays), same run. Goal: under 1 s.
2. Start-up: `deadlinewatch run` until it tells systemd READY=1 (its servers down: READY must not wait for
   them), beside `python -c pass` with the same interpreter.
3. Memory: the resident set of the process after the evaluation at that size.

Run: python bench/daemon.py [--projects 1000 --milestones 10000 --notes 100000]. Printed, never asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def startup(config: Path, rounds: int = 5) -> tuple[float, float]:
    ready, bare = [], []
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
            proc.terminate()
            proc.wait(timeout=30)
    return statistics.median(ready), statistics.median(bare)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--milestones", type=int, default=10_000)
    parser.add_argument("--notes", type=int, default=100_000)
    args = parser.parse_args()
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
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    store.close()
    print(f"\nevaluation ({args.milestones} milestones, {args.notes} notes; {queued} client messages queued)")
    print(f"  reading the milestones and notes back from SQLite: {floor:7.3f} s")
    print(f"  deadlinewatch evaluation, first pass (reads all):  {times[0]:7.3f} s"
          f"   ratio {times[0] / floor:5.1f}x   (goal: under 1 s)")
    steady = statistics.median(times[1:])
    print(f"  deadlinewatch evaluation, a pass with no new note: {steady:7.3f} s"
          f"   ratio {steady / floor:5.1f}x   (median of 3; the notes read before are kept)")
    print(f"  resident memory after it: {rss_mb:.0f} MB (goal: under 150 MB)")
    ready, bare = startup(config_path)
    print("\nstart-up to READY=1, servers down (median of 5)")
    print(f"  python -c pass: {bare:6.3f} s   deadlinewatch run: {ready:6.3f} s")


if __name__ == "__main__":
    main()
