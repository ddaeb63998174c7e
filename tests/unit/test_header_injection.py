"""Outside text never writes a header of ours: a calendar SUMMARY, a note's Subject, a client's reply, a name in
the config — decoded, stripped of line breaks, and encoded by us, in every letter kind (read back from the bytes)."""

from __future__ import annotations

import datetime as dt
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy

import pytest

from deadlinewatch.adapters.templates import letters
from deadlinewatch.core.letters import BlockSummary, ClientEnvelope, Progress, Recipient
from deadlinewatch.core.model import TimelineRow
from tests.mailtext import body
from tests.unit.test_letters import letter

# each decodes to a line break followed by a header of the attacker's; the last ends the header block early
ATTACKS = [
    "Launch =?utf-8?q?=0D=0AReply-To:_attacker@evil.example?=",
    "Launch =?utf-8?q?=3D=3Futf-8=3Fq=3F=3D0D=3D0ABcc=3A_attacker=40evil.example=3F=3D?=",  # encoded twice
    "Launch \r\nBcc: attacker@evil.example",
    "Launch \u2028Bcc: attacker@evil.example\x85Reply-To: attacker@evil.example",
    "Launch =?utf-8?b?DQpCY2M6IGF0dGFja2VyQGV2aWwuZXhhbXBsZQ0KDQo=?= body starts here",
]
OURS = {"pm@studio.example", "jane@acme.example", "alice@studio.example", "progress@studio.example"}
AT = dt.datetime(2026, 11, 30, 10, tzinfo=dt.UTC)


def _env(kind: str, name: str) -> ClientEnvelope:
    return ClientEnvelope(project_name=name, client=Recipient(name, "jane@acme.example", "en", "Europe/London"),
                          sender="Studio PM <pm@studio.example>", manager="pm@studio.example", cc=(),
                          composed_at=AT, message_id="<n1@studio.example>", token="tok1", kind=kind)


def _letters(name: str) -> dict[str, EmailMessage]:
    composer = letters()
    row = TimelineRow("u1", name, dt.date(2026, 12, 4), dt.date(2026, 12, 10), "moved", 2, "dw-u1")
    notice = letter(env=_env("notice", name), milestone=row, rows=(row,), cause=name, plan=name)
    client_reply = message_from_bytes(
        (f"From: Jane <jane@acme.example>\r\nSubject: {name}\r\nMessage-ID: <c1@acme.example>\r\n\r\nFine.\r\n"
         ).encode("utf-8", "surrogateescape"), policy=default_policy)
    assert isinstance(client_reply, EmailMessage)
    return {
        "notice": composer.notice(notice),
        "delivered": composer.notice(letter(env=_env("delivered", name), milestone=row, rows=(row,))),
        "intro": composer.intro(_env("intro", name), (row,), row, name),
        "update": composer.calendar(_env("update", name), row),
        "cancel": composer.cancel(_env("cancel", name), row, sent=1, invited=True),
        "weekly": composer.weekly(_env("weekly", name), (row,), [Progress(row, 10, 20, 1)], (row,),
                                 dt.date(2026, 11, 30)),
        "reply": composer.reply(language="en", sender="PM <pm@studio.example>", to="alice@studio.example",
                               original_subject=name, original_message_id="<m1@studio.example>", references="",
                               composed_at=AT, message_id="<r1@studio.example>", accepted=True, project_name=name,
                               blocks=[BlockSummary(name, "name", name, name, True)]),
        "nudge": composer.nudge(language="en", sender="PM <pm@studio.example>", to="alice@studio.example",
                               reply_to="progress@studio.example", composed_at=AT, message_id="<u1@studio.example>",
                               project_id="acme", project_name=name, milestone=name, since=dt.date(2026, 11, 20),
                               days=5, forecast=name),
        "manager": composer.manager(language="en", sender="PM <pm@studio.example>", to="pm@studio.example",
                                   composed_at=AT, message_id="<g1@studio.example>", what="draft", notice_id=1,
                                   token="tok1", project_name=name, milestone=name, client="jane@acme.example",
                                   reason=name, detail=name, draft=composer.notice(notice)),
        "signin": composer.signin(language="en", sender="PM <pm@studio.example>", to="pm@studio.example",
                                 composed_at=AT, message_id="<s1@studio.example>", server="imap", account=name,
                                 error=name, command="deadlinewatch login imap"),
        "forward": composer.forward(language="en", sender="PM <pm@studio.example>", to="pm@studio.example",
                                    original=client_reply, composed_at=AT, message_id="<f1@studio.example>"),
    }


@pytest.mark.parametrize("attack", ATTACKS)
def test_no_outside_text_writes_a_header_in_any_letter(attack: str) -> None:
    for kind, msg in _letters(attack).items():
        raw = msg.as_bytes()
        head = raw.split(b"\r\n\r\n", 1)[0]
        names = [line.split(b":", 1)[0].lower() for line in head.split(b"\r\n") if line and line[:1] not in b" \t"]
        assert b"bcc" not in names, kind
        assert names.count(b"reply-to") == (1 if kind == "nudge" else 0), kind
        parsed = message_from_bytes(raw, policy=default_policy)
        for name, value in parsed.items():
            assert "\n" not in str(value) and "\r" not in str(value), (kind, name)
            if name.lower() in ("from", "to", "cc", "reply-to"):  # the text may be a display name, never an address
                assert {a.addr_spec for a in value.addresses} <= OURS, (kind, name)
        if kind == "nudge":
            assert parsed["Reply-To"] == "progress@studio.example"
        # the body is where it belongs: the first part still parses as our text
        assert parsed.get_body(("plain",)) is not None, kind
        for part in parsed.walk():  # attached messages (the draft, the forwarded reply) hold too
            if part.get_content_type() == "message/rfc822":
                inner = part.get_payload(0)
                assert isinstance(inner, EmailMessage), kind  # a message/rfc822 part holds one message
                assert "bcc" not in [k.lower() for k in inner], kind
                assert all("\n" not in str(v) for v in inner.values()), kind


def test_the_forward_carries_the_clients_text_not_their_bytes() -> None:
    msg = _letters("=?utf-8?q?Hi=0D=0A=0D=0A--=_dw_boundary--?=")["forward"]
    inner = next(p for p in msg.walk() if p.get_content_type() == "message/rfc822").get_payload(0)
    assert isinstance(inner, EmailMessage)  # a message/rfc822 part holds one message
    assert inner["X-Original-From"] == "Jane <jane@acme.example>" and "From" not in inner
    assert inner.get_content().strip() == "Fine."


def test_long_and_eight_bit_message_ids_are_dropped_not_encoded() -> None:
    long = "<" + "a" * 3000 + "@x>"
    for original in (long, "<é@evil.example>"):
        msg = letters().reply(language="en", sender="PM <pm@studio.example>", to="alice@studio.example",
                              original_subject="s", original_message_id=original, references=f"<ok@x> {original}",
                              composed_at=AT, message_id="<r1@studio.example>", accepted=False, project_name="",
                              problems=["x"])
        assert msg["In-Reply-To"] is None and msg["References"] is None
    msg = letters().reply(language="en", sender="PM <pm@studio.example>", to="alice@studio.example",
                          original_subject="s", original_message_id="<m1@x>", references=f"<ok@x> {long}",
                          composed_at=AT, message_id="<r1@studio.example>", accepted=False, project_name="",
                          problems=["x"])
    assert (msg["In-Reply-To"], msg["References"]) == ("<m1@x>", "<ok@x> <m1@x>")


def test_what_held_free_text_is_escaped_in_html_literal_in_text_and_never_a_template() -> None:
    cause = "<script>alert(1)</script> {{ config }} {% raw %} \x00\x1b[31m " + "y" * 20_000
    msg = letters().notice(letter(cause=cause, plan="{{ 7 * 7 }}"))
    raw = msg.as_bytes()
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))  # RFC 5322 2.1.1: lines are folded
    html = body(msg, "html")
    assert "<script>" not in html and "&lt;script&gt;" in html
    text = body(msg)
    assert "{{ config }}" in text and "{{ 7 * 7 }}" in text and "49" not in text
