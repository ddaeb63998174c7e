"""Writes docs/samples/: every message kind in every built-in language, as .eml and as its plain text — the client's
letters (notice, second notice, notice without a plan, delivered, intro, calendar entry, moved dependant, cancel,
weekly) and the team's (reply, nudge, manager draft, the manager's copy of a letter, follow-up reminder, sign-in,
risk alert, forwarded reply).
Each language's samples use names a client in that language would have: a Turkish project is a Turkish one.

The client's letters, the manager's draft and copy come from the same path the daemon takes: the evaluation's plans
(decisions/evaluation.py: plan_intro, plan_notice, plan_invitation, plan_cancel, plan_weekly and the manager's
messages about them) over the project as its client knows it after each step — the rows, SEQUENCEs, entry UIDs,
statuses and dependants are what production makes, never rows written by hand.

Run `python scripts/samples.py` after changing a template or a catalog; tests/unit/test_samples.py checks they are
current.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
import tempfile
import zoneinfo
from collections.abc import Sequence
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from deadlinewatch import config as config_mod
from deadlinewatch.adapters.templates import builtin_languages, letters
from deadlinewatch.config.schema import Client, Offer, PolicySection
from deadlinewatch.core import intake, policy
from deadlinewatch.core.alert import Pace, pace
from deadlinewatch.core.forecast import forecast, last_work_day, learn
from deadlinewatch.core.model import Forecast, Milestone, NoticeDecision, RecordMessage, Report
from deadlinewatch.core.notes import MilestoneRef, note_keys, parse_note
from deadlinewatch.core.workdays import WorkCalendar
from deadlinewatch.decisions import evaluation
from deadlinewatch.decisions.evaluation import (
    Snapshot,
    decide_project,
    plan_cancel,
    plan_intro,
    plan_invitation,
    plan_notice,
    plan_weekly,
)
from deadlinewatch.decisions.forecaster import Forecaster
from deadlinewatch.decisions.inbox import Lookup, decide_message, rules_of
from deadlinewatch.decisions.manager_mail import manager_messages
from deadlinewatch.decisions.project_view import ProjectView, with_notes
from deadlinewatch.decisions.studio import Studio
from deadlinewatch.demo.servers import write_local_config
from deadlinewatch.stages.team import plan_nudge

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
    member: str  # a team member's note subject: "[tag] …", the tag being the project's id
    cause2: str  # the second notice's: the notes after the first one
    plan2: str


STORIES = {
    # the client's name as the letters address them (client.name): "Dear Jane," in English, not a mail merge's
    # "Dear Jane Doe,"; the full name is how Turkish and Bengali business letters address a client
    "en": Story("Jane", "Europe/London", "ACME Website Relaunch",
                ("Design mockups", "Content migration", "Launch"),
                "your annual shareholder meeting on 12 December", "the brand assets arrived a week late",
                "a second designer joins on Monday and we review the mockups with you daily",
                "we now collect all brand assets a week before design starts",
                "We will not charge for the extra review round.", "Sarah Mitchell", "[acme-web] progress",
                "the accessibility review found contrast problems in the mockups",
                "we are reworking the colour palette and will send you the revised mockups to approve on Friday"),
    "tr": Story("Ayşe Yılmaz", "Europe/Istanbul", "Kuzey Lojistik web sitesi yenileme",
                ("Tasarım taslakları", "İçerik aktarımı", "Yayına alma"),
                "12 Aralık'taki yıllık hissedarlar toplantınız",
                "marka dosyalarının son sürümü bir hafta geç elimize ulaştı",
                "pazartesi ekibe ikinci bir tasarımcı katılıyor ve taslakları sizinle her gün gözden geçiriyoruz",
                "marka dosyalarını artık tasarım başlamadan bir hafta önce teslim alıyoruz",
                "Ek inceleme turu için ücret almayacağız.", "Deniz Kaya", "[kuzey-web] ilerleme",
                "erişilebilirlik incelemesi taslaklarda renk kontrastı sorunları buldu",
                "renk paletini yeniden düzenliyoruz ve düzeltilmiş taslakları cuma günü onayınıza sunacağız"),
    "bn": Story("রহিমা খাতুন", "Asia/Dhaka", "পদ্মা টেক্সটাইলস ওয়েবসাইট নবায়ন",
                ("ডিজাইনের খসড়া", "কনটেন্ট স্থানান্তর", "ওয়েবসাইট চালু"),
                "১২ ডিসেম্বরের বার্ষিক শেয়ারহোল্ডার সভা", "ব্র্যান্ডের ফাইলগুলো এক সপ্তাহ দেরিতে হাতে পেয়েছি",
                "সোমবার থেকে আরও একজন ডিজাইনার যোগ দিচ্ছেন এবং আমরা প্রতিদিন আপনার সঙ্গে খসড়াগুলো দেখছি",
                "এখন থেকে ডিজাইন শুরুর এক সপ্তাহ আগেই ব্র্যান্ডের সব ফাইল সংগ্রহ করা হবে",
                "বাড়তি পর্যালোচনার জন্য কোনো ফি নেওয়া হবে না।", "তানভীর আহমেদ", "[padma-web] অগ্রগতি",
                "অ্যাক্সেসিবিলিটি পর্যালোচনায় খসড়াগুলোতে রঙের কনট্রাস্টের সমস্যা ধরা পড়েছে",
                "আমরা রঙের প্যালেট নতুন করে সাজাচ্ছি এবং শুক্রবার সংশোধিত খসড়াগুলো আপনার অনুমোদনের জন্য পাঠাব"),
}
SENDER = "Studio <pm@studio.example>"
MEMBER = "alice@studio.example"  # writes the notes (a member of the team in write_local_config)
DAYS_WORD = {"en": "days", "tr": "gün", "bn": "দিন"}  # "Remaining: 6 days" as the team writes it
FOLDERS = {"sent": "deadlinewatch/sent", "processed": "deadlinewatch/processed", "rejected": "deadlinewatch/rejected"}


def tag(language: str) -> str:
    """The project's id, as the team writes it in its notes' subjects ("[kuzey-web] ilerleme")."""
    member = STORIES[language].member
    return member[1:member.index("]")]


def _of(project_id: str, *items: Any) -> list[Any]:
    """Milestones, notes and decisions of the story's project (the module's constants are made for acme-web)."""
    return [dataclasses.replace(x, project=project_id) for x in items]


KEY = b"deadlinewatch samples: not a secret" * 2  # the state's key, fixed so that the samples stay the same


# What the team's messages say about a milestone comes from one forecast of it at one moment (COMPOSED), made by
# the real forecaster and policy at the defaults, for a team with no milestone closed yet (Little's reference
# class: its estimates run 1.8x). Two milestones: a note about the design has just come in (the reply, the manager's
# draft of the notice it makes due — the team's own date is past the deadline); the content migration has had no
# note for four working days (the nudge, and the manager's risk alert at 94%: past the alert's 88%, short of the
# notice's 97%).
TEAM_TZ = zoneinfo.ZoneInfo("Europe/Istanbul")
DEFAULTS = PolicySection()
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
    notice = policy.decide(m, f, policy.Promise(None), DEFAULTS.thresholds(), WORKDAYS, deadline, today=today)
    return Moment(m, tuple(notes), f, notice, pace(notes, today, f.target or deadline, WORKDAYS, TEAM_TZ))


WRITTEN = moment(DESIGN, DESIGN_NOTES)
SILENT = moment(CONTENT, CONTENT_NOTES)
assert WRITTEN.notice is not None and WRITTEN.notice.promised == dt.date(2026, 12, 10), WRITTEN.forecast.reason
assert SILENT.notice is None and SILENT.forecast.p_miss is not None, SILENT.forecast.reason
assert SILENT.forecast.p_miss >= DEFAULTS.alert_probability, SILENT.forecast.reason


LAUNCH = Milestone("acme-web", "demo-launch", "Launch", dt.datetime(2026, 12, 22, tzinfo=TEAM_TZ),
                   start=dt.datetime(2026, 12, 18, tzinfo=TEAM_TZ))


def _composer(language: str) -> Studio:
    """The studio of a language's story, as the daemon's config would load it: its client, project, offer and
    signature; the sample key for the ids and the client's entry UIDs."""
    story = STORIES[language]
    with tempfile.TemporaryDirectory() as folder:
        base = config_mod.load(write_local_config(Path(folder) / "dw.toml", caldav_url="http://127.0.0.1:9/",
                                                  imap_port=9, smtp_port=9, holidays="", context=story.context))
    project = dataclasses.replace(
        base.projects[0], id=tag(language), name=story.project, signature=story.signature, weekly_update="mon 09:00",
        client=Client(story.client, "client@client.example", (), language, story.zone))
    config = dataclasses.replace(base, smtp=dataclasses.replace(base.smtp, from_=SENDER), projects=(project,),
                                 team=dataclasses.replace(base.team, language=language),  # the team's samples too
                                 offers=(Offer(1, ((language, story.offer),)),))
    return Studio(config, letters(zone=str(TEAM_TZ)), KEY)


def _story_milestones(language: str, cancelled: bool = False) -> list[Milestone]:
    """The project's calendar in the story's words: the content migration builds on the design, the launch on the
    content migration (RFC 9253; the launch's work starts on 18 December, so only a later slip moves it)."""
    design, content, launch = STORIES[language].milestones
    return _of(tag(language), dataclasses.replace(DESIGN, name=design, successors=((CONTENT.uid, 0),)),
               dataclasses.replace(CONTENT, name=content, state="cancelled" if cancelled else "open",
                                   successors=((LAUNCH.uid, 0),)),
               dataclasses.replace(LAUNCH, name=launch))


def _notes(language: str) -> dict[str, list[Report]]:
    """The notes the team wrote before the one answered at COMPOSED (alice's, in the project of the story)."""
    pid = tag(language)
    return {DESIGN.uid: _of(pid, *(dataclasses.replace(r, sender=MEMBER) for r in DESIGN_NOTES[:-1])),
            CONTENT.uid: _of(pid, *(dataclasses.replace(r, sender=MEMBER) for r in CONTENT_NOTES))}


def _at_client(c: Studio, day: dt.date, hour: int = 9) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=zoneinfo.ZoneInfo(c.config.projects[0].client.timezone))


def client_letters(language: str) -> dict[str, bytes]:
    """The client's letters, and the manager's draft and copy, as the daemon's evaluation plans them: at first
    contact the introduction and the notice the design's note makes due (held: the team is new, and the forecast
    outruns its own date); a week later the promise breaks (a second notice, newer cause and plan); the content
    migration, moved by the design, is cancelled; the design is delivered; the Monday check-in; the launch invited
    when its date comes near."""
    story, c, pid = STORIES[language], _composer(language), tag(language)
    project = c.config.projects[0]
    design, content, launch = _story_milestones(language)
    before = _notes(language)
    [latest] = _of(pid, dataclasses.replace(DESIGN_NOTES[-1], sender=MEMBER, cause=story.cause, plan=story.plan,
                                            prevent=story.prevent))
    notes = {**before, DESIGN.uid: [*before[DESIGN.uid], latest]}
    first = ProjectView(project, [design, content, launch], notes, {}, key=KEY)
    intro = plan_intro(c, first, COMPOSED)
    assert intro is not None
    introduced = first.after(intro.dates)
    assert WRITTEN.notice is not None
    [due] = _of(pid, WRITTEN.notice)
    notice = plan_notice(c, introduced, design, due, COMPOSED, closed=0)
    assert [m.kind for m in notice.messages] == ["notice", "update"], notice.messages  # it moves the content
    notice.about = evaluation.about(introduced, notice)
    draft, *_ = manager_messages(c, notice.group(), 7, COMPOSED)
    # approved: the client was told
    told = dataclasses.replace(introduced.after(notice.dates), told={DESIGN.uid: COMPOSED})

    bare_note = [*before[DESIGN.uid], *_of(pid, dataclasses.replace(DESIGN_NOTES[-1], sender=MEMBER))]
    no_plan = plan_notice(c, dataclasses.replace(introduced, reports={**notes, DESIGN.uid: bare_note}),
                          design, due, COMPOSED, closed=0)
    no_plan.about = evaluation.about(introduced, no_plan)
    [follow_up] = [m for m in manager_messages(c, no_plan.group(), 7, COMPOSED) if m.kind == "manager-follow-up"]

    later = _at(12, 2, 8)  # the notes after the notice: the promise of 10 December cannot hold
    slipped = [*notes[DESIGN.uid], Report(pid, DESIGN.uid, later, 75, remaining_days=8, cause=story.cause2,
                                          plan=story.plan2, sender=MEMBER)]
    again_view = dataclasses.replace(told, reports={**notes, DESIGN.uid: slipped})
    [replanned] = _of(pid, policy.replan(design, WRITTEN.forecast, c.workdays, last_work_day(DESIGN.deadline, TEAM_TZ),
                                         date=dt.date(2026, 12, 16)))
    again = plan_notice(c, again_view, design, replanned, later + dt.timedelta(hours=1), closed=0)

    done = [*notes[DESIGN.uid], Report(pid, DESIGN.uid, _at(12, 9, 12), 100, sender=MEMBER)]
    delivered = plan_notice(c, dataclasses.replace(told, reports={**notes, DESIGN.uid: done}), design,
                            NoticeDecision(pid, DESIGN.uid, "delivered", None, 0, "delivered"),
                            _at(12, 9, 15), closed=0)

    gone = dataclasses.replace(told, milestones=_story_milestones(language, cancelled=True))
    cancel = plan_cancel(c, gone, gone.milestones[1], _at(12, 3))
    near = plan_invitation(c, told, launch, _at(12, 8))
    slot = _at_client(c, dt.date(2026, 11, 30))
    weekly = plan_weekly(c, told, slot, slot, {CONTENT.uid})  # the content migration's risk alert is up (below)
    assert weekly is not None
    return {"notice": notice.messages[0].message, "notice-again": again.messages[0].message,
            "notice-no-plan": no_plan.messages[0].message, "delivered": delivered.messages[0].message,
            "intro": intro.messages[0].message, "update": near.messages[0].message,
            "moved": notice.messages[1].message, "cancel": cancel.messages[0].message,
            "weekly": weekly.messages[0].message, "manager-draft": draft.message,
            "manager-copy": notice.copies[0].message, "manager-follow-up": follow_up.message}


def team_mail(language: str) -> dict[str, bytes]:
    """The team's mail at COMPOSED, as the pass makes it: alice's note about the design comes in and is answered
    (stages/inbox.py decide_message, the reply forecasting as the evaluation does); the evaluation that follows
    raises the manager's risk alert for the content migration (stages/evaluation.py decide_project); the content
    migration, four working days without a note, is nudged with the forecast that evaluation stored
    (stages/team.py plan_nudge)."""
    story, c, pid = STORIES[language], _composer(language), tag(language)
    project = c.config.projects[0]
    milestones = _story_milestones(language)
    before = ProjectView(project, milestones, _notes(language), {}, key=KEY)
    latest = DESIGN_NOTES[-1]
    keys = note_keys(language)
    assert latest.remaining_days is not None
    raw = (f"From: Alice <{MEMBER}>\nTo: progress@studio.example\nSubject: {story.member}\n"
           f"Date: {latest.at.strftime('%a, %d %b %Y %H:%M:%S +0000')}\nMessage-ID: <note-1@studio.example>\n"
           f"Content-Type: text/plain; charset=utf-8\n\n"
           f"{keys['milestone']}: {story.milestones[0]}\n{keys['done']}: {latest.done}%\n"
           f"{keys['remaining']}: {latest.remaining_days:g} {DAYS_WORD[language]}\n")
    incoming = intake.read_message(raw.encode(), latest.at)
    refs = [MilestoneRef(m.project, m.uid, m.name) for m in milestones]
    parsed = parse_note(incoming.subject, incoming.text, refs, [pid], latest.at.astimezone(TEAM_TZ).date(),
                        len(DEFAULTS.working_days))
    assert parsed.ok, parsed.problems
    forecaster = Forecaster(c.workdays, c.team_tz, SPREAD)
    decided = decide_message(c, forecaster, rules_of(c.config), FOLDERS, incoming,
                             Lookup(note=parsed, milestones={pid: milestones}, view=before, closed=0), COMPOSED)
    [reply] = [mail for a in decided.actions if isinstance(a, RecordMessage) for mail in a.outgoing]

    after = with_notes(before, decided.reports)
    evaluated = decide_project(c, Snapshot(after, None, None, history=0), forecaster, COMPOSED)
    [alert] = [a.message for a in evaluated.alerts if a.uid == CONTENT.uid and a.message is not None]
    [content] = [f for f in evaluated.forecasts if f.uid == CONTENT.uid]
    nudge = plan_nudge(c, project, milestones[1], after.reports[CONTENT.uid], content, COMPOSED)
    assert nudge is not None
    return {"reply": reply.message, "nudge": nudge.message, "alert": alert.message}


def _client_reply(story: Story) -> EmailMessage:
    reply = EmailMessage()
    reply["From"] = f"{story.client} <client@client.example>"
    reply["To"] = SENDER
    reply["Subject"] = f"Re: {story.milestones[0]}"
    reply["Date"] = "Thu, 26 Nov 2026 08:30:00 +0000"
    reply.set_content("…\n")
    return reply


def samples(language: str) -> dict[str, EmailMessage | bytes]:
    """Every message kind in one language."""
    story = STORIES[language]
    composer = letters(zone=str(TEAM_TZ))
    team = dict(language=language, sender=SENDER, composed_at=COMPOSED)
    return {
        **client_letters(language),
        **team_mail(language),
        "signin": composer.signin(**team, to="pm@studio.example", message_id="<dw.sample.s@studio.example>",
                                  server="imap", account="progress@studio.example",
                                  error="imap: the provider refused to renew the sign-in (invalid_grant)",
                                  command="deadlinewatch login imap"),
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
            raw = msg if isinstance(msg, bytes) else msg.as_bytes()
            body = message_from_bytes(raw, policy=default).get_body(("plain",))
            text = body.get_content() if body is not None else ""
            for path, data in ((out / f"{kind}-{language}.eml", raw), (out / f"{kind}-{language}.txt", text.encode())):
                path.write_bytes(data)
                written.append(path)
    return written


if __name__ == "__main__":
    for p in write(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT):
        print(p)
