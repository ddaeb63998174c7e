"""The web pages as a person uses them: Debian's Chromium, headless, driven by Playwright (the system browser:
nothing is downloaded). The manager signs in on a phone, reads the dashboard, approves a held notice and it leaves
through the SMTP server; the client opens their page in Turkish and in Bengali. Every page: no console error (a
blocked style or a CSP violation is one), no axe-core accessibility violation. With DEADLINEWATCH_SCREENSHOTS set
(scripts/screenshots.sh), each page is also saved there for docs/."""

from __future__ import annotations

import os
import re
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI, Studio, deadlinewatch, npm_package
from tests.integration.test_daemon import wait_for
from tests.integration.test_web import PASSWORD, Site, client_path, held_notice, open_site

pytestmark = pytest.mark.integration
CHROMIUM = "/usr/bin/chromium"  # Debian's package
PHONE = {"width": 390, "height": 844}
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]  # root in CI; nothing may leave loopback


@pytest.fixture(scope="module")  # Playwright's sync API keeps an event loop running: gone before other modules
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() or not shutil.which("node"):
        if IN_CI:
            pytest.fail("Debian's chromium is needed under CI=true (scripts/test.sh installs it as root)")
        pytest.skip("chromium is not installed (apt-get install chromium): the browser tests are skipped")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


@pytest.fixture
def site(studio: Studio, tmp_path: Path) -> Iterator[Site]:
    """The pages at their own address (the browser talks to them directly)."""
    with open_site(studio, tmp_path) as s:
        yield s


@pytest.fixture(scope="session")
def axe() -> str:
    return (npm_package("axe-core@4", "check the pages' accessibility") / "axe-core" / "axe.min.js").read_text()


class Visit:
    """A browser tab that records console errors and can run axe-core on what it shows."""

    def __init__(self, browser: Any, axe: str, **context: Any) -> None:
        # bypass_csp only so that axe itself can be injected; the page's own CSP is asserted over HTTP
        self.context = browser.new_context(bypass_csp=True, **context)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.axe = axe

    def violations(self) -> list[str]:
        self.page.add_script_tag(content=self.axe)
        result = self.page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']}))"
                                    ".violations.map(v => v.id + ': ' + v.help + ' ' + v.nodes.map(n => n.target)"
                                    ".join(' '))")
        return list(result)

    def submit(self, button: str) -> None:
        """Click a form's button and wait until the page it leads to has loaded (a click alone returns while the
        POST and its redirect are still under way: what is read or reloaded next could be the page being left)."""
        with self.page.expect_navigation(wait_until="load"):
            self.page.click(button)

    def screenshot(self, name: str) -> None:
        folder = os.environ.get("DEADLINEWATCH_SCREENSHOTS")
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()


def test_the_manager_approves_a_held_notice_on_a_phone(site: Site, browser: Any, axe: str) -> None:
    notice = held_notice(site)
    tab = Visit(browser, axe, viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    try:
        base = f"http://127.0.0.1:{site.port}/"
        tab.page.goto(base)
        assert tab.page.url == base + "signin"  # not signed in: asked to
        assert tab.violations() == []
        tab.screenshot("signin")
        tab.page.fill("#password", "not the password")
        tab.submit("button[type=submit]")
        assert "not right" in tab.page.inner_text("main")
        tab.errors.clear()  # the 401 of a wrong password is a console error by design
        tab.page.fill("#password", PASSWORD)
        tab.submit("button[type=submit]")
        assert tab.page.url == base
        main = tab.page.inner_text("main")
        for shown in ("Waiting for your decision", "ACME website relaunch", "Design mockups", "Launch",
                      "Chance of missing"):
            assert shown in main, shown
        assert tab.page.locator("svg.fan").count() >= 2 and tab.page.locator("svg.fan").first.is_visible()
        assert "brand assets arrived a week late" in tab.page.inner_text(f"#notice-{notice['id']} pre.letter")
        # nothing wider than the phone: the notices table scrolls inside its own box
        assert tab.page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert tab.violations() == []
        tab.screenshot("dashboard")
        tab.submit(f"#notice-{notice['id']} button.approve")
        assert tab.page.url.startswith(base)
        wait_for(lambda: any("jane@acme.example" in rs for _, rs, _ in site.studio.smtp.messages), 15, "the notice")
        tab.page.goto(base)
        assert tab.page.locator(f"tr#notice-{notice['id']}").count() == 1  # now a row of the table…
        assert tab.page.locator(f"article#notice-{notice['id']}").count() == 0  # …no longer waiting
        assert "web: pm@studio.example" in tab.page.inner_text(f"#notice-{notice['id']}")
        assert tab.errors == []
    finally:
        tab.close()


@pytest.mark.parametrize("language", ["tr", "bn"])
def test_the_client_reads_their_page_in_their_language(site: Site, browser: Any, axe: str,
                                                       language: str) -> None:
    notice = held_notice(site)
    assert deadlinewatch("approve", str(notice["id"]), config=site.config).returncode == 0  # told: the new date
    text = site.config.read_text().replace('language = "en"', f'language = "{language}"')
    site.config.write_text(text)
    before = site.log.read_text().count("configuration reloaded")
    site.daemon.send_signal(signal.SIGHUP)
    wait_for(lambda: site.log.read_text().count("configuration reloaded") > before, 15, "the reload")
    tab = Visit(browser, axe, viewport=PHONE, device_scale_factor=2, is_mobile=True, locale=language)
    try:
        tab.page.goto(f"http://127.0.0.1:{site.port}{client_path(site)}")
        assert tab.page.get_attribute("html", "lang") == language
        main = tab.page.inner_text("main")
        heading = {"tr": "Zaman çizelgesi", "bn": "সময়সূচি"}[language]
        assert heading in main and "Design mockups" in main and "Internal security review" not in main
        assert not re.search(r"\b(Timeline|Milestone|Progress|Updated)\b", main)  # no English word of ours
        if language == "bn":
            assert re.search("[০-৯]", main) and not re.search("[0-9]", main)  # Bengali digits, also in years
        # its calendar follows by invitations (the default): no feed beside them, which would show every date twice
        assert tab.page.locator("a[href='timeline.ics']").count() == 0
        assert tab.violations() == []
        assert tab.errors == []
        tab.screenshot(f"client-{language}")
    finally:
        tab.close()


def test_a_long_unbroken_name_fits_a_phone_on_every_page(studio: Studio, tmp_path: Path, browser: Any,
                                                         axe: str) -> None:
    """The audit: one milestone named like a file (58 characters, no space) made the client's page 685 px wide on
    a 390 px phone — its date and progress off the screen — and the dashboard scrolled sideways on a 320 px one
    whatever the names: the cards were at least 320 px wide, beside the page's margins."""
    name = "brand_guidelines_v2_final_review_signoff_by_marketing.pdf"
    studio.caldav.put(studio.caldav.calendar_url("acme-web", "pm"), "brand-1", (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VTODO\r\nUID:brand-1\r\n"
        f"DTSTAMP:20261101T000000Z\r\nSUMMARY:{name}\r\nDUE;VALUE=DATE:20261218\r\nEND:VTODO\r\n"
        "END:VCALENDAR\r\n"))
    with open_site(studio, tmp_path) as site:
        wait_for(lambda: name in site.ask("GET", client_path(site)).body, 30, "the long name on the client's page")
        for width, path, signed_in in ((390, client_path(site), False), (320, "", True)):
            tab = Visit(browser, axe, viewport={"width": width, "height": 800}, is_mobile=True)
            try:
                base = f"http://127.0.0.1:{site.port}/"
                if signed_in:
                    tab.page.goto(base)
                    tab.page.fill("#password", PASSWORD)
                    tab.submit("button[type=submit]")
                else:
                    tab.page.goto(base.rstrip("/") + path)
                assert name in tab.page.inner_text("main")
                assert tab.page.evaluate("document.documentElement.scrollWidth") <= width, (width, path)
                assert tab.errors == []
            finally:
                tab.close()
