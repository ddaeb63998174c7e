"""The client notice: five parts in order, in the client's language, with calendar data that moves entries."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import zoneinfo
from email import message_from_bytes
from email.policy import default as default_policy
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from icalendar import Calendar

from deadlinewatch.adapters.templates import letters
from deadlinewatch.core.letters import ClientEnvelope, NoticeLetter, Progress, Recipient
from deadlinewatch.core.locales import format_day, letter_locale
from deadlinewatch.core.model import ApprovedDate, TimelineRow
from deadlinewatch.errors import ConfigError
from tests.ical import when
from tests.mailtext import body

ROWS = (TimelineRow("design-1", "Design mockups", dt.date(2026, 12, 4), dt.date(2026, 12, 10), "moved", 3,
                    "dw-design"),
        TimelineRow("launch-1", "Launch", dt.date(2026, 12, 18), dt.date(2026, 12, 18), "on track", 0, "dw-launch"))


def envelope(language: str = "en", kind: str = "notice", **kw: Any) -> ClientEnvelope:  # kw: its own fields
    values: dict[str, Any] = dict(
        project_name="ACME web", client=Recipient("Jane Doe", "jane@acme.example", language, "Europe/London"),
        sender="Studio PM <pm@studio.example>", manager="pm@studio.example", cc=("cto@acme.example",),
        composed_at=dt.datetime(2026, 11, 30, 10, tzinfo=dt.UTC), message_id="<n1@studio.example>", token="tok1",
        kind=kind)
    values.update(kw)
    return ClientEnvelope(**values)


def letter(language: str = "en", env: ClientEnvelope | None = None, **kw: Any) -> NoticeLetter:  # kw: its fields
    values: dict[str, Any] = dict(
        envelope=env or envelope(language), milestone=ROWS[0], deadline=dt.date(2026, 12, 4),
        promised=dt.date(2026, 12, 10), slip_days=4, context="your annual shareholder meeting",
        cause="the brand assets arrived late", plan="a second designer joins on Monday",
        offer="We will not charge for the extra review round.", rows=ROWS)
    values.update(kw)
    return NoticeLetter(**values)


def test_the_notice_has_its_five_parts_in_order() -> None:
    msg = letters().notice(letter())
    text = body(msg)
    # a London client reads British dates (the region from the client's zone: "en" names none)
    marks = ["I'm sorry", "Friday, 4 December 2026", "shareholder meeting", "brand assets arrived late",
             "Our new date", "Thursday, 10 December 2026", "second designer", "not charge",
             "- Design mockups: Thu, 10 Dec 2026 (was Fri, 4 Dec 2026)\n- Launch: Fri, 18 Dec 2026\n"]
    positions = [text.index(m) for m in marks]
    assert positions == sorted(positions)
    assert msg["To"] == "Jane Doe <jane@acme.example>"
    assert msg["Cc"] == "pm@studio.example, cto@acme.example"
    assert msg["Message-ID"] == "<n1@studio.example>"


def test_without_cause_or_plan_the_letter_claims_nothing_and_promises_only_a_dated_follow_up() -> None:
    plain = letters().notice(letter(cause="", plan="", offer=None, follow_up=dt.date(2026, 12, 2)))
    text = body(plain)
    assert "responsibility" not in text and "make up for" not in text
    # the delay owned without a cause claimed, and the cause and its prevention promised with the steps, dated
    assert "The delay is on our side, and it's ours to put right." in text
    assert ("By Wednesday, 2 December 2026, I'll write to you with what caused the delay, what we're changing so "
            "that it doesn't happen again, and the concrete steps") in text
    # a cause without a prevention: the follow-up promises the prevention too
    text = body(letters().notice(letter(plan="", follow_up=dt.date(2026, 12, 2))))
    assert "The delay is our responsibility: the brand assets arrived late." in text
    assert ("I'll write to you with the concrete steps we're taking to get back on track, and what we're "
            "changing so that it doesn't happen again.") in text
    # no follow-up scheduled (evaluation schedules one whenever the letter has no plan): none promised
    text = body(letters().notice(letter(plan="")))
    assert "I'll write" not in text and "follow" not in text


def test_the_calendar_part_moves_one_entry_in_place() -> None:
    msg = letters().notice(letter())
    assert msg.get_content_type() == "multipart/alternative"  # nothing beside it: no other calendar data
    types = [p.get_content_type() for p in msg.iter_parts()]
    assert types == ["text/plain", "text/html", "text/calendar"]
    request = list(msg.iter_parts())[2]
    assert request.get_param("method") == "REQUEST" and request.get_content_charset() == "utf-8"
    assert request["Content-Transfer-Encoding"] == "base64"  # RFC 6047 §2.5
    cal = Calendar.from_ical(request.get_content())
    assert cal["METHOD"] == "REQUEST"
    [event] = cal.walk("VEVENT")
    assert str(event["UID"]) == "dw-design" and event["SEQUENCE"] == 3  # ours: never the team calendar's UID
    assert when(event, "DTSTART") == dt.date(2026, 12, 10) and event["TRANSP"] == "TRANSPARENT"
    assert str(event["ORGANIZER"]) == "mailto:pm@studio.example"
    attendees = event["ATTENDEE"] if isinstance(event["ATTENDEE"], list) else [event["ATTENDEE"]]
    # the client and the client's Cc; the Cc'd manager is the organizer here
    assert [str(a) for a in attendees] == ["mailto:jane@acme.example", "mailto:cto@acme.example"]
    assert {a.params["RSVP"] for a in attendees} == {"TRUE"}  # docs/calendar-rsvp.md
    assert when(event, "DTSTAMP") == dt.datetime(2026, 11, 30, 10, tzinfo=dt.UTC)


def test_every_recipient_of_the_invitation_but_the_organizer_is_an_attendee_and_no_letter_carries_a_publish(
) -> None:
    env = dataclasses.replace(letter().envelope, manager="Mia Manager <mia@studio.example>",
                              cc=("ops@acme.example", "PM <pm@studio.example>"))
    msg = letters().notice(letter(env=env))
    [request] = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
    [event] = Calendar.from_ical(request.get_content()).walk("VEVENT")
    # pm@ is the organizer; the manager (mia@) is in Cc, but her copy carries the change in words, not the invitation
    assert isinstance(event["ATTENDEE"], list)  # two of them: icalendar gives a list
    assert sorted(str(a) for a in event["ATTENDEE"]) == ["mailto:jane@acme.example", "mailto:ops@acme.example"]
    assert "mia@studio.example" in str(msg["Cc"])
    for kind in (letters().intro(env, letter().rows, letter().milestone, ""), msg):
        assert not any(p.get_param("method") == "PUBLISH" for p in kind.walk())


def test_the_feed_publishes_every_milestone_without_attendees() -> None:
    from deadlinewatch.core import timeline

    rows = letter().rows
    cal = Calendar.from_ical(timeline.publish(rows, "ACME", dt.datetime(2026, 11, 30, tzinfo=dt.UTC),
                                              "PM <pm@studio.example>"))
    assert cal["METHOD"] == "PUBLISH"
    assert [(str(e["UID"]), e["SEQUENCE"]) for e in cal.walk("VEVENT")] == [("dw-design", 3), ("dw-launch", 0)]
    assert not any("ATTENDEE" in e for e in cal.walk("VEVENT"))


def test_a_name_with_controls_or_quotes_reads_the_same_in_the_feed_and_every_calendar_program() -> None:
    """The audit: a milestone named with an escape sequence or a bell (pasted from a terminal) reached the feed and
    the calendar copy raw — RFC 5545 text holds no controls — and a client named 'Jane "JD" Doe' was written
    CN="Jane ^'JD^' Doe" (RFC 6868), which vobject and Outlook show as it is."""
    from deadlinewatch.core import timeline

    row = dataclasses.replace(letter().rows[0], name="Design\x1b[0m mockups\x07")
    cal = Calendar.from_ical(timeline.publish([row], "ACME", dt.datetime(2026, 11, 30, tzinfo=dt.UTC),
                                              "PM <pm@studio.example>"))
    [event] = cal.walk("VEVENT")
    assert str(event["SUMMARY"]) == "ACME: Design [0m mockups"
    ics = timeline.request(row, "ACME", dt.datetime(2026, 11, 30, tzinfo=dt.UTC), "PM <pm@studio.example>",
                           [('Jane "JD" Doe', "jane@acme.example")], "Status: on track")
    assert b"^'" not in ics and "CN=\"Jane 'JD' Doe\"" in ics.decode()


def test_our_date_laid_over_an_entry_a_person_made_timed_is_one_an_icalendar_server_takes() -> None:
    """A person turned the copy's entry into a one-hour meeting (DTSTART with a time and a DURATION, as Apple
    Calendar saves it) and added a location: our date laid over it kept their DURATION beside our DTEND, which
    RFC 5545 forbids and Radicale refuses — the entry was never written again."""
    from deadlinewatch.core import timeline

    row = letter().rows[0]
    ours = timeline.stored(row, "ACME", dt.datetime(2026, 11, 30, tzinfo=dt.UTC), "pm@studio.example", (),
                           "Status: on track")
    theirs = (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Apple Inc.//macOS 14//EN\r\nBEGIN:VEVENT\r\n"
              f"UID:{row.entry_uid}\r\nDTSTAMP:20261117T100000Z\r\nDTSTART;TZID=Europe/London:20261204T090000\r\n"
              "DURATION:PT1H\r\nSEQUENCE:2\r\nSUMMARY:ACME: Design\r\nLOCATION:Office\r\nBEGIN:VALARM\r\n"
              "ACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nDESCRIPTION:Reminder\r\nEND:VALARM\r\nEND:VEVENT\r\n"
              "END:VCALENDAR\r\n")
    [event] = Calendar.from_ical(timeline.merged(theirs, ours)).walk("VEVENT")
    assert "DURATION" not in event and event.decoded("DTSTART") == row.new
    assert event.decoded("DTEND") == row.new + dt.timedelta(days=1)
    assert str(event["LOCATION"]) == "Office" and event.walk("VALARM")  # what the person added stays


@pytest.mark.parametrize("mode", ["feed", "off"])
def test_under_feed_or_off_no_letter_carries_calendar_data_and_the_feed_is_linked(mode: str) -> None:
    env = dataclasses.replace(letter().envelope, calendar_updates=mode, feed_url="https://dav.studio.example/f.ics")
    msg = letters().notice(letter(env=env))
    assert not [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
    text = body(msg)
    html = body(msg, "html")
    assert ("https://dav.studio.example/f.ics" in text) == (mode == "feed")
    assert ('href="https://dav.studio.example/f.ics"' in html) == (mode == "feed")


def test_sentences_keep_their_spaces_in_html() -> None:
    from deadlinewatch.core.message_text import html_to_text

    html = body(letters().notice(letter()), "html")
    assert "your plans. The delay is our responsibility" in " ".join(html_to_text(html).split())


def test_client_text_is_escaped_in_html() -> None:
    html = body(letters().notice(letter(cause="<script>alert(1)</script>")), "html")
    assert "<script>" not in html and "&lt;script&gt;" in html


@pytest.mark.parametrize(("language", "owned", "promised"), [
    ("tr", "Gecikme bizden kaynaklanıyor", "gecikmenin nedenini, aynı durumun tekrarlanmaması için"),
    ("bn", "দেরিটা আমাদের দিক থেকেই হয়েছে", "দেরির কারণ কী, এমনটা যাতে আবার না ঘটে"),
])
def test_a_notice_without_cause_or_plan_owns_the_delay_and_dates_the_cause_in_every_language(
        language: str, owned: str, promised: str) -> None:
    msg = letters().notice(letter(language, cause="", plan="", offer=None, follow_up=dt.date(2026, 12, 2)))
    for kind in ("plain", "html"):
        text = body(msg, kind)
        assert owned in text and promised in text, kind


@pytest.mark.parametrize(("language", "words"), [("tr", ["Sayın", "4 Aralık 2026 Cuma", "özür"]),
                                                 ("bn", ["প্রিয়", "৪ ডিসেম্বর ২০২৬", "ক্ষমাপ্রার্থী"])])
def test_turkish_and_bengali_letters_with_dates_in_the_clients_locale(language: str, words: list[str]) -> None:
    text = body(letters().notice(letter(language)))
    for w in words:
        assert w in text


def test_dates_use_the_locales_own_digits() -> None:
    assert format_day(dt.date(2026, 12, 3), "tr") == "3 Aralık 2026 Perşembe"
    assert format_day(dt.date(2026, 12, 3), "bn") == "বৃহস্পতিবার, ৩ ডিসেম্বর ২০২৬"


def test_a_template_with_an_unknown_variable_is_an_error_not_a_blank(tmp_path: Path) -> None:
    (tmp_path / "notice.txt.j2").write_text("Dear {{ client_nmae }}\n")
    with pytest.raises(Exception, match="client_nmae"):
        letters(str(tmp_path)).notice(letter())


def test_a_language_without_words_is_a_config_error_and_its_own_templates_give_it_some(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape('projects[0].client.language = "de": no catalog')):
        letters().check_language("de", "projects[0].client.language")
    letters().check_language("en-GB", "projects[0].client.language")  # English reads the source text
    (tmp_path / "de").mkdir()
    for name in ("notice.txt.j2", "notice.html.j2", "intro.txt.j2", "intro.html.j2", "weekly.txt.j2",
                 "weekly.html.j2", "calendar.txt.j2"):
        (tmp_path / "de" / name).write_text("{% set subject = 'Hallo' %}Hallo {{ client_name }}\n")
    letters(str(tmp_path)).check_language("de", "projects[0].client.language")
    text = body(letters(str(tmp_path)).notice(letter("de")))
    assert text == "Hallo Jane Doe\n"


def test_a_template_for_every_language_with_sentences_a_catalog_does_not_know_is_a_config_error(
        tmp_path: Path) -> None:
    """A notice.txt.j2 copied into letters.template_dir from an older version keeps sentences reworded since: the
    Turkish and Bengali clients got them in English, silently (the review). The config is refused, naming the file,
    the sentence and the fix; the built-in template copied as it is passes, and so does one for the language."""
    from importlib.resources import files

    built_in = (files("deadlinewatch") / "templates" / "notice.txt.j2").read_text()
    (tmp_path / "notice.txt.j2").write_text(built_in)
    letters(str(tmp_path)).check_language("tr", "projects[0].client.language")
    old = built_in.replace("Later work builds on this, so these dates move too:", "Later work moves with it:")
    (tmp_path / "notice.txt.j2").write_text(old)
    with pytest.raises(ConfigError, match=re.escape(
            f'projects[0].client.language = "tr": {tmp_path}/notice.txt.j2 says 1 sentence(s) the tr catalog does '
            'not translate — its readers would get them in English — first: "Later work moves with it:"; add '
            "tr/notice.txt.j2")):
        letters(str(tmp_path)).check_language("tr", "projects[0].client.language")
    letters(str(tmp_path)).check_language("en-GB", "projects[0].client.language")  # English reads the source text
    (tmp_path / "tr").mkdir()
    (tmp_path / "tr" / "notice.txt.j2").write_text(old)
    letters(str(tmp_path)).check_language("tr", "projects[0].client.language")


def test_a_template_dir_overrides_one_letter_for_every_language_or_for_one(tmp_path: Path) -> None:
    (tmp_path / "tr").mkdir()
    (tmp_path / "calendar.txt.j2").write_text("{% set subject = 'x' %}{{ _('Dear %(name)s,', name=client_name) }}\n")
    (tmp_path / "tr" / "calendar.txt.j2").write_text("{% set subject = 'y' %}Merhaba {{ client_name }}\n")
    composer = letters(str(tmp_path))
    en = body(composer.calendar(envelope("en", kind="update"), ROWS[1]))
    bn = body(composer.calendar(envelope("bn", kind="update"), ROWS[1]))
    tr = body(composer.calendar(envelope("tr", kind="update"), ROWS[1]))
    assert (en, bn, tr) == ("Dear Jane Doe,\n", "প্রিয় Jane Doe,\n", "Merhaba Jane Doe\n")


@pytest.mark.parametrize(("language", "said"), [
    ("en", "Tue, 22 Dec 2026 (previously Fri, 18 Dec 2026; originally Wed, 16 Dec 2026)"),
    ("tr", "(son bildirilen: 18 Aralık 2026 Cuma, ilk tarih: 16 Aralık 2026 Çarşamba)"),
    ("bn", "(সর্বশেষ জানানো: "),
])
def test_a_row_moved_twice_says_the_date_last_told_and_the_first(language: str, said: str) -> None:
    """A second move shows the date the client held until now, not only the first one: a client comparing the
    letter with their calendar finds that date there."""
    moved = (TimelineRow("launch-1", "Launch", dt.date(2026, 12, 16), dt.date(2026, 12, 22), "moved", 2, "dw-launch",
                         told=dt.date(2026, 12, 18)),)
    msg = letters().notice(letter(language, again=True, moved=moved, broken=dt.date(2026, 12, 8),
                                  promised=dt.date(2026, 12, 15)))
    assert said in body(msg)
    assert said.split(" (")[-1].split(":")[0] in " ".join(body(msg, "html").split())


def test_a_second_notice_names_the_date_it_breaks_and_the_dependants_it_moves() -> None:
    moved = (TimelineRow("launch-1", "Launch", dt.date(2026, 12, 18), dt.date(2026, 12, 22), "moved", 1, "dw-launch"),)
    msg = letters().notice(letter(again=True, moved=moved, broken=dt.date(2026, 12, 8), promised=dt.date(2026, 12, 15)))
    text = body(msg)
    assert ("writing to you again about the “Design mockups” milestone: we won't make Tuesday, 8 December 2026, the "
            "new date I gave you") in text
    assert "its date moves too:\n\n- Launch: Tue, 22 Dec 2026 (was Fri, 18 Dec 2026)\n" in text
    assert str(msg["Subject"]) == "Design mockups: another new date, 15 December · ACME web"
    # the assurance the first notice gave is not repeated over the date it has just broken (#28)
    assert "expect to meet" not in text and "expect to meet" in body(letters().notice(letter()))
    assert "I know a second change makes any date harder to trust" in text
    assert "second change makes any date harder to trust" in " ".join(body(msg, "html").split())


def test_no_header_can_be_injected_from_calendar_or_config_text() -> None:
    evil = TimelineRow("design-1", "Mockups\r\nBcc: victim@example.com", dt.date(2026, 12, 4),
                       dt.date(2026, 12, 10), "moved", 3, "dw-design")
    env = envelope(client=Recipient("Jane\r\nBcc: x@evil.example", "jane@acme.example", "en", "Europe/London"),
                   project_name="ACME\nX-Evil: 1")
    msg = letters().notice(letter(env=env, milestone=evil, rows=(evil,)))
    raw = msg.as_bytes()
    assert b"\nBcc:" not in raw and b"\nX-Evil:" not in raw
    assert msg["Bcc"] is None and "\n" not in str(msg["Subject"]) and "\n" not in str(msg["To"])
    long_name = TimelineRow("d", "x" * 5000, dt.date(2026, 12, 4), dt.date(2026, 12, 10), "moved", 1, "dw-d")
    assert len(str(letters().notice(letter(milestone=long_name, rows=(long_name,)))["Subject"])) <= 300


def test_a_template_cannot_reach_python_internals(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "notice.txt.j2").write_text("{{ day.__globals__ }}")
    with pytest.raises(Exception, match=r"unsafe|__globals__"):
        letters(str(tmp_path)).notice(letter())


def test_the_intro_requests_one_entry_and_publishes_the_timeline() -> None:
    msg = letters().intro(envelope(kind="intro"), ROWS, ROWS[0], "your shareholder meeting")
    assert msg["X-Deadlinewatch-Kind"] == "intro" and "timeline" in str(msg["Subject"])
    request = next(p for p in msg.walk() if p.get_param("method") == "REQUEST")
    assert [str(e["UID"]) for e in Calendar.from_ical(request.get_content()).walk("VEVENT")] == ["dw-design"]
    assert msg.get_body(("html",)) is not None


def test_a_cancellation_has_method_cancel_in_mime_and_calendar() -> None:
    row = TimelineRow("launch-1", "Launch", dt.date(2026, 12, 18), dt.date(2026, 12, 18), "cancelled", 2,
                      "dw-launch")
    msg = letters().cancel(envelope(kind="cancel"), row, sent=1, invited=True)
    part = next(p for p in msg.walk() if p.get_content_type() == "text/calendar")
    assert part.get_param("method") == "CANCEL"
    cal = Calendar.from_ical(part.get_content())
    assert cal["METHOD"] == "CANCEL" and cal.walk("VEVENT")[0]["STATUS"] == "CANCELLED"
    assert str(msg["Subject"]) == "Cancelled: Launch · ACME web"
    assert "takes the entry out of your calendar" in body(msg)
    text = letters().cancel(envelope(kind="cancel"), row, sent=1, invited=True,
                            cause="the client moved the launch in-house")
    assert "“Launch”, planned for Friday, 18 December 2026, is off our project plan: the client " \
        "moved the launch in-house. I'm sorry for any inconvenience this causes you." in body(text)


@pytest.mark.parametrize("language", ["en", "tr", "bn"])
def test_a_cancellation_says_why_apologises_for_the_date_and_what_builds_on_it(language: str) -> None:
    """The calendar says the milestone is off the plan: the letter says so, with the date the client had, an
    apology, and the work that builds on it with the dates they have — or that nothing else depends on it."""
    content = TimelineRow("content-1", "Content", dt.date(2026, 12, 7), dt.date(2026, 12, 15), "moved", 1, "dw-c")
    launch = TimelineRow("launch-1", "Launch", dt.date(2026, 12, 21), dt.date(2026, 12, 21), "on track", 0, "dw-l")
    composer = letters()
    alone = body(composer.cancel(envelope(language, kind="cancel"), content, sent=1, invited=True))
    before = body(composer.cancel(envelope(language, kind="cancel"), content, sent=1, invited=True,
                                  dependants=[launch]))
    day = format_day(dt.date(2026, 12, 15), letter_locale(language, "Europe/London"), "full")
    for text in (alone, before):
        assert day in text  # the date they had for it
    nothing = composer.gettext(language, "Nothing else in the plan depends on it, so every other date stays as it is.")
    assert nothing in alone and nothing not in before
    # a list's date as the client reads it: abbreviated, except in Turkish, where "21 Ara 2026 Pzt" reads as a
    # program's output
    listed = "full" if language == "tr" else "~yMMMEd"
    assert "- Launch: " + format_day(dt.date(2026, 12, 21), letter_locale(language, "Europe/London"), listed) \
        in before
    if language == "en":
        assert "I'm sorry if you had set time aside for it; if you still need it, just reply" in alone  # reading 4, 9
        assert ("The work that builds on it goes ahead as planned, on the date you already have:\n\n"
                "- Launch: Mon, 21 Dec 2026") in before


@pytest.mark.parametrize("status", ["on track", "moved", "done"])
def test_a_cancellation_is_cancelled_and_newer_than_every_sequence_sent_whatever_the_caller_passes(
        status: str) -> None:
    """Calendars ignore a CANCEL that is not newer than what they hold, or that says CONFIRMED."""
    stale = TimelineRow("launch-1", "Launch", dt.date(2026, 12, 18), dt.date(2026, 12, 18), status, 0, "dw-launch")
    msg = letters().cancel(envelope(kind="cancel"), stale, sent=1, invited=True)
    [part] = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
    [event] = Calendar.from_ical(part.get_content()).walk("VEVENT")
    assert str(event["STATUS"]) == "CANCELLED" and event["SEQUENCE"] == 2


def test_a_milestone_only_in_a_letters_table_is_cancelled_by_letter_without_calendar_data() -> None:
    row = TimelineRow("launch-1", "Launch", dt.date(2026, 12, 18), dt.date(2026, 12, 18), "on track", 0, "dw-launch")
    msg = letters().cancel(envelope(kind="cancel"), row, sent=0, invited=False)
    assert [p for p in msg.walk() if p.get_content_type() == "text/calendar"] == []
    text = body(msg)
    assert "taken “Launch”, planned for Friday, 18 December 2026, out of the project plan," in text
    assert "calendar" not in text
    # its offer to reply is said once: no older "talk the change through" line after it
    assert text.count("reply") == 1 and "talk the change through" not in text


@pytest.mark.parametrize("language", ["en", "tr", "bn"])
def test_the_weekly_check_in_shows_progress_and_what_is_next(language: str) -> None:
    progress = [Progress(ROWS[0], 20, 60, 2), Progress(ROWS[1], None, None, 0)]
    msg = letters().weekly(envelope(language, kind="weekly"), ROWS, progress, [ROWS[0]], dt.date(2026, 11, 30))
    text = body(msg)
    assert ("৬০" if language == "bn" else "60") in text and "Design mockups" in text
    assert not [p for p in msg.walk() if p.get_content_type() == "text/calendar"]  # the table, no calendar data
    if language == "en":
        assert "stands this week: work moved forward on one milestone." in text  # the week in a sentence
        assert "Next up is “Design mockups”, due on Thursday, 10 December 2026." in text  # what is next, in one too
        # one list: each milestone once, its progress and its date, a moved one's original beside it
        assert ("- Design mockups: 20% → 60% done, due Thu, 10 Dec 2026 (was Fri, 4 Dec 2026)\n"
                "- Launch: not started yet, due Fri, 18 Dec 2026\n") in text
        assert text.count("Design mockups") == 2 and "Dates that differ" not in text
        html = body(msg, "html")
        assert html.count("Design mockups") == 2 and "20% → 60% done" in html and "Progress since last week" in html
        assert "extra attention" not in text  # no risk alert up: no sentence about one
    if language == "bn":
        assert "২০% থেকে ৬০% সম্পন্ন" in text  # numbers in the reader's digits inside the sentence


def test_shadow_mode_sends_to_the_manager_only_and_says_so() -> None:
    msg = letters().notice(letter(env=envelope(shadow=True)))
    assert msg["To"] == "pm@studio.example" and msg["Cc"] is None
    assert str(msg["Subject"]).startswith("[shadow: would go to jane@acme.example]")
    # no live invitation in the manager's mail (one without an ATTENDEE would plant the client's entry in their
    # calendar): what it would do, in words, in the team's language
    assert [p for p in msg.walk() if p.get_content_type() == "text/calendar"] == []
    text = body(msg)
    assert text.rstrip().endswith("carries an invitation that puts “ACME web: Design mockups” in their calendar "
                                  "on Dec 10, 2026. It is left out of this copy, so that no calendar of yours "
                                  "applies it.")
    assert "in their calendar on Dec 10, 2026. It is left out" in body(msg, "html")
    assert "SEQUENCE" not in text  # an iCalendar field's name says nothing to a manager
    turkish_team = letters().notice(letter(env=envelope(shadow=True, team_language="tr")))
    assert "etkinliğini müşterinin takviminde 10 Ara 2026 tarihine" in body(turkish_team)


@pytest.mark.parametrize("kind", ["notice", "cancel", "update"])
def test_the_managers_copy_is_the_letter_with_its_calendar_change_in_words(kind: str) -> None:
    composer = letters()
    env = envelope(kind=kind)
    msg = (composer.notice(letter(env=env)) if kind == "notice" else
           composer.cancel(env, ROWS[1], sent=0, invited=True) if kind == "cancel" else composer.calendar(env, ROWS[1]))
    copy = composer.manager_copy(msg, language="en", message_id="<copy1@studio.example>")
    assert [p for p in copy.walk() if p.get_content_type() == "text/calendar"] == []
    assert (copy["Message-ID"], copy["References"]) == ("<copy1@studio.example>", msg["Message-ID"])
    assert copy["X-Deadlinewatch-Kind"] == "manager-copy"
    for name in ("From", "To", "Cc", "Subject", "Date"):
        assert str(copy[name]) == str(msg[name]), name  # what the client got, headers and all
    text = body(copy)
    assert text.startswith(body(msg).rstrip())
    assert ("a cancellation that removes" if kind == "cancel" else "an invitation that puts") in text
    # the client's own message is untouched
    assert [p.get_param("method") for p in msg.walk() if p.get_content_type() == "text/calendar"] == \
        ["CANCEL" if kind == "cancel" else "REQUEST"]


def test_a_held_draft_to_the_manager_carries_no_live_calendar_part() -> None:
    composer = letters()
    notice = composer.notice(letter())
    draft = composer.manager(language="en", sender="Studio PM <pm@studio.example>", to="pm@studio.example",
                             composed_at=dt.datetime(2026, 11, 30, tzinfo=dt.UTC), message_id="<d1@studio.example>",
                             what="draft", notice_id=7, token="tok1", project_name="ACME web",
                             milestone="Design mockups", client="jane@acme.example", reason="why", draft=notice)
    raw = message_from_bytes(draft.as_bytes(), policy=default_policy)
    assert [p for p in raw.walk() if p.get_content_type() == "text/calendar"] == []
    assert b"method=" not in draft.as_bytes()
    [attached] = [p for p in raw.walk() if p.get_content_type() == "message/rfc822"]
    inner = attached.get_content()
    assert inner["Message-ID"] == "<n1@studio.example>"  # as it would go out …
    assert "on Dec 10, 2026. It is left out of this copy" in body(inner)  # … in words


def test_the_message_survives_a_round_trip_through_bytes() -> None:
    raw = letters().notice(letter("bn")).as_bytes()
    again = message_from_bytes(raw, policy=default_policy)
    assert str(again["Subject"]) == "Design mockups: নতুন তারিখ ১০ ডিসেম্বর · ACME web"


def test_the_subject_puts_the_milestone_and_the_new_date_first_and_stays_short() -> None:
    for language in ("en", "tr", "bn"):
        subject = str(letters().notice(letter(language))["Subject"])
        assert subject.startswith("Design mockups: ") and len(subject) <= 60, subject
    assert str(letters().notice(letter())["Subject"]) == "Design mockups: new date 10 December · ACME web"


def test_a_long_english_subject_starts_on_the_subject_line_and_reads_back_as_written() -> None:
    """The policy's folding put a long ASCII subject wholly on a continuation line: parsers gave it back with a
    leading space."""
    from deadlinewatch.core.mime import Subject

    text = "Follow-up due: ACME Website Relaunch: Content migration [dw:62b07e339b] and some more words"
    folded = Subject(text).fold(policy=default_policy)
    assert folded.startswith("Subject: Follow-up due: ") and all(len(line) <= 78 for line in folded.splitlines())
    assert str(message_from_bytes(folded.encode() + b"\n", policy=default_policy)["Subject"]) == text


@pytest.mark.parametrize(("language", "zone", "day"), [
    ("en", "Europe/London", "Thursday, 10 December 2026"), ("en", "America/Chicago", "Thursday, December 10, 2026"),
    ("en-US", "Europe/London", "Thursday, December 10, 2026"), ("en-GB", "America/Chicago",
                                                              "Thursday, 10 December 2026"),
    ("en", "Europe/Istanbul", "Thursday, 10 December 2026")])  # no English of Turkey: the international one
def test_english_dates_follow_the_region_the_language_or_else_the_zone_names(language: str, zone: str,
                                                                             day: str) -> None:
    env = envelope(client=Recipient("Jane Doe", "jane@acme.example", language, zone))
    assert day in body(letters().notice(letter(env=env)))


@pytest.mark.parametrize(("language", "context", "before", "after"), [
    ("en", "your shareholder meeting on 12 December", "is still 2 days before it", "falls after it"),
    ("tr", "12 Aralık'taki hissedarlar toplantınız", "o günden 2 gün önce", "o günden sonraya"),
    ("bn", "১২ ডিসেম্বরের শেয়ারহোল্ডার সভা", "সেদিনের ২ দিন আগেই পড়ছে", "সেই দিনের পরে পড়ছে")])
def test_the_letter_says_plainly_whether_the_new_date_still_lands_before_the_clients_event(
        language: str, context: str, before: str, after: str) -> None:
    early = body(letters().notice(letter(language, context=context)))
    late = body(letters().notice(letter(language, context=context, promised=dt.date(2026, 12, 14))))
    assert before in early and after not in early
    assert after in late and before not in late
    vague = body(letters().notice(letter(language, context="your launch party")))
    assert before not in vague and after not in vague  # no date in the context: nothing claimed about it
    # the very day (the client-side audit: "Our new date is Monday, 30 November … the new date falls after it")
    same = " ".join(body(letters().notice(letter(language, context=context, promised=dt.date(2026, 12, 12)))).split())
    assert after not in same and before not in same
    assert {"en": "the new date is that very day", "tr": "tam o güne denk geliyor",
            "bn": "ঠিক সেই দিনেই পড়ছে"}[language] in same
    # written after the client's day (a late second notice on 29 December): that day is over, not next year's — the
    # letter said "The new date is still 348 days before it"
    env = envelope(language, composed_at=dt.datetime(2026, 12, 29, 10, tzinfo=dt.UTC))
    past = body(letters().notice(letter(language, env=env, context=context, deadline=dt.date(2026, 12, 10),
                                        promised=dt.date(2027, 1, 5))))
    assert after not in past and "341" not in past and "৩৪১" not in past  # days to 12 December 2027


@pytest.mark.parametrize(("today", "expected"), [
    (dt.date(2026, 6, 15), dt.date(2026, 12, 12)),  # half a year ahead: this December's (a review: None)
    (dt.date(2026, 12, 12), dt.date(2026, 12, 12)),  # the day itself
    (dt.date(2026, 12, 29), None),  # just passed: over
    (dt.date(2027, 2, 20), dt.date(2027, 12, 12)),  # passed over two months ago: a day named now is the next one
])
def test_the_clients_day_is_the_next_one_unless_it_just_passed(today: dt.date, expected: dt.date | None) -> None:
    from deadlinewatch.core.locales import context_day

    assert context_day("your shareholder meeting on 12 December", "en", today) == expected


def test_the_cause_is_owned_and_prevent_says_what_keeps_it_from_recurring() -> None:
    text = body(letters().notice(letter(prevent="assets are now due a week before design starts")))
    assert "The delay is our responsibility: the brand assets arrived late." in text
    assert "To keep it from happening again, assets are now due a week before design starts." in text
    assert text.count("sorry") == 1  # one apology, not three


def test_the_html_letter_is_accessible_and_has_the_scripts_fonts() -> None:
    html = body(letters().notice(letter("bn")), "html")
    assert '<html lang="bn-BD"' not in html and '<html lang="bn"' in html  # the client's own tag
    assert "font-family:'Noto Sans Bengali','Nirmala UI',Vrinda" in html
    assert 'role="presentation"' not in html and '<th scope="col"' in html and '<th scope="row"' in html
    assert html.count("<strong>") == 1  # only the moved date stands out
    en = body(letters().notice(letter()), "html")
    assert '<html lang="en-GB"' in en and "Noto Sans Bengali" not in en


@pytest.mark.parametrize("language", ["en", "tr", "bn"])
def test_a_rejected_note_is_answered_with_an_example_that_parses_in_the_teams_language(language: str) -> None:
    from deadlinewatch.core import notes

    msg = letters().reply(language=language, sender="PM <pm@studio.example>", to="alice@studio.example",
                          original_subject="progress", original_message_id="", references="",
                          composed_at=dt.datetime(2026, 11, 30, tzinfo=dt.UTC), message_id="<r@studio.example>",
                          accepted=False, project_name="", problems=["x"], example_project="acme-web",
                          example_milestone="Design mockups")
    text = body(msg).replace("\r\n", "\n")
    example = text.split("Subject: ", 1)[1].split("\n—", 1)[0]
    subject, note_body = example.split("\n", 1)
    design = notes.MilestoneRef("acme-web", "design-1", "Design mockups")
    note = notes.parse_note(subject, note_body, [design], ["acme-web"], today=dt.date(2026, 11, 30))
    assert note.ok, [str(p) for p in note.problems]
    [block] = note.blocks
    assert (block.done, block.remaining_days) == (60, 4) and block.cause and block.plan
    assert subject.startswith("[acme-web] ")


@pytest.mark.parametrize(("language", "moved", "status"), [
    ("en", "Moved from 4 Dec 2026 to 10 Dec 2026", "Status: on track"),
    ("tr", "4 Ara 2026 tarihinden 10 Ara 2026 tarihine alındı", "Durum: planlandığı gibi"),
    ("bn", "৪ ডিসেম্বর ২০২৬ থেকে সরে ১০ ডিসেম্বর ২০২৬", "অবস্থা: সময়মতো")])
def test_every_calendar_entry_says_its_status_in_the_clients_language_and_links_the_page(
        language: str, moved: str, status: str) -> None:
    """Thunderbird shows an invitation's card in place of the letter: the entry itself says what it is."""
    composer = letters()
    env = envelope(language, page_url="https://dw.studio.example/p/t0k3n/")
    messages = {"notice": composer.notice(letter(env=env)),
                "intro": composer.intro(dataclasses.replace(env, kind="intro"), ROWS, ROWS[1], ""),
                "update": composer.calendar(dataclasses.replace(env, kind="update"), ROWS[0]),
                "cancel": composer.cancel(dataclasses.replace(env, kind="cancel"), ROWS[1], sent=0, invited=True)}
    page = composer.gettext(language, "Your project's page, always up to date: %(url)s",
                            url="https://dw.studio.example/p/t0k3n/")
    for kind, msg in messages.items():
        [part] = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
        [event] = Calendar.from_ical(part.get_content()).walk("VEVENT")
        first, second = str(event["DESCRIPTION"]).split("\n")
        assert second == page, kind
        if kind in ("notice", "update"):
            assert first == moved, kind
        elif kind == "intro":
            assert first == status, kind
    assert str(Calendar.from_ical(next(p for p in messages["cancel"].walk() if p.get_content_type() ==
                                       "text/calendar").get_content()).walk("VEVENT")[0]["DESCRIPTION"]).startswith(
        composer.gettext(language, "Status: %(status)s", status=composer.gettext(language, "cancelled")))


def test_the_feed_says_what_each_entry_is_when_told_how() -> None:
    from deadlinewatch.core import timeline

    composer = letters()
    cal = Calendar.from_ical(timeline.publish(
        ROWS, "ACME", dt.datetime(2026, 11, 30, tzinfo=dt.UTC), "PM <pm@studio.example>",
        describe=lambda row: composer.entry_description("tr", row, timezone="Europe/Istanbul")))
    assert [str(e["DESCRIPTION"]) for e in cal.walk("VEVENT")] == [
        "4 Ara 2026 tarihinden 10 Ara 2026 tarihine alındı", "Durum: planlandığı gibi"]


def test_a_moved_dependant_says_the_late_work_is_ours_and_apologises() -> None:
    row = TimelineRow("content-1", "Content migration", dt.date(2026, 12, 7), dt.date(2026, 12, 15), "moved", 2,
                      "dw-content")
    msg = letters().calendar(envelope(kind="calendar"), row)
    text = body(msg)
    assert "I'm sorry to tell you that the “Content migration” milestone has to move" in text
    assert "earlier work of ours that is running late" in text
    assert "new date 15 December" in str(msg["Subject"])


@pytest.mark.parametrize(("language", "said"), [
    ("en", "has to move again, from Wednesday, 9 December 2026, the date I last gave you, to Tuesday, 15 December "
           "2026. It builds on “Design mockups”, which is running late"),
    ("tr", "tarihi yeniden değişiyor: size en son bildirdiğim 9 Aralık 2026 Çarşamba yerine 15 Aralık 2026 Salı"),
    ("bn", "আবার বদলাতে হচ্ছে: সবশেষে আপনাকে যে বুধবার, ৯ ডিসেম্বর ২০২৬ জানিয়েছিলাম"),
])
def test_a_dependant_moved_again_moves_from_the_date_the_client_last_heard(language: str, said: str) -> None:
    """A dependant moved a second time moves from the date the last letter gave the client (the notice of the same
    minute lists it as "was"), never from the first date as if nothing had come between (third native reading,
    defect 1), and names the late work it builds on."""
    row = TimelineRow("content-1", "Content migration", dt.date(2026, 12, 8), dt.date(2026, 12, 15), "moved", 3,
                      "dw-content", told=dt.date(2026, 12, 9))
    text = " ".join(body(letters().calendar(envelope(language, kind="calendar"), row,
                                            after="Design mockups")).split())
    assert said in text
    assert "8 December" not in text and "8 Aralık" not in text and "৮ ডিসেম্বর" not in text


@pytest.mark.parametrize(("language", "said"), [
    ("en", "- Launch: Tue, 22 Dec 2026 (originally Fri, 18 Dec 2026)\n"),
    ("tr", "(ilk tarih: 18 Aralık 2026 Cuma)"),
    ("bn", "(মূল তারিখ: "),
])
def test_a_date_the_client_already_holds_is_listed_with_its_first_never_as_was(language: str, said: str) -> None:
    """A list row the letter does not move (the client holds its date already: a delivered note's timeline) gives
    the original date as the first one; "was" is the date held until a letter moves it, as every notice says."""
    done = TimelineRow("design-1", "Design mockups", dt.date(2026, 12, 3), dt.date(2026, 12, 14), "done", 2, "dw-d")
    held = TimelineRow("launch-1", "Launch", dt.date(2026, 12, 18), dt.date(2026, 12, 22), "moved", 1, "dw-launch",
                       known=True)
    msg = letters().notice(letter(language, envelope(language, kind="delivered"), milestone=done,
                                  rows=(done, held), delivered_on=dt.date(2026, 12, 14)))
    assert said in body(msg) and "(was " not in body(msg)
    assert said.split(" (")[-1].split(":")[0].rstrip(")\n") in " ".join(body(msg, "html").split())


def test_a_date_before_the_forecasts_is_the_one_the_team_works_to_not_one_we_expect_to_meet() -> None:
    """A notice whose date the manager chose before the forecast's says the team works to it; only the forecast's
    date (or a later one) is "the date we expect to meet" (third native reading, defect 5)."""
    text = body(letters().notice(letter(expected=False)))
    assert "That's the date the team is working to, and if it changes, you'll hear it from me straight away." in text
    assert "expect to meet" not in text
    assert "Ekip bu tarihe göre çalışıyor" in body(letters().notice(letter("tr", expected=False)))


def test_bengali_dates_name_the_month_in_full_and_turkish_weekdays_are_common_nouns_in_a_sentence() -> None:
    from deadlinewatch.core.locales import weekday_name

    assert format_day(dt.date(2026, 12, 10), "bn", "medium") == "১০ ডিসেম্বর ২০২৬"
    assert format_day(dt.date(2026, 12, 10), "bn", "~yMMMEd") == "বৃহস্পতি, ১০ ডিসেম্বর ২০২৬"
    assert format_day(dt.date(2026, 12, 10), "en_GB", "medium") == "10 Dec 2026"  # other languages as CLDR has them
    assert (weekday_name("mon", "tr"), weekday_name("mon", "en"), weekday_name("mon", "bn")) == (
        "pazartesi", "Monday", "সোমবার")


WATCHED = [("en", "“Launch” needs extra attention this week, and we're on it. If its date has to move, you'll "
                  "hear it from me straight away"),
           ("tr", "“Launch” aşamasını bu hafta yakından takip ediyoruz"),
           ("bn", "এই সপ্তাহে ‘Launch’ কাজটিতে বাড়তি মনোযোগ দরকার")]


@pytest.mark.parametrize(("language", "said"), WATCHED)
def test_the_weekly_says_which_milestone_the_team_is_watching_when_the_risk_alert_is_up(
        language: str, said: str) -> None:
    progress = [Progress(ROWS[0], 20, 60, 2), Progress(ROWS[1], None, None, 0)]
    msg = letters().weekly(envelope(language, kind="weekly"), ROWS, progress, [ROWS[0]], dt.date(2026, 11, 30),
                           watch=["Launch"])
    for kind in ("plain", "html"):
        assert said in body(msg, kind)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(language=st.sampled_from(["en", "tr", "bn"]),
       subject=st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=120),
       said=st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=300),
       original_id=st.sampled_from(["", "<n1@studio.example>", "not an id", "<a b@c>"]),
       references=st.sampled_from(["", "<r1@x> <r2@x>", "junk"]),
       accepted=st.booleans())
@example(language="en", subject="[acme-web] progress", said="x" * 200, original_id="<n1@studio.example>",
         references="", accepted=True)
@example(language="bn", subject="অগ্রগতি " * 20, said="ş\n" * 30, original_id="", references="", accepted=True)
def test_a_reply_is_written_byte_for_byte_as_the_email_package_writes_it(
        language: str, subject: str, said: str, original_id: str, references: str, accepted: bool) -> None:
    """The reply's bytes are written without building a message (#31): they are the message's, whatever the
    note's Subject, the words told back, the thread's ids and the team's language."""
    from deadlinewatch.core.letters import BlockSummary

    letter = letters().reply_letter(
        language=language, sender="Studio PM <pm@studio.example>", to="alice@studio.example",
        original_subject=subject, original_message_id=original_id, references=references,
        composed_at=dt.datetime(2026, 11, 30, 9, 15, tzinfo=dt.UTC), message_id="<dw.reply.1@studio.example>",
        accepted=accepted, project_name="Acme website", problems=[] if accepted else [said],
        blocks=[BlockSummary("Design mockups", "", said, said, False)] if accepted else [],
        example_project="acme-web", example_milestone="Design mockups")
    assert letter.as_bytes() == letter.message().as_bytes()


_ID_CHARS = "abcXYZ019._-"


@settings(max_examples=400, deadline=None)
@given(name=st.sampled_from(["In-Reply-To", "References", "Auto-Submitted", "X-Deadlinewatch-Kind"]),
       value=st.text(st.sampled_from("abcXYZ019<>@.-_=?()\",;:\\[]!#$%&'*+/^`{|}~ \t\u00e7"), max_size=80),
       when=st.datetimes(min_value=dt.datetime(1970, 1, 2), max_value=dt.datetime(2200, 1, 1),
                         timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=3))])),
       local=st.text(st.sampled_from(_ID_CHARS), min_size=1, max_size=64),
       domain=st.text(st.sampled_from("abc019.-"), min_size=1, max_size=60))
def test_a_reply_header_written_as_given_is_what_the_policy_writes(name: str, value: str, when: dt.datetime,
                                                                    local: str, domain: str) -> None:
    """The headers of a reply that Plain.as_bytes writes without the policy (core/mime.py _AS_GIVEN) come out as
    the policy writes them: any text, a date as format_datetime writes it, a Message-ID as ours are made."""
    from email.utils import format_datetime

    from deadlinewatch.core.header_cache import WRITE
    from deadlinewatch.core.mime import _field

    for field in [(name, value), ("Date", format_datetime(when)), ("Message-ID", f"<{local}@{domain}>")]:
        assert _field(field) == WRITE.fold_binary(*WRITE.header_store_parse(*field))


@pytest.mark.parametrize(("language", "context", "said"), [
    ("en", "your shareholder meeting on 12 December",
     "That puts “Content migration” after your shareholder meeting on 12 December, which isn't what I told you "
     "before. I'm sorry."),
    ("tr", "12 Aralık'taki hissedarlar toplantınız", "“Content migration” aşamasının 12 Aralık'taki hissedarlar "
     "toplantınız sonrasına kalması demek; oysa size o günden önce yetişeceğini yazmıştım"),
    ("bn", "১২ ডিসেম্বরের শেয়ারহোল্ডার সভা",
     "‘Content migration’ এখন ১২ ডিসেম্বরের শেয়ারহোল্ডার সভা শেষ হওয়ার পরে পড়ছে"),
])
def test_a_dependant_moved_past_the_clients_own_date_is_said_and_apologised_for(
        language: str, context: str, said: str) -> None:
    """The notice's own milestone still lands before the client's day, but a dependant it moves does not: the
    client was told a date before their day, and hears plainly that it no longer is, with an apology — in the
    notice and in the dependant's own letter (fourth native reading, defect 1)."""
    dep = TimelineRow("content-1", "Content migration", dt.date(2026, 12, 8), dt.date(2026, 12, 15), "moved", 3,
                      "dw-content", told=dt.date(2026, 12, 9))
    text = " ".join(body(letters().notice(letter(language, context=context, moved=(dep,)))).split())
    assert said in text
    # landing on the client's day itself is not "after" it (the review: "That puts Build after your board
    # presentation on 30 November", Build now due 30 November)
    on_the_day = dataclasses.replace(dep, new=dt.date(2026, 12, 12))
    assert said not in " ".join(body(letters().notice(letter(language, context=context, moved=(on_the_day,)))).split())
    html = " ".join(body(letters().notice(letter(language, context=context, moved=(dep,))), "html").split())
    assert said in unescape(html)
    moved = " ".join(body(letters().calendar(envelope(language, kind="update"), dep, after="Design mockups",
                                             context=context)).split())
    owned = {"en": "I've written to you about that separately. I'm sorry for another change, all the more because "
                   "the new date falls after your shareholder meeting on 12 December, when I had told you it would "
                   "be ready before it.",
             "tr": "Yeni tarih 12 Aralık'taki hissedarlar toplantınız sonrasına denk geliyor; oysa size o günden "
                   "önce yetişeceğini yazmıştım. Bu ek değişiklik için özür dilerim.",
             "bn": "নতুন তারিখটি পড়ছে ১২ ডিসেম্বরের শেয়ারহোল্ডার সভা শেষ হওয়ার পরে, অথচ আগে আপনাকে "
                   "জানিয়েছিলাম এটি তার আগেই হবে; এই বাড়তি পরিবর্তনের জন্য আমি আন্তরিকভাবে দুঃখিত।"}[language]
    assert owned in moved
    # one apology, never two (fifth native reading, defects 2-4)
    assert moved.count({"en": "sorry", "tr": "özür", "bn": "দুঃখিত"}[language]) == 1
    early = dataclasses.replace(dep, new=dt.date(2026, 12, 11))  # still before the day: nothing to own
    assert owned not in " ".join(body(letters().calendar(envelope(language, kind="update"), early, after="x",
                                                         context=context)).split())
    for text in (body(letters().notice(letter(language, context=context, moved=(early,)))),
                 body(letters().notice(letter(language, context="your launch party", moved=(dep,))))):
        assert said not in " ".join(text.split())


@pytest.mark.parametrize(("language", "adds", "moves"), [
    ("en", "This email also adds “Design mockups” to your calendar on its new date",
     "This email also moves the entry in your calendar to the new date"),
    ("tr", "Bu e-posta ayrıca “Design mockups” aşamasını yeni tarihiyle takviminize ekliyor",
     "takviminizdeki etkinliği yeni tarihe taşıyor"),
    ("bn", "এই ইমেইলটি ‘Design mockups’ কাজটিকেও নতুন তারিখে আপনার ক্যালেন্ডারে যোগ করবে",
     "ক্যালেন্ডারের এন্ট্রিটিও নতুন তারিখে সরিয়ে দেবে"),
])
def test_a_letter_adds_an_entry_the_clients_calendar_never_had_and_moves_one_it_has(
        language: str, adds: str, moves: str) -> None:
    """The client's calendar has only the entries an invitation put there: a letter carrying the first one of a
    milestone adds it, never "moves" it (fourth native reading, defect 3)."""
    new = " ".join(body(letters().notice(letter(language, new_entry=True))).split())
    held = " ".join(body(letters().notice(letter(language))).split())
    assert adds in new and moves not in new
    assert moves in held and adds not in held
    dep = TimelineRow("launch-1", "Launch", dt.date(2026, 12, 18), dt.date(2026, 12, 22), "moved", 1, "dw-launch")
    first = " ".join(body(letters().calendar(envelope(language, kind="update"), dep, after="Design mockups",
                                             new_entry=True)).split())
    assert {"en": "This email adds “Launch” to your calendar on its new date",
            "tr": "Bu e-posta “Launch” aşamasını yeni tarihiyle takviminize ekliyor",
            "bn": "এই ইমেইলটি ‘Launch’ কাজটিকে নতুন তারিখে আপনার ক্যালেন্ডারে যোগ করবে"}[language] in first


@pytest.mark.parametrize(("language", "said"), [
    ("en", "Moved from 9 Dec 2026 to 15 Dec 2026 (originally 8 Dec 2026)"),
    ("tr", "9 Ara 2026 tarihinden 15 Ara 2026 tarihine alındı (ilk tarih: 8 Ara 2026)"),
    ("bn", "৯ ডিসেম্বর ২০২৬ থেকে সরে ১৫ ডিসেম্বর ২০২৬ (মূল তারিখ: ৮ ডিসেম্বর ২০২৬)"),
])
def test_a_calendar_entry_moved_twice_moves_from_the_date_the_calendar_held(language: str, said: str) -> None:
    """The entry's DESCRIPTION says the date the client's calendar held until now, the original beside it."""
    row = TimelineRow("content-1", "Content migration", dt.date(2026, 12, 8), dt.date(2026, 12, 15), "moved", 3,
                      "dw-content", told=dt.date(2026, 12, 9))
    assert letters().entry_description(language, row, timezone="Europe/London").split("\n")[0] == said


@pytest.mark.parametrize(("language", "first", "quiet", "still"), [
    ("en", "This is my first weekly update on ACME web, so there's no earlier week to compare with yet.",
     "The progress figures below are unchanged since last week's update.",
     "No milestone has moved forward since last week."),
    ("tr", "Bu, ACME web projesiyle ilgili ilk haftalık durum özetim",
     "Aşağıdaki oranlar geçen haftakiyle aynı.",
     "hiçbir aşamada ilerleme olmadı"),
    ("bn", "এটি ACME web প্রকল্পের প্রথম সাপ্তাহিক আপডেট",
     "নিচের শতাংশগুলো গত সপ্তাহের মতোই আছে।",
     "কোনো কাজে অগ্রগতি হয়নি"),
])
def test_a_weekly_without_progress_says_whether_no_figures_came_or_the_figures_did_not_move(
        language: str, first: str, quiet: str, still: str) -> None:
    """"No milestone has moved forward" only when notes came and showed none; a week without notes says no new
    figures came, and the first weekly says it is the first (fourth native reading, defect 2)."""
    def weekly(progress: list[Progress], is_first: bool = False) -> str:
        msg = letters().weekly(envelope(language, kind="weekly"), ROWS, progress, [ROWS[0]], dt.date(2026, 11, 30),
                               first=is_first)
        return " ".join(body(msg).split()) + " ".join(body(msg, "html").split())
    no_notes = weekly([Progress(ROWS[0], 60, 60, 0), Progress(ROWS[1], None, None, 0)])
    assert quiet in no_notes and still not in no_notes and first not in no_notes
    flat = weekly([Progress(ROWS[0], 60, 60, 1), Progress(ROWS[1], None, None, 0)])
    assert still in flat and quiet not in flat
    opening = weekly([Progress(ROWS[0], None, None, 0), Progress(ROWS[1], None, None, 0)], is_first=True)
    assert first in opening and still not in opening and quiet not in opening
    # a milestone's first figure this week counts as moving forward, and its line says so (the client-side audit:
    # "work moved forward on two milestones" over lines showing no change at all)
    started = weekly([Progress(ROWS[0], None, 30, 1), Progress(ROWS[1], None, None, 0)])
    assert {"en": "30% done (first reported this week)", "tr": "%30 tamamlandı (ilk kez bu hafta bildirildi)",
            "bn": "৩০% সম্পন্ন (এ সপ্তাহেই প্রথম জানানো হলো)"}[language] in started


def test_the_weeklys_names_are_listed_as_a_sentence_lists_them_and_counts_are_words() -> None:
    rows = (*ROWS, TimelineRow("c-1", "Content migration", dt.date(2026, 12, 8), dt.date(2026, 12, 8), "on track", 0))
    progress = [Progress(r, 10, 20, 1) for r in rows]
    text = " ".join(body(letters().weekly(envelope(kind="weekly"), rows, progress, [rows[0]], dt.date(2026, 11, 30),
                                          watch=[r.name for r in rows])).split())
    assert "Design mockups, Launch and Content migration need extra attention this week" in text
    assert "work moved forward on three milestones." in text
    # in Turkish and Bengali too, a small count is a word (fifth native reading, defect 12)
    for language, said in (("tr", "üç aşamada ilerleme kaydettik"), ("bn", "তিনটি কাজ এগিয়েছে")):
        text = " ".join(body(letters().weekly(envelope(language, kind="weekly"), rows, progress, [rows[0]],
                                              dt.date(2026, 11, 30))).split())
        assert said in text, text


def _alert(**kw: Any) -> str:
    from deadlinewatch.core.alert import Pace
    from deadlinewatch.core.letters import AlertLetter

    values: dict[str, Any] = dict(
        what="clear", project="ACME web", milestone="Content migration", target=dt.date(2026, 12, 8), p_miss=0.57,
        was=0.9, p50=dt.date(2026, 12, 7), p80=dt.date(2026, 12, 11), reason="", pace=Pace(None, None, None, 5),
        notice="later", held=False, warn_probability=0.97, alert_probability=0.88, client="Jane")
    values.update(kw)
    msg = letters().alert(AlertLetter(**values), language="en", sender="dw@studio.example", to="pm@studio.example",
                          composed_at=dt.datetime(2026, 11, 19, 12, tzinfo=dt.UTC), message_id="<a1@studio.example>")
    return str(msg["Subject"]) + "\n" + " ".join(body(msg).split())


def test_an_alert_that_clears_says_off_the_risk_list_never_on_track_while_a_miss_is_likelier_than_not() -> None:
    """Cleared below the alert's threshold is not "back on track" at 57% (fourth native reading, defect 6)."""
    likely = _alert()
    assert likely.startswith("No longer at risk: ACME web: Content migration")
    assert ("has come off the risk list: the chance of missing Dec 8, 2026 is down to 57% (alerts start at 88%)."
            in likely and "still more likely than not to slip" in likely and "on track" not in likely)
    assert "No action is needed." in _alert(p_miss=0.3) and "more likely than not" not in _alert(p_miss=0.3)


def test_an_alert_after_the_client_was_told_says_what_they_were_told_and_when_they_hear_again() -> None:
    """Not "the client hasn't been told yet" the morning after a notice (fourth native reading, defect 7)."""
    told = _alert(what="raise", p_miss=0.9, target=dt.date(2026, 12, 9), told_on=dt.date(2026, 11, 24))
    assert ("Jane was told Dec 9, 2026 on Nov 24, 2026, and hears again, with a new date, if the chance of "
            "missing reaches 97% or the team's own estimate goes past Dec 9, 2026.") in told  # the team's region
    assert "hasn't been told" not in told and "hasn't been told" in _alert(what="raise", p_miss=0.9)


def test_the_why_now_note_says_the_notice_has_gone_to_the_client_by_name_why_now_and_which_draft_it_was() -> None:
    """The manager's note of a notice that went out: "has gone", the client by name, the rule that fired with its
    dates, and the number the manager approved when the letter was composed again (fourth reading, defect 4)."""
    def note(**kw: Any) -> str:
        msg = letters().manager(language="en", sender="dw@studio.example", to="pm@studio.example",
                                composed_at=dt.datetime(2026, 12, 2, 9, tzinfo=dt.UTC), message_id="<m@x>",
                                what="explained", notice_id=48, token="t", project_name="ACME web",
                                milestone="Design mockups", client="client@client.example", client_name="Jane",
                                reason="So it is likely done by 11 Dec 2026.", **kw)
        return " ".join(body(msg).split())
    went = note(detail="the team's latest note puts the end of the work on 14 Dec 2026, past 10 Dec 2026.")
    assert went.startswith("Notice #48 has gone to Jane (client@client.example) without waiting for you; you're in "
                           "Cc. Why now: the team's latest note puts the end of the work on 14 Dec 2026")
    assert "The forecast: So it is likely done by 11 Dec 2026." in went and " goes to " not in went
    assert note(approved=ApprovedDate(19, dt.date(2026, 12, 9))).startswith(
        "Notice #48, the letter you approved as #19, has gone to Jane")
    # approved with the team's date while the forecast says later: the note says which date went and that the
    # forecast still says later (fifth reading, defect 7)
    team = note(approved=ApprovedDate(19, dt.date(2026, 12, 9), team_own=True,
                                      later=(dt.date(2026, 12, 23), dt.date(2027, 1, 5))))
    assert team.startswith("Notice #48, the letter you approved as #19, has gone to Jane (client@client.example) "
                           "with the team's date, Dec 9, 2026; you're in Cc. The forecast still puts the work later "
                           "(likely Dec 23, 2026, and Jan 5, 2027 four times in five), so keep an eye on the team's "
                           "next note."), team
    assert "The forecast still" not in note(approved=ApprovedDate(19, dt.date(2026, 12, 9)))
    assert "with your date, Dec 9, 2026; you're in Cc. Why now" in note(approved=ApprovedDate(19, dt.date(2026, 12, 9)),
                                                                        detail="x")


@pytest.mark.parametrize(("language", "said"), [
    ("en", "As I said on 26 November, we will not charge for the extra review round, and that covers this delay "
           "too."),
    ("tr", "26 Kasım tarihinde belirttiğim gibi ek inceleme turu için ücret almayacağız; bu söz bu gecikme için de "
           "geçerli."),
    ("bn", "২৬ নভেম্বর যেমন জানিয়েছিলাম, বাড়তি পর্যালোচনার জন্য কোনো ফি নেব না; এবারের দেরির ক্ষেত্রেও তা প্রযোজ্য।"),
])
def test_a_second_notice_dates_the_offer_that_stands_never_as_my_last_email(language: str, said: str) -> None:
    """The offer made with the first notice stands for the second slip: said with the day it was made ("my last
    email" is wrong once a weekly or another letter came between), the offer's own words as a clause."""
    offer = {"en": "We will not charge for the extra review round.",
             "tr": "Ek inceleme turu için ücret almayacağız.",
             "bn": "বাড়তি পর্যালোচনার জন্য কোনো ফি নেব না।"}[language]
    text = body(letters().notice(letter(language, again=True, offer=offer, offer_stands=True,
                                        offered_on=dt.date(2026, 11, 26), broken=dt.date(2026, 12, 10),
                                        promised=dt.date(2026, 12, 16))))
    assert said in text
    assert "last email" not in text and "Son e-postamda" not in text
    # an offer of more than one sentence is not cut into a clause: it is quoted whole after the dated sentence
    text = body(letters().notice(letter(again=True, offer="No fee for the review. We also add a page.",
                                        offer_stands=True, offered_on=dt.date(2026, 11, 26))))
    assert "The offer I made on 26 November covers this delay too. No fee for the review. We also add a page." \
        in text


@pytest.mark.parametrize(("language", "said"), [
    ("en", "Good news: we delivered the “Design mockups” milestone today."),
    ("tr", "“Design mockups” aşamasını bugün teslim ettiğimizi sevinerek bildiririm."),
    ("bn", "সুখবর: আজ আমরা ‘Design mockups’ কাজটি জমা দিয়েছি।"),
])
def test_a_delivered_note_sent_the_same_day_says_today_not_the_date(language: str, said: str) -> None:
    """The note that goes out the afternoon of the delivery says "today" (fourth reading, defect 18); a later one
    gives the day."""
    done = dataclasses.replace(ROWS[0], status="done")
    env = envelope(language, kind="delivered")  # composed on Monday 30 November
    text = " ".join(body(letters().notice(letter(language, env, milestone=done, rows=(done,),
                                                 delivered_on=dt.date(2026, 11, 30)))).split())
    assert said in text and "30" not in text.split(said)[0][-40:]
    later = " ".join(body(letters().notice(letter("en", envelope(kind="delivered"), milestone=done, rows=(done,),
                                                  delivered_on=dt.date(2026, 11, 27)))).split())
    assert "milestone on Friday, 27 November 2026." in later


@pytest.mark.parametrize(("language", "said"), [
    ("en", "A quick note for your calendar: the date for “Editor training” is Thursday, 10 December 2026."),
    ("tr", "Takviminiz için kısa bir not: “Editor training” için belirlenen tarih 10 Aralık 2026 Perşembe."),
    ("bn", "আপনার ক্যালেন্ডারের জন্য জানিয়ে রাখছি: ‘Editor training’ কাজটির নির্ধারিত তারিখ"),
])
def test_a_calendar_entry_names_a_date_that_fits_an_event_as_well_as_a_deliverable(language: str, said: str
                                                                                    ) -> None:
    """A training is held, not delivered: the entry's letter gives its date, never its "delivery date"."""
    row = TimelineRow("training-1", "Editor training", dt.date(2026, 12, 10), dt.date(2026, 12, 10), "on track", 0,
                      "dw-training")
    text = " ".join(body(letters().calendar(envelope(language, kind="update"), row, new_entry=True)).split())
    assert said in text
    assert "due on" not in text and "teslim" not in text and "জমা" not in text


def test_the_forwarded_client_reply_names_the_letter_it_answers_and_the_reminders_name_the_client() -> None:
    """Fourth reading, defect 19: "Jane replied to the letter “…”", not "answered a message deadlinewatch sent";
    the reminders say "write to Jane today", not "to them"."""
    from email.message import EmailMessage

    original = EmailMessage()
    original["From"] = "Jane <client@client.example>"
    original["Subject"] = "Re: SEO: new date 10 December · ACME web"
    original.set_content("Could the home page reach us before the meeting?")
    sent = letters().forward(original=original, language="en", sender="dw@studio.example", to="pm@studio.example",
                             composed_at=dt.datetime(2026, 11, 26, 13, tzinfo=dt.UTC), message_id="<f@x>")
    text = " ".join(body(sent).split())
    assert text.startswith("Jane <client@client.example> replied to the letter “SEO: new date 10 December · ACME "
                           "web”. Their message is attached; please answer them directly.")
    for what, said in (("follow-up", "Please write to Jane today"),
                       ("call", "Please call Jane today, or at the time they asked for, if they replied with one.")):
        msg = letters().manager(language="en", sender="dw@studio.example", to="pm@studio.example",
                                composed_at=dt.datetime(2026, 12, 3, 9, tzinfo=dt.UTC), message_id="<m@x>",
                                what=what, notice_id=48, token="t", project_name="ACME web",
                                milestone="Design mockups", client="client@client.example", client_name="Jane",
                                reason="")
        assert said in " ".join(body(msg).split())


def test_a_subject_names_the_year_by_the_clients_calendar_whatever_the_clocks_offset() -> None:
    """At 01:30 on 1 January in Istanbul it is still 31 December in London: a new date of 8 January is next year's
    for the client, and the subject says "8 January 2027" — the year was judged by the moment's own offset, so
    `--now` in the team's zone dropped it (the zone audit)."""
    at = dt.datetime(2027, 1, 1, 1, 30, tzinfo=zoneinfo.ZoneInfo("Europe/Istanbul"))
    subjects = {str(letters().notice(letter(env=envelope(composed_at=moment), promised=dt.date(2027, 1, 8),
                                            deadline=dt.date(2026, 12, 31)))["Subject"])
                for moment in (at, at.astimezone(dt.UTC))}
    assert len(subjects) == 1 and "8 January 2027" in subjects.pop()


@pytest.mark.parametrize("language", ["en", "tr", "bn"])
def test_a_notice_sent_after_the_date_it_breaks_owns_the_late_news(language: str) -> None:
    """No note warned in time and the notice goes out the day after the deadline: it said "I wanted you to hear it
    from me now, before that date" (the client-side audit). It says the date was missed and that the client should
    have heard before it; a second notice after the promise it breaks likewise."""
    late = envelope(language, composed_at=dt.datetime(2026, 12, 5, 10, tzinfo=dt.UTC))  # the deadline was the 4th
    first = body(letters().notice(letter(language, env=late)))
    again = body(letters().notice(letter(language, env=late, again=True, broken=dt.date(2026, 12, 4),
                                         deadline=dt.date(2026, 11, 27))))
    said = {"en": ("we didn't deliver", "I should have told you before that date", "before that date, rather"),
            "tr": ("yetiştiremediğimizi", "o tarihten önce size söylemeliydim", "şimdiden benden"),
            "bn": ("জমা দিতে পারিনি", "পার হওয়ার আগেই", "আগেভাগেই")}[language]
    assert said[0] in first and said[1] in first and said[2] not in first
    assert {"en": "we didn't make", "tr": "de yetiştiremedik", "bn": "এটি জমা দিতে পারিনি"}[language] in again
    on_time = body(letters().notice(letter(language)))  # composed 30 November, before the 4th: as it was
    assert said[2] in on_time and said[0] not in on_time


@pytest.mark.parametrize(("language", "subject"), [
    ("en", "RE: Re: [acme-web] progress — recorded — recorded"),
    ("en", "Re: [acme-web] progress — not understood"),
    ("tr", "Ynt: RE: [acme-web] progress — kaydedildi — anlaşılamadı"),
    ("bn", "Re: [acme-web] progress — রেকর্ড করা হয়েছে"),
])
def test_a_reply_in_a_thread_of_notes_keeps_one_re_and_one_status(language: str, subject: str) -> None:
    """The notes audit: a team member answering each reply with the next note got "Ynt: RE: [acme-web] progress —
    kaydedildi — anlaşılamadı", and longer each week."""
    assert letters().thread_subject(language, subject) == "[acme-web] progress"
    assert letters().thread_subject("en", "Progress — week 3") == "Progress — week 3"  # a dash of the sender's own
