"""The web pages' pure parts: what each page shows (pages.py), the forecast picture (fan.py), sign-in and sessions
(signin.py), and the catalogs that put every word in the reader's language. No server: plain data in, plain
data (or markup) out."""

from __future__ import annotations

import dataclasses
import datetime as dt
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Literal

import pytest

from deadlinewatch import config as config_mod
from deadlinewatch.core.milestones import milestones_from_ics
from deadlinewatch.core.model import ClientDate, Report
from deadlinewatch.decisions.project_view import ProjectView
from deadlinewatch.demo.servers import write_local_config
from deadlinewatch.errors import UsageError
from deadlinewatch.web import catalogs, signin
from deadlinewatch.web.fan import FanData, fan_svg
from deadlinewatch.web.pages import client_page
from tests.samples import DESIGN, LAUNCH, SECRET

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 12, 2, 9, tzinfo=dt.UTC)
LANGUAGES = ("tr", "bn")


def _view(tmp_path: Path, language: str = "en") -> ProjectView:
    config = config_mod.load(write_local_config(tmp_path / "dw.toml", caldav_url="http://127.0.0.1:9/", imap_port=9,
                                                smtp_port=9))
    project = config.projects[0]
    project = dataclasses.replace(project, client=dataclasses.replace(project.client, language=language))
    entries = (("/d.ics", DESIGN), ("/l.ics", LAUNCH), ("/s.ics", SECRET))
    parsed = [milestones_from_ics(ics, "acme-web", (), "Europe/London", config.timezone, h, NOW) for h, ics in entries]
    ms = sorted((m for p in parsed for m in p.milestones), key=lambda m: m.deadline)
    reports = {"design-1": [Report("acme-web", "design-1", NOW - dt.timedelta(days=9), 20, sender="alice@x"),
                            Report("acme-web", "design-1", NOW - dt.timedelta(days=1), 60, sender="alice@x")]}
    moved = {"design-1": ClientDate(3, dt.date(2026, 12, 9), dt.date(2026, 12, 9), False)}
    return ProjectView(project, ms, reports, moved, "t" * 32)


# --- the client's page -----------------------------------------------------------------------------------------


def test_the_client_page_shows_visible_milestones_the_old_date_beside_a_moved_one_and_this_weeks_progress(
        tmp_path: Path) -> None:
    page = client_page(_view(tmp_path), NOW)
    assert [r.name for r in page.rows] == ["Design mockups", "Launch"]  # the private review is not there
    design = page.rows[0]
    # an English client in London reads British dates, as in its letters; one who asks for en-US, American ones
    assert (design.status, design.old, design.date) == ("moved", "4 December 2026", "9 December 2026")
    assert (design.before, design.now, design.notes) == ("20%", "60%", 1)
    assert page.rows[1].old == ""  # unmoved: one date
    assert client_page(_view(tmp_path, "en-US"), NOW).rows[0].date == "December 9, 2026"


def test_the_client_page_is_updated_by_the_last_news_of_what_it_shows_not_by_being_asked_for(tmp_path: Path) -> None:
    """It said "Updated" with the moment it was asked for: a team silent for three weeks was "updated today". It is
    the last note on a milestone it shows, or the last letter that told one's date — a private milestone's note
    is neither (its time would tell the client there is work it does not see)."""
    view = _view(tmp_path)
    later = NOW + dt.timedelta(days=21)
    assert client_page(view, later).updated == client_page(view, NOW).updated == "1 December 2026, 09:00"
    secret = {**view.reports, "secret-1": [Report("acme-web", "secret-1", NOW, 50, sender="alice@x")]}
    assert client_page(dataclasses.replace(view, reports=secret), later).updated == "1 December 2026, 09:00"
    told = dataclasses.replace(view, sent={"design-1": NOW + dt.timedelta(hours=2)})
    assert client_page(told, later).updated == "2 December 2026, 11:00"
    silent = dataclasses.replace(view, reports={})
    assert client_page(silent, later).updated == ""
    html = catalogs.environment("en").get_template("client.html.j2").render(lang="en", root="../../",
                                                                            page=client_page(silent, later))
    assert "Updated" not in html


def test_the_client_page_is_in_the_clients_language_and_digits(tmp_path: Path) -> None:
    page = client_page(_view(tmp_path, "bn"), NOW)
    design = page.rows[0]
    assert design.date == "৯ ডিসেম্বর ২০২৬" and design.now == "৬০%" and design.notes_text == "১"
    html = catalogs.environment("bn").get_template("client.html.j2").render(lang="bn", root="../../", page=page)
    assert '<html lang="bn">' in html and "সময়সূচি" in html and "আগের তারিখ: ৪ ডিসেম্বর ২০২৬" in html
    assert "Timeline" not in html and "progress note" not in html
    tr = catalogs.environment("tr").get_template("client.html.j2").render(
        lang="tr", root="../../", page=client_page(_view(tmp_path, "tr"), NOW))
    assert "Zaman çizelgesi" in tr and "%60" in tr and "önceki tarih: 4 Aralık 2026" in tr


@pytest.mark.parametrize(("mode", "offered"), [("feed", True), ("invitations", False), ("off", False)])
def test_the_feed_is_offered_only_where_it_is_how_the_clients_calendar_follows(
        tmp_path: Path, mode: Literal["invitations", "feed", "off"], offered: bool) -> None:
    """Two audits: every client page offered "Add the timeline to your calendar". Beside invitations (the feed has
    the same UIDs) a client who follows it sees every milestone twice, once in their calendar and once in the
    subscription; under "off" the manager chose no calendar data at all."""
    pv = _view(tmp_path)
    pv = dataclasses.replace(pv, project=dataclasses.replace(pv.project, calendar_updates=mode))
    html = catalogs.environment("en").get_template("client.html.j2").render(lang="en", root="../../",
                                                                          page=client_page(pv, NOW))
    assert ('href="timeline.ics"' in html) is offered
    assert "Keep the" in html  # the page's own address is the client's to keep either way
    # the feed the letters link, where it is another (the review: two feeds of one timeline are copies too)
    elsewhere = dataclasses.replace(pv, project=dataclasses.replace(pv.project,
                                                                     client_feed_url="https://dav.example/f.ics"))
    html = catalogs.environment("en").get_template("client.html.j2").render(lang="en", root="../../",
                                                                          page=client_page(elsewhere, NOW))
    assert 'href="timeline.ics"' not in html
    assert ('href="https://dav.example/f.ics"' in html) is offered


def test_odd_dashboard_inputs_are_a_page_or_a_clear_refusal_never_an_error() -> None:
    """The audit: ?page=² (a digit to str.isdigit, not to int) and an approval dated 9999-12-31 (no day after it
    for the entry's end) ended in "Something went wrong"."""
    from deadlinewatch.web.server import _form_date, dashboard_query

    assert dashboard_query({"page": "²"}, ["acme-web"]) == (None, 1)
    assert dashboard_query({"page": "2"}, ["acme-web"]) == (None, 2)
    with pytest.raises(UsageError, match="too far ahead"):
        _form_date("9999-12-31")
    assert _form_date("2027-01-15") == dt.date(2027, 1, 15)


def test_a_milestone_with_the_managers_risk_alert_up_is_never_shown_on_track() -> None:
    """The audit: with alert_probability = 0.3, a milestone at 47% had its risk alert up ("the team can still act")
    beside a green "on track" badge, and the count at the top said on track too."""
    from deadlinewatch.web.pages import risk_of

    m = {"state": "open", "p_miss": 0.47, "promised": None, "alert": True}
    assert risk_of(m, 0.6) == "at-risk"
    assert risk_of({**m, "alert": False}, 0.6) == "on-track"


# --- the picture -----------------------------------------------------------------------------------------------


def test_the_fan_draws_the_notes_the_forecast_and_the_deadline_and_says_it_in_words() -> None:
    d = dt.date
    svg = fan_svg(FanData("Design <mockups> & co", [(d(2026, 11, 20), 10), (d(2026, 11, 27), 40)], d(2026, 12, 4),
                          d(2026, 12, 2), d(2026, 12, 8), d(2026, 12, 14), "40% done; deadline 4 Dec"), "f1")
    tree = ET.fromstring(svg)  # well-formed: the hostile name is escaped, not markup
    ns = {"s": "http://www.w3.org/2000/svg"}
    title, desc = tree.find("s:title", ns), tree.find("s:desc", ns)
    assert title is not None and desc is not None
    assert title.text == "Design <mockups> & co"
    assert tree.get("role") == "img" and desc.text == "40% done; deadline 4 Dec"
    assert len(tree.findall("s:circle", ns)) == 2
    fan = tree.find("s:polygon", ns)
    assert fan is not None
    xs = [float(p.split(",")[0]) for p in fan.get("points", "").split()]
    deadline_x = next(float(line.get("x1", 0)) for line in tree.findall("s:line", ns)
                      if line.get("stroke") == "#b42318")
    assert xs[1] > deadline_x and xs[2] > xs[1]  # P50 and P80 both after the deadline, P80 the later
    assert "script" not in svg.lower()


def test_a_milestone_without_notes_or_forecast_still_gets_a_picture() -> None:
    d = dt.date
    ET.fromstring(fan_svg(FanData("Launch", [], d(2026, 12, 10), d(2026, 12, 2), None, None, ""), "f2"))


# --- signing in ------------------------------------------------------------------------------------------------


def test_a_session_is_refused_when_tampered_revoked_or_the_password_changed() -> None:
    sessions = signin.Sessions(b"k" * 32)
    session, cookie = sessions.issue("pm@studio.example", "fp1")
    assert sessions.read(cookie, "fp1") == session
    # another user or session id in the payload (a flipped last character of the signature may decode to the
    # same bytes: base64's unused low bits — not a forgery)
    payload, stamp, signature = cookie.rsplit(".", 2)
    assert sessions.read(f"{payload[:5]}{'A' if payload[5] != 'A' else 'B'}{payload[6:]}.{stamp}.{signature}",
                         "fp1") is None
    assert sessions.read(f"{payload}.{stamp}.{signature[:5]}{'A' if signature[5] != 'A' else 'B'}{signature[6:]}",
                         "fp1") is None
    assert sessions.read(cookie, "fp2") is None  # a new password file ends every session
    assert signin.Sessions(b"j" * 32).read(cookie, "fp1") is None  # another state's key
    assert session.csrf_ok(sessions.secret, session.csrf(sessions.secret))
    assert not session.csrf_ok(sessions.secret, "0" * 64)
    # whether it was signed out is the state's to say (tests/unit/test_store_contract.py), not the cookie's


def test_the_password_is_an_argon2id_hash_that_only_the_password_matches(tmp_path: Path) -> None:
    signin.write_password_file(str(tmp_path / "pw"), "correct horse battery staple")
    stored = signin.read_hash(str(tmp_path / "pw"))
    assert stored.startswith("$argon2id$") and (tmp_path / "pw").stat().st_mode & 0o777 == 0o600
    assert signin.password_matches(stored, "correct horse battery staple")
    assert not signin.password_matches(stored, "correct horse battery stapler")
    assert not signin.password_matches("not a hash", "x")
    with pytest.raises(UsageError, match=r"cannot write .*/no/such/folder/pw: No such file or directory"):
        signin.write_password_file(str(tmp_path / "no" / "such" / "folder" / "pw"), "correct horse battery staple")


def _guess(a: signin.Attempts, address: str, now: float) -> signin.Reserved | signin.Refused:
    """One wrong password from `address`, reserved and settled at `now`."""
    attempt = a.reserve(address, now=now)
    if isinstance(attempt, signin.Reserved):
        a.settle(attempt, "failed", now=now)
    return attempt


def test_an_address_that_guessed_wrong_too_often_waits_until_its_oldest_failure_leaves_the_window() -> None:
    a = signin.Attempts(per_address=3, window=60)
    for t in (0, 10, 20):
        assert isinstance(_guess(a, "10.0.0.1", t), signin.Reserved)
    refused = a.reserve("10.0.0.1", now=21)
    assert refused == signin.Refused(40)  # the failure at 0 leaves the window at 60
    assert isinstance(a.reserve("10.0.0.2", now=21), signin.Reserved)  # another address: its own count
    assert isinstance(_guess(a, "10.0.0.1", 61), signin.Reserved)  # one has left the window: one more try


def test_attempts_under_way_count_before_their_password_is_checked() -> None:
    """Forty at once from one address: only `per_address` are let through to be checked, the rest wait."""
    a = signin.Attempts(per_address=5, window=900)
    answers = [a.reserve("192.0.2.1", now=0) for _ in range(40)]
    reserved = [r for r in answers if isinstance(r, signin.Reserved)]
    assert len(reserved) == 5 and all(isinstance(r, signin.Refused) and r.retry_after > 0 for r in answers[5:])
    for r in reserved:
        a.settle(r, "failed", now=1)
    assert a.reserve("192.0.2.1", now=2) == signin.Refused(900)  # five failures at 1: free again at 901


def test_a_success_clears_its_address_and_an_unchecked_attempt_counts_for_nothing() -> None:
    a = signin.Attempts(per_address=3, window=60)
    _guess(a, "10.0.0.1", 0), _guess(a, "10.0.0.1", 0)
    right = a.reserve("10.0.0.1", now=1)
    assert isinstance(right, signin.Reserved)
    a.settle(right, "succeeded", now=1)
    void = a.reserve("10.0.0.1", now=2)
    assert isinstance(void, signin.Reserved)
    a.settle(void, "void", now=2)  # the request broke off before its password was read
    for _ in range(3):
        assert isinstance(_guess(a, "10.0.0.1", 3), signin.Reserved)
    assert isinstance(a.reserve("10.0.0.1", now=3), signin.Refused)
    assert a.failures_everywhere(now=3) == 5


def test_others_failures_never_refuse_the_right_password_they_slow_everyone_down_within_a_bound() -> None:
    """Thousands of wrong passwords from thousands of addresses: each guesser is refused on its own, the manager
    at another address is never refused, only made to wait — longer as the failures grow, never beyond the bound."""
    a = signin.Attempts(per_address=5, window=900, calm=30, first_delay=1.0, max_delay=10.0, max_addresses=500)
    assert a.reserve("203.0.113.7", now=0) == signin.Reserved("203.0.113.7", 0.0)
    a.settle(signin.Reserved("203.0.113.7", 0.0), "void", now=0)
    delays = []
    for n in range(2000):
        guesser = f"10.{n // 250}.{n % 250}.1"
        for _ in range(5):
            assert isinstance(_guess(a, guesser, 1), signin.Reserved)
        assert isinstance(a.reserve(guesser, now=1), signin.Refused)
        manager = a.reserve("203.0.113.7", now=1)
        assert isinstance(manager, signin.Reserved), n  # never refused
        a.settle(manager, "succeeded", now=1)
        delays.append(manager.delay)
    assert delays == sorted(delays) and delays[0] == 0.0 and delays[-1] == 10.0  # grows, bounded
    assert [signin.slowdown(n, 30, 1.0, 10.0) for n in (0, 29, 30, 59, 60, 90, 120, 150, 10**9)] == \
        [0.0, 0.0, 1.0, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert a.delay(now=1 + 901) == 0.0  # the window has passed: nobody waits
    assert len(a._failures) == 500  # memory stays bounded, however many addresses guess


def test_an_ipv6_host_counts_as_its_64_and_a_mapped_ipv4_as_itself() -> None:
    assert signin.address_key("2001:db8:1:2:aaaa::1") == signin.address_key("2001:db8:1:2:ffff::9") == \
        "2001:db8:1:2::/64"
    assert signin.address_key("::ffff:192.0.2.1") == "192.0.2.1" == signin.address_key("192.0.2.1")
    assert signin.address_key("not an address" * 20) == ("not an address" * 20)[:64]
    a = signin.Attempts(per_address=2, window=60)
    _guess(a, "2001:db8:1:2::1", 0), _guess(a, "2001:db8:1:2::2", 0)
    assert isinstance(a.reserve("2001:db8:1:2::3", now=1), signin.Refused)  # another address of the same host
    assert isinstance(a.reserve("2001:db8:1:3::1", now=1), signin.Reserved)


def test_the_proxys_user_counts_only_from_the_proxy_and_only_as_the_manager() -> None:
    assert signin.from_proxy("127.0.0.1", ["127.0.0.1/32"]) and signin.from_proxy("10.1.2.3", ["10.0.0.0/8"])
    assert not signin.from_proxy("192.0.2.1", ["127.0.0.1/32"]) and not signin.from_proxy(None, ["127.0.0.1/32"])
    assert signin.trusted_user("PM@Studio.example", "Studio PM <pm@studio.example>") == "pm@studio.example"
    assert signin.trusted_user("pm", "pm@studio.example") == "pm@studio.example"
    for other in ("alice@studio.example", "pm@evil.example", "", "pm@studio.example.evil",
                  # a display name or a second address: a proxy names one user, nothing more
                  "Mallory <pm@studio.example>", "pm@studio.example, mallory@evil.example", "pm mallory"):
        assert signin.trusted_user(other, "pm@studio.example") is None, other


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)


@pytest.mark.parametrize("language", ("en", *LANGUAGES))
def test_the_sign_in_page_renders_in_every_language_without_script(language: str) -> None:
    html = catalogs.environment(language).get_template("signin.html.j2").render(
        lang=language, root="", problem="wrong", password_on=True)
    parser = _Tags()
    parser.feed(html)
    assert "script" not in parser.tags and f'lang="{language}"' in html
    assert ("Sign in" in html) == (language == "en")


def test_a_delivered_milestone_shows_the_day_it_was_delivered_not_the_date_it_was_due(tmp_path: Path) -> None:
    """Delivered on 1 December against a promise of the 9th: the page said "Delivered 9 December 2026", a day still
    to come (the client-side audit). It names the day the team's note said Done: 100%, where the client is."""
    view = _view(tmp_path)
    done = Report("acme-web", "design-1", dt.datetime(2026, 12, 1, 23, 30, tzinfo=dt.UTC), 100, sender="alice@x")
    view = dataclasses.replace(view, reports={"design-1": [*view.reports["design-1"][:1], done]})
    [design] = [r for r in client_page(view, NOW).rows if r.name == "Design mockups"]
    assert (design.status, design.date) == ("done", "1 December 2026")


def test_a_letter_the_pass_withdrew_is_said_withdrawn_not_rejected() -> None:
    """The second review: a manager clicking on a letter the pass withdrew (its milestone changed since) read "it is
    rejected", though nobody rejected it."""
    for language, word in (("en", "withdrawn"), ("tr", "geri çekildi"), ("bn", "প্রত্যাহার করা হয়েছে")):
        html = catalogs.environment(language).get_template("decided.html.j2").render(
            lang=language, root="../../", message="", state="withdrawn", replaced_by="", anchor="notice-3")
        assert word in html, language
