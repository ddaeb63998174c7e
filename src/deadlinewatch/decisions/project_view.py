"""A project as its client knows it: the milestones they may see, their notes, and the dates their calendar
shows — what every client letter and the client-facing calendar are made from (pure; stages/state.py reads it).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import operator
import zoneinfo
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from deadlinewatch.adapters.store.port import RECENT_REPORTS, SHADOW, WITHDRAWN
from deadlinewatch.config.schema import Project
from deadlinewatch.core import timeline
from deadlinewatch.core.forecast import last_work_day
from deadlinewatch.core.letters import Progress
from deadlinewatch.core.milestones import effective_state
from deadlinewatch.core.model import (
    ClientDate,
    Milestone,
    Report,
    ShowDate,
    TimelineRow,
)

# the states of a client group whose news the client does not have: held for the manager, rejected (by the manager,
# or withdrawn by the pass), or refused by the client's server (failed: the manager was told; its date is judged as a
# rejected one's, never as one told)
WITHHELD = ("held", "rejected", "failed", WITHDRAWN)
# and what the client's own page, feed and calendar copy leave out: a group composed under approval = "shadow" too
NOT_TOLD = (*WITHHELD, SHADOW)


def not_told(project: Project) -> tuple[str, ...]:
    """The states of a client group the policy and the letters judge as not told: WITHHELD, and, once the project
    is out of approval = "shadow", a group composed under it (under shadow, the manager sees what the
    client would have got: its groups count as told)."""
    return WITHHELD if project.approval == SHADOW else NOT_TOLD


def agreed_day(project: Project, deadline: dt.datetime) -> dt.date:
    """The day agreed with the client: the deadline's day where the client is (an all-day entry is the client's
    day, which in a zone east of the client ends in the small hours of the next day). The one rule: the forecasts
    and the policy (ProjectView.agreed), the plans the team's spread is learned from, the dates a held notice may
    be approved with and the hold's release all count to this day, so that a team west or east of its client
    never reads a date a day off from the one the client holds."""
    return last_work_day(deadline, zoneinfo.ZoneInfo(project.client.timezone))


@dataclass(frozen=True)
class ProjectView:
    """A project as the client knows it: milestones, their reports, the calendar dates the client has."""

    project: Project
    milestones: list[Milestone]
    reports: dict[str, list[Report]]
    dates: dict[str, ClientDate]
    page_token: str | None = None  # the client page's token, once the [web] pages made one
    told: dict[str, dt.datetime] = field(default_factory=dict)  # when each milestone's latest notice told was made
    # the latest date decided for a milestone and not told — held for the manager or rejected — when it is newer
    # than what the client was told: what the policy judges a new decision against (no re-deciding every pass)
    withheld: dict[str, dt.date] = field(default_factory=dict)
    held: dict[str, dt.datetime] = field(default_factory=dict)  # when each notice still held was recorded
    # the UID of each milestone's entry in the client's calendar, as it first went out (the store keeps it); a
    # milestone not sent yet gets ours, keyed with `key` (timeline.entry_uid) — never the team calendar's UID
    entry_uids: Mapping[str, str] = field(default_factory=dict)
    key: bytes = b""
    # milestones every invitation of which was rejected: the client's calendar never had their entry
    uninvited: frozenset[str] = frozenset()
    # milestones whose entry the client's calendar has: an invitation for it was told (not held, rejected or failed);
    # None where the view was not judged (every invitation decided counts)
    in_calendar: frozenset[str] | None = None
    sent: dict[str, dt.datetime] = field(default_factory=dict)  # when each milestone's latest notice told went out
    unsent: frozenset[str] = frozenset()  # milestones whose latest notice told has not gone out yet (approved)
    # milestones the client was told are cancelled (a cancellation not held, rejected or failed); None where the
    # view was not judged (every cancellation decided counts)
    told_cancelled: frozenset[str] | None = None
    # milestones whose letter saying they are back in the plan is on its way (held for the manager, approved, being
    # sent), and the dates of the latest such letter the manager rejected or the client's server refused (one the
    # pass withdrew — its milestone cancelled again — is neither: due again once it reopens)
    return_pending: frozenset[str] = frozenset()
    return_refused: Mapping[str, ShowDate] = field(default_factory=dict)
    # each deadline's agreed day, worked out once per view (agreed): a pass asks for it two or three times a
    # milestone; a view made again (dataclasses.replace) starts it afresh
    _agreed: dict[dt.datetime, dt.date] = field(default_factory=dict, init=False, repr=False, compare=False)

    def page_url(self, base_url: str) -> str:
        """The client's page on the [web] pages, when they are served and reachable."""
        return f"{base_url.rstrip('/')}/p/{self.page_token}/" if base_url and self.page_token else ""

    def feed_url(self, base_url: str) -> str:
        """The feed the letters link: `client_feed_url`, else the project's feed on the [web] pages, else none."""
        if self.project.client_feed_url:
            return self.project.client_feed_url
        page = self.page_url(base_url)
        return f"{page}timeline.ics" if page else ""

    @property
    def client_tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.project.client.timezone)

    def state(self, m: Milestone) -> str:
        return effective_state(m, self.reports.get(m.uid, []))

    def visible(self) -> list[Milestone]:
        """Milestones the client may see: not private, not cancelled — in the team calendar, nor for the client
        (told it is cancelled, and not yet told it is back: cancelled_for_client)."""
        return [m for m in self.milestones
                if not m.private and m.state != "cancelled" and not self.cancelled_for_client(m)]

    def sequence(self, m: Milestone) -> int:
        """The SEQUENCE of the client's entry for `m` as last decided (held or rejected ones too), or the team's."""
        cd = self.dates.get(m.uid)
        return max(cd.sequence if cd else 0, m.sequence)

    def next_sequence(self, m: Milestone) -> int:
        """The one rule of SEQUENCE (RFC 5546): every change the client's calendar must take — a new date, a
        cancellation, a moved dependant — goes out above every SEQUENCE decided for its entry, so it only grows."""
        return self.sequence(m) + 1

    def agreed(self, m: Milestone) -> dt.date:
        """The day agreed with the client (agreed_day): team mail, forecasts and the policy count to it."""
        day = self._agreed.get(m.deadline)
        if day is None:
            day = self._agreed[m.deadline] = agreed_day(self.project, m.deadline)
        return day

    def believed_cancelled(self, m: Milestone) -> bool:
        """Does the client hold this milestone for cancelled with no letter saying it is back on its way (none
        decided, or the last one rejected, refused or withdrawn)?"""
        return self.cancelled_for_client(m) and m.uid not in self.return_pending

    def cancelled_for_client(self, m: Milestone) -> bool:
        """Does the client hold this milestone for cancelled — told so, and not told since that it is back in the
        plan (a return held for the manager told nothing)? Their page, feed, calendar copy and letters then leave it
        out, as they leave out one cancelled in the team calendar."""
        if self.told_cancelled is not None:
            return m.uid in self.told_cancelled
        cd = self.dates.get(m.uid)
        return cd is not None and cd.cancelled_sent

    def shown(self, m: Milestone) -> dt.date:
        cd = self.dates.get(m.uid)
        return cd.shown_date if cd and cd.shown_date else self.agreed(m)

    def entry_uid(self, uid: str) -> str:
        """The UID of a milestone's entry in the client's calendar: the one it went out with, else ours; "" in a
        view made without the key (calendar data is then refused, never made with the team's UID)."""
        known = self.entry_uids.get(uid)
        if known or not self.key:
            return known or ""
        return timeline.entry_uid(self.key, self.project.id, uid)

    def rows(self, override: Mapping[str, tuple[dt.date, int]] | None = None) -> tuple[TimelineRow, ...]:
        """The client-visible timeline: old date → new date, with each entry's SEQUENCE and UID."""
        override = override or {}
        out = []
        for m in self.visible():
            old = self.agreed(m)
            held = self.shown(m)
            new, seq = override.get(m.uid, (held, self.sequence(m)))
            status = "done" if self.state(m) == "done" else "moved" if new != old else "on track"
            out.append(TimelineRow(m.uid, m.name, old, new, status, seq, self.entry_uid(m.uid),
                                   told=held if held not in (old, new) else None, known=new == held))
        return tuple(out)


    def progress(self, since: dt.datetime) -> list[Progress]:
        """Each client-visible milestone's progress since a moment: percent done then and now, notes since."""
        out = []
        for row in self.rows():
            history = self.reports.get(row.uid, [])
            before = next((r.done for r in reversed(history) if r.done is not None and r.at <= since), None)
            now_done = 100 if row.status == "done" else next(
                (r.done for r in reversed(history) if r.done is not None), None)
            out.append(Progress(row, before, now_done, sum(1 for r in history if r.at > since)))
        return out

    def as_told(self, groups: Sequence[tuple[str, Sequence[ShowDate]]]) -> ProjectView:
        """The project as the client has actually been told it (`told`: what the pages and the client-facing
        calendar show): no group held, rejected, or composed under approval = "shadow" (it went to the manager)."""
        dates = told(self.dates, groups, NOT_TOLD)
        # a cancellation the client was not told (held for the manager, rejected, refused): they still hold the
        # milestone at the date they were told, as their page, feed and calendar copy show it until one goes out
        untold = {d.uid for state, shows in groups if state in NOT_TOLD for d in shows if d.cancelled}
        live = [dataclasses.replace(m, state="open") if m.state == "cancelled" and m.uid in untold
                and (cd := dates.get(m.uid)) is not None and cd.shown_date is not None and not cd.cancelled_sent
                else m for m in self.milestones] if untold else self.milestones
        if dates is self.dates and live is self.milestones:
            return self
        return dataclasses.replace(self, dates=dates, milestones=live)

    def judged(self, groups: Sequence[tuple[str, Sequence[ShowDate]]]) -> ProjectView:
        """The project as the policy and the letters judge it, from every date decided (`self.dates`): the date
        shown and the promise are what the client was told (`as_told`: a group held for the manager or rejected
        told nothing, so a later letter never calls its date "the date I gave you"); the SEQUENCE is the highest
        decided (it only grows, told or not), and a delivered, cancelled or invitation message decided once is
        not decided again; the latest promise decided and not told is `withheld`. A milestone whose every invitation
        was rejected is `uninvited`: a cancellation of it carries no METHOD:CANCEL.

        Under approval = "shadow" its groups are judged as told (the manager sees what the client would have got,
        "again" included). Once the project leaves shadow they never happened, but for their SEQUENCE: the first
        real notice is decided afresh, and its letter speaks of no date the client never heard."""
        hidden = not_told(self.project)
        shadow = tuple(s for s in hidden if s == SHADOW)
        told_dates = told(self.dates, groups, hidden)
        decided_dates = told(self.dates, groups, shadow) if shadow else self.dates
        # each milestone's latest cancellation or return to the plan, and the group's state
        latest: dict[str, tuple[str, ShowDate]] = {}
        for state, shows in groups:
            for d in shows:
                if d.reinstated or d.cancelled:
                    latest[d.uid] = (state, d)
        dates, withheld = {}, {}
        for uid, every in self.dates.items():
            decided = decided_dates.get(uid) or ClientDate(every.sequence, None, None, False, invited=False)
            # a cancellation the pass withdrew (the milestone open again before it went) was never the client's news:
            # cancelled again, it is decided afresh — not taken as decided, which left it live on their page
            state, last = latest.get(uid, ("", None))
            if state == WITHDRAWN and last is not None and not last.reinstated and decided.cancelled_sent:
                decided = dataclasses.replace(decided, cancelled_sent=False)
            known = told_dates.get(uid)
            dates[uid] = dataclasses.replace(decided, sequence=every.sequence,
                                             shown_date=known.shown_date if known else None,
                                             promised=known.promised if known else None)
            if decided.promised is not None and decided.promised != dates[uid].promised:
                withheld[uid] = decided.promised
        # an invitation the manager rejected (or the pass withdrew), or the client's server refused
        refused = ("rejected", "failed", WITHDRAWN)
        rejected = {d.uid for state, shows in groups if state in refused for d in shows if d.invited}
        kept = {d.uid for state, shows in groups if state not in refused and state not in shadow
                for d in shows if d.invited}
        # each milestone's latest return since its cancellation
        returns = {uid: (state, d) for uid, (state, d) in latest.items() if d.reinstated}
        return dataclasses.replace(self, dates=dates, withheld=withheld, uninvited=frozenset(rejected - kept),
                                   in_calendar=frozenset(uid for uid, cd in told_dates.items() if cd.invited),
                                   told_cancelled=frozenset(uid for uid, cd in told_dates.items()
                                                            if cd.cancelled_sent),
                                   return_pending=frozenset(uid for uid, (state, _) in returns.items()
                                                            if state in ("held", "pending", "sending")),
                                   return_refused={uid: d for uid, (state, d) in returns.items()
                                                   if state in ("rejected", "failed")})

    def after(self, shown: Sequence[ShowDate], held: bool = False) -> ProjectView:
        """The project once these dates are decided (as the store will record them): told, or held for the
        manager — then only their SEQUENCE counts, their promise is withheld, and a cancellation or a return to
        the plan is not the client's yet (told_cancelled)."""
        dates, withheld = dict(self.dates), dict(self.withheld)
        told_cancelled = None if self.told_cancelled is None else set(self.told_cancelled)
        pending = set(self.return_pending)
        for d in shown:
            if d.reinstated and held:
                pending.add(d.uid)
            if told_cancelled is not None and not held and d.reinstated:
                told_cancelled.discard(d.uid)
            elif told_cancelled is not None and not held and d.cancelled:
                told_cancelled.add(d.uid)
            if held:
                if d.promised is not None:
                    withheld[d.uid] = d.promised
                d = dataclasses.replace(d, shown_date=None, promised=None)
            else:
                withheld.pop(d.uid, None)
            dates[d.uid] = ClientDate.after(dates.get(d.uid), d)
        return dataclasses.replace(self, dates=dates, withheld=withheld, return_pending=frozenset(pending),
                                   told_cancelled=None if told_cancelled is None else frozenset(told_cancelled))


def told(decided: dict[str, ClientDate], groups: Sequence[tuple[str, Sequence[ShowDate]]],
         hidden: Collection[str] = WITHHELD) -> dict[str, ClientDate]:
    """Of every date decided, what the client was told: a milestone touched by a group in a `hidden` state (still
    held for the manager, or rejected) shows what the other groups told (oldest first, as recorded). `decided`
    itself when nothing was hidden."""
    withheld = {d.uid for state, shows in groups if state in hidden for d in shows}
    if not withheld:
        return decided
    dates = {uid: cd for uid, cd in decided.items() if uid not in withheld}
    for state, shows in groups:
        for d in shows:
            if state not in hidden and d.uid in withheld:
                dates[d.uid] = ClientDate.after(dates.get(d.uid), d)
    return dates


def with_notes(pv: ProjectView, reports: Sequence[Report]) -> ProjectView:
    """A project once these notes are recorded, each milestone's notes as the store then gives them back: the
    latest RECENT_REPORTS, oldest first (in the order recorded, for notes of the same time)."""
    if not reports:
        return pv
    kept = dict(pv.reports)
    for uid in {r.uid for r in reports}:
        known, new = kept.get(uid, ()), [r for r in reports if r.uid == uid]
        ats = [r.at for r in (*known, *new)]
        if all(map(operator.le, ats, ats[1:])):  # in order already (a note newer than the last): no sort
            kept[uid] = [*known, *new][-RECENT_REPORTS:]
        else:
            kept[uid] = sorted([*known, *new], key=lambda r: r.at)[-RECENT_REPORTS:]
    return dataclasses.replace(pv, reports=kept)
