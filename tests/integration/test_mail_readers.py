"""Every letter kind, with long Turkish and Bengali names, read back by two independent mail parsers (Python's
email package with policy.default, and Nodemailer's mailparser): each gives exactly the Subject and the display
names we composed — no space lost between encoded-words (RFC 2047 §6.2), whatever the length."""

from __future__ import annotations

from collections.abc import Callable
from email import message_from_bytes
from email.policy import default as default_policy
from typing import Any

import pytest

from tests.unit.test_header_injection import _letters

NAMES = [
    "ACME web sitesi yenileme projesi: Tasarım taslakları ve İçerik göçü",
    "Çağrı Merkezi Şikâyet Yönetimi — Öğrenci İşleri Birimi Yazılımı",
    "ACME ওয়েবসাইট পুনর্গঠন: ডিজাইন মকআপ দেরি হবে",
    "বার্ষিক প্রতিবেদন ও শেয়ারহোল্ডার সভার উপস্থাপনা নকশা",
]


@pytest.mark.parametrize("pad", [0, 13])
@pytest.mark.parametrize("name", NAMES)
def test_every_reader_gets_the_subject_and_names_we_wrote(name: str, pad: int,
                                                          mailparser: Callable[[bytes], dict[str, Any]]) -> None:
    padded = "Ş" * pad + " " + name if pad else name  # folding depends on length: try several
    for kind, msg in _letters(padded).items():
        composed_subject = str(msg["Subject"])
        raw = msg.as_bytes()
        python = message_from_bytes(raw, policy=default_policy)
        assert str(python["Subject"]) == composed_subject, kind
        node = mailparser(raw)
        assert node["subject"] == composed_subject, kind
        composed_to = [(a.display_name, a.addr_spec) for a in msg["To"].addresses]
        assert [(a.display_name, a.addr_spec) for a in python["To"].addresses] == composed_to, kind
        assert [(a["name"], a["address"]) for a in node["to"]] == composed_to, kind


def test_vobject_reads_each_invitation_as_we_wrote_it() -> None:
    """vobject (the parser of Radicale's ancestors and many Python calendar tools): each calendar part we send is
    one VEVENT with our UID and SEQUENCE, METHOD as the MIME part says, every recipient but us an ATTENDEE."""
    import vobject

    for kind, msg in _letters("Tasarım taslakları — ডিজাইন").items():
        for part in (p for p in msg.walk() if p.get_content_type() == "text/calendar"):
            cal = vobject.readOne(part.get_content())
            assert cal.method.value == part.get_param("method"), kind
            [event] = cal.vevent_list
            assert event.uid.value == "dw-u1" and int(event.sequence.value) == 2, kind
            attendees = sorted(a.value.lower() for a in event.attendee_list)
            assert attendees == ["mailto:jane@acme.example"], kind  # the manager (pm@) is the organizer
            assert {a.params["RSVP"][0] for a in event.attendee_list} == {"TRUE"}, kind


def test_every_sample_reads_in_the_email_package_vobject_and_icaljs(
        icaljs: Callable[[bytes | str], dict[str, Any]]) -> None:
    """docs/samples, made through the daemon's own plans (scripts/samples.py): each message parses, each calendar
    part is one VEVENT that ical.js and vobject read alike — our UID, a DESCRIPTION, a CANCEL cancelled — and no
    message meant for the manager carries a live calendar part."""
    from pathlib import Path

    import vobject
    from icalendar import Calendar

    samples = sorted((Path(__file__).resolve().parents[2] / "docs" / "samples").glob("*.eml"))
    assert len(samples) >= 3 * 17
    parts = 0
    for path in samples:
        msg = message_from_bytes(path.read_bytes(), policy=default_policy)
        assert msg["Message-ID"] and msg.get_body(("plain",)) is not None, path.name
        calendars = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
        if path.name.startswith(("manager-", "alert-", "signin-", "forward-", "reply-", "nudge-")):
            assert calendars == [] and b"method=" not in path.read_bytes(), path.name
        for part in calendars:
            parts += 1
            ics = part.get_content()
            ours = Calendar.from_ical(ics)
            theirs = icaljs(ics)
            cal = vobject.readOne(ics)
            assert theirs["method"] == str(ours["METHOD"]) == cal.method.value == part.get_param("method"), path.name
            [event] = cal.vevent_list
            assert [e["uid"] for e in theirs["events"]] == [event.uid.value], path.name
            assert event.uid.value.startswith("dw-") and event.description.value, path.name
            if cal.method.value == "CANCEL":
                assert event.status.value == "CANCELLED" and int(event.sequence.value) > 0, path.name
    assert parts >= 3 * 5  # intro, notice, second notice, moved, update, cancel: each carries one
