"""Web pages benchmark: what a page costs the daemon at scale, beside `status --json` in the same run.

A state with P projects / M milestones / N notes (bench/daemon.py's seed, then one evaluation so every milestone
has a forecast). Timed, median of R rounds:
  - baseline: `status --json`'s data (manage.status_data), what the CLI pays for the same facts;
  - the dashboard's reads (on the daemon's loop: the time the workers wait) and its layout (SVG per milestone and
    the HTML, in a thread);
  - one client page and one feed (reads and layout: both on the loop).

Run: python bench/web.py [--projects 100 --milestones 1000 --notes 10000 --rounds 5]. Printed, never asserted.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from deadlinewatch import config as config_mod
from deadlinewatch import manage, wiring
from deadlinewatch.adapters.clock import FixedClock
from deadlinewatch.adapters.store import Store
from deadlinewatch.core import timeline
from deadlinewatch.services import PassReport
from deadlinewatch.stages.evaluation import evaluate
from deadlinewatch.stages.project_view import view_as_told
from deadlinewatch.web import pages
from deadlinewatch.web.server import read_dashboard, render_dashboard

_spec = importlib.util.spec_from_file_location("bench_daemon", Path(__file__).with_name("daemon.py"))
assert _spec is not None and _spec.loader is not None
daemon_bench = importlib.util.module_from_spec(_spec)
sys.modules["bench_daemon"] = daemon_bench
_spec.loader.exec_module(daemon_bench)


def median_time(work: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--projects", type=int, default=100)
    parser.add_argument("--milestones", type=int, default=1000)
    parser.add_argument("--notes", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="dw-bench-web-"))
    config_path = daemon_bench.write_config(folder, args.projects)
    config_path.write_text(config_path.read_text().replace(
        "[policy]", '[web]\nlisten = "127.0.0.1:1"\ntrusted_user_header = "X-User"\n\n[policy]'))
    config = config_mod.load(config_path)
    store = Store.open(config.state_dir)
    daemon_bench.seed(store, args.projects, args.milestones, args.notes)
    svc = wiring.services(config, store, FixedClock(daemon_bench.NOW))
    evaluate(svc, PassReport())
    project = config.projects[0]

    status = median_time(lambda: manage.status_data(store, config), args.rounds)
    reads = median_time(lambda: read_dashboard(svc), args.rounds)
    seen = read_dashboard(svc)
    layout = median_time(lambda: render_dashboard(seen, "pm@studio.example", "0" * 64, True), args.rounds)
    size = len(render_dashboard(seen, "pm@studio.example", "0" * 64, True).encode())
    client = median_time(lambda: pages.client_page(view_as_told(store, project), daemon_bench.NOW), args.rounds)
    feed = median_time(lambda: timeline.publish(view_as_told(store, project).rows(), project.name,
                                                daemon_bench.NOW, config.smtp.from_), args.rounds)
    store.close()
    print(f"{args.projects} projects, {args.milestones} milestones, {args.notes} notes; median of {args.rounds}")
    print(f"  baseline: status --json's data              {status:7.3f} s")
    print(f"  dashboard: reads (on the loop)              {reads:7.3f} s   ratio {reads / status:5.2f}x")
    print(f"  dashboard: layout, SVG and HTML (a thread)  {layout:7.3f} s   ratio {layout / status:5.2f}x"
          f"   ({size / 1e6:.1f} MB of HTML)")
    print(f"  one client page (on the loop)               {client:7.3f} s   ratio {client / status:5.3f}x")
    print(f"  one feed (on the loop)                      {feed:7.3f} s   ratio {feed / status:5.3f}x")


if __name__ == "__main__":
    main()
