"""The one exception tree, each class with its exit code (CONTRACT.md "Exit codes"), and `exit_code`: the one
place an error becomes an exit code — for cli.py, and for the daemon answering a command over its control socket.
cli.py turns each into a message."""

from __future__ import annotations

import datetime as dt
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from deadlinewatch.core.words import Phrase

EX_USAGE = 2
EX_UNAVAILABLE = 69
EX_CONFIG = 78
EX_INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT, as a shell reports it


class DeadlinewatchError(Exception):
    """Base of every error a user may see; the message says what to fix."""

    exit_code = 1


class UsageError(DeadlinewatchError):
    """The command line is wrong (unknown milestone, ambiguous name, bad --now)."""

    exit_code = EX_USAGE


class Refused(DeadlinewatchError):
    """A decision on a held letter that cannot be made as asked. `words` say why in any language (a Phrase of
    core/words.py): the web page and the answer by mail say it in the manager's language; the command line says
    the message, in English."""

    def __init__(self, message: str, words: Phrase) -> None:
        self.words = words
        super().__init__(message)


class DateRefused(Refused, UsageError):
    """A date for a held notice that the client cannot be given (`approve --date`, the web page's date, "approve
    2026-12-11" by mail): `why` says what is wrong with it and which date would do."""

    def __init__(self, date: dt.date, why: Phrase) -> None:
        from deadlinewatch.core.words import _, phrase

        self.date, self.why = date, why
        super().__init__(f"--date {date.isoformat()}: {why}", phrase(
            _("the date %(date)s cannot be given: %(why)s; nothing changed"), date=date, why=why))


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
    """A server refused our credentials: a configuration problem (EX_CONFIG). `provider`: the refusal in the
    provider's own words (an OAuth error and its description), when it gave any — what the manager's sign-in mail
    quotes, apart from our own message."""

    def __init__(self, problems: list[str] | str, path: str | os.PathLike[str] | None = None, *,
                 provider: str = "") -> None:
        self.provider = provider
        super().__init__(problems, path)


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


class LeaseLost(StateError):
    """The part of the work a daemon was doing is another's now (its lease expired, or was taken over or handed
    on): what was to be written under it is not."""


class Stopping(DeadlinewatchError):
    """The daemon is stopping: a step ends at its next item instead of working through the rest (each item
    commits on its own, so what is left waits for the next daemon, or the next start)."""


class StateConflict(StateError):
    """A change the state refuses: it would record the same message (key, token or Message-ID) twice."""


class StateBusy(StateError):
    """A change the state could not take now, through nobody's fault: PostgreSQL rolled it back for a conflict with
    another daemon's (40001, 40P01). Nothing of it happened; the work that made it is tried again (the store's own
    methods do so themselves), never counted against a message."""


def exit_code(*errors: BaseException | type[BaseException]) -> int:
    """The exit code of a command that met these errors (instances or classes): 0 for none; an error of the tree
    its class's `exit_code`, Ctrl-C 130, argparse's exit (--help, --version) its own code, anything else 1. Of
    several, the gravest: a configuration problem (78) over a server that is down (69) over anything else."""
    codes = [0]
    for error in errors:
        kind = error if isinstance(error, type) else type(error)
        if issubclass(kind, DeadlinewatchError):
            codes.append(kind.exit_code)
        elif issubclass(kind, KeyboardInterrupt):
            codes.append(EX_INTERRUPTED)
        elif isinstance(error, SystemExit):
            codes.append(EX_USAGE if isinstance(error.code, str) else int(error.code or 0))
        else:
            codes.append(1)
    return max(codes)
