"""`deadlinewatch demo`: the whole loop on real local servers, over two simulated weeks.

It starts Radicale (CalDAV), pymap (IMAP) and an aiosmtpd sink on free loopback ports in a temporary folder,
puts a sample project with four milestones in the calendar, mails progress notes from two team members day by
day, runs one real pass per simulated moment, and tells the story. The client's email (.eml) and its calendar
files land in `--out`. Every server is stopped on exit and on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import tempfile
import zoneinfo
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import format_datetime, make_msgid
from pathlib import Path

from deadlinewatch import config as config_mod
from deadlinewatch import wiring
from deadlinewatch.adapters.clock import FixedClock
from deadlinewatch.adapters.mailbox import ImapMailbox
from deadlinewatch.adapters.store.engine import open_state
from deadlinewatch.core.workdays import WorkCalendar
from deadlinewatch.demo.servers import CalDAVServer, PymapServer, SmtpSink, write_local_config
from deadlinewatch.errors import exit_code
from deadlinewatch.pipeline import run_pass

TEAM_TZ = "Europe/Istanbul"
INBOX = "progress@studio.example"


@dataclass(frozen=True)
class Milestone:
    uid: str
    name: str
    due_after: int  # working days after the demo's first day
    kind: str = "VTODO"


MILESTONES = (
    Milestone("demo-design", "Design mockups", 7),
    Milestone("demo-content", "Content migration", 10),
    Milestone("demo-frontend", "Frontend build", 16),
    Milestone("demo-launch", "Launch", 20, kind="VEVENT"),
)

# (working day, hour, sender, body) — what the team writes, day by day
NOTES = (
    (0, 10, "alice@studio.example", "Milestone: Design mockups\nDone: 10%\nRemaining: 6 days\n"),
    (0, 11, "bob@studio.example", "Milestone: Content migration\nDone: 5%\nRemaining: 9 days\n"),
    (1, 16, "bob@studio.example", "Milestone: Frontend\nDone: about half\n"),
    (2, 17, "alice@studio.example",
     "Milestone: design mockups\nDone: 20%\nRemaining: 9 days\n"
     "Cause: we underestimated how many page templates the new site needs\n"
     "Plan: a second designer joins on Monday and we review the mockups with you daily\n"),
    (3, 10, "bob@studio.example", "Milestone: Content migration\nDone: 45%\nRemaining: 4 days\n"),
    (5, 10, "alice@studio.example", "Milestone: Design mockups\nDone: 55%\nRemaining: 5 days\n"),
    (6, 11, "bob@studio.example", "Milestone: Content migration\nDone: 80%\nRemaining: 2 days\n"),
    (8, 15, "bob@studio.example", "Milestone: Content migration\nDone: 100%\n"),
    (9, 12, "alice@studio.example", "Milestone: Design mockups\nDone: 90%\nRemaining: 1 day\n"),
    (10, 16, "alice@studio.example", "Milestone: Design mockups\nDone: 100%\n"),
)


def _ics(m: Milestone, start: dt.date, due: dt.date) -> str:
    stamp = "20260101T000000Z"
    if m.kind == "VEVENT":
        when = (f"DTSTART;VALUE=DATE:{due:%Y%m%d}\r\n"
                f"DTEND;VALUE=DATE:{due + dt.timedelta(days=1):%Y%m%d}\r\n")  # all-day: DTEND is exclusive
    else:  # the work starts with the demo: DTSTART to DUE is its plan
        when = f"DTSTART;VALUE=DATE:{start:%Y%m%d}\r\nDUE;VALUE=DATE:{due:%Y%m%d}\r\n"
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//deadlinewatch demo//EN\r\nBEGIN:{m.kind}\r\n"
            f"UID:{m.uid}\r\nDTSTAMP:{stamp}\r\nSUMMARY:{m.name}\r\n{when}END:{m.kind}\r\nEND:VCALENDAR\r\n")


def _note(sender: str, body: str, at: dt.datetime) -> bytes:
    msg = EmailMessage(policy=default_policy)
    msg["From"] = sender
    msg["To"] = INBOX
    msg["Subject"] = "[acme-web] progress"
    msg["Date"] = format_datetime(at)
    msg["Message-ID"] = make_msgid(domain="studio.example")
    msg.set_content(body + "\n-- \n" + sender.split("@")[0].capitalize() + "\n")
    return msg.as_bytes()


def _config(directory: Path, caldav: CalDAVServer, imap: PymapServer, smtp: SmtpSink) -> Path:
    return write_local_config(directory / "deadlinewatch.toml", caldav_url=caldav.url, imap_port=imap.port,
                              imap_user=imap.user, imap_password=imap.password, smtp_port=smtp.port,
                              holidays="", context="your annual shareholder meeting",
                              client_holidays="GB")  # a London client: no promise on Christmas or New Year's Day


def _say(text: str = "") -> None:
    print(text, flush=True)


def main(out: Path, now_text: str | None = None) -> int:
    tz = zoneinfo.ZoneInfo(TEAM_TZ)
    cal = WorkCalendar()
    start_day = dt.date.fromisoformat(now_text[:10]) if now_text else dt.datetime.now(tz).date()
    start_day = cal.add(start_day - dt.timedelta(days=1), 1)  # the first working day from then on
    directory = Path(tempfile.mkdtemp(prefix="deadlinewatch-demo-"))
    servers: list[CalDAVServer | PymapServer | SmtpSink] = []
    try:
        _say(f"Starting local servers in {directory} …")
        caldav = CalDAVServer(directory / "radicale", kind="radicale").start()
        servers.append(caldav)
        imap = PymapServer(directory / "pymap").start()
        servers.append(imap)
        inbox_writer: list[ImapMailbox] = []

        def deliver(raw: bytes) -> None:
            # the archive copy (Bcc to the inbox) arrives like any mail; deadlinewatch files it in sent_folder
            config = config_mod.load(directory / "deadlinewatch.toml")
            box = ImapMailbox(wiring.imap_settings(config))
            try:
                box.append("INBOX", raw)
            finally:
                box.close()

        smtp = SmtpSink(local_address=INBOX, deliver=deliver).start()
        servers.append(smtp)
        _say(f"  Radicale (CalDAV) on 127.0.0.1:{caldav.port}, pymap (IMAP) on 127.0.0.1:{imap.port}, "
             f"SMTP sink on 127.0.0.1:{smtp.port}")
        calendar_url = caldav.make_calendar("acme-web", "acme-web")
        _say("\nThe project calendar \"acme-web\" (ACME website relaunch, client Jane Doe):")
        for m in MILESTONES:
            due = cal.add(start_day, m.due_after)
            caldav.put(calendar_url, m.uid, _ics(m, start_day, due))
            _say(f"  {m.name:<18} due {due:%a %d %b %Y}")
        path = _config(directory, caldav, imap, smtp)
        config = config_mod.load(path)
        store = open_state(config.state_dir, config.daemon.database, config.accounts.get("database"))
        clock = FixedClock(dt.datetime.combine(start_day, dt.time(9), tzinfo=tz))
        svc = wiring.services(config, store, clock)
        box = ImapMailbox(wiring.imap_settings(config))
        inbox_writer.append(box)
        seen = 0
        last_day = max(n[0] for n in NOTES) + 1
        for day in range(last_day + 1):
            date = cal.add(start_day, day)
            todays = [n for n in NOTES if n[0] == day]
            moments = sorted({n[1] for n in todays} | {9})
            for hour in moments:
                at = dt.datetime.combine(date, dt.time(hour), tzinfo=tz)
                for _, h, sender, body in todays:
                    if h == hour:
                        box.append("INBOX", _note(sender, body, at), at)
                clock.at = at + dt.timedelta(minutes=5)
                report = asyncio.run(run_pass(svc))
                lines = [e for e in report.events if not e.startswith("acme-web: new milestone")]
                if lines or (hour == 9 and day == 0):
                    _say(f"\n{clock.at:%a %d %b %H:%M}")
                for line in lines:
                    _say("  " + line)
                for p in report.problems:
                    _say("  problem: " + p)
            seen = len(smtp.messages)
        box.close()
        store.close()
        _write_out(out, smtp, config.projects[0].client.email)
        _say(f"\n{seen} messages went out. Client mail and calendar files are in {out.resolve()}/")
        return 0
    except KeyboardInterrupt as e:
        _say("\ninterrupted; stopping the servers")
        return exit_code(e)
    finally:
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(directory, ignore_errors=True)


def _write_out(out: Path, smtp: SmtpSink, client: str) -> None:
    """Every message the client received, as .eml, and its calendar parts as .ics, numbered in order."""
    out.mkdir(parents=True, exist_ok=True)
    for old in list(out.glob("*.eml")) + list(out.glob("*.ics")):
        old.unlink()
    n = 0
    for _, rcpts, raw in smtp.messages:
        msg = message_from_bytes(raw, policy=default_policy)
        if client not in rcpts:
            continue
        n += 1
        kind = str(msg.get("X-Deadlinewatch-Kind", "message"))
        (out / f"client-{n:02d}-{kind}.eml").write_bytes(raw)
        for part in msg.walk():
            if part.get_content_type() != "text/calendar":
                continue
            name = "timeline" if part.get_filename() == "timeline.ics" else str(part.get_param("method")).lower()
            payload = part.get_payload(decode=True)
            (out / f"client-{n:02d}-{kind}-{name}.ics").write_bytes(payload if isinstance(payload, bytes) else b"")
        _say(f"  wrote {out / f'client-{n:02d}-{kind}.eml'}: {str(msg['Subject']).strip()}")
