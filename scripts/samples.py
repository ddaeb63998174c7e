"""Writes docs/samples/: every message kind in every built-in language, as .eml and as its plain text — the client's
letters (notice, second notice, notice without a plan, delivered, intro, calendar entry, moved dependant, cancel,
weekly) and the team's (reply, nudge, manager draft, follow-up reminder, sign-in, risk alert, forwarded reply).
Each language's samples use names a client in that language would have: a Turkish project is a Turkish one.

Run `python scripts/samples.py` after changing a template or a catalog; tests/unit/test_samples.py checks they are
current.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
import zoneinfo
from collections.abc import Sequence
from email.message import EmailMessage
from pathlib import Path

from deadlinewatch.adapters.templates import builtin_languages, letters
from deadlinewatch.config import default_policy
from deadlinewatch.core import policy, timeline
from deadlinewatch.core.alert import Pace, pace
from deadlinewatch.core.forecast import forecast, last_work_day, learn
from deadlinewatch.core.letters import AlertLetter, BlockSummary, ClientEnvelope, NoticeLetter, Progress, Recipient
from deadlinewatch.core.model import Forecast, Milestone, NoteBlock, NoticeDecision, Report, TimelineRow
from deadlinewatch.core.words import Days, phrase
from deadlinewatch.core.workdays import WorkCalendar
from deadlinewatch.stages.inbox import _said

OUT = Path(__file__).resolve().parent.parent / "docs" / "samples"
COMPOSED = dt.datetime(2026, 11, 25, 14, 5, tzinfo=dt.UTC)


@dataclasses.dataclass(frozen=True)
class Story:
    """One studio and its client, as a reader of the language would name them."""

    client: str
    zone: str
    project: str
    milestones: tuple[str, str, str]
    context: str
    cause: str
    plan: str
    prevent: str
    offer: str
    signature: str
    member: str  # a team member's note subject


STORIES = {
    "en": Story("Jane Doe", "Europe/London", "ACME website relaunch",
                ("Design mockups", "Content migration", "Launch"),
                "your annual shareholder meeting on 12 December", "the brand assets arrived a week late",
                "a second designer joins on Monday and we review the mockups with you daily",
                "we now collect all brand assets a week before design starts",
                "We will not charge for the extra review round.", "Sarah Mitchell", "[acme-web] progress"),
    "tr": Story("Ayşe Yılmaz", "Europe/Istanbul", "Kuzey Lojistik web sitesi yenileme",
                ("Tasarım taslakları", "İçerik aktarımı", "Yayına alma"),
                "12 Aralık'taki yıllık hissedarlar toplantınız",
                "marka dosyalarının son sürümü bir hafta geç elimize ulaştı",
                "pazartesi ekibe ikinci bir tasarımcı katılıyor ve taslakları sizinle her gün gözden geçiriyoruz",
                "marka dosyalarını artık tasarım başlamadan bir hafta önce teslim alıyoruz",
                "Ek inceleme turu için ücret almayacağız.", "Deniz Kaya", "[kuzey-web] ilerleme"),
    "bn": Story("রহিমা খাতুন", "Asia/Dhaka", "পদ্মা টেক্সটাইলস ওয়েবসাইট নবায়ন",
                ("ডিজাইনের খসড়া", "কনটেন্ট স্থানান্তর", "ওয়েবসাইট চালু"),
                "১২ ডিসেম্বরের বার্ষিক শেয়ারহোল্ডার সভা", "ব্র্যান্ডের ফাইলগুলো এক সপ্তাহ দেরিতে হাতে পেয়েছি",
                "সোমবার থেকে একজন দ্বিতীয় ডিজাইনার যোগ দিচ্ছেন এবং আমরা প্রতিদিন আপনার সঙ্গে খসড়াগুলো দেখছি",
                "এখন থেকে ডিজাইন শুরুর এক সপ্তাহ আগেই ব্র্যান্ডের সব ফাইল সংগ্রহ করা হবে",
                "অতিরিক্ত রিভিউ রাউন্ডের জন্য কোনো ফি নেওয়া হবে না।", "তানভীর আহমেদ", "[padma-web] অগ্রগতি"),
}
SENDER = "Studio <pm@studio.example>"


KEY = b"deadlinewatch samples: not a secret" * 2  # the state's key, fixed so that the samples stay the same


def _rows(story: Story) -> tuple[TimelineRow, ...]:
    design, content, launch = story.milestones

    def ours(uid: str) -> str:
        return timeline.entry_uid(KEY, "acme-web", uid)

    return (TimelineRow("demo-design", design, dt.date(2026, 12, 2), dt.date(2026, 12, 10), "moved", 1,
                        ours("demo-design")),
            TimelineRow("demo-content", content, dt.date(2026, 12, 7), dt.date(2026, 12, 7), "on track", 0,
                        ours("demo-content")),
            TimelineRow("demo-launch", launch, dt.date(2026, 12, 21), dt.date(2026, 12, 21), "on track", 0,
                        ours("demo-launch")))


# What the team's messages say about a milestone comes from one forecast of it at one moment (COMPOSED), made by
# the real forecaster and policy at the defaults, for a team with no milestone closed yet (Little's reference
# class: its estimates run 1.8x). Two milestones: a note about the design has just come in (the reply, the manager's
# draft of the notice it makes due — the team's own date is past the deadline); the content migration has had no
# note for four working days (the nudge, and the manager's risk alert at 94% against the notice's 98%).
TEAM_TZ = zoneinfo.ZoneInfo("Europe/Istanbul")
DEFAULTS = default_policy()
WORKDAYS = WorkCalendar.from_policy(DEFAULTS.working_days, "", ())
SPREAD = learn([])


def _at(month: int, day: int, hour: int = 9) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, 30, tzinfo=dt.UTC)


DESIGN = Milestone("acme-web", "demo-design", "Design mockups", dt.datetime(2026, 12, 3, tzinfo=TEAM_TZ))
DESIGN_NOTES = (Report("acme-web", "demo-design", _at(11, 13), 30),
                Report("acme-web", "demo-design", _at(11, 25, 13), 70, remaining_days=6))
CONTENT = Milestone("acme-web", "demo-content", "Content migration", dt.datetime(2026, 12, 8, tzinfo=TEAM_TZ))
CONTENT_NOTES = (Report("acme-web", "demo-content", _at(11, 5), 10),
                 Report("acme-web", "demo-content", _at(11, 19), 30))


@dataclasses.dataclass(frozen=True)
class Moment:
    """One milestone at COMPOSED: its forecast, the client notice the policy makes due (if any), the notes' pace."""

    milestone: Milestone
    notes: tuple[Report, ...]
    forecast: Forecast
    notice: NoticeDecision | None
    pace: Pace


def moment(m: Milestone, notes: Sequence[Report]) -> Moment:
    f = forecast(m, notes, COMPOSED, WORKDAYS, TEAM_TZ, spread=SPREAD)
    today, deadline = COMPOSED.astimezone(TEAM_TZ).date(), last_work_day(m.deadline, TEAM_TZ)
    rules = policy.Policy(DEFAULTS.warn_probability, DEFAULTS.renotify_slip_days, DEFAULTS.alert_probability)
    notice = policy.decide(m, f, policy.Promise(None), rules, WORKDAYS, deadline, today=today)
    return Moment(m, tuple(notes), f, notice, pace(notes, today, f.target or deadline, WORKDAYS, TEAM_TZ))


WRITTEN = moment(DESIGN, DESIGN_NOTES)
SILENT = moment(CONTENT, CONTENT_NOTES)
assert WRITTEN.notice is not None and WRITTEN.notice.promised == dt.date(2026, 12, 10), WRITTEN.forecast.reason
assert SILENT.notice is None and SILENT.forecast.p_miss is not None, SILENT.forecast.reason
assert SILENT.forecast.p_miss >= DEFAULTS.alert_probability, SILENT.forecast.reason


def _envelope(language: str, kind: str) -> ClientEnvelope:
    story = STORIES[language]
    return ClientEnvelope(project_name=story.project,
                          client=Recipient(story.client, "client@client.example", language, story.zone),
                          sender=SENDER, manager="pm@studio.example", cc=(), composed_at=COMPOSED,
                          message_id=f"<dw.sample.{kind}.{language}@studio.example>", token="sample", kind=kind,
                          signature=story.signature, weekday="mon")


def _client_reply(story: Story) -> EmailMessage:
    reply = EmailMessage()
    reply["From"] = f"{story.client} <client@client.example>"
    reply["To"] = SENDER
    reply["Subject"] = f"Re: {story.milestones[0]}"
    reply["Date"] = "Thu, 26 Nov 2026 08:30:00 +0000"
    reply.set_content("…\n")
    return reply


def samples(language: str) -> dict[str, EmailMessage]:
    """Every message kind in one language."""
    story = STORIES[language]
    rows = _rows(story)
    composer = letters()
    assert WRITTEN.notice is not None and WRITTEN.notice.promised is not None
    notice = NoticeLetter(envelope=_envelope(language, "notice"), milestone=rows[0], deadline=dt.date(2026, 12, 2),
                          promised=WRITTEN.notice.promised, slip_days=WRITTEN.notice.slip_days, context=story.context,
                          cause=story.cause, plan=story.plan, offer=story.offer, rows=rows, prevent=story.prevent)
    moved = dataclasses.replace(rows[1], new=dt.date(2026, 12, 14), status="moved", sequence=1)
    again = dataclasses.replace(notice, envelope=_envelope(language, "notice-again"), again=True,
                                broken=dt.date(2026, 12, 10), promised=dt.date(2026, 12, 16), slip_days=10,
                                rows=(dataclasses.replace(rows[0], new=dt.date(2026, 12, 16)), moved, rows[2]),
                                moved=(moved,), prevent="")
    no_plan = dataclasses.replace(notice, envelope=_envelope(language, "notice-no-plan"), plan="", prevent="",
                                  cause="", follow_up=dt.date(2026, 11, 27))
    done = dataclasses.replace(rows[0], status="done")
    delivered = dataclasses.replace(notice, envelope=_envelope(language, "delivered"), milestone=done, promised=None,
                                    slip_days=0, offer=None, rows=(done, *rows[1:]),
                                    delivered_on=dt.date(2026, 12, 9))
    # what the team's messages say of each milestone: its one forecast, said in the team's language
    written, silent = composer.forecast(language, WRITTEN.forecast), composer.forecast(language, SILENT.forecast)
    latest = WRITTEN.notes[-1]
    said = composer.say(language, _said(NoteBlock(DESIGN.uid, story.milestones[0], latest.done, latest.remaining_days)),
                        ", ")
    deadline = last_work_day(DESIGN.deadline, TEAM_TZ)
    assert WRITTEN.forecast.p50 is not None
    beside = composer.say(language, [  # as stages/inbox.py `_summary` says it
        phrase("%(days)s after the deadline (%(date)s)", days=Days(WORKDAYS.count(deadline, WRITTEN.forecast.p50)),
               date=deadline), phrase("the client notice is due now")])
    team = dict(language=language, sender=SENDER, composed_at=COMPOSED)
    manager = dict(team, to="pm@studio.example", notice_id=7, token="sample", project_name=story.project,
                   milestone=story.milestones[0], client="client@client.example")
    return {
        "notice": composer.notice(notice),
        "notice-again": composer.notice(again),
        "notice-no-plan": composer.notice(no_plan),
        "delivered": composer.notice(delivered),
        "intro": composer.intro(_envelope(language, "intro"), rows, rows[0], story.context),
        "update": composer.calendar(_envelope(language, "update"), rows[2]),
        "moved": composer.calendar(_envelope(language, "moved"), moved),
        "cancel": composer.cancel(_envelope(language, "cancel"), rows[1], sent=rows[1].sequence, invited=True),
        "weekly": composer.weekly(_envelope(language, "weekly"), rows,
                                  [Progress(rows[0], 20, 60, 2), Progress(rows[1], None, 10, 1),
                                   Progress(rows[2], None, None, 0)], rows[:2], dt.date(2026, 11, 30)),
        "reply": composer.reply(**team, to="alice@studio.example", original_subject=story.member,
                                original_message_id="<note-1@studio.example>", references="",
                                message_id="<dw.sample.reply@studio.example>", accepted=True,
                                project_name=story.project,
                                blocks=[BlockSummary(story.milestones[0], "", said, f"{written}; {beside}", True)]),
        "nudge": composer.nudge(**team, to="alice@studio.example", reply_to="progress@studio.example",
                                message_id="<dw.sample.nudge@studio.example>", project_id="acme-web",
                                project_name=story.project, milestone=story.milestones[1],
                                since=SILENT.notes[-1].at.astimezone(TEAM_TZ).date(),
                                days=WORKDAYS.count(SILENT.notes[-1].at.astimezone(TEAM_TZ).date(),
                                                    COMPOSED.astimezone(TEAM_TZ).date()), forecast=silent),
        "manager-draft": composer.manager(**manager, message_id="<dw.sample.m@studio.example>", what="draft",
                                          reason=written, draft=composer.notice(notice)),
        "manager-follow-up": composer.manager(**manager, message_id="<dw.sample.f@studio.example>",
                                              what="follow-up"),
        "signin": composer.signin(**team, to="pm@studio.example", message_id="<dw.sample.s@studio.example>",
                                  server="imap", account="progress@studio.example",
                                  error="imap: the provider refused to renew the sign-in (invalid_grant)",
                                  command="deadlinewatch login imap"),
        "alert": composer.alert(AlertLetter(
            what="raise", project=story.project, milestone=story.milestones[1], target=SILENT.forecast.target or
            last_work_day(CONTENT.deadline, TEAM_TZ), p_miss=SILENT.forecast.p_miss or 0.0, was=None,
            p50=SILENT.forecast.p50, p80=SILENT.forecast.p80, reason=composer.say(language, SILENT.forecast.words),
            pace=SILENT.pace, notice="later", held=False, warn_probability=DEFAULTS.warn_probability),
            language=language, sender=SENDER,
            to="pm@studio.example", composed_at=COMPOSED, message_id="<dw.sample.alert@studio.example>"),
        "forward": composer.forward(**team, to="pm@studio.example", original=_client_reply(story),
                                    message_id="<dw.sample.fwd@studio.example>"),
    }


def write(out: Path = OUT) -> list[Path]:
    from email import message_from_bytes
    from email.policy import default

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for language in builtin_languages():
        for kind, msg in samples(language).items():
            raw = msg.as_bytes()
            body = message_from_bytes(raw, policy=default).get_body(("plain",))
            text = body.get_content() if body is not None else ""
            for path, data in ((out / f"{kind}-{language}.eml", raw), (out / f"{kind}-{language}.txt", text.encode())):
                path.write_bytes(data)
                written.append(path)
    return written


if __name__ == "__main__":
    for p in write(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT):
        print(p)
