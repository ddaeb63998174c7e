"""A member's signed note replayed against Dovecot under a second Subject and Message-ID (#26, item 7): DKIM vouches
for the bottom-most copy of each header, the inbox reads the first, so the replay is refused — filed in
rejected_folder, never answered, nothing recorded, and the reason in the log."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Studio, deadlinewatch
from tests.integration.test_hostile_mail import GENUINE, _authenticating
from tests.integration.test_inbox import replies_to
from tests.integration.test_whole_loop import raw_folder
from tests.samples import NOTE

pytestmark = pytest.mark.integration


def test_a_signed_note_replayed_under_a_second_subject_is_refused_unanswered(studio: Studio) -> None:
    _authenticating(studio)
    # Alice's note, signed by her domain, was about another project; the replay puts its own Subject and
    # Message-ID on top, and passes through our server, which finds the signature good and says so on top
    signed = NOTE.replace("[acme-web] progress", "[beta-app] progress")
    replayed = ("Subject: [acme-web] progress\nMessage-ID: <replay-1@evil.example>\n" + GENUINE.strip() + "\n"
                + signed).replace("\n", "\r\n").encode()
    studio.dovecot.save("progress", replayed)
    result = deadlinewatch("once", config=studio.config, now="2026-11-30T12:00")
    assert result.returncode == 0, result.stderr
    assert b"<replay-1@evil.example>" in b"".join(raw_folder(studio.dovecot, "deadlinewatch/rejected"))
    assert replies_to(studio, "alice@studio.example") == []
    assert "more than one Subject header and more than one Message-ID header" in result.stdout + result.stderr
    status = json.loads(deadlinewatch("status", "--json", config=studio.config).stdout)
    assert all(m["last_note"] is None for m in status["milestones"])
    # the note as Alice sent it, with our server's pass: heard
    studio.dovecot.save("progress", NOTE.replace("Message-ID:", GENUINE.strip() + "\nMessage-ID:").encode())
    assert deadlinewatch("once", config=studio.config, now="2026-11-30T12:10").returncode == 0
    [reply] = replies_to(studio, "alice@studio.example")
    assert "This is what I recorded" in reply
