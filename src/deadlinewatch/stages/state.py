"""What the stages read from the state for a decision, and how a decision with client groups is recorded: a
project as its client knows it (`view`), the dates promised and what the notes say of milestones being done
(`promised_dates`, `said_done_of`: what a letter waiting is checked against), what the team's spread is learned
from (`read_learning`: decisions/forecaster.py learns it, purely), the spread and the forecaster that uses it
(`team_spread`, `forecaster`: read once, then forecasting reads nothing), milestone names, and `record` —
a decision's actions carried out with the manager's messages about each client group it records, in one
transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from deadlinewatch.adapters.store import (
    Carrier,
    ClientRecord,
    Milestones,
    NoteState,
    OutboxItem,
    OutboxState,
    WebState,
)
from deadlinewatch.adapters.store.executor import Carried
from deadlinewatch.adapters.store.port import SHADOW
from deadlinewatch.config.schema import Project
from deadlinewatch.core.forecast import STATED_LEARNED, Closed, Spread, last_work_day, stated_records
from deadlinewatch.core.milestones import said_done
from deadlinewatch.core.model import (
    Action,
    ClientDate,
    ManagerCopy,
    Milestone,
    QueueGroup,
    Report,
)
from deadlinewatch.decisions.forecaster import Forecaster, Learning, Planned, Records, learned_from, spread_of
from deadlinewatch.decisions.manager_mail import manager_messages
from deadlinewatch.decisions.outbox import SAID_MATTERS
from deadlinewatch.decisions.project_view import ProjectView, agreed_day, not_told, told
from deadlinewatch.decisions.studio import Studio
from deadlinewatch.services import Services


class LearningStore(Carrier, Milestones, NoteState, Protocol):
    """What the team's spread is learned from: the milestones, their notes, the track record."""


class ProjectStore(LearningStore, OutboxState, WebState, Protocol):
    """A project as its client knows it (`view`): its milestones and notes, what the client was told, its page."""


def by_project(milestones: Iterable[Milestone]) -> dict[str, list[Milestone]]:
    """Every milestone by its project, each project's in the order given (store.milestones(): deadline order, as
    store.milestones(project) gives them)."""
    out: dict[str, list[Milestone]] = {}
    for m in milestones:
        out.setdefault(m.project, []).append(m)
    return out


@dataclass(frozen=True)
class ProjectsRead:
    """What projects as their clients know them are made from, read table by table: every project's at once (a
    pass's evaluation: one query a table, not a few a project) or one project's (`ProjectsRead.of(store, id)`)."""

    key: bytes
    milestones: dict[str, list[Milestone]]
    reports: dict[str, dict[str, list[Report]]]
    records: dict[str, ClientRecord]
    pages: dict[str, str]

    @classmethod
    def of(cls, store: ProjectStore, project: str | None = None) -> ProjectsRead:
        if project is not None:
            return cls(store.key, {project: store.milestones(project)}, {project: store.reports_by_milestone(project)},
                       store.client_records(project), store.page_tokens(project))
        return cls(store.key, by_project(store.milestones()), store.reports_by_project(), store.client_records(),
                   store.page_tokens())

    def record(self, project: Project) -> ClientRecord:
        """A project's client record as it judges it: its messages composed under approval = "shadow" count only
        while it is in shadow (ClientRecord.in_shadow)."""
        record = self.records.get(project.id) or ClientRecord()
        return record.in_shadow() if project.approval == SHADOW else record

    def _decided(self, project: Project) -> ProjectView:
        record = self.record(project)
        return ProjectView(project, list(self.milestones.get(project.id, ())), dict(self.reports.get(project.id, {})),
                           record.dates, self.pages.get(project.id), record.told, held=record.held, sent=record.sent,
                           unsent=frozenset(record.unsent),
                           entry_uids=record.entry_uids, key=self.key)

    def view(self, project: Project) -> ProjectView:
        """A project as the policy and the letters judge it (ProjectView.judged)."""
        return self._decided(project).judged(self.record(project).groups)

    def view_as_told(self, project: Project) -> ProjectView:
        """The project as the client has been told it: no news the manager holds back or rejected."""
        return self._decided(project).as_told(self.record(project).groups)


def view(store: ProjectStore, project: Project) -> ProjectView:
    """A project as the policy and the letters judge it (ProjectView.judged), read from the store."""
    return ProjectsRead.of(store, project.id).view(project)


def view_as_told(store: ProjectStore, project: Project) -> ProjectView:
    """The project as the client has been told it: no news the manager holds back or rejected."""
    return ProjectsRead.of(store, project.id).view_as_told(project)


def told_dates(store: OutboxState, project: Project) -> dict[str, ClientDate]:
    """What the client was told of each milestone of a project (`status`'s "promised"), as the policy judges it
    (project_view.not_told)."""
    return told(store.client_dates(project.id), store.shown_groups(project.id), not_told(project))


def promised_dates(store: OutboxState, projects: Iterable[Project]) -> dict[tuple[str, str], dt.date]:
    """The date each milestone of these projects was last promised to its client, where a notice told one: what a
    held notice's date must come after, and its hold counts to."""
    return {(project.id, uid): cd.promised for project in {p.id: p for p in projects}.values()
            for uid, cd in told_dates(store, project).items() if cd.promised is not None}


def said_done_of(store: NoteState, items: Sequence[OutboxItem]) -> dict[tuple[str, str], bool]:
    """What the notes of these client letters' milestones say of them being done (core.milestones.said_done), where
    a note gave a percent: a letter about a milestone is checked against it before it goes (decisions/outbox
    overtaken). Read for those letters' milestones alone (few: the letters waiting)."""
    out: dict[tuple[str, str], bool] = {}
    for key in {(i.project, i.uid) for i in items if i.audience == "client" and i.project and i.uid
                and i.kind in SAID_MATTERS}:
        if (said := said_done(store.reports(*key))) is not None:
            out[key] = said
    return out


def forecaster(svc: Services[LearningStore], pending: Sequence[Report] = ()) -> Forecaster:
    """A forecaster with the team's spread as the store has it now (read here, once: forecasting then reads
    nothing) — or, with `pending`, as it will have it once these notes are recorded (see team_spread). The
    evaluation takes one per pass, the inbox one per batch of mail, and one for a note that teaches it something."""
    return Forecaster(svc.composer.workdays, svc.composer.team_tz, team_spread(svc, pending), svc.forecasts)


def read_learning(svc: Services[LearningStore], milestones: Sequence[Milestone] | None = None) -> Learning:
    """What the team's spread is learned from, as the store has it now (decisions/forecaster.Learning). A closed
    milestone's notes are read once: they do not change (kept in svc.stated). `milestones`: every one, when the
    caller read them already."""
    tz, cal = svc.composer.team_tz, svc.composer.workdays
    today = svc.clock.now().astimezone(tz).date()
    done_at = svc.store.done_at()
    milestones = svc.store.milestones() if milestones is None else milestones
    projects = {p.id: p for p in svc.config.projects}
    planned = tuple(
        # the plan runs to the day its client holds (a milestone of a project no longer configured: the team's)
        Planned((m.project, m.uid), start, agreed_day(projects[m.project], m.deadline) if m.project in projects
                else last_work_day(m.deadline, tz), m.state == "open")
        for m in milestones if (start := m.start_day()) is not None and m.kind == "VTODO")
    stated: list[tuple[tuple[str, str], dt.datetime, tuple[Closed, ...]]] = []
    count = 0
    for (project, uid), done in sorted(done_at.items(), key=lambda kv: kv[1], reverse=True):
        if count >= STATED_LEARNED:  # the newest statements are what is learned from
            break
        key = (project, uid, done, cal, svc.config.timezone)
        if (said := svc.stated.get(key)) is None:
            said = svc.stated[key] = stated_records(svc.store.reports(project, uid), done.astimezone(tz).date(),
                                                    cal, tz)
        stated.append(((project, uid), done, tuple(said)))
        count += len(said)
    return Learning(today, cal, tz, done_at, planned, tuple(svc.store.track_record(done_at, milestones)),
                    {(m.project, m.uid): m.state for m in milestones}, tuple(stated))


def team_spread(svc: Services[LearningStore], pending: Sequence[Report] = ()) -> Spread:
    """The team's estimation bias and spread as the store has it now: learned from every milestone with a first
    estimate — what it expected against what it took when a note declared it done, and, while it is open, "more
    than it has taken so far" (a milestone closed in the calendar alone has no date of completion: left out).

    `pending`: notes about to be recorded, learned from as if they were (a note's reply is composed before the
    note is recorded, and must forecast as the evaluation will once it is). The same records give the same spread
    (kept by what it was learned from), whether learned before their notes were recorded or after."""
    today = svc.clock.now().astimezone(svc.composer.team_tz).date()
    key = (today, svc.store.version(), svc.composer.workdays, svc.config.timezone, tuple(pending))
    stamp, last = next(iter(svc.learned.items()), ((None, None), None))
    if last is not None and isinstance(stamp, tuple) and stamp[0] == key:  # no note, no calendar change, same day
        return last
    stored = {k: svc.store.reports(*k) for k in dict.fromkeys((r.project, r.uid) for r in pending)}
    return remember_spread(svc, key, learned_from(read_learning(svc), pending, stored))


def remember_spread(svc: Services[LearningStore], key: Hashable, records: Records) -> Spread:
    """The spread these records teach, kept (one, by what it was learned from) so that the same records give the
    same spread: a warm start from the last one (what was learned from nearly the same records)."""
    stamp, last = next(iter(svc.learned.items()), ((None, None), None))
    seen_records = stamp[1] if isinstance(stamp, tuple) else None
    spread = last if last is not None and seen_records == records else spread_of(records, last)
    keep_spread(svc, key, records, spread)
    return spread


def keep_spread(svc: Services[LearningStore], key: Hashable, records: Records, spread: Spread) -> None:
    """Keep the spread learned from these records (see remember_spread)."""
    svc.learned.clear()
    svc.learned[(key, records)] = spread


def record(store: Carrier, c: Studio, actions: Sequence[Action], now: dt.datetime) -> Carried:
    """A decision's actions carried out, and the manager's messages about each client group it records (composed
    with the group's id, which they name) — in one transaction."""
    with store.transaction():
        carried = store.carry_out(actions, now)
        groups = [a for a in actions if isinstance(a, QueueGroup)]
        copies = [ManagerCopy(primary, tuple(mail)) for group, primary in zip(groups, carried.ids, strict=True)
                  if (mail := manager_messages(c, group, primary, now))]
        if copies:
            store.carry_out(copies, now)
    return carried


def names_of(store: Milestones, project: str | None) -> dict[str, str]:
    """A project's milestone names by UID, as the manager's messages name them."""
    return {m.uid: m.name for m in store.milestones(project)} if project else {}
