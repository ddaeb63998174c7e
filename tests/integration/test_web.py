"""The web pages as a client program sees them: served by `deadlinewatch run` itself on [web] listen, over the
same store; signed in or not; the client's page and its feed; the usual mistakes scanned for."""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import json
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.utils import format_datetime
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import pytest
from icalendar import Calendar

from deadlinewatch.demo.servers import free_port
from tests.conftest import Studio, deadlinewatch, start_daemon
from tests.integration.test_daemon import wait_for
from tests.samples import NOTE, SECRET

pytestmark = pytest.mark.integration
PASSWORD = "correct horse battery staple"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: str

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


@dataclass
class Site:
    """The daemon's pages, asked over plain HTTP the way a browser or a calendar program does."""

    port: int
    config: Path
    studio: Studio
    daemon: subprocess.Popen[bytes]
    log: Path

    def ask(self, method: str, path: str, body: dict[str, str] | None = None, cookie: str = "",
            **headers: str) -> Answer:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        data = urllib.parse.urlencode(body).encode() if body is not None else None
        sent = {k.replace("_", "-"): v for k, v in headers.items()}
        if data is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        if cookie:
            sent["Cookie"] = cookie
        conn.request(method, path, body=data, headers=sent)
        r = conn.getresponse()
        answer = Answer(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode("utf-8", "replace"))
        conn.close()
        return answer

    def sign_in(self, password: str = PASSWORD) -> str:
        r = self.ask("POST", "/signin", {"password": password})
        assert r.status == 303, r
        jar = SimpleCookie(r.header("Set-Cookie"))
        return f"deadlinewatch_session={jar['deadlinewatch_session'].value}"

    def status(self) -> dict[str, Any]:
        report: dict[str, Any] = json.loads(deadlinewatch("status", "--json", config=self.config).stdout)
        return report


def web_config(studio: Studio, tmp_path: Path, port: int, base_url: str) -> Path:
    config = studio.config
    hashed = tmp_path / "web-password"
    made = subprocess.run([sys.executable, "-m", "deadlinewatch", "web-password", "--out", str(hashed)],
                          input=PASSWORD + "\n", capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    assert hashed.stat().st_mode & 0o777 == 0o600
    text = config.read_text().replace('approval = "auto"', 'approval = "manager"')
    config.write_text(text + f'\n[web]\nlisten = "127.0.0.1:{port}"\nbase_url = "{base_url}"\n'
                             f'password_file = "{hashed}"\n')
    return config


@contextlib.contextmanager
def open_site(studio: Studio, tmp_path: Path, base_url: str = "") -> Iterator[Site]:
    """The studio's daemon with its pages on a free port; base_url as the proxy in front would make it (by
    default the pages' own address)."""
    studio.caldav.put(_calendar_url(studio), "internal-1", SECRET)  # a private milestone
    port = free_port()
    config = web_config(studio, tmp_path, port, base_url or f"http://127.0.0.1:{port}/")
    log = tmp_path / "daemon.log"
    site = Site(port, config, studio, start_daemon(config, log), log)
    try:
        wait_for(lambda: "web pages on" in log.read_text(), 30, "the web pages")
        yield site
    finally:  # the daemon running now: a test may have restarted it
        site.daemon.send_signal(signal.SIGTERM)
        site.daemon.wait(timeout=15)


@pytest.fixture
def site(studio: Studio, tmp_path: Path) -> Iterator[Site]:
    """Behind a proxy that serves the pages under https://studio.example/dw/."""
    with open_site(studio, tmp_path, "https://studio.example/dw/") as s:
        yield s


def _calendar_url(studio: Studio) -> str:
    return studio.caldav.calendar_url("acme-web", "pm")


def held_notice(site: Site) -> dict[str, object]:
    site.studio.dovecot.save("progress", NOTE.encode())

    def found() -> bool:
        return any(n["kind"] == "notice" and n["state"] == "held" for n in site.status()["notices"])

    wait_for(found, 30, "a held notice")
    notice: dict[str, object] = next(n for n in site.status()["notices"] if n["kind"] == "notice")
    return notice


def client_path(site: Site) -> str:
    [project] = site.status()["projects"]
    assert re.fullmatch(r"/p/[A-Za-z0-9_-]{32}/", project["client_page"])  # 192 random bits
    return str(project["client_page"])


def test_the_manager_signs_in_reads_every_project_and_approves_a_held_notice(site: Site) -> None:
    notice = held_notice(site)
    assert site.ask("GET", "/").status == 303  # not signed in: to the sign-in page
    assert site.ask("POST", "/signin", {"password": "wrong password!"}).status == 401
    cookie = site.sign_in()
    set_cookie = site.ask("POST", "/signin", {"password": PASSWORD}).header("Set-Cookie")
    for flag in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/dw/"):
        assert flag.lower() in set_cookie.lower(), set_cookie
    page = site.ask("GET", "/", cookie=cookie)
    assert page.status == 200 and page.header("Cache-Control") == "no-store"
    for shown in ("ACME website relaunch", "Design mockups", "Launch", "Internal security review", "<svg",
                  "Waiting for your decision", f"notice-{notice['id']}", "Approve and send",
                  "The team says it needs another 10 working days.", "chance of missing"):
        assert shown in page.body, shown
    assert "brand assets arrived a week late" in page.body  # the held letter, as the client would read it
    api = site.ask("GET", "/api/status", cookie=cookie)
    assert api.status == 200 and json.loads(api.body)["notices"] == site.status()["notices"]

    csrf = csrf_of(page.body)
    stale = site.ask("POST", f"/notices/{notice['id']}/approve", {"csrf": "0" * 64}, cookie=cookie)
    assert stale.status == 403 and "open the projects again and decide there" in stale.body  # a page, the way back
    assert site.ask("POST", f"/notices/{notice['id']}/approve", {"csrf": csrf}, cookie=cookie,
                    Sec_Fetch_Site="cross-site").status == 403
    started = time.monotonic()
    done = site.ask("POST", f"/notices/{notice['id']}/approve", {"csrf": csrf}, cookie=cookie)
    assert done.status == 303 and done.header("Location") == f"../../#notice-{notice['id']}"
    wait_for(lambda: any("jane@acme.example" in rs for _, rs, _ in site.studio.smtp.messages), 15, "the notice")
    assert time.monotonic() - started < 10  # the daemon acts on it at once
    decided = next(n for n in site.status()["notices"] if n["id"] == notice["id"])
    assert decided["decided_by"] == "web: pm@studio.example"
    again = site.ask("POST", f"/notices/{notice['id']}/reject", {"csrf": csrf}, cookie=cookie)
    assert again.status == 409 and "This letter no longer waits for a decision: it is " in again.body

    out = site.ask("POST", "/signout", {"csrf": csrf}, cookie=cookie)
    assert out.status == 303
    assert site.ask("GET", "/", cookie=cookie).status == 303  # the old cookie no longer signs in


def test_pages_served_over_plain_http_give_a_session_cookie_a_browser_keeps(studio: Studio, tmp_path: Path) -> None:
    """The web audit: with base_url = "http://192.0.2.2:8080/" (the studio's own network, no TLS) the manager typed
    the right password and was back at the sign-in page — the session cookie was Secure, which a browser drops over
    plain http anywhere but on this machine — with nothing to say why. There the cookie is not Secure; over https
    (the `site` fixture's proxy) it is."""
    with open_site(studio, tmp_path, "http://studio.example/dw/") as plain:
        set_cookie = plain.ask("POST", "/signin", {"password": PASSWORD}).header("Set-Cookie").lower()
        assert "httponly" in set_cookie and "samesite=strict" in set_cookie and "path=/dw/" in set_cookie
        assert "secure" not in set_cookie.replace("samesite", "")
        cookie = plain.sign_in()
        assert plain.ask("GET", "/", cookie=cookie).status == 200


def test_the_manager_sends_a_held_notice_with_a_date_of_their_own_from_the_page(site: Site) -> None:
    """Beside the held letter: the team's own date as a button, and a date field no earlier than the day after the
    deadline; a date not after the deadline is refused with the reason, one after it is composed again and sent."""
    notice = held_notice(site)
    cookie = site.sign_in()
    page = site.ask("GET", "/", cookie=cookie).body
    article = page[page.index(f'<article class="held" id="notice-{notice["id"]}"'):]
    article = article[:article.index("</article>")]
    assert "Send with the team&#39;s date" in article or "Send with the team's date" in article
    assert re.search(r'<input type="date" id="date-\d+" name="date" min="2026-12-0[56]" required>', article)
    csrf = csrf_of(page)
    early = site.ask("POST", f"/notices/{notice['id']}/approve", {"csrf": csrf, "date": "2026-12-04"}, cookie=cookie)
    assert early.status == 409 and "not after the deadline" in early.body
    # said as the page speaks, in the team's language (the mail's words: errors.DateRefused), not the command's
    assert "the date 4 Dec 2026 cannot be given: not after the deadline" in early.body and "--date" not in early.body
    chosen = dt.date(2026, 12, 22)  # after the daemon's today (its --now: start_daemon)
    done = site.ask("POST", f"/notices/{notice['id']}/approve", {"csrf": csrf, "date": chosen.isoformat()},
                    cookie=cookie)
    assert done.status == 303
    wait_for(lambda: any("jane@acme.example" in rs and b"X-Deadlinewatch-Kind: notice" in raw
                         for _, rs, raw in site.studio.smtp.messages), 15, "the notice")
    [raw] = [raw for _, rs, raw in site.studio.smtp.messages
             if "jane@acme.example" in rs and b"X-Deadlinewatch-Kind: notice" in raw]
    assert f"DTSTART;VALUE=DATE:{chosen:%Y%m%d}".encode() in base64_parts(raw)
    states = {n["id"]: (n["state"], n["decided_by"]) for n in site.status()["notices"]}
    assert states[notice["id"]][0] == "rejected"  # superseded by the letter written for the manager's date
    assert ("sent", "web: pm@studio.example") in states.values()
    # a second click on the page read before: the web audit had "notice #3 is rejected, not held" — the manager
    # had approved it; it was replaced by the letter written for their date, which is what the page says now
    [new] = [i for i, (state, by) in states.items() if (state, by) == ("sent", "web: pm@studio.example")]
    twice = site.ask("POST", f"/notices/{notice['id']}/approve", {"csrf": csrf, "date": chosen.isoformat()},
                     cookie=cookie)
    assert twice.status == 409 and f"replaced by a newer one (#{new})" in twice.body


def base64_parts(raw: bytes) -> bytes:
    """Every part of a message decoded (calendar parts are base64 on the wire)."""
    from email import message_from_bytes

    msg = message_from_bytes(raw)
    decoded = (part.get_payload(decode=True) for part in msg.walk() if not part.is_multipart())
    return b"".join(payload if isinstance(payload, bytes) else b"" for payload in decoded)  # a leaf: bytes or None


def test_no_wrong_or_missing_sign_in_reaches_manager_data_or_actions(site: Site) -> None:
    notice = held_notice(site)
    cookie = site.sign_in()
    value = cookie.split("=", 1)[1]
    flipped = f"{value[:-9]}{'x' if value[-9] != 'x' else 'y'}{value[-8:]}"  # a changed signature
    forged = ["", "deadlinewatch_session=", f"deadlinewatch_session={flipped}", "deadlinewatch_session=" + "A" * 80,
              f"deadlinewatch_session={value.split('.')[0]}.AAAA.BBBB"]
    secrets_and_data = ("Design mockups", "ACME", "jane@acme.example", "brand assets", "csrf", "$argon2")
    for bad in forged:
        for method, path, body in (("GET", "/", None), ("GET", "/api/status", None),
                                   ("POST", f"/notices/{notice['id']}/approve", {"csrf": "x"}),
                                   ("POST", f"/notices/{notice['id']}/reject", {"csrf": "x"})):
            r = site.ask(method, path, body, cookie=bad)
            assert r.status in (303, 401), (bad, path, r.status)
            assert not any(s in r.body for s in secrets_and_data), (bad, path, r.body[:200])
        # the proxy's header from anyone but the proxy names nobody… unless the proxy is configured
        r = site.ask("GET", "/api/status", cookie=bad, X_Forwarded_User="pm@studio.example")
        assert r.status == 401
    # nothing was decided by any of it
    assert next(n for n in site.status()["notices"] if n["id"] == notice["id"])["state"] == "held"


def test_sign_in_attempts_are_limited(site: Site) -> None:
    answers = [site.ask("POST", "/signin", {"password": f"guess number {i}"}).status for i in range(7)]
    assert answers[:5] == [401] * 5 and answers[5:] == [429, 429]
    limited = site.ask("POST", "/signin", {"password": PASSWORD})  # even the right one waits now
    assert limited.status == 429 and int(limited.header("Retry-After")) > 0


def test_concurrent_wrong_passwords_from_one_address_are_limited_all_the_same(site: Site) -> None:
    """Forty guesses at once from one address: each attempt is counted before the password is checked, so no
    more than the address's five are ever checked, and the rest wait (429 with Retry-After)."""
    with ThreadPoolExecutor(40) as pool:
        answers = list(pool.map(lambda i: site.ask("POST", "/signin", {"password": f"guess number {i}"}), range(40)))
    statuses = sorted(a.status for a in answers)
    assert statuses.count(401) <= 5 and statuses.count(429) >= 35, statuses
    assert set(statuses) == {401, 429}
    assert all(int(a.header("Retry-After")) > 0 for a in answers if a.status == 429)
    assert site.ask("POST", "/signin", {"password": PASSWORD}).status == 429  # this address waits, even now


def trust_the_proxy(site: Site, proxies: str = '["127.0.0.1"]') -> None:
    """We (127.0.0.1) become the reverse proxy: X-Forwarded-For names the browser."""
    text = re.sub(r"\ntrusted_proxies = .*\n", "\n", site.config.read_text())
    site.config.write_text(text + f"trusted_proxies = {proxies}\n")
    before = site.log.read_text().count("configuration reloaded")
    site.daemon.send_signal(signal.SIGHUP)
    wait_for(lambda: site.log.read_text().count("configuration reloaded") > before, 15, "the reload")


def test_wrong_passwords_from_many_addresses_never_lock_the_manager_out(site: Site) -> None:
    """Eight addresses behind the proxy guess until each is told to wait: each waits alone, and the right password
    from anywhere else still signs in (everyone is slowed down a little instead)."""
    trust_the_proxy(site)
    guessers = [f"198.51.100.{i}" for i in range(1, 9)]

    def guess(n: int) -> int:
        address = guessers[n % len(guessers)]
        return site.ask("POST", "/signin", {"password": f"guess {n}"}, X_Forwarded_For=address).status

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(guess, range(48)))
    assert statuses.count(401) == 40 and statuses.count(429) == 8, statuses
    for address in guessers:  # each guesser has used its own five
        assert site.ask("POST", "/signin", {"password": PASSWORD}, X_Forwarded_For=address).status == 429
    started = time.monotonic()
    right = site.ask("POST", "/signin", {"password": PASSWORD}, X_Forwarded_For="203.0.113.7")
    assert right.status == 303 and "deadlinewatch_session=" in right.header("Set-Cookie")
    assert time.monotonic() - started < 15  # slowed, not refused
    assert site.ask("POST", "/signin", {"password": PASSWORD}, X_Forwarded_For="2001:db8::1").status == 303
    assert "failed sign-in from 198.51.100.3" in site.log.read_text()  # the browser's address, not the proxy's


def restart(site: Site) -> None:
    site.daemon.send_signal(signal.SIGTERM)
    assert site.daemon.wait(timeout=15) == 0
    before = site.log.read_text().count("web pages on")
    site.daemon = start_daemon(site.config, site.log)
    wait_for(lambda: site.log.read_text().count("web pages on") > before, 30, "the web pages again")


def dashboard_csrf(site: Site, cookie: str) -> str:
    page = site.ask("GET", "/", cookie=cookie)
    assert page.status == 200, page.status
    return csrf_of(page.body)


def csrf_of(page: str) -> str:
    """The token a signed-in page's forms carry."""
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert found is not None, "no csrf token on the page"
    return found.group(1)


def test_a_signed_out_cookie_stays_refused_after_the_daemon_restarts(site: Site) -> None:
    phone, desk = site.sign_in(), site.sign_in()
    assert site.ask("POST", "/signout", {"csrf": dashboard_csrf(site, phone)}, cookie=phone).status == 303
    assert site.ask("GET", "/api/status", cookie=phone).status == 401
    restart(site)
    assert site.ask("GET", "/api/status", cookie=phone).status == 401  # signed out stays signed out
    assert site.ask("GET", "/", cookie=phone).status == 303
    assert site.ask("GET", "/api/status", cookie=desk).status == 200  # the other session lives on


def test_sign_out_needs_the_forms_token_and_this_site(site: Site) -> None:
    cookie = site.sign_in()
    csrf = dashboard_csrf(site, cookie)
    for body, headers in (({}, {}), ({"csrf": "0" * 64}, {}), ({"csrf": csrf}, {"Sec_Fetch_Site": "cross-site"})):
        r = site.ask("POST", "/signout", body, cookie=cookie, **headers)
        assert r.status == 403 and not r.header("Set-Cookie"), (body, headers, r.status)
        assert site.ask("GET", "/api/status", cookie=cookie).status == 200  # still signed in
    out = site.ask("POST", "/signout", {"csrf": csrf}, cookie=cookie)
    assert out.status == 303 and out.header("Location") == "signin" and "Max-Age=0" in out.header("Set-Cookie")
    assert site.ask("GET", "/api/status", cookie=cookie).status == 401


def test_the_client_page_shows_the_visible_timeline_and_nothing_else(site: Site) -> None:
    held_notice(site)
    path = client_path(site)
    page = site.ask("GET", path)
    assert page.status == 200, page
    assert '<html lang="en">' in page.body
    for shown in ("ACME website relaunch", "Design mockups", "Launch"):
        assert shown in page.body, shown
    # invitations keep the client's calendar (the default): no feed offered beside them, whose copies would show
    # every date twice — it still answers (below), for a client who subscribed under "feed"
    assert "timeline.ics" not in page.body
    for hidden in ("Internal security review", "alice", "studio.example", "brand assets", "P(miss)", "jane@"):
        assert hidden not in page.body, hidden
    assert page.header("Referrer-Policy") == "no-referrer"  # the link is the secret: never sent onwards
    # a wrong token, a token one character off, and a path that is not a page are the same bare 404
    token = path.split("/")[2]
    off = token[:-1] + ("B" if token.endswith("A") else "A")
    wrong = [site.ask("GET", p) for p in ("/p/" + "A" * 32 + "/", f"/p/{off}/", f"/p/{off}/timeline.ics", f"/p/{off}",
                                          "/p/", "/nothing-here", "/static/", "/static/../pyproject.toml")]
    assert {(r.status, r.body) for r in wrong} == {(404, "Not found\n")}


def test_a_leaked_client_link_is_replaced_and_the_old_one_answers_404_at_once(site: Site) -> None:
    old = client_path(site)
    assert site.ask("GET", old).status == 200 and site.ask("GET", old + "timeline.ics").status == 200
    rotated = deadlinewatch("rotate-page", "ACME-WEB", config=site.config)  # through the running daemon
    assert rotated.returncode == 0, rotated.stderr
    new = client_path(site)
    assert new != old and f"https://studio.example/dw{new}" in rotated.stdout
    assert site.ask("GET", old).status == 404 and site.ask("GET", old + "timeline.ics").status == 404
    assert site.ask("GET", new).status == 200 and site.ask("GET", new + "timeline.ics").status == 200
    unknown = deadlinewatch("rotate-page", "no-such-project", config=site.config)
    assert unknown.returncode == 2 and "acme-web" in unknown.stderr


def test_news_the_manager_holds_reaches_the_clients_page_and_feed_only_once_approved(site: Site) -> None:
    notice = held_notice(site)
    path = client_path(site)

    def design_date() -> str:
        cal = Calendar.from_ical(site.ask("GET", path + "timeline.ics").body)
        return next(str(e.decoded("DTSTART")) for e in cal.walk("VEVENT") if "Design mockups" in str(e["SUMMARY"]))

    assert design_date() == "2026-12-04" and "was " not in site.ask("GET", path).body  # held: not told yet
    assert deadlinewatch("approve", str(notice["id"]), config=site.config).returncode == 0
    wait_for(lambda: design_date() != "2026-12-04", 15, "the approved date on the feed")
    assert "was 4 December 2026" in site.ask("GET", path).body


def test_the_feed_is_the_client_visible_timeline_and_polls_cheaply(site: Site) -> None:
    held_notice(site)
    feed_path = client_path(site) + "timeline.ics"
    r = site.ask("GET", feed_path)
    assert r.status == 200 and r.header("Content-Type").startswith("text/calendar")
    cal = Calendar.from_ical(r.body)
    assert str(cal["METHOD"]) == "PUBLISH"
    events = cal.walk("VEVENT")
    assert sorted(str(e["SUMMARY"]).split(": ")[1] for e in events) == ["Design mockups", "Launch"]  # not the private
    # the UIDs of the client's entries, as in their invitations: ours, never the team calendar's
    assert all(str(e["UID"]).startswith("dw-") for e in events)
    assert not any("ATTENDEE" in e for e in events)
    # each entry says what it is, in the client's words, with their page's address
    assert all(str(e["DESCRIPTION"]) and "https://studio.example/dw/p/" in str(e["DESCRIPTION"]) for e in events)
    etag, modified = r.header("ETag"), r.header("Last-Modified")
    assert etag.startswith('"') and modified
    assert site.ask("GET", feed_path, If_None_Match=etag).status == 304
    assert site.ask("GET", feed_path, If_None_Match=f"W/{etag}").status == 304
    assert site.ask("GET", feed_path, If_Modified_Since=modified).status == 304
    assert site.ask("GET", feed_path, If_None_Match='"other"').status == 200
    assert site.ask("GET", feed_path, If_Modified_Since=format_datetime(
        __import__("datetime").datetime(2000, 1, 1, tzinfo=__import__("datetime").UTC), usegmt=True)).status == 200
    assert site.ask("HEAD", feed_path).status == 200


def test_every_page_carries_the_security_headers_and_reflects_nothing(site: Site) -> None:
    cookie = site.sign_in()
    probe = "<script>alert(1)</script>"
    quoted = urllib.parse.quote(probe)
    for path, c in (("/", cookie), ("/signin", ""), (client_path(site), ""), (f"/?q={quoted}", cookie),
                    (f"/signin?next={quoted}", ""), (f"/{quoted}", ""), (f"/p/{quoted}/", ""),
                    ("/api/status", cookie), ("/static/site.css", ""), ("/static/dashboard.js", "")):
        r = site.ask("GET", path, cookie=c)
        csp = r.header("Content-Security-Policy")
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp, path
        # no script anywhere, but for the dashboard's one file of ours (no inline script, no eval)
        scripts = re.findall(r"(?:script|connect)-src [^;]*", csp)
        assert scripts == (["script-src 'self'", "connect-src 'self'"] if path.split("?")[0] == "/" else []), path
        assert r.header("X-Content-Type-Options") == "nosniff" and r.header("Referrer-Policy") == "no-referrer"
        assert probe not in r.body and "alert(1)" not in r.body, path
        assert "Traceback" not in r.body and "$argon2" not in r.body
        assert r.header("Server") == "deadlinewatch"  # no framework name or version
    dashboard = site.ask("GET", "/", cookie=cookie).body  # its one script is a file of ours, never inline
    assert re.findall(r"<script[^>]*>", dashboard) == ['<script src="static/dashboard.js" defer>']
    assert site.ask("GET", "/static/dashboard.js").header("Content-Type").startswith("text/javascript")
    assert site.ask("GET", "/").header("Strict-Transport-Security")  # base_url is https
    r = site.ask("TRACE", "/")
    assert r.status in (404, 405)


@pytest.mark.parametrize("request_bytes", [
    b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n",
    b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
])
def test_a_request_that_cannot_be_parsed_gets_our_bare_answer(site: Site, request_bytes: bytes) -> None:
    """The audit: what the parser refused got aiohttp's own answer — its name and version in Server, the parser's
    detail echoing the request (b'Content-Length: abc'), none of our security headers."""
    with socket.create_connection(("127.0.0.1", site.port), timeout=10) as sock:
        sock.sendall(request_bytes)
        answer = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.") and head.split(b" ")[1].startswith(b"4"), head[:80]
    headers = head.decode("latin-1").lower()
    assert "server: deadlinewatch" in headers and "aiohttp" not in headers
    assert "x-content-type-options: nosniff" in headers and "content-security-policy: default-src 'none'" in headers
    assert b"abc" not in body and b"Content-Length" not in body and b"aaaa" not in body


def test_the_reverse_proxys_user_is_honoured_only_from_the_proxy_and_only_for_the_manager(site: Site) -> None:
    def reload(proxies: str) -> None:
        text = re.sub(r"\ntrusted_user_header = .*\ntrusted_proxies = .*\n", "\n", site.config.read_text())
        site.config.write_text(text + f'trusted_user_header = "X-Forwarded-User"\ntrusted_proxies = {proxies}\n')
        before = site.log.read_text().count("configuration reloaded")
        site.daemon.send_signal(signal.SIGHUP)
        wait_for(lambda: site.log.read_text().count("configuration reloaded") > before, 15, "the reload")

    reload('["10.9.9.9"]')  # we are not the proxy: the header is anyone's to write, so it names nobody
    assert site.ask("GET", "/api/status", X_Forwarded_User="pm@studio.example").status == 401
    reload('["127.0.0.0/8"]')
    assert site.ask("GET", "/api/status", X_Forwarded_User="pm@studio.example").status == 200
    assert site.ask("GET", "/", X_Forwarded_User="pm").status == 200
    for someone_else in ("mallory@evil.example", "alice@studio.example", ""):
        r = site.ask("GET", "/api/status", X_Forwarded_User=someone_else)
        assert r.status == 401 and "ACME" not in r.body, someone_else
