"""Fixtures: real servers on 127.0.0.1 (ports by binding 0), and a config that points at them."""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from deadlinewatch.demo.servers import (
    CalDAVServer,
    SmtpSink,
    write_local_config,
)
from tests.dovecot import DovecotServer, dovecot_available

if TYPE_CHECKING:
    import trustme  # a test dependency, imported where a test needs it (pytest.importorskip)

IN_CI = os.environ.get("CI", "").lower() == "true"


def _caldav(kind: str, tmp_path: Path) -> Iterator[CalDAVServer]:
    server = CalDAVServer(tmp_path / kind, kind=kind)
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def radicale(tmp_path: Path) -> Iterator[CalDAVServer]:
    yield from _caldav("radicale", tmp_path)


@pytest.fixture(params=["radicale", "xandikos"])
def caldav_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CalDAVServer]:
    """The same test against both CalDAV implementations."""
    yield from _caldav(request.param, tmp_path)


@pytest.fixture
def dovecot() -> Iterator[DovecotServer]:
    if not dovecot_available():
        if IN_CI:
            pytest.fail("Dovecot is missing under CI=true: .ci/run must install dovecot-imapd")
        pytest.skip("Dovecot is not installed (apt-get install dovecot-imapd); IMAP integration tests skipped")
    # not tmp_path: Dovecot's unprivileged processes need a traversable folder (tmp_path is 0700)
    directory = Path(tempfile.mkdtemp(prefix="dw-dovecot-"))
    server = DovecotServer(directory / "d")
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """Debian's PostgreSQL, once per session (tests/postgres_server.py); tests take `postgres`."""
    from tests.postgres_server import PostgresServer, postgres_available

    if not postgres_available():
        if IN_CI:
            pytest.fail("PostgreSQL is missing under CI=true: scripts/test.sh must install postgresql")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql); PostgreSQL tests skipped")
    server = PostgresServer()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def postgres(postgres_server: Any) -> Iterator[Any]:
    """An empty database of its own for each test: the URL (`postgresql://dw@127.0.0.1:PORT/NAME`) and password."""
    database = postgres_server.database()
    try:
        yield database
    finally:
        postgres_server.drop(database)


@pytest.fixture(scope="session")
def tls_ca() -> trustme.CA:
    ca: trustme.CA = pytest.importorskip("trustme").CA()
    return ca


@pytest.fixture
def trusted_ca(tls_ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> trustme.CA:
    """The test CA trusted by every client through SSL_CERT_FILE, as an operator would do for a private CA."""
    pem = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(pem))
    monkeypatch.setenv("SSL_CERT_FILE", str(pem))
    return tls_ca


@pytest.fixture
def smtp_tls(trusted_ca: trustme.CA, dovecot: DovecotServer) -> Iterator[SmtpSink]:
    """SMTP with STARTTLS and AUTH; mail for the progress inbox is delivered into Dovecot (archive copies)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trusted_ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    sink = SmtpSink(users={"pm@studio.example": "smtppw"}, tls_context=context,
                    local_address="progress@studio.example",
                    deliver=lambda raw: dovecot.save("progress", raw))
    try:
        yield sink.start()
    finally:
        sink.stop()


def write_config(path: Path, *, caldav_url: str, caldav_user: str, imap_port: int, smtp_port: int,
                 smtp_security: str = "starttls", smtp_user: str = "pm@studio.example", **more: Any) -> Path:
    """The tests' config: SMTP with STARTTLS and AUTH unless told otherwise."""
    return write_local_config(path, caldav_url=caldav_url, caldav_user=caldav_user, imap_port=imap_port,
                              smtp_port=smtp_port, smtp_security=smtp_security, smtp_user=smtp_user, **more)


def deadlinewatch(*args: str, config: Path | None = None, now: str | None = None,
                  env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The command as a user runs it, in a process of its own."""
    argv = [sys.executable, "-m", "deadlinewatch"]
    argv += ["--config", str(config)] if config else []
    argv += ["--now", now] if now else []
    return subprocess.run([*argv, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def approve_held(config: Path, now: str | None = None) -> list[int]:
    """The manager approves every held notice, as `approve ID` does. A new team's first notice waits for them
    whatever `approval` says: with fewer than five closed milestones the forecast (the reference class's 1.8x)
    outruns the team's own date by more than 1.5x (CONTRACT.md, "The client notice")."""
    import json

    notices = json.loads(deadlinewatch("status", "--json", config=config, now=now).stdout)["notices"]
    held = [n["id"] for n in notices if n["state"] == "held" and n["kind"] == "notice"]
    for notice_id in held:
        result = deadlinewatch("approve", str(notice_id), config=config, now=now)
        assert result.returncode == 0, result.stderr
    return held


@dataclass
class Studio:
    """A studio on local servers: the acme-web calendar with two milestones, an inbox, an SMTP server."""

    config: Path
    caldav: CalDAVServer
    dovecot: DovecotServer
    smtp: SmtpSink


@pytest.fixture
def studio(radicale: CalDAVServer, dovecot: DovecotServer, smtp_tls: SmtpSink, tmp_path: Path) -> Studio:
    from tests.samples import DESIGN, LAUNCH

    cal = radicale.make_calendar("acme-web")
    radicale.put(cal, "design-1", DESIGN)
    radicale.put(cal, "launch-1", LAUNCH)
    config = write_config(tmp_path / "dw.toml", caldav_url=radicale.url, caldav_user="pm",
                          imap_port=dovecot.port, smtp_port=smtp_tls.port)
    return Studio(config, radicale, dovecot, smtp_tls)


def npm_package(package: str, what: str) -> Path:
    """An npm package installed once beside the test venv; the folder of its node_modules."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        if IN_CI:
            pytest.fail(f"node and npm are needed under CI=true to {what}")
        pytest.skip(f"node/npm not installed: the {package} check is skipped (under CI=true this fails)")
    folder = Path(sys.prefix) / "deadlinewatch-test-node"
    name = package.rsplit("@", 1)[0] if package.rfind("@") > 0 else package
    if not (folder / "node_modules" / name).exists():
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run([npm, "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(folder), package],
                       check=True, capture_output=True, timeout=300)
    return folder / "node_modules"


def _node_tool(package: str, script: str, what: str) -> Callable[[bytes | str], dict[str, Any]]:
    """An npm package run by node on stdin, its JSON answer returned: an independent reader of what we send."""
    modules = npm_package(package, what)
    node = shutil.which("node")
    assert node is not None  # npm_package has skipped (or failed) the test without it
    name = package.split("@")[0]
    path = Path(__file__).with_name(script)

    def check(data: bytes | str) -> dict[str, Any]:
        raw = data.encode() if isinstance(data, str) else data
        result = subprocess.run([node, str(path)], input=raw, capture_output=True, timeout=60,
                                env={**os.environ, "NODE_PATH": str(modules)})
        assert result.returncode == 0, f"{name} refused it: {result.stderr.decode()[-1500:]}"
        answer: dict[str, Any] = json.loads(result.stdout)
        return answer

    return check


@pytest.fixture(scope="session")
def icaljs() -> Callable[[bytes | str], dict[str, Any]]:
    """ical.js, the iCalendar parser inside Thunderbird, run by node: an independent check of our calendars."""
    return _node_tool("ical.js@2", "icaljs_check.js", "validate calendars with ical.js")


@pytest.fixture(scope="session")
def mailparser() -> Callable[[bytes | str], dict[str, Any]]:
    """Nodemailer's mailparser, run by node: an independent reader of our headers."""
    return _node_tool("mailparser@3", "mailparser_check.js", "read our mail with mailparser")


def calendar_parts(msg: EmailMessage) -> list[EmailMessage]:
    return [p for p in msg.walk() if p.get_content_type() == "text/calendar"]


class NoSyncProxy:
    """Radicale behind a proxy that refuses sync-collection REPORTs, as servers without RFC 6578 do (403
    DAV:supported-report): the fallback path, on a real server."""

    def __init__(self, upstream: CalDAVServer) -> None:
        import http.client
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        proxy = self
        self.upstream = upstream
        self.requests: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                proxy.requests.append(self.command)
                if self.command == "REPORT" and b"sync-collection" in body:
                    reply = b'<?xml version="1.0"?><D:error xmlns:D="DAV:"><D:supported-report/></D:error>'
                    self.send_response(403)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                    return
                conn = http.client.HTTPConnection("127.0.0.1", upstream.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                response = conn.getresponse()
                data = response.read()
                self.send_response(response.status)
                for k, v in response.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_DELETE = do_PROPFIND = do_REPORT = do_OPTIONS = do_MKCALENDAR = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Dav:
    """A CalDAV server for the contract suite, as the daemon sees it (url, user) and as the test writes to it."""

    kind: str
    url: str
    user: str
    server: CalDAVServer
    proxy: NoSyncProxy | None = None


@pytest.fixture(params=["radicale", "xandikos", "radicale-without-sync"])
def dav(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Dav]:
    kind = "xandikos" if request.param == "xandikos" else "radicale"
    server = CalDAVServer(tmp_path / kind, kind=kind)
    proxy = None
    try:
        server.start()
        user = "pm" if kind == "radicale" else "user"
        if request.param == "radicale-without-sync":
            proxy = NoSyncProxy(server)
            yield Dav(request.param, proxy.url, user, server, proxy)
        else:
            yield Dav(request.param, server.url, user, server)
    finally:
        if proxy is not None:
            proxy.stop()
        server.stop()


def start_daemon(config: Path, log: Path, now: str = "2026-11-30T12:00", **env: str) -> subprocess.Popen[bytes]:
    """`deadlinewatch run` in a process of its own, its output appended to `log`."""
    with open(log, "ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-m", "deadlinewatch", "--config", str(config), "--now", now, "run"],
                                stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1", **env})
