"""OAuth 2.0 for the inbox, against real servers: an authorization server built on Authlib (tests/oauth_server.py)
and Dovecot checking every XOAUTH2/OAUTHBEARER token against it (its oauth2 passdb, by RFC 7662 introspection).
A person signs in once with `deadlinewatch login imap` (the device authorization grant); everything after that
runs on the refresh token."""

from __future__ import annotations

import contextlib
import re
import signal
import ssl
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from deadlinewatch import config as config_mod
from deadlinewatch import wiring
from deadlinewatch.adapters.mailbox import ImapMailbox
from deadlinewatch.adapters.oauth import TokenSource
from deadlinewatch.demo.servers import SmtpSink
from deadlinewatch.errors import LoginRefused
from tests.conftest import IN_CI, Studio, deadlinewatch, start_daemon
from tests.dovecot import DovecotServer, dovecot_available
from tests.integration.test_daemon import wait_for
from tests.integration.test_inbox import replies_to
from tests.oauth_server import GatedRadicale, OAuthServer
from tests.samples import NOTE

if TYPE_CHECKING:
    import trustme  # a test dependency, imported where a test needs it (conftest's tls_ca)


@pytest.fixture
def oauth() -> Iterator[OAuthServer]:
    server = OAuthServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def dovecot(oauth: OAuthServer) -> Iterator[DovecotServer]:
    """The studio's Dovecot (overriding conftest's), taking OAuth tokens the authorization server vouches for."""
    if not dovecot_available():
        if IN_CI:
            pytest.fail("Dovecot is missing under CI=true: .ci/run must install dovecot-imapd")
        pytest.skip("Dovecot is not installed (apt-get install dovecot-imapd)")
    introspect = f"http://{oauth.RESOURCE_CLIENT}:{oauth.RESOURCE_SECRET}@127.0.0.1:{oauth.port}/introspect"
    server = DovecotServer(Path(tempfile.mkdtemp(prefix="dw-dovecot-")) / "d", oauth_introspection=introspect)
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def smtp_tls(trusted_ca: trustme.CA, dovecot: DovecotServer, oauth: OAuthServer) -> Iterator[SmtpSink]:
    """The studio's SMTP server (overriding conftest's): STARTTLS, AUTH by password or by an OAuth token."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trusted_ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    introspect = f"http://{oauth.RESOURCE_CLIENT}:{oauth.RESOURCE_SECRET}@127.0.0.1:{oauth.port}/introspect"
    sink = SmtpSink(users={"pm@studio.example": "smtppw"}, tls_context=context, local_address="progress@studio.example",
                    deliver=lambda raw: dovecot.save("progress", raw), oauth_introspection=introspect)
    try:
        yield sink.start()
    finally:
        sink.stop()


def use_oauth(studio: Studio, oauth: OAuthServer, scopes: str = '["imap"]', section: str = "imap") -> None:
    """A server section of the studio signs in with OAuth: no password, a generic provider (the test server)."""
    text = studio.config.read_text()
    text = text.replace(f"[{section}]\n", f"[{section}]\nauth = \"oauth2\"\noauth2 = {{ provider = \"generic\", "
                        f'client_id = "{oauth.DEVICE_CLIENT}", device_authorization_url = '
                        f'"{oauth.url}/device_authorization", token_url = "{oauth.url}/token", scopes = {scopes} }}\n',
                        1)
    text = re.sub(rf'(\[{section}\][^\[]*?)password_file = "[^"]*"\n', r"\1", text)
    studio.config.write_text(text)


def login(studio: Studio, oauth: OAuthServer, user: str = "progress", *extra: str,
          section: str = "imap") -> subprocess.CompletedProcess[str]:
    """`deadlinewatch login imap` as a person runs it: read the code it prints, approve it in the 'browser'."""
    proc = subprocess.Popen([sys.executable, "-m", "deadlinewatch", "--config", str(studio.config), "login", section,
                             *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    code = re.search(r"enter the code (\S+)", line)
    assert code is not None and oauth.url in line, line
    oauth.approve(code.group(1), user)
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, line + err)


def test_a_person_signs_in_once_and_the_inbox_is_read_with_oauth(studio: Studio, oauth: OAuthServer) -> None:
    use_oauth(studio, oauth)
    before = deadlinewatch("once", config=studio.config, now="2026-11-30T12:00")
    assert before.returncode == 78 and "deadlinewatch login imap" in before.stderr  # not signed in yet
    signed = login(studio, oauth)
    assert signed.returncode == 0, signed.stderr
    kept = Path(studio.config.parent / "state" / "oauth" / "imap-refresh-token")
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600 and stat.S_IMODE(kept.parent.stat().st_mode) == 0o700
    [token] = oauth.issued("progress")
    assert token.refresh_token in kept.read_text() and token.access_token not in signed.stdout + signed.stderr
    studio.dovecot.save("progress", NOTE.encode())
    run = deadlinewatch("once", config=studio.config, now="2026-11-30T12:00")
    assert run.returncode == 0, run.stderr
    assert len(replies_to(studio, "alice@studio.example")) == 1  # the note was read over an OAuth login
    assert token.refresh_token not in run.stdout + run.stderr
    connect = deadlinewatch("check-config", "--connect", config=studio.config)
    assert "imap: logged in to 127.0.0.1 as progress" in connect.stdout


def test_login_print_writes_the_refresh_token_for_load_credential(studio: Studio, oauth: OAuthServer,
                                                                  tmp_path: Path) -> None:
    use_oauth(studio, oauth)
    signed = login(studio, oauth, "progress", "--print")
    assert signed.returncode == 0, signed.stderr
    refresh = signed.stdout.strip()
    assert refresh == oauth.issued("progress")[0].refresh_token
    assert not (studio.config.parent / "state" / "oauth" / "imap-refresh-token").exists()
    (tmp_path / "creds").mkdir()
    (tmp_path / "creds" / "imap-refresh-token").write_text(refresh + "\n")
    studio.dovecot.save("progress", NOTE.encode())
    run = deadlinewatch("once", config=studio.config, now="2026-11-30T12:00",
                        env={"CREDENTIALS_DIRECTORY": str(tmp_path / "creds")})
    assert run.returncode == 0, run.stderr
    assert len(replies_to(studio, "alice@studio.example")) == 1


def test_a_login_whose_token_cannot_be_saved_says_where_and_what_to_do(studio: Studio, oauth: OAuthServer) -> None:
    use_oauth(studio, oauth)
    state = studio.config.parent / "state"
    state.mkdir(exist_ok=True)
    (state / "oauth").write_text("")  # no folder where the token goes (as root, a read-only one would not do)
    signed = login(studio, oauth)
    assert signed.returncode == 78, signed.stderr
    assert f"could not be saved to {state / 'oauth' / 'imap-refresh-token'}" in signed.stderr
    assert "deadlinewatch login imap --print" in signed.stderr and "Traceback" not in signed.stderr
    assert oauth.issued("progress")[0].refresh_token not in signed.stdout + signed.stderr


def test_withdrawn_consent_is_a_configuration_problem_naming_login(studio: Studio, oauth: OAuthServer) -> None:
    use_oauth(studio, oauth)
    assert login(studio, oauth).returncode == 0
    oauth.revoke("progress")
    studio.dovecot.save("progress", NOTE.encode())
    run = deadlinewatch("once", config=studio.config, now="2026-11-30T12:00")
    assert run.returncode == 78
    assert "refused to renew the sign-in" in run.stderr and "deadlinewatch login imap" in run.stderr
    assert replies_to(studio, "alice@studio.example") == []  # the note waits in the inbox, not lost

    def told() -> list[str]:
        return [m.get_content() for m in studio.smtp.parsed() if m["X-Deadlinewatch-Kind"] == "manager-signin"]

    [letter] = told()  # the manager hears it by mail, with the command that mends it
    assert "deadlinewatch login imap" in letter and "none is lost" in letter
    # what it quotes as the provider's own words is the authorization server's answer, not our message about it
    quoted = next(line for line in letter.split("in its own words:", 1)[1].splitlines() if line.strip()).strip()
    assert quoted.startswith("invalid_grant") and "deadlinewatch" not in quoted
    again = deadlinewatch("once", config=studio.config, now="2026-11-30T12:10")
    assert again.returncode == 78 and len(told()) == 1  # once, not at every pass
    assert login(studio, oauth).returncode == 0  # signing in again mends it
    assert deadlinewatch("once", config=studio.config, now="2026-11-30T12:00").returncode == 0
    assert len(replies_to(studio, "alice@studio.example")) == 1


def test_a_token_for_another_scope_is_refused_by_the_server(studio: Studio, oauth: OAuthServer) -> None:
    use_oauth(studio, oauth, scopes='["smtp"]')  # a token good for sending, not for reading the inbox
    assert login(studio, oauth).returncode == 0
    run = deadlinewatch("once", config=studio.config, now="2026-11-30T12:00")
    assert run.returncode == 78 and "refused the OAuth access token" in run.stderr


def test_an_access_token_is_renewed_before_it_expires_and_a_rotated_refresh_token_kept(
    studio: Studio, oauth: OAuthServer
) -> None:
    use_oauth(studio, oauth)
    oauth.expires_in = 600
    assert login(studio, oauth).returncode == 0
    config = wiring.signed_in(config_mod.load(studio.config))
    source = config.accounts["imap"].token
    assert isinstance(source, TokenSource)  # what signed_in gives an OAuth account
    now = [1_000_000.0]
    source.clock = lambda: now[0]
    first = source().reveal()
    assert source().reveal() == first  # still fresh: the same token, no request
    now[0] += 600 - 119  # less than two minutes left: renewed before any login could race the expiry
    second = source().reveal()
    assert second != first and len(oauth.issued("progress")) == 3  # device grant, then two refreshes
    stored = wiring.refresh_tokens(config, "imap").read()
    assert stored == oauth.issued("progress")[-1].refresh_token  # the rotated one, the old one no longer works
    mailbox = ImapMailbox(wiring.imap_settings(config))
    try:
        assert mailbox.check() == "logged in to 127.0.0.1 as progress"
    finally:
        mailbox.close()


def test_a_config_with_oauth2_but_password_auth_says_what_to_set(tmp_path: Path) -> None:
    path = tmp_path / "dw.toml"
    path.write_text('[caldav]\nurl = "http://127.0.0.1:1/"\n[imap]\nhost = "127.0.0.1"\nsecurity = "none"\n'
                    'username = "progress"\naddress = "progress@studio.example"\nrequire_authentication = false\n'
                    'oauth2 = { provider = "generic", client_id = "x" }\n[smtp]\nhost = "127.0.0.1"\n'
                    'security = "none"\nfrom = "pm@studio.example"\n[team]\nmembers = ["a@studio.example"]\n'
                    'manager = "pm@studio.example"\n[[projects]]\nid = "p"\nname = "P"\ncalendar = "p"\n'
                    'client = { name = "C", email = "c@client.example" }\n')
    with pytest.raises(config_mod.ConfigError) as e:
        config_mod.load(path, env={})
    assert 'imap.oauth2: set, but imap.auth is "password"' in str(e.value)
    path.write_text(path.read_text().replace("oauth2 =", 'auth = "oauth2"\noauth2 ='))
    with pytest.raises(config_mod.ConfigError) as e:
        config_mod.load(path, env={})
    assert "imap.oauth2.device_authorization_url: required" in str(e.value)
    assert isinstance(LoginRefused("x"), config_mod.ConfigError)


def test_the_daemon_reconnects_with_a_fresh_token_after_the_old_one_expired(studio: Studio, oauth: OAuthServer,
                                                                           tmp_path: Path) -> None:
    """`run` with access tokens that live 2 minutes and 2 s (renewed when under 2 minutes are left: every
    connection after the first seconds needs a fresh one): the IDLE connection dies, the daemon reconnects with a
    new token, and the note that arrived meanwhile is answered."""
    use_oauth(studio, oauth)
    oauth.expires_in = 122
    assert login(studio, oauth).returncode == 0
    proc = start_daemon(studio.config, tmp_path / "daemon.log")
    try:
        wait_for(lambda: "deadlinewatch running" in (tmp_path / "daemon.log").read_text(), 30, "the daemon")
        time.sleep(3)  # the token the daemon signed in with is now due for renewal
        issued = len(oauth.issued("progress"))
        studio.dovecot.restart()  # the IDLE connection dies under the daemon
        studio.dovecot.save("progress", NOTE.encode())
        wait_for(lambda: bool(replies_to(studio, "alice@studio.example")), 30, "the reply after the restart")
        assert len(oauth.issued("progress")) > issued  # it signed in again with a renewed token
        assert proc.poll() is None
        log = (tmp_path / "daemon.log").read_text()
        assert all(t.access_token not in log and t.refresh_token not in log for t in oauth.issued("progress"))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)


def test_the_letters_go_out_over_smtp_signed_in_with_oauth(studio: Studio, oauth: OAuthServer) -> None:
    use_oauth(studio, oauth, scopes='["smtp"]', section="smtp")
    assert login(studio, oauth, "pm@studio.example", section="smtp").returncode == 0
    studio.dovecot.save("progress", NOTE.encode())
    run = deadlinewatch("once", config=studio.config, now="2026-11-30T12:00")
    assert run.returncode == 0, run.stderr
    assert len(replies_to(studio, "alice@studio.example")) == 1  # sent over an XOAUTH2 session
    connect = deadlinewatch("check-config", "--connect", config=studio.config)
    assert "smtp: connected to 127.0.0.1:" in connect.stdout and "as pm@studio.example (OAuth)" in connect.stdout
    oauth.revoke("pm@studio.example")
    studio.dovecot.save("progress", NOTE.replace("note-1@", "note-2@").encode())
    run = deadlinewatch("once", config=studio.config, now="2026-11-30T12:05")
    assert run.returncode == 78 and "deadlinewatch login smtp" in run.stderr


def test_an_smtp_server_refusing_the_token_is_a_refused_login_not_a_hang(studio: Studio, oauth: OAuthServer) -> None:
    use_oauth(studio, oauth, scopes='["imap"]', section="smtp")  # a token for reading mail, not for sending it
    assert login(studio, oauth, "pm@studio.example", section="smtp").returncode == 0
    connect = deadlinewatch("check-config", "--connect", config=studio.config)
    assert connect.returncode == 78
    assert 'smtp: smtp.username / auth: 127.0.0.1 refused the OAuth access token for "pm@studio.example"' in (
        connect.stderr)


def use_browser_sign_in(studio: Studio, oauth: OAuthServer) -> None:
    """As Google's provider entry does: no device flow (it grants no mail scope), a sign-in in a browser."""
    use_oauth(studio, oauth)
    text = studio.config.read_text().replace(f'device_authorization_url = "{oauth.url}/device_authorization"',
                                             f'authorization_url = "{oauth.url}/authorize"')
    studio.config.write_text(text)


def start_browser_login(studio: Studio) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "deadlinewatch", "--config", str(studio.config), "login", "imap"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    said = ""
    while "http" not in said:
        said += proc.stderr.readline()
    url = re.search(r"(http://127\.0\.0\.1:\d+/authorize\?\S+)", said)
    assert url is not None and "code_challenge=" in url.group(1) and "code_challenge_method=S256" in url.group(1)
    return proc, url.group(1)


def test_a_sign_in_in_a_browser_on_the_same_machine_ends_on_the_loopback_listener(
    studio: Studio, oauth: OAuthServer
) -> None:
    import urllib.request

    use_browser_sign_in(studio, oauth)
    proc, url = start_browser_login(studio)
    with urllib.request.urlopen(url + "&user=progress&allow=yes", timeout=30) as page:  # the browser follows
        assert b"signed in" in page.read()
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    studio.dovecot.save("progress", NOTE.encode())
    assert deadlinewatch("once", config=studio.config, now="2026-11-30T12:00").returncode == 0
    assert len(replies_to(studio, "alice@studio.example")) == 1


def test_a_sign_in_on_another_machine_is_finished_by_pasting_the_address_it_ended_on(
    studio: Studio, oauth: OAuthServer
) -> None:
    import urllib.error
    import urllib.request

    class Stay(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None  # the browser elsewhere cannot reach this machine's 127.0.0.1

    use_browser_sign_in(studio, oauth)
    proc, url = start_browser_login(studio)
    try:
        urllib.request.build_opener(Stay).open(url + "&user=progress&allow=yes", timeout=30)
        raise AssertionError("expected a redirect")
    except urllib.error.HTTPError as e:
        ended_on = e.headers["Location"]
    assert ended_on.startswith("http://127.0.0.1:") and "code=" in ended_on
    out, err = proc.communicate(ended_on + "\n", timeout=60)
    assert proc.returncode == 0, err
    assert "signed in imap as progress" in out


def test_a_denied_browser_sign_in_says_so(studio: Studio, oauth: OAuthServer) -> None:
    import urllib.request

    use_browser_sign_in(studio, oauth)
    proc, url = start_browser_login(studio)
    with contextlib.suppress(OSError):
        urllib.request.urlopen(url + "&user=progress&allow=no", timeout=30).read()
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 78 and "the sign-in was not allowed (access_denied)" in err


def listener_of(url: str) -> str:
    """The loopback address `login` listens on: the redirect_uri of the address it asks the browser to open."""
    [redirect] = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["redirect_uri"]
    assert redirect.startswith("http://127.0.0.1:")
    return redirect


def visit(address: str) -> tuple[int, str]:
    """What a browser (or anyone on this machine) gets for a GET of `address`."""
    try:
        with urllib.request.urlopen(address, timeout=30) as page:
            return page.status, page.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_a_forged_callback_is_ignored_and_the_sign_in_goes_on(studio: Studio, oauth: OAuthServer) -> None:
    """Any local process (or a page the person has open) can reach the loopback listener: what it sends without
    this sign-in's `state` neither signs in nor ends the sign-in — it is told so, and the listener keeps
    listening for the person's own redirect."""
    use_browser_sign_in(studio, oauth)
    proc, url = start_browser_login(studio)
    listener = listener_of(url)
    for forged in ("?code=forged&state=wrong", "?error=access_denied&state=wrong", "?code=forged",
                   "?error=access_denied", "?code=a&state=&state=b"):
        status, page = visit(listener + forged)
        assert status == 400 and "not this sign-in" in page and "signed in" not in page, (forged, page)
        assert proc.poll() is None, forged  # still waiting for the person
    status, page = visit(url + "&user=progress&allow=yes")  # the browser follows the redirect to the listener
    assert status == 200 and "imap signed in" in page
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "signed in imap as progress" in out
    [token] = oauth.issued("progress")
    kept = studio.config.parent / "state" / "oauth" / "imap-refresh-token"
    assert token.refresh_token in kept.read_text()


def test_a_denial_counts_only_with_this_sign_ins_state(studio: Studio, oauth: OAuthServer) -> None:
    use_browser_sign_in(studio, oauth)
    proc, url = start_browser_login(studio)
    status, page = visit(listener_of(url) + "?error=access_denied&state=" + "x" * 43)
    assert status == 400 and "not this sign-in" in page and proc.poll() is None
    status, page = visit(url + "&user=progress&allow=no")  # the person declines at the provider's page
    assert status == 200 and "not allowed (access_denied)" in page
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 78 and "the sign-in was not allowed (access_denied)" in err
    assert "Traceback" not in err and oauth.issued("progress") == []


def test_a_pasted_address_from_another_sign_in_is_ignored(studio: Studio, oauth: OAuthServer) -> None:
    class Stay(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None  # the browser elsewhere cannot reach this machine's 127.0.0.1

    use_browser_sign_in(studio, oauth)
    proc, url = start_browser_login(studio)
    try:
        urllib.request.build_opener(Stay).open(url + "&user=progress&allow=yes", timeout=30)
        raise AssertionError("expected a redirect")
    except urllib.error.HTTPError as e:
        ended_on = e.headers["Location"]
    listener = listener_of(url)
    wrong_state = re.sub(r"state=[^&]+", "state=wrong", ended_on)
    pasted = [wrong_state, f"{listener}?error=access_denied&state=wrong", "", ended_on]
    out, err = proc.communicate("\n".join(pasted) + "\n", timeout=60)
    assert proc.returncode == 0, err
    assert err.count("not from this sign-in") == 2 and "signed in imap as progress" in out


def test_forged_callbacks_do_not_extend_the_wait(oauth: OAuthServer) -> None:
    """The sign-in ends at its deadline, however many foreign callbacks arrive meanwhile."""
    import threading

    from deadlinewatch.adapters.oauth import browser_login
    from deadlinewatch.credentials import OAuthClient

    client = OAuthClient("generic", oauth.DEVICE_CLIENT, None, "", f"{oauth.url}/token", ("imap",),
                         authorization_url=f"{oauth.url}/authorize")
    said: list[str] = []
    done = threading.Event()

    def forge() -> None:
        while not said:
            time.sleep(0.05)
        found = re.search(r"(http://127\.0\.0\.1:\d+/authorize\?\S+)", said[0])
        assert found is not None, said
        listener = listener_of(found.group(1))
        while not done.wait(0.2):
            with contextlib.suppress(OSError):
                visit(listener + "?code=forged&state=wrong")

    def never_signed_in() -> str:
        done.wait()
        return ""

    threading.Thread(target=forge, daemon=True).start()
    started = time.monotonic()
    try:
        with pytest.raises(LoginRefused) as e:
            browser_login("imap", client, said.append, never_signed_in, timeout=2)
    finally:
        done.set()
    assert time.monotonic() - started < 10
    assert "no sign-in within" in str(e.value) and "deadlinewatch login imap" in str(e.value)


@pytest.fixture
def gated_caldav(oauth: OAuthServer, tmp_path: Path) -> Iterator[GatedRadicale]:
    server = GatedRadicale(tmp_path / "gated-radicale", oauth).start()
    try:
        yield server
    finally:
        server.stop()


def test_the_calendar_is_read_with_a_bearer_token(studio: Studio, oauth: OAuthServer,
                                                  gated_caldav: GatedRadicale) -> None:
    import niquests
    from caldav.collection import Calendar
    from caldav.davclient import DAVClient  # the class itself: the package's lazy attribute is untyped

    from tests.samples import DESIGN

    admin = gated_caldav.issue("pm")

    class Bearer(niquests.auth.AuthBase):
        def __call__(self, request: niquests.PreparedRequest) -> niquests.PreparedRequest:
            assert request.headers is not None  # a prepared request has its headers
            request.headers["Authorization"] = f"Bearer {admin}"
            return request

    with DAVClient(url=gated_caldav.url, auth=Bearer()) as client:  # the studio sets up its calendar
        calendar = client.get_principal().make_calendar(name="acme-web", cal_id="acme-web")
        assert isinstance(calendar, Calendar)  # a synchronous client's: the calendar, not a coroutine
        calendar.add_todo(DESIGN)
    text = studio.config.read_text().replace(studio.caldav.url, gated_caldav.url)
    studio.config.write_text(text)
    use_oauth(studio, oauth, scopes='["caldav"]', section="caldav")
    before = deadlinewatch("once", config=studio.config, now="2026-11-30T12:00")
    assert before.returncode == 78 and "deadlinewatch login caldav" in before.stderr
    assert login(studio, oauth, "pm", section="caldav").returncode == 0
    run = deadlinewatch("once", config=studio.config, now="2026-11-30T12:00")
    assert run.returncode == 0, run.stderr
    status = deadlinewatch("status", config=studio.config, now="2026-11-30T12:00")
    assert "Design mockups" in status.stdout
    connect = deadlinewatch("check-config", "--connect", config=studio.config)
    assert connect.stdout.startswith(f"{studio.config}: valid") and "caldav: " in connect.stdout
    oauth.revoke("pm")
    after = deadlinewatch("once", config=studio.config, now="2026-11-30T12:05")
    assert after.returncode == 78 and "deadlinewatch login caldav" in after.stderr
