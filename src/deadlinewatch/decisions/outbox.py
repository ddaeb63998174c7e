"""What becomes of outbox messages, decided from plain data (pure): held messages released undecided when
`approval_hours` passed or the deadline comes near (`decide_release`), a sent message's refused recipients and
the manager told (`settle`), and the back-off of a temporary failure.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from deadlinewatch.adapters.store.port import WITHDRAWN, OutboxItem
from deadlinewatch.core import policy
from deadlinewatch.core.milestones import said_done
from deadlinewatch.core.model import Action, DecideHeld, Milestone, SetOutboxState
from deadlinewatch.core.words import Phrase, _, phrase
from deadlinewatch.decisions.manager_mail import compose_manager_message
from deadlinewatch.decisions.project_view import ProjectView, agreed_day
from deadlinewatch.decisions.studio import Studio, bare

MAX_BACKOFF = dt.timedelta(hours=1)
# the client refused for now (4xx: greylisted, a full mailbox) is tried again for this long from the first such
# refusal — counted from then, not in tries (an SMTP outage before it spent tries, not the client's patience) —
# and then the message fails, and the manager hears of it
RECIPIENT_PATIENCE = dt.timedelta(hours=6)
FOR_NOW = "refused for now since "  # how the first refusal's time is kept with the reason (the message's last error)


def kept_refusal(previous: str | None, error: str) -> str:
    """A message's new last error, keeping when its client was first refused for now (an SMTP outage between two
    refusals must not start the client's six hours again)."""
    since = _refused_since(previous)
    return _refused(since, error) if since is not None else error


def _refused(since: dt.datetime, error: str) -> str:
    """An error with when the client was first refused for now kept before it (read back by `_refused_since`)."""
    return f"{FOR_NOW}{since.isoformat()}: {error}"


def _refused_since(error: str | None) -> dt.datetime | None:
    """When the client was first refused for now, as `settle` kept it in the message's last error; None if not."""
    if not error or not error.startswith(FOR_NOW):
        return None
    try:
        return dt.datetime.fromisoformat(error[len(FOR_NOW):].partition(": ")[0])
    except ValueError:
        return None
# the client messages about one milestone's date (an introduction names its first milestone too, a cancellation is
# the news itself): what a cancellation since makes wrong
ABOUT_THE_MILESTONE = ("notice", "delivered", "update", "reinstate")
@dataclass(frozen=True)
class Overtaken:
    """Why a held client message may no longer go out, declared once with each wording of it: the manager's note
    when it is withdrawn, the answer to an approval by mail or on the page, and the `approve` command's refusal
    (English, as the commands speak; {id} the message's number)."""

    withdrawn: Phrase
    refused: Phrase
    command: str


def _command(why: str) -> str:
    """The `approve` command's refusal of a message whose milestone changed since, the change in English."""
    return f"notice #{{id}} cannot go out: its milestone {why} in the team calendar since; reject it (deadlinewatch " \
        "reject {id})"


# each wording whole in the catalogs (a translator reads a sentence, not a frame with a clause put in)
CANCELLED = Overtaken(
    phrase(_("withdrawn, never sent: its milestone was cancelled in the team calendar since")),
    phrase(_("it cannot go out: its milestone was cancelled in the team calendar since; nothing changed: answer "
             "reject to close it")),
    _command("was cancelled"))
DONE = Overtaken(
    phrase(_("withdrawn, never sent: its milestone was completed in the team calendar since")),
    phrase(_("it cannot go out: its milestone was completed in the team calendar since; nothing changed: answer "
             "reject to close it")),
    _command("was completed"))
REOPENED = Overtaken(
    phrase(_("withdrawn, never sent: its milestone is open again in the team calendar since")),
    phrase(_("it cannot go out: its milestone is open again in the team calendar since; nothing changed: answer "
             "reject to close it")),
    _command("is open again"))
SAID_DONE = Overtaken(
    phrase(_("withdrawn, never sent: its milestone is done since (a note said Done: 100%)")),
    phrase(_("it cannot go out: its milestone is done since (a note said Done: 100%); nothing changed: answer reject "
             "to close it")),
    "notice #{id} cannot go out: its milestone is done since (a note said Done: 100%); reject it (deadlinewatch "
    "reject {id})")
UNDONE = Overtaken(
    phrase(_("withdrawn, never sent: its milestone is not done after all — open again in the team calendar, or a "
             "later note gave less than Done: 100%")),
    phrase(_("it cannot go out: its milestone is not done after all — open again in the team calendar, or a later "
             "note gave less than Done: 100%; nothing changed: answer reject to close it")),
    "delivered note #{id} cannot go out: its milestone is not done after all (open again in the team calendar, or a "
    "later note gave less than Done: 100%); reject it (deadlinewatch reject {id})")
SUPERSEDED = Overtaken(
    phrase(_("withdrawn, never sent: a notice told the client newer dates since, and this check-in's timeline would "
             "contradict it; the next check-in shows them")),
    phrase(_("it cannot go out: a notice told the client newer dates since, and this check-in's timeline would "
             "contradict it; nothing changed: answer reject to close it")),
    "check-in #{id} was made before a notice told the client newer dates: its timeline would contradict that "
    "notice; reject it (deadlinewatch reject {id}) — the next check-in shows the new dates")


# the letters that tell the client a date: a new one, a dependant's moved one, one back in the plan
NEWS_OF_A_DATE = ("notice", "update", "reinstate")
# the client letters a note can make wrong before they go: news of a date once a note said Done: 100%, a delivered
# note once a later one took it back (overtaken's `said`)
SAID_MATTERS = (*NEWS_OF_A_DATE, "delivered")


def overtaken(item: OutboxItem, state: str | None, told: dt.datetime | None, said: bool | None = None
              ) -> Overtaken | None:
    """Why a held client message may no longer go — withdrawn when its time comes, refused when approved — from
    its milestone's state in the team calendar now (`state`, None for none), what its notes say of it being done
    (`said`, core.milestones.said_done) and when its project's latest notice that told the client went out
    (`told`, went_out): a letter about a milestone cancelled since; a notice (or a move, a return to the plan)
    about one completed since, in the calendar or by a note — its delivered note is the news; a delivered note of
    one not done after all; a cancellation of one open again; a check-in a notice has overtaken (`superseded`).
    None when it may go."""
    if item.kind in ABOUT_THE_MILESTONE and state == "cancelled":
        return CANCELLED
    if item.kind in NEWS_OF_A_DATE and state == "done":
        return DONE
    if item.kind in NEWS_OF_A_DATE and state == "open" and said:
        return SAID_DONE
    # delivered: by the calendar, or by a note's Done: 100% while the calendar keeps it open (effective_state)
    if item.kind == "delivered" and state == "open" and not said:
        return UNDONE
    if item.kind == "cancel" and state not in (None, "cancelled"):
        return REOPENED
    if superseded(item, told):
        return SUPERSEDED
    return None


def went_out(sent: Mapping[str, dt.datetime], unsent: Collection[str], now: dt.datetime) -> dt.datetime:
    """When a project's latest notice that told its client went out: now, while one approved is on its way."""
    return now if unsent else max(sent.values(), default=dt.datetime.min.replace(tzinfo=dt.UTC))


def cannot_go(item: OutboxItem, pv: ProjectView, now: dt.datetime) -> Overtaken | None:
    """Why a held client message may not be approved (`overtaken`), from its project as the client knows it; None
    when it may."""
    state = next((m.state for m in pv.milestones if m.uid == item.uid), None) if item.uid else None
    return overtaken(item, state, went_out(pv.sent, pv.unsent, now), said_done(pv.reports.get(item.uid or "", [])))


def superseded(item: OutboxItem, told: dt.datetime | None) -> bool:
    """A held check-in made before a notice told its client newer dates (`told`: when its project's latest notice
    that told the client went out, went_out): its timeline is out of date, and would go out after the news. A
    notice made in the same pass, or before it and approved since, went out after it: overtaken too."""
    return item.kind == "weekly" and told is not None and told > item.created


def due(items: Sequence[OutboxItem], now: dt.datetime) -> list[OutboxItem]:
    """The messages whose turn has come, oldest first — but a client message waits while an older one of its
    project waits for its retry: the client reads its letters in the order they were written, and a notice's new
    date is never followed by the older one it replaced (an outage longer than a retry reordered them)."""
    waiting: dict[str | None, int] = {}  # each project's oldest client message waiting for its retry
    for i in items:
        if i.audience == "client" and i.next_attempt is not None and i.next_attempt > now:
            waiting[i.project] = min(waiting.get(i.project, i.id), i.id)
    return [i for i in items if (i.next_attempt is None or i.next_attempt <= now)
            and not (i.audience == "client" and i.id > waiting.get(i.project, i.id))]


# what an unsent client message's milestone may have become since it was approved (or made, unheld): its letter
# would tell the client what is no longer so. A return to the plan, and a check-in, follow rules of their own
WITHDRAWN_UNSENT = ("notice", "update", "delivered", "cancel")


def withdraw_overtaken(c: Studio, unsent: Sequence[OutboxItem], milestones: Sequence[Milestone],
                       now: dt.datetime, said: Mapping[tuple[str, str], bool] | None = None) -> list[Release]:
    """Client messages on their way (approved, or never held) about a milestone the team calendar has changed
    since (`overtaken`: cancelled, completed, open again): withdrawn before they go, with the manager's note — the
    approval or the pass that made them came before the change. What goes with one is withdrawn with it: a
    dependant's update, and the manager's copy and reminders of it (a call about a letter that never went), as a
    held one's are; each reads back as withdrawn by the pass (WITHDRAWN), never as the manager's rejection. Each
    Release's first action is the withdrawal; the note follows it. `unsent`: every pending message; `said`: what the
    notes of their milestones say of them being done (said_done, by project and UID; none where no note gave a
    percent)."""
    states, names = _states_and_names(milestones)
    out: list[Release] = []
    gone_ids: set[int] = set()
    for item in unsent:
        if item.audience != "client" or item.state != "pending" or item.parent is not None or not item.uid \
                or item.kind not in WITHDRAWN_UNSENT:
            continue
        key = (item.project or "", item.uid)
        gone = overtaken(item, states.get(key), None, (said or {}).get(key))
        if gone is None:
            continue
        gone_ids.add(item.id)
        out.append(_withdrawal(c, item, names.get(item.project, {}), gone, now, SetOutboxState(
            item.id, "rejected", str(gone.withdrawn), expect=("pending",), decided_by=WITHDRAWN), on_its_way=True))
    out += [Release(item.id, f"goes with #{item.parent}, withdrawn", (
        SetOutboxState(item.id, "rejected", f"goes with #{item.parent}, withdrawn", expect=("pending",),
                       decided_by=WITHDRAWN),), withdrawn=True, on_its_way=True)
            for item in unsent if item.parent in gone_ids and item.state == "pending"]
    return out


def backoff(attempts: int) -> dt.timedelta:
    return min(dt.timedelta(minutes=2 ** max(attempts - 1, 0)), MAX_BACKOFF)


@dataclass(frozen=True)
class Release:
    """A held client message whose time has come — released undecided, or withdrawn — or one on its way withdrawn
    (`on_its_way`): its first action decides it, the rest (the manager's note, what goes with it) follow it only
    if that decision took (the message may have been decided or claimed meanwhile)."""

    id: int
    why: str
    actions: tuple[Action, ...]
    withdrawn: bool = False  # rejected, not released: its milestone was cancelled since
    on_its_way: bool = False  # approved (or never held), withdrawn before the SMTP exchange


@dataclass(frozen=True)
class OutboxSnapshot:
    """What the outbox decides from before any SMTP exchange, read at once (stages/outbox.snapshot): the client
    letters held for the manager, every message on its way (pending), the milestones, and — for those letters —
    the dates last promised (by project and UID), when each project with a held check-in last told its client of
    a notice (went_out), and what the milestones' notes say of them being done (said_done)."""

    held: Sequence[OutboxItem] = ()
    unsent: Sequence[OutboxItem] = ()
    milestones: Sequence[Milestone] = ()
    promised: Mapping[tuple[str, str], dt.date] = field(default_factory=dict)
    told: Mapping[str, dt.datetime] = field(default_factory=dict)
    said: Mapping[tuple[str, str], bool] = field(default_factory=dict)


def decide_outbox(c: Studio, snap: OutboxSnapshot, now: dt.datetime) -> list[Release]:
    """Before sending, in one decision: the held letters whose time has come, released or withdrawn (decide_release,
    each with its unsent draft to the manager), then the letters on their way that their milestones have made
    wrong, withdrawn (withdraw_overtaken)."""
    drafts: dict[int, list[int]] = {}  # the manager's drafts not sent yet, by the letter they ask about
    for d in snap.unsent:
        if d.kind == "manager-draft" and d.parent is not None:
            drafts.setdefault(d.parent, []).append(d.id)
    return [*decide_release(c, snap.held, snap.milestones, now, snap.promised, snap.told, snap.said, drafts),
            *withdraw_overtaken(c, snap.unsent, snap.milestones, now, snap.said)]


def _states_and_names(milestones: Sequence[Milestone]
                      ) -> tuple[dict[tuple[str, str], str], dict[str | None, dict[str, str]]]:
    """Each milestone's state in the team calendar, and each project's milestone names as the manager's notes say
    them."""
    names: dict[str | None, dict[str, str]] = {}
    for m in milestones:
        names.setdefault(m.project, {})[m.uid] = m.name
    return {(m.project, m.uid): m.state for m in milestones}, names


def _withdrawal(c: Studio, item: OutboxItem, names: Mapping[str, str], gone: Overtaken, now: dt.datetime,
                withdraw: Action, on_its_way: bool = False) -> Release:
    """A client message the team calendar has made wrong, withdrawn (`withdraw`: a held one decided, an approved
    one moved: `on_its_way`), with the manager's note saying why."""
    note = compose_manager_message(c, item, names, "decided", c.letters.say(c.config.team.language,
                                                                            [gone.withdrawn]), now)
    return Release(item.id, str(gone.withdrawn), (withdraw, note), withdrawn=True, on_its_way=on_its_way)


def decide_release(c: Studio, held: Sequence[OutboxItem], milestones: Sequence[Milestone],
                   now: dt.datetime, promised: Mapping[tuple[str, str], dt.date] | None = None,
                   told: Mapping[str, dt.datetime] | None = None, said: Mapping[tuple[str, str], bool] | None = None,
                   drafts: Mapping[int, Sequence[int]] | None = None) -> list[Release]:
    """Which held client messages go out undecided now: after `approval_hours`, or one working day before the
    date the client holds — the deadline, or the later date they were last promised (`promised`, by project and
    milestone: a second notice is not rushed out by a deadline long past) — whichever is first. Each is released
    with the manager's note of it, or neither is. One its milestone has made wrong since (`overtaken`, with what
    its notes say of it being done: `said`, as withdraw_overtaken's), or a check-in a notice has overtaken
    (`superseded`), never goes: it is withdrawn, and the manager told. A released message's draft to the manager
    not sent yet (`drafts`: the pending drafts' ids by their message's) is withdrawn with it: asking the manager to
    approve a letter already on its way (made within a working day of its date, it is released in the pass that
    made it) is a question they cannot answer — the note of its release says what went."""
    deadlines = {(m.project, m.uid): m.deadline for m in milestones}
    states, names = _states_and_names(milestones)
    projects = {p.id for p in c.config.projects}
    out = []
    told = dict(told or {})
    # notices first: one released now tells its client newer dates, which a check-in held with it (plan_weekly:
    # it waited for the notice) would contradict minutes later — it is superseded, withdrawn
    for item in sorted(held, key=lambda i: i.kind != "notice"):
        if item.parent is not None:
            continue  # it goes with its primary
        named = names.get(item.project, {})
        key = (item.project or "", item.uid or "")
        state = states.get(key) if item.uid else None
        if (gone := overtaken(item, state, told.get(item.project or ""), (said or {}).get(key))) is not None:
            out.append(_withdrawal(c, item, named, gone, now, DecideHeld(item.id, False, WITHDRAWN)))
            continue
        deadline = deadlines.get((item.project or "", item.uid or ""))
        deadline_day = agreed_day(c.config.project(item.project), deadline) if deadline and item.project in projects \
            else None
        when, why = policy.hold_expiry(item.created, c.config.policy.approval_hours, deadline_day, c.workdays,
                                       c.team_tz, (promised or {}).get((item.project or "", item.uid or "")))
        if now < when:
            continue
        words = c.letters.say(c.config.team.language, [why])
        unasked = tuple(SetOutboxState(d, "rejected", UNASKED, expect=("pending",), decided_by=WITHDRAWN)
                        for d in (drafts or {}).get(item.id, ()))
        if item.kind == "notice" and item.project:
            told[item.project] = now
        out.append(Release(item.id, str(why), (DecideHeld(item.id, True, "timeout"),
                                               # the letter as it went out, and the date it gave: the
                                               # manager may never have seen its draft (withdrawn below, unasked)
                                               compose_manager_message(c, item, named, "released", words, now,
                                                                       draft=item.message, promised=item.promised),
                                               *unasked)))
    return out


UNASKED = "not sent: the letter it asks about went out first, undecided"  # a released letter's unsent draft


@dataclass
class Settled:
    """What one SMTP exchange comes to: the actions (its state, the manager's note), and what the pass says."""

    actions: list[Action]
    sent: bool
    events: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def settle(c: Studio, item: OutboxItem, refused: Mapping[str, str], names: Mapping[str, str],
           now: dt.datetime) -> Settled:
    """The outcome of one SMTP exchange, recipient by recipient: failed when the client (or, in shadow mode, the
    manager) or everyone was refused, else sent; the manager hears of a client message that failed or reached
    only some of its recipients. The state and the note go together: a crash between them would lose the note."""
    essential = {a.lower() for a in item.recipients[:1]}
    lost = {a.lower(): why for a, why in refused.items()}
    if len(lost) == len(item.recipients) or essential & set(lost):
        reason = "; ".join(f"{a}: {why}" for a, why in refused.items())
        deciding = [why for a, why in lost.items() if a in essential] or list(lost.values())
        for_now = all(why[:1] == "4" for why in deciding)  # refused for now (4xx), not for good (5xx)
        since = (_refused_since(item.last_error) or now) if for_now else now
        if for_now and now - since < RECIPIENT_PATIENCE:
            # "451 greylisted", "452 mailbox full": the client's server asks us to come back later, as for a
            # server's own 4xx (nothing went to anyone: the mailer sends no copy without the client's)
            later = now + backoff(item.attempts + 1)
            return Settled([SetOutboxState(item.id, "pending", _refused(since, reason),
                                           next_attempt=later, expect=("sending",))],
                           False, problems=[f"message #{item.id} ({item.kind}): {reason}; tried again from "
                                            f"{later.isoformat(timespec='minutes')}"])
        if for_now:
            reason += f" (still refused for now {RECIPIENT_PATIENCE.total_seconds() / 3600:.0f} hours after the first)"
        failed: list[Action] = [SetOutboxState(item.id, "failed", reason)]
        if item.audience == "client":
            failed.append(compose_manager_message(c, item, names, "failed", reason, now))
        return Settled(failed, False, problems=[f"message #{item.id} ({item.kind}) refused by the SMTP server: "
                                                f"{reason}"])
    others = ", ".join(sorted(lost))
    done = Settled([SetOutboxState(item.id, "sent", "; ".join(f"{a}: {w}" for a, w in refused.items()) or None)],
                   True, events=[f"sent #{item.id} ({item.kind}) to {', '.join(item.recipients)}"])
    if lost and item.audience == "client":
        if bare(c.config.team.manager).lower() not in lost:
            done.actions.append(compose_manager_message(c, item, names, "failed", f"refused for {others}", now,
                                                        detail="The client's own copy was delivered."))
        done.problems.append(f"message #{item.id}: these recipients were refused: {others}")
    return done
