"""The feed as calendar programs read it: vdirsyncer subscribes to the project's feed on the web pages (its
read-only "http" storage, as a person subscribing by link) into a local calendar, and khal — the calendar program
on top of it — lists what the client sees. Each milestone is one entry that moves in place; nothing private, no
copy left behind when a date moves, an entry gone when its milestone is cancelled."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import IN_CI, Studio, deadlinewatch
from tests.integration.test_daemon import wait_for
from tests.integration.test_web import Site, client_path, held_notice, open_site

pytestmark = pytest.mark.integration


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if not found:
        if IN_CI:
            pytest.fail(f"{name} is needed under CI=true (the [test] extras install it)")
        pytest.skip(f"{name} is not installed: pip install -e '.[test]'")
    return found


class Subscriber:
    """A person who subscribed to the feed: vdirsyncer keeps a local copy, khal shows it."""

    def __init__(self, folder: Path, url: str) -> None:
        self.folder = folder
        (folder / "cal").mkdir(parents=True)
        self.vdirsyncer_config = folder / "vdirsyncer.conf"
        self.vdirsyncer_config.write_text(f"""\
[general]
status_path = "{folder}/status/"

[pair client]
a = "feed"
b = "local"
collections = null
conflict_resolution = "a wins"

[storage feed]
type = "http"
url = "{url}"

[storage local]
type = "filesystem"
path = "{folder}/cal/"
fileext = ".ics"
""")
        self.khal_config = folder / "khal.conf"
        self.khal_config.write_text(f"""\
[calendars]
[[client]]
path = {folder}/cal/
type = calendar

[locale]
timeformat = %H:%M
dateformat = %Y-%m-%d
longdateformat = %Y-%m-%d
datetimeformat = %Y-%m-%d %H:%M
longdatetimeformat = %Y-%m-%d %H:%M
local_timezone = Europe/London
default_timezone = Europe/London

[sqlite]
path = {folder}/khal.db
""")
        self._run(_tool("vdirsyncer"), "-c", str(self.vdirsyncer_config), "discover", "client")

    def _run(self, *argv: str) -> str:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, input="y\n",
                              env={"HOME": str(self.folder), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
        assert done.returncode == 0, f"{argv[0]}: {done.stdout}{done.stderr}"
        return done.stdout

    def sync(self) -> dict[str, list[str]]:
        """Sync, then what khal lists: each title with the days it is on."""
        self._run(_tool("vdirsyncer"), "-c", str(self.vdirsyncer_config), "sync", "client")
        listed = self._run(_tool("khal"), "-c", str(self.khal_config), "list", "--format", "{start-date}|{title}",
                           "--day-format", "", "2026-11-01", "2027-03-01")
        out: dict[str, list[str]] = {}
        for line in listed.splitlines():
            if "|" in line:
                day, title = line.split("|", 1)
                out.setdefault(title, []).append(day)
        return out


def test_a_subscribed_calendar_program_follows_the_feed_in_place(studio: Studio, tmp_path: Path) -> None:
    with open_site(studio, tmp_path) as site:
        notice = held_notice(site)
        url = f"http://127.0.0.1:{site.port}{client_path(site)}timeline.ics"
        person = Subscriber(tmp_path / "person", url)
        first = person.sync()
        assert first == {"ACME website relaunch: Design mockups": ["2026-12-04"],
                         "ACME website relaunch: Launch": ["2026-12-10"]}  # held news is not there; private never
        assert deadlinewatch("approve", str(notice["id"]), config=site.config).returncode == 0
        wait_for(lambda: _moved(site, url), 15, "the approved date on the feed")
        moved = person.sync()
        [day] = moved["ACME website relaunch: Design mockups"]  # one entry, moved: no copy left on the old day
        assert day > "2026-12-04" and moved["ACME website relaunch: Launch"] == ["2026-12-10"]
        assert len(list((tmp_path / "person" / "cal").glob("*.ics"))) == 2

        studio.caldav.delete(studio.caldav.calendar_url("acme-web", "pm"), "launch-1")  # the launch is dropped
        site.daemon.send_signal(signal.SIGHUP)  # a reload wakes every worker: no waiting for the 30 s poll
        wait_for(lambda: "launch-1" not in _feed(site, url), 30, "the cancelled launch to leave the feed")
        assert list(person.sync()) == ["ACME website relaunch: Design mockups"]


def _feed(site: Site, url: str) -> str:
    return site.ask("GET", url.split(str(site.port), 1)[1]).body


def _moved(site: Site, url: str) -> bool:
    return not re.search(r"DTSTART;VALUE=DATE:20261204", _feed(site, url))
