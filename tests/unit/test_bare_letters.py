"""Every kind of letter with every optional value missing (issue 28, item 1): a slot with nothing to say is left out
with its label and its sentence, in every language — no "Why:" over nothing, no "()" or empty quotes, no gap
where a value was, no sentence that ends on a colon."""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import TypedDict

import pytest

from deadlinewatch.adapters.templates import letters
from deadlinewatch.core.alert import Pace
from deadlinewatch.core.letters import AlertLetter, BlockSummary, ClientEnvelope, NoticeLetter, Progress, Recipient
from deadlinewatch.core.model import TimelineRow
from tests.mailtext import body
from tests.unit.test_team_mail_slots import empty_slots

AT = dt.datetime(2026, 11, 30, 10, tzinfo=dt.UTC)
LANGUAGES = ("en", "tr", "bn")
ROW = TimelineRow("design-1", "Design mockups", dt.date(2026, 12, 4), dt.date(2026, 12, 4), "on track", 0, "dw-d")
MOVED = TimelineRow("design-1", "Design mockups", dt.date(2026, 12, 4), dt.date(2026, 12, 10), "moved", 1, "dw-d")
EMPTY = message_from_bytes(b"\n\n", _class=EmailMessage, policy=default)  # no sender, no subject, no text


class Team(TypedDict):
    sender: str
    to: str
    composed_at: dt.datetime
    message_id: str


TEAM = Team(sender="dw@studio.example", to="pm@studio.example", composed_at=AT, message_id="<t1@studio.example>")


def hollow(text: str) -> list[str]:
    """What a missing value leaves behind: a label over nothing (`empty_slots`), a value printed as None, empty
    brackets or quotes, a space before punctuation or two in a row, a sentence that starts with its punctuation."""
    found = empty_slots(text)
    for line in text.splitlines():
        if re.search(r"\bNone\b|\(\s*\)|“\s*”|‘\s*’|\"\s*\"|«\s*»| [,;:!?।)]| \.(?!\.\.)|\S {2,}\S"
                     r"|^\s*[,;:।]|^\s*\.(?!\.\.)", line):
            found.append(line)
    return found


def client(language: str, kind: str) -> ClientEnvelope:
    # no cc, no signature (the From's name signs), no weekly day, no feed, no page
    return ClientEnvelope(project_name="ACME web", client=Recipient("Jane", "jane@acme.example", language,
                                                                    "Europe/London"),
                          sender="Studio PM <pm@studio.example>", manager="pm@studio.example", cc=(),
                          composed_at=AT, message_id="<c1@studio.example>", token="tok1", kind=kind)


def bare_notice(language: str, kind: str = "notice", **kw: object) -> NoticeLetter:
    values: dict[str, object] = dict(
        envelope=client(language, kind), milestone=MOVED, deadline=dt.date(2026, 12, 4),
        promised=dt.date(2026, 12, 10), slip_days=4, context="", cause="", plan="", offer=None, rows=(MOVED,))
    values.update(kw)
    return NoticeLetter(**values)  # type: ignore[arg-type]  # the fields by name, each of its own type


def manager(lang: str, what: str) -> EmailMessage:
    return letters().manager(language=lang, **TEAM, what=what, notice_id=7, token="abc123", project_name="ACME",
                             milestone="Design mockups", client="jane@acme.example")


def alert(lang: str, what: str) -> EmailMessage:
    letter = AlertLetter(what, "ACME", "Design mockups", dt.date(2026, 12, 10), 0.9, None, None, None, "",
                         Pace(None, None, None, 0), "later", False, 0.97)
    return letters().alert(letter, language=lang, **TEAM)


KINDS: dict[str, Callable[[str], EmailMessage]] = {
    "notice": lambda lang: letters().notice(bare_notice(lang)),
    "notice, again": lambda lang: letters().notice(bare_notice(lang, again=True, broken=dt.date(2026, 12, 8))),
    "delivered": lambda lang: letters().notice(bare_notice(lang, "delivered", promised=None,
                                                           milestone=ROW, rows=(ROW,))),
    "intro": lambda lang: letters().intro(client(lang, "intro"), (ROW,), ROW, ""),
    "calendar": lambda lang: letters().calendar(client(lang, "update"), MOVED),
    "cancel": lambda lang: letters().cancel(client(lang, "cancel"), ROW, sent=0, invited=False),
    "weekly": lambda lang: letters().weekly(client(lang, "weekly"), (ROW,), [Progress(ROW, None, None, 0)], (),
                                            dt.date(2026, 11, 30)),
    "reply": lambda lang: letters().reply(
        language=lang, **TEAM, original_subject="", original_message_id="", references="", accepted=True,
        project_name="ACME", blocks=[BlockSummary("Design mockups", "", "", "", False)]),
    "reply, not understood": lambda lang: letters().reply(
        language=lang, **TEAM, original_subject="", original_message_id="", references="", accepted=False,
        project_name="ACME", problems=["no Milestone: line"]),
    "nudge": lambda lang: letters().nudge(
        language=lang, **TEAM, reply_to="in@studio.example", project_id="acme", project_name="ACME",
        milestone="Design mockups", since=dt.date(2026, 11, 26), days=2, forecast=""),
    "ask": lambda lang: letters().ask(
        language=lang, **TEAM, reply_to="in@studio.example", project_id="acme", project_name="ACME",
        milestone="Design mockups", broken=dt.date(2026, 12, 10), promised=dt.date(2026, 12, 14)),
    "signin": lambda lang: letters().signin(language=lang, **TEAM, server="imap", account="progress@studio.example",
                                            error="", command="deadlinewatch login imap"),
    **{f"manager, {what}": functools.partial(manager, what=what)
       for what in ("draft", "explained", "released", "decided", "follow-up", "failed")},
    **{f"alert, {what}": functools.partial(alert, what=what) for what in ("raise", "worse", "clear")},
    "forward": lambda lang: letters().forward(language=lang, **TEAM, original=EMPTY),
}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_with_every_optional_value_missing_leaves_no_empty_slot(kind: str, language: str) -> None:
    msg = KINDS[kind](language)
    subject = str(msg["Subject"])
    assert subject.strip() and not re.search(r"[:—·,]\s*$|\(\s*\)|\bNone\b|  ", subject), subject
    text = body(msg)
    assert not hollow(text), (kind, language, hollow(text), text)
    if msg.get_body(("html",)) is not None:
        html = body(msg, "html")
        assert not re.search(r"<(p|li|strong|em|h\d)>\s*</\1>|\bNone\b|\(\s*\)", html), (kind, language, html)
