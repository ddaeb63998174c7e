"""IMAP, through imapclient (synchronous and not thread-safe: each connection is used by one thread at a time).

Commands run on one connection per pass; `IdleWatcher` keeps a second connection in IDLE on its own thread and
wakes the daemon through the event loop when mail arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import imapclient
from imapclient.exceptions import IMAPClientError, LoginError

from deadlinewatch.credentials import ServerAccount
from deadlinewatch.errors import ConfigError, LoginRefused, ServerError

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Listed:
    uid: int
    message_id: str  # "" when the message has none


@dataclass(frozen=True)
class Scan:
    uidvalidity: int
    items: list[Listed]


def _chunks(items: list[int], size: int) -> list[list[int]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _message_id(header: bytes) -> str:
    """The Message-ID from a fetched header block, read exactly as `core.intake.read_message` reads it."""
    from deadlinewatch.core.intake import headers_of, message_id_of

    return message_id_of(headers_of(header))


@dataclass(frozen=True)
class Fetched:
    uid: int
    raw: bytes  # the whole message; only its header when it is larger than the fetch's limit
    arrived: dt.datetime  # INTERNALDATE, aware
    size: int = 0  # RFC822.SIZE
    truncated: bool = False  # larger than the limit: `raw` is the header alone


class Mailbox(Protocol):
    def scan(self, folder: str) -> Scan: ...

    def fetch(self, folder: str, uids: list[int] | None = None, max_bytes: int = 0) -> list[Fetched]: ...

    def move(self, uids: list[int], source: str, target: str) -> None: ...

    def contains(self, message_id: str, folders: list[str]) -> bool: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    security: str
    account: ServerAccount
    timeout: int = 30


def connect(settings: ImapSettings) -> imapclient.IMAPClient:
    """Log in, or raise LoginRefused (EX_CONFIG) / ServerError (EX_UNAVAILABLE)."""
    try:
        client = imapclient.IMAPClient(
            settings.host, port=settings.port, ssl=settings.security == "tls",
            ssl_context=ssl.create_default_context() if settings.security != "none" else None,
            timeout=settings.timeout,
        )
        if settings.security == "starttls":
            client.starttls(ssl.create_default_context())
    except (OSError, IMAPClientError) as e:
        raise ServerError("imap", f"{settings.host}:{settings.port}: {e}") from None
    account = settings.account
    try:
        if account.token is not None:
            _bearer_login(client, account.username, account.token().reveal())
        else:
            client.login(account.username, account.password.reveal() if account.password else "")
    except LoginError:
        _quiet_logout(client)
        what = "the OAuth access token" if account.token is not None else "the login"
        raise LoginRefused(f'imap.username / {"auth" if account.token else "password"}: {settings.host} refused '
                           f'{what} for "{account.username}"') from None
    except (LoginRefused, ServerError):
        _quiet_logout(client)
        raise
    except (OSError, IMAPClientError) as e:
        raise ServerError("imap", f"{settings.host}:{settings.port}: {e}") from None
    return client


def _bearer_login(client: imapclient.IMAPClient, user: str, token: str) -> None:
    """SASL XOAUTH2 (Gmail, Microsoft 365), or OAUTHBEARER (RFC 7628) where only that is offered."""
    if not client.has_capability("AUTH=XOAUTH2") and client.has_capability("AUTH=OAUTHBEARER"):
        client.oauthbearer_login(user, token)
    else:
        client.oauth2_login(user, token)


def separator(client: imapclient.IMAPClient) -> str:
    """The server's hierarchy separator: `LIST "" ""` answers it on every server (RFC 3501 6.3.8)."""
    listing = client.list_folders(directory="", pattern="")
    sep = listing[0][1] if listing else None
    if isinstance(sep, bytes):
        sep = sep.decode()
    return sep or "/"


def _quiet_logout(client: imapclient.IMAPClient) -> None:
    try:
        client.logout()
    except (OSError, IMAPClientError):
        with contextlib.suppress(OSError):
            client.shutdown()


class ImapMailbox:
    """One command connection; folder names in the config use "/", translated to the server's separator."""

    def __init__(self, settings: ImapSettings) -> None:
        self.settings = settings
        self._client: imapclient.IMAPClient | None = None
        self._separator = "/"
        self._known_folders: set[str] = set()

    def _c(self) -> imapclient.IMAPClient:
        if self._client is None:
            self._client = connect(self.settings)
            self._separator = separator(self._client)
        return self._client

    def _wrap(self, what: Callable[[imapclient.IMAPClient], T]) -> T:
        try:
            return what(self._c())
        except (TimeoutError, OSError, IMAPClientError) as e:
            self.close()
            raise ServerError("imap", f"{self.settings.host}:{self.settings.port}: {e}") from None

    def folder(self, name: str) -> str:
        return name.replace("/", self._separator) if self._separator != "/" else name

    def check(self) -> str:
        self._c()
        return f"logged in to {self.settings.host} as {self.settings.account.username}"

    def _select(self, c: imapclient.IMAPClient, folder: str, readonly: bool = False) -> dict[bytes, object]:
        try:
            info: dict[bytes, object] = c.select_folder(self.folder(folder), readonly=readonly)
            return info
        except IMAPClientError as e:
            raise ConfigError(f'imap.folder = "{folder}": the server cannot open it ({e})') from None

    def scan(self, folder: str) -> Scan:
        """What is in the folder, cheaply: UIDVALIDITY, and each message's UID and Message-ID header only."""
        def run(c: imapclient.IMAPClient) -> Scan:
            info = self._select(c, folder)
            raw_validity = info.get(b"UIDVALIDITY", 0)
            validity = int(raw_validity) if isinstance(raw_validity, int | str | bytes) else 0
            uids = c.search(["NOT", "DELETED"])
            items: list[Listed] = []
            for chunk in _chunks(uids, 500):
                data = c.fetch(chunk, ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
                for uid in chunk:
                    header = next((v for k, v in data.get(uid, {}).items() if k.startswith(b"BODY[HEADER")), b"")
                    items.append(Listed(uid, _message_id(header if isinstance(header, bytes) else b"")))
            return Scan(validity, items)

        return self._wrap(run)

    def fetch(self, folder: str, uids: list[int] | None = None, max_bytes: int = 0) -> list[Fetched]:
        """Whole messages (without setting \\Seen), by UID; every message in the folder when uids is None. A
        message larger than `max_bytes` (when set) comes as its header alone, marked truncated: it is never
        read whole."""
        def run(c: imapclient.IMAPClient) -> list[Fetched]:
            self._select(c, folder)
            wanted = c.search(["NOT", "DELETED"]) if uids is None else uids
            out: list[Fetched] = []
            for chunk in _chunks(wanted, 200):
                sizes = {uid: int(v.get(b"RFC822.SIZE", 0)) for uid, v in c.fetch(chunk, ["RFC822.SIZE"]).items()}
                large = {uid for uid, size in sizes.items() if max_bytes and size > max_bytes}
                data = dict(c.fetch([u for u in chunk if u in sizes and u not in large],
                                    ["BODY.PEEK[]", "INTERNALDATE"])) if len(large) < len(sizes) else {}
                if large:
                    data.update(c.fetch(sorted(large), ["BODY.PEEK[HEADER]", "INTERNALDATE"]))
                for uid in chunk:
                    item = data.get(uid)
                    body = item and (item.get(b"BODY[]") if uid not in large else item.get(b"BODY[HEADER]"))
                    if not item or not isinstance(body, bytes):
                        continue  # gone meanwhile (moved by someone else): nothing to do
                    arrived = item.get(b"INTERNALDATE")
                    if isinstance(arrived, dt.datetime) and arrived.tzinfo is None:
                        arrived = arrived.astimezone()  # imapclient gives local naive time by default
                    out.append(Fetched(uid, body, arrived or dt.datetime.now(dt.UTC), sizes.get(uid, len(body)),
                                       uid in large))
            return out

        return self._wrap(run)

    def _ensure(self, c: imapclient.IMAPClient, folder: str) -> None:
        if folder in self._known_folders:
            return
        if not c.folder_exists(folder):
            c.create_folder(folder)
            with contextlib.suppress(IMAPClientError):  # some servers refuse subscriptions; the folder is there
                c.subscribe_folder(folder)
        self._known_folders.add(folder)

    def move(self, uids: list[int], source: str, target: str) -> None:
        """Move messages by UID: MOVE (RFC 6851), else COPY + \\Deleted + UID EXPUNGE of exactly these."""
        def run(c: imapclient.IMAPClient) -> None:
            dest = self.folder(target)
            self._ensure(c, dest)
            c.select_folder(self.folder(source))
            for chunk in _chunks(uids, 500):
                if c.has_capability("MOVE"):
                    c.move(chunk, dest)
                    continue
                c.copy(chunk, dest)
                c.add_flags(chunk, [imapclient.DELETED])
                if c.has_capability("UIDPLUS"):
                    c.uid_expunge(chunk)  # never a plain EXPUNGE: it would remove others' deleted mail too
                else:
                    log.warning("imap: %s has neither MOVE nor UIDPLUS; %d messages stay flagged \\Deleted in %s",
                                self.settings.host, len(chunk), source)

        if uids:
            self._wrap(run)

    def contains(self, message_id: str, folders: list[str]) -> bool:
        """Is a message with this Message-ID in any of these folders? (How a crashed send is reconciled.)"""
        def run(c: imapclient.IMAPClient) -> bool:
            for folder in folders:
                name = self.folder(folder)
                if not c.folder_exists(name):
                    continue
                c.select_folder(name, readonly=True)
                if c.search(["HEADER", "Message-ID", message_id]):
                    return True
            return False

        return bool(self._wrap(run))

    def append(self, folder: str, raw: bytes, when: dt.datetime | None = None) -> None:
        def run(c: imapclient.IMAPClient) -> None:
            dest = self.folder(folder)
            self._ensure(c, dest)
            c.append(dest, raw, msg_time=when)

        self._wrap(run)

    def close(self) -> None:
        if self._client is not None:
            _quiet_logout(self._client)
            self._client = None


class IdleWatcher:
    """A second connection in IDLE on its own thread; calls `wake` on the loop when the folder changes.

    Falls back to doing nothing (the daemon polls every poll_seconds) when the server lacks IDLE. IDLE is
    renewed every 9 minutes (RFC 2177 asks for less than 29); a dead connection is replaced with back-off.
    """

    RENEW_SECONDS = 9 * 60

    def __init__(self, settings: ImapSettings, folder: str, loop: asyncio.AbstractEventLoop,
                 wake: Callable[[], None]) -> None:
        self.settings = settings
        self.folder = folder
        self.loop = loop
        self.wake = wake
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="imap-idle", daemon=True)
        self.available = True

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            client = None
            try:
                client = connect(self.settings)
                if not client.has_capability("IDLE"):
                    log.info("imap: %s has no IDLE; polling every poll_seconds instead", self.settings.host)
                    self.available = False
                    return
                client.select_folder(self.folder.replace("/", separator(client)), readonly=True)
                backoff = 1.0
                self.loop.call_soon_threadsafe(self.wake)  # catch up on what arrived while we were away
                while not self._stop.is_set():
                    client.idle()
                    started = dt.datetime.now(dt.UTC)
                    news = False
                    empty_wakeups = 0
                    while not self._stop.is_set():
                        waited = time.monotonic()
                        responses = client.idle_check(timeout=1)
                        if any(r[1] in (b"EXISTS", b"RECENT") for r in responses if len(r) > 1):
                            news = True
                            break
                        # a closed socket is readable at once and yields nothing: idle_check returns [] forever
                        # without raising, so an immediate empty return, again and again, means the server is gone
                        empty_wakeups = empty_wakeups + 1 if not responses and time.monotonic() - waited < 0.5 else 0
                        if empty_wakeups >= 3:
                            raise ConnectionResetError("the server closed the IDLE connection")
                        if (dt.datetime.now(dt.UTC) - started).total_seconds() > self.RENEW_SECONDS:
                            break
                    # idle_done raises when the server closed the socket: idle_check alone never notices
                    client.idle_done()
                    if news:
                        self.loop.call_soon_threadsafe(self.wake)
            except (LoginRefused, ServerError, OSError, IMAPClientError) as e:
                log.warning("imap: IDLE connection lost (%s); reconnecting in %.0f s", e, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 300)
            finally:
                if client is not None:
                    _quiet_logout(client)
