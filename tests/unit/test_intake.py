"""What a message in the inbox is, and who is ever answered."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from deadlinewatch.core.intake import (
    Context,
    Rules,
    authenticated,
    classify,
    clean_header,
    decision_word,
    is_automatic,
    read_message,
    returned_ids,
)
from deadlinewatch.core.notes import ParsedNote

ARRIVED = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.UTC)
RULES = Rules(frozenset({"alice@studio.example"}), frozenset({"pm@studio.example"}),
              frozenset({"jane@acme.example"}), require_authentication=True, authserv_id="mx.studio.example")
PASS = "Authentication-Results: mx.studio.example; dkim=pass header.d=studio.example"


def mail(headers: str, body: str = "Milestone: x\nDone: 1%\n") -> bytes:
    return (headers.strip() + "\n\n" + body).replace("\n", "\r\n").encode()


def never(_: object) -> ParsedNote:
    raise AssertionError("must not be parsed")


def ok_note(_: object) -> ParsedNote:
    return ParsedNote("p", (), ())


def test_the_note_time_is_the_date_header_when_earlier_by_less_than_a_day() -> None:
    early = read_message(mail("From: alice@studio.example\nDate: Mon, 30 Nov 2026 08:00:00 +0000"), ARRIVED)
    assert early.at == dt.datetime(2026, 11, 30, 8, tzinfo=dt.UTC)
    stale = read_message(mail("From: alice@studio.example\nDate: Fri, 27 Nov 2026 08:00:00 +0000"), ARRIVED)
    assert stale.at == ARRIVED
    future = read_message(mail("From: alice@studio.example\nDate: Tue, 1 Dec 2026 08:00:00 +0000"), ARRIVED)
    assert future.at == ARRIVED


def test_only_our_servers_authentication_results_count() -> None:
    forged = read_message(mail("From: alice@studio.example\n"
                               "Authentication-Results: mx.evil.example; dkim=pass header.d=studio.example"), ARRIVED)
    assert "no Authentication-Results header from mx.studio.example" in authenticated(
        forged.msg, forged.sender, "mx.studio.example")
    good = read_message(mail("From: alice@studio.example\n"
                             "Authentication-Results: mx.studio.example; dkim=pass header.d=studio.example"), ARRIVED)
    assert authenticated(good.msg, good.sender, "mx.studio.example") == ""
    unaligned = read_message(mail("From: alice@studio.example\n"
                                  "Authentication-Results: mx.studio.example; dkim=pass header.d=other.example"),
                             ARRIVED)
    assert authenticated(unaligned.msg, unaligned.sender, "mx.studio.example")


def test_archive_copies_are_recognised_before_any_other_rule() -> None:
    m = read_message(mail("From: pm@studio.example\nAuto-Submitted: auto-generated\nMessage-ID: <a@b>"), ARRIVED)
    assert classify(m, RULES, Context(is_ours=True), never).outcome == "archive"


def test_automatic_mail_and_strangers_are_never_answered() -> None:
    bounce = read_message(mail("From: MAILER-DAEMON@studio.example\nSubject: Undelivered"), ARRIVED)
    assert not classify(bounce, RULES, Context(), never).reply
    listmail = read_message(mail("From: alice@studio.example\nList-Id: <team.studio.example>"), ARRIVED)
    assert is_automatic(listmail.msg, listmail.sender)
    stranger = read_message(mail("From: mallory@evil.example"), ARRIVED)
    verdict = classify(stranger, RULES, Context(), never)
    assert (verdict.outcome, verdict.folder, verdict.reply) == ("rejected", "rejected", False)


def test_a_member_without_authentication_is_quarantined_unanswered() -> None:
    m = read_message(mail("From: alice@studio.example"), ARRIVED)
    verdict = classify(m, RULES, Context(), never)
    assert verdict.folder == "rejected" and not verdict.reply and "not authenticated" in verdict.reason


def test_a_clients_reply_to_a_notice_goes_to_the_manager() -> None:
    m = read_message(mail("From: Jane <jane@acme.example>\nIn-Reply-To: <n@studio.example>"), ARRIVED)
    assert classify(m, RULES, Context(answers_notice=True), never).outcome == "forwarded"


def test_header_values_lose_control_characters() -> None:
    assert clean_header("hello\r\nBcc: victim@example.com\x00") == "hello Bcc: victim@example.com"


def test_undecodable_mail_still_reads() -> None:
    raw = b"From: alice@studio.example\r\nContent-Type: text/plain; charset=x-no-such\r\n\r\n\xff\xfe Milestone"
    m = read_message(raw, ARRIVED)
    assert "Milestone" in m.text


def test_the_managers_reply_to_a_draft_decides_it() -> None:
    m = read_message(mail(f"From: pm@studio.example\n{PASS}\nSubject: Re: Approve? x [dw:abc123]",
                          "Approve\n\n> the draft\n"), ARRIVED)
    verdict = classify(m, RULES, Context(decides="abc123"), never)
    assert (verdict.outcome, verdict.decision) == ("decision", "approve")
    unsure = read_message(mail(f"From: pm@studio.example\n{PASS}", "Let me think about it"), ARRIVED)
    assert classify(unsure, RULES, Context(decides="abc123"), never).outcome == "rejected"
    forged = read_message(mail("From: pm@studio.example", "approve"), ARRIVED)
    assert classify(forged, RULES, Context(decides="abc123"), never).outcome == "rejected"


def test_the_managers_date_is_read_on_the_teams_day() -> None:
    """A manager in Istanbul answers at 00:30 on 7 December (21:30 UTC on the 6th): the day the date is read from is
    theirs, as a note's ETA is the team's — 7 October is then 61 days past (next year's), not 60 (this year's)."""
    import zoneinfo

    at = dt.datetime(2026, 12, 6, 21, 30, tzinfo=dt.UTC)
    m = read_message(mail(f"From: pm@studio.example\n{PASS}\nSubject: Re: Approve? x [dw:abc123]",
                          "approve 7 October\n"), at)
    istanbul = dataclasses.replace(RULES, zone=zoneinfo.ZoneInfo("Europe/Istanbul"))
    assert classify(m, istanbul, Context(decides="abc123"), never).date == dt.date(2027, 10, 7)
    assert classify(m, RULES, Context(decides="abc123"), never).date == dt.date(2026, 10, 7)


def test_a_note_counts_its_dates_from_the_day_its_sender_wrote_on() -> None:
    """The review: Alice in New York writes at 22:30 on Thursday 3 December — Friday 05:30 at the studio in
    Istanbul. "ETA: Friday" was read as the Friday after (a week late, silently) and "ETA: 3 December" refused as
    passed. Her Date header gives her day; a header in UTC (or none: the arrival) gives the team's."""
    import zoneinfo

    from deadlinewatch.core.notes import parse_eta

    istanbul = zoneinfo.ZoneInfo("Europe/Istanbul")
    arrived = dt.datetime(2026, 12, 4, 3, 31, tzinfo=dt.UTC)
    abroad = read_message(mail("From: alice@studio.example\nDate: Thu, 3 Dec 2026 22:30:00 -0500"), arrived)
    assert abroad.written_on(istanbul) == dt.date(2026, 12, 3)
    assert parse_eta("Friday", abroad.written_on(istanbul)) == dt.date(2026, 12, 4)
    in_utc = read_message(mail("From: alice@studio.example\nDate: Fri, 4 Dec 2026 03:30:00 +0000"), arrived)
    assert in_utc.written_on(istanbul) == dt.date(2026, 12, 4)
    assert read_message(mail("From: alice@studio.example"), arrived).written_on(istanbul) == dt.date(2026, 12, 4)


@pytest.mark.parametrize(("text", "word"), [("approve", "approve"), ("OK, send it", "approve"), ("Onayla", "approve"),
                                            ("reject — not now", "reject"), ("Hayır", "reject"), ("maybe", ""),
                                            ("\n\nyes\n", "approve")])
def test_decision_words(text: str, word: str) -> None:
    assert decision_word(text) == word


DSN = ("From: MAILER-DAEMON@mx.studio.example\nReturn-Path: <>\nAuto-Submitted: auto-replied\n"
       "Content-Type: multipart/report; report-type=delivery-status; boundary=b",
       "--b\n\nno such user\n--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.studio.example\n\n"
       "Final-Recipient: rfc822; jane@acme.example\nAction: failed\nStatus: 5.1.1\n--b\n"
       "Content-Type: text/rfc822-headers\n\nMessage-ID: <dw.notice.0123abcd@studio.example>\n--b--\n")


def test_a_bounce_is_a_delivery_status_notification_naming_our_message_in_its_returned_headers() -> None:
    m = read_message(mail(*DSN), ARRIVED)
    assert returned_ids(m.msg) == ("<dw.notice.0123abcd@studio.example>",)
    verdict = classify(m, RULES, Context(bounced=returned_ids(m.msg)), never)
    assert verdict.outcome == "bounce" and not verdict.reply


@pytest.mark.parametrize("forgery", [
    # an ordinary message that only quotes the id: not a DSN
    ("From: MAILER-DAEMON@evil.example\nAuto-Submitted: auto-replied",
     "Undelivered: <dw.notice.0123abcd@studio.example>"),
    # a DSN sent with a return path of its own: DSNs are sent with MAIL FROM:<>
    (DSN[0].replace("Return-Path: <>", "Return-Path: <mallory@evil.example>"), DSN[1]),
    # a DSN whose recipients were all delivered
    (DSN[0], DSN[1].replace("Action: failed", "Action: delivered")),
    # the id only in the human-readable part
    (DSN[0], DSN[1].replace("no such user", "about <dw.notice.0123abcd@studio.example>").replace(
        "Message-ID: <dw.notice.0123abcd@studio.example>", "Message-ID: <other@x>")),
])
def test_nothing_but_a_real_dsn_can_silence_a_notice(forgery: tuple[str, str]) -> None:
    m = read_message(mail(*forgery), ARRIVED)
    assert "<dw.notice.0123abcd@studio.example>" not in returned_ids(m.msg)


BYPASS = ("Authentication-Results: mx.studio.example; dkim=none; spf=pass (… x.dmarc=pass.header.from=studio.example"
          "@evil.example …) smtp.mailfrom=x.dmarc=pass.header.from=studio.example@evil.example; dmarc=fail "
          "header.from=studio.example")
REAL_FAIL = ("Authentication-Results: mx.studio.example; dkim=fail header.d=studio.example; dmarc=fail "
             "header.from=studio.example")
FORGED_PASS = "Authentication-Results: mx.studio.example; dkim=pass header.d=studio.example"


@pytest.mark.parametrize("headers", [
    BYPASS,  # results hidden in a comment and a property value are not results
    f"{REAL_FAIL}\n{FORGED_PASS}",  # a forged pass below our server's real fail
    f"{FORGED_PASS}\n{REAL_FAIL}",  # … or above it
    "Authentication-Results: mx.studio.example; dkim=pass reason=\"dmarc=pass header.from=studio.example\" "
    "header.d=evil.example",  # a pass inside a quoted string
    "Authentication-Results: mx.studio.example.evil.example; dkim=pass header.d=studio.example",
    "Authentication-Results: mx.studio.example; dkim=pass header.d=studio.example.evil.example",
])
def test_forged_authentication_results_never_pass(headers: str) -> None:
    m = read_message(mail(f"From: alice@studio.example\n{headers}"), ARRIVED)
    assert authenticated(m.msg, m.sender, "mx.studio.example") != ""
    assert classify(m, RULES, Context(), never).outcome == "rejected"


@pytest.mark.parametrize("headers", [
    "Authentication-Results: (our mx) mx.studio.example; dkim=pass header.d=studio.example",
    "Authentication-Results: mx.studio.example 1; dkim=pass (good signature) header.d=studio.example header.s=s1"
    " header.b=AbC1; dmarc=pass (p=reject dis=none) header.from=studio.example",
    "Authentication-Results: mx.studio.example;\n dmarc=pass (p=none; ünïcode comment) header.from=studio.example",
    "Authentication-Results: mx.studio.example; dkim=pass header.i=@studio.example",
    "Authentication-Results: mx.studio.example; dkim=pass header.d=studio.example\n"
    "Authentication-Results: mx.google.com; dkim=fail header.d=studio.example",  # someone else's: not counted
])
def test_our_servers_real_pass_is_heard(headers: str) -> None:
    m = read_message(mail(f"From: alice@studio.example\n{headers}"), ARRIVED)
    assert authenticated(m.msg, m.sender, "mx.studio.example") == ""


@pytest.mark.parametrize("sender", ["аlice@studio.example",  # Cyrillic а
                                    "alice@STUDİO.example", "\u212alice@studio.example", "alice@studio.example\u200b"])
def test_lookalike_senders_are_not_members(sender: str) -> None:
    raw = f"From: {sender}\r\nMessage-ID: <l@x>\r\n\r\nMilestone: x\r\nDone: 1%\r\n".encode()
    m = read_message(raw, ARRIVED)
    verdict = classify(m, RULES, Context(), never)
    assert (verdict.outcome, verdict.reply) == ("rejected", False)
    m.sender.encode("utf-8")  # storable


def test_eight_bit_headers_become_storable_text() -> None:
    raw = (b"From: \xc3\xa9ve <\xc3\xa9ve@studio.example>\r\nMessage-ID: <\xc3\xa9@evil.example>\r\n"
           b"Subject: \xff\xfe caf\xc3\xa9\r\nReferences: <ok@x> <\xc3\xa9@x>\r\n\r\nhello \xff\r\n")
    m = read_message(raw, ARRIVED)
    for value in (m.message_key, m.message_id, m.sender, m.subject, m.text, *m.references):
        value.encode("utf-8")  # no surrogate escapes left: SQLite stores it, an encoder writes it
    assert m.message_id == "<é@evil.example>" and m.sender == "éve@studio.example"
    assert m.references == ("<ok@x>",)  # an 8-bit id is never written back into our headers


def test_references_pass_through_verbatim_or_not_at_all() -> None:
    long = "<" + "a" * 3000 + "@x>"
    m = read_message(mail(f"From: alice@studio.example\nIn-Reply-To: {long}\nReferences: <a@x> <b@x> {long}"),
                     ARRIVED)
    assert m.references == ("<a@x>", "<b@x>")


def test_mime_nested_past_what_the_parser_can_recurse_is_an_unreadable_note_the_member_hears_of() -> None:
    depth = 1000
    body = "".join(f'Content-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n' for i in range(depth))
    raw = (f"From: alice@studio.example\nMessage-ID: <deep@x>\n{PASS}\nMIME-Version: 1.0\n{body}"
           "Content-Type: text/plain\n\nMilestone: x\nDone: 5%\n").replace("\n", "\r\n").encode()
    m = read_message(raw, ARRIVED)
    assert m.unreadable and m.message_id == "<deep@x>" and m.text == ""
    verdict = classify(m, RULES, Context(), never)
    assert (verdict.outcome, verdict.reply) == ("rejected", True)
    assert verdict.note is not None and "could not be read" in str(verdict.note.problems[0])


@pytest.mark.parametrize("headers", [
    "From: alice@studio.example\nFrom: mallory@evil.example",  # two From headers: which one was signed?
    "From: mallory@evil.example\nFrom: alice@studio.example",
    "From: alice@studio.example, mallory@evil.example",
    'From: "alice@studio.example" <mallory@evil.example>',  # the display name is not the address
    "From: alice@studio.example <mallory@evil.example>",
    "From: Alice <mallory@evil.example> (alice@studio.example)",
])
def test_what_held_sender_tricks_are_not_members(headers: str) -> None:
    m = read_message(mail(f"{headers}\n{PASS}"), ARRIVED)
    assert m.sender != "alice@studio.example"
    assert classify(m, RULES, Context(), never).outcome == "rejected"
