"""What each page shows, as plain data made from plain data (pure: no store, no request, no clock, no markup): the
manager's dashboard from `status --json`'s data, each milestone's notes and the held letters; the client's page
from the project as the client knows it. The templates (web/templates/) lay it out; web/fan.py draws the
pictures."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from email import message_from_bytes
from email.header import decode_header, make_header
from typing import Any
from urllib.parse import urlencode

from babel import Locale

from deadlinewatch.core.locales import (
    format_day,
    format_moment,
    format_number,
    format_percent,
    letter_locale,
    native_digits,
)
from deadlinewatch.core.model import Report
from deadlinewatch.decisions.project_view import ProjectView
from deadlinewatch.web.catalogs import translations
from deadlinewatch.web.fan import FanData


def _day(iso: str | None, language: str | Locale, zone: zoneinfo.ZoneInfo) -> str:
    """An ISO date or moment of `status --json` as the reader writes the day; "" for none."""
    return format_day(_date(iso, zone), language, "medium") if iso else ""


def _date(iso: str, zone: zoneinfo.ZoneInfo) -> dt.date:
    """The day of an ISO date, or of an ISO moment in `zone`."""
    moment = dt.datetime.fromisoformat(iso) if "T" in iso else dt.date.fromisoformat(iso)
    return moment.astimezone(zone).date() if isinstance(moment, dt.datetime) else moment


# --- the manager's dashboard -----------------------------------------------------------------------------------

# held letters the first view shows in full (about 2.6 KB each, with their forms): a hundred held at once made it
# 341 KB; the others are a line each, read and decided on their project's view
HELD_IN_FULL = 20
PAGE_SIZE = 24  # milestones a dashboard page shows: a screenful or two of cards (2, 3 or 4 to a row), ~100 KB
RECENT_LETTERS = 20  # letters in the first view's table beside those still under way; a project's view has all
# the order the manager reads milestones in: what will miss first, then what may; a milestone without a forecast
# (no note yet) before those whose forecast holds; done last. A risk alert up counts as at risk.
RISK_ORDER = ("late", "at-risk", "unknown", "moved", "on-track", "done")
SETTLED = ("sent", "rejected")  # a letter's states that need nothing more of anyone


@dataclass(frozen=True)
class MilestoneCard:
    anchor: str
    name: str
    risk: str  # "late" | "at-risk" | "moved" | "on-track" | "done" | "unknown": the badge
    deadline: str
    done: str  # "60%" or ""
    last_note: str
    p50: str
    p80: str
    p_miss: str
    promised: str
    reason: str
    fan: FanData  # what its picture shows (drawn by web/fan.py as the page is laid out)
    alert: bool  # the manager's risk alert is up
    project: str = ""  # the project's name, on a view of every project
    project_href: str = ""  # that project's own view


@dataclass(frozen=True)
class Letter:
    """A held notice as the client will read it: its headers and its text."""

    subject: str
    to: str
    cc: str
    text: str


@dataclass(frozen=True)
class DateChoice:
    """The dates a held notice may go out with (issue: the manager chooses the date)."""

    forecast: dt.date | None  # the letter's own: the forecast's P80, or the team's date when later
    team: dt.date | None  # the team's own date, when after the deadline and another than the letter's
    earliest: dt.date  # the first day a date of the manager's own may be (the day after the deadline)


@dataclass(frozen=True)
class DateButton:
    """A date the held letter's form offers, as the manager reads it."""

    label: str
    iso: str


@dataclass(frozen=True)
class NoticeRow:
    id: int
    kind: str
    milestone: str
    state: str
    to: str
    created: str
    sent: str
    decided_by: str
    letter: Letter | None  # while held
    dates: tuple[DateButton, ...] = ()  # a held notice: the team's date to send instead of the letter's
    earliest: str = ""  # a held notice: the earliest date of the manager's own (ISO, for the date field)
    project: str = ""  # the project's name
    project_href: str = ""  # its project's view, where a held letter beyond the first view's is read in full


@dataclass(frozen=True)
class Selection:
    """Which milestones a dashboard view shows: one project's or every project's, at risk first, one page of
    them. Chosen before anything else is read, so that only what is shown has its notes read and its picture
    drawn."""

    project: str | None  # the project's id, or None: every project
    page: int  # 1-based, within 1..pages
    pages: int
    total: int  # milestones in the view (every page)
    first: int  # the page's first milestone's place in the view, 1-based (0: none)
    shown: tuple[Mapping[str, Any], ...]  # the page's milestones, as `status --json` has them
    counts: tuple[tuple[str, int], ...]  # (risk, how many in the view), in RISK_ORDER, none left out


@dataclass(frozen=True)
class PageLink:
    label: str
    href: str
    current: bool = False


@dataclass(frozen=True)
class ProjectChoice:
    id: str
    name: str
    selected: bool


@dataclass(frozen=True)
class DashboardPage:
    """One view of the dashboard, laid out for its template."""

    project: Mapping[str, Any] | None  # the project this view shows (id, name, client_page), or None: every one
    choices: list[ProjectChoice]  # the filter's projects
    waiting: list[NoticeRow]  # held letters in full: the newest HELD_IN_FULL on the first view, a project's on its own
    waiting_more: list[NoticeRow]  # the first view's other held letters, a line each linking to its project's view
    more_waiting: str  # how many those are, in the reader's digits
    waiting_elsewhere: str  # held letters not on this page (a later page points to the first view), or ""
    counts: list[tuple[str, str]]  # (risk, how many) of the view's milestones, in the reader's digits
    cards: list[MilestoneCard]
    shown: str  # "25–48", in the reader's digits; "" when the view has no milestone
    through: str  # "1–48": what a reader who loaded the pages up to this one in place has before them
    total: str
    pages: list[PageLink]  # the page links (none when one page holds them all)
    previous: str  # the previous page's link, or ""
    next: str  # the next page's link, or ""
    notices: list[NoticeRow]  # the letters' table: a project's every letter, or on the first view the recent ones
    all_notices: bool  # the table has every letter of the view


def letter_of(raw: bytes) -> Letter:
    """A held letter's headers and text. Read with the email package's compat32 parser, which leaves headers as
    they are until asked (the default policy parses every header of every part on the way: 20 ms a letter, and
    the first view shows every held one); the three headers shown are decoded as the default policy would."""
    msg = message_from_bytes(raw)
    text = ""
    for part in msg.walk():
        if part.get_content_type() == "text/plain" and part.get_content_disposition() != "attachment":
            payload = part.get_payload(decode=True)
            text = payload.decode(part.get_content_charset() or "ascii", "replace") if isinstance(payload, bytes) \
                else ""
            break
    return Letter(_header(msg.get("Subject")), _header(msg.get("To")), _header(msg.get("Cc")), text)


def _header(value: Any) -> str:
    if value is None:
        return ""
    return str(make_header(decode_header(re.sub(r"\r?\n(?=[ \t])", "", str(value)))))


def _date_buttons(choice: DateChoice | None, locale: Locale, _: Callable[[str], str]) -> dict[str, Any]:
    if choice is None:
        return {}
    buttons = []
    if choice.team is not None:
        buttons.append(DateButton(_("Send with the team's date, %(date)s") % {
            "date": format_day(choice.team, locale, "medium")}, choice.team.isoformat()))
    return {"dates": tuple(buttons), "earliest": choice.earliest.isoformat()}


def risk_of(m: Mapping[str, Any], warn_probability: float) -> str:
    if m["state"] == "done":
        return "done"
    if m["p_miss"] is None:
        return "unknown"
    if m["promised"] and m["p_miss"] < warn_probability:
        return "moved"  # the deadline is given up; the new date, as forecast, holds
    # the manager's risk alert is up: at risk, whatever line the studio drew for it (policy.alert_probability)
    at_risk = m["p_miss"] >= 0.5 or bool(m.get("alert"))
    return "late" if m["p_miss"] >= warn_probability else "at-risk" if at_risk else "on-track"


def select(data: Mapping[str, Any], warn_probability: float, project: str | None = None, page: int = 1,
           size: int = PAGE_SIZE) -> Selection:
    """The view's milestones at risk first — the likeliest to miss first within a kind, then the nearest
    deadline — and the page of them asked for (a page past the last shows the last)."""
    tier = {risk: i for i, risk in enumerate(RISK_ORDER)}
    ranked = []
    for m in data["milestones"]:
        if project is not None and m["project"] != project:
            continue
        risk = risk_of(m, warn_probability)
        place = min(tier[risk], tier["at-risk"]) if m.get("alert") else tier[risk]
        ranked.append(((place, -(m["p_miss"] or 0.0), dt.datetime.fromisoformat(m["deadline"]), m["name"]), risk, m))
    ranked.sort(key=lambda r: r[0])
    pages = max(-(-len(ranked) // size), 1)
    page = min(max(page, 1), pages)
    start = (page - 1) * size
    shown = tuple(m for _, _, m in ranked[start:start + size])
    counts = tuple((risk, n) for risk in RISK_ORDER if (n := sum(1 for _, r, _ in ranked if r == risk)))
    return Selection(project, page, pages, len(ranked), start + 1 if shown else 0, shown, counts)


def href(project: str | None, page: int = 1) -> str:
    """A view's address, relative to the dashboard's (it works under a proxy's prefix): "./" is the first view."""
    query = {k: v for k, v in (("project", project), ("page", str(page) if page > 1 else None)) if v}
    return "?" + urlencode(query) if query else "./"


def _page_links(sel: Selection, digits: Callable[[int], str]) -> list[PageLink]:
    """Every page's link when they are few; else the first, the last and the two either side of this one."""
    if sel.pages == 1:
        return []
    near = set(range(sel.page - 2, sel.page + 3)) | {1, sel.pages}
    numbers = range(1, sel.pages + 1) if sel.pages <= 9 else sorted(n for n in near if 1 <= n <= sel.pages)
    links, last = [], 0
    for n in numbers:
        if n > last + 1:
            links.append(PageLink("…", ""))
        links.append(PageLink(digits(n), href(sel.project, n), n == sel.page))
        last = n
    return links


def dashboard(data: Mapping[str, Any], sel: Selection, notes: Mapping[tuple[str, str], Sequence[Report]],
              held: Mapping[int, bytes], names: Mapping[str, str], *, today: dt.date, zone: zoneinfo.ZoneInfo,
              language: str, warn_probability: float, choices: Mapping[int, DateChoice] | None = None,
              explained: Mapping[tuple[str, str], str] | None = None,
              deadlines: Mapping[tuple[str, str], dt.date] | None = None) -> DashboardPage:
    """One view: the held letters, the selection's milestones with their pictures (notes are read for these
    only), the page links, and the letters to the clients (every one of a project's, or the recent ones).
    `deadlines`: each milestone's deadline as the day its client holds (else its moment's day in `zone`)."""
    _ = translations(language).gettext
    locale = letter_locale(language, zone.key)  # the team's dates with the region of the daemon's zone

    def digits(n: int) -> str:
        return format_number(n, locale, "#,##0")

    project_names = {p["id"]: p["name"] for p in data["projects"]}
    project = next((p for p in data["projects"] if p["id"] == sel.project), None)
    cards = [_card(m, sel.first + k, notes.get((m["project"], m["uid"]), ()), (explained or {}).get(
        (m["project"], m["uid"])), "" if project else project_names.get(m["project"], m["project"]),
        today=today, zone=zone, locale=locale, warn_probability=warn_probability, _=_,
        deadline=(deadlines or {}).get((m["project"], m["uid"]))) for k, m in enumerate(sel.shown)]

    def row(n: Mapping[str, Any], letter: bool = False) -> NoticeRow:
        """A letter as the table lists it; with `letter`, a held one as the manager decides on it."""
        return NoticeRow(
            id=n["id"], kind=n["kind"], milestone=names.get(f"{n['project']}/{n['uid']}", "") if n["uid"] else "",
            state=n["state"], to=n["to"], created=_day(n["created"], locale, zone), sent=_day(n["sent"], locale, zone),
            decided_by=n.get("decided_by") or "", letter=letter_of(held[n["id"]]) if letter else None,
            project=project_names.get(n["project"], n["project"] or ""), project_href=href(n["project"]),
            **_date_buttons((choices or {}).get(n["id"]) if letter else None, locale, _))

    newest_first = [n for n in reversed(data["notices"]) if project is None or n["project"] == sel.project]
    on_first_view = sel.page == 1 or project is not None
    waiting_ids = [n for n in newest_first if n["id"] in held] if on_first_view else []
    # a project holds few letters, shown whole on its view; every project's first view shows the newest in full and
    # a line for each of the others (its letter and forms on its project's view, without script too)
    in_full = waiting_ids if project is not None else waiting_ids[:HELD_IN_FULL]
    waiting = [row(n, letter=True) for n in in_full]
    waiting_more = [row(n) for n in waiting_ids[len(in_full):]]
    if project is not None:
        table = newest_first
    elif sel.page == 1:  # the letters under way (queued, sending, failed), and the latest others
        recent = {n["id"] for n in newest_first[:RECENT_LETTERS]}
        table = [n for n in newest_first if n["id"] in recent or n["state"] not in SETTLED]
    else:
        table = []
    elsewhere = sum(1 for n in newest_first if n["id"] in held) if not on_first_view else 0
    return DashboardPage(
        project=project, choices=[ProjectChoice(p["id"], p["name"], p["id"] == sel.project) for p in data["projects"]],
        waiting=waiting, waiting_more=waiting_more, more_waiting=digits(len(waiting_more)),
        waiting_elsewhere=digits(elsewhere) if elsewhere else "",
        counts=[(risk, digits(n)) for risk, n in sel.counts], cards=cards,
        shown=f"{digits(sel.first)}–{digits(sel.first + len(sel.shown) - 1)}" if sel.shown else "",
        through=f"{digits(1)}–{digits(sel.first + len(sel.shown) - 1)}" if sel.shown else "",
        total=digits(sel.total), pages=_page_links(sel, digits),
        previous=href(sel.project, sel.page - 1) if sel.page > 1 else "",
        next=href(sel.project, sel.page + 1) if sel.page < sel.pages else "",
        notices=[row(n) for n in table],
        all_notices=project is not None)


def _card(m: Mapping[str, Any], place: int, reports: Sequence[Report], explained: str | None, project: str, *,
          today: dt.date, zone: zoneinfo.ZoneInfo, locale: Locale, warn_probability: float,
          _: Callable[[str], str], deadline: dt.date | None = None) -> MilestoneCard:
    """One milestone's card: its facts in the team's words and dates, and what its picture shows. `deadline`:
    the day its client holds (else its moment's day in `zone`)."""
    points = [(r.at.astimezone(zone).date(), r.done) for r in reports if r.done is not None]
    p50 = _date(m["p50"], zone) if m["p50"] else None
    p80 = _date(m["p80"], zone) if m["p80"] else None
    deadline = deadline or _date(m["deadline"], zone)
    promised = _date(m["promised"], zone) if m["promised"] else None
    p_miss = format_percent(round(m["p_miss"] * 100), locale) if m["p_miss"] is not None else ""
    done = format_percent(m["done_percent"], locale) if m["done_percent"] is not None else ""
    shown = {k: _day(m[k], locale, zone) for k in ("last_note", "p50", "p80", "promised")}
    shown["deadline"] = format_day(deadline, locale, "medium")
    summary = "; ".join(x for x in (
        _("%(done)s done") % {"done": done} if done else "",
        _("deadline %(date)s") % {"date": shown["deadline"]},
        _("promised to the client for %(date)s") % {"date": shown["promised"]} if promised else "",
        _("likely %(p50)s, safely by %(p80)s") % {"p50": shown["p50"], "p80": shown["p80"]} if p50 and p80 else "",
        _("chance of missing %(p)s") % {"p": p_miss} if p_miss else "",
    ) if x)
    fan = FanData(m["name"], points, deadline, today, p50, p80, summary, promised, _("today"), _("deadline"),
                  _("promised"), (format_percent(0, locale), format_percent(50, locale), format_percent(100, locale)))
    return MilestoneCard(
        anchor=f"m-{place}", name=m["name"], risk=risk_of(m, warn_probability), deadline=shown["deadline"], done=done,
        last_note=shown["last_note"], p50=shown["p50"], p80=shown["p80"], p_miss=p_miss, promised=shown["promised"],
        reason=explained or m["reason"] or "", alert=bool(m.get("alert")), fan=fan, project=project,
        project_href=href(m["project"]) if project else "")


# --- the client's page -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientRow:
    name: str
    date: str
    old: str  # the date it had before it moved, or ""
    status: str  # "on track" | "moved" | "done"
    before: str  # percent done a week ago, or ""
    now: str  # percent done now, or ""
    notes: int  # progress notes this week
    notes_text: str  # the same in the language's digits


@dataclass(frozen=True)
class ClientPage:
    project: str
    language: str
    updated: str  # the last news of what the page shows (a note, a letter), or "" when there is none yet
    rows: list[ClientRow]
    feed: str = ""  # the feed the project's calendar follows (calendar_updates = "feed"), which the page offers


def client_page(pv: ProjectView, now: dt.datetime) -> ClientPage:
    """The project as its client knows it — client-visible milestones only, in the client's language and zone,
    the old date beside a moved one, progress since a week ago. Nothing about who wrote the notes."""
    language = pv.project.client.language
    zone = pv.client_tz
    locale = letter_locale(language, zone.key)  # "en" in Europe/London writes British dates, as its letters do
    progress = {p.row.uid: p for p in pv.progress(now - dt.timedelta(days=7))}
    rows = []
    shown = pv.rows()
    # "Updated": the last news of what the page shows — a progress note on a milestone shown, or a letter that told
    # its date — not the moment the page was asked for, which told a client of a team silent for weeks "today"
    uids = {row.uid for row in shown}
    latest = max([*(r.at for uid in uids for r in pv.reports.get(uid, ())),
                  *(at for uid, at in pv.sent.items() if uid in uids)], default=None)
    for row in sorted(shown, key=lambda r: r.new):
        p = progress[row.uid]
        # a delivered milestone: the day a note said Done: 100%, where the client is (as its delivered note says
        # it), not the date it was due by
        delivered = next((r.at.astimezone(zone).date() for r in reversed(pv.reports.get(row.uid, [])) if r.done == 100),
                         None) if row.status == "done" else None
        rows.append(ClientRow(
            name=row.name, date=format_day(delivered or row.new, locale, "long"),
            old=format_day(row.old, locale, "long") if row.status == "moved" else "", status=row.status,
            before=format_percent(p.before, locale) if p.before is not None else "",
            now=format_percent(p.now, locale) if p.now is not None else "", notes=p.notes,
            notes_text=native_digits(str(p.notes), locale),
        ))
    # the feed offered only where it is how the client's calendar follows: beside invitations (same UIDs) a
    # subscribed copy shows every milestone twice, and under "off" the manager chose no calendar data at all — and
    # the one the letters link (client_feed_url, else this page's own): two feeds of one timeline are copies too
    feed = (pv.project.client_feed_url or "timeline.ics") if pv.project.calendar_updates == "feed" else ""
    return ClientPage(pv.project.name, language, format_moment(latest, locale, zone) if latest else "", rows,
                      feed=feed)
