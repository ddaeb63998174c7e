"""`run` tells systemd READY=1 once the config and the store are open (daemon.py); the adapters, the letters and
the mail parsers are imported after it. A module the store or the config reaches for at import time moves that
cost before READY (core/mime.py did: 0.1 s of the email package, start-up 0.27 s → 0.4 s): this keeps them out."""

from __future__ import annotations

import subprocess
import sys

AFTER_READY = ("deadlinewatch.wiring", "deadlinewatch.core.letters", "deadlinewatch.core.mime",
               "deadlinewatch.core.intake", "jinja2", "babel", "email.headerregistry", "icalendar", "caldav",
               "imapclient", "aiosmtplib", "holidays")


def test_what_runs_before_ready_imports_no_adapter_letter_or_mail_parser() -> None:
    probe = f"import sys, deadlinewatch.daemon; print(' '.join(m for m in {AFTER_READY!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert loaded == []
