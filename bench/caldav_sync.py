"""CalDAV sync benchmark: deadlinewatch's calendar stage beside the raw protocol cost, on Radicale and Xandikos.

For each server and size (default 1,000 and 10,000 milestones, seeded by writing the server's storage before it
starts — PUTting 10,000 items into Radicale takes close to an hour):
  * initial sync: the whole calendar stage (listing, parsing every entry into milestones, storing them) beside
    one calendar-query REPORT with calendar-data sent with http.client plus parsing the same entries;
  * unchanged re-sync: the stage again, beside one raw sync-collection REPORT with the current token.
Times are medians of --repeat runs; request counts are the stage's own. Printed, never asserted.

Run: python bench/caldav_sync.py [--sizes 1000 10000] [--servers radicale xandikos] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import http.client
import json
import statistics
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from xml.etree import ElementTree

from deadlinewatch import config as config_mod
from deadlinewatch import wiring
from deadlinewatch.adapters.calendar import SYNC_REPORT, CalDAVCalendar, Changes
from deadlinewatch.adapters.clock import FixedClock
from deadlinewatch.adapters.store import Store
from deadlinewatch.core.milestones import milestones_from_ics
from deadlinewatch.demo.servers import CalDAVServer, write_local_config
from deadlinewatch.services import PassReport
from deadlinewatch.stages.calendar_sync import sync_calendars

QUERY = """<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
<D:prop><D:getetag/><C:calendar-data/></D:prop>
<C:filter><C:comp-filter name="VCALENDAR"/></C:filter></C:calendar-query>"""


def entry(i: int) -> str:
    due = f"2027{1 + i % 12:02d}{1 + i % 28:02d}"
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:bench\r\nBEGIN:VTODO\r\nUID:m{i}\r\n"
            f"DTSTAMP:20260101T000000Z\r\nSUMMARY:Milestone {i}\r\nDUE;VALUE=DATE:{due}\r\n"
            "END:VTODO\r\nEND:VCALENDAR\r\n")


def seed(kind: str, folder: Path, size: int) -> str:
    """Write `size` entries into the server's storage; returns the calendar's path."""
    if kind == "radicale":
        cal = folder / "collections" / "collection-root" / "pm" / "bench"
        cal.mkdir(parents=True)
        (cal / ".Radicale.props").write_text(json.dumps({"D:displayname": "bench", "tag": "VCALENDAR"}))
        for i in range(size):
            (cal / f"m{i}.ics").write_text(entry(i))
        return "/pm/bench/"
    cal = folder / "data" / "user" / "calendars" / "bench"
    cal.mkdir(parents=True)
    (cal / ".xandikos").write_text("[DEFAULT]\ntype = calendar\ndisplayname = bench\n")
    for i in range(size):
        (cal / f"m{i}.ics").write_text(entry(i))
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    subprocess.run([*git, "init", "-q"], cwd=cal, check=True)
    subprocess.run([*git, "add", "-A"], cwd=cal, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "seed"], cwd=cal, check=True)
    return "/user/calendars/bench/"


def raw(port: int, path: str, body: str, user: str) -> tuple[float, bytes]:
    auth = base64.b64encode(f"{user}:pmpw".encode()).decode()
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.request("REPORT", path, body=body.encode(), headers={"Depth": "1", "Authorization": f"Basic {auth}",
                                                              "Content-Type": "application/xml; charset=utf-8"})
    data = conn.getresponse().read()
    conn.close()
    return time.perf_counter() - started, data


def parse_all(data: bytes) -> float:
    """The parsing half of the baseline: the multistatus, and every entry into milestones."""
    started = time.perf_counter()
    tree = ElementTree.fromstring(data)
    for el in tree.iter("{urn:ietf:params:xml:ns:caldav}calendar-data"):
        milestones_from_ics(el.text or "", "p", (), "UTC", "UTC", "", dt.datetime.now(dt.UTC))
    return time.perf_counter() - started


class Counting(CalDAVCalendar):
    last: Changes | None = None

    def changes(self, ref: str, url: str | None, token: str | None, etags: Mapping[str, str]) -> Changes:
        self.last = super().changes(ref, url, token, etags)
        return self.last


def stages(config_path: Path, state: Path) -> list[tuple[float, int]]:
    """The calendar stage twice with one set of services, as the daemon runs it: initial, then unchanged."""
    config = config_mod.load(config_path)
    store = Store.open(state)
    svc = wiring.services(config, store, FixedClock(dt.datetime.now(dt.UTC)))
    counting = Counting(config.caldav.url, config.accounts["caldav"], timeout=600)
    svc.calendar = counting

    async def twice() -> list[tuple[float, int]]:
        out = []
        for _ in range(2):
            started = time.perf_counter()
            await sync_calendars(svc, PassReport())
            out.append((time.perf_counter() - started, counting.last.requests if counting.last else -1))
        return out

    try:
        return asyncio.run(twice())
    finally:
        store.close()


def run(kind: str, size: int, repeat: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix=f"dw-bench-caldav-{kind}-"))
    server = CalDAVServer(folder, kind=kind)
    started = time.perf_counter()
    path = seed(kind, folder, size)
    seeded = time.perf_counter() - started
    server.start()
    user = "pm" if kind == "radicale" else "user"
    try:
        raw(server.port, path, QUERY, user)  # warm the server's caches for both sides alike
        baseline_initial = []
        for _ in range(repeat):
            t, data = raw(server.port, path, QUERY, user)
            baseline_initial.append(t + parse_all(data))
        initial, unchanged, requests_initial, requests_unchanged = [], [], 0, 0
        for n in range(repeat):
            state = folder / f"state{n}"
            config_path = write_local_config(folder / f"dw{n}.toml", caldav_url=server.url, caldav_user=user,
                                             imap_port=1, smtp_port=1, holidays="")
            config_path.write_text(config_path.read_text().replace('calendar = "acme-web"', f'calendar = "{path}"')
                                   .replace(f'state_dir = "{folder}/state"', f'state_dir = "{state}"'))
            (t0, requests_initial), (t1, requests_unchanged) = stages(config_path, state)
            initial.append(t0)
            unchanged.append(t1)
        synced = Store.open(state).calendar_state("acme-web")
        assert synced is not None  # the stages above synced it
        token = synced.sync_token
        baseline_unchanged = [raw(server.port, path, SYNC_REPORT.format(token=token), user)[0]
                              for _ in range(repeat)]
        bi, oi = statistics.median(baseline_initial), statistics.median(initial)
        bu, ou = statistics.median(baseline_unchanged), statistics.median(unchanged)
        print(f"\n{kind}, {size} milestones (seeded in {seeded:.1f} s)")
        print(f"  initial sync:      deadlinewatch {oi:7.3f} s ({requests_initial} requests)   raw calendar-query "
              f"REPORT + parsing {bi:7.3f} s   ratio {oi / bi:5.2f}x (goal ≤ 2)")
        print(f"  unchanged re-sync: deadlinewatch {ou:7.3f} s ({requests_unchanged} request)    raw sync-collection "
              f"REPORT {bu:7.3f} s            ratio {ou / bu:5.2f}x (goal ≤ 1.2, one request)")
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--servers", nargs="+", default=["radicale", "xandikos"])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for size in args.sizes:
        for kind in args.servers:
            run(kind, size, args.repeat)


if __name__ == "__main__":
    main()
