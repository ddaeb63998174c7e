"""Crash points in the sending of a message and the filing of a note, across two daemons on one PostgreSQL state
(#30 item 6): the daemon at the point is SIGKILLed there, the other takes its work over, and afterwards

- after `sending` is committed (the SMTP server never heard of the message): it is sent once;
- after SMTP DATA (the server has the message, the daemon never heard its 250): sent once when the message's
  archive copy is in the mailbox — and twice, byte for byte the same, when the copy is missing: the documented
  window, the only one;
- before the IMAP move (the note decided and committed, still in the inbox): the note is filed, never decided or
  answered again;

and in every case nothing is left `sending` and the note is decided once. The points are real places, held by the
servers' side: a proxy in front of the SMTP sink keeps the connection silent before the greeting, or swallows the
server's answer to DATA; a proxy in front of Dovecot never forwards the MOVE (tests/faultproxy.py). Nothing in the
daemon knows it is being tested.
"""

from __future__ import annotations

import collections
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from deadlinewatch.demo.servers import CalDAVServer, SmtpSink
from tests.conftest import Studio, write_config
from tests.dovecot import DovecotServer
from tests.faultproxy import CRASH_POINTS, NOTES_MOVE, FaultProxy, socket_owner
from tests.integration.test_daemon import wait_for
from tests.integration.test_postgres_pipeline import on_postgres
from tests.integration.test_several_daemons import POLL, Daemons
from tests.integration.test_whole_loop import _folder
from tests.samples import DESIGN, LAUNCH, NOTE

pytestmark = pytest.mark.integration

NOTE_ID = "<note-1@studio.example>"


@dataclass
class Crashing:
    """Two daemons over one PostgreSQL, their SMTP and IMAP through proxies that can hold at a crash point."""

    daemons: Daemons
    sink: SmtpSink
    smtp: FaultProxy
    imap: FaultProxy
    postgres: Any
    # [the proxy's `held`]: the first archive copy once it is set is lost — the held message's (the one before it
    # was through, its 250 heard, before the held DATA went by)
    lose_after: list[threading.Event]

    def query(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        with self.postgres.connect() as conn:
            return list(conn.execute(sql, args).fetchall())

    def settled(self) -> bool:
        """The note decided and filed, its reply delivered, and nothing left to send."""
        busy = self.query("SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'sending')")[0][0]
        decided = self.query("SELECT COUNT(*) FROM messages WHERE message_id = %s", NOTE_ID)[0][0]
        filed = NOTE_ID in [m["Message-ID"] for m in _folder(self.daemons.studio.dovecot, "deadlinewatch/processed")]
        return busy == 0 and decided >= 1 and filed and any(
            "alice@studio.example" in rcpts for _, rcpts, _ in self.sink.messages)


@pytest.fixture
def crashing(radicale: CalDAVServer, dovecot: DovecotServer, postgres: Any, tmp_path: Path) -> Iterator[Crashing]:
    cal = radicale.make_calendar("acme-web")
    radicale.put(cal, "design-1", DESIGN)
    radicale.put(cal, "launch-1", LAUNCH)
    lose_after: list[threading.Event] = []

    def archive(raw: bytes) -> None:  # the sink's delivery of the Bcc to the inbox, as an MTA's would be
        if lose_after and lose_after[0].is_set():
            lose_after.clear()
            return
        dovecot.save("progress", raw)

    sink = SmtpSink(local_address="progress@studio.example", deliver=archive).start()
    smtp, imap = FaultProxy(sink.port).start(), FaultProxy(dovecot.port).start()
    # plain SMTP on loopback: the proxy must see DATA's terminator go by
    config = write_config(tmp_path / "dw.toml", caldav_url=radicale.url, caldav_user="pm", imap_port=imap.port,
                          smtp_port=smtp.port, smtp_security="none", smtp_user="")
    studio = Studio(config, radicale, dovecot, sink)
    on_postgres(studio, postgres)
    daemons = Daemons(studio, postgres, tmp_path)
    try:
        yield Crashing(daemons, sink, smtp, imap, postgres, lose_after)
    finally:
        daemons.stop()
        smtp.stop()
        imap.stop()
        sink.stop()


def delivered(sink: SmtpSink) -> dict[str, list[bytes]]:
    """Each Message-ID the SMTP server took, with the bytes of each time it took it."""
    out: dict[str, list[bytes]] = collections.defaultdict(list)
    for _, _, raw in sink.messages:
        head = raw.split(b"\r\n\r\n", 1)[0]
        mid = next(line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
                   if line.lower().startswith(b"message-id:"))
        out[mid.decode()].append(raw)
    return out


@pytest.mark.parametrize("where", list(CRASH_POINTS))
def test_a_daemon_killed_at_a_crash_point_sends_nothing_twice_but_in_the_documented_window(
        crashing: Crashing, where: str) -> None:
    point = CRASH_POINTS[where]
    proxy = crashing.smtp if point.server == "smtp" else crashing.imap
    daemons = crashing.daemons
    daemons.start()
    # quiet first: what the daemons send on their own (the project's introduction) gone, so that the next message
    # at the SMTP server is the one the note causes
    wait_for(lambda: bool(crashing.query("SELECT COUNT(*) FROM passes")[0][0]) and not crashing.query(
        "SELECT 1 FROM outbox WHERE state IN ('pending', 'sending')"), 60, "a first pass and an idle outbox")
    proxy.hold_on = NOTES_MOVE
    if not point.archived:
        crashing.lose_after.append(proxy.held)
    proxy.mode = point.mode
    daemons.studio.dovecot.save("progress", NOTE.encode())
    wait_for(proxy.held.is_set, 60, f"a daemon at the crash point {where!r}")

    # the daemon holding the connection is killed at the point
    at_point = socket_owner(proxy.held_peer, proxy.port, {p.pid: str(p.pid) for p in daemons.procs})
    assert at_point is not None, "the held connection belongs to one of the daemons"
    killed = next(p for p in daemons.procs if str(p.pid) == at_point)
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=15)
    sending = crashing.query("SELECT message_id FROM outbox WHERE state = 'sending'")
    if point.server == "smtp":  # the kill was where it says: the claim committed, the server had (not) the message
        [(held_id,)] = sending
        if point.mode == "hold-after-data":  # the proxy hands the server the DATA it held the answer to
            wait_for(lambda: held_id in delivered(crashing.sink), 10, "the held message at the SMTP server")
        else:
            assert held_id not in delivered(crashing.sink)
    else:  # decided and committed, not moved
        held_id = ""
        assert crashing.query("SELECT moved FROM messages WHERE message_id = %s", NOTE_ID) == [(0,)]
        assert NOTE_ID in [m["Message-ID"] for m in _folder(daemons.studio.dovecot, "INBOX")]

    # the survivor takes the work over within a poll, and finishes it
    wait_for(crashing.settled, 4 * POLL, "the survivor to finish the work")
    assert crashing.query("SELECT COUNT(*) FROM outbox WHERE state = 'sending'") == [(0,)]
    # the note decided once: one record, one report, one reply, filed once
    assert crashing.query("SELECT COUNT(*) FROM messages WHERE message_id = %s", NOTE_ID) == [(1,)]
    assert crashing.query("SELECT COUNT(*) FROM reports r JOIN messages m USING (message_key)"
                          " WHERE m.message_id = %s", NOTE_ID) == [(1,)]
    replies = [mid for mid, copies in delivered(crashing.sink).items()
               if any(b"In-Reply-To: " + NOTE_ID.encode() in raw for raw in copies)]
    assert len(replies) == 1
    assert [m["Message-ID"] for m in _folder(daemons.studio.dovecot, "deadlinewatch/processed")] == [NOTE_ID]
    assert NOTE_ID not in [m["Message-ID"] for m in _folder(daemons.studio.dovecot, "INBOX")]
    # nothing delivered twice, but in the window: the held message after DATA, its archive copy missing
    twice = {mid: copies for mid, copies in delivered(crashing.sink).items() if len(copies) > 1}
    if point.duplicate:
        assert list(twice) == [held_id]
        assert len(twice[held_id]) == 2 and twice[held_id][0] == twice[held_id][1]  # the very same bytes
    else:
        assert twice == {}
