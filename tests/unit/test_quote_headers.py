"""Quoted text ends the note whatever language the mail program wrote its quote header in (issue 28, item 10):
the header is told by its shape (a colon-ended line naming a date and an address above a quote, an original-
message header block, a separator), so the quoted sender's line never reaches a Plan, nor a client's letter."""

from __future__ import annotations

import datetime as dt

import pytest

from deadlinewatch.core.message_text import strip_reply
from deadlinewatch.core.notes import MilestoneRef, parse_note

NOTE = "Milestone: Design mockups\nDone: 60%\nPlan: a second designer joins on Monday\n"
QUOTED = "> Milestone: Design mockups\n> Done: 40%\n> Plan: the old plan\n"
OLD_BODY = "Milestone: Design mockups\nDone: 40%\nPlan: the old plan\n"

# as the major mail programs write them (Gmail on the web and phones, Apple Mail, Outlook, Thunderbird), in ten
# languages besides English; Outlook quotes without ">", and HTML mail has its <blockquote> removed already
HEADERS = {
    "gmail-de": "Am Mo., 30. Nov. 2026 um 10:12 Uhr schrieb Alice Example <alice@studio.example>:\n" + QUOTED,
    "gmail-fr": "Le lun. 30 nov. 2026 à 10:12, Alice Example <alice@studio.example> a écrit :\n" + QUOTED,
    "gmail-es": "El lun, 30 nov 2026 a las 10:12, Alice Example (<alice@studio.example>) escribió:\n" + QUOTED,
    "gmail-ru": "пн, 30 нояб. 2026 г. в 10:12, Alice Example <alice@studio.example>:\n" + QUOTED,
    "gmail-zh": "Alice Example <alice@studio.example> 于2026年11月30日周一 10:12写道：\n" + QUOTED,
    "gmail-ja": "2026年11月30日(月) 10:12 Alice Example <alice@studio.example>:\n" + QUOTED,
    "gmail-pt-wrapped": "Em seg., 30 de nov. de 2026 às 10:12, Alice Example <\nalice@studio.example> escreveu:\n"
                        + QUOTED,
    "gmail-it": "Il giorno lun 30 nov 2026 alle ore 10:12 Alice Example <alice@studio.example> ha scritto:\n"
                + QUOTED,
    "apple-nl": "Op 30 nov. 2026 om 10:12 heeft Alice Example <alice@studio.example> het volgende geschreven:\n\n"
                + QUOTED,
    "apple-pl": "Wiadomość napisana przez Alice Example <alice@studio.example> w dniu 30.11.2026, o godz. 10:12:\n\n"
                + QUOTED,
    "thunderbird-de-no-address": "Am 30.11.26 um 10:12 schrieb Alice Example:\n" + QUOTED,
    "thunderbird-html-quote-dropped": "On 30/11/2026 10:12, Alice Example wrote:\n",
    "outlook-de": "Von: Alice Example <alice@studio.example>\nGesendet: Montag, 30. November 2026 10:12\n"
                  "An: progress@studio.example\nBetreff: [acme-web] progress\n\n" + OLD_BODY,
    "outlook-ru": "От: Alice Example <alice@studio.example>\nОтправлено: 30 ноября 2026 г. 10:12\n"
                  "Кому: progress@studio.example\nТема: [acme-web] progress\n\n" + OLD_BODY,
    "outlook-fr-bold": "*De :* Alice Example <alice@studio.example>\n*Envoyé :* lundi 30 novembre 2026 10:12\n"
                       "*À :* progress@studio.example\n*Objet :* [acme-web] progress\n\n" + OLD_BODY,
    "outlook-zh": "发件人: Alice Example <alice@studio.example>\n发送时间: 2026年11月30日 10:12\n"
                  "收件人: progress@studio.example\n主题: [acme-web] progress\n\n" + OLD_BODY,
    "outlook-rule": "________________________________\nFrom: Alice Example <alice@studio.example>\n" + OLD_BODY,
    "forward-ru": "---------- Пересланное сообщение ---------\nОт: Alice Example <alice@studio.example>\n"
                  "Date: пн, 30 нояб. 2026 г. в 10:12\n" + OLD_BODY,
    "forward-es": "---------- Forwarded message ---------\nDe: Alice Example <alice@studio.example>\n"
                  "Date: lun, 30 nov 2026 a las 10:12\n" + OLD_BODY,
}


@pytest.mark.parametrize("program", sorted(HEADERS))
def test_a_quote_header_in_any_language_ends_the_note(program: str) -> None:
    text = strip_reply(f"{NOTE}\n{HEADERS[program]}")
    assert text == NOTE.strip(), text
    note = parse_note("[acme-web] progress", text, [MilestoneRef("acme-web", "design-1", "Design mockups")],
                      ["acme-web"], dt.date(2026, 11, 30))
    assert note.ok and note.blocks[0].plan == "a second designer joins on Monday"  # the quote never joins the Plan


@pytest.mark.parametrize("note", [
    NOTE,
    "Milestone: Design mockups\nETA: 2026-12-10\nCause: the supplier (bob@brand.example) sent the assets on 3 Dec\n"
    "Plan: a second designer joins on Monday: we review daily\n",
    "Aşama: Tasarım taslakları\nKalan: 4 gün\nPlan: pazartesi 10:00'da ikinci bir tasarımcı katılıyor\n",
])
def test_a_note_without_a_quote_is_kept_whole(note: str) -> None:
    assert strip_reply(note) == note.strip()


@pytest.mark.parametrize("closing", ["Saygılarımla,\nAyşe Yılmaz", "Thanks!\nAyşe", "Teşekkürler", "ধন্যবাদ\nরাহিম",
                                     "আমার আইফোন থেকে পাঠানো", "Sent from my iPhone", "Kind regards,\nAlice",
                                     "İyi çalışmalar.\nAyşe", "Saygılarımla, Ayşe Yılmaz", "ধন্যবাদান্তে", "-Alice"])
def test_a_closing_line_ends_the_note_and_a_hyphen_list_does_not(closing: str) -> None:
    """The audit: a Plan written as a hyphen list cut the note there (mail-parser-reply took "- …" for a signature:
    the new Remaining and a second block were lost, the note still accepted), and a closing in Turkish or Bengali —
    or "Thanks!" and a name — was read as the Plan's next lines, which the client's letter quotes."""
    text = ("Milestone: Design mockups\nDone: 60%\nPlan:\n- a second designer joins Monday\n- daily review\n"
            f"Remaining: 10 days\n\nMilestone: Content migration\nDone: 100%\n{closing}\n")
    refs = [MilestoneRef("acme-web", "design-1", "Design mockups"),
            MilestoneRef("acme-web", "content-1", "Content migration")]
    note = parse_note("[acme-web] progress", strip_reply(text), refs, ["acme-web"], dt.date(2026, 11, 30))
    assert note.ok, note.problems
    design, content = note.blocks
    assert design.plan == "- a second designer joins Monday - daily review" and design.remaining_days == 10
    assert (content.uid, content.done, content.plan) == ("content-1", 100, "")
    assert strip_reply("Hi,\nThanks!\n" + NOTE).startswith("Hi,\nThanks!\nMilestone:")  # a greeting above the note


def test_a_notes_own_lines_are_never_taken_for_a_quote() -> None:
    """The audit: "Cause: … jane@acme.example" above "Plan:" and an ETA was taken for an Outlook header block, and
    a rule of dashes between two blocks for a quote's separator — the rest of the note was cut, the note accepted."""
    cause = "Milestone: Design mockups\nDone: 40%\nCause: waiting for files from jane@acme.example\n" \
            "Plan: chase them daily\nETA: 2026-12-10\n"
    assert strip_reply(cause) == cause.strip()
    blocks = "Milestone: Design mockups\nDone: 40%\n----------\nMilestone: Content migration\nDone: 100%\n"
    assert strip_reply(blocks) == blocks.strip()
    quoted = "Milestone: Design mockups\nDone: 40%\n\n-----Original Message-----\n" + OLD_BODY
    assert strip_reply(quoted) == "Milestone: Design mockups\nDone: 40%"


def test_a_thanks_between_two_blocks_is_no_end_of_the_note() -> None:
    """The second review: "Thanks!" under the first block cut the second, and the note was accepted without it."""
    text = "Milestone: Design mockups\nDone: 60%\nThanks!\n\nMilestone: Content migration\nDone: 100%\n"
    assert strip_reply(text) == text.strip()


def _html_note(html: str) -> str:
    from email.message import EmailMessage

    from deadlinewatch.core.message_text import body_text
    msg = EmailMessage()
    msg.set_content(html, subtype="html")
    return body_text(msg)[0]


@pytest.mark.parametrize("program", ["outlook", "gmail"])
def test_html_only_mail_keeps_a_cause_and_a_plan_written_over_several_lines(program: str) -> None:
    """The notes audit: Outlook writes each line as a <p>, Gmail as a <div>; each made a blank line between two
    lines, which ends a Cause or Plan — "…arrived a week late, and the client" reached the client's letter, the
    Plan's list was lost, and the note was accepted. A line a block; an empty block the blank line typed."""
    lines = ["Milestone: Design mockups", "Done: 60%", "Cause: the brand assets arrived a week late, and the client",
             "changed the brief twice.", "Plan:", "- a second designer joins on Monday",
             "- we review the mockups with the client daily"]
    if program == "outlook":
        html = "\r\n".join(f"<p class=MsoNormal>{line}<o:p></o:p></p>" for line in lines) + \
            "\r\n<p class=MsoNormal><o:p>&nbsp;</o:p></p>\r\n<p class=MsoNormal>Alice<o:p></o:p></p>"
    else:
        html = '<div dir="ltr">' + "".join(f"<div>{line}</div>" for line in lines) + "<div><br></div>" \
            "<div>Alice</div></div>"
    text = _html_note(html)
    note = parse_note("[acme-web] progress", text, [MilestoneRef("acme-web", "design-1", "Design mockups")],
                      ["acme-web"], dt.date(2026, 11, 30))
    assert note.ok, note.problems
    [block] = note.blocks
    assert block.cause == "the brand assets arrived a week late, and the client changed the brief twice."
    assert block.plan == "- a second designer joins on Monday - we review the mockups with the client daily"
    # the markup's own line wrapping is a space, as a browser shows it; a list is a hyphen list, its paragraph's
    assert _html_note("<p>Plan: review\r\ndaily</p><ul><li>one</li><li>two</li></ul>") == \
        "Plan: review daily\n- one\n- two"
    # the review: a paragraph of another mail program (Thunderbird's) stands apart, as it shows: a signature or a
    # remark in the next one never joins the Plan
    assert _html_note("<p>Plan: add a reviewer</p><p>Alice Smith<br>Studio Lead</p>") == \
        "Plan: add a reviewer\n\nAlice Smith\nStudio Lead"


@pytest.mark.parametrize("closing", ["Best wishes,\nAlice", "Regards - Alice", "Thanks a lot\nAlice", "Talk soon,",
                                     "All the best,\nAlice"])
def test_a_sign_off_under_the_plan_never_joins_it(closing: str) -> None:
    """The notes audit: "Best wishes, Alice" under the Plan was read as the Plan's next line, and the client's
    letter said "…we review the mockups daily Best wishes, Alice"."""
    text = strip_reply(f"{NOTE}{closing}\n")
    assert text == NOTE.strip(), text


@pytest.mark.parametrize("plan", ["Plan:\n- a second designer joins on Monday\n- Daily Reviews",
                                  "Plan:\n- Load Testing", "Plan:\n- a second designer\n-Overtime"])
def test_a_hyphen_lists_last_item_is_no_signature(plan: str) -> None:
    """The notes audit: the Plan's last item "- Daily Reviews" was taken for a signed name ("-Alice") and cut."""
    text = f"Milestone: Design mockups\nDone: 60%\n{plan}"
    assert strip_reply(text) == text
    assert strip_reply("Milestone: Design mockups\nPlan: review daily\n-Alice") == \
        "Milestone: Design mockups\nPlan: review daily"
    # the review: the sender's own name under a list signs ("-Alice", "— Alice Smith" from Alice Smith)
    for signed in ("-Alice", "— Alice Smith"):
        assert strip_reply(f"{text}\n{signed}", frozenset({"alice smith", "alice"})) == text


@pytest.mark.parametrize("headers", [
    "Kimden: Studio PM\nGönderildi: 30 Kasım 2026 Pazartesi 10:12\nKime: Ayşe Yılmaz\nKonu: Ynt: [acme-web] progress",
    "Von: Studio PM\nGesendet: Montag, 30. November 2026 10:12\nAn: Alice Example\nCc:\nBetreff: AW: progress",
])
def test_an_outlook_header_block_naming_the_sender_without_an_address_ends_the_note(headers: str) -> None:
    """The notes audit: inside one organisation Outlook names the sender without an address; a Turkish reply to
    the daemon's own reply was refused with eight problems about lines the sender never wrote. Only a sender's
    label starts such a block: a Plan's "Mon: …" lines are the Plan's (the review)."""
    text = strip_reply(f"{NOTE}\n{headers}\n\nAşama: Design mockups\n- Design mockups: %40\n")
    assert text == NOTE.strip(), text
    week = ("Milestone: Design mockups\nPlan:\nMon: finish the endpoints\nTue: code review at 10:00\n"
            "Wed: deploy to staging\nThu: client demo\n\nMilestone: Content migration\nDone: 100%")
    assert strip_reply(week) == week


@pytest.mark.parametrize("signature", [
    "\nBob Builder\nSenior Developer, Studio\nPhone: +1 555 0100\nWeb: www.studio.example",
    "\nAyşe Yılmaz\nT: 0212 555 01 00\nCONFIDENTIALITY NOTICE: This e-mail is private.",
    "\nBob\nCep: 0532 000 00 00",
])
def test_a_signature_with_contact_lines_ends_the_note(signature: str) -> None:
    """The contract audit: a mail program's signature with no "-- " above it kept its "Phone:" line, an unknown
    key: the whole note was refused. Its contact lines end the note — a whole telephone number, address or link
    under a contact label; a Plan's or Cause's own lines that look like one stay (the review)."""
    text = strip_reply(f"{NOTE}{signature}\n")
    note = parse_note("[acme-web] progress", text, [MilestoneRef("acme-web", "design-1", "Design mockups")],
                      ["acme-web"], dt.date(2026, 11, 30))
    assert note.ok and note.blocks[0].plan == "a second designer joins on Monday", (text, note.problems)
    for kept in ("Milestone: Design mockups\nPlan: call the client;\nwe review daily.\nCause: mail from "
                 "bob@brand.example",
                 "Milestone: Design mockups\nPlan: split what is left\nWeb: finish the 3 remaining pages\n"
                 "Mail: fix 2 templates",
                 "Milestone: Design mockups\nCause: the office was unreachable all week\nTel: 0212 555 0100 rang "
                 "out every day"):
        assert strip_reply(kept) == kept
