"""The intake against signed mail replayed or stretched (#26, items 6-8): DKIM aligns by organisational domain, a
note or decision with a second Subject, Message-ID, In-Reply-To or References is refused, and Authentication-Results
and delivery reports are read in the parsing thread, capped, never on the daemon's event loop."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from typing import Any

import authres
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from deadlinewatch.adapters.mailbox import Fetched
from deadlinewatch.core import intake, message_text
from deadlinewatch.core.intake import Context, Rules, authenticated, classify, read_message, returned_ids
from deadlinewatch.core.notes import NoteBlock, ParsedNote
from deadlinewatch.stages import inbox

ARRIVED = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.UTC)
MEMBERS = frozenset({"alice@studio.example", "alice@studio.co.uk", "alice@mail.studio.example",
                     "alice@team.studio.co.uk", "alice@alice.github.io"})
RULES = Rules(MEMBERS, frozenset({"pm@studio.example"}), frozenset({"jane@acme.example"}),
              require_authentication=True, authserv_id="mx.studio.example")
PASS = "Authentication-Results: mx.studio.example; dkim=pass header.d=studio.example"


def mail(headers: str, body: str = "Milestone: x\nDone: 1%\n") -> bytes:
    return (headers.strip() + "\n\n" + body).replace("\n", "\r\n").encode()


def ok_note(_: object) -> ParsedNote:
    return ParsedNote("acme-web", (NoteBlock(project="acme-web", uid="design-1", name="Design mockups", done=1),), ())


def signed(sender: str, results: str) -> intake.Incoming:
    return read_message(mail(f"From: {sender}\nAuthentication-Results: mx.studio.example; {results}"), ARRIVED)


# --- 6: DKIM alignment by organisational domain (RFC 7489 3.1.1, relaxed) ---------------------------------------


@pytest.mark.parametrize(("sender", "results"), [
    ("alice@studio.example", "dkim=pass header.d=example"),  # a top-level domain signs for nobody
    ("alice@studio.co.uk", "dkim=pass header.d=co.uk"),  # nor does a public suffix of two labels
    ("alice@alice.github.io", "dkim=pass header.d=github.io"),  # nor a private one: each github.io name is its own
    ("alice@studio.example", "dkim=pass header.i=@example"),  # the AUID's domain, when header.d is missing
    ("alice@studio.example", 'dkim=pass header.d=""'),  # empty
    ("alice@studio.example", "dkim=pass header.d=."),  # the root
    ("alice@studio.co.uk", "dkim=pass header.d=evil.co.uk"),  # a neighbour under the same suffix
    ("alice@studio.example", "dkim=pass header.d=studio.example.evil.example"),
])
def test_a_signature_by_a_public_suffix_or_another_organisation_is_not_aligned(sender: str, results: str) -> None:
    m = signed(sender, results)
    assert m.sender == sender
    assert "reports no DKIM or DMARC pass" in authenticated(m.msg, m.sender, "mx.studio.example")
    verdict = classify(m, RULES, Context(), ok_note)
    assert (verdict.outcome, verdict.folder, verdict.reply) == ("rejected", "rejected", False)


@pytest.mark.parametrize(("sender", "results"), [
    ("alice@mail.studio.example", "dkim=pass header.d=studio.example"),  # the organisation signs for a subdomain
    ("alice@studio.example", "dkim=pass header.d=mail.studio.example"),  # a subdomain signs for the organisation
    ("alice@studio.co.uk", "dkim=pass header.d=studio.co.uk"),
    ("alice@team.studio.co.uk", "dkim=pass header.d=studio.co.uk"),
    ("alice@studio.example", "dkim=pass header.d=STUDIO.Example."),  # case and the root's dot do not matter
    ("alice@studio.example", "dkim=pass header.i=alice@mail.studio.example"),
])
def test_a_signature_of_the_same_organisation_is_aligned(sender: str, results: str) -> None:
    m = signed(sender, results)
    assert authenticated(m.msg, m.sender, "mx.studio.example") == ""
    assert classify(m, RULES, Context(), ok_note).outcome == "accepted"


@pytest.mark.parametrize(("domain", "organisation"), [
    ("studio.example", "studio.example"), ("mail.studio.example", "studio.example"), ("example", ""),
    ("co.uk", ""), ("a.b.studio.co.uk", "studio.co.uk"), ("", ""), (".", ""), ("a..example", ""),
])
def test_the_organisational_domain_comes_from_the_public_suffix_list(domain: str, organisation: str) -> None:
    assert intake.organisational_domain(domain) == organisation


# --- 7: one Subject, Message-ID, In-Reply-To and References -----------------------------------------------------

NOTE_HEADERS = ("From: alice@studio.example\nSubject: [acme-web] progress\nMessage-ID: <note-1@studio.example>\n"
                "In-Reply-To: <nudge-1@studio.example>\nReferences: <nudge-1@studio.example>\n" + PASS)
# what a replay puts on top: DKIM signs (and verifiers check) the bottom-most copy of a header, we read the first
REPLAYED = {
    "Subject": "Subject: [beta-app] progress",
    "Message-ID": "Message-ID: <replay-1@evil.example>",
    "In-Reply-To": "In-Reply-To: <dw.draft.abcdef@studio.example>",
    "References": "References: <dw.draft.abcdef@studio.example>",
}


def test_a_note_with_one_copy_of_each_header_is_accepted() -> None:
    m = read_message(mail(NOTE_HEADERS), ARRIVED)
    assert classify(m, RULES, Context(), ok_note).outcome == "accepted"


@pytest.mark.parametrize("name", list(REPLAYED))
def test_a_note_with_a_header_twice_is_refused_unanswered(name: str) -> None:
    m = read_message(mail(f"{REPLAYED[name]}\n{NOTE_HEADERS}"), ARRIVED)
    verdict = classify(m, RULES, Context(), ok_note)
    assert (verdict.outcome, verdict.folder, verdict.reply, verdict.note) == ("rejected", "rejected", False, None)
    assert f"more than one {name} header" in verdict.reason and "not answered" in verdict.reason


@pytest.mark.parametrize("name", list(REPLAYED))
def test_a_managers_decision_with_a_header_twice_decides_nothing(name: str) -> None:
    headers = (f"{REPLAYED[name]}\nFrom: pm@studio.example\nSubject: Re: Approve? x [dw:abc123]\n"
               "Message-ID: <d-1@studio.example>\nIn-Reply-To: <dw.draft.abc123@studio.example>\n"
               f"References: <dw.draft.abc123@studio.example>\n{PASS}")
    m = read_message(mail(headers, "approve\n"), ARRIVED)
    verdict = classify(m, RULES, Context(decides="abc123"), ok_note)
    assert (verdict.outcome, verdict.folder, verdict.reply, verdict.decision) == ("rejected", "rejected", False, "")
    assert f"more than one {name} header" in verdict.reason
    single = read_message(mail(headers.split("\n", 1)[1], "approve\n"), ARRIVED)
    assert classify(single, RULES, Context(decides="abc123"), ok_note).decision == "approve"


# --- 8: Authentication-Results and delivery reports: capped, and read in the parsing thread ---------------------

# 1.2 MB of results claiming our authserv-id: the authres parser took 47 s over it, on the event loop
HUGE = "Authentication-Results: mx.studio.example; " + "; ".join(["dkim=pass header.d=studio.example"] * 36_000)


@pytest.fixture
def parsed_values(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, bool]]:
    """Every value an Authentication-Results header is read from (by authres, or by the plain shape's reader): its
    length, and whether it was read on the main (the loop's) thread."""
    seen: list[tuple[int, bool]] = []
    real = intake._results

    def spy(value: str) -> Any:
        seen.append((len(value), threading.current_thread() is threading.main_thread()))
        if len(value) > intake.MAX_AUTH_RESULTS_CHARS:  # fail at once: uncapped, this one would take most a minute
            raise AssertionError(f"authres was given {len(value)} characters")
        return real(value)

    monkeypatch.setattr(intake, "_results", spy)
    return seen


def test_an_over_long_authentication_results_header_is_no_pass_and_never_parsed(
    parsed_values: list[tuple[int, bool]],
) -> None:
    m = read_message(mail(f"From: alice@studio.example\n{HUGE}"), ARRIVED)
    why = authenticated(m.msg, m.sender, "mx.studio.example")
    assert "longer than" in why and "not read" in why
    assert parsed_values == []
    assert classify(m, RULES, Context(), ok_note).outcome == "rejected"
    # one of ordinary length still passes: the cap is far above real headers (a few hundred characters)
    real = "; ".join(["dkim=pass header.d=studio.example header.s=s1 header.b=AbCdEf12"] * 20)
    assert len(real) < intake.MAX_AUTH_RESULTS_CHARS
    ordinary = signed("alice@studio.example", real)
    assert authenticated(ordinary.msg, ordinary.sender, "mx.studio.example") == ""


def test_only_a_few_headers_claiming_our_server_are_read(parsed_values: list[tuple[int, bool]]) -> None:
    many = "\n".join([PASS] * (intake.MAX_AUTH_RESULTS + 1))
    m = read_message(mail(f"From: alice@studio.example\n{many}"), ARRIVED)
    assert "Authentication-Results headers claim to be from mx.studio.example" in authenticated(
        m.msg, m.sender, "mx.studio.example")
    assert parsed_values == []
    few = read_message(mail(f"From: alice@studio.example\n{PASS}\n{PASS}"), ARRIVED)
    assert authenticated(few.msg, few.sender, "mx.studio.example") == ""  # our server's twice (a forward): each passes


DSN = ("From: MAILER-DAEMON@mx.studio.example\nReturn-Path: <>\nAuto-Submitted: auto-replied\n"
       "Message-ID: <dsn-1@mx.studio.example>\n"
       "Content-Type: multipart/report; report-type=delivery-status; boundary=b",
       "--b\n\nno such user\n--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.studio.example\n\n"
       "Final-Recipient: rfc822; jane@acme.example\nAction: failed\nStatus: 5.1.1\n--b\n"
       "Content-Type: text/rfc822-headers\n\nMessage-ID: <dw.notice.0123abcd@studio.example>\n--b--\n")


async def test_authentication_and_bounces_are_read_in_the_parsing_thread_while_the_loop_keeps_ticking(
    parsed_values: list[tuple[int, bool]], monkeypatch: pytest.MonkeyPatch,
) -> None:
    returned_on_loop: list[bool] = []
    real_ids = intake.passable_ids

    def ids_spy(values: list[str]) -> tuple[str, ...]:
        returned_on_loop.append(threading.current_thread() is threading.main_thread())
        return real_ids(values)

    monkeypatch.setattr(intake, "passable_ids", ids_spy)
    read_on_loop: list[bool] = []
    real_text = message_text.body_text  # what intake calls by that name

    def text_spy(msg: Any) -> tuple[str, bool]:
        read_on_loop.append(threading.current_thread() is threading.main_thread())
        return real_text(msg)

    monkeypatch.setattr(intake, "body_text", text_spy)
    fetched = [
        Fetched(1, mail(f"From: alice@studio.example\nMessage-ID: <big@x>\n{HUGE}"), ARRIVED),
        Fetched(2, mail(f"From: alice@studio.example\nMessage-ID: <ok@x>\n{PASS}"), ARRIVED),
        Fetched(3, mail(f"From: pm@studio.example\nSubject: Re: x [dw:abc123]\n{PASS}", "approve\n"), ARRIVED),
        Fetched(4, mail(*DSN), ARRIVED),
    ]
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    prepared = await asyncio.to_thread(inbox._prepare, fetched, ok_note, RULES, 10_000_000)
    stop.set()
    await task
    assert ticks > 1  # the loop ran other work while the messages were parsed
    assert parsed_values and not any(on_loop for _, on_loop in parsed_values)
    returned_on_loop.clear()
    parsed_values.clear()
    read_on_loop.clear()
    # deciding on the loop, as stages/inbox.py does: nothing is parsed here any more
    (_, big, _), (_, ok, note), (_, decision, _), (_, dsn, _) = prepared
    assert "longer than" in classify(big, RULES, Context(), ok_note).reason
    assert note is not None and classify(ok, RULES, Context(), lambda _: note).outcome == "accepted"
    assert classify(decision, RULES, Context(decides="abc123"), ok_note).decision == "approve"
    assert returned_ids(dsn.msg) == ("<dw.notice.0123abcd@studio.example>",)
    assert classify(dsn, RULES, Context(bounced=returned_ids(dsn.msg)), ok_note).outcome == "bounce"
    assert "no such user" in dsn.text  # what the manager is told of a bounce: read in the thread too
    assert parsed_values == [] and returned_on_loop == [] and read_on_loop == []


def _as_authres_reads(parse: Any, value: str) -> object:
    """What a parse gives: the header written back and each result with its properties, or the error."""
    try:
        header = parse(value)
        return header.authserv_id, [(r.method, r.result, r.reason, r.result_comment,
                                     [(p.type, p.name, p.value, p.comment) for p in r.properties])
                                    for r in header.results]
    except Exception as e:  # the error is the outcome compared
        return type(e).__name__, str(e)


RESULTS_TEXT = st.text(alphabet='ab1-.@=;()"\\/ \t\r\n', max_size=40)


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(["", "x; ", "mx.e; dkim=", "mx.e; dkim=pass header.d=", "a; spf=fail (x) smtp.mailfrom="]),
       RESULTS_TEXT)
@example("", f"{PASS.partition(': ')[2]}")
@example("", "mx.studio.example; dkim=pass (2048-bit key) header.d=studio.example header.s=mail header.b=AbCd1234; "
             "spf=pass smtp.mailfrom=studio.example; dmarc=pass header.from=studio.example")
@example("", "mx (c (nested)) ; none")
@example("", 'x;\r\n dkim=pass reason="a \\" b"\n header.d=x')
def test_authentication_results_are_read_exactly_as_authres_reads_them(head: str, tail: str) -> None:
    value = head + tail
    assert _as_authres_reads(intake.parse_results, value) == \
        _as_authres_reads(authres.AuthenticationResultsHeader.parse_value, value)


def _as_read(value: str) -> object:
    """What deciding reads of a header, through authres alone: (method, result, properties) or None."""
    try:  # any refusal is "cannot be read", a result it cannot name the method of too
        parsed = authres.AuthenticationResultsHeader.parse_value(value)
        return [(str(r.method).lower(), str(r.result).lower(),
                 {f"{p.type}.{p.name}".lower(): str(p.value).lower() for p in r.properties}) for r in parsed.results]
    except Exception:
        return None


PLAIN_WORDS = st.sampled_from(["mx.studio.example", "dkim", "spf", "dmarc", "pass", "fail", "none", "None1", "header",
                               "HEADER", "smtp", "body", "policy", "d", "s", "b", "i", "from", "mailfrom", "x.y",
                               "@studio.example", "@", "reason", "studio.example", "AbCd+/==", "1", "a'b", "2048-bit"])
PLAIN_GLUE = st.sampled_from([" ", "", ";", "; ", "=", " = ", ".", " . ", "/", " (c) ", "(c)", " (a (b)) ", "  ",
                              '"', "\\", "\t", "?"])


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.tuples(PLAIN_WORDS, PLAIN_GLUE), max_size=16))
@example([("mx.studio.example", "; "), ("dkim", "="), ("pass", " (2048-bit key) "), ("header", "."), ("d", "="),
          ("studio.example", " "), ("header", "."), ("i", "="), ("@studio.example", "; "), ("spf", "="),
          ("pass", " "), ("smtp", "."), ("mailfrom", "="), ("studio.example", "")])
@example([("mx.studio.example", ";"), ("mx.studio.example", "="), ("mx.studio.example", ";"), ("none", " ")])
def test_a_plain_authentication_results_header_is_read_as_authres_reads_it(parts: list[tuple[str, str]]) -> None:
    """The plain shape's reader (#31: authres was a tenth of taking a note in) gives what authres gives, for
    every header it reads at all; any other is left to authres."""
    value = "".join(word + glue for word, glue in parts)
    plain = intake._plain_results(value)
    if plain is not None:
        assert plain == _as_read(value)
    assert intake._results(value) == _as_read(value)
