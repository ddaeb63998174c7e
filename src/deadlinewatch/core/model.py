"""Plain values the core works on. A milestone is a calendar entry the client is promised a date for."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from deadlinewatch.core.words import Phrase, reason


@dataclass(frozen=True)
class Milestone:
    """One VTODO or VEVENT of a project's calendar, keyed by (project, uid).

    `deadline` is an aware datetime: the moment by which the work must be done (CONTRACT.md "Milestones").
    `private` entries (CLASS:PRIVATE/CONFIDENTIAL) are forecast for the team but never shown to the client.
    """

    project: str
    uid: str
    name: str
    deadline: dt.datetime
    kind: str = "VTODO"
    state: str = "open"  # open | done | cancelled
    private: bool = False
    sequence: int = 0
    percent: int | None = None
    start: dt.datetime | None = None
    # RELATED-TO;RELTYPE=FINISHTOSTART on this (the predecessor): (successor UID, GAP in working days)
    successors: tuple[tuple[str, int], ...] = ()

    def start_day(self) -> dt.date | None:
        """The day the work starts: DTSTART's date as the entry wrote it, in the offset `start` carries — an
        all-day DTSTART is kept at the client's midnight, a floating one in the team's zone, one with a TZID in
        its own (the store keeps the offset). Taken in any other zone, an all-day start read a day early for a
        team west of its client, a floating one at midnight a day early where the client is west of the team."""
        return self.start.date() if self.start is not None else None


@dataclass(frozen=True, slots=True)  # a daemon keeps every open milestone's recent notes: no __dict__ each
class Report:
    """What one note said about one milestone, at the note's time."""

    project: str
    uid: str
    at: dt.datetime
    done: int | None = None
    remaining_days: float | None = None
    eta: dt.date | None = None
    cause: str = ""
    plan: str = ""
    blocked: bool = False
    sender: str = ""
    prevent: str = ""  # what keeps it from happening again (Prevent)


@dataclass(frozen=True, slots=True)  # one kept per open milestone between passes
class Forecast:
    """When a milestone will be done, as far as the evidence tells.

    P50 is the date the work is as likely done before as after; P80 the date it is done by four times in five
    (the date we promise a client). `p_miss` is the probability of finishing after `target`: the deadline, or
    once the client was warned, the date we promised.
    """

    project: str
    uid: str
    p50: dt.date | None
    p80: dt.date | None
    p_miss: float | None
    # the reason in English as given (a forecast kept before its words were, and tests); "": from the words
    english: str = ""
    target: dt.date | None = None
    # the team's own date: the latest note's ETA, else the working day its Remaining ends (core/forecast.py
    # team_date) — what the team itself said, which outranks the model when it is later
    team_date: dt.date | None = None
    words: tuple[Phrase, ...] = ()  # the reason as phrases, said in the reader's language

    @property
    def reason(self) -> str:
        """The reason in English, with the dates and the probability (logs, `status`, replay): composed when it is
        read, not when the forecast is made — a first pass makes ten thousand, and these few are read."""
        return self.english or reason(self.words, self.p50, self.p80, self.p_miss)


@dataclass(frozen=True)
class TimelineRow:
    """One client-visible line of the timeline: old date → new date."""

    uid: str
    name: str
    old: dt.date
    new: dt.date
    status: str  # "on track" | "moved" | "done" | …
    sequence: int
    # the UID of the client's entry for this milestone: ours (core/timeline.entry_uid), never the team calendar's
    # `uid` — a program that found the team's UID in the team's own calendar would overwrite that entry
    entry_uid: str = ""
    # the date the client held until this letter, where it is neither the first (`old`) nor the new one: a second
    # move says both what was last promised and what was first agreed
    told: dt.date | None = None
    # the client already holds `new` (this letter does not move it): its `old` is then only the first date agreed,
    # never "was" — a list says "was" of the date the client held until the letter, as a notice does
    known: bool = False


@dataclass(frozen=True)
class NoticeDecision:
    """The policy's decision that a client must hear about a milestone now."""

    project: str
    uid: str
    kind: str  # notice | delivered
    promised: dt.date | None
    slip_days: int
    reason: str
    moved: tuple[str, ...] = field(default_factory=tuple)
    forecast: Forecast | None = None  # what it was decided on (its reason said to the manager in their language)


@dataclass(frozen=True)
class ShowDate:
    """Record what the client's calendar now shows of a milestone: its SEQUENCE only ever grows."""

    project: str
    uid: str
    sequence: int
    shown_date: dt.date | None = None
    promised: dt.date | None = None
    delivered: bool = False
    cancelled: bool = False
    invited: bool = False  # an invitation (iMIP REQUEST) for it goes with this message
    entry_uid: str | None = None  # the UID of the client's entry it shows (kept: an entry keeps its first UID)
    reinstated: bool = False  # a milestone the client was told is cancelled is back in the plan: told so
    # of a return to the plan: the day the team calendar had for it then (one refused is drafted again once it moves)
    planned: dt.date | None = None


@dataclass(frozen=True)
class ClientDate:
    """What the client's calendar shows of a milestone; SEQUENCE only ever grows."""

    sequence: int
    shown_date: dt.date | None
    promised: dt.date | None
    delivered_sent: bool
    cancelled_sent: bool = False
    invited: bool = True  # the client's calendar has it (an invitation went), not only the letters' table

    @staticmethod
    def after(before: ClientDate | None, show: ShowDate) -> ClientDate:
        """What the calendar shows once `show` reaches it: the SEQUENCE never goes back, a date or promise left
        out stays as it was, and a delivered or cancelled message once sent stays sent — until a letter says the
        milestone is back in the plan (`reinstated`). (The one place this rule is written: every store and the
        evaluation's own view go through it.)"""
        if before is None:
            return ClientDate(show.sequence, show.shown_date, show.promised, show.delivered,
                              show.cancelled and not show.reinstated, show.invited)
        return ClientDate(max(before.sequence, show.sequence), show.shown_date or before.shown_date,
                          show.promised or before.promised, before.delivered_sent or show.delivered,
                          (before.cancelled_sent or show.cancelled) and not show.reinstated,
                          before.invited or show.invited)


# --- actions: what a step decided, as data; the store carries them out in one transaction ----------------------


@dataclass(frozen=True)
class QueueMail:
    """Record a message in the outbox, before any attempt to send it (its bytes never change after)."""

    kind: str  # intro | notice | update | cancel | delivered | weekly | reply | forward | nudge | manager-…
    audience: str  # client | team
    token: str
    message_id: str
    mail_from: str
    recipients: tuple[str, ...]
    message: bytes
    created: dt.datetime
    state: str = "pending"  # or "held" (approval = "manager")
    project: str | None = None
    uid: str | None = None
    promised: dt.date | None = None
    not_before: dt.datetime | None = None  # sent no earlier than this (a reminder scheduled for its day)
    decided_by: str | None = None  # who approved it, when a person did as it was recorded (approve --date)
    basis: dt.datetime | None = None  # a notice: the time of the newest note it was composed from
    shadow: bool = False  # a client message composed under approval = "shadow": it goes to the manager alone


@dataclass(frozen=True)
class ManagerNote:
    """What the manager must hear about a client group, as plain data: composed into their messages once the
    group's id exists (`ManagerCopy`), since those messages name it ("approve 12")."""

    names: tuple[tuple[str, str], ...]  # the project's milestone names by UID, as the messages name them
    reason: str  # why, in the team's language
    held: tuple[str, ...] = ()  # why it waits for the manager whatever policy.approval says
    follow_up: dt.date | None = None  # the day the letter promises the client the steps by (a reminder then)
    call: dt.date | None = None  # a second notice: the day the letter says the manager calls the client
    prevent: bool = True  # the letter gave what keeps it from happening again (else the call is to say it)
    call_before: dt.date | None = None  # the client's day the call is to agree what still reaches them before
    copies: tuple[QueueMail, ...] = ()  # the manager's copies of client messages with live calendar parts
    team: tuple[QueueMail, ...] = ()  # messages to the team it causes (an ask), recorded with it
    trigger: str = ""  # a notice: what made it due now (the rule that fired, with its dates)
    approved: ApprovedDate | None = None  # a notice the manager approved with a date of their own


@dataclass(frozen=True)
class ApprovedDate:
    """A notice the manager approved with a date of their own (`approve --date`): what they hear once it went."""

    replaces: int  # the held notice it replaces
    date: dt.date  # the date it gives the client
    team_own: bool = False  # that date is the team's own
    # the forecast's likely and four-in-five dates when they are later (the manager hears the client got an
    # earlier one)
    later: tuple[dt.date, dt.date | None] | None = None


@dataclass(frozen=True)
class QueueGroup:
    """Record client messages decided together (the first the primary) and the dates they give the client's
    calendar; a notice replaces one still held for the same milestone. `about`: what the manager hears of it,
    composed with the primary's id once it is recorded (then carried out as a ManagerCopy)."""

    messages: tuple[QueueMail, ...]
    dates: tuple[ShowDate, ...]
    about: ManagerNote | None = None


@dataclass(frozen=True)
class ManagerCopy:
    """Record the manager's messages about a recorded client group: held, approved or rejected with it."""

    parent: int
    messages: tuple[QueueMail, ...]


@dataclass(frozen=True)
class DecideHeld:
    """Approve (pending) or reject a held client message and the ones that go with it."""

    notice_id: int
    approve: bool
    decided_by: str  # the manager's address, "cli", "timeout"


@dataclass(frozen=True)
class SetOutboxState:
    """Move a message of the outbox to a state (failed after a bounce or a refusal, sending, sent), with the reason.
    With `expect`, only from one of those states (a claim: Carried.refused names the ones another got first)."""

    outbox_id: int
    state: str
    error: str | None = None
    attempt: bool = False  # an attempt to send it begins (counted)
    expect: tuple[str, ...] = ()
    next_attempt: dt.datetime | None = None  # not tried again before this
    decided_by: str = ""  # who (or what) decided it: a withdrawal by the pass reads back as withdrawn (WITHDRAWN)


@dataclass(frozen=True)
class Place:
    """Where the IMAP server keeps a message: its mailbox (the account and folder, `imap.username@imap.host/
    imap.folder`), the folder's UIDVALIDITY and the message's UID. RFC 3501 never gives a UID twice under one
    UIDVALIDITY, so the three name one message for good, whatever its bytes say — a key the server gives, beside
    the Message-ID the message gives: a message is decided once by either."""

    mailbox: str
    uidvalidity: int
    uid: int


@dataclass(frozen=True)
class RecordMessage:
    """A message taken from the inbox, decided: the decision, the notes it carries, the messages it causes, and
    where the server keeps it (None: not known, as for a message recorded by a command rather than read)."""

    message_key: str
    message_id: str
    sender: str
    subject: str
    received_at: dt.datetime
    outcome: str
    target_folder: str
    project: str | None
    problems: tuple[str, ...]
    raw: bytes
    body: str
    reports: tuple[Report, ...] = ()
    outgoing: tuple[QueueMail, ...] = ()
    place: Place | None = None


@dataclass(frozen=True)
class RiskAlert:
    """A manager's risk alert that is up (core/alert.py): what the manager was last told."""

    p_miss: float
    p80: dt.date | None
    target: dt.date | None  # the date the risk is about: the deadline, or the date promised to the client
    raised: dt.datetime


@dataclass(frozen=True)
class SetRiskAlert:
    """A milestone's risk alert goes up (or changes) with `alert`, or comes down with None."""

    project: str
    uid: str
    alert: RiskAlert | None


@dataclass(frozen=True)
class SaveForecasts:
    """Keep these as their milestones' latest forecasts (the ones that changed this pass)."""

    forecasts: tuple[Forecast, ...]


@dataclass(frozen=True)
class SetServer:
    """A server's line in `status`: whether it worked this pass, and what it said."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class RecordPass:
    """A pass (an evaluation) for `status`: ok unless a server was unavailable or refused us."""

    started: dt.datetime
    ok: bool
    summary: str


@dataclass(frozen=True)
class RecordFailure:
    """A failed attempt at processing an inbox message (it stays there and is tried again)."""

    message_key: str
    error: str


@dataclass(frozen=True)
class MarkMoved:
    """Inbox messages filed in their folders: their decisions are complete."""

    message_keys: tuple[str, ...]


@dataclass(frozen=True)
class PruneMail:
    """Forget the raw bytes of inbox messages decided before this time (imap.keep_mail_days)."""

    before: dt.datetime


@dataclass(frozen=True)
class ApplyCalendar:
    """A project's calendar as the server has it now: its sync state, the entries that changed (href, ETag, the
    iCalendar text, recurring) and the milestones parsed from each href, the deleted hrefs gone, and those `kept`
    (unreadable now) left as they were. Carried.gone: the milestones no entry holds any more."""

    project: str
    ref: str
    url: str
    token: str | None
    fingerprint: str
    entries: tuple[tuple[str, str, str, bool], ...]
    parsed: tuple[tuple[str, tuple[Milestone, ...]], ...]
    deleted: tuple[str, ...]
    kept: frozenset[str]


@dataclass(frozen=True)
class SaveCalendarToken:
    """Nothing changed in a project's calendar but its sync token (or the config's fingerprint)."""

    project: str
    ref: str
    url: str
    token: str | None
    fingerprint: str


@dataclass(frozen=True)
class ForgetCalendar:
    """A project's calendar could not be found: look for it again next pass (it may have moved)."""

    project: str


@dataclass(frozen=True)
class FollowServer:
    """The CalDAV account (URL and user) the calendar state belongs to; when another one is recorded, every
    calendar URL, sync token and client-calendar entry of it is forgotten (Carried.forgot)."""

    server: str


@dataclass(frozen=True)
class SaveClientCalendarEntry:
    """What the client-facing calendar copy of a milestone holds now (its URL, ETag, SEQUENCE, date, text)."""

    project: str
    uid: str
    url: str
    etag: str | None
    sequence: int
    date: dt.date
    status: str


@dataclass(frozen=True)
class ForgetClientCalendarEntry:
    """A milestone's entry was taken out of the client-facing calendar copy (it is no longer the client's to see)."""

    project: str
    uid: str


@dataclass(frozen=True)
class SwapUidvalidity:
    """A mail folder's UIDVALIDITY as the server says it now (Carried.uidvalidity: what it was)."""

    folder: str
    uidvalidity: int


# what a step decides; the store carries a decision's actions out, in order, in one transaction (Store.carry_out,
# adapters/store/executor.py) — the one way a pass writes. A ShowDate goes only with the client messages that
# show it (QueueGroup)
Action = (QueueMail | QueueGroup | ManagerCopy | DecideHeld | SetOutboxState | RecordMessage | SetRiskAlert
          | SaveForecasts | SetServer | RecordPass | RecordFailure | MarkMoved | PruneMail | ApplyCalendar
          | SaveCalendarToken | ForgetCalendar | FollowServer | SaveClientCalendarEntry | ForgetClientCalendarEntry
          | SwapUidvalidity)
