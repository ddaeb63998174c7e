"""Team mail says only what it has to say (issue 28, items 1-2): a slot with nothing in it is left out with its
label, and the manager is told the decision words of their own language — words the inbox then accepts."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from email.message import EmailMessage

import pytest

from deadlinewatch.adapters.templates import letters
from deadlinewatch.core.alert import Pace
from deadlinewatch.core.intake import APPROVE, REJECT, Context, Rules, classify, manager_decision, read_message
from deadlinewatch.core.letters import AlertLetter, BlockSummary
from deadlinewatch.core.notes import ParsedNote

AT = dt.datetime(2026, 12, 3, 9, tzinfo=dt.UTC)
LANGUAGES = ("en", "tr", "bn")


def empty_slots(text: str) -> list[str]:
    """Lines that end in a label with nothing after it ("Why:", "Forecast: ", "…less certain:") or hold an
    empty one mid-line ("…delivered: ."). A colon that opens a list, an indented block or the lines of a note
    to fill in ("Done: ...%") is no slot."""
    lines = [line.rstrip() for line in text.splitlines()]
    found = [line for line in lines if re.search(r":\s*[.।]$", line)]
    for i, line in enumerate(lines):
        if line.endswith(":"):
            below = next((x for x in lines[i + 1:] if x.strip()), "")
            if not below.startswith(("-", " ")) and ": " not in below:
                found.append(line)
    return found


def body(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def manager(language: str, what: str, reason: str = "", detail: str = "") -> EmailMessage:
    return letters().manager(
        language=language, sender="dw@studio.example", to="pm@studio.example", composed_at=AT,
        message_id="<m1@studio.example>", what=what, notice_id=7, token="abc123", project_name="ACME",
        milestone="Design mockups", client="client@acme.example", reason=reason, detail=detail)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("what", ["draft", "explained", "released", "decided", "follow-up", "failed"])
def test_a_manager_message_without_a_reason_leaves_out_the_label(language: str, what: str) -> None:
    msg = manager(language, what)
    assert not empty_slots(body(msg)), body(msg)
    assert not str(msg["Subject"]).rstrip().endswith(("—", ":")), msg["Subject"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_reply_without_a_forecast_leaves_out_the_forecast_line(language: str) -> None:
    msg = letters().reply(
        language=language, sender="dw@studio.example", to="alice@studio.example", original_subject="[acme] progress",
        original_message_id="", references="", composed_at=AT, message_id="<r1@studio.example>", accepted=True,
        project_name="ACME", blocks=[BlockSummary("Design mockups", "", "70%", "", False)])
    text = body(msg)
    assert not empty_slots(text), text
    assert "Design mockups" in text


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("days", [1, 4])
def test_a_nudge_without_a_forecast_ends_its_sentence(language: str, days: int) -> None:
    msg = letters().nudge(
        language=language, sender="dw@studio.example", to="alice@studio.example", reply_to="in@studio.example",
        composed_at=AT, message_id="<n1@studio.example>", project_id="acme", project_name="ACME",
        milestone="Content migration", since=dt.date(2026, 11, 27), days=days, forecast="")
    text = body(msg)
    assert not empty_slots(text), text


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_risk_alert_without_a_reason_or_dates_leaves_them_out(language: str) -> None:
    letter = AlertLetter("raise", "ACME", "Design mockups", dt.date(2026, 12, 10), 0.9, None, None, None, "",
                         Pace(None, None, None, 5), "later", False, 0.98)
    msg = letters().alert(letter, language=language, sender="dw@studio.example", to="pm@studio.example",
                          composed_at=AT, message_id="<a1@studio.example>")
    text = body(msg)
    assert not empty_slots(text), text


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_draft_names_the_decision_words_of_the_managers_language_and_the_inbox_takes_them(
        language: str) -> None:
    text = body(manager(language, "draft", reason="the team said it will be late"))
    quoted = re.findall(r'"([^" ]+)"', text)  # the two words alone; the date's example is the next test's
    assert len(quoted) == 2, text
    approve, reject = quoted
    if language != "en":
        assert approve not in ("approve", "send") and reject not in ("reject", "drop"), text
    today = AT.date()
    # the manager's reply: the word alone, or with thanks, above the quoted draft
    for answer, decided in ((approve, "approve"), (reject, "reject")):
        for reply in (f"{answer}\n\n> {text}", f"{answer.capitalize()}, thanks!\n\nOn Thu, pm wrote:\n> draft"):
            assert manager_decision(reply, today)[0] == decided, (language, reply)


RULES = Rules(frozenset({"alice@studio.example"}), frozenset({"pm@studio.example"}), frozenset(),
              require_authentication=True, authserv_id="mx.studio.example")


def as_typed(word: str) -> list[str]:
    """A word as managers' keyboards and phones type it: as is, capitalised, in capitals (Turkish capitals: HAYIR),
    with a Bengali vowel sign in its two parts (ে + া for ো) and a joiner after the virama (ZWNJ), without the
    Turkish letters (gonder, hayir)."""
    forms = {word, word.capitalize(), word.upper(), word.replace("ı", "I").replace("i", "İ").upper(),
             unicodedata.normalize("NFD", word), word.replace("্", "্\u200c"),
             word.translate(str.maketrans("ıöüçşğ", "iouesg"))}
    return sorted(forms)


def reply_to_draft(draft: str, answer: str, html: bool = False) -> bytes:
    """The manager's reply as their mail program sends it: the answer above the quoted draft, plain or HTML-only."""
    quoted = "\n".join("> " + line for line in draft.splitlines())
    if html:
        content = ("Content-Type: text/html; charset=utf-8\n\n"
                   f"<div dir=\"auto\">{answer}</div><br><div class=\"gmail_quote\">On Thu, deadlinewatch wrote:"
                   f"<blockquote>{draft}</blockquote></div>")
    else:
        content = f"Content-Type: text/plain; charset=utf-8\n\n{answer}\n\nOn Thu, deadlinewatch wrote:\n{quoted}\n"
    headers = ("From: pm@studio.example\nTo: dw@studio.example\nSubject: Re: Approve? ACME: Design mockups "
               "[dw:abc123]\nIn-Reply-To: <m1@studio.example>\nMIME-Version: 1.0\n"
               "Authentication-Results: mx.studio.example; dkim=pass header.d=studio.example\n")
    return (headers + content).replace("\n", "\r\n").encode()


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_accepted_decision_word_decides_a_real_reply_to_the_draft(language: str) -> None:
    """Every word the inbox accepts, typed as people type it, in a reply to the draft of each language (plain and
    HTML-only, the draft quoted below it), read and classified as the inbox reads it: the decision is the word's."""
    draft = body(manager(language, "draft", reason="the team said it will be late"))
    context = Context(decides="abc123")
    for words, decided in ((APPROVE, "approve"), (REJECT, "reject")):
        for word in words:
            for typed in as_typed(word):
                for html in (False, True):
                    incoming = read_message(reply_to_draft(draft, f"{typed}, thanks", html), AT)
                    verdict = classify(incoming, RULES, context, lambda _: ParsedNote("p", (), ()))
                    assert (verdict.outcome, verdict.decision) == ("decision", decided), (language, typed, html)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_draft_shows_how_to_approve_with_a_date_and_that_reply_carries_it(language: str) -> None:
    draft = body(manager(language, "draft"))
    [example] = re.findall(r'"([^" ]+ [^" ]+)"', draft)  # the word and the form of a date: no date it could refuse
    word, form = example.split(" ")
    assert f"--date {form}" in draft and not re.search(r"\d", form), draft
    verdict = classify(read_message(reply_to_draft(draft, f"{word} 2026-12-11"), AT), RULES,
                       Context(decides="abc123"), lambda _: ParsedNote("p", (), ()))
    assert (verdict.decision, verdict.date) == ("approve", dt.date(2026, 12, 11))
