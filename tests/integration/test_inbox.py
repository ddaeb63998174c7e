"""The inbox against Dovecot: push wake-ups that survive a server restart, the MOVE fallback, UIDVALIDITY,
poison messages, a corpus of malformed and exotic mail, spoofed senders, auto-replies, and silence."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import signal
import sysconfig
import time
import zoneinfo
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import imapclient
import pytest

from deadlinewatch import config as config_mod
from deadlinewatch import wiring
from deadlinewatch.adapters.clock import FixedClock
from deadlinewatch.adapters.mailbox import ImapMailbox, ImapSettings
from deadlinewatch.adapters.store import Store
from deadlinewatch.core.workdays import WorkCalendar
from deadlinewatch.credentials import Secret, ServerAccount
from deadlinewatch.pipeline import run_pass
from deadlinewatch.services import PassReport
from tests.conftest import Studio, deadlinewatch, start_daemon, write_config
from tests.dovecot import DovecotServer
from tests.integration.test_daemon import wait_for
from tests.integration.test_whole_loop import _folder
from tests.samples import DESIGN, NOTE

pytestmark = pytest.mark.integration


def note(message_id: str, body: str | bytes, sender: str = "Alice <alice@studio.example>", headers: str = "",
         content_type: str = "text/plain; charset=utf-8", encoding: str = "8bit") -> bytes:
    return (f"From: {sender}\r\nTo: progress@studio.example\r\nSubject: [acme-web] progress\r\n"
            f"Date: Mon, 30 Nov 2026 08:30:00 +0000\r\nMessage-ID: <{message_id}>\r\n{headers}"
            f"MIME-Version: 1.0\r\nContent-Type: {content_type}\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n"
            ).encode() + (body.encode("utf-8") if isinstance(body, str) else body)


def choke_on(monkeypatch: pytest.MonkeyPatch, message_id: str) -> None:
    """Deciding this message fails, as a bug it trips would make it."""
    from deadlinewatch.stages import inbox

    real = inbox._decide_one

    def choke(svc: Any, report: Any, snap: Any, incoming: Any, *args: Any) -> Any:  # the rest passed on
        if incoming.message_id == message_id:
            raise RuntimeError("a bug this message trips")
        return real(svc, report, snap, incoming, *args)

    monkeypatch.setattr(inbox, "_decide_one", choke)


@contextlib.contextmanager
def passes(studio: Studio) -> Iterator[Callable[[], PassReport]]:
    """Passes run in this process (on Monday 30 November, 09:00), so that a test's monkeypatching reaches them."""
    config = config_mod.load(studio.config)
    store = Store.open(config.state_dir)
    svc = wiring.services(config, store, FixedClock(dt.datetime(2026, 11, 30, 9, tzinfo=dt.UTC)))
    try:
        yield lambda: asyncio.run(run_pass(svc))
    finally:
        store.close()


def replies_to(studio: Studio, who: str) -> list[str]:
    return [m.get_content() for m in studio.smtp.parsed()
            if who in str(m.get("To", "")) and m["X-Deadlinewatch-Kind"] == "reply"]


def test_idle_wakes_the_daemon_again_after_dovecot_restarts(studio: Studio, tmp_path: Path) -> None:
    proc = start_daemon(studio.config, tmp_path / "daemon.log")
    try:
        wait_for(lambda: "deadlinewatch running" in (tmp_path / "daemon.log").read_text(), 30, "the daemon")
        time.sleep(1)
        studio.dovecot.restart()  # the IDLE connection dies under the daemon
        started = time.monotonic()
        studio.dovecot.save("progress", NOTE.encode())
        wait_for(lambda: bool(replies_to(studio, "alice@studio.example")), 20, "the reply after the restart")
        assert time.monotonic() - started < 15  # reconnected and IDLE again: well before the 30 s poll
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)


def test_without_move_a_copy_delete_and_uid_expunge_touch_only_our_message(dovecot: DovecotServer) -> None:
    for i in range(3):
        dovecot.save("progress", note(f"m{i}@x", "hello"))
    with imapclient.IMAPClient("127.0.0.1", port=dovecot.port, ssl=False) as c:
        c.login("progress", "progresspw")
        c.select_folder("INBOX")
        uids = c.search()
        c.add_flags([uids[2]], [imapclient.DELETED])  # someone else's deleted mail, not to be expunged by us
    settings = ImapSettings("127.0.0.1", dovecot.port, "none",
                            ServerAccount("progress", Secret("progresspw")), 30)
    mailbox = ImapMailbox(settings)
    client = mailbox._c()
    real = client.has_capability
    client.has_capability = lambda cap: False if cap.upper() == "MOVE" else real(cap)
    mailbox.move([uids[0]], "INBOX", "deadlinewatch/processed")
    mailbox.close()
    with imapclient.IMAPClient("127.0.0.1", port=dovecot.port, ssl=False) as c:
        c.login("progress", "progresspw")
        c.select_folder("INBOX")
        assert c.search() == uids[1:]  # ours is gone; the other deleted message is still there
        c.select_folder("deadlinewatch/processed")
        assert len(c.search()) == 1


def test_a_uidvalidity_change_rescans_without_doing_anything_twice(studio: Studio) -> None:
    studio.dovecot.save("progress", NOTE.encode())
    assert deadlinewatch("once", config=studio.config, now="2026-11-30T12:00").returncode == 0
    replies = len(replies_to(studio, "alice@studio.example"))
    studio.dovecot.save("progress", NOTE.encode())  # the same note delivered again
    studio.dovecot.doveadm("mailbox", "update", "-u", "progress", "--uid-validity", "4242", "INBOX")
    result = deadlinewatch("once", config=studio.config, now="2026-11-30T12:05")
    assert result.returncode == 0
    assert "UIDVALIDITY of INBOX changed" in result.stdout
    assert len(replies_to(studio, "alice@studio.example")) == replies  # not answered twice
    assert [m["Message-ID"] for m in _folder(studio.dovecot, "deadlinewatch/processed")].count(
        "<note-1@studio.example>") == 2


def _reader(config_path: Path, at: str) -> tuple[Any, Any]:
    """A daemon's pass over the studio's state (SQLite, or the PostgreSQL database in its config), at `at`."""
    from deadlinewatch.adapters.store.engine import open_state

    config = config_mod.load(config_path)
    store = open_state(config.state_dir, config.daemon.database, config.accounts.get("database"))
    return wiring.services(config, store, FixedClock(dt.datetime.fromisoformat(at))), store


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_message_read_otherwise_after_a_crash_before_its_move_is_decided_once(
        studio: Studio, engine: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A note without a Message-ID (its key a digest of the bytes read) over one daemon's size limit: decided from
    its header, the daemon dies before moving it. Another daemon (or this one restarted) reads mail up to a larger
    limit: it reads the message whole, its digest is another — only its place (mailbox, UIDVALIDITY, UID) says it
    was decided. Without that rule the member is answered twice, the second answer contradicting the first."""
    from tests.integration.test_postgres_pipeline import on_postgres
    from tests.integration.test_torn_commits import Crash, _crash_once

    if engine == "postgresql":
        on_postgres(studio, request.getfixturevalue("postgres"))
    text = studio.config.read_text().replace("require_authentication = false",
                                             "require_authentication = false\nmax_message_bytes = 10000")
    studio.config.write_text(text)
    larger = studio.config.with_name("larger.toml")  # the second daemon's config: a larger limit
    larger.write_text(text.replace("max_message_bytes = 10000", "max_message_bytes = 5000000"))
    body = "Milestone: Design mockups\nDone: 30%\nRemaining: 4 days\nPlan: " + "pairing on it " * 1500 + "\n"
    studio.dovecot.save("progress", note("", body).replace(b"Message-ID: <>\r\n", b""))
    first, store = _reader(studio.config, "2026-11-30T12:00+00:00")
    try:
        _crash_once(monkeypatch, ImapMailbox, "move")
        with pytest.raises(Crash):
            asyncio.run(run_pass(first))
    finally:
        store.close()
    second, store = _reader(larger, "2026-11-30T12:05+00:00")
    try:
        asyncio.run(run_pass(second))
        decided = store.note_count()
    finally:
        store.close()
    assert decided == {"rejected": 1}  # too large for the first daemon, and decided once
    [reply] = replies_to(studio, "alice@studio.example")
    assert "imap.max_message_bytes" in reply  # the first daemon's answer, sent by the second: the only one
    assert [m["Subject"] for m in _folder(studio.dovecot, "deadlinewatch/rejected")] == ["[acme-web] progress"]
    assert not [m for m in _folder(studio.dovecot, "INBOX") if "alice@" in str(m["From"])]  # archive copies wait


def test_a_copy_from_another_folder_is_filed_not_answered_again(studio: Studio) -> None:
    """Someone copies a note already decided back into the inbox (from the processed folder, or another client's
    folder): a new UID, the same Message-ID — filed beside the first, never answered again."""
    studio.dovecot.save("progress", NOTE.encode())
    assert deadlinewatch("once", config=studio.config, now="2026-11-30T12:00").returncode == 0
    assert len(replies_to(studio, "alice@studio.example")) == 1
    with imapclient.IMAPClient("127.0.0.1", port=studio.dovecot.port, ssl=False) as c:
        c.login("progress", "progresspw")
        c.select_folder("deadlinewatch/processed")
        c.copy(c.search(), "INBOX")
    result = deadlinewatch("once", config=studio.config, now="2026-11-30T12:05")
    assert result.returncode == 0, result.stderr
    assert len(replies_to(studio, "alice@studio.example")) == 1
    assert [m["Message-ID"] for m in _folder(studio.dovecot, "deadlinewatch/processed")] == \
        ["<note-1@studio.example>"] * 2
    assert _folder(studio.dovecot, "INBOX") == []


def test_a_poison_message_is_filed_after_three_tries_and_never_stalls_the_inbox(
    studio: Studio, monkeypatch: pytest.MonkeyPatch
) -> None:
    choke_on(monkeypatch, "<poison@x>")
    studio.dovecot.save("progress", note("poison@x", "Milestone: Launch\nDone: 5%\n"))
    studio.dovecot.save("progress", NOTE.encode())
    with passes(studio) as run:
        for attempt in range(1, 4):
            report = run()
            inbox_ids = {m["Message-ID"] for m in _folder(studio.dovecot, "INBOX")}
            if attempt < 3:
                assert "<poison@x>" in inbox_ids and any("tried again" in p for p in report.problems)
        assert "<poison@x>" not in inbox_ids
        assert "<poison@x>" in {m["Message-ID"] for m in _folder(studio.dovecot, "deadlinewatch/rejected")}
        assert any("after 3 tries" in p for p in report.problems)
        assert replies_to(studio, "alice@studio.example")  # the good note went through on the first pass


def test_a_message_whose_facts_cannot_be_read_fails_alone_not_the_ones_read_with_it(
    studio: Studio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The review of the inbox's snapshot: reading a batch's facts failed at its second message (a bug it trips in
    the store), and the failure was counted against the first — each message before the culprit failed three times
    and was filed unanswered. Only the culprit fails; the notes read with it are answered on the first pass."""
    from deadlinewatch.stages import inbox

    real = inbox._facts

    def trips(store: Any, incoming: Any) -> Any:
        if incoming.message_id == "<poison@x>":
            raise RuntimeError("a bug this message trips in the store")
        return real(store, incoming)

    monkeypatch.setattr(inbox, "_facts", trips)
    studio.dovecot.save("progress", note("first@x", "Milestone: Launch\nDone: 5%\n"))
    studio.dovecot.save("progress", note("poison@x", "Milestone: Launch\nDone: 6%\n"))
    studio.dovecot.save("progress", NOTE.encode())
    with passes(studio) as run:
        report = run()
        waiting = {m["Message-ID"] for m in _folder(studio.dovecot, "INBOX")}
        processed = {m["Message-ID"] for m in _folder(studio.dovecot, "deadlinewatch/processed")}
        assert "<poison@x>" in waiting and {"<first@x>", "<note-1@studio.example>"} <= processed
        assert [p for p in report.problems if "tried again" in p] == [
            p for p in report.problems if "poison@x" in p and "tried again" in p] != []
        assert len(replies_to(studio, "alice@studio.example")) == 2  # the first note's reply, and the last's


def _corpus() -> list[bytes]:
    ours = [
        note("html@x", "<html><body><p>Milestone: Design mockups</p><p>Done: 30%<br>Remaining: 6 days</p>"
                       "<blockquote>Milestone: Launch<br>Done: 99%</blockquote></body></html>",
             content_type="text/html; charset=utf-8"),
        note("b64@x", base64.encodebytes("Milestone: Design mockups\nDone: 35%\nCause: café\n".encode("latin-1")),
             content_type="text/plain; charset=iso-8859-1", encoding="base64"),
        note("tr-quote@x", "Milestone: Design mockups\nDone: 40%\n\n30 Kas 2026 Pzt, 10:00 tarihinde Bob şunu yazdı:\n"
                           "Milestone: Launch\nDone: 90%\n"),
        note("attach@x", "--b\r\nContent-Type: text/plain\r\n\r\nMilestone: Design mockups\r\nDone: 45%\r\n--b\r\n"
                         "Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=x.pdf\r\n"
                         "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n",
             content_type='multipart/mixed; boundary="b"'),
        note("empty@x", ""),
        note("nobody@x", "Milestone: Design mockups\nDone: 1%\n", sender=""),
        note("ooo@x", "I am out of office", headers="Auto-Submitted: auto-replied\r\n"),
        note("huge@x", "x", headers="X-Long: " + "y" * 20000 + "\r\n"),
        note("badcharset@x", b"Milestone: Design mockups\nDone: 50% \xff\xfe\n",
             content_type="text/plain; charset=no-such-charset"),
        note("badmime@x", b"\x00\x01 not mime", content_type='multipart/alternative; boundary="never"'),
        b"this is not an email at all\r\n\r\n\x00\xff",
    ]
    data = Path(sysconfig.get_paths()["stdlib"]) / "test" / "test_email" / "data"
    cpython = [p.read_bytes() for p in sorted(data.glob("msg_*.txt"))] if data.is_dir() else []
    return ours + cpython


def test_a_corpus_of_malformed_and_exotic_mail_is_filed_without_a_crash(studio: Studio) -> None:
    corpus = _corpus()
    for raw in corpus:
        studio.dovecot.save("progress", raw)
    result = deadlinewatch("once", config=studio.config, now="2026-11-30T12:00")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    left = [m for m in _folder(studio.dovecot, "INBOX") if not str(m["Message-ID"] or "").startswith("<dw.")]
    assert left == []  # every message decided and filed
    filed = len(_folder(studio.dovecot, "deadlinewatch/processed")) + len(_folder(studio.dovecot,
                                                                                 "deadlinewatch/rejected"))
    assert filed >= len(corpus) - 1  # messages without a Message-ID and identical bytes count once
    status = deadlinewatch("status", "--json", config=studio.config).stdout
    assert '"done_percent": 50' in status or '"done_percent": 45' in status
    replies = replies_to(studio, "alice@studio.example")
    assert len(replies) >= 5
    assert not replies_to(studio, "mallory") and not any("out of office" in r for r in replies)


def test_spoofed_members_are_quarantined_and_authenticated_ones_heard(studio: Studio) -> None:
    write_config(studio.config, caldav_url=studio.caldav.url, caldav_user="pm", imap_port=studio.dovecot.port,
                 smtp_port=studio.smtp.port)
    text = studio.config.read_text().replace("require_authentication = false",
                                             'require_authentication = true\nauthserv_id = "mx.studio.example"')
    studio.config.write_text(text)
    forged = note("forged@x", "Milestone: Design mockups\nDone: 99%\n",
                  headers="Authentication-Results: mx.evil.example; dkim=pass header.d=studio.example\r\n")
    genuine = note("genuine@x", "Milestone: Design mockups\nDone: 30%\n",
                   headers="Authentication-Results: mx.studio.example; dkim=pass header.d=studio.example;"
                           " dmarc=pass header.from=studio.example\r\n")
    studio.dovecot.save("progress", forged)
    studio.dovecot.save("progress", genuine)
    assert deadlinewatch("once", config=studio.config, now="2026-11-30T12:00").returncode == 0
    assert [m["Message-ID"] for m in _folder(studio.dovecot, "deadlinewatch/rejected")] == ["<forged@x>"]
    assert len(replies_to(studio, "alice@studio.example")) == 1  # only the genuine one is answered


def test_silence_earns_one_friendly_nudge(studio: Studio) -> None:
    # the note's time is its arrival (Dovecot refuses an arrival in the future), so the days count from today
    studio.dovecot.save("progress", NOTE.encode())
    cal = WorkCalendar(holidays="TR")
    today = dt.datetime.now(zoneinfo.ZoneInfo("Europe/Istanbul")).date()

    def on(working_days: int) -> str:
        return f"{cal.add(today, working_days).isoformat()}T23:00"

    assert deadlinewatch("once", config=studio.config, now=on(0)).returncode == 0
    assert deadlinewatch("once", config=studio.config, now=on(3)).returncode == 0
    nudges = [m for m in studio.smtp.parsed() if m["X-Deadlinewatch-Kind"] == "nudge"]
    assert nudges == []  # three working days: not yet
    assert deadlinewatch("once", config=studio.config, now=on(4)).returncode == 0
    assert deadlinewatch("once", config=studio.config, now=on(6)).returncode == 0
    nudges = [m for m in studio.smtp.parsed() if m["X-Deadlinewatch-Kind"] == "nudge"]
    assert len(nudges) == 1
    assert nudges[0]["To"] == "alice@studio.example" and nudges[0]["Reply-To"] == "progress@studio.example"
    assert "[acme-web]" in str(nudges[0]["Subject"]) and "Milestone: Design mockups" in nudges[0].get_content()


def test_an_inbox_of_two_batches_is_fetched_ahead_decided_once_and_filed(studio: Studio,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """More notes than one batch (200): each batch is fetched and parsed while the one before is decided; every
    note is answered once and filed, and one a bug chokes on (in the second batch) stays in the INBOX alone."""
    from deadlinewatch.stages.inbox import BATCH

    count = BATCH + 30
    for i in range(count):
        body = f"Milestone: design mockups\nDone: {i % 90}%\n"
        studio.dovecot.save("progress", note(f"bulk-{i}@studio.example", body))
    choke_on(monkeypatch, f"<bulk-{BATCH + 7}@studio.example>")
    config = config_mod.load(studio.config)
    store = Store.open(config.state_dir)
    try:
        asyncio.run(run_pass(wiring.services(config, store, FixedClock(dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC)))))
    finally:
        store.close()
    replies = [m for m in studio.smtp.parsed() if m["X-Deadlinewatch-Kind"] == "reply"]
    answered = [str(m["In-Reply-To"]) for m in replies]
    assert len(answered) == len(set(answered)) == count - 1
    filed = [str(m["Message-ID"]) for m in _folder(studio.dovecot, "deadlinewatch/processed")]
    assert len(filed) == len(set(filed)) == count - 1
    left = [str(m["Message-ID"]) for m in _folder(studio.dovecot, "INBOX")]  # beside the replies' archive copies
    assert [i for i in left if i.startswith("<bulk-")] == [f"<bulk-{BATCH + 7}@studio.example>"]


def test_a_note_not_understood_gets_an_example_from_its_own_project(studio: Studio) -> None:
    """The contract audit: the reply to a note of a second project that named no milestone of it gave as its
    "correct example" a milestone of the first project. Its example names the note's project's own."""
    cal = studio.caldav.make_calendar("acme-app")
    studio.caldav.put(cal, "store-1", DESIGN.replace("UID:design-1", "UID:store-1")
                      .replace("SUMMARY:Design mockups", "SUMMARY:App store listing"))
    studio.config.write_text(studio.config.read_text() + (
        '[[projects]]\nid = "acme-app"\nname = "ACME app"\ncalendar = "acme-app"\n'
        'client = { name = "Jane Doe", email = "jane@acme.example", language = "en", timezone = "Europe/London" }\n'))
    studio.dovecot.save("progress", NOTE.replace("[acme-web]", "[acme-app]").encode())  # "design mockups": acme-web's
    result = deadlinewatch("once", config=studio.config, now="2026-11-30T12:00")
    assert result.returncode == 0, result.stderr
    [reply] = replies_to(studio, "alice@studio.example")
    assert "Milestone: App store listing" in reply and "Design mockups\nDone" not in reply, reply


def test_a_forwarded_note_is_answered_that_forwarded_text_is_not_read(studio: Studio) -> None:
    """The notes audit: a note forwarded to the inbox (Gmail's "---------- Forwarded message ---------") was
    answered "no Milestone: line found" of a note its sender could see. The reply says why."""
    forwarded = NOTE.replace("Subject: [acme-web] progress", "Subject: Fwd: [acme-web] progress").replace(
        "Milestone: design mockups", "FYI\n\n---------- Forwarded message ---------\nFrom: Alice Example "
        "<alice@home.example>\nDate: Mon, 30 Nov 2026 at 10:12\nSubject: progress\n\nMilestone: design mockups")
    studio.dovecot.save("progress", forwarded.encode())
    result = deadlinewatch("once", config=studio.config, now="2026-11-30T12:00")
    assert result.returncode == 0, result.stderr
    [reply] = replies_to(studio, "alice@studio.example")
    assert "in quoted or forwarded text, which is never read" in " ".join(reply.split()), reply
