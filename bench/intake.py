"""Intake benchmark: how fast deadlinewatch takes progress notes in, beside what the IMAP server itself costs.

1. Ingest: N notes (default 10,000) seeded into Dovecot's Maildir; the time of deadlinewatch's inbox stage
   (scan, fetch, parse, authenticate, decide, record with the reply queued, move) beside a bare imapclient FETCH
   BODY.PEEK[] of the same messages in batches of 500, measured in the same run.
2. Reaction: the daemon idling, approval auto; a note that tips a milestone into a miss is APPENDed; the time
   until its reply, and until the client's notice, reach the SMTP server — medians of R rounds, beside
   Dovecot's own IDLE floor (an IDLE client seeing EXISTS after an APPEND), same run.
3. Responsiveness: `deadlinewatch status` (answered by the daemon over its control socket) while the daemon
   takes in a 4 MB note of 100,000 blocks, beside the same command on the idle daemon.

Run: python bench/intake.py [--notes 10000] [--rounds 15]. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email import message_from_bytes
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import imapclient

from deadlinewatch import config as config_mod
from deadlinewatch import wiring
from deadlinewatch.adapters import mailbox as mailbox_mod
from deadlinewatch.adapters.clock import FixedClock
from deadlinewatch.adapters.store import Store
from deadlinewatch.core import intake as intake_mod
from deadlinewatch.core import notes as notes_mod
from deadlinewatch.decisions import inbox as inbox_decisions
from deadlinewatch.demo.servers import CalDAVServer, SmtpSink, write_local_config
from deadlinewatch.services import PassReport
from deadlinewatch.stages import inbox as inbox_mod
from deadlinewatch.stages.calendar_sync import sync_calendars
from deadlinewatch.stages.inbox import read_inbox

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' Dovecot, tests/dovecot.py (not shipped)
from tests.dovecot import DovecotServer

MILESTONES = 20
AUTHSERV_ID = "mx.studio.example"  # the studio's mail server, as its Authentication-Results name it


def milestone_ics(i: int) -> str:
    due = dt.date(2027, 3, 1) + dt.timedelta(days=i)
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:bench\r\nBEGIN:VTODO\r\nUID:m{i}\r\n"
            f"DTSTAMP:20260101T000000Z\r\nSUMMARY:Milestone {i}\r\nDUE;VALUE=DATE:{due:%Y%m%d}\r\n"
            "END:VTODO\r\nEND:VCALENDAR\r\n")


def note(i: int, when: dt.datetime, milestone: int | None = None, remaining: int | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Alice <alice@studio.example>" if i % 2 else "Bob <bob@studio.example>"
    msg["To"] = "progress@studio.example"
    msg["Subject"] = "[acme-web] progress"
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = make_msgid(idstring=f"bench{i}", domain="studio.example")
    # what the studio's own server adds to a member's mail (imap.require_authentication: the daemon checks it)
    # (its signature's first characters, header.b, differ from one message to the next)
    signature = hashlib.sha256(str(i).encode()).hexdigest()[:8]
    msg["Authentication-Results"] = (f"{AUTHSERV_ID}; dkim=pass (2048-bit key) header.d=studio.example "
                                     f"header.s=mail header.b={signature}; spf=pass smtp.mailfrom=studio.example; "
                                     "dmarc=pass header.from=studio.example")
    milestone = i % MILESTONES if milestone is None else milestone
    remaining = 1 + i % 9 if remaining is None else remaining
    msg.set_content(f"Milestone: Milestone {milestone}\nDone: {i % 100}%\nRemaining: {remaining} days\n"
                    "Cause: the review took longer\nPlan: pairing on it tomorrow\n\n-- \nA. Person\n")
    return msg.as_bytes()


def bare_fetch(port: int) -> float:
    started = time.perf_counter()
    with imapclient.IMAPClient("127.0.0.1", port=port, ssl=False) as c:
        c.login("progress", "progresspw")
        c.select_folder("INBOX", readonly=True)
        uids = c.search()
        for i in range(0, len(uids), 500):
            c.fetch(uids[i:i + 500], ["BODY.PEEK[]"])
    return time.perf_counter() - started


def bare_fetch_and_move(port: int) -> float:
    """The IMAP work any ingest must do: FETCH every message and MOVE it out of the inbox (then, untimed, back)."""
    with imapclient.IMAPClient("127.0.0.1", port=port, ssl=False) as c:
        c.login("progress", "progresspw")
        if not c.folder_exists("bench-scratch"):
            c.create_folder("bench-scratch")
        c.select_folder("INBOX")
        started = time.perf_counter()
        uids = c.search()
        for i in range(0, len(uids), 500):
            c.fetch(uids[i:i + 500], ["BODY.PEEK[]"])
        for i in range(0, len(uids), 500):
            c.move(uids[i:i + 500], "bench-scratch")
        elapsed = time.perf_counter() - started
        c.select_folder("bench-scratch")
        c.move(c.search(), "INBOX")
    return elapsed


class Steps:
    """Where the inbox stage's time goes: each step's own time (a step timed inside another is counted once, in
    itself), by wrapping the functions the stage calls (a few microseconds a message)."""

    STEPS = (  # (label, owner, attribute)
        ("IMAP scan (UIDs, Message-IDs)", mailbox_mod.ImapMailbox, "scan"),
        ("IMAP fetch", mailbox_mod.ImapMailbox, "fetch"),
        ("parsing: the MIME message and its headers", intake_mod, "read_message"),
        ("parsing: the text (quotes, signature gone)", intake_mod, "body_text"),
        ("parsing: the note's blocks", notes_mod, "parse_note"),
        ("authentication checks (RFC 8601)", intake_mod, "authenticated"),
        ("the parsing thread's own loop", inbox_mod, "_prepare"),
        ("look up (the batch's snapshot: store reads)", inbox_mod, "snapshot"),
        ("decide (classify)", inbox_decisions, "decide_message"),
        ("reply: forecast and policy", inbox_decisions, "as_evaluated"),
        ("reply: the team's spread, learned again with the note", inbox_decisions, "learned_from"),
        ("reply: the team's spread, fitted", inbox_decisions, "spread_of"),
        ("reply: composition (words, letter, bytes)", inbox_decisions, "_reply"),
        ("transactions: SQL, a savepoint each", Store, "carry_out"),
        ("transactions: commit, one per batch", Store, "transaction"),
        ("IMAP move (UID sets)", mailbox_mod.ImapMailbox, "move"),
    )
    # the steps (#31 item 3), each the sum of the steps above whose label starts with its name
    SHARES = ("IMAP scan", "IMAP fetch", "parsing", "authentication", "look up", "decide", "reply", "transactions",
              "IMAP move")

    def __init__(self) -> None:
        self.own: dict[str, float] = dict.fromkeys((label for label, _, _ in self.STEPS), 0.0)
        self._local = threading.local()
        self._saved: list[tuple[object, str, object | None]] = []

    def _enter(self) -> None:
        stack = self._local.__dict__.setdefault("stack", [])
        stack.append(0.0)  # time spent in timed steps inside this one

    def _leave(self, label: str, elapsed: float) -> None:
        stack = self._local.stack
        inner = stack.pop()
        self.own[label] += elapsed - inner
        if stack:
            stack[-1] += elapsed

    def _wrap(self, label: str, fn: Callable[..., object], context: bool) -> Callable[..., object]:
        if context:
            @contextmanager
            def timed_cm(*args: object, **kwargs: object) -> Iterator[object]:
                with fn(*args, **kwargs) as value:  # type: ignore[attr-defined]  # Store.transaction
                    yield value
                    self._enter()
                    started = time.perf_counter()  # the commit: the block's end to the context's end
                self._leave(label, time.perf_counter() - started)
            return timed_cm

        def timed(*args: object, **kwargs: object) -> object:
            self._enter()
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self._leave(label, time.perf_counter() - started)
        return timed

    def __enter__(self) -> Steps:
        for label, owner, name in self.STEPS:
            fn = getattr(owner, name)
            self._saved.append((owner, name, vars(owner).get(name)))
            setattr(owner, name, self._wrap(label, fn, name == "transaction"))
        return self

    def __exit__(self, *_: object) -> None:
        for owner, name, fn in reversed(self._saved):
            if fn is None:
                delattr(owner, name)
            else:
                setattr(owner, name, fn)
        self._saved.clear()

    def print(self, total: float, notes: int) -> None:
        print("  where the inbox stage's time goes (each step's own time):")
        rest = total - sum(self.own.values())
        rows = [*self.own.items(), ("the rest (the stage's own loop, logging, …)", rest)]
        for label, seconds in rows:
            print(f"    {label:<46} {seconds:7.2f} s  {seconds / total:6.1%}  "
                  f"{seconds / notes * 1000:6.3f} ms a note")
        shares = {name: sum(s for label, s in self.own.items() if label.startswith(name)) for name in self.SHARES}
        print("  shares: " + ", ".join(f"{name} {s / total:.0%}" for name, s in [*shares.items(), ("rest", rest)]))


def authenticating(config_path: Path) -> Path:
    """The config as a studio runs it: members' mail must carry its server's DKIM/DMARC pass (the loopback
    servers' starter config turns the check off, their mail carrying none)."""
    text = config_path.read_text().replace("require_authentication = false",
                                           f'require_authentication = true\nauthserv_id = "{AUTHSERV_ID}"')
    config_path.write_text(text)
    return config_path


def ingest(config_path: Path, steps: Steps | None = None) -> tuple[float, int, float]:
    """The inbox stage over everything seeded; with `steps`, each step timed as well. Returns its time, the notes
    accepted, and the CPU time this process spent in it (every thread's: on a machine shared with other work the
    wall time also counts the waits for a core, the CPU time does not)."""
    config = config_mod.load(config_path)
    store = Store.open(config.state_dir)
    svc = wiring.services(config, store, FixedClock(dt.datetime.now(dt.UTC)))
    report = PassReport()
    asyncio.run(sync_calendars(svc, report))
    started, cpu = time.perf_counter(), time.process_time()
    if steps is None:
        asyncio.run(read_inbox(svc, report))
    else:
        with steps:
            asyncio.run(read_inbox(svc, report))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    accepted = store.note_count().get("accepted", 0)
    store.close()
    return elapsed, accepted, cpu


def idle_floor(port: int, rounds: int, dovecot: DovecotServer) -> list[float]:
    delays = []
    with imapclient.IMAPClient("127.0.0.1", port=port, ssl=False) as c:
        c.login("progress", "progresspw")
        c.select_folder("INBOX", readonly=True)
        for i in range(rounds):
            c.idle()
            started = time.perf_counter()
            dovecot.save("progress", note(10_000_000 + i, dt.datetime.now(dt.UTC)))
            while not any(r[1] == b"EXISTS" for r in c.idle_check(timeout=5) if len(r) > 1):
                pass
            delays.append(time.perf_counter() - started)
            c.idle_done()
    return delays


def flood(i: int) -> bytes:
    """A 4 MB note of 100,000 blocks from a member: what once held the daemon's event loop for a minute."""
    body = "".join(f"Milestone: Milestone {n % MILESTONES}\nDone: 10%\n\n" for n in range(100_000))
    return (f"From: Alice <alice@studio.example>\r\nSubject: [acme-web] progress\r\n"
            f"Message-ID: <flood-{i}@studio.example>\r\n\r\n{body}").encode()


def status_seconds(config_path: Path, meanwhile: Callable[[], None] | None = None) -> float:
    """How long `deadlinewatch status` takes to answer (through the running daemon), started right after
    `meanwhile` (which gives the daemon something to chew on)."""
    if meanwhile is not None:
        meanwhile()
        time.sleep(0.7)  # past Dovecot's IDLE notification: the daemon is taking it in now
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "deadlinewatch", "--config", str(config_path), "status"], check=True,
                   capture_output=True, timeout=300)
    return time.perf_counter() - started


def reaction(config_path: Path, dovecot: DovecotServer, sink: SmtpSink, rounds: int, folder: Path,
             responsive: list[tuple[float, float]], held_rounds: list[int]) -> tuple[list[float], list[float]]:
    """Each round, a note that tips another milestone into a miss (200 working days left, its deadline months
    away): the delay to the sender's reply, and to the client's notice, both as accepted by the SMTP server."""
    log = open(folder / "daemon.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "deadlinewatch", "--config", str(config_path), "run"],
                            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    replies, notices, held = [], [], held_rounds
    try:
        deadline = time.monotonic() + 60
        while "deadlinewatch running" not in (folder / "daemon.log").read_text():
            if time.monotonic() > deadline:
                raise RuntimeError("the daemon did not start")
            time.sleep(0.05)
        # the first pass answers the notes ingested above: wait until the outbox is quiet
        count, quiet_since = -1, time.monotonic()
        while time.monotonic() - quiet_since < 2:
            if len(sink.messages) != count:
                count, quiet_since = len(sink.messages), time.monotonic()
            time.sleep(0.1)
        for i in range(rounds):
            before = len(sink.messages)
            raw = note(20_000_000 + i, dt.datetime.now(dt.UTC), milestone=i, remaining=200)
            wanted = str(message_from_bytes(raw)["Message-ID"]).encode()
            started = time.perf_counter()
            dovecot.save("progress", raw)
            deadline = time.monotonic() + 30
            reply = notice = None
            while reply is None or notice is None:
                if time.monotonic() > deadline:
                    raise RuntimeError("no reply or no notice within 30 s")
                fresh = sink.messages[before:]
                if reply is None and any(wanted in m[2] and b"auto-replied" in m[2] for m in fresh):
                    reply = time.perf_counter() - started
                if notice is None and any(b"X-Deadlinewatch-Kind: notice" in m[2] and "jane@acme.example" in m[1]
                                          for m in fresh):
                    notice = time.perf_counter() - started
                # the policy holds a promise far beyond the team's own date for the manager while it knows the team
                # too little (core/policy.py outruns_team): the draft to the manager is then the notice's moment
                if notice is None and any(b"X-Deadlinewatch-Kind: manager-draft" in m[2] for m in fresh):
                    notice = time.perf_counter() - started
                    held.append(i)
                time.sleep(0.005)
            replies.append(reply)
            notices.append(notice)
            time.sleep(0.3)
        for i in range(3):  # a `status` through the control socket, beside one while a 4 MB note is taken in
            idle = status_seconds(config_path)
            responsive.append((idle, status_seconds(config_path, lambda i=i: dovecot.save("progress", flood(i)))))
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()
    return replies, notices


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notes", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="dw-bench-intake-"))
    folder.chmod(0o755)
    caldav = CalDAVServer(folder / "radicale", kind="radicale")
    dovecot = DovecotServer(folder / "dovecot")
    sink = SmtpSink(local_address="progress@studio.example")
    try:
        now = dt.datetime.now(dt.UTC)
        started = time.perf_counter()
        dovecot.seed("progress", [note(i, now) for i in range(args.notes)])
        print(f"seeded {args.notes} notes into Maildir in {time.perf_counter() - started:.2f} s")
        dovecot.start()
        caldav.start()
        sink.start()
        cal = caldav.make_calendar("acme-web")
        for i in range(MILESTONES):
            caldav.put(cal, f"m{i}", milestone_ics(i))
        config_path = authenticating(write_local_config(folder / "dw.toml", caldav_url=caldav.url,
                                                        imap_port=dovecot.port, smtp_port=sink.port, holidays=""))

        baseline = min(bare_fetch(dovecot.port) for _ in range(3))
        floor = min(bare_fetch_and_move(dovecot.port) for _ in range(3))
        steps = Steps()
        elapsed, accepted, cpu = ingest(config_path, steps)
        print(f"\ningest of {args.notes} notes ({accepted} accepted, each recorded with its reply queued, all moved)")
        print(f"  bare imapclient FETCH BODY.PEEK[] (best of 3):          {baseline:8.2f} s")
        print(f"  bare FETCH, then MOVE of them all (best of 3):          {floor:8.2f} s   "
              f"({floor / baseline:.1f}x the FETCH alone)")
        print(f"  deadlinewatch inbox stage:                              {elapsed:8.2f} s   "
              f"{elapsed / baseline:.1f}x the FETCH, {elapsed / floor:.1f}x FETCH + MOVE   "
              f"({elapsed / args.notes * 1000:.2f} ms a note; goal: within 5x FETCH + MOVE)")
        print(f"  its CPU time (this process, every thread):              {cpu:8.2f} s   "
              f"({cpu / args.notes * 1000:.2f} ms a note; the rest of the wall time waited for IMAP or for a core)")
        steps.print(elapsed, args.notes)

        floor = idle_floor(dovecot.port, args.rounds, dovecot)
        # the daemon gets a state of its own: it reacts to new notes, not to the backlog answered above
        (folder / "daemon").mkdir()
        daemon_config = authenticating(write_local_config(folder / "daemon" / "dw.toml", caldav_url=caldav.url,
                                                          imap_port=dovecot.port, smtp_port=sink.port, holidays=""))
        rounds = min(args.rounds, MILESTONES)  # each round tips a milestone of its own
        responsive: list[tuple[float, float]] = []
        held: list[int] = []
        replies, notices = reaction(daemon_config, dovecot, sink, rounds, folder, responsive, held)
        f50, r50, n50 = statistics.median(floor), statistics.median(replies), statistics.median(notices)
        print(f"\nreaction to a note that tips a milestone into a miss, daemon idling, approval auto ({rounds} rounds)")
        print(f"  Dovecot IDLE floor (APPEND → EXISTS), median:          {f50:6.3f} s")
        print(f"  APPEND → the sender's reply accepted by SMTP, median:   {r50:6.3f} s   above the floor by "
              f"{r50 - f50:.3f} s   (goal: within 0.3 s)")
        print(f"  APPEND → the client's notice accepted by SMTP, median:  {n50:6.3f} s   above the floor by "
              f"{n50 - f50:.3f} s   (goal: within 0.5 s)"
              + (f"   ({len(held)} of {rounds}: the manager's draft, the notice held for approval)" if held else ""))
        idle50 = statistics.median(r[0] for r in responsive)
        busy50 = statistics.median(r[1] for r in responsive)
        print("\nthe daemon's event loop while it takes in a 4 MB note of 100,000 blocks (3 rounds)")
        print(f"  `deadlinewatch status` through the daemon, idle, median:  {idle50:6.3f} s")
        print(f"  the same, while the note is taken in, median:            {busy50:6.3f} s   "
              f"{busy50 / idle50:.1f}x idle   (parsed in a thread: the loop answers)")
    finally:
        sink.stop()
        caldav.stop()
        dovecot.stop()


if __name__ == "__main__":
    main()
