"""The CalDAV contract suite: the same tests against Radicale, Xandikos and a server without sync-collection.

Incremental sync that costs one request when nothing changed, changes and deletions noticed, an expired token
recovered from, moves between calendars, calendars made by another client, and the client-facing copy written
without clobbering a person's edit.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from caldav.collection import Calendar as DavCalendar
from caldav.davclient import DAVClient  # the class itself: the package's lazy attribute is untyped
from icalendar import Calendar

from deadlinewatch.adapters.calendar import CalDAVCalendar
from deadlinewatch.credentials import Secret, ServerAccount
from deadlinewatch.demo.servers import SmtpSink
from tests.conftest import Dav, approve_held, deadlinewatch, write_config
from tests.dovecot import DovecotServer
from tests.samples import DESIGN, LAUNCH, NOTE

pytestmark = pytest.mark.integration


def adapter(dav: Dav) -> CalDAVCalendar:
    return CalDAVCalendar(dav.url, ServerAccount(dav.user, Secret("pmpw")), timeout=30)


def seeded(dav: Dav, name: str = "acme-web") -> str:
    cal = dav.server.make_calendar(name, name)
    dav.server.put(cal, "design-1", DESIGN)
    dav.server.put(cal, "launch-1", LAUNCH)
    return cal


def test_an_unchanged_calendar_costs_one_request(dav: Dav) -> None:
    seeded(dav)
    source = adapter(dav)
    first = source.changes("acme-web", None, None, {})
    assert sorted(e.href.rsplit("/", 1)[1] for e in first.changed) == ["design-1.ics", "launch-1.ics"]
    assert all("BEGIN:VCALENDAR" in e.ics for e in first.changed)
    etags = {e.href: e.etag for e in first.changed}
    again = source.changes("acme-web", first.url, first.token, etags)
    assert (again.changed, again.deleted, again.requests) == ([], [], 1)
    assert (first.token == "") == (dav.kind == "radicale-without-sync")


def test_changes_and_deletions_are_noticed(dav: Dav) -> None:
    cal = seeded(dav)
    source = adapter(dav)
    first = source.changes("acme-web", None, None, {})
    etags = {e.href: e.etag for e in first.changed}
    dav.server.put(cal, "design-1", DESIGN.replace("20261204", "20261211"))
    dav.server.delete(cal, "launch-1")
    later = source.changes("acme-web", first.url, first.token, etags)
    assert [e.href.rsplit("/", 1)[1] for e in later.changed] == ["design-1.ics"]
    assert "20261211" in later.changed[0].ics
    assert [h.rsplit("/", 1)[1] for h in later.deleted] == ["launch-1.ics"]
    assert later.requests <= 2  # the change itself, and its text where the listing does not carry it


def test_an_expired_token_means_one_full_listing_said_once(dav: Dav) -> None:
    seeded(dav)
    source = adapter(dav)
    first = source.changes("acme-web", None, None, {})
    etags = {e.href: e.etag for e in first.changed}
    recovered = source.changes("acme-web", first.url, "http://radicale.org/ns/sync/expired", etags)
    assert recovered.changed == [] and sorted(recovered.unchanged) == sorted(etags)
    assert recovered.note and recovered.token != "http://radicale.org/ns/sync/expired"


def test_calendars_made_by_another_client_are_read(dav: Dav) -> None:
    client = DAVClient(url=dav.url, username=dav.user, password="pmpw", enable_rfc6764=False)
    made = client.get_principal().make_calendar(name="Made elsewhere", cal_id="elsewhere")
    assert isinstance(made, DavCalendar)  # a synchronous client's: the calendar, not a coroutine
    made.add_todo(DESIGN.replace("design-1", "other-1"))
    changes = adapter(dav).changes("Made elsewhere", None, None, {})
    [entry] = changes.changed
    assert "UID:other-1" in entry.ics and changes.url.rstrip("/").endswith("elsewhere")


def _config(dav: Dav, dovecot: DovecotServer, smtp: SmtpSink, tmp_path: Path, extra: str = "") -> Path:
    return write_config(tmp_path / "dw.toml", caldav_url=dav.url, caldav_user=dav.user, imap_port=dovecot.port,
                        smtp_port=smtp.port, extra=extra)


def _with_copy(dav: Dav, dovecot: DovecotServer, smtp: SmtpSink, tmp_path: Path) -> tuple[str, Path]:
    """The team calendar seeded, and a config whose project keeps a client-facing copy in "acme-client"."""
    source = seeded(dav)
    dav.server.make_calendar("acme-client", "acme-client")
    config = _config(dav, dovecot, smtp, tmp_path)
    config.write_text(config.read_text().replace('calendar = "acme-web"',
                                                 'calendar = "acme-web"\nclient_calendar = "acme-client"'))
    return source, config


def _status(config: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(deadlinewatch("status", "--json", config=config).stdout)
    return report


def test_a_milestone_moved_to_another_projects_calendar_follows(
    dav: Dav, dovecot: DovecotServer, smtp_tls: SmtpSink, tmp_path: Path
) -> None:
    cal = seeded(dav)
    other = dav.server.make_calendar("beta-web", "beta-web")
    extra = ('[[projects]]\nid = "beta"\nname = "Beta"\ncalendar = "beta-web"\n'
             'client = { name = "Bo", email = "bo@beta.example" }\n')
    config = _config(dav, dovecot, smtp_tls, tmp_path, extra)
    assert deadlinewatch("once", config=config, now="2026-11-30T12:00").returncode == 0
    dav.server.delete(cal, "launch-1")
    dav.server.put(other, "launch-1", LAUNCH)
    result = deadlinewatch("once", config=config, now="2026-11-30T12:05")
    assert result.returncode == 0, result.stderr
    where = {(m["project"], m["uid"]) for m in _status(config)["milestones"]}
    assert ("beta", "launch-1") in where and ("acme-web", "launch-1") not in where


def test_the_client_calendar_copy_follows_the_promises_and_keeps_a_persons_edit(
    dav: Dav, dovecot: DovecotServer, smtp_tls: SmtpSink, tmp_path: Path
) -> None:
    source, config = _with_copy(dav, dovecot, smtp_tls, tmp_path)
    source_etags = {e.href: e.etag for e in adapter(dav).changes("acme-web", None, None, {}).changed}
    dovecot.save("progress", NOTE.encode())
    assert deadlinewatch("once", config=config, now="2026-11-30T12:00").returncode == 0
    copy = adapter(dav).changes("acme-client", None, None, {})
    held = {str(Calendar.from_ical(e.ics).walk("VEVENT")[0]["SUMMARY"]).split(": ")[1]: e for e in copy.changed}
    # a new team's notice waits for the manager (the forecast outruns it): its date is not the client's yet
    assert Calendar.from_ical(held["Design mockups"].ics).walk("VEVENT")[0]["SEQUENCE"] == 2
    assert approve_held(config)
    assert deadlinewatch("once", config=config, now="2026-11-30T12:01").returncode == 0
    copy = adapter(dav).changes("acme-client", None, None, {})
    entries = {str(Calendar.from_ical(e.ics).walk("VEVENT")[0]["SUMMARY"]).split(": ")[1]: e for e in copy.changed}
    assert set(entries) == {"Design mockups", "Launch"}
    design = Calendar.from_ical(entries["Design mockups"].ics).walk("VEVENT")[0]
    assert design["SEQUENCE"] == 3 and str(design["DESCRIPTION"]).startswith("Moved from ")
    assert "METHOD" not in Calendar.from_ical(entries["Design mockups"].ics)
    # the client's entries carry UIDs of our own, named so in their links too: never the team calendar's
    uids = {str(Calendar.from_ical(e.ics).walk("VEVENT")[0]["UID"]) for e in entries.values()}
    assert not uids & {"design-1", "launch-1"}
    assert not [e.href for e in entries.values() if "design-1" in e.href or "launch-1" in e.href]

    # a person adds a location to the entry; then the team revises its estimate eightfold
    edited = entries["Design mockups"].ics.replace("END:VEVENT", "LOCATION:Board room\r\nEND:VEVENT")
    href = entries["Design mockups"].href
    dav.server._request("PUT", dav.server.url.rstrip("/") + href, edited.encode(),
                        {"Content-Type": "text/calendar; charset=utf-8"})
    later = NOTE.replace("note-1@", "note-2@").replace("Remaining: 10 days", "Remaining: 80 days")
    dovecot.save("progress", later.encode())
    assert deadlinewatch("once", config=config, now="2026-12-01T12:00").returncode == 0
    assert approve_held(config)  # the eightfold revision outruns the team's own date too
    result = deadlinewatch("once", config=config, now="2026-12-01T12:01")
    assert result.returncode == 0, result.stderr
    assert "had been edited; merged" in result.stdout
    got = adapter(dav).changes("acme-client", None, None, {})
    design = next(Calendar.from_ical(e.ics).walk("VEVENT")[0] for e in got.changed if e.href == href)
    assert design["SEQUENCE"] == 4 and str(design["LOCATION"]) == "Board room"
    # the source calendar was never written
    assert {e.href: e.etag for e in adapter(dav).changes("acme-web", None, None, {}).changed} == source_etags
    assert source


def test_a_milestone_made_private_leaves_the_client_calendar_copy(
    dav: Dav, dovecot: DovecotServer, smtp_tls: SmtpSink, tmp_path: Path
) -> None:
    """The launch was in the client's calendar copy; the team marks it private. The client's page and feed leave it
    out at once; the copy kept its entry, with a date nobody would update again. It is taken out."""
    source, config = _with_copy(dav, dovecot, smtp_tls, tmp_path)
    assert deadlinewatch("once", config=config, now="2026-11-30T12:00").returncode == 0

    def names() -> set[str]:
        return {str(Calendar.from_ical(e.ics).walk("VEVENT")[0]["SUMMARY"]).split(": ")[1]
                for e in adapter(dav).changes("acme-client", None, None, {}).changed}

    assert names() == {"Design mockups", "Launch"}
    dav.server.put(source, "launch-1", LAUNCH.replace("END:VEVENT", "CLASS:PRIVATE\nEND:VEVENT"))
    result = deadlinewatch("once", config=config, now="2026-11-30T12:05")
    assert result.returncode == 0, result.stderr
    assert "the entry of launch-1 taken out" in result.stdout
    assert names() == {"Design mockups"}
    again = deadlinewatch("once", config=config, now="2026-11-30T12:10")  # nothing more to take out
    assert again.returncode == 0 and "taken out" not in again.stdout


def test_a_return_to_the_plan_held_for_the_manager_leaves_the_copys_entry_cancelled(
    dav: Dav, dovecot: DovecotServer, smtp_tls: SmtpSink, tmp_path: Path
) -> None:
    """The launch was cancelled and the client told (its entry in the copy marked cancelled); the team reopens it
    and the letter saying it is back waits for the manager. The copy put the entry back as live at once, before the
    client was told anything: it stays cancelled until the letter is approved, then comes back with it."""
    source, config = _with_copy(dav, dovecot, smtp_tls, tmp_path)
    assert deadlinewatch("once", config=config, now="2026-11-30T12:00").returncode == 0

    def launch() -> tuple[str, int]:
        [entry] = [Calendar.from_ical(e.ics).walk("VEVENT")[0]
                   for e in adapter(dav).changes("acme-client", None, None, {}).changed if "Launch" in e.ics]
        return str(entry.get("STATUS", "CONFIRMED")), int(str(entry["SEQUENCE"]))

    dav.server.put(source, "launch-1", LAUNCH.replace("END:VEVENT", "STATUS:CANCELLED\nEND:VEVENT"))
    assert deadlinewatch("once", config=config, now="2026-11-30T12:05").returncode == 0
    cancelled = launch()
    assert cancelled[0] == "CANCELLED"
    config.write_text(config.read_text().replace('client_calendar = "acme-client"',
                                                 'client_calendar = "acme-client"\napproval = "manager"'))
    dav.server.put(source, "launch-1", LAUNCH)
    result = deadlinewatch("once", config=config, now="2026-11-30T12:10")
    assert result.returncode == 0, result.stderr
    notices = json.loads(deadlinewatch("status", "--json", config=config).stdout)["notices"]
    [held] = [n["id"] for n in notices if n["state"] == "held" and n["kind"] == "reinstate"]
    assert launch() == cancelled and "entry of launch-1 taken out" not in result.stdout
    assert deadlinewatch("approve", str(held), config=config, now="2026-11-30T12:15").returncode == 0
    assert deadlinewatch("once", config=config, now="2026-11-30T12:16").returncode == 0
    status, sequence = launch()
    assert status == "CONFIRMED" and sequence > cancelled[1]


def test_bench_runs_small(tmp_path: Path) -> None:
    """bench/caldav_sync.py end to end at a tiny size, so the benchmark itself cannot rot."""
    bench = Path(__file__).resolve().parents[2] / "bench" / "caldav_sync.py"
    result = subprocess.run([sys.executable, str(bench), "--sizes", "20"], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "unchanged re-sync" in result.stdout and "radicale" in result.stdout and "xandikos" in result.stdout


def test_one_broken_calendar_is_reported_and_the_others_sync(
    dav: Dav, dovecot: DovecotServer, smtp_tls: SmtpSink, tmp_path: Path
) -> None:
    seeded(dav)
    missing = "/pm/nowhere/" if dav.user == "pm" else "/user/calendars/nowhere/"
    extra = (f'[[projects]]\nid = "ghost"\nname = "Ghost"\ncalendar = "{missing}"\n'
             'client = { name = "Gus", email = "gus@ghost.example" }\n')
    config = _config(dav, dovecot, smtp_tls, tmp_path, extra)
    result = deadlinewatch("once", config=config, now="2026-11-30T12:00")
    assert result.returncode == 0, result.stderr
    assert 'projects[1].calendar = "' + missing + '" (project ghost)' in result.stderr
    assert {m["uid"] for m in _status(config)["milestones"]} == {"design-1", "launch-1"}


def test_an_entry_a_person_made_timed_still_moves_and_a_rename_reaches_the_copy(
    dav: Dav, dovecot: DovecotServer, smtp_tls: SmtpSink, tmp_path: Path
) -> None:
    """The audit: someone turned the copy's Design entry into a one-hour meeting, as Apple Calendar saves it (a
    DTSTART with a time, a DURATION, no DTEND), and set a location. Our date laid over it kept their DURATION beside
    our DTEND, which the server refuses (RFC 5545: one or the other) — and the entry, with every entry after it,
    was never written again. A renamed milestone never reached the copy at all (only a new date or status did)."""
    source, config = _with_copy(dav, dovecot, smtp_tls, tmp_path)
    assert deadlinewatch("once", config=config, now="2026-11-30T12:00").returncode == 0
    [entry] = [e for e in adapter(dav).changes("acme-client", None, None, {}).changed if "Design mockups" in e.ics]
    event = Calendar.from_ical(entry.ics).walk("VEVENT")[0]
    timed = (entry.ics.replace(f"DTSTART;VALUE=DATE:{event.decoded('DTSTART'):%Y%m%d}", "DTSTART:20261204T090000Z")
             .replace(f"DTEND;VALUE=DATE:{event.decoded('DTEND'):%Y%m%d}", "DURATION:PT1H")
             .replace("END:VEVENT", "LOCATION:Board room\r\nEND:VEVENT"))
    assert "DURATION:PT1H" in timed and "DTEND" not in timed
    dav.server._request("PUT", dav.server.url.rstrip("/") + entry.href, timed.encode(),
                        {"Content-Type": "text/calendar; charset=utf-8"})
    dav.server.put(source, "design-1", DESIGN.replace("SUMMARY:Design mockups", "SUMMARY:Homepage design"))
    dav.server.put(source, "launch-1", LAUNCH.replace("SUMMARY:Launch", "SUMMARY:Go-live"))
    result = deadlinewatch("once", config=config, now="2026-11-30T12:05")
    assert result.returncode == 0, result.stderr
    assert "could not be written" not in result.stdout + result.stderr
    events = [Calendar.from_ical(e.ics).walk("VEVENT")[0] for e in adapter(dav).changes("acme-client", None, None,
                                                                                       {}).changed]
    by_name = {str(e["SUMMARY"]).split(": ", 1)[1]: e for e in events}
    assert set(by_name) == {"Homepage design", "Go-live"}
    design = by_name["Homepage design"]
    assert str(design["LOCATION"]) == "Board room" and "DURATION" not in design
    assert design.decoded("DTSTART") == dt.date(2026, 12, 4)  # all-day on the client's date again
    again = deadlinewatch("once", config=config, now="2026-11-30T12:10")  # written once: nothing more to write
    assert again.returncode == 0 and "client calendar:" not in again.stdout
