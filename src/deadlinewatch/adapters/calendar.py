"""CalDAV, through the caldav library (synchronous: called from worker threads, one client per thread).

The port is small: list a calendar's entries as (href, iCalendar text), and check that we can log in.
Which entries are milestones, and their deadlines, is decided in `core.milestones`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast
from urllib.parse import urljoin

from caldav.collection import Calendar
from caldav.davclient import DAVClient
from caldav.lib import error as caldav_error

from deadlinewatch.config import ServerAccount
from deadlinewatch.errors import ConfigError, LoginRefused, ServerError

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class CalendarEntry:
    href: str
    ics: str


class CalendarSource(Protocol):
    def entries(self, calendar: str) -> list[CalendarEntry]: ...

    def check(self) -> str: ...


class CalDAVCalendar:
    """One CalDAV account. caldav objects are not thread-safe: each thread gets its own client."""

    def __init__(self, url: str, account: ServerAccount, verify_tls: bool = True, timeout: int = 30) -> None:
        self.url = url
        self.account = account
        self.verify_tls = verify_tls
        self.timeout = timeout
        self._local = threading.local()

    def _client(self) -> DAVClient:
        client = getattr(self._local, "client", None)
        if client is None:
            client = DAVClient(
                url=self.url,
                username=self.account.username or None,
                password=self.account.password.reveal() if self.account.password else None,
                timeout=self.timeout,  # the library waits forever without one
                ssl_verify_cert=self.verify_tls,
                enable_rfc6764=False,  # the URL is configured; no DNS discovery
            )
            self._local.client = client
        return client

    def _call(self, what: Callable[[DAVClient], T]) -> T:
        try:
            return what(self._client())
        except caldav_error.AuthorizationError as e:
            if getattr(e, "reason", "") == "Unauthorized" or "401" in str(e):
                raise LoginRefused(
                    f"caldav.username / password: the server at {self.url} refused the login "
                    f"for \"{self.account.username}\"") from None
            raise ServerError("caldav", f"{self.url}: access denied ({e})") from None
        except (OSError, caldav_error.DAVError) as e:
            self._local.client = None  # start over with a fresh connection next time
            raise ServerError("caldav", f"{self.url}: {_short(e)}") from None

    def _find(self, client: DAVClient, ref: str) -> Calendar:
        if ref.startswith(("http://", "https://")):
            return client.calendar(url=ref)
        if ref.startswith("/"):
            return client.calendar(url=urljoin(self.url, ref))
        # the synchronous client returns lists; the coroutine half of caldav's union types is the async client's
        calendars = cast(list[Calendar], client.get_principal().get_calendars())
        for cal in calendars:
            name = cal.get_display_name()
            last = str(cal.url).rstrip("/").rsplit("/", 1)[-1]
            if ref in (name, last):
                return cal
        known = ", ".join(sorted(f'"{c.get_display_name() or c.url}"' for c in calendars)) or "none"
        raise ConfigError(f'no calendar with the name or path "{ref}" at {self.url}; calendars there: {known}')

    def entries(self, calendar: str) -> list[CalendarEntry]:
        def fetch(client: DAVClient) -> list[CalendarEntry]:
            cal = self._find(client, calendar)
            objects = cast(Iterable[Any], cal.get_objects_by_sync_token(load_objects=True))
            return [CalendarEntry(str(o.url), o.data) for o in objects if o.data]

        return self._call(fetch)

    def check(self) -> str:
        def login(client: DAVClient) -> str:
            principal = client.get_principal()
            return f"logged in at {principal.url}"

        return self._call(login)


def _short(e: BaseException) -> str:
    text = str(e).split("(Caused by", 1)[0].strip()
    return text or type(e).__name__
