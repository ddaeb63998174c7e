"""The dashboard's views as plain data (web/pages.py): which milestones a page shows and in what order, the links
to the other pages, and every word and digit of it in the manager's language. No store, no server."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import pytest
from markupsafe import Markup

from deadlinewatch.web.catalogs import environment
from deadlinewatch.web.fan import fan_svg
from deadlinewatch.web.pages import HELD_IN_FULL, PAGE_SIZE, dashboard, href, select

ZONE = zoneinfo.ZoneInfo("Europe/Istanbul")
TODAY = dt.date(2026, 12, 2)
WARN = 0.9


def _milestone(project: str, i: int, p_miss: float | None, **more: Any) -> dict[str, Any]:
    return {"project": project, "uid": f"m{i}", "name": f"{project} {i}", "state": "open",
            "deadline": f"2027-01-{10 + i % 20:02d}T17:00:00+03:00", "done_percent": 40, "last_note": None,
            "p50": "2027-01-05", "p80": "2027-01-08", "p_miss": p_miss, "reason": "", "promised": None,
            "alert": False, **more}


def _data(count: int = 60) -> dict[str, Any]:
    milestones = [_milestone(f"p{i % 3}", i, 0.1) for i in range(count)]
    milestones[40] = _milestone("p1", 40, 0.95)  # will be late
    milestones[50] = _milestone("p2", 50, 0.6)  # at risk
    milestones[55] = _milestone("p0", 55, 0.2, alert=True)  # the manager's risk alert is up
    milestones[57] = _milestone("p0", 57, None)  # no note yet
    milestones[59] = _milestone("p2", 59, 0.1, state="done")
    return {"projects": [{"id": f"p{i}", "name": f"Project {i}", "client_page": None} for i in range(3)],
            "milestones": milestones, "notices": [], "servers": {}, "last_pass": None}


def test_the_milestones_at_risk_come_first_then_those_without_a_forecast_and_done_last() -> None:
    sel = select(_data(), WARN)
    names = [m["name"] for m in sel.shown]
    assert names[:4] == ["p1 40", "p2 50", "p0 55", "p0 57"]  # late, at risk, an alert up, no forecast
    assert (sel.page, sel.pages, sel.total, sel.first, len(sel.shown)) == (1, 3, 60, 1, PAGE_SIZE)
    # the one with the manager's alert up counts as at risk, whatever its chance (never "on track" beside the alert)
    assert dict(sel.counts) == {"late": 1, "at-risk": 2, "unknown": 1, "on-track": 55, "done": 1}
    last = select(_data(), WARN, page=3)
    assert last.shown[-1]["name"] == "p2 59" and last.first == 2 * PAGE_SIZE + 1
    assert select(_data(), WARN, page=7).page == 3 and select(_data(), WARN, page=0).page == 1
    seen = [m["name"] for page in (1, 2, 3) for m in select(_data(), WARN, page=page).shown]
    assert sorted(seen) == sorted(m["name"] for m in _data()["milestones"])  # each on exactly one page


def test_a_project_filter_keeps_its_own_milestones_and_counts_them() -> None:
    data = _data()
    sel = select(data, WARN, project="p1")
    theirs = sum(1 for m in data["milestones"] if m["project"] == "p1")
    assert {m["project"] for m in sel.shown} == {"p1"} and sel.total == theirs < PAGE_SIZE and sel.pages == 1
    assert sel.shown[0]["name"] == "p1 40"


def test_the_views_addresses_are_relative_and_the_first_one_is_the_dashboard_itself() -> None:
    assert href(None) == "./" and href(None, 2) == "?page=2"
    assert href("p 1&x", 3) == "?project=p+1%26x&page=3" and href("p1") == "?project=p1"


@pytest.mark.parametrize(("language", "words"), [
    ("tr", ("Sonraki sayfa", "Tüm projeler", "aşama", "gecikecek")),
    ("bn", ("পরের পাতা", "সব প্রকল্প", "মাইলফলকের মধ্যে", "দেরি হবে")),
])
def test_a_page_of_the_dashboard_is_in_the_managers_language_and_digits(language: str, words: tuple[str, ...]
                                                                        ) -> None:
    data = _data()
    view = dashboard(data, select(data, WARN, page=2), {}, {}, {}, today=TODAY, zone=ZONE, language=language,
                     warn_probability=WARN)
    assert view.previous == "./" and view.next == "?page=3" and [p.current for p in view.pages] == [False, True, False]
    page = environment(language).get_template("dashboard.html.j2").render(
        lang=language, root="", view=view, user="pm", csrf="0", signed_out_possible=True, servers={}, last_pass="",
        draw=lambda fan, ident: Markup(fan_svg(fan, ident)))
    for word in words:
        assert word in page, word
    for english in ("Next page", "All projects", "Milestones, at risk first", "Previous page"):
        assert english not in page
    if language == "bn":
        assert view.shown == "২৫–৪৮" and view.total == "৬০" and view.pages[1].label == "২"
    # the pictures' grid too, as the locale writes a percent (it said 0% 50% 100% in every language)
    grid = {"tr": (">%0<", ">%50<", ">%100<"), "bn": (">০%<", ">৫০%<", ">১০০%<")}[language]
    assert all(label in page for label in grid) and ">50%<" not in page
    assert page.count('class="fan"') == len(view.cards) == PAGE_SIZE


def _held(count: int) -> tuple[dict[str, Any], dict[int, bytes]]:
    """_data() with `count` notices held for the manager, one a milestone, across the three projects."""
    data = _data()
    letter = b"Subject: A new date\r\nTo: client@example.com\r\nContent-Type: text/plain\r\n\r\nDear client,\r\n"
    for i in range(count):
        data["notices"].append({"id": i + 1, "kind": "notice", "project": f"p{i % 3}", "uid": f"m{i}",
                                "state": "held", "to": "client@example.com", "created": "2026-12-01T09:00:00+03:00",
                                "sent": None, "decided_by": None})
    return data, {i + 1: letter for i in range(count)}


def test_the_first_view_shows_the_newest_held_letters_in_full_and_a_line_for_each_other() -> None:
    data, held = _held(HELD_IN_FULL + 5)
    view = dashboard(data, select(data, WARN), {}, held, {}, today=TODAY, zone=ZONE, language="en",
                     warn_probability=WARN)
    assert [n.id for n in view.waiting] == list(range(HELD_IN_FULL + 5, 5, -1))  # newest first, each with its letter
    assert all(n.letter is not None for n in view.waiting)
    assert [n.id for n in view.waiting_more] == [5, 4, 3, 2, 1] and view.more_waiting == "5"
    assert [n.project_href for n in view.waiting_more] == ["?project=p1", "?project=p0", "?project=p2",
                                                          "?project=p1", "?project=p0"]
    page = environment("en").get_template("dashboard.html.j2").render(
        lang="en", root="", view=view, user="pm", csrf="0", signed_out_possible=True, servers={}, last_pass="",
        draw=lambda fan, ident: Markup(fan_svg(fan, ident)))
    # the others link to their project's view, where they are read and decided whole (no script needed)
    assert '<li id="notice-1"><a href="?project=p0#notice-1">' in page and page.count('<article class="held"') == 20
    assert "5 more waiting, each read and decided on its project's page" in page
    # a project's view shows every letter it holds in full
    mine = dashboard(data, select(data, WARN, project="p0"), {}, held, {}, today=TODAY, zone=ZONE, language="en",
                     warn_probability=WARN)
    assert [n.id for n in mine.waiting] == list(range(HELD_IN_FULL + 5, 0, -3)) and not mine.waiting_more
