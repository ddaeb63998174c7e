"""Writes docs/samples/: every message kind in every built-in language, as .eml and as its plain text — the client's
letters (notice, delivered, intro, update, cancel, weekly) and the team's (reply, nudge, manager draft, sign-in,
the manager's risk alert).

Run `python scripts/samples.py` after changing a template; tests/unit/test_samples.py checks they are current.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
from pathlib import Path

from deadlinewatch.adapters.templates import builtin_languages, letters
from deadlinewatch.core.alert import Pace
from deadlinewatch.core.letters import AlertLetter, BlockSummary, ClientEnvelope, NoticeLetter, Progress, Recipient
from deadlinewatch.core.model import TimelineRow

OUT = Path(__file__).resolve().parent.parent / "docs" / "samples"
COMPOSED = dt.datetime(2026, 11, 25, 14, 5, tzinfo=dt.UTC)
CLIENTS = {
    "en": ("Jane Doe", "your annual shareholder meeting on 12 December", "the brand assets arrived a week late",
           "a second designer joins on Monday and we review the mockups with you daily",
           "We will not charge for the extra review round."),
    "tr": ("Ayşe Yılmaz", "12 Aralık'taki yıllık hissedarlar toplantınız", "marka dosyaları bir hafta geç geldi",
           "pazartesi ikinci bir tasarımcı katılıyor ve taslakları sizinle her gün gözden geçiriyoruz",
           "Ek inceleme turu için ücret almayacağız."),
    "bn": ("রহিমা খাতুন", "১২ ডিসেম্বরের বার্ষিক শেয়ারহোল্ডার সভা", "ব্র্যান্ডের ফাইলগুলো এক সপ্তাহ দেরিতে এসেছে",
           "সোমবার থেকে একজন দ্বিতীয় ডিজাইনার যোগ দিচ্ছেন এবং আমরা প্রতিদিন আপনার সঙ্গে খসড়াগুলো দেখছি",
           "অতিরিক্ত রিভিউ রাউন্ডের জন্য কোনো ফি নেওয়া হবে না।"),
}


ROWS = (
    TimelineRow("demo-design", "Design mockups", dt.date(2026, 12, 2), dt.date(2026, 12, 10), "moved", 1),
    TimelineRow("demo-content", "Content migration", dt.date(2026, 12, 7), dt.date(2026, 12, 7), "on track", 0),
    TimelineRow("demo-launch", "Launch", dt.date(2026, 12, 21), dt.date(2026, 12, 21), "on track", 0),
)


def _envelope(language: str, kind: str) -> ClientEnvelope:
    return ClientEnvelope(project_name="ACME website relaunch",
                          client=Recipient(CLIENTS[language][0], "client@acme.example", language, "Europe/London"),
                          sender="Studio PM <pm@studio.example>", manager="pm@studio.example", cc=(),
                          composed_at=COMPOSED, message_id=f"<dw.sample.{kind}.{language}@studio.example>",
                          token="sample", kind=kind)


def samples(language: str) -> dict[str, bytes]:
    """Every message kind in one language."""
    _, context, cause, plan, offer = CLIENTS[language]
    composer = letters()
    notice = NoticeLetter(envelope=_envelope(language, "notice"), milestone=ROWS[0], deadline=dt.date(2026, 12, 2),
                          promised=dt.date(2026, 12, 10), slip_days=6, context=context, cause=cause, plan=plan,
                          offer=offer, rows=ROWS)
    done = dataclasses.replace(ROWS[0], status="done")
    delivered = dataclasses.replace(notice, envelope=_envelope(language, "delivered"), milestone=done, promised=None,
                                    slip_days=0, offer=None, rows=(done, *ROWS[1:]))
    team = dict(language=language, sender="Studio PM <pm@studio.example>", composed_at=COMPOSED)
    out = {
        "notice": composer.notice(notice),
        "delivered": composer.notice(delivered),
        "intro": composer.intro(_envelope(language, "intro"), ROWS, ROWS[0], context),
        "update": composer.calendar(_envelope(language, "update"), ROWS[2]),
        "cancel": composer.calendar(_envelope(language, "cancel"), ROWS[1], cancel=True),
        "weekly": composer.weekly(_envelope(language, "weekly"), ROWS,
                                  [Progress(ROWS[0], 20, 60, 2), Progress(ROWS[1], None, 10, 1),
                                   Progress(ROWS[2], None, None, 0)], ROWS[:2], dt.date(2026, 11, 30)),
        "reply": composer.reply(**team, to="alice@studio.example", original_subject="[acme-web] progress",
                                original_message_id="<note-1@studio.example>", references="",
                                message_id="<dw.sample.reply@studio.example>", accepted=True,
                                project_name="ACME website relaunch",
                                blocks=[BlockSummary("Design mockups", "name", "20% done, 10 working days left",
                                                     "pace of the last notes", True)]),
        "nudge": composer.nudge(**team, to="alice@studio.example", reply_to="progress@studio.example",
                                message_id="<dw.sample.nudge@studio.example>", project_id="acme-web",
                                project_name="ACME website relaunch", milestone="Content migration",
                                since=dt.date(2026, 11, 19), days=4, forecast="pace of the last notes"),
        "manager-draft": composer.manager(**team, to="pm@studio.example", message_id="<dw.sample.m@studio.example>",
                                          what="draft", notice_id=7, token="sample",
                                          project_name="ACME website relaunch", milestone="Design mockups",
                                          client="client@acme.example", reason="P(miss) 0.93",
                                          draft=composer.notice(notice)),
        "signin": composer.signin(**team, to="pm@studio.example", message_id="<dw.sample.s@studio.example>",
                                  server="imap", account="progress@studio.example",
                                  error="imap: the provider refused to renew the sign-in (invalid_grant)",
                                  command="deadlinewatch login imap"),
        "alert": composer.alert(AlertLetter(
            what="raise", project="ACME website relaunch", milestone="Content migration",
            target=dt.date(2026, 12, 7), p_miss=0.62, was=None, p50=dt.date(2026, 12, 8), p80=dt.date(2026, 12, 11),
            reason="40% done; the last notes' pace, and this team's estimates running 1.8 times long",
            pace=Pace(done=40, per_day=5, needed_days=12, remaining_days=5), notice="later", held=False,
            warn_probability=0.9), language=language, sender="Studio PM <pm@studio.example>",
            to="pm@studio.example", composed_at=COMPOSED, message_id="<dw.sample.alert@studio.example>"),
    }
    return {kind: msg.as_bytes() for kind, msg in out.items()}


def write(out: Path = OUT) -> list[Path]:
    from email import message_from_bytes
    from email.policy import default

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for language in builtin_languages():
        for kind, raw in samples(language).items():
            body = message_from_bytes(raw, policy=default).get_body(("plain",))
            text = body.get_content() if body is not None else ""
            for path, data in ((out / f"{kind}-{language}.eml", raw), (out / f"{kind}-{language}.txt", text.encode())):
                path.write_bytes(data)
                written.append(path)
    return written


if __name__ == "__main__":
    for p in write(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT):
        print(p)
