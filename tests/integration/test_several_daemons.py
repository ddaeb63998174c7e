"""Two daemons on one PostgreSQL state (two machines, as far as they can tell: each its own state_dir and control
socket): they divide the work, `status` shows both and what each holds, a note is answered once, a weekly
check-in goes once at its slot, and when one stops — SIGTERM, or SIGKILL — the other takes its parts over and
goes on."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Studio, deadlinewatch, start_daemon
from tests.integration.test_daemon import wait_for
from tests.integration.test_postgres_pipeline import on_postgres
from tests.samples import NOTE

pytestmark = pytest.mark.integration

EVERY_PART = ["calendars", "evaluation", "mailbox", "outbox"]
POLL = 10  # seconds (the least the config allows): a lease lasts 6 s (coordination.lease_time), a dead daemon's
# parts are taken within 8


class Daemons:
    def __init__(self, studio: Studio, postgres: Any, tmp_path: Path) -> None:
        self.studio, self.postgres = studio, postgres
        self.configs = [studio.config, tmp_path / "second.toml"]
        text = studio.config.read_text().replace("poll_seconds = 30", f"poll_seconds = {POLL}")
        studio.config.write_text(text)
        # the second machine: its own state directory (its lock, its control socket), the same database
        self.configs[1].write_text(text.replace(f'state_dir = "{studio.config.parent}/state"',
                                                f'state_dir = "{tmp_path}/second-state"'))
        self.logs = [tmp_path / "first.log", tmp_path / "second.log"]
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        for config, log in zip(self.configs, self.logs, strict=True):
            self.procs.append(start_daemon(config, log))
        wait_for(lambda: all("deadlinewatch running" in log.read_text() for log in self.logs), 30, "both daemons")

    def status(self, which: int = 0) -> dict[str, Any]:
        result = deadlinewatch("status", "--json", config=self.configs[which], now="2026-11-30T12:00")
        assert result.returncode == 0, result.stderr
        answer: dict[str, Any] = json.loads(result.stdout)
        return answer

    def holds(self) -> dict[int, list[str]]:
        """Each daemon's parts of the work, by its pid, as the database has them now (unexpired leases)."""
        with self.postgres.connect() as conn:
            rows = conn.execute("SELECT d.pid, l.name FROM daemons d JOIN leases l ON l.holder = d.id"
                                " WHERE l.expires > now() ORDER BY l.name").fetchall()
        out: dict[int, list[str]] = {}
        for pid, name in rows:
            out.setdefault(pid, []).append(name)
        return out

    def shows_both(self, which: int, timeout: float = 10) -> None:
        """This daemon's `status` shows the daemons and their parts as the database has them (within `timeout`:
        a part may change hands between the two readings)."""
        deadline = time.monotonic() + timeout
        while True:
            result = deadlinewatch("status", "--json", config=self.configs[which], now="2026-11-30T12:00")
            shown: object = {d["pid"]: d["holds"] for d in json.loads(result.stdout)["daemons"]} \
                if result.returncode == 0 else result.stderr
            if shown == self.holds():
                return
            assert time.monotonic() < deadline, \
                f"daemon {which}'s status showed {shown!r}, the database {self.holds()!r}"
            time.sleep(0.2)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def daemons(studio: Studio, postgres: Any, tmp_path: Path) -> Iterator[Daemons]:
    on_postgres(studio, postgres)
    two = Daemons(studio, postgres, tmp_path)
    try:
        yield two
    finally:
        two.stop()


def replies_to_alice(studio: Studio) -> int:
    return sum(1 for _, rs, _ in studio.smtp.messages if any("alice@studio.example" in r for r in rs))


def divided(holds: dict[int, list[str]]) -> bool:
    return len(holds) == 2 and sorted(p for parts in holds.values() for p in parts) == EVERY_PART


def test_two_daemons_divide_the_work_and_answer_a_note_once(daemons: Daemons) -> None:
    daemons.start()
    wait_for(lambda: divided(daemons.holds()), 20, "the work divided between the two daemons")
    assert set(daemons.holds()) == {p.pid for p in daemons.procs}
    for which in (0, 1):  # either daemon's status shows both, and what each holds
        daemons.shows_both(which)
    daemons.studio.dovecot.save("progress", NOTE.encode())
    saved = time.monotonic()
    # the note is read on one daemon; whichever holds the evaluation and the outbox is woken at once, not at its poll
    wait_for(lambda: replies_to_alice(daemons.studio) >= 1, POLL, "the reply to alice, before any poll")
    assert time.monotonic() - saved < POLL
    time.sleep(POLL)  # a second answer would come within a poll
    assert replies_to_alice(daemons.studio) == 1


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_when_a_daemon_stops_the_other_takes_its_parts_within_a_poll(daemons: Daemons,
                                                                    how: signal.Signals) -> None:
    daemons.start()
    wait_for(lambda: divided(daemons.holds()), 20, "the work divided between the two daemons")
    # the one reading the mailbox goes
    holds = daemons.holds()
    gone = next(p for p in daemons.procs if "mailbox" in holds[p.pid])
    survivor = next(p for p in daemons.procs if p is not gone)
    gone.send_signal(how)
    assert gone.wait(timeout=15) == (0 if how == signal.SIGTERM else -signal.SIGKILL)
    stopped = time.monotonic()
    wait_for(lambda: daemons.holds().get(survivor.pid) == EVERY_PART, POLL + 5, "the takeover")
    took = time.monotonic() - stopped
    assert took <= (1.5 if how == signal.SIGTERM else POLL), f"the takeover took {took:.1f} s"
    # and it goes on: the mailbox is the survivor's, a note is answered
    daemons.studio.dovecot.save("progress", NOTE.encode())
    wait_for(lambda: replies_to_alice(daemons.studio) >= 1, 30, "the reply to alice, from the survivor")


def weeklies_to_jane(studio: Studio) -> list[str]:
    """The Message-IDs of the weekly check-ins the SMTP server took for the client (by the envelope)."""
    return [m["Message-ID"] for rcpts, m in ((rs, message_from_bytes(raw, policy=default_policy))
                                            for _, rs, raw in studio.smtp.messages)
            if "jane@acme.example" in rcpts and m["X-Deadlinewatch-Kind"] == "weekly"]


def test_two_daemons_at_a_check_in_slot_send_one_weekly(daemons: Daemons) -> None:
    """The project's weekly check-in (Monday 09:00, the client's zone) comes while two daemons run: the client
    gets one, whichever daemon evaluates — the slot names the message (its Message-ID), and the evaluation is one
    daemon's part at a time."""
    first = deadlinewatch("once", config=daemons.configs[0], now="2026-11-23T12:00")  # a week before: the intro
    assert first.returncode == 0, first.stderr
    assert weeklies_to_jane(daemons.studio) == []
    for config, log in zip(daemons.configs, daemons.logs, strict=True):  # both 2 s before the slot (London 09:00)
        daemons.procs.append(start_daemon(config, log, now="2026-11-30T11:59:58"))
    wait_for(lambda: weeklies_to_jane(daemons.studio) != [], 40, "the weekly check-in of 30 November")
    time.sleep(3)  # a second one, decided at the same slot, would follow the first at once
    assert len(weeklies_to_jane(daemons.studio)) == 1


def test_once_holds_every_part_so_a_daemon_started_during_its_pass_sends_nothing_of_it(
        daemons: Daemons) -> None:
    """The PostgreSQL audit: `once` checked for daemons when it started, then ran its pass holding no lease. A
    daemon that started (or woke from a pause) meanwhile took the outbox, found `once`'s messages `sending` with no
    archive copy yet, and sent them again: the client's apology twice. `once` holds every part for its pass; the
    daemon takes them once it is over."""
    from tests.faultproxy import FaultProxy

    studio = daemons.studio
    proxy = FaultProxy(studio.smtp.port).start()
    try:
        text = studio.config.read_text()
        studio.config.write_text(text.replace(f"port = {studio.smtp.port}\n", f"port = {proxy.port}\n", 1)
                                 .replace("[smtp]\n", "[smtp]\ntimeout_seconds = 8\n", 1))
        proxy.mode = "hold-connection"  # `once`'s first SMTP session hangs: its pass is still on when the daemon starts
        studio.dovecot.save("progress", NOTE.encode())
        once = subprocess.Popen([sys.executable, "-m", "deadlinewatch", "--config", str(studio.config), "--now",
                                 "2026-11-30T12:00", "once"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proxy.held.wait(30), "once never reached the SMTP server"
        daemons.procs.append(start_daemon(daemons.configs[1], daemons.logs[1]))
        wait_for(lambda: "deadlinewatch running" in daemons.logs[1].read_text(), 30, "the second machine's daemon")
        time.sleep(3)  # a lease round or two of the daemon's, `once` still in its SMTP session
        assert once.poll() is None
        holds = daemons.holds()
        assert holds.get(once.pid) == EVERY_PART and daemons.procs[-1].pid not in holds, holds
        once.communicate(timeout=60)
        wait_for(lambda: daemons.holds().get(daemons.procs[-1].pid) == EVERY_PART, 30, "the daemon's parts")
    finally:
        proxy.stop()


def test_an_approval_made_on_a_machine_without_a_daemon_goes_out_at_once(daemons: Daemons) -> None:
    """The PostgreSQL audit: `approve` run where no daemon runs wrote the decision straight to the database, and the
    notice waited for the outbox holder's next poll (114 s of 120) — through a daemon's control socket it goes at
    once. The daemons are woken over the database's channel."""
    for config in daemons.configs:
        config.write_text(config.read_text().replace(f"poll_seconds = {POLL}", "poll_seconds = 120"))
    daemons.procs.append(start_daemon(daemons.configs[1], daemons.logs[1]))  # the second machine's only
    wait_for(lambda: "deadlinewatch running" in daemons.logs[1].read_text(), 30, "the daemon")
    wait_for(lambda: daemons.holds().get(daemons.procs[-1].pid) == EVERY_PART, 30, "the daemon's parts")
    daemons.studio.dovecot.save("progress", NOTE.encode())
    wait_for(lambda: replies_to_alice(daemons.studio) >= 1, 30, "the reply to alice")

    def held() -> list[int]:
        return [n["id"] for n in daemons.status(0)["notices"] if n["state"] == "held" and n["kind"] == "notice"]

    wait_for(lambda: bool(held()), 30, "the notice held for the manager")
    [notice] = held()

    def notices_sent() -> int:
        return sum(1 for _, _, raw in daemons.studio.smtp.messages
                   if message_from_bytes(raw, policy=default_policy)["X-Deadlinewatch-Kind"] == "notice")

    assert notices_sent() == 0
    approved = deadlinewatch("approve", str(notice), config=daemons.configs[0], now="2026-11-30T12:00")
    assert approved.returncode == 0, approved.stderr
    wait_for(lambda: notices_sent() == 1, 20, "the notice sent, long before the daemon's poll of 120 s")
