"""CalDAV, through the caldav library's client (synchronous: called from worker threads, one client per thread).

The port answers one question cheaply: what changed in a calendar since last time?
  * with an RFC 6578 sync token: one sync-collection REPORT that carries the changed entries' data — an
    unchanged calendar costs exactly one request;
  * without a usable token (first sync, or the server expired it): the same REPORT without a token, which
    lists everything and hands out a token;
  * on a server without sync-collection: a PROPFIND of the ETags (one request) and a calendar-multiget of only
    the entries whose ETag changed.
caldav 3.6's `get_objects_by_sync_token(load_objects=True)` sends one GET per object (10,001 requests for
10,000 entries), so the REPORTs are written here and sent with the library's client, which keeps the
authentication, TLS and time-out handling.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast
from urllib.parse import unquote, urljoin, urlsplit
from xml.sax.saxutils import escape

if TYPE_CHECKING:  # caldav (with niquests) takes 0.4 s to import: not on the way to READY, only when first used
    from caldav.collection import Calendar
    from caldav.davclient import DAVClient
    from niquests.auth import AuthBase

from deadlinewatch.credentials import Secret, ServerAccount
from deadlinewatch.errors import CollectionError, ConfigError, LoginRefused, ServerError

log = logging.getLogger(__name__)
T = TypeVar("T")
DAV, CALDAV = "{DAV:}", "{urn:ietf:params:xml:ns:caldav}"

SYNC_REPORT = """<?xml version="1.0" encoding="utf-8"?>
<D:sync-collection xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
<D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level>
<D:prop><D:getetag/><C:calendar-data/></D:prop></D:sync-collection>"""
ETAGS_PROPFIND = """<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><D:resourcetype/></D:prop></D:propfind>"""
MULTIGET = """<?xml version="1.0" encoding="utf-8"?>
<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
<D:prop><D:getetag/><C:calendar-data/></D:prop>{hrefs}</C:calendar-multiget>"""
QUERY_ALL = """<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
<D:prop><D:getetag/><C:calendar-data/></D:prop><C:filter><C:comp-filter name="VCALENDAR"/></C:filter>
</C:calendar-query>"""
XML = {"Content-Type": "application/xml; charset=utf-8"}
MULTIGET_BATCH = 500


@dataclass(frozen=True)
class CalendarEntry:
    href: str  # the path on the server
    etag: str
    ics: str


@dataclass
class Changes:
    """What changed in one calendar, and what it cost to find out."""

    url: str
    token: str | None  # the token to ask with next time; "" when the server has no sync-collection
    full: bool  # everything was listed: a known entry neither changed nor unchanged is gone
    changed: list[CalendarEntry] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    requests: int = 0
    note: str = ""  # why a full listing was needed, said once in the log


class CalendarSource(Protocol):
    """The calendar port: what the stages need of a CalDAV account (blocking calls: run them in a thread)."""

    def changes(self, ref: str, url: str | None, token: str | None, etags: Mapping[str, str]) -> Changes:
        """What changed in the calendar `ref` names since `token` (see CalDAVCalendar.changes)."""
        ...

    def resolve_url(self, ref: str) -> str:
        """The URL of the calendar a project's `calendar` or `client_calendar` names."""
        ...

    def get(self, url: str) -> tuple[str, str] | None:
        """An entry's text and ETag, or None when it is gone."""
        ...

    def put(self, url: str, ics: str, etag: str | None) -> str | None:
        """Create (etag None) or update (If-Match) an entry; its new ETag, or None when someone changed it."""
        ...

    def delete(self, url: str) -> None:
        """Remove an entry (gone already is as good)."""
        ...

    def check(self) -> str:
        """Log in; what a person reads in `check-config --connect`."""
        ...


class TokenExpired(Exception):
    """The server no longer knows our sync token (RFC 6578 DAV:valid-sync-token)."""


class NoSync(Exception):
    """The server does not do sync-collection REPORTs on this calendar."""


def _path(url: str) -> str:
    return unquote(urlsplit(url).path)


def _bearer(token: Callable[[], Secret]) -> AuthBase:
    """An OAuth access token on every request (`auth = "oauth2"`, Google's CalDAV): asked of the token source
    each time, so a renewed token is used as soon as there is one."""
    from niquests.auth import AuthBase

    class Bearer(AuthBase):
        def __call__(self, request: Any) -> Any:
            request.headers["Authorization"] = "Bearer " + token().reveal()
            return request

    return Bearer()


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
            from caldav.davclient import DAVClient

            bearer = self.account.token
            client = DAVClient(
                url=self.url,
                username=self.account.username or None if bearer is None else None,
                password=self.account.password.reveal() if self.account.password and bearer is None else None,
                auth=_bearer(bearer) if bearer is not None else None,
                timeout=self.timeout,  # the library waits forever without one
                ssl_verify_cert=self.verify_tls,
                enable_rfc6764=False,  # the URL is configured; no DNS discovery
            )
            self._local.client = client
        return client

    RETRIES = (0.5, 1.0)  # back-off before the second and third attempt of a read or an idempotent PUT

    def _call(self, what: Callable[[DAVClient], T]) -> T:
        """Run a read (or an If-Match PUT, which is idempotent) against the server, retrying connection failures
        and 5xx answers with back-off; a login refused or a calendar's own error is never retried."""
        for pause in (*self.RETRIES, None):
            try:
                return self._once(what)
            except ServerError:
                if pause is None:
                    raise
                log.debug("caldav: %s failed; trying again in %.1f s", self.url, pause)
                time.sleep(pause)
        raise AssertionError("unreachable")

    def _once(self, what: Callable[[DAVClient], T]) -> T:
        from caldav.lib import error as caldav_error

        try:
            return what(self._client())
        except caldav_error.AuthorizationError as e:
            if getattr(e, "status", None) == 401 or getattr(e, "reason", "") == "Unauthorized":
                key, refused = (("auth", "the OAuth access token") if self.account.token
                                else ("password", "the login"))
                raise LoginRefused(f"caldav.username / {key}: the server at {self.url} refused {refused} "
                                   f"for \"{self.account.username}\"") from None
            raise CollectionError(f"access denied ({_short(e)})") from None
        except caldav_error.DAVError as e:
            raise CollectionError(_short(e)) from None  # the server answered: this calendar has a problem
        except OSError as e:
            self._local.client = None  # start over with a fresh connection next time
            raise ServerError("caldav", f"{self.url}: {_short(e)}") from None

    # --- finding the calendar ----------------------------------------------------------------------------

    def resolve_url(self, ref: str) -> str:
        return self._call(lambda client: self.resolve(client, ref))

    def resolve(self, client: DAVClient, ref: str) -> str:
        """The URL of the calendar a project's `calendar` names: a URL, a path, a display name or an id."""
        if ref.startswith(("http://", "https://")):
            return ref if ref.endswith("/") else ref + "/"
        if ref.startswith("/"):
            return urljoin(self.url, ref if ref.endswith("/") else ref + "/")
        # the synchronous client returns lists; the coroutine half of caldav's union types is the async client's
        calendars = cast("list[Calendar]", client.get_principal().get_calendars())
        for cal in calendars:
            last = str(cal.url).rstrip("/").rsplit("/", 1)[-1]
            if ref in (cal.get_display_name(), last):
                return str(cal.url)
        known = ", ".join(sorted(f'"{c.get_display_name() or c.url}"' for c in calendars)) or "none"
        raise ConfigError(f'no calendar with the name or path "{ref}" at {self.url}; calendars there: {known}')

    # --- what changed -----------------------------------------------------------------------------------------

    def changes(self, ref: str, url: str | None, token: str | None, etags: Mapping[str, str]) -> Changes:
        """What changed since `token` (None: never synced; "": the server has no sync-collection)."""
        def run(client: DAVClient) -> Changes:
            requests = 0
            target = url
            if target is None:
                target = self.resolve(client, ref)
                if not ref.startswith(("/", "http://", "https://")):
                    requests += 3  # principal, calendar home, calendar listing
            note = ""
            if token:
                try:
                    result = self._sync(client, target, token)
                    result.requests += requests
                    return self._load(client, result)
                except TokenExpired:
                    note = "the server no longer knows our sync token: listing the whole calendar once"
                    requests += 1
                except NoSync:
                    requests += 1
            try:
                if token == "":
                    raise NoSync()  # known from an earlier pass: go straight to the ETag listing
                result = self._sync(client, target, "")
                result.requests += requests
                result.full, result.note = True, note
            except NoSync:
                result = self._listing(client, target, etags)
                tried = token != ""  # a sync REPORT without a token was refused just now
                result.requests += requests + (1 if tried else 0)
                result.note = note or ("the server has no sync-collection: comparing ETags" if tried else "")
            known = set(etags)
            listed = {e.href for e in result.changed}
            result.unchanged = [e.href for e in result.changed if etags.get(e.href) == e.etag]
            result.changed = [e for e in result.changed if etags.get(e.href) != e.etag]
            result.deleted = sorted(known - listed - set(result.unchanged)) if result.full else result.deleted
            return self._load(client, result)

        return self._call(run)

    def _load(self, client: DAVClient, result: Changes) -> Changes:
        """Fetch the text of changed entries the listing did not carry (Xandikos leaves calendar-data out of
        sync-collection answers): one calendar-multiget per 500 entries."""
        missing = [e.href for e in result.changed if not e.ics]
        if not missing:
            return result
        if len(missing) > MULTIGET_BATCH:
            # many at once (a first sync): one calendar-query for everything beats a multiget per 500 entries
            query = self._report(client, result.url, QUERY_ALL)
            result.requests += 1
            loaded = {h: CalendarEntry(h, e, d) for h, s, e, d in _responses(query.tree) if s == 200 and d}
        else:
            loaded = {e.href: e for e in self._multiget(client, result.url, missing, result)}
        result.changed = [loaded.get(e.href, e) if not e.ics else e for e in result.changed]
        result.changed = [e for e in result.changed if e.ics]  # gone between the listing and the fetch
        return result

    def _multiget(self, client: DAVClient, url: str, hrefs: list[str], result: Changes) -> list[CalendarEntry]:
        out = []
        for i in range(0, len(hrefs), MULTIGET_BATCH):
            batch = hrefs[i:i + MULTIGET_BATCH]
            body = MULTIGET.format(hrefs="".join(f"<D:href>{escape(h)}</D:href>" for h in batch))
            got = self._report(client, url, body)
            result.requests += 1
            out += [CalendarEntry(h, e, d) for h, s, e, d in _responses(got.tree) if s == 200 and d is not None]
        return out

    def _report(self, client: DAVClient, url: str, body: str, depth: str = "1") -> Any:
        from caldav.lib import error as caldav_error

        try:
            response = client.request(url, "REPORT", body, {**XML, "Depth": depth})
        except caldav_error.AuthorizationError as e:
            if "valid-sync-token" in str(getattr(e, "preconditions", "")):
                raise TokenExpired() from None
            if getattr(e, "status", None) == 403 and "sync" in body[:200]:
                raise NoSync() from None
            raise
        raw = response.raw if isinstance(response.raw, str) else (response.raw or b"").decode("utf-8", "replace")
        if response.status in (412, 403) and "valid-sync-token" in raw:
            raise TokenExpired()  # Xandikos answers 412, Radicale 403
        if response.status in (400, 403, 405, 415, 501, 503) and "sync-collection" in body:
            raise NoSync()
        _check(response, url, "REPORT")
        return response

    def _sync(self, client: DAVClient, url: str, token: str) -> Changes:
        response = self._report(client, url, SYNC_REPORT.format(token=escape(token)))
        result = Changes(url=url, token=None, full=not token, requests=1)
        tree = response.tree
        if tree is None:
            raise NoSync()
        token_el = tree.find(f"{DAV}sync-token")
        result.token = token_el.text if token_el is not None else None
        if not result.token:
            raise NoSync()
        for href, status, etag, data in _responses(tree):
            if status == 404:
                result.deleted.append(href)
            elif href != _path(url) and not href.endswith("/"):
                result.changed.append(CalendarEntry(href, etag, data or ""))
        return result

    def _listing(self, client: DAVClient, url: str, etags: Mapping[str, str]) -> Changes:
        response = client.request(url, "PROPFIND", ETAGS_PROPFIND, {**XML, "Depth": "1"})
        _check(response, url, "PROPFIND")
        listed: dict[str, str] = {}
        for href, status, etag, _ in _responses(response.tree):
            if status == 200 and href != _path(url) and not href.endswith("/"):
                listed[href] = etag
        result = Changes(url=url, token="", full=True, requests=1)
        result.changed = [CalendarEntry(h, e, "") for h, e in listed.items()]  # texts of the changed ones: _load
        return result

    # --- the client-facing copy ------------------------------------------------------------------------------

    def put(self, url: str, ics: str, etag: str | None) -> str | None:
        """Create (etag None: If-None-Match) or update (If-Match) one entry. Returns the new ETag, or None when
        the precondition failed: someone changed (or created) it meanwhile."""
        def run(client: DAVClient) -> str | None:
            headers = {"Content-Type": "text/calendar; charset=utf-8"}
            headers["If-Match" if etag else "If-None-Match"] = etag or "*"
            response = client.request(url, "PUT", ics, headers)
            if response.status == 412:
                return None
            _check(response, url, "PUT")
            new = response.headers.get("ETag") if response.headers else None
            if not new:  # not every server returns the ETag of a PUT: ask for it
                head = client.request(url, "PROPFIND", ETAGS_PROPFIND, {**XML, "Depth": "0"})
                new = next((e for _, _, e, _ in _responses(head.tree) if e), "")
            return str(new)

        return self._call(run)

    def delete(self, url: str) -> None:
        """Remove one entry of the client-facing copy, whatever a person added to it (the milestone is no longer
        the client's to see); one already gone (404) is as good."""
        def run(client: DAVClient) -> None:
            response = client.request(url, "DELETE")
            if response.status != 404:
                _check(response, url, "DELETE")

        self._call(run)

    def get(self, url: str) -> tuple[str, str] | None:
        """An entry's text and ETag, or None when it is gone."""
        def run(client: DAVClient) -> tuple[str, str] | None:
            response = client.request(url, "GET")
            if response.status == 404:
                return None
            _check(response, url, "GET")
            raw = response.raw if isinstance(response.raw, bytes) else str(response.raw).encode()
            return raw.decode("utf-8", "replace"), str((response.headers or {}).get("ETag", ""))

        return self._call(run)

    def check(self) -> str:
        def login(client: DAVClient) -> str:
            principal = client.get_principal()
            return f"logged in at {principal.url}"

        return self._call(login)


def _responses(tree: Any) -> list[tuple[str, int, str, str | None]]:
    """(href, status, etag, calendar-data) for each response of a multistatus."""
    out: list[tuple[str, int, str, str | None]] = []
    if tree is None:
        return out
    for response in tree.iter(f"{DAV}response"):
        href_el = response.find(f"{DAV}href")
        if href_el is None or not href_el.text:
            continue
        href = unquote(href_el.text.strip())
        status = _status(response.find(f"{DAV}status"))
        etag, data = "", None
        for propstat in response.findall(f"{DAV}propstat"):
            code = _status(propstat.find(f"{DAV}status"))
            if code != 200:
                continue
            status = status or 200
            etag_el = propstat.find(f"{DAV}prop/{DAV}getetag")
            data_el = propstat.find(f"{DAV}prop/{CALDAV}calendar-data")
            etag = (etag_el.text or "").strip() if etag_el is not None else etag
            if data_el is not None and data_el.text:
                data = data_el.text
        out.append((href, status or 200, etag, data))
    return out


def _check(response: Any, url: str, method: str) -> None:
    """An error answer: the server's trouble (5xx, retried) or this calendar's (reported, skipped)."""
    if response.status == 404:
        raise CollectionError(f"{url}: no such calendar or entry on the server (404 to {method})")
    if response.status >= 500:
        raise ServerError("caldav", f"{url}: {method} answered {response.status}")
    if response.status >= 300:
        raise CollectionError(f"{url}: {method} answered {response.status}")


def _status(element: Any) -> int:
    if element is None or not element.text:
        return 0
    parts = element.text.split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def _short(e: BaseException) -> str:
    text = str(e).split("(Caused by", 1)[0].strip()
    return text or type(e).__name__
