"""Failover benchmark (#30 item 6): two `deadlinewatch run` processes over one PostgreSQL state, with Radicale,
Dovecot and an SMTP sink on loopback, and faults made on purpose. Every run is randomized by a seed (printed; the
whole sequence comes back with --seed).

1. SIGKILL half way: N notes (--notes, default 1,000) seeded into the inbox, each answered by a reply; the daemon
   holding the mailbox is SIGKILLed when a random share (30 %..70 %, by the seed) of the notes is decided. Then,
   from PostgreSQL and the sink: every note decided once (one `messages` row per Message-ID, at most one report
   per message key), every note answered once (one reply per In-Reply-To at the sink), no Message-ID twice at the
   sink, nothing left `sending` (nor `pending`), the INBOX empty. The takeover: from the kill until the survivor
   holds the mailbox lease, and all four parts (the leases table, polled every 20 ms): goal ≤ poll_seconds.
   The time from the kill until the inbox is drained is printed beside 2 × poll_seconds.
2. SIGTERM half way: the same; the takeover measured from the signal and from the process's exit (it finishes
   its step in flight first): goal ≤ 1 s.
3. SIGSTOP: a daemon (the mailbox's holder or the outbox's, by the seed) frozen for twice its lease while the
   notes flow, then SIGCONT. Its writes are counted by triggers the benchmark adds to every table of the state
   (a daemon is named by PGOPTIONS="-c dwbench.daemon=A": the trigger reads it; it records the leases that
   daemon holds, unexpired, at the write) and a trigger on `leases` keeps the history of every holding. Its SMTP
   sessions are told apart by the client's port: at each connection the sink finds the socket's inode in
   /proc/net/tcp and the process holding it in /proc/PID/fd. Counted from SIGSTOP + lease until 5 s after
   SIGCONT: writes made while it held no lease (goal 0), writes before it took a lease again after SIGCONT
   (goal 0), SMTP sessions opened and messages delivered from it while it did not hold the outbox (goal 0).
4. 500 outbox messages (500 notes, each answered) through 2 daemons: each Message-ID at the sink exactly once,
   and which daemon sent how many.
5. The baseline, same run: the same N notes through ONE daemon on SQLite, beside two daemons on PostgreSQL,
   each from the processes' start until every note is answered at the sink and the INBOX is empty; the ratio.
6. Crash points (with --crash-points R: R runs at each): two daemons, their SMTP and IMAP through proxies
   (tests/faultproxy.py); a proxy holds an exchange at the point — when a random share (20 %..60 %) of the notes
   is decided, the next SMTP connection before its greeting (after `sending` is committed) or the server's answer
   to the next DATA (after DATA; the sink files the message's archive copy, or, at "copy missing", loses it); the
   notes' first IMAP MOVE (before the move: that reading's notes decided and committed) — and the daemon on the
   other end is SIGKILLed there. Once the survivor drained the inbox: the same counts as 1, a Message-ID twice
   allowed only at "after DATA" with the copy missing (the documented window), and there once.

The sink files each message Bcc'd to the inbox (the archive copy) into Dovecot's Maildir before it answers 250,
as a real server would, so a message left `sending` by a crash can be found there by the next holder.
The crash points are also a test (tests/integration/test_crash_points.py: one note, each point once). Not measured
here: one weekly mail per slot (it needs the clock moved to a slot).

Run: python bench/failover.py [--runs 20] [--notes 1000] [--seed S] [--only 1,2,3,4,5] [--crash-points R]
(only the crash points: --only 6 --crash-points R). Figures are printed,
never asserted; a run that breaks a promise is listed with its seed and its logs are kept.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import contextlib
import datetime as dt
import functools
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import imapclient
from psycopg import sql

from deadlinewatch.demo.servers import CalDAVServer, write_local_config

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' Dovecot and PostgreSQL (not shipped)
from tests.dovecot import DovecotServer
from tests.faultproxy import CRASH_POINTS, NOTES_MOVE, FaultProxy, socket_owner
from tests.postgres_server import PostgresDatabase, PostgresServer

POLL = 10  # poll_seconds: the least the config allows
LEASE = 6.0  # coordination.lease_time(POLL): 0.6 of a poll
PARTS = ("calendars", "evaluation", "mailbox", "outbox")
MILESTONES = 20
TAG = "failover-note"  # in every note's Message-ID
DRAIN_TIMEOUT = 180.0


def milestone_ics(i: int) -> str:
    due = dt.date(2027, 3, 1) + dt.timedelta(days=i)
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:bench\r\nBEGIN:VTODO\r\nUID:m{i}\r\n"
            f"DTSTAMP:20260101T000000Z\r\nSUMMARY:Milestone {i}\r\nDUE;VALUE=DATE:{due:%Y%m%d}\r\n"
            "END:VTODO\r\nEND:VCALENDAR\r\n")


def note(i: int, when: dt.datetime) -> bytes:
    """A member's progress note on one milestone: decided, recorded and answered by a reply."""
    msg = EmailMessage()
    msg["From"] = "Alice <alice@studio.example>" if i % 2 else "Bob <bob@studio.example>"
    msg["To"] = "progress@studio.example"
    msg["Subject"] = "[acme-web] progress"
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = make_msgid(idstring=f"{TAG}{i}", domain="studio.example")
    msg.set_content(f"Milestone: Milestone {i % MILESTONES}\nDone: {i % 100}%\nRemaining: {1 + i % 9} days\n"
                    "Cause: the review took longer\nPlan: pairing on it tomorrow\n\n-- \nA. Person\n")
    return msg.as_bytes()


# --- the SMTP sink ----------------------------------------------------------------------------------------------

@dataclass
class Delivery:
    at: float  # time.time()
    peer_port: int
    owner: str | None
    message_id: str
    in_reply_to: str
    kind: str


class Sink:
    """aiosmtpd on 127.0.0.1: every session (its client's port, and with `pids` the process it came from) and
    every message; a message for the inbox's address is filed into the run's Maildir before the 250."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sessions: list[tuple[float, int, str | None]] = []
        self.deliveries: list[Delivery] = []
        self.maildir: Path | None = None
        self.pids: dict[int, str] = {}  # attribute sessions to these processes (empty: not at all)
        self.owners: dict[int, str | None] = {}  # client port → label, for the session in progress
        self.port = 0
        self.controller: Any = None
        # scenario 6's "copy missing": the first archive copy once this is set is lost — the proxy's `held`, set
        # as the held DATA goes by to this server (a message before it is through, its 250 heard)
        self.lose_after: threading.Event | None = None
        self._n = 0

    def reset(self, maildir: Path | None, pids: dict[int, str] | None = None) -> None:
        with self.lock:
            self.sessions, self.deliveries, self.owners = [], [], {}
            self.maildir, self.pids = maildir, dict(pids or {})

    def start(self) -> Sink:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import SMTP

        from deadlinewatch.demo.servers import free_port

        sink = self

        class Session(SMTP):
            def connection_made(self, transport: Any) -> None:
                super().connection_made(transport)
                port = int(transport.get_extra_info("peername")[1])
                owner = socket_owner(port, sink.port, sink.pids) if sink.pids else None
                with sink.lock:
                    sink.owners[port] = owner
                    sink.sessions.append((time.time(), port, owner))

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                raw = bytes(envelope.original_content or envelope.content)
                if any(r.lower() == "progress@studio.example" for r in envelope.rcpt_tos):
                    sink.file(raw)
                headers = BytesHeaderParser().parsebytes(raw)
                port = int(session.peer[1])
                with sink.lock:
                    sink.deliveries.append(Delivery(time.time(), port, sink.owners.get(port),
                                                    str(headers.get("Message-ID", "")).strip(),
                                                    str(headers.get("In-Reply-To", "")).strip(),
                                                    str(headers.get("X-Deadlinewatch-Kind", "")).strip()))
                return "250 OK"

        class Server(Controller):
            def factory(self) -> SMTP:
                return Session(self.handler, **self.SMTP_kwargs)

        self.port = free_port()
        self.controller = Server(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def file(self, raw: bytes) -> None:
        """The archive copy delivered as an MDA does: written in tmp/, renamed into new/."""
        if self.maildir is None:
            return
        if self.lose_after is not None and self.lose_after.is_set():
            self.lose_after = None
            return
        self._n += 1
        name = f"{time.time():.6f}.P{os.getpid()}Q{self._n}.sink"
        tmp = self.maildir / "tmp" / name
        tmp.write_bytes(raw)
        if os.geteuid() == 0:
            os.chown(tmp, 65534, 65534)  # Dovecot's mail user in tests/dovecot.py
        os.rename(tmp, self.maildir / "new" / name)

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()

    def snapshot(self) -> list[Delivery]:
        with self.lock:
            return list(self.deliveries)

    def replied(self) -> int:
        """How many notes have had a reply (distinct In-Reply-To naming a note)."""
        with self.lock:
            return len({d.in_reply_to for d in self.deliveries if TAG in d.in_reply_to})


# --- one run: Dovecot with its notes, a database, the daemons ---------------------------------------------------

@dataclass
class Shared:
    folder: Path
    postgres: PostgresServer
    caldav: CalDAVServer
    sink: Sink


@dataclass
class Run:
    shared: Shared
    name: str
    notes: int
    engine: str = "postgres"  # or "sqlite"
    daemons: int = 2
    attribute: bool = False
    proxied: bool = False  # SMTP and IMAP through FaultProxy (scenario 6)
    folder: Path = field(init=False)
    dovecot: DovecotServer = field(init=False)
    db: PostgresDatabase | None = None
    configs: list[Path] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    started: float = 0.0
    imap: imapclient.IMAPClient | None = None
    proxies: dict[str, FaultProxy] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.folder = self.shared.folder / self.name
        self.folder.mkdir(parents=True)
        self.folder.chmod(0o755)
        self.dovecot = DovecotServer(self.folder / "dovecot")
        now = dt.datetime.now(dt.UTC)
        self.dovecot.seed("progress", [note(i, now) for i in range(self.notes)])
        self.dovecot.start()
        if self.engine == "postgres":
            self.db = self.shared.postgres.database()
        ports = {"smtp": self.shared.sink.port, "imap": self.dovecot.port}
        if self.proxied:
            self.proxies = {name: FaultProxy(port).start() for name, port in ports.items()}
            ports = {name: proxy.port for name, proxy in self.proxies.items()}
        for n in range(self.daemons):
            label = "AB"[n]
            d = self.folder / label
            d.mkdir()
            cfg = write_local_config(d / "dw.toml", caldav_url=self.shared.caldav.url, imap_port=ports["imap"],
                                     smtp_port=ports["smtp"], holidays="")
            text = cfg.read_text().replace("poll_seconds = 30", f"poll_seconds = {POLL}")
            if self.db is not None:
                (d / "database.pw").write_text(self.db.password + "\n")
                (d / "database.pw").chmod(0o600)
                text = text.replace("[daemon]\n", f'[daemon]\ndatabase = "{self.db.url}"\n'
                                                  f'database_password_file = "{d}/database.pw"\n', 1)
            cfg.write_text(text)
            self.configs.append(cfg)
            self.logs.append(d / "daemon.log")
            self.labels.append(label)

    @property
    def maildir(self) -> Path:
        return self.dovecot.directory / "mail" / "progress" / "Maildir"

    def start(self) -> None:
        self.shared.sink.reset(self.maildir)
        self.started = time.monotonic()
        for cfg, log, label in zip(self.configs, self.logs, self.labels, strict=True):
            with open(log, "ab") as out:
                self.procs.append(subprocess.Popen(
                    [sys.executable, "-m", "deadlinewatch", "--config", str(cfg), "run"], stdout=out,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, "PYTHONUNBUFFERED": "1", "PGOPTIONS": f"-c dwbench.daemon={label}"}))
        if self.attribute:
            self.shared.sink.pids = {p.pid: label for p, label in zip(self.procs, self.labels, strict=True)}
        wait_for(lambda: all("deadlinewatch running" in log.read_text() for log in self.logs), 60,
                 "the daemons to start", self)

    def pid_label(self) -> dict[int, str]:
        return {p.pid: label for p, label in zip(self.procs, self.labels, strict=True)}

    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        assert self.db is not None
        with self.db.connect() as conn:
            return conn.execute(query, params).fetchall()

    def holders(self) -> dict[str, str]:
        """Each part → the label of the daemon holding it now (unexpired), by the database's clock."""
        labels = self.pid_label()
        rows = self.sql("SELECT l.name, d.pid FROM leases l JOIN daemons d ON d.id = l.holder"
                        " WHERE l.expires > now()")
        return {name: labels.get(pid, f"pid {pid}") for name, pid in rows}

    def decided(self) -> int:
        return int(self.sql("SELECT count(*) FROM messages WHERE message_id LIKE %s", (f"%{TAG}%",))[0][0])

    def inbox(self) -> int:
        if self.imap is None:
            self.imap = imapclient.IMAPClient("127.0.0.1", port=self.dovecot.port, ssl=False, timeout=30)
            self.imap.login("progress", "progresspw")
        return int(self.imap.folder_status("INBOX", [b"MESSAGES"])[b"MESSAGES"])

    def drained(self) -> bool:
        return self.shared.sink.replied() >= self.notes and self.inbox() == 0

    def wait_drained(self, timeout: float = DRAIN_TIMEOUT) -> float:
        """Until every note is answered at the sink and the INBOX is empty; when (monotonic)."""
        deadline = time.monotonic() + timeout
        while not self.drained():
            if time.monotonic() > deadline:
                raise Stuck(f"{self.folder}: not drained within {timeout:.0f} s: {self.shared.sink.replied()} of "
                            f"{self.notes} notes answered, {self.inbox()} messages in INBOX")
            time.sleep(0.05)
        return time.monotonic()

    def settle(self, quiet: float = 2.0) -> None:
        """Until the sink has been quiet for `quiet` seconds (a late duplicate would show)."""
        count, since = -1, time.monotonic()
        while time.monotonic() - since < quiet:
            n = len(self.shared.sink.deliveries)
            if n != count:
                count, since = n, time.monotonic()
            time.sleep(0.1)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGCONT)
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.imap is not None:
            with contextlib.suppress(Exception):
                self.imap.logout()
        for proxy in self.proxies.values():
            proxy.stop()
        self.dovecot.stop()
        self.shared.sink.reset(None)

    def drop(self) -> None:
        """The run's database and mail gone (its daemons' logs stay)."""
        if self.db is not None:
            self.shared.postgres.drop(self.db)
        shutil.rmtree(self.dovecot.directory, ignore_errors=True)

    def checks(self) -> dict[str, int]:
        """What must hold once drained: counts that must be 0 (and the notes decided, answered)."""
        sink = self.shared.sink.snapshot()
        ids = collections.Counter(d.message_id for d in sink)
        replies = collections.Counter(d.in_reply_to for d in sink if TAG in d.in_reply_to)
        found = {"sink: Message-IDs twice": sum(1 for n in ids.values() if n > 1),
                 "sink: notes answered twice": sum(1 for n in replies.values() if n > 1),
                 "sink: notes not answered": self.notes - len(replies)}
        if self.db is not None:
            decided = self.sql("SELECT count(*), count(DISTINCT message_id) FROM messages WHERE message_id LIKE %s",
                               (f"%{TAG}%",))[0]
            twice = self.sql("SELECT count(*) FROM (SELECT message_key FROM reports GROUP BY message_key"
                             " HAVING count(*) > 1) x")[0][0]
            states = dict(self.sql("SELECT state, count(*) FROM outbox GROUP BY state"))
            found |= {"notes decided twice (messages rows per Message-ID)": decided[0] - decided[1],
                      "notes not decided": self.notes - decided[1],
                      "reports twice for a message key": int(twice),
                      "outbox left sending": int(states.get("sending", 0)),
                      "outbox left pending": int(states.get("pending", 0))}
        found["INBOX left"] = self.inbox()
        return found


class Stuck(RuntimeError):
    pass


def wait_for(check: Callable[[], bool], timeout: float, what: str, run: Run | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise Stuck(f"waited {timeout:.0f} s for {what}" + (f" ({run.folder})" if run else ""))
        time.sleep(0.02)


def when_holds(run: Run, label: str, parts: tuple[str, ...], since: float, timeout: float) -> dict[str, float]:
    """Poll the leases table every 20 ms: seconds from `since` until `label` holds each of `parts`."""
    took: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while len(took) < len(parts) and time.monotonic() < deadline:
        held = run.holders()
        now = time.monotonic()
        for part in parts:
            if part not in took and held.get(part) == label:
                took[part] = now - since
        time.sleep(0.02)
    return took


# --- the scenarios ----------------------------------------------------------------------------------------------

@dataclass
class Outcome:
    seed: int
    row: dict[str, str]
    broken: list[str]
    run: Run
    figures: dict[str, float] = field(default_factory=dict)


def broken_of(checks: dict[str, int]) -> list[str]:
    return [f"{k}: {v}" for k, v in checks.items() if v]


def kill_half_way(shared: Shared, seed: int, notes: int, how: signal.Signals, n: int, victim: str) -> Outcome:
    """Scenario 1 (SIGKILL) and 2 (SIGTERM)."""
    rng = random.Random(seed)
    share = rng.uniform(0.3, 0.7)
    run = Run(shared, f"{how.name.lower()}-{n}", notes)
    try:
        run.start()
        wait_for(lambda: run.decided() >= share * notes, DRAIN_TIMEOUT, f"{share:.0%} of the notes decided", run)
        held = run.holders()
        part = victim if victim != "random" else rng.choice(PARTS)
        gone_label = held.get(part) or rng.choice(run.labels)
        gone = run.procs[run.labels.index(gone_label)]
        survivor = next(label for label in run.labels if label != gone_label)
        decided_at_kill = run.decided()
        killed = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(1) as watcher:
            gone.send_signal(how)
            # the leases watched from the signal on, while the victim stops: a stopping daemon hands each part
            # over as its worker ends, before it exits
            took_future = watcher.submit(when_holds, run, survivor, PARTS, killed, POLL + 10)
            gone.wait(timeout=30)
            exited = time.monotonic()
            took = took_future.result()
        drained = run.wait_drained() - killed
        run.settle()
        checks = run.checks()
        broken = broken_of(checks)
        mailbox, every = took.get("mailbox", float("nan")), max(took.values()) if len(took) == 4 else float("nan")
        limit = POLL if how == signal.SIGKILL else 1.0
        after_exit = every - (exited - killed)
        if not mailbox <= limit:
            broken.append(f"mailbox taken over in {mailbox:.2f} s (goal ≤ {limit:.0f} s)")
        figures = {"share": decided_at_kill / notes, "mailbox": mailbox, "all": every, "exit": exited - killed,
                   "after_exit": after_exit, "drained": drained}
        row = {"seed": str(seed), "killed at": f"{decided_at_kill}/{notes}", "victim": f"{gone_label} ({part})",
               "exit": f"{exited - killed:.2f}", "mailbox": f"{mailbox:.2f}", "all 4": f"{every:.2f}",
               "drained": f"{drained:.1f}", "dups": str(checks["sink: Message-IDs twice"]),
               "sending": str(checks.get("outbox left sending", "-")), "ok": "yes" if not broken else "NO"}
        return Outcome(seed, row, broken, run, figures)
    finally:
        run.stop()


AUDIT = """
CREATE TABLE bench_ids (id BIGINT, pid INTEGER, at TIMESTAMPTZ DEFAULT clock_timestamp());
CREATE TABLE bench_labels (label TEXT, pid INTEGER);
CREATE TABLE bench_writes (at TIMESTAMPTZ, tbl TEXT, op TEXT, who TEXT, held TEXT[]);
CREATE TABLE bench_leases (at TIMESTAMPTZ, op TEXT, name TEXT, holder BIGINT, token TEXT, expires TIMESTAMPTZ);
INSERT INTO bench_ids (id, pid) SELECT id, pid FROM daemons;
CREATE FUNCTION bench_write() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE who TEXT := current_setting('dwbench.daemon', true); held TEXT[];
BEGIN
    SELECT array_agg(l.name ORDER BY l.name) INTO held FROM leases l JOIN daemons d ON d.id = l.holder
        JOIN bench_labels b ON b.pid = d.pid WHERE b.label = who AND l.expires > clock_timestamp();
    INSERT INTO bench_writes VALUES (clock_timestamp(), TG_TABLE_NAME, TG_OP, who, held);
    RETURN NULL;
END $$;
CREATE FUNCTION bench_lease() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO bench_leases VALUES (clock_timestamp(), TG_OP, OLD.name, OLD.holder, OLD.token, OLD.expires);
    ELSE
        INSERT INTO bench_leases VALUES (clock_timestamp(), TG_OP, NEW.name, NEW.holder, NEW.token, NEW.expires);
    END IF;
    RETURN NULL;
END $$;
CREATE FUNCTION bench_daemon() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO bench_ids (id, pid) VALUES (NEW.id, NEW.pid);
    RETURN NULL;
END $$;
CREATE TRIGGER bench_leases AFTER INSERT OR UPDATE OR DELETE ON leases FOR EACH ROW EXECUTE FUNCTION bench_lease();
CREATE TRIGGER bench_daemons AFTER INSERT ON daemons FOR EACH ROW EXECUTE FUNCTION bench_daemon();
"""


def audit(run: Run) -> None:
    """The triggers of scenario 3 (see the module's docstring), on every table of the state."""
    assert run.db is not None
    tables = [t for (t,) in run.sql("SELECT table_name FROM information_schema.tables WHERE table_schema ="
                                    " 'public' AND table_type = 'BASE TABLE'")
              if t not in ("leases", "daemons", "migrations") and not t.startswith("bench_")]
    with run.db.connect() as conn:
        conn.execute(AUDIT)
        for label, pid in zip(run.labels, (p.pid for p in run.procs), strict=True):
            conn.execute("INSERT INTO bench_labels VALUES (%s, %s)", (label, pid))
        for t in tables:
            conn.execute(sql.SQL("CREATE TRIGGER bench_write AFTER INSERT OR UPDATE OR DELETE ON {}"
                                 " FOR EACH ROW EXECUTE FUNCTION bench_write()").format(sql.Identifier(t)))


def freeze(shared: Shared, seed: int, notes: int, n: int) -> Outcome:
    """Scenario 3."""
    rng = random.Random(seed)
    share = rng.uniform(0.2, 0.5)
    part = rng.choice(("mailbox", "outbox"))
    run = Run(shared, f"sigstop-{n}", notes, attribute=True)
    try:
        run.start()
        wait_for(lambda: len(run.holders()) == 4, 30, "the four parts held", run)
        audit(run)
        wait_for(lambda: run.decided() >= share * notes, DRAIN_TIMEOUT, f"{share:.0%} of the notes decided", run)
        label = run.holders().get(part) or rng.choice(run.labels)
        frozen = run.procs[run.labels.index(label)]
        stopped = time.time()
        frozen.send_signal(signal.SIGSTOP)
        time.sleep(2 * LEASE)
        resumed = time.time()
        frozen.send_signal(signal.SIGCONT)
        time.sleep(5.0)
        until = time.time()
        run.wait_drained()
        run.settle()
        checks = run.checks()
        broken = broken_of(checks)
        start = stopped + LEASE
        ids = {i for (i,) in run.sql("SELECT id FROM bench_ids WHERE pid = %s", (frozen.pid,))}
        writes = run.sql("SELECT extract(epoch FROM at)::float8, tbl, op, held FROM bench_writes WHERE who = %s"
                         " AND at >= to_timestamp(%s) AND at <= to_timestamp(%s) ORDER BY at",
                         (label, start, until))
        history = run.sql("SELECT extract(epoch FROM at)::float8, op, name, holder,"
                          " extract(epoch FROM expires)::float8 FROM bench_leases ORDER BY at")
        retaken = min((at for at, op, _, holder, _ in history if holder in ids and op != "DELETE" and at > resumed),
                      default=float("inf"))

        def held(name: str, t: float) -> bool:
            last = [h for h in history if h[2] == name and h[0] <= t]
            return bool(last) and last[-1][1] != "DELETE" and last[-1][3] in ids and last[-1][4] > t

        no_lease = [w for w in writes if not w[3]]
        before_retaken = [w for w in writes if w[0] < retaken]
        sessions = [s for s in shared.sink.sessions if s[2] == label and start <= s[0] <= until]
        bad_sessions = [s for s in sessions if not held("outbox", s[0])]
        sent = [d for d in shared.sink.snapshot() if d.owner == label and start <= d.at <= until]
        bad_sent = [d for d in sent if not held("outbox", d.at)]
        unattributed = sum(1 for s in shared.sink.sessions if s[2] is None)
        found = {"writes with no lease of its own": len(no_lease),
                 "writes before it took a lease again": len(before_retaken),
                 "SMTP sessions opened without the outbox": len(bad_sessions),
                 "messages delivered without the outbox": len(bad_sent)}
        broken += broken_of(found)
        for d in bad_sent:
            twins = [x for x in shared.sink.snapshot() if x.message_id == d.message_id and x is not d]
            broken.append(f"  {d.message_id} delivered from {label} at SIGCONT+{d.at - resumed:.2f} s"
                          + (f", also from {twins[0].owner} at SIGCONT+{twins[0].at - resumed:.2f} s" if twins else ""))
        row = {"seed": str(seed), "frozen": f"{label} ({part})", "at": f"{share:.0%}",
               "writes": f"{len(writes)}", "no lease": str(len(no_lease)), "before retaken": str(len(before_retaken)),
               "retaken": f"+{retaken - resumed:.2f}" if retaken != float("inf") else "never",
               "SMTP opened": f"{len(sessions)}/{len(bad_sessions)}", "delivered": f"{len(sent)}/{len(bad_sent)}",
               "unattributed": str(unattributed - 1),  # the sink's own readiness check at its start: none per run
               "dups": str(checks["sink: Message-IDs twice"]), "ok": "yes" if not broken else "NO"}
        return Outcome(seed, row, broken, run)
    finally:
        run.stop()


def outbox_shared(shared: Shared, seed: int, notes: int, n: int) -> Outcome:
    """Scenario 4."""
    run = Run(shared, f"outbox-{n}", notes, attribute=True)
    try:
        run.start()
        run.wait_drained()
        run.settle()
        checks = run.checks()
        sink = shared.sink.snapshot()
        by = collections.Counter(d.owner or "?" for d in sink)
        row = {"seed": str(seed), "messages at the sink": str(len(sink)),
               "distinct Message-IDs": str(len({d.message_id for d in sink})),
               "replies": str(sum(1 for d in sink if TAG in d.in_reply_to)),
               "sent by": ", ".join(f"{k} {v}" for k, v in sorted(by.items())),
               "dups": str(checks["sink: Message-IDs twice"]), "ok": "yes" if not broken_of(checks) else "NO"}
        return Outcome(seed, row, broken_of(checks), run)
    finally:
        run.stop()


def crash_point(shared: Shared, seed: int, notes: int, where: str, n: int) -> Outcome:
    """Scenario 6: a daemon killed at one crash point, held there by a proxy."""
    point = CRASH_POINTS[where]
    share = random.Random(seed).uniform(0.2, 0.6)
    run = Run(shared, f"crash{list(CRASH_POINTS).index(where)}-{n}", notes, proxied=True)  # short: socket paths
    proxy = run.proxies[point.server]
    proxy.hold_on = NOTES_MOVE
    try:
        if point.server == "imap":  # the first reading's move: it follows its commit within milliseconds
            proxy.mode = point.mode
        run.start()
        wait_for(lambda: run.decided() >= share * notes, DRAIN_TIMEOUT, f"{share:.0%} of the notes decided", run)
        shared.sink.lose_after = None if point.archived else proxy.held
        proxy.mode = point.mode
        wait_for(proxy.held.is_set, 60, f"a daemon at {where!r}", run)
        label = socket_owner(proxy.held_peer, proxy.port, run.pid_label())
        if label is None:
            raise Stuck(f"{run.folder}: the held connection is no daemon's")
        decided_at_kill = run.decided()
        unmoved = run.sql("SELECT count(*) FROM messages WHERE moved = 0 AND message_id LIKE %s", (f"%{TAG}%",))
        sending = run.sql("SELECT count(*) FROM outbox WHERE state = 'sending'")[0][0]
        victim = run.procs[run.labels.index(label)]
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
        run.wait_drained()
        run.settle()
        checks = run.checks()
        allowed = 1 if point.duplicate else 0  # the held message, sent again
        twice = {k: checks.pop(k) for k in ("sink: Message-IDs twice", "sink: notes answered twice")}
        broken = broken_of(checks) + [f"{k}: {v} (allowed {allowed})" for k, v in twice.items() if v > allowed]
        if point.duplicate and not twice["sink: Message-IDs twice"]:
            broken.append("no duplicate where the window says one: was the held message's copy dropped?")
        row = {"seed": str(seed), "killed": f"{label} at {decided_at_kill}/{notes}",
               "held": f"{sending} sending" if point.server == "smtp" else f"{unmoved[0][0]} unmoved",
               "dups": str(twice["sink: Message-IDs twice"]), "allowed": str(allowed),
               "decided twice": str(checks.get("notes decided twice (messages rows per Message-ID)", "-")),
               "sending": str(checks.get("outbox left sending", "-")), "ok": "yes" if not broken else "NO"}
        return Outcome(seed, row, broken, run)
    finally:
        run.stop()


def drain(shared: Shared, notes: int, engine: str, daemons: int, n: int) -> tuple[float, Run]:
    """Scenario 5: from the processes' start until every note is answered and the INBOX is empty."""
    run = Run(shared, f"drain-{engine}-{daemons}-{n}", notes, engine=engine, daemons=daemons)
    try:
        run.start()
        return run.wait_drained() - run.started, run
    finally:
        run.stop()


# --- printing ---------------------------------------------------------------------------------------------------

def table(rows: list[dict[str, str]], header: bool = True) -> None:
    """Rows as they come: columns as wide as their names (at least 8), the names once."""
    if not rows:
        return
    cols = list(rows[0])
    widths = {c: max(len(c), 8, *(len(r.get(c, "")) for r in rows)) for c in cols}
    if header:
        print("  " + "  ".join(c.rjust(widths[c]) for c in cols))
    for r in rows:
        print("  " + "  ".join(r.get(c, "").rjust(widths[c]) for c in cols), flush=True)


def summary(name: str, values: list[float], goal: str = "") -> None:
    ok = [v for v in values if v == v]
    if ok:
        print(f"  {name}: median {statistics.median(ok):.2f} s, worst {max(ok):.2f} s, best {min(ok):.2f} s"
              f" ({len(ok)} runs){goal}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20, help="SIGKILL runs (scenario 1)")
    parser.add_argument("--sigterm-runs", type=int, default=5)
    parser.add_argument("--freeze-runs", type=int, default=3)
    parser.add_argument("--baseline-rounds", type=int, default=3)
    parser.add_argument("--notes", type=int, default=1000)
    parser.add_argument("--outbox-notes", type=int, default=500)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--victim", choices=["mailbox", "random"], default="mailbox",
                        help="the daemon killed: the mailbox's holder, or the holder of a random part")
    parser.add_argument("--only", default="1,2,3,4,5", help="which scenarios, e.g. 1,5")
    parser.add_argument("--keep", action="store_true", help="keep every run's folder (else only broken runs')")
    parser.add_argument("--crash-points", type=int, default=0, metavar="R",
                        help="scenario 6: R runs at each crash point (0: not run)")
    parser.add_argument("--crash-notes", type=int, default=100, help="notes in each crash-point run")
    args = parser.parse_args()
    only = {int(s) for s in args.only.split(",")}
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    print(f"seed {seed} (python bench/failover.py --seed {seed} repeats these runs); poll_seconds {POLL}, "
          f"lease {LEASE:.0f} s; {os.cpu_count()} CPUs", flush=True)
    began = time.monotonic()
    folder = Path(tempfile.mkdtemp(prefix="dw-bench-failover-"))
    folder.chmod(0o755)
    postgres = PostgresServer(folder / "postgres")
    caldav = CalDAVServer(folder / "radicale", kind="radicale")
    sink = Sink()
    problems: list[tuple[str, Outcome]] = []
    stuck: list[str] = []  # runs that never drained: their folders (the daemons' logs) are kept

    def keep(scenario: str, o: Outcome) -> None:
        if o.broken:
            problems.append((scenario, o))
        elif not args.keep:
            shutil.rmtree(o.run.folder, ignore_errors=True)
        o.run.drop()

    def repeat(scenario: str, runs: int, one: Callable[..., Outcome]) -> list[Outcome]:
        """`runs` runs of a scenario (`one(seed=…, n=…)`), each printed as it ends; one that never drains is listed
        as stuck."""
        outcomes = []
        for n in range(runs):
            try:
                o = one(seed=rng.randrange(2**32), n=n)
            except Stuck as e:
                stuck.append(f"scenario {scenario}: {e}")
                print(f"  STUCK: {e}", flush=True)
                continue
            outcomes.append(o)
            table([o.row], header=n == 0)
            keep(scenario, o)
        return outcomes

    try:
        postgres.start()
        caldav.start()
        sink.start()
        cal = caldav.make_calendar("acme-web")
        for i in range(MILESTONES):
            caldav.put(cal, f"m{i}", milestone_ics(i))
        shared = Shared(folder, postgres, caldav, sink)

        for scenario, how, runs in ((1, signal.SIGKILL, args.runs), (2, signal.SIGTERM, args.sigterm_runs)):
            if scenario not in only or runs == 0:
                continue
            print(f"\n{scenario}. two daemons, {args.notes} notes, the {args.victim} holder sent {how.name} when "
                  f"30-70 % of the notes are decided ({runs} runs; times in s from the signal)", flush=True)
            outcomes = repeat(f"{scenario} ({how.name})", runs, functools.partial(
                kill_half_way, shared, notes=args.notes, how=how, victim=args.victim))
            limit = POLL if how == signal.SIGKILL else 1.0
            summary("the survivor holds the mailbox", [o.figures["mailbox"] for o in outcomes],
                    f"; goal ≤ {limit:.0f} s: {sum(o.figures['mailbox'] <= limit for o in outcomes)}/{runs} within")
            summary("the survivor holds all four parts", [o.figures["all"] for o in outcomes])
            if how == signal.SIGTERM:
                summary("the stopping daemon's exit", [o.figures["exit"] for o in outcomes])
                summary("all four parts, from its exit", [o.figures["after_exit"] for o in outcomes],
                        f"; goal ≤ 1 s: {sum(o.figures['after_exit'] <= 1 for o in outcomes)}/{runs} within")
            summary("the inbox drained and every note answered", [o.figures["drained"] for o in outcomes],
                    f"; within 2 × poll_seconds ({2 * POLL} s): "
                    f"{sum(o.figures['drained'] <= 2 * POLL for o in outcomes)}/{runs}")
            print(f"  runs with a broken promise: {sum(1 for o in outcomes if o.broken)}/{runs}")

        if 3 in only and args.freeze_runs:
            notes = max(args.notes // 2, 100)
            print(f"\n3. two daemons, {notes} notes, one (the mailbox's or the outbox's holder, by the seed) "
                  f"SIGSTOPped for {2 * LEASE:.0f} s (twice its lease), then SIGCONT; counted from SIGSTOP + "
                  f"{LEASE:.0f} s until "
                  "SIGCONT + 5 s ('writes': all its writes then; 'retaken': its first lease after SIGCONT; "
                  "'SMTP opened' and 'delivered': all / without the outbox lease)", flush=True)
            repeat("3 (SIGSTOP)", args.freeze_runs, functools.partial(freeze, shared, notes=notes))

        if 4 in only:
            print(f"\n4. {args.outbox_notes} outbox messages (one reply a note) through two daemons", flush=True)
            try:
                o = outbox_shared(shared, rng.randrange(2**32), args.outbox_notes, 0)
                table([o.row])
                keep("4 (outbox)", o)
            except Stuck as e:
                stuck.append(f"scenario 4: {e}")
                print(f"  STUCK: {e}", flush=True)

        if 5 in only and args.baseline_rounds:
            print(f"\n5. baseline: {args.notes} notes drained (every note answered at the sink, the INBOX empty; "
                  "from the processes' start), interleaved rounds", flush=True)
            rows, ratios = [], []
            for n in range(args.baseline_rounds):
                try:
                    one, r1 = drain(shared, args.notes, "sqlite", 1, n)
                    two, r2 = drain(shared, args.notes, "postgres", 2, n)
                except Stuck as e:
                    stuck.append(f"scenario 5: {e}")
                    print(f"  STUCK: {e}", flush=True)
                    continue
                for r in (r1, r2):
                    r.drop()
                    if not args.keep:
                        shutil.rmtree(r.folder, ignore_errors=True)
                ratios.append(two / one)
                rows.append({"round": str(n + 1), "1 daemon, SQLite": f"{one:.1f} s",
                             "2 daemons, PostgreSQL": f"{two:.1f} s", "ratio": f"{two / one:.2f}x"})
                table(rows[-1:], header=n == 0)
            if ratios:
                print(f"  median ratio, two daemons on PostgreSQL / one on SQLite: {statistics.median(ratios):.2f}x")

        if args.crash_points:
            print(f"\n6. crash points: two daemons, {args.crash_notes} notes, the daemon at the point SIGKILLed there "
                  f"when 20-60 % of the notes are decided ({args.crash_points} runs at each point; 'held': the "
                  "outbox rows `sending`, or the notes decided and not moved, at the kill; 'dups': Message-IDs "
                  "delivered twice)", flush=True)
            for where in CRASH_POINTS:
                print(f"  {where}:", flush=True)
                outcomes = repeat(f"6 ({where})", args.crash_points, functools.partial(
                    crash_point, shared, notes=args.crash_notes, where=where))
                dups = sum(int(o.row["dups"]) for o in outcomes)
                print(f"  {where}: {dups} duplicate(s) in {len(outcomes)} runs (allowed "
                      f"{'1' if CRASH_POINTS[where].duplicate else '0'} a run); nothing left sending in "
                      f"{sum(o.row['sending'] == '0' for o in outcomes)}/{len(outcomes)}; runs with a broken "
                      f"promise: {sum(1 for o in outcomes if o.broken)}", flush=True)

        print(f"\nwhole benchmark: {time.monotonic() - began:.0f} s")
        for line in stuck:
            print(f"STUCK (never drained; logs kept): {line}")
        if problems:
            print("\nBROKEN PROMISES (logs kept):")
            for scenario, o in problems:
                print(f"  scenario {scenario}, run seed {o.seed}: {o.run.folder}")
                for b in o.broken:
                    print(f"    {b}")
        elif not stuck:
            print("no promise broken")
    finally:
        sink.stop()
        caldav.stop()
        postgres.stop()
        if not problems and not stuck and not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
