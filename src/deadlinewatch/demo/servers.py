"""Real servers on 127.0.0.1 for the demo and the tests: Radicale, Xandikos, pymap, an SMTP sink (the tests'
Dovecot is theirs: tests/dovecot.py).

Ports are found by binding port 0; readiness is a protocol answer (an HTTP reply, an IMAP `* OK`), never a
sleep. Every server is stopped by `stop()`, also when its start failed half-way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

MKCALENDAR = """<?xml version="1.0" encoding="utf-8"?>
<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>
<D:displayname>{name}</D:displayname>
<C:supported-calendar-component-set><C:comp name="VEVENT"/><C:comp name="VTODO"/></C:supported-calendar-component-set>
</D:prop></D:set></C:mkcalendar>"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(check: Callable[[], bool], what: str, proc: subprocess.Popen[bytes] | None, log: Path | None,
          timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            detail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise RuntimeError(f"{what} exited with code {proc.returncode} while starting:\n{detail}")
        if check():
            return
        time.sleep(0.02)
    raise RuntimeError(f"{what} did not become ready within {timeout:.0f} s")


def _http_ready(url: str) -> Callable[[], bool]:
    def check() -> bool:
        req = urllib.request.Request(url, method="OPTIONS")
        try:
            urllib.request.urlopen(req, timeout=1).close()
        except urllib.error.HTTPError:
            return True  # any HTTP answer means the server is up
        except OSError:
            return False
        return True

    return check


def imap_ready(port: int) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                return s.recv(64).startswith(b"* OK")
        except OSError:
            return False

    return check


@dataclass
class ServerProcess:
    directory: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            # the server and every child it forked (Dovecot's login and imap processes, in the tests): a
            # session of their own
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)
        self.proc = None

    def _stop_until_port_free(self) -> None:
        """Stop, and wait until the port can be bound again: a restart keeps its port, as a real one does."""
        self.stop()
        deadline = time.monotonic() + 15
        while True:
            try:
                with socket.socket() as s:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind it
                    s.bind(("127.0.0.1", self.port))
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _spawn(self, argv: list[str], log_name: str) -> Path:
        log = self.directory / log_name
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        return log


@dataclass
class CalDAVServer(ServerProcess):
    """Radicale (with htpasswd users) or Xandikos (no authentication over plain HTTP)."""

    kind: str = "radicale"
    users: dict[str, str] = field(default_factory=lambda: {"pm": "pmpw"})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def calendar_url(self, calendar_id: str, user: str = "pm") -> str:
        if self.kind == "radicale":
            return f"{self.url}{user}/{calendar_id}/"
        return f"{self.url}user/calendars/{calendar_id}/"

    def start(self) -> CalDAVServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        return self._launch()

    def restart(self) -> None:
        """Stop and start again on the same port, keeping the calendars (a server restart, as clients see it)."""
        self._stop_until_port_free()
        self._launch()

    def _launch(self) -> CalDAVServer:
        if self.kind == "radicale":
            (self.directory / "users").write_text("".join(f"{u}:{p}\n" for u, p in self.users.items()))
            conf = self.directory / "radicale.conf"
            conf.write_text(
                f"[server]\nhosts = 127.0.0.1:{self.port}\ndelay_on_error = 0\n"
                f"[auth]\ntype = htpasswd\nhtpasswd_filename = {self.directory}/users\n"
                "htpasswd_encryption = plain\ndelay = 0\n"
                "[rights]\ntype = owner_only\n"
                f"[storage]\nfilesystem_folder = {self.directory}/collections\n"
                "[web]\ntype = none\n[logging]\nlevel = warning\n"
            )
            argv = [sys.executable, "-m", "radicale", "-C", str(conf)]
        else:
            argv = [sys.executable, "-m", "xandikos", "serve", "-d", str(self.directory / "data"), "--state-dir",
                    str(self.directory / "state"), "--defaults", "--listen-address", "127.0.0.1",
                    "-p", str(self.port)]
        log = self._spawn(argv, f"{self.kind}.log")
        wait_ready(_http_ready(self.url), self.kind, self.proc, log)
        return self

    def _request(self, method: str, url: str, body: bytes = b"", headers: dict[str, str] | None = None,
                 user: str = "pm") -> int:
        import base64

        req = urllib.request.Request(url, data=body or None, method=method, headers=headers or {})
        password = self.users.get(user, "x")
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return int(r.status)
        except urllib.error.HTTPError as e:
            if e.code >= 400:
                raise RuntimeError(f"{method} {url}: HTTP {e.code} {e.read()[:300]!r}") from None
            return int(e.code)

    def make_calendar(self, calendar_id: str, name: str | None = None, user: str = "pm") -> str:
        url = self.calendar_url(calendar_id, user)
        body = MKCALENDAR.format(name=name or calendar_id).encode()
        self._request("MKCALENDAR", url, body, {"Content-Type": "application/xml; charset=utf-8"}, user)
        return url

    def put(self, calendar_url: str, uid: str, ics: str, user: str = "pm") -> None:
        self._request("PUT", f"{calendar_url}{uid}.ics", ics.encode(),
                      {"Content-Type": "text/calendar; charset=utf-8"}, user)

    def delete(self, calendar_url: str, uid: str, user: str = "pm") -> None:
        self._request("DELETE", f"{calendar_url}{uid}.ics", user=user)


@dataclass
class PymapServer(ServerProcess):
    """pymap's in-memory server: one user, IDLE in ~45 ms. For the demo."""

    user: str = "progress"
    password: str = "progresspw"

    def start(self) -> PymapServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        beside = Path(sys.executable).with_name("pymap")  # the one installed with this Python first
        exe = str(beside) if beside.exists() else shutil.which("pymap") or "pymap"
        log = self._spawn([exe, "--host", "127.0.0.1", "--port", str(self.port), "--no-tls", "dict",
                           "--demo-user", self.user, "--demo-password", self.password], "pymap.log")
        wait_ready(imap_ready(self.port), "pymap", self.proc, log)
        return self


class SmtpSink:
    """aiosmtpd on 127.0.0.1: keeps every message; mail for `local_address` is handed to `deliver`.

    With `tls_context` it requires STARTTLS; with `users` it requires AUTH.
    """

    def __init__(self, users: dict[str, str] | None = None, tls_context: Any = None,
                 local_address: str = "", deliver: Callable[[bytes], None] | None = None,
                 oauth_introspection: str = "", oauth_scope: str = "smtp") -> None:
        self.users = users or {}
        # with an RFC 7662 introspection URL (credentials in it): AUTH XOAUTH2 and OAUTHBEARER, each token checked
        # there (active, naming the user, carrying oauth_scope), as Dovecot's oauth2 passdb does
        self.oauth_introspection = oauth_introspection
        self.oauth_scope = oauth_scope
        self.tls_context = tls_context
        self.local_address = local_address.lower()
        self.deliver = deliver
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.lock = threading.Lock()
        self.port = 0
        self.controller: Any = None
        self.refuse: str = ""  # set to a reply like "451 later" to refuse the next messages
        self.refuse_rcpt: set[str] = set()  # recipients answered "550 no such user"
        self.later_rcpt: set[str] = set()  # recipients answered "451 greylisted": come back later
        self.later_left: int | None = None  # how many times they are, before the greylist lets them in (None: always)

    def start(self) -> SmtpSink:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        sink = self

        class Handler:
            async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                                  rcpt_options: list[str]) -> str:
                if address.lower() in sink.refuse_rcpt:
                    return "550 5.1.1 no such user"
                if address.lower() in sink.later_rcpt and sink.later_left != 0:
                    sink.later_left = None if sink.later_left is None else sink.later_left - 1
                    return "451 4.7.1 greylisted, try again later"
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                if sink.refuse:
                    return sink.refuse
                raw = envelope.original_content or envelope.content
                with sink.lock:
                    sink.messages.append((envelope.mail_from, list(envelope.rcpt_tos), bytes(raw)))
                if sink.deliver and sink.local_address in (r.lower() for r in envelope.rcpt_tos):
                    sink.deliver(bytes(raw))
                return "250 OK"

            async def auth_XOAUTH2(self, server: Any, args: list[str]) -> Any:
                return await sink._bearer(server, args, "xoauth2")

            async def auth_OAUTHBEARER(self, server: Any, args: list[str]) -> Any:
                return await sink._bearer(server, args, "oauthbearer")

        def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
            if isinstance(auth_data, LoginPassword):
                ok = sink.users.get(auth_data.login.decode()) == auth_data.password.decode()
                return AuthResult(success=ok, handled=False)
            return AuthResult(success=False, handled=False)

        handler: Any = Handler()
        if not self.oauth_introspection:  # offer the OAuth mechanisms only where tokens can be checked
            del Handler.auth_XOAUTH2, Handler.auth_OAUTHBEARER
        self.port = free_port()  # aiosmtpd 1.4 cannot take port 0: it connects to it to check readiness
        kwargs: dict[str, Any] = dict(hostname="127.0.0.1", port=self.port)
        if self.users or self.oauth_introspection:
            kwargs.update(authenticator=authenticator, auth_required=True,
                          auth_require_tls=self.tls_context is not None)
        if self.tls_context is not None:
            kwargs.update(tls_context=self.tls_context, require_starttls=True)
        self.controller = Controller(handler, **kwargs)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    async def _bearer(self, server: Any, args: list[str], mechanism: str) -> Any:
        """SASL XOAUTH2 ("user=U^Aauth=Bearer T^A^A") or OAUTHBEARER (RFC 7628: "n,a=U,^Aauth=Bearer T^A^A"), the
        token checked by introspection; a failure answers as the providers do (334 with an error, then 535)."""
        import base64
        import urllib.parse
        import urllib.request

        from aiosmtpd.smtp import AuthResult, LoginPassword

        raw = args[1] if len(args) > 1 else ""
        try:
            fields = base64.b64decode(raw).decode().split("\x01")
        except ValueError:
            return AuthResult(success=False, handled=False)
        user = next((f[5:] for f in fields if f.startswith("user=")), "")
        if mechanism == "oauthbearer":
            user = next((p[2:] for p in fields[0].split(",") if p.startswith("a=")), "")
        token = next((f[12:] for f in fields if f.startswith("auth=Bearer ")), "")
        parts = urllib.parse.urlsplit(self.oauth_introspection)
        request = urllib.request.Request(
            urllib.parse.urlunsplit(parts._replace(netloc=f"{parts.hostname}:{parts.port}")),
            urllib.parse.urlencode({"token": token}).encode(),
            {"Authorization": "Basic " + base64.b64encode(f"{parts.username}:{parts.password}".encode()).decode()})
        answer = json.loads(await asyncio.to_thread(lambda: urllib.request.urlopen(request, timeout=10).read()))
        ok = (answer.get("active") is True and answer.get("username") == user
              and self.oauth_scope in str(answer.get("scope", "")).split())
        if not ok:
            await server.challenge_auth('{"status":"401","schemes":"bearer"}')  # the client answers with an empty line
        return AuthResult(success=ok, handled=False, auth_data=LoginPassword(user.encode(), b""))

    def parsed(self) -> list[EmailMessage]:
        with self.lock:
            parsed = [message_from_bytes(raw, policy=default_policy) for _, _, raw in self.messages]
            return [m for m in parsed if isinstance(m, EmailMessage)]


def write_local_config(
    path: Path, *, caldav_url: str, imap_port: int, smtp_port: int, caldav_user: str = "pm",
    caldav_password: str = "pmpw", imap_user: str = "progress", imap_password: str = "progresspw",
    smtp_security: str = "none", smtp_user: str = "", smtp_password: str = "smtppw", approval: str = "auto",
    holidays: str = "TR", context: str = "your annual shareholder meeting on 12 December", extra: str = "",
    policy: str = "", client_cc: tuple[str, ...] = (), client_holidays: str = "",
) -> Path:
    """A config for a studio whose servers run here on 127.0.0.1: one project, acme-web, for Jane Doe.

    Passwords go in files beside it. Loopback servers add no Authentication-Results, so
    require_authentication is off, as it must never be on a real server.
    """
    folder = path.parent
    (folder / "caldav.pw").write_text(caldav_password + "\n")
    (folder / "imap.pw").write_text(imap_password + "\n")
    (folder / "smtp.pw").write_text(smtp_password + "\n")
    smtp_auth = f'username = "{smtp_user}"\npassword_file = "{folder}/smtp.pw"' if smtp_user else ""
    path.write_text(f"""\
[daemon]
state_dir = "{folder}/state"
timezone = "Europe/Istanbul"
poll_seconds = 30

[caldav]
url = "{caldav_url}"
username = "{caldav_user}"
password_file = "{folder}/caldav.pw"

[imap]
host = "127.0.0.1"
port = {imap_port}
security = "none"
username = "{imap_user}"
password_file = "{folder}/imap.pw"
address = "progress@studio.example"
require_authentication = false

[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "{smtp_security}"
{smtp_auth}
from = "Studio PM <pm@studio.example>"

[team]
members = ["alice@studio.example", "bob@studio.example"]
manager = "pm@studio.example"
signature = "Sarah Mitchell"

[policy]
approval = "{approval}"
holidays = "{holidays}"
{policy}

[[offers]]
min_slip_days = 1
text = "We will not charge for the extra review round."

[[offers]]
min_slip_days = 10
text = "We will take 10% off this milestone's invoice."

[[projects]]
id = "acme-web"
name = "ACME website relaunch"
calendar = "acme-web"
client = {{ name = "Jane Doe", email = "jane@acme.example", language = "en", timezone = "Europe/London", \
cc = {json.dumps(list(client_cc))}, holidays = {json.dumps(client_holidays)} }}
context = "{context}"
{extra}
""")
    return path
