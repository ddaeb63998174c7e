"""The dashboard of a studio with a thousand open milestones, served by `deadlinewatch run`: the letters held for
the manager always on the first view, the milestones at risk first, the rest a link away (plain links and a plain
form), a project's own view, pictures drawn only for the cards shown. In the browser too: without JavaScript the
links and the form; with it, under the server's own CSP, the next page appended in place; on a phone, every page
accessible (axe-core)."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import signal
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from deadlinewatch import config as config_mod
from deadlinewatch.adapters.store import Store
from deadlinewatch.core.model import Milestone, Report
from deadlinewatch.demo.servers import free_port
from deadlinewatch.web.pages import PAGE_SIZE
from tests.conftest import deadlinewatch, start_daemon
from tests.integration.test_browser import PHONE, Visit, axe, browser  # noqa: F401  (fixtures)
from tests.integration.test_daemon import wait_for
from tests.integration.test_web import Answer, Site

pytestmark = pytest.mark.integration
NOW = dt.datetime(2026, 11, 30, 9, tzinfo=dt.UTC)
PROJECTS, PER_PROJECT = 100, 10  # 1,000 milestones: 42 pages
PAGES = -(-PROJECTS * PER_PROJECT // PAGE_SIZE)
LATE = ("p0", "p7")  # a note tips their first milestone into a miss
HELD = ("p98", "p99")  # approval = "manager": their letters wait for the manager, their milestones on track
MANAGER = "pm@studio.example"  # the proxy's signed-in user (web.trusted_user_header)


@dataclass
class Studio:
    site: Site
    held: list[int]  # the letters waiting for the manager
    open: list[tuple[str, str]]  # every open milestone, as (project id, name)

    def get(self, path: str) -> Answer:
        return self.site.ask("GET", path, X_User=MANAGER)


def _config(folder: Path, port: int) -> Path:
    closed = free_port()  # every server down: the pages are what is tested, and READY never waits for them
    lines = [f'[daemon]\nstate_dir = "{folder}/state"\ntimezone = "Europe/Istanbul"\n',
             f'[caldav]\nurl = "http://127.0.0.1:{closed}/"\n',
             f'[imap]\nhost = "127.0.0.1"\nport = {closed}\nsecurity = "none"\nusername = "p"\npassword = "x"\n'
             'address = "progress@studio.example"\nrequire_authentication = false\n',
             f'[smtp]\nhost = "127.0.0.1"\nport = {closed}\nsecurity = "none"\nfrom = "PM <pm@studio.example>"\n',
             '[team]\nmembers = ["alice@studio.example"]\nmanager = "pm@studio.example"\n',
             f'[web]\nlisten = "127.0.0.1:{port}"\ntrusted_user_header = "X-User"\ntrusted_proxies = ["127.0.0.1"]\n',
             '[policy]\nholidays = ""\nweekly_update = ""\n']
    for p in range(PROJECTS):
        approval = '\napproval = "manager"' if f"p{p}" in HELD else ""
        lines.append(f'[[projects]]\nid = "p{p}"\nname = "Project {p}"\ncalendar = "p{p}"{approval}\n'
                     f'client = {{ name = "Client {p}", email = "c{p}@client.example" }}\n')
    path = folder / "dw.toml"
    path.write_text("\n".join(lines))
    path.chmod(0o600)
    return path


def _seed(config: Path) -> None:
    """Every project's milestones, as a calendar sync would have stored them, and the team's notes: steady
    progress, except the first milestone of each LATE project, 80 working days from done a month before its
    deadline."""
    store = Store.open(config_mod.load(config).state_dir)
    for p in range(PROJECTS):
        project = f"p{p}"
        milestones = [Milestone(project, f"m{i}", f"Milestone {p}.{i}", NOW + dt.timedelta(days=30 + 3 * i),
                                start=NOW - dt.timedelta(days=10)) for i in range(PER_PROJECT)]
        store.apply_calendar(project, ref=project, url=f"http://x/{project}/", token="t", fingerprint="", entries=[],
                             parsed={f"/{project}/{m.uid}.ics": [m] for m in milestones}, deleted=[], kept=set(),
                             now=NOW)
        reports = [Report(project, m.uid, NOW - dt.timedelta(days=d), done=50 - 5 * d, remaining_days=5 + d,
                          sender="alice@studio.example") for m in milestones for d in (6, 3, 1)]
        if project in LATE:
            reports.append(Report(project, "m0", NOW, done=10, remaining_days=80, sender="alice@studio.example"))
        store.record_message(message_key=f"k{p}", message_id=f"<k{p}@studio.example>",
                             sender="alice@studio.example", subject="progress", received_at=NOW, outcome="recorded",
                             target_folder="done", project=project, problems=(), raw=b"", body="", reports=reports,
                             now=NOW)
    store.close()


@pytest.fixture(scope="module")  # a thousand milestones' first pass once: no test here writes to the state
def many(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    tmp_path = tmp_path_factory.mktemp("many")
    port = free_port()
    config = _config(tmp_path, port)
    _seed(config)
    log = tmp_path / "daemon.log"
    proc = start_daemon(config, log, now="2026-11-30T12:00")
    try:
        wait_for(lambda: "web pages on" in log.read_text(), 30, "the web pages")
        site = Site(port, config, None, proc, log)  # type: ignore[arg-type]  # no studio: every server is down

        def status() -> dict[str, Any]:
            report: dict[str, Any] = json.loads(deadlinewatch("status", "--json", config=config).stdout)
            return report

        wait_for(lambda: all(m["p_miss"] is not None for m in status()["milestones"]), 60, "the first pass")
        data = status()
        held = [n["id"] for n in data["notices"] if n["state"] == "held"]
        assert held and {n["project"] for n in data["notices"] if n["state"] == "held"} == set(HELD)
        yield Studio(site, held, [(m["project"], m["name"]) for m in data["milestones"] if m["state"] == "open"])
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)


def _cards(page: str) -> list[tuple[str, str]]:
    """The milestones a page shows, in order, as (badge, name)."""
    return [(risk, html.unescape(name)) for risk, name in
            re.findall(r'<article class="milestone ([a-z-]+)" id="m-\d+">\s*<h3>([^<]+?) <span', page)]


def _link(page: str, rel: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)" rel="{rel}">', page)
    return html.unescape(found.group(1)) if found else None


def test_the_first_view_has_every_held_letter_and_one_page_of_milestones_at_risk_first(many: Studio) -> None:
    page = many.get("/")
    assert page.status == 200 and page.header("Cache-Control") == "no-store"
    for notice in many.held:  # their milestones are on track, pages away: the letters are here all the same
        assert f'<article class="held" id="notice-{notice}">' in page.body, notice
    cards = _cards(page.body)
    assert len(cards) == PAGE_SIZE and page.body.count('class="fan"') == PAGE_SIZE  # pictures for these only
    # first the two the late notes tip: "will be late", or once their notice is out "new date set" (still
    # before every milestone on track)
    assert {name for _, name in cards[:len(LATE)]} == {f"Milestone {p[1:]}.0" for p in LATE}
    assert {risk for risk, _ in cards[:len(LATE)]} <= {"late", "moved"}
    assert {risk for risk, _ in cards[len(LATE):]} == {"on-track"}
    assert "Milestones 1–24 of 1,000" in page.body
    # the letters waiting for the manager come before every milestone
    assert page.body.index('<h2 id="waiting">') < page.body.index('<h2 id="milestones">')
    assert _link(page.body, "prev") is None and _link(page.body, "next") == "?page=2"
    assert len(page.body.encode()) < 300_000


def test_every_other_milestone_is_a_plain_link_away_and_on_exactly_one_page(many: Studio) -> None:
    seen: list[tuple[str, str]] = []
    path: str | None = "./"
    pages = 0
    while path is not None:
        page = many.get("/" + path.removeprefix("./"))
        assert page.status == 200
        seen += _cards(page.body)
        held_here = sum(f'id="notice-{n}"' in page.body for n in many.held)
        # a later page points to the held letters rather than repeating them
        assert held_here == (len(many.held) if pages == 0 else 0)
        if pages:
            assert 'href="./#waiting"' in page.body
        path = _link(page.body, "next")
        pages += 1
    assert pages == PAGES and len(seen) == len(many.open) == PROJECTS * PER_PROJECT
    assert sorted(name for _, name in seen) == sorted(name for _, name in many.open)  # each once
    order = ["late", "at-risk", "unknown", "moved", "on-track", "done"]
    assert [order.index(risk) for risk, _ in seen] == sorted(order.index(risk) for risk, _ in seen)
    assert _cards(many.get("/?page=999").body) == seen[(PAGES - 1) * PAGE_SIZE:]  # past the last: the last
    assert _cards(many.get("/?page=x").body) == seen[:PAGE_SIZE]


def test_a_projects_view_shows_its_milestones_its_held_letters_and_every_letter_to_its_client(many: Studio) -> None:
    project = HELD[0]
    page = many.get(f"/?project={project}")
    assert page.status == 200
    assert f"<h1>Project {project[1:]} " in page.body and re.search(r'<a href="p/[\w-]{32}/">The client', page.body)
    assert sorted(name for _, name in _cards(page.body)) == [f"Milestone {project[1:]}.{i}" for i in range(PER_PROJECT)]
    assert 'class="project-of"' not in page.body  # every card is this project's
    assert f'<option value="{project}" selected>' in page.body  # the filter says what it shows
    assert "Letters to the client" in page.body
    # this project's held letters, not the others'
    theirs = [n for n in many.held if f'<article class="held" id="notice-{n}">' in many.get("/").body]
    mine = [n for n in theirs if f'<article class="held" id="notice-{n}">' in page.body]
    assert mine and len(mine) < len(theirs)
    probe = urllib.parse.quote("<script>alert(1)</script>")
    unknown = many.get(f"/?project={probe}")
    assert unknown.status == 404 and "alert(1)" not in unknown.body


def test_the_pages_work_without_javascript_on_a_phone_and_pass_axe(many: Studio, browser: Any,  # noqa: F811
                                                                    axe: str) -> None:  # noqa: F811
    base = f"http://127.0.0.1:{many.site.port}/"
    headers = {"X-User": MANAGER}
    plain = Visit(browser, axe, viewport=PHONE, is_mobile=True, java_script_enabled=False, extra_http_headers=headers)
    try:
        plain.page.goto(base)
        assert not plain.page.locator("#more").is_visible()  # the script's button: nothing without the script
        plain.submit("a[rel=next]")
        assert plain.page.url == base + "?page=2"
        assert plain.page.locator("article.milestone").count() == PAGE_SIZE
        plain.page.select_option("#project", HELD[0])
        plain.submit("form.filter button")
        assert plain.page.url == base + f"?project={HELD[0]}"
        assert plain.page.locator("article.milestone").count() == PER_PROJECT
        assert plain.errors == []
    finally:
        plain.close()
    tab = Visit(browser, axe, viewport=PHONE, device_scale_factor=2, is_mobile=True, extra_http_headers=headers)
    try:
        for path in ("", "?page=2", "?page=3", f"?project={HELD[0]}"):
            tab.page.goto(base + path)
            assert tab.violations() == [], path
            assert tab.page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], path
        tab.page.goto(base + "?page=2")
        tab.screenshot("dashboard-page-2")
        assert tab.errors == []
    finally:
        tab.close()


def test_with_javascript_the_next_page_is_appended_in_place_under_the_servers_csp(many: Studio,
                                                                                  browser: Any) -> None:  # noqa: F811
    from playwright.sync_api import expect

    base = f"http://127.0.0.1:{many.site.port}/"
    first, second, third = (_cards(many.get(path).body) for path in ("/", "/?page=2", "/?page=3"))
    # not Visit: its context bypasses the CSP for axe, and here the page's own CSP must let the script run
    context = browser.new_context(viewport=PHONE, is_mobile=True, extra_http_headers={"X-User": MANAGER})
    errors: list[str] = []
    try:
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)  # a CSP refusal too
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(base)

        def shown() -> list[tuple[str, str]]:  # as _cards reads them: (badge, name)
            found = page.evaluate("[...document.querySelectorAll('article.milestone')].map(a => [a.classList[1],"
                                  " a.querySelector('h3').firstChild.textContent.trim()])")
            return [(risk, name) for risk, name in found]

        page.evaluate("window.stayed = true")  # gone if the browser navigated instead of appending
        more = page.locator("#more")
        assert more.is_visible() and more.inner_text() == "Show the next page below"
        more.click()
        expect(page.locator("article.milestone")).to_have_count(2 * PAGE_SIZE)
        assert page.evaluate("window.stayed") is True
        assert shown() == first + second  # page 2's cards below page 1's, in order
        assert page.locator("svg.fan").count() == 2 * PAGE_SIZE  # drawn by the server, for what is on screen
        assert page.locator("article.held").count() == len(many.held)  # the held letters still on top
        assert page.url == base + "?page=2"  # the address says where the reader is: a bookmark opens page 2
        assert page.inner_text("#shown") == "Milestones 1–48 of 1,000"
        assert page.evaluate("document.activeElement.id") == f"m-{PAGE_SIZE + 1}"  # reading goes on there
        assert page.locator("a[rel=prev]").get_attribute("href") == "./"  # page 2's links now
        assert page.locator("a[rel=next]").get_attribute("href") == "?page=3"
        more.click()
        expect(page.locator("article.milestone")).to_have_count(3 * PAGE_SIZE)
        assert shown() == first + second + third and page.url == base + "?page=3"
        # a project's view fits on one page: no button
        page.select_option("#project", HELD[0])
        with page.expect_navigation(wait_until="load"):
            page.click("form.filter button")
        assert page.url == base + f"?project={HELD[0]}" and not page.locator("#more").is_visible()
        # the last page has no next one: the button goes
        page.goto(base + f"?page={PAGES - 1}")
        more.click()
        expect(page.locator("a[rel=next]")).to_have_count(0)
        assert not more.is_visible() and page.url == base + f"?page={PAGES}"
        assert errors == []
    finally:
        context.close()
