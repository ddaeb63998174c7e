"""`run` tells systemd READY=1 once the config and the store are open (daemon.py); the adapters, the letters and
the mail parsers are imported after it. A module the store or the config reaches for at import time moves that
cost before READY (core/mime.py did: 0.1 s of the email package, start-up 0.27 s → 0.4 s): this keeps them out."""

from __future__ import annotations

import subprocess
import sys

import pytest

AFTER_READY = ("deadlinewatch.wiring", "deadlinewatch.core.letters", "deadlinewatch.core.mime",
               "deadlinewatch.core.intake", "jinja2", "babel", "email.headerregistry", "icalendar", "caldav",
               "imapclient", "aiosmtplib", "holidays")


def test_what_runs_before_ready_imports_no_adapter_letter_or_mail_parser() -> None:
    probe = f"import sys, deadlinewatch.daemon; print(' '.join(m for m in {AFTER_READY!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert loaded == []


def test_the_demo_without_its_servers_installed_says_how_to_install_them(monkeypatch: pytest.MonkeyPatch,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """The contract audit: the README's wheel installed without its [demo] extra, `deadlinewatch demo` died with
    "internal error: RuntimeError: radicale exited … No module named radicale"."""
    import importlib.util

    from deadlinewatch import cli

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "radicale" else real(name, *a))
    assert cli.main(["demo"]) == 2
    said = capsys.readouterr().err
    assert "(radicale)" in said and "deadlinewatch[demo]" in said and "internal error" not in said
