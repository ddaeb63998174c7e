"""The store on each engine: bench/daemon.py's evaluation (the same seeded state, the same passes) over SQLite and
over PostgreSQL (Debian's, started in a temporary folder as the tests start it, over TCP on 127.0.0.1).

What it shows: the parts' SQL is the same on both, so what PostgreSQL costs more is its round trips — each port
call a query or more, about ten per project per pass — and the rows coming over the wire.

Run: python bench/engines.py [--projects 1000 --milestones 10000 --notes 100000]. Printed, never asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench.daemon, tests.postgres_server

from bench.daemon import NOW, read_floor, seed, write_config
from tests.postgres_server import PostgresServer

from deadlinewatch import config as config_mod
from deadlinewatch import wiring
from deadlinewatch.adapters.clock import FixedClock
from deadlinewatch.adapters.store import Store, StorePort
from deadlinewatch.adapters.store.postgres.store import PostgresStore
from deadlinewatch.credentials import Secret
from deadlinewatch.services import PassReport
from deadlinewatch.stages.evaluation import evaluate


def measure(store: StorePort, folder: Path, projects: int, milestones: int, notes: int) -> tuple[float, ...]:
    """Seeding, reading every milestone's notes back, a first evaluation and the median of three more."""
    config = config_mod.load(write_config(folder, projects))
    started = time.perf_counter()
    seed(store, projects, milestones, notes)
    seeded = time.perf_counter() - started
    svc = wiring.services(config, store, FixedClock(NOW))
    floor = min(read_floor(store) for _ in range(3))
    times = []
    for _ in range(4):
        started = time.perf_counter()
        evaluate(svc, PassReport())
        times.append(time.perf_counter() - started)
        svc.spread = None
    return seeded, floor, times[0], statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--milestones", type=int, default=10_000)
    parser.add_argument("--notes", type=int, default=100_000)
    args = parser.parse_args()
    sizes = (args.projects, args.milestones, args.notes)
    server = PostgresServer().start()
    try:
        database = server.database()
        stores: dict[str, StorePort] = {
            "SQLite": Store.open(Path(tempfile.mkdtemp(prefix="dw-bench-engines-")) / "state"),
            "PostgreSQL": PostgresStore.connect(database.url, Secret(database.password)),
        }
        results = {}
        for name, store in stores.items():
            try:
                results[name] = measure(store, Path(tempfile.mkdtemp(prefix="dw-bench-engines-")), *sizes)
            finally:
                store.close()
    finally:
        server.stop()
    print(f"evaluation of {args.projects} projects, {args.milestones} milestones, {args.notes} notes")
    print(f"  {'':10s} {'seeding':>9s} {'read back':>10s} {'first pass':>11s} {'no new note':>12s}")
    for name, (seeded, floor, first, steady) in results.items():
        print(f"  {name:10s} {seeded:8.2f}s {floor:9.3f}s {first:10.3f}s {steady:11.3f}s")
    base = results["SQLite"]
    ratios = [pg / sq for pg, sq in zip(results["PostgreSQL"], base, strict=True)]
    print(f"  {'ratio':10s} {ratios[0]:8.1f}x {ratios[1]:9.1f}x {ratios[2]:10.1f}x {ratios[3]:11.1f}x")


if __name__ == "__main__":
    main()
