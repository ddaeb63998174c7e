"""The one exception tree. cli.py turns each into a message and an exit code (CONTRACT.md)."""

from __future__ import annotations

import os

EX_USAGE = 2
EX_UNAVAILABLE = 69
EX_CONFIG = 78


class DeadlinewatchError(Exception):
    """Base of every error a user may see; the message says what to fix."""

    exit_code = 1


class UsageError(DeadlinewatchError):
    """The command line is wrong (unknown milestone, ambiguous name, bad --now)."""

    exit_code = EX_USAGE


class ConfigError(DeadlinewatchError):
    """The configuration file is missing, unreadable or invalid; each problem names file, key and value."""

    exit_code = EX_CONFIG

    def __init__(self, problems: list[str] | str, path: str | os.PathLike[str] | None = None) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.path = str(path) if path is not None else None
        head = f"{self.path}: " if self.path else ""
        if len(self.problems) == 1:
            text = head + self.problems[0]
        else:
            text = f"{head}{len(self.problems)} problems:\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(text)


class LoginRefused(ConfigError):
    """A server refused our credentials: a configuration problem (EX_CONFIG)."""


class ServerError(DeadlinewatchError):
    """A server is unreachable, timed out, or TLS failed (EX_UNAVAILABLE)."""

    exit_code = EX_UNAVAILABLE

    def __init__(self, server: str, detail: str, maybe_done: bool = False) -> None:
        self.server = server
        self.detail = detail
        # the connection broke after the request went out: it may have taken effect (an SMTP send past DATA)
        self.maybe_done = maybe_done
        super().__init__(f"{server}: {detail}")


class CollectionError(DeadlinewatchError):
    """One calendar answered with an error while the server is up: it is reported and skipped, the others sync."""


class CalendarEntryError(DeadlinewatchError):
    """One calendar entry cannot be read as a milestone; it is skipped and reported."""


class StateError(DeadlinewatchError):
    """The state directory is unusable or held by another process."""


class StateConflict(StateError):
    """A change the state refuses: it would record the same message (key, token or Message-ID) twice."""
