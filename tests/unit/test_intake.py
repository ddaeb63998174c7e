"""What a message in the inbox is, and who is ever answered."""

from __future__ import annotations

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
    our_ids_in,
    read_message,
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


@pytest.mark.parametrize(("text", "word"), [("approve", "approve"), ("OK, send it", "approve"), ("Onayla", "approve"),
                                            ("reject — not now", "reject"), ("Hayır", "reject"), ("maybe", ""),
                                            ("\n\nyes\n", "approve")])
def test_decision_words(text: str, word: str) -> None:
    assert decision_word(text) == word


def test_a_bounce_of_a_client_message_is_recognised_by_our_message_id() -> None:
    raw = mail("From: MAILER-DAEMON@mx.acme.example\nContent-Type: multipart/report; report-type=delivery-status;"
               " boundary=b", "--b\n\nno such user\n--b\nContent-Type: text/rfc822-headers\n\n"
               "Message-ID: <dw.notice.0123abcd@studio.example>\n--b--\n")
    assert our_ids_in(raw) == ("<dw.notice.0123abcd@studio.example>",)
    m = read_message(raw, ARRIVED)
    verdict = classify(m, RULES, Context(bounced=our_ids_in(raw)), never)
    assert verdict.outcome == "bounce" and not verdict.reply
