"""Writes docs/samples/: every message kind in every built-in language, as .eml and as its plain text — the client's
letters (intro, calendar entry, notice, moved dependant, notice without a plan, second notice, cancel, back in
the plan, delivered, weekly) and the team's (reply, nudge, risk alert, manager's draft, the manager's copy of a
letter, follow-up reminder, forwarded client reply, sign-in).

Nothing here composes a message. Each language has one studio and one story (`STORIES`): a project calendar the
manager keeps, notes the team mails in, a manager who approves, a client who answers, a provider that refuses a
sign-in — and the daemon's real passes (pipeline.run_pass: calendar → inbox → evaluation and nudges → outbox) at
every moment of it, over a real state (SQLite), the outside servers kept in memory. Each sample is what the outbox
handed to the SMTP server at its moment, from the state the moments before it left: the SEQUENCEs, entry UIDs,
dates told and figures are the daemon's own, so what native readers review is what clients and the team get.

Each language's studio is one a reader of it would know: the Bengali one works in Dhaka, Sunday to Thursday, off
on Bangladesh's public holidays (16 December is Victory Day); the others in Istanbul, Monday to Friday.

Run `python scripts/samples.py` after changing a template or a catalog; tests/unit/test_samples.py checks they are
current. `python scripts/samples.py --story` prints each story's mail in the order it went out.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import functools
import json
import sys
import tempfile
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import format_datetime
from pathlib import Path

from deadlinewatch import config as config_mod
from deadlinewatch import manage
from deadlinewatch.adapters.calendar import CalendarEntry, Changes
from deadlinewatch.adapters.clock import FixedClock
from deadlinewatch.adapters.mailbox import Fetched, Listed, Scan
from deadlinewatch.adapters.store import Store
from deadlinewatch.adapters.templates import builtin_languages
from deadlinewatch.core import policy
from deadlinewatch.core.forecast import team_date
from deadlinewatch.core.notes import note_keys
from deadlinewatch.errors import LoginRefused
from deadlinewatch.pipeline import run_pass
from deadlinewatch.services import Services
from deadlinewatch.wiring import letters

OUT = Path(__file__).resolve().parent.parent / "docs" / "samples"
KEY = b"deadlinewatch samples: not a secret" * 2  # the state's key, fixed so that the samples stay the same


@dataclasses.dataclass(frozen=True)
class Story:
    """One studio and its client, in the words a reader of the language would use."""

    # the studio: where it works, its working week, whose public holidays it keeps, when the client hears weekly
    timezone: str
    working_days: tuple[str, ...]
    holidays: str
    weekly: str
    signature: str
    # the client and the project
    client: str
    client_zone: str
    client_holidays: str
    project: str
    tag: str  # the project's id, as the team writes it in its notes' subjects
    progress: str  # a note's subject after the tag
    days: str  # "Remaining: 6 days" as the team writes it
    design: str
    content: str
    launch: str
    training: str
    context: str
    offer: str
    # what the team's notes say: the design's first slip (a cause on the studio's side), then its second
    cause: str
    plan: str
    prevent: str
    cause2: str
    plan2: str
    reply: str  # the client's answer to the first notice


WEEK = ("mon", "tue", "wed", "thu", "fri")
STORIES = {
    # the client's name as the letters address them (client.name): "Dear Jane," in English, not a mail merge's
    # "Dear Jane Doe,"; the full name is how Turkish and Bengali business letters address a client
    "en": Story(
        "Europe/Istanbul", WEEK, "TR", "mon 09:00", "Sarah Mitchell",
        "Jane", "Europe/London", "GB", "ACME Website Relaunch", "acme-web", "progress", "days",
        "Design mockups", "Content migration", "Launch", "Editor training",
        "your annual shareholder meeting on 12 December", "We will not charge for the extra review round.",
        "we underestimated how many page templates the new site needs",
        "a second designer joins on Monday and we review the mockups with you daily",
        "we now count every page template with you before we estimate the design work",
        "the accessibility review found contrast problems in the mockups",
        "we are reworking the colour palette and will send you the revised mockups to approve on Thursday",
        "Thank you for letting us know. Could the home page mockup reach us before the meeting?"),
    "tr": Story(
        "Europe/Istanbul", WEEK, "TR", "mon 09:00", "Deniz Kaya",
        "Ayşe Yılmaz", "Europe/Istanbul", "TR", "Kuzey Lojistik web sitesi yenileme", "kuzey-web", "ilerleme", "gün",
        "Tasarım taslakları", "İçerik aktarımı", "Yayına alma", "Editör eğitimi",
        "12 Aralık'taki yıllık hissedarlar toplantınız", "Ek inceleme turu için ücret almayacağız.",
        "yeni sitenin kaç sayfa şablonu gerektirdiğini olduğundan az hesapladık",
        "pazartesi ekibe ikinci bir tasarımcı katılıyor ve taslakları sizinle her gün gözden geçiriyoruz",
        "artık tasarım süresini tahmin etmeden önce bütün sayfa şablonlarını sizinle birlikte çıkarıyoruz",
        "erişilebilirlik incelemesi taslaklarda renk kontrastı sorunları buldu",
        "renk paletini yeniden düzenliyoruz ve düzeltilmiş taslakları perşembe günü onayınıza sunacağız",
        "Bilgi verdiğiniz için teşekkürler. Ana sayfa taslağı toplantıdan önce elimize ulaşabilir mi?"),
    "bn": Story(
        "Asia/Dhaka", ("sun", "mon", "tue", "wed", "thu"), "BD", "sun 09:00", "তানভীর আহমেদ",
        "রহিমা খাতুন", "Asia/Dhaka", "BD", "পদ্মা টেক্সটাইলস ওয়েবসাইট নবায়ন", "padma-web", "অগ্রগতি", "দিন",
        "ডিজাইনের খসড়া", "কনটেন্ট স্থানান্তর", "ওয়েবসাইট চালু", "এডিটরদের প্রশিক্ষণ",
        "১২ ডিসেম্বরের বার্ষিক শেয়ারহোল্ডার সভা", "বাড়তি পর্যালোচনার জন্য কোনো ফি নেওয়া হবে না।",
        "নতুন ওয়েবসাইটে কতগুলো পেজ টেমপ্লেট লাগবে, তা আমরা কম করে হিসাব করেছিলাম",
        "রবিবার থেকে আরও একজন ডিজাইনার যোগ দিচ্ছেন এবং আমরা প্রতিদিন আপনার সঙ্গে খসড়াগুলো দেখছি",
        "এখন থেকে ডিজাইনের সময় হিসাব করার আগে আমরা আপনার সঙ্গে বসে সব পেজ টেমপ্লেট গুনে নিই",
        "অ্যাক্সেসিবিলিটি পর্যালোচনায় খসড়াগুলোতে রঙের কনট্রাস্টের সমস্যা ধরা পড়েছে",
        "আমরা রঙের প্যালেট নতুন করে সাজাচ্ছি এবং বৃহস্পতিবার সংশোধিত খসড়াগুলো আপনার অনুমোদনের জন্য পাঠাব",
        "জানানোর জন্য ধন্যবাদ। সভার আগে কি হোম পেজের খসড়াটি আমরা পেতে পারি?"),
}

MANAGER, ALICE, BOB, CLIENT = "pm@studio.example", "alice@studio.example", "bob@studio.example", "client@client.example"


def config_text(language: str, folder: Path) -> str:
    """The studio's deadlinewatch.toml, as its manager would write it (the servers' addresses are the story's own:
    nothing connects to them)."""
    story = STORIES[language]
    return f"""\
[daemon]
state_dir = "{folder}/state"
timezone = "{story.timezone}"

[caldav]
url = "https://dav.studio.example/"
username = "pm"
password_file = "{folder}/pw"

[imap]
host = "imap.studio.example"
username = "progress@studio.example"
password_file = "{folder}/pw"
address = "progress@studio.example"
authserv_id = "mx.studio.example"

[smtp]
host = "smtp.studio.example"
from = {json.dumps(f"{story.signature} <{MANAGER}>", ensure_ascii=False)}

[team]
members = ["{ALICE}", "{BOB}"]
manager = "{MANAGER}"
language = "{language}"

[policy]
working_days = {json.dumps(list(story.working_days))}
holidays = "{story.holidays}"
weekly_update = "{story.weekly}"

[[offers]]
min_slip_days = 1
text = {json.dumps(story.offer, ensure_ascii=False)}

[[projects]]
id = "{story.tag}"
name = {json.dumps(story.project, ensure_ascii=False)}
calendar = "{story.tag}"
context = {json.dumps(story.context, ensure_ascii=False)}
signature = {json.dumps(story.signature, ensure_ascii=False)}
client = {{ name = {json.dumps(story.client, ensure_ascii=False)}, email = "{CLIENT}", \
language = "{language}", timezone = "{story.client_zone}", holidays = "{story.client_holidays}" }}
"""



# --- the outside world of a story, in memory: the project calendar, the team's mailbox, the SMTP server ----------


class ProjectCalendar:
    """The studio's CalDAV calendar of the project, as the manager edits it (the calendar port)."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[str, str]] = {}  # href → (ETag, iCalendar text)

    def put_entry(self, uid: str, ics: str) -> None:
        etag = f'"{len(self.entries)}-{hash(ics) & 0xffff:x}"'
        self.entries[f"/{uid}.ics"] = (etag, ics)

    def changes(self, ref: str, url: str | None, token: str | None, etags: Mapping[str, str]) -> Changes:
        changed = [CalendarEntry(href, etag, ics) for href, (etag, ics) in self.entries.items()
                   if etags.get(href) != etag]
        unchanged = [href for href, (etag, _) in self.entries.items() if etags.get(href) == etag]
        return Changes(f"https://dav.studio.example/pm/{ref}/", None, True, changed, unchanged)

    def resolve_url(self, ref: str) -> str:
        raise AssertionError("the story keeps no client-facing calendar")

    def get(self, url: str) -> tuple[str, str] | None:
        raise AssertionError("the story keeps no client-facing calendar")

    def put(self, url: str, ics: str, etag: str | None) -> str | None:
        raise AssertionError("the story keeps no client-facing calendar")

    def delete(self, url: str) -> None:
        raise AssertionError("the story keeps no client-facing calendar")

    def check(self) -> str:
        return "ok"


class TeamMailbox:
    """The progress mailbox the team writes to (the mailbox port); `refusing`: the sign-in its provider refuses."""

    def __init__(self) -> None:
        self.folders: dict[str, dict[int, tuple[bytes, dt.datetime]]] = {"INBOX": {}}
        self.next_uid = 1
        self.refusing: LoginRefused | None = None

    def deliver(self, msg: EmailMessage, at: dt.datetime) -> None:
        """A message arrives, with what the studio's mail server found of its sender (RFC 8601)."""
        domain = str(msg["From"]).rstrip(">").rpartition("@")[2]
        raw = f"Authentication-Results: mx.studio.example; dmarc=pass header.from={domain}\r\n".encode()
        self.folders["INBOX"][self.next_uid] = (raw + msg.as_bytes(), at)
        self.next_uid += 1

    def scan(self, folder: str) -> Scan:
        if self.refusing is not None:
            raise self.refusing
        box = self.folders.setdefault(folder, {})
        return Scan(1, [Listed(uid, str(message_from_bytes(raw, policy=default_policy)["Message-ID"] or ""))
                        for uid, (raw, _) in box.items()])

    def fetch(self, folder: str, uids: list[int] | None = None, max_bytes: int = 0) -> list[Fetched]:
        box = self.folders.setdefault(folder, {})
        return [Fetched(uid, raw, at, len(raw)) for uid, (raw, at) in box.items() if uids is None or uid in uids]

    def move(self, uids: list[int], source: str, target: str) -> None:
        for uid in uids:
            self.folders.setdefault(target, {})[uid] = self.folders[source].pop(uid)

    def contains(self, message_id: str, folders: list[str]) -> bool:
        return False

    def close(self) -> None:
        pass


@dataclasses.dataclass(frozen=True)
class Sent:
    """A message as the SMTP server was handed it, and what the outbox knows of it: its kind, the milestone it is
    about (a manager's message: its client message's), the kind of the client message it rides with or is about."""

    at: dt.datetime
    recipients: tuple[str, ...]
    message: bytes
    kind: str = ""
    uid: str | None = None
    about: str = ""

    @property
    def mail(self) -> EmailMessage:
        msg = message_from_bytes(self.message, policy=default_policy)
        assert isinstance(msg, EmailMessage)
        return msg


class SmtpServer:
    """The studio's SMTP server (the mailer port): what it was handed, and when."""

    def __init__(self, clock: FixedClock) -> None:
        self.clock = clock
        self.sent: list[Sent] = []

    async def send(self, mail_from: str, recipients: Sequence[str], message: bytes, *,
                   before_data: Callable[[], None] = lambda: None) -> dict[str, str]:
        before_data()
        self.sent.append(Sent(self.clock.now(), tuple(recipients), message))
        return {}

    async def check(self) -> str:
        return "ok"


# --- a story: the daemon's passes over it ----------------------------------------------------------------------


class Studio:
    """One studio through a story: its state, its servers in memory, and the daemon's pass at each moment."""

    def __init__(self, language: str, folder: Path) -> None:
        self.language, self.story = language, STORIES[language]
        (folder / "pw").write_text("story\n")
        path = folder / "deadlinewatch.toml"
        path.write_text(config_text(language, folder))
        self.config = config_mod.load(path)
        self.tz = zoneinfo.ZoneInfo(self.config.timezone)
        self.store = Store.open(folder)
        with self.store.transaction() as db:  # the state's key, fixed: the same ids in every run
            db.execute("UPDATE keys SET value = ? WHERE name = 'ids'", (KEY,))
        self.store.key = KEY
        self.store.db.execute("PRAGMA synchronous = OFF")  # a story's state is thrown away after it: no fsync
        self.clock = FixedClock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        self.calendar, self.mailbox, self.smtp = ProjectCalendar(), TeamMailbox(), SmtpServer(self.clock)
        self.svc: Services[Store] = Services(self.config, self.store, self.calendar, lambda: self.mailbox, self.smtp,
                                             self.clock, letters(self.config))
        self.last: dt.datetime | None = None

    def at(self, day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=self.tz)

    def until(self, moment: dt.datetime) -> None:
        """The daemon's passes up to a moment: it runs all the time, but a story needs only its mornings (a date
        coming near, a held notice's time, a silence) and the weekly check-in's slot, when its worker wakes."""
        if self.last is not None:
            project = self.config.projects[0]
            client_tz = zoneinfo.ZoneInfo(project.client.timezone)
            day, wakes = self.last.astimezone(self.tz).date(), set()
            while (morning := self.at(day, 9, 5)) < moment + dt.timedelta(days=1):
                slot = policy.weekly_slot(morning + dt.timedelta(days=1), project.weekly_update, client_tz)
                wakes |= {morning, *([slot + dt.timedelta(minutes=1)] if slot else [])}
                day += dt.timedelta(days=1)
            for wake in sorted(w for w in wakes if self.last < w < moment):
                self.pass_at(wake)
        self.clock.at = moment

    def pass_at(self, moment: dt.datetime) -> None:
        """One pass of the daemon at a moment, as `deadlinewatch once` runs it."""
        self.clock.at = self.last = moment
        report = asyncio.run(run_pass(self.svc))
        assert not [p for p in report.problems if "login" not in p], report.problems

    def then(self, moment: dt.datetime, act: Callable[[], None]) -> None:
        """Something happens at a moment; the daemon's pass a minute later sees it (IDLE wakes it for mail)."""
        self.until(moment)
        act()
        self.pass_at(moment + dt.timedelta(minutes=1))

    # what happens in the story, each followed by the daemon's pass

    def plan(self, moment: dt.datetime, entries: Mapping[str, str]) -> None:
        """The manager puts milestones into the project calendar (or changes them)."""
        self.then(moment, lambda: [self.calendar.put_entry(uid, text) for uid, text in entries.items()])

    def note(self, moment: dt.datetime, sender: str, milestone: str, done: int, remaining: int | None = None,
             **said: str) -> None:
        """A team member mails a progress note, in the team's language and keys."""
        keys = note_keys(self.language)
        lines = [f"{keys['milestone']}: {milestone}", f"{keys['done']}: {done}%"]
        if remaining is not None:
            lines.append(f"{keys['remaining']}: {remaining} {self.story.days}")
        lines += [f"{keys[k]}: {v}" for k, v in said.items()]
        name = sender.split("@")[0].capitalize()
        self.mail(moment, f"{name} <{sender}>", f"[{self.story.tag}] {self.story.progress}", "\n".join(lines))

    def mail(self, moment: dt.datetime, sender: str, subject: str, body: str, **headers: str) -> None:
        msg = EmailMessage(policy=default_policy)
        msg["From"], msg["To"], msg["Subject"] = sender, "progress@studio.example", subject
        msg["Date"] = format_datetime(moment)
        msg["Message-ID"] = f"<story-{self.mailbox.next_uid}@{sender.rstrip('>').rpartition('@')[2]}>"
        for name, value in headers.items():
            msg[name.replace("_", "-")] = value
        msg.set_content(body + "\n")
        self.then(moment, lambda: self.mailbox.deliver(msg, moment))

    def approve(self, moment: dt.datetime, date: dt.date | None = None) -> None:
        """The manager approves the notice that waits for them (`deadlinewatch approve ID [--date DATE]`); the next
        pass sends it."""
        def decide() -> None:
            [held] = [i for i in self.store.outbox(states=("held",), audience="client") if i.parent is None]
            manage.decide(self.store, str(held.id), True, self.config, moment.isoformat(), MANAGER, date)
        self.then(moment, decide)

    def team_date(self, uid: str) -> dt.date:
        """The team's own date for a milestone, as the manager reads it in the draft ("approve with the date …")."""
        c, project = self.svc.composer, self.config.projects[0]
        own = team_date(self.store.reports(project.id, uid), c.workdays, c.team_tz)
        assert own is not None
        return policy.usable(own, c.workdays, c.client_days(project))

    def sent(self) -> list[Sent]:
        """Every message the SMTP server was handed, with what the outbox knows of it."""
        items = {i.message_id: i for i in self.store.outbox()}
        by_id = {i.id: i for i in items.values()}
        out = []
        for sent in self.smtp.sent:
            item = items[str(sent.mail["Message-ID"])]
            parent = by_id.get(item.parent) if item.parent is not None else None
            out.append(dataclasses.replace(sent, kind=item.kind, uid=item.uid or (parent.uid if parent else None),
                                           about=parent.kind if parent else ""))
        return out

    def client_answers(self, moment: dt.datetime, kind: str, uid: str, body: str) -> None:
        """The client answers a letter of theirs (the first of its kind about the milestone)."""
        letter = next(s.mail for s in self.sent() if (s.kind, s.uid) == (kind, uid) and CLIENT in s.recipients)
        self.mail(moment, f"{self.story.client} <{CLIENT}>", f"Re: {letter['Subject']}", body,
                  In_Reply_To=str(letter["Message-ID"]), References=str(letter["Message-ID"]))

    def sign_in_refused(self, moment: dt.datetime, until: dt.datetime) -> None:
        """The mailbox's provider refuses to renew the OAuth sign-in (in adapters/oauth.py's words), until the
        manager signs in again."""
        said = "invalid_grant: Token has been expired or revoked."  # Google's answer to a revoked refresh token
        self.then(moment, lambda: setattr(self.mailbox, "refusing", LoginRefused(
            f"imap: the provider refused to renew the sign-in ({said}); consent may have been withdrawn or "
            "the password changed: run `deadlinewatch login imap`", provider=said)))
        self.then(until, lambda: setattr(self.mailbox, "refusing", None))


def ics(uid: str, name: str, start: dt.date | None, due: dt.date, *, then: str = "", cancelled: bool = False) -> str:
    """A milestone as the manager's calendar program writes it: an all-day VTODO, the work from DTSTART (when it
    has its own) to DUE; `then`: the milestone that builds on it (RFC 9253 finish-to-start)."""
    related = f"RELATED-TO;RELTYPE=FINISHTOSTART:{then}\r\n" if then else ""
    begins = f"DTSTART;VALUE=DATE:{start:%Y%m%d}\r\n" if start else ""
    status = "STATUS:CANCELLED\r\n" if cancelled else ""
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Studio//Planner//EN\r\nBEGIN:VTODO\r\nUID:{uid}\r\n"
            f"DTSTAMP:20261101T080000Z\r\nSUMMARY:{name}\r\n{begins}"
            f"DUE;VALUE=DATE:{due:%Y%m%d}\r\n{related}{status}END:VTODO\r\nEND:VCALENDAR\r\n")


def day(month: int, d: int) -> dt.date:
    return dt.date(2026, month, d)


def tell(language: str, folder: Path) -> list[Sent]:
    """The story of a language's studio, from the day its project goes into the calendar to the launch: every mail
    the daemon sent, in order."""
    s, w = Studio(language, folder), STORIES[language]
    plan = {"design": ics("design", w.design, day(11, 9), day(12, 3), then="content"),
            "content": ics("content", w.content, None, day(12, 8), then="launch"),
            "launch": ics("launch", w.launch, day(12, 17), day(12, 22)),
            "training": ics("training", w.training, day(12, 7), day(12, 10))}
    s.plan(s.at(day(11, 2), 10), plan)  # the introduction
    s.note(s.at(day(11, 10), 15, 30), BOB, w.content, 10)
    s.note(s.at(day(11, 12), 15, 30), ALICE, w.design, 15)
    s.note(s.at(day(11, 17), 15, 30), BOB, w.content, 30)
    s.note(s.at(day(11, 19), 15, 30), ALICE, w.design, 45)
    # the content migration needs longer than planned; no cause or plan yet: the manager sends the team's date
    s.note(s.at(day(11, 23), 15, 30), BOB, w.content, 35, 12)
    s.approve(s.at(day(11, 24), 9, 30), date=s.team_date("content"))
    # the design slips: the cause, what we do about it, what keeps it from happening again
    s.note(s.at(day(11, 25), 16, 30), ALICE, w.design, 70, 7,
           **{"cause": w.cause, "plan": w.plan, "prevent": w.prevent})
    s.approve(s.at(day(11, 26), 9, 30))
    s.client_answers(s.at(day(11, 26), 13, 10), "notice", "design", w.reply)
    s.note(s.at(day(11, 30), 11, 0), BOB, w.content, 55, 5)
    s.note(s.at(day(12, 2), 11, 0), ALICE, w.design, 75, 8, **{"cause": w.cause2, "plan": w.plan2})
    plan["training"] = ics("training", w.training, day(12, 7), day(12, 10), cancelled=True)
    s.plan(s.at(day(12, 3), 11, 0), plan)
    s.sign_in_refused(s.at(day(12, 7), 8, 0), s.at(day(12, 7), 12, 0))
    # the client asks for the training after all: back in the plan, a week later
    plan["training"] = ics("training", w.training, day(12, 14), day(12, 17))
    s.plan(s.at(day(12, 8), 10, 0), plan)
    s.note(s.at(day(12, 11), 10, 0), BOB, w.training, 30, 2)
    s.note(s.at(day(12, 14), 15, 30), ALICE, w.design, 100)
    s.note(s.at(day(12, 15), 15, 30), BOB, w.content, 80, 3)
    s.note(s.at(day(12, 16), 15, 0), BOB, w.training, 100)
    s.note(s.at(day(12, 17), 15, 30), BOB, w.content, 100)
    s.until(s.at(day(12, 21), 12, 30))  # the week of the launch: its weekly update
    return s.sent()


@functools.cache  # a story is told once, whatever asks for it
def story(language: str) -> tuple[Sent, ...]:
    with tempfile.TemporaryDirectory() as folder:
        return tuple(tell(language, Path(folder)))


def samples(language: str) -> dict[str, bytes]:
    """Every message kind in one language, each the one of the story a reader should see."""
    told = story(language)

    def first(kind: str, uid: str | None = None, about: str | None = None, nth: int = 0) -> Sent:
        return [s for s in told if s.kind == kind and uid in (None, s.uid) and about in (None, s.about)][nth]

    draft = first("manager-draft", "design")
    picked = {
        "intro": first("intro"), "update": first("update", about=""),
        "notice-no-plan": first("notice", "content"), "manager-follow-up": first("manager-follow-up"),
        "notice": first("notice", "design"), "moved": first("update", about="notice"),
        "manager-draft": draft, "reply": next(s for s in told if s.kind == "reply" and s.at == draft.at),
        "manager-copy": first("manager-copy", "design", "notice"), "forward": first("forward"),
        "notice-again": first("notice", "design", nth=1), "cancel": first("cancel"), "reinstate": first("reinstate"),
        "signin": first("manager-signin"), "delivered": first("delivered"),
        "weekly": [s for s in told if s.kind == "weekly"][-1],
        "nudge": first("nudge"), "alert": first("manager-alert"),
    }
    return {kind: sent.message for kind, sent in picked.items()}


def write(out: Path = OUT) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for language in builtin_languages():
        for kind, raw in samples(language).items():
            body = message_from_bytes(raw, policy=default_policy).get_body(("plain",))
            text = body.get_content() if body is not None else ""
            for path, data in ((out / f"{kind}-{language}.eml", raw), (out / f"{kind}-{language}.txt", text.encode())):
                path.write_bytes(data)
                written.append(path)
    return written


if __name__ == "__main__":
    if "--story" in sys.argv:
        for language in [a for a in sys.argv[1:] if not a.startswith("-")] or builtin_languages():
            print(f"== {language}")
            for sent in story(language):
                print(f"{sent.at.astimezone(zoneinfo.ZoneInfo(STORIES[language].timezone)):%a %d %b %H:%M}  "
                      f"{sent.kind:<18} {sent.uid or '':<9} {sent.mail['Subject']}")
        sys.exit()
    for p in write(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT):
        print(p)
