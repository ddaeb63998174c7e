"""Web pages benchmark: what a page costs the daemon at scale, beside `status --json` in the same run.

A state with P projects / M milestones / N notes (bench/daemon.py's seed), a few of whose milestones a late note
tips into a miss in projects under `approval = "manager"` (their notices held: the manager's work, always on the
dashboard's first view), then one evaluation so every milestone has a forecast. Timed, median of R rounds:
  - baseline: `status --json`'s data (manage.status_data), what the CLI pays for the same facts;
  - the dashboard's first view (every project, at risk first, one page of cards, the held letters): its reads
    (on the daemon's loop: the time the workers wait) and its layout (SVG for the page's milestones and the
    HTML, in a thread), their sum beside the baseline, and its size; then a later page (what the dashboard's
    script fetches and appends in place: static/dashboard.js, whose size is printed too) and one project's view;
  - one client page and one feed (reads and layout: both on the loop).

Run: python bench/web.py [--projects 100 --milestones 1000 --notes 10000 --held 10 --rounds 9]. Printed, never
asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from deadlinewatch import config as config_mod
from deadlinewatch import manage, wiring
from deadlinewatch.adapters.clock import FixedClock
from deadlinewatch.adapters.store import Store, StorePort
from deadlinewatch.core import timeline
from deadlinewatch.services import PassReport, Services
from deadlinewatch.stages.evaluation import evaluate
from deadlinewatch.stages.state import view_as_told
from deadlinewatch.web import pages
from deadlinewatch.web.server import read_dashboard, render_dashboard

_spec = importlib.util.spec_from_file_location("bench_daemon", Path(__file__).with_name("daemon.py"))
assert _spec is not None and _spec.loader is not None
daemon_bench = importlib.util.module_from_spec(_spec)
sys.modules["bench_daemon"] = daemon_bench
_spec.loader.exec_module(daemon_bench)
NOW = daemon_bench.NOW


def medians(rounds: int, *works: Callable[[], object]) -> list[float]:
    """Each work's median time, the works taken in turn round after round: a machine that gets busier or quieter
    halfway weighs on each alike (the ratios are the figures that count)."""
    times: list[list[float]] = [[] for _ in works]
    for _ in range(rounds):
        for spent, work in zip(times, works, strict=True):
            started = time.perf_counter()
            work()
            spent.append(time.perf_counter() - started)
    return [statistics.median(t) for t in times]


def hold_some(config_path: Path, store: Store, held: int) -> None:
    """The first `held` projects under approval = "manager", each with its first milestone tipped into a miss by
    a note (80 working days left, its deadline 30 days away): the evaluation holds a notice for each."""
    text = config_path.read_text()
    for p in range(held):
        text = text.replace(f'calendar = "p{p}"\n', f'calendar = "p{p}"\napproval = "manager"\n', 1)
    config_path.write_text(text.replace(
        "[policy]", '[web]\nlisten = "127.0.0.1:1"\ntrusted_user_header = "X-User"\ntrusted_proxies = ["127.0.0.1"]'
                    "\n\n[policy]"))
    with store.transaction() as db:
        db.executemany("INSERT INTO reports (message_key, project, uid, at, done, remaining_days, eta, cause, plan,"
                       " blocked, sender) VALUES ('seed',?,'m0',?,20,80,NULL,'the client changed the brief',"
                       "'a second designer joins',0,'alice@studio.example')",
                       [(f"p{p}", (NOW - dt.timedelta(hours=1)).isoformat()) for p in range(held)])


def view(svc: Services[StorePort], rounds: int, baseline: Callable[[], object], project: str | None = None,
         page: int = 1) -> tuple[float, float, float, int, int]:
    """A dashboard view's reads and layout beside the baseline (medians, in turn), its size in bytes and how many
    pictures it draws."""
    seen = read_dashboard(svc, project, page)
    status, reads, layout = medians(rounds, baseline, lambda: read_dashboard(svc, project, page),
                                    lambda: render_dashboard(seen, "pm@studio.example", "0" * 64, True))
    html = render_dashboard(seen, "pm@studio.example", "0" * 64, True)
    return status, reads, layout, len(html.encode()), html.count('class="fan"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--projects", type=int, default=100)
    parser.add_argument("--milestones", type=int, default=1000)
    parser.add_argument("--notes", type=int, default=10_000)
    parser.add_argument("--held", type=int, default=10, help="projects with a notice held for the manager")
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="dw-bench-web-"))
    config_path = daemon_bench.write_config(folder, args.projects)
    store = Store.open(config_mod.load(config_path).state_dir)
    daemon_bench.seed(store, args.projects, args.milestones, args.notes)
    hold_some(config_path, store, min(args.held, args.projects))
    config = config_mod.load(config_path)
    svc = wiring.services(config, store, FixedClock(NOW))
    evaluate(svc, PassReport())
    project = config.projects[0]
    data = manage.status_data(store, config)
    held = sum(1 for n in data["notices"] if n["state"] == "held")
    open_ = sum(1 for m in data["milestones"] if m["state"] == "open")

    def baseline() -> object:
        return manage.status_data(store, config)

    status, reads, layout, size, fans = view(svc, args.rounds, baseline)
    first = render_dashboard(read_dashboard(svc), "pm@studio.example", "0" * 64, True)
    missing = [n["id"] for n in data["notices"] if n["state"] == "held" and f'id="notice-{n["id"]}"' not in first]
    whole = first.count('<article class="held"')
    later = view(svc, args.rounds, baseline, page=2)
    one = view(svc, args.rounds, baseline, project=project.id)
    client, feed = medians(args.rounds, lambda: pages.client_page(view_as_told(store, project), NOW),
                           lambda: timeline.publish(view_as_told(store, project).rows(), project.name, NOW,
                                                    config.smtp.from_))
    store.close()
    print(f"{args.projects} projects, {args.milestones} milestones ({open_} open), {args.notes} notes, {held} letters"
          f" held; median of {args.rounds}; {pages.PAGE_SIZE} milestones a page")
    print(f"  baseline: status --json's data                 {status:7.3f} s")
    print(f"  dashboard, first view: reads (on the loop)     {reads:7.3f} s   ratio {reads / status:5.2f}x")
    print(f"  dashboard, first view: layout (a thread)       {layout:7.3f} s   ratio {layout / status:5.2f}x"
          f"   ({fans} pictures)")
    print(f"  dashboard, first view: reads + layout          {reads + layout:7.3f} s   ratio "
          f"{(reads + layout) / status:5.2f}x   (goal: at most 1.5x)")
    print(f"  dashboard, first view: size                    {size / 1000:7.1f} KB"
          f"   (goal: at most 300 KB; {held - len(missing)} of {held} held letters on it, {whole} in full)")
    script = (Path(pages.__file__).parent / "static" / "dashboard.js").stat().st_size
    print(f"  its one script, static/dashboard.js (cached)   {script / 1000:7.1f} KB")
    for name, (base, r, lay, kb, _) in (("page 2 (in place)", later), ("one project's view", one)):
        print(f"  dashboard, {name + ':':19} reads + layout  {r + lay:7.3f} s   ratio {(r + lay) / base:5.2f}x"
              f"   ({kb / 1000:.1f} KB; its baseline {base:.3f} s)")
    print(f"  one client page (on the loop)                  {client:7.3f} s   ratio {client / status:5.3f}x")
    print(f"  one feed (on the loop)                         {feed:7.3f} s   ratio {feed / status:5.3f}x")
    if missing or not re.search(r"<nav class=\"pages\"", first):
        print(f"  PROBLEM: held letters not on the first view: {missing}" if missing else "  PROBLEM: no page links")


if __name__ == "__main__":
    main()
