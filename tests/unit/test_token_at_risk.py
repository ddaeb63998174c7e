"""A server whose rotated refresh token could not be saved works on, and `status` and systemd's STATUS say where
the token could not go and what to fix (a restart would otherwise meet a revoked token)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import errno
import os
from pathlib import Path
from typing import Any

import pytest

from deadlinewatch import config as config_mod
from deadlinewatch.adapters import oauth
from deadlinewatch.adapters.clock import FixedClock
from deadlinewatch.adapters.oauth import RefreshTokens, TokenSource
from deadlinewatch.adapters.templates import letters
from deadlinewatch.credentials import OAuthClient
from deadlinewatch.demo.servers import write_local_config
from deadlinewatch.services import PassReport, Services, server_ok
from deadlinewatch.workers import Crew
from tests.memory_store import MemoryStore
from tests.unit.test_oauth_tokens import RotatingProvider, refuse_writes

NOW = dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC)
CLIENT = OAuthClient("generic", "deadlinewatch-test", None, "", "https://idp.example/token", ("imap",))


def test_an_unsaved_refresh_token_shows_in_status_and_systemd_status(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    provider = RotatingProvider()
    monkeypatch.setattr(oauth, "_session", lambda client: provider)
    tokens = RefreshTokens(tmp_path / "state", "imap")
    tokens.write("r1")
    source = TokenSource("imap", CLIENT, tokens)
    config = config_mod.load(write_local_config(tmp_path / "dw.toml", caldav_url="http://127.0.0.1:9/", imap_port=9,
                                                smtp_port=9))
    imap = dataclasses.replace(config.accounts["imap"], token=source)
    config = dataclasses.replace(config, accounts={**config.accounts, "imap": imap})
    store = MemoryStore()
    svc = Services(config, store, Any, Any, Any, FixedClock(NOW), letters())  # type: ignore[arg-type]  # no server: never reached

    report = PassReport()
    server_ok(svc, report, "imap", "3 messages read")
    assert store.servers()["imap"].detail == "3 messages read" and not report.at_risk

    refuse_writes(monkeypatch, tokens.path.parent, OSError(errno.EROFS, "Read-only file system"))
    source()  # a renewal: the provider rotates, the new token cannot be written
    report = PassReport()
    server_ok(svc, report, "imap", "3 messages read")
    line = store.servers()["imap"]
    assert line.ok and line.detail.startswith("3 messages read; the new refresh token could not be saved to "
                                                    f"{tokens.path} (Read-only file system)")
    crew = Crew(svc, asyncio.Event())
    crew.workers["inbox"].last = report
    status = crew.status()
    assert status.startswith("degraded: imap sign-in at risk: ") and str(tokens.path) in status
    assert "writable" in status and os.fspath(tokens.path.parent) in status
