"""An in-memory Store: the Store port kept in dicts, for tests of a stage that need no SQLite file.

It keeps the same rules as the SQLite store on purpose — tests/unit/test_store_contract.py runs one suite against
both, so neither can drift. A transaction copies the state on entry and puts it back on an error: all or none, as
SQLite's savepoints do. What the port answers by default (`reports`, `carry_out`) it takes as it is.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import datetime as dt
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from deadlinewatch.adapters.store.pages import new_page_token
from deadlinewatch.adapters.store.port import (
    RECENT_REPORTS,
    VOID_WITH_THEIR_LETTER,
    CalendarSync,
    ClientCalendarEntry,
    ClientRecord,
    OutboxItem,
    PassRecord,
    ServerHealth,
    StorePort,
    TrackRecord,
    group_state,
    superseded_by,
)
from deadlinewatch.core.mime import redated
from deadlinewatch.core.model import ClientDate, Forecast, Milestone, Place, QueueMail, Report, RiskAlert, ShowDate
from deadlinewatch.errors import StateConflict

Key = tuple[str, str]  # (project, uid), or (project, href)


@dataclass
class _Message:
    target_folder: str
    outcome: str
    decided_at: dt.datetime
    raw: bytes
    body: str
    moved: bool = False
    place: Place | None = None


@dataclass
class _State:
    server: str | None = None
    calendars: dict[str, CalendarSync] = field(default_factory=dict)
    entries: dict[Key, tuple[str, str, bool]] = field(default_factory=dict)  # → etag, ics, recurring
    milestones: dict[Key, tuple[Milestone, str]] = field(default_factory=dict)  # → milestone, href
    milestones_written: int = 0
    client_calendar: dict[Key, ClientCalendarEntry] = field(default_factory=dict)
    client_dates: dict[Key, ClientDate] = field(default_factory=dict)
    entry_uids: dict[Key, str] = field(default_factory=dict)
    outbox: dict[int, OutboxItem] = field(default_factory=dict)
    shows: dict[int, tuple[ShowDate, ...]] = field(default_factory=dict)  # primary id -> the group's dates
    basis: dict[int, dt.datetime] = field(default_factory=dict)  # a notice -> the newest note it was made from
    messages: dict[str, _Message] = field(default_factory=dict)
    reports: list[Report] = field(default_factory=list)
    failures: dict[str, tuple[int, str]] = field(default_factory=dict)
    folders: dict[str, int] = field(default_factory=dict)
    pruned_for: dt.date | None = None
    forecasts: dict[Key, Forecast] = field(default_factory=dict)
    alerts: dict[Key, RiskAlert] = field(default_factory=dict)
    passes: list[PassRecord] = field(default_factory=list)
    servers: dict[str, ServerHealth] = field(default_factory=dict)
    page_tokens: dict[str, str] = field(default_factory=dict)
    web_sessions: dict[str, tuple[str, dt.datetime]] = field(default_factory=dict)  # sid -> user, expires


class MemoryStore(StorePort):
    """The Store port in memory."""

    def __init__(self) -> None:
        self.key = secrets.token_bytes(32)
        self.s = _State()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        saved = copy.deepcopy(self.s)
        try:
            yield
        except BaseException:
            self.s = saved
            raise

    def close(self) -> None:
        pass

    # --- milestones and calendars ------------------------------------------------------------------------------

    def milestones(self, project: str | None = None) -> list[Milestone]:
        found = [m for (p, _), (m, _) in self.s.milestones.items() if project is None or p == project]
        return sorted(found, key=lambda m: (m.deadline.isoformat(), m.name))

    def version(self) -> tuple[int, int]:
        return len(self.s.reports), self.s.milestones_written

    def calendar_state(self, project: str) -> CalendarSync | None:
        return self.s.calendars.get(project)

    def save_calendar_token(self, project: str, ref: str, url: str, token: str | None, fingerprint: str) -> None:
        self.s.calendars[project] = CalendarSync(ref, url, token, fingerprint)

    def follow_server(self, server: str) -> bool:
        if self.s.server == server:
            return False
        had = bool(self.s.calendars or self.s.client_calendar)
        self.s.calendars.clear()
        self.s.client_calendar.clear()
        self.s.server = server
        return had

    def forget_calendar(self, project: str) -> None:
        self.s.calendars.pop(project, None)

    def entry_etags(self, project: str) -> dict[str, str]:
        return {h: e[0] for (p, h), e in self.s.entries.items() if p == project}

    def entries(self, project: str, recurring_only: bool = False) -> list[tuple[str, str]]:
        return [(h, e[1]) for (p, h), e in self.s.entries.items() if p == project and (e[2] or not recurring_only)]

    def apply_calendar(
        self, project: str, *, ref: str, url: str, token: str | None, fingerprint: str,
        entries: Sequence[tuple[str, str, str, bool]], parsed: Mapping[str, Sequence[Milestone]],
        deleted: Sequence[str], kept: set[str], now: dt.datetime,
    ) -> list[str]:
        gone: list[str] = []
        with self.transaction():
            self.save_calendar_token(project, ref, url, token, fingerprint)
            self.s.entries.update({(project, href): (etag, ics, rec) for href, etag, ics, rec in entries})
            for href in deleted:
                self.s.entries.pop((project, href), None)
            for href in [*parsed, *deleted]:
                now_uids = {m.uid for m in parsed.get(href, ())}
                for (p, uid), (m, at) in list(self.s.milestones.items()):
                    if (p, at) == (project, href) and href not in kept and m.state != "cancelled" \
                            and uid not in now_uids:
                        gone.append(uid)
                        self.s.milestones[(p, uid)] = (dataclasses.replace(m, state="cancelled"), at)
            upserted = {(m.project, m.uid): (m, href) for href, ms in parsed.items() for m in ms}
            self.s.milestones.update(upserted)
            self.s.milestones_written += len(gone) + len(upserted)
        moved = {m.uid for ms in parsed.values() for m in ms}
        return [uid for uid in gone if uid not in moved]

    def client_calendar_entry(self, project: str, uid: str) -> ClientCalendarEntry | None:
        return self.s.client_calendar.get((project, uid))

    def client_calendar_entries(self, project: str) -> dict[str, ClientCalendarEntry]:
        return {uid: e for (p, uid), e in self.s.client_calendar.items() if p == project}

    def save_client_calendar_entry(self, project: str, uid: str, url: str, etag: str | None, sequence: int,
                                   date: dt.date, status: str) -> None:
        self.s.client_calendar[(project, uid)] = ClientCalendarEntry(url, etag, sequence, date, status)

    def forget_client_calendar_entry(self, project: str, uid: str) -> None:
        self.s.client_calendar.pop((project, uid), None)

    # --- the outbox and the client dates -------------------------------------------------------------------------

    def _enqueue(self, mail: QueueMail, parent: int | None = None) -> int:
        if any(i.message_id == mail.message_id or i.token == mail.token for i in self.s.outbox.values()):
            raise StateConflict(f"the outbox holds {mail.message_id} already")
        new = max(self.s.outbox, default=0) + 1
        self.s.outbox[new] = OutboxItem(
            id=new, kind=mail.kind, audience=mail.audience, project=mail.project, uid=mail.uid, token=mail.token,
            message_id=mail.message_id, mail_from=mail.mail_from, recipients=tuple(mail.recipients),
            message=mail.message, state=mail.state, attempts=0, created=mail.created, sent=None, last_error=None,
            promised=mail.promised, parent=parent, next_attempt=mail.not_before, decided_by=mail.decided_by,
            shadow=mail.shadow)
        if mail.basis is not None:
            self.s.basis[new] = mail.basis
        return new

    def _items(self, keep: Callable[[OutboxItem], bool]) -> list[OutboxItem]:
        return [i for _, i in sorted(self.s.outbox.items()) if keep(i)]

    def _decide_group(self, primary: int, state: str, decided_by: str, dated: dt.datetime | None = None) -> None:
        """A held primary and its children still held, decided together (approved: dated the day of it)."""
        for i in self._items(lambda i: i.state == "held" and primary in (i.id, i.parent)):
            message = redated(i.message, dated) if dated else i.message
            self.s.outbox[i.id] = dataclasses.replace(i, state=state, decided_by=decided_by, message=message)

    def enqueue_client_group(self, messages: Sequence[QueueMail], dates: Sequence[ShowDate]) -> int:
        with self.transaction():
            primary = 0
            for i, message in enumerate(messages):
                row = self._enqueue(message, parent=primary if i else None)
                primary = primary or row
            lead = messages[0] if messages else None
            if lead is not None and lead.kind == "notice":  # a newer notice replaces one still held
                for old in self._items(lambda i: (i.project, i.uid, i.kind, i.state) == (
                        lead.project, lead.uid, "notice", "held") and i.parent is None and i.id != primary):
                    self._decide_group(old.id, "rejected", superseded_by(primary))
            for d in dates:
                key = (d.project, d.uid)
                self.s.client_dates[key] = ClientDate.after(self.s.client_dates.get(key), d)
                if d.entry_uid:
                    self.s.entry_uids.setdefault(key, d.entry_uid)
            if primary:
                self.s.shows[primary] = tuple(dates)
            return primary

    def record_outgoing(self, messages: Sequence[QueueMail], parent: int | None = None) -> None:
        with self.transaction():
            for mail in messages:
                if not self.is_our_message_id(mail.message_id):
                    self._enqueue(mail, parent=parent)

    def decide(self, notice_id: int, approve: bool, *, now: dt.datetime, decided_by: str) -> bool:
        item = self.s.outbox.get(notice_id)
        if item is None or item.state != "held":
            return False
        self._decide_group(notice_id, "pending" if approve else "rejected", decided_by, now if approve else None)
        return True

    def set_outbox_state(self, notice_id: int, state: str, *, now: dt.datetime, error: str | None = None,
                         attempt: bool = False, expect: Sequence[str] | None = None, decided_by: str | None = None,
                         next_attempt: dt.datetime | None = None) -> bool:
        item = self.s.outbox.get(notice_id)
        if item is None or (expect and item.state not in expect):
            return False
        self.s.outbox[notice_id] = dataclasses.replace(
            item, state=state, last_error=error if error is not None else item.last_error,
            attempts=item.attempts + attempt, sent=now if state == "sent" else item.sent, next_attempt=next_attempt,
            decided_by=decided_by or item.decided_by)
        if state == "failed":
            for i in self._items(lambda i: i.parent == notice_id and i.kind in VOID_WITH_THEIR_LETTER
                                 and i.state in ("pending", "held")):
                self.s.outbox[i.id] = dataclasses.replace(i, state="rejected", decided_by="its letter failed")
        return True

    def outbox(self, states: Sequence[str] | None = None, audience: str | None = None) -> list[OutboxItem]:
        return self._items(lambda i: (not states or i.state in states) and (not audience or i.audience == audience))

    def outbox_item(self, notice_id: int) -> OutboxItem | None:
        return self.s.outbox.get(notice_id)

    def client_message(self, message_ids: Sequence[str]) -> OutboxItem | None:
        clients = {i.message_id: i for i in self.s.outbox.values() if i.audience == "client"}
        return next((clients[m] for m in message_ids if m in clients), None)

    def is_our_message_id(self, message_id: str) -> bool:
        return any(i.message_id == message_id for i in self.s.outbox.values())

    def notice_for_decision(self, token: str, references: Sequence[str]) -> OutboxItem | None:
        by_token = self._items(lambda i: token != "" and i.token == token and i.audience == "client"
                               and i.parent is None)
        drafts = {i.message_id: i.parent for i in self.s.outbox.values() if i.kind == "manager-draft"}
        answered = [self.s.outbox[p] for mid in references if (p := drafts.get(mid)) in self.s.outbox]
        return next(iter([*by_token, *answered]), None)

    def first_client_message(self, project: str) -> OutboxItem | None:
        return self._first_client(project)

    def _first_client(self, project: str, shadow: bool = False) -> OutboxItem | None:
        return next(iter(self._items(lambda i: i.project == project and i.audience == "client"
                                     and i.shadow == shadow)), None)

    def sent_since(self, kind: str, project: str, since: dt.datetime, uid: str | None = None) -> bool:
        found = self._items(lambda i: i.kind == kind and i.project == project and (uid is None or i.uid == uid))
        return any(i.created >= since for i in found[-20:])

    def client_dates(self, project: str) -> dict[str, ClientDate]:
        return {uid: d for (p, uid), d in self.s.client_dates.items() if p == project}

    def entry_uids(self, project: str) -> dict[str, str]:
        return {uid: e for (p, uid), e in self.s.entry_uids.items() if p == project}

    def shown_groups(self, project: str) -> list[tuple[str, tuple[ShowDate, ...]]]:
        return [(group_state(self.s.outbox[i].state, self.s.outbox[i].shadow, self.s.outbox[i].decided_by), shows)
                for i, shows in sorted(self.s.shows.items())
                if self.s.outbox[i].project == project]

    def notice_times(self, project: str) -> dict[str, dt.datetime]:
        return {i.uid or "": i.created for i in self._notices(project)}

    def _notices(self, project: str, shadow: bool = False) -> list[OutboxItem]:  # that told the client (or in shadow)
        return self._items(lambda i: i.project == project and i.kind == "notice" and i.shadow == shadow
                           and i.state not in ("rejected", "held", "failed"))

    def _notices_sent(self, project: str, shadow: bool = False) -> dict[str, dt.datetime]:  # ClientRecord.sent
        return {i.uid or "": i.sent or i.created for i in self._notices(project, shadow)}

    def held_notices(self, project: str) -> dict[str, dt.datetime]:
        held = self._items(lambda i: (i.project, i.kind, i.state) == (project, "notice", "held") and i.parent is None)
        return {i.uid or "": self.s.basis.get(i.id) or i.created for i in held}

    def client_records(self, project: str | None = None) -> dict[str, ClientRecord]:
        projects = {project} if project else {p for p, _ in [*self.s.client_dates, *self.s.entry_uids]} | {
            i.project for i in self.s.outbox.values() if i.project}
        records = {}
        for p in projects:
            first = self.first_client_message(p)
            shadow_first = self._first_client(p, shadow=True)
            shadow = ClientRecord(shadow_first.created if shadow_first else None,
                                  told={i.uid or "": i.created for i in self._notices(p, shadow=True)},
                                  sent=self._notices_sent(p, shadow=True))
            latest = {i.uid or "": i.state for i in self._notices(p)}  # each milestone's latest told notice
            record = ClientRecord(first.created if first else None, self.client_dates(p), self.entry_uids(p),
                                  self.shown_groups(p), self.notice_times(p), self.held_notices(p),
                                  self._notices_sent(p), shadow if shadow != ClientRecord() else None,
                                  {uid for uid, state in latest.items() if state in ("pending", "sending")})
            if record != ClientRecord():
                records[p] = record
        return records

    # --- the inbox ---------------------------------------------------------------------------------------------

    def record_message(
        self, *, message_key: str, message_id: str, sender: str, subject: str, received_at: dt.datetime,
        outcome: str, target_folder: str, project: str | None, problems: Sequence[str], raw: bytes, body: str,
        reports: Sequence[Report], now: dt.datetime, outgoing: Sequence[QueueMail] = (), place: Place | None = None,
    ) -> None:
        with self.transaction():
            if message_key in self.s.messages:
                raise StateConflict(f"the message {message_key} is recorded already")
            if place is not None and any(m.place == place for m in self.s.messages.values()):
                raise StateConflict(f"the message at {place} is recorded already")
            self.s.messages[message_key] = _Message(target_folder, outcome, now, raw, body, place=place)
            self.s.reports += reports
            for item in outgoing:
                self._enqueue(item)
            self.s.failures.pop(message_key, None)

    def message_decisions(self, message_keys: Sequence[str]) -> dict[str, str]:
        return {k: self.s.messages[k].target_folder for k in message_keys if k in self.s.messages}

    def placed_decisions(self, mailbox: str, uidvalidity: int, uids: Sequence[int]) -> dict[int, tuple[str, str]]:
        wanted = {Place(mailbox, uidvalidity, uid) for uid in uids}
        return {m.place.uid: (key, m.target_folder) for key, m in self.s.messages.items()
                if m.place is not None and m.place in wanted}

    def mark_moved(self, message_keys: Sequence[str]) -> None:
        for key in message_keys:
            if key in self.s.messages:
                self.s.messages[key].moved = True

    def prune_mail(self, before: dt.datetime) -> int:
        if self.s.pruned_for == before.date():
            return 0
        old = [m for m in self.s.messages.values() if m.decided_at < before and (m.raw or m.body)]
        for m in old:
            m.raw, m.body = b"", ""
        self.s.pruned_for = before.date()
        return len(old)

    def record_failure(self, message_key: str, error: str) -> int:
        attempts = self.s.failures.get(message_key, (0, ""))[0] + 1
        self.s.failures[message_key] = (attempts, error)
        return attempts

    def failing_messages(self) -> list[tuple[str, int, str]]:
        return [(k, n, error) for k, (n, error) in sorted(self.s.failures.items()) if k not in self.s.messages]

    def swap_uidvalidity(self, folder: str, uidvalidity: int) -> int | None:
        before = self.s.folders.get(folder)
        self.s.folders[folder] = uidvalidity
        return before

    def note_count(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for m in self.s.messages.values():
            counts[m.outcome] = counts.get(m.outcome, 0) + 1
        return counts

    # --- notes -------------------------------------------------------------------------------------------------

    def reports_by_milestone(self, project: str, recent: int = RECENT_REPORTS) -> dict[str, list[Report]]:
        out: dict[str, list[Report]] = {}
        for r in sorted((r for r in self.s.reports if r.project == project), key=lambda r: (r.uid, r.at)):
            out.setdefault(r.uid, []).append(r)
        return {uid: reports[-recent:] for uid, reports in out.items()}

    def reports_by_project(self, recent: int = RECENT_REPORTS) -> dict[str, dict[str, list[Report]]]:
        return {p: self.reports_by_milestone(p, recent) for p in {r.project for r in self.s.reports}}

    def _firsts(self, counts: Callable[[Report], bool]) -> dict[Key, Report]:
        """Each milestone's earliest note that `counts`."""
        firsts: dict[Key, Report] = {}
        for r in self.s.reports:
            if counts(r) and ((k := (r.project, r.uid)) not in firsts or r.at < firsts[k].at):
                firsts[k] = r
        return firsts

    def track_record(self, done: dict[tuple[str, str], dt.datetime] | None = None,
                     milestones: Sequence[Milestone] | None = None) -> list[TrackRecord]:
        done = self.done_at() if done is None else done
        states = {(m.project, m.uid): m.state for m in (self.milestones() if milestones is None else milestones)}
        return [TrackRecord(r.at, r.remaining_days, r.eta, done.get(k), states.get(k, "cancelled"), k)
                for k, r in self._firsts(lambda r: (r.remaining_days or 0) > 0 or r.eta is not None).items()]

    def done_at(self) -> dict[tuple[str, str], dt.datetime]:
        return {k: r.at for k, r in self._firsts(lambda r: r.done == 100).items()}

    # --- forecasts and alerts ----------------------------------------------------------------------------------

    def save_forecasts(self, forecasts: Sequence[Forecast], now: dt.datetime) -> None:
        self.s.forecasts.update({(f.project, f.uid): f for f in forecasts})

    def forecast(self, project: str, uid: str) -> Forecast | None:
        return self.s.forecasts.get((project, uid))

    def at_risk(self, warn_probability: float) -> int:
        return sum(1 for (m, _) in self.s.milestones.values() if m.state == "open"
                   and (f := self.s.forecasts.get((m.project, m.uid))) and f.p_miss is not None
                   and f.p_miss >= warn_probability)

    def risk_alerts(self, project: str | None = None) -> dict[tuple[str, str], RiskAlert]:
        return {k: a for k, a in self.s.alerts.items() if project is None or k[0] == project}

    def set_risk_alert(self, project: str, uid: str, alert: RiskAlert | None) -> None:
        self.s.alerts.pop((project, uid), None)
        if alert is not None:
            self.s.alerts[(project, uid)] = alert

    # --- health ------------------------------------------------------------------------------------------------

    def record_pass(self, started: dt.datetime, finished: dt.datetime, ok: bool, summary: str) -> None:
        self.s.passes.append(PassRecord(started, finished, ok, summary))

    def last_pass(self) -> PassRecord | None:
        return self.s.passes[-1] if self.s.passes else None

    def set_server(self, name: str, ok: bool, detail: str, now: dt.datetime) -> None:
        self.s.servers[name] = ServerHealth(ok, detail)

    def servers(self) -> dict[str, ServerHealth]:
        return dict(self.s.servers)

    # --- the web pages -----------------------------------------------------------------------------------------

    def page_tokens(self, project: str | None = None) -> dict[str, str]:
        return {p: t for p, t in self.s.page_tokens.items() if project is None or p == project}

    def make_page_tokens(self, projects: Sequence[str]) -> dict[str, str]:
        for project in projects:
            self.s.page_tokens.setdefault(project, new_page_token())
        return {p: self.s.page_tokens[p] for p in projects}

    def rotate_page_token(self, project: str) -> str:
        self.s.page_tokens[project] = new_page_token()
        return self.s.page_tokens[project]

    def start_web_session(self, sid: str, user: str, now: dt.datetime, expires: dt.datetime) -> None:
        second = now.replace(microsecond=0)
        self.s.web_sessions = {k: v for k, v in self.s.web_sessions.items() if v[1] > second}  # the expired go
        if sid in self.s.web_sessions:
            raise StateConflict(f"a web session {sid} exists")
        self.s.web_sessions[sid] = (user, expires.replace(microsecond=0))

    def web_session(self, sid: str, now: dt.datetime) -> str | None:
        user, expires = self.s.web_sessions.get(sid, ("", now))
        return user if expires > now.replace(microsecond=0) else None

    def end_web_session(self, sid: str) -> bool:
        return self.s.web_sessions.pop(sid, None) is not None
