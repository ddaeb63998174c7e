"""Fixtures: real servers on 127.0.0.1 (ports by binding 0), and a config that points at them."""

from __future__ import annotations

import datetime as dt
import os
import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from deadlinewatch.localservers import (
    CalDAVServer,
    DovecotServer,
    SmtpSink,
    dovecot_available,
)

IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture
def radicale(tmp_path: Path) -> Iterator[CalDAVServer]:
    server = CalDAVServer(tmp_path / "radicale", kind="radicale")
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def xandikos(tmp_path: Path) -> Iterator[CalDAVServer]:
    server = CalDAVServer(tmp_path / "xandikos", kind="xandikos")
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(params=["radicale", "xandikos"])
def caldav_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CalDAVServer]:
    server = CalDAVServer(tmp_path / request.param, kind=request.param)
    try:
        yield server.start()
    finally:
        server.stop()


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
def tls_ca() -> object:
    trustme = pytest.importorskip("trustme")
    return trustme.CA()


@pytest.fixture
def trusted_ca(tls_ca: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> object:
    """The test CA trusted by every client through SSL_CERT_FILE, as an operator would do for a private CA."""
    pem = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(pem))  # type: ignore[attr-defined]
    monkeypatch.setenv("SSL_CERT_FILE", str(pem))
    return tls_ca


@pytest.fixture
def smtp_tls(trusted_ca: object, dovecot: DovecotServer) -> Iterator[SmtpSink]:
    """SMTP with STARTTLS and AUTH; mail for the progress inbox is delivered into Dovecot (archive copies)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trusted_ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)  # type: ignore[attr-defined]
    sink = SmtpSink(users={"pm@studio.example": "smtppw"}, tls_context=context,
                    local_address="progress@studio.example",
                    deliver=lambda raw: dovecot.save("progress", raw))
    try:
        yield sink.start()
    finally:
        sink.stop()


NOW = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)


def write_config(path: Path, *, caldav_url: str, caldav_user: str, imap_port: int, smtp_port: int,
                 smtp_security: str = "starttls", smtp_user: str = "pm@studio.example", approval: str = "auto",
                 extra: str = "") -> Path:
    (path.parent / "caldav.pw").write_text("pmpw\n")
    (path.parent / "imap.pw").write_text("progresspw\n")
    (path.parent / "smtp.pw").write_text("smtppw\n")
    smtp_auth = f'username = "{smtp_user}"\npassword_file = "{path.parent}/smtp.pw"' if smtp_user else ""
    path.write_text(f"""
[daemon]
state_dir = "{path.parent}/state"
timezone = "Europe/Istanbul"
poll_seconds = 30
log_level = "info"

[caldav]
url = "{caldav_url}"
username = "{caldav_user}"
password_file = "{path.parent}/caldav.pw"

[imap]
host = "127.0.0.1"
port = {imap_port}
security = "none"
username = "progress"
password_file = "{path.parent}/imap.pw"
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

[policy]
approval = "{approval}"
holidays = "TR"

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
client = {{ name = "Jane Doe", email = "jane@acme.example", language = "en", timezone = "Europe/London" }}
context = "your annual shareholder meeting on 12 December"
{extra}
""")
    return path
