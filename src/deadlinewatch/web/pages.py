"""What each page shows, as plain data made from plain data (pure: no store, no request, no clock, no markup): the
manager's dashboard from `status --json`'s data, each milestone's notes and the held letters; the client's page
from the project as the client knows it. The templates (web/templates/) lay it out; web/fan.py draws the
pictures."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from email import message_from_bytes
from email.policy import default as default_policy
from typing import Any

from babel import Locale

from deadlinewatch.core.letters import format_day, format_percent, letter_locale, native_digits
from deadlinewatch.core.model import Report
from deadlinewatch.stages.project_view import ProjectView
from deadlinewatch.web.catalogs import translations
from deadlinewatch.web.fan import FanData


def _day(iso: str | None, language: str | Locale, zone: zoneinfo.ZoneInfo) -> str:
    """An ISO date or moment of `status --json` as the reader writes the day; "" for none."""
    return format_day(_date(iso, zone), language, "medium") if iso else ""


def moment(at: dt.datetime, language: str | Locale, zone: zoneinfo.ZoneInfo) -> str:
    """A moment as its reader writes it, on a 24-hour clock (read the same way in every language); a language
    without a region takes the zone's (as the letters do: "en" in Europe/London writes British dates)."""
    language = letter_locale(language, zone.key) if isinstance(language, str) else language
    local = at.astimezone(zone)
    return f"{format_day(local.date(), language, 'long')}, {native_digits(local.strftime('%H:%M'), language)}"


def _date(iso: str, zone: zoneinfo.ZoneInfo) -> dt.date:
    """The day of an ISO date, or of an ISO moment in `zone`."""
    moment = dt.datetime.fromisoformat(iso) if "T" in iso else dt.date.fromisoformat(iso)
    return moment.astimezone(zone).date() if isinstance(moment, dt.datetime) else moment


# --- the manager's dashboard -----------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class ProjectCard:
    id: str
    name: str
    client_page: str | None
    milestones: list[MilestoneCard]
    notices: list[NoticeRow]


def letter_of(raw: bytes) -> Letter:
    msg = message_from_bytes(raw, policy=default_policy)
    body = msg.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    return Letter(str(msg.get("Subject", "")), str(msg.get("To", "")), str(msg.get("Cc", "")), str(text))


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
    return "late" if m["p_miss"] >= warn_probability else "at-risk" if m["p_miss"] >= 0.5 else "on-track"


def dashboard(data: Mapping[str, Any], notes: Mapping[tuple[str, str], Sequence[Report]],
              held: Mapping[int, bytes], names: Mapping[str, str], *, today: dt.date, zone: zoneinfo.ZoneInfo,
              language: str, warn_probability: float, choices: Mapping[int, DateChoice] | None = None
              ) -> list[ProjectCard]:
    """Every project: its open milestones with their pictures, and every notice, newest first."""
    _ = translations(language).gettext
    locale = letter_locale(language, zone.key)  # the team's dates with the region of the daemon's zone
    cards = []
    for i, p in enumerate(data["projects"]):
        milestones = []
        for j, m in enumerate(x for x in data["milestones"] if x["project"] == p["id"]):
            reports = notes.get((p["id"], m["uid"]), ())
            points = [(r.at.astimezone(zone).date(), r.done) for r in reports if r.done is not None]
            p50 = _date(m["p50"], zone) if m["p50"] else None
            p80 = _date(m["p80"], zone) if m["p80"] else None
            deadline = _date(m["deadline"], zone)
            promised = _date(m["promised"], zone) if m["promised"] else None
            p_miss = format_percent(round(m["p_miss"] * 100), locale) if m["p_miss"] is not None else ""
            done = format_percent(m["done_percent"], locale) if m["done_percent"] is not None else ""
            shown = {k: _day(m[k], locale, zone) for k in ("deadline", "last_note", "p50", "p80", "promised")}
            summary = "; ".join(x for x in (
                _("%(done)s done") % {"done": done} if done else "",
                _("deadline %(date)s") % {"date": shown["deadline"]},
                _("promised to the client for %(date)s") % {"date": shown["promised"]} if promised else "",
                _("likely %(p50)s, safely by %(p80)s") % {"p50": shown["p50"], "p80": shown["p80"]}
                if p50 and p80 else "",
                _("chance of missing %(p)s") % {"p": p_miss} if p_miss else "",
            ) if x)
            fan = FanData(m["name"], points, deadline, today, p50, p80, summary, promised, _("today"), _("deadline"),
                          _("promised"))
            milestones.append(MilestoneCard(
                anchor=f"m-{i}-{j}", name=m["name"], risk=risk_of(m, warn_probability), deadline=shown["deadline"],
                done=done, last_note=shown["last_note"], p50=shown["p50"], p80=shown["p80"], p_miss=p_miss,
                promised=shown["promised"],
                reason=m.get("explained") or m["reason"] or "", alert=bool(m.get("alert")), fan=fan,
            ))
        notices = [NoticeRow(
            id=n["id"], kind=n["kind"], milestone=names.get(f"{n['project']}/{n['uid']}", "") if n["uid"] else "",
            state=n["state"], to=n["to"], created=_day(n["created"], locale, zone),
            sent=_day(n["sent"], locale, zone), decided_by=n.get("decided_by") or "",
            letter=letter_of(held[n["id"]]) if n["id"] in held else None,
            **_date_buttons((choices or {}).get(n["id"]) if n["id"] in held else None, locale, _),
        ) for n in reversed(data["notices"]) if n["project"] == p["id"]]
        cards.append(ProjectCard(p["id"], p["name"], p["client_page"], milestones, notices))
    return cards


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
    updated: str
    rows: list[ClientRow]


def client_page(pv: ProjectView, now: dt.datetime) -> ClientPage:
    """The project as its client knows it — client-visible milestones only, in the client's language and zone,
    the old date beside a moved one, progress since a week ago. Nothing about who wrote the notes."""
    language = pv.project.client.language
    zone = pv.client_tz
    locale = letter_locale(language, zone.key)  # "en" in Europe/London writes British dates, as its letters do
    progress = {p.row.uid: p for p in pv.progress(now - dt.timedelta(days=7))}
    rows = []
    for row in sorted(pv.rows(), key=lambda r: r.new):
        p = progress[row.uid]
        rows.append(ClientRow(
            name=row.name, date=format_day(row.new, locale, "long"),
            old=format_day(row.old, locale, "long") if row.status == "moved" else "", status=row.status,
            before=format_percent(p.before, locale) if p.before is not None else "",
            now=format_percent(p.now, locale) if p.now is not None else "", notes=p.notes,
            notes_text=native_digits(str(p.notes), locale),
        ))
    return ClientPage(pv.project.name, language, moment(now, locale, zone), rows)
