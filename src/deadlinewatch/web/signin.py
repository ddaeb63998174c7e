"""Who may see the manager's pages: a password checked against an argon2 hash in a file, sessions in signed
cookies (the live ones kept in the state, so signing out holds), sign-in attempts limited per address and slowed
down overall — or the user named by the reverse proxy's own sign-in, honoured only from the proxy's address.
Nothing here touches the network or the store: the server (server.py) asks."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from itsdangerous import BadSignature, URLSafeTimedSerializer

from deadlinewatch.errors import ConfigError, UsageError

SESSION_COOKIE = "deadlinewatch_session"
SESSION_SECONDS = 14 * 24 * 3600  # a manager on a phone signs in once a fortnight, not every morning
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters (RFC 9106)


def hash_password(password: str) -> str:
    """`web-password`: the argon2id hash of a password (salted; the salt and parameters are in the string)."""
    if len(password) < 12:
        raise UsageError("the password is too short: use at least 12 characters (a passphrase of a few words)")
    return _hasher.hash(password)


def write_password_file(path: str, password: str) -> None:
    """The hash to a file only its owner can read (0600), replaced atomically."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    hashed = hash_password(password)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(hashed + "\n")
        os.replace(tmp, target)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"cannot write {path}: {e.strerror}; nothing was written") from None


def read_hash(path: str) -> str:
    try:
        text = Path(path).read_text().strip()
    except OSError as e:
        raise ConfigError(f'web.password_file = "{path}": cannot read it ({e.strerror})') from None
    if not text.startswith("$argon2"):
        raise ConfigError(f'web.password_file = "{path}": not an argon2 hash; write it with '
                          "`deadlinewatch web-password --out FILE`")
    return text


def password_matches(stored_hash: str, password: str) -> bool:
    """Constant-time by construction (argon2); slow on purpose, so the server runs it in a thread."""
    try:
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class Session:
    user: str
    sid: str  # random per sign-in: the CSRF token is made from it, signing out ends it (in the state)

    def csrf(self, secret: bytes) -> str:
        return hmac.new(secret, b"csrf:" + self.sid.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, secret: bytes, token: str) -> bool:
        return hmac.compare_digest(self.csrf(secret), token)


class Sessions:
    """Signed, timed cookies naming a session. The signing key is derived from the state's secret; a changed
    password file (its hash is in every cookie's fingerprint) ends every session. Whether a session was signed
    out is not the cookie's to say: the state keeps the live sessions, and the server asks it (so signing out
    holds across restarts)."""

    def __init__(self, state_key: bytes) -> None:
        self.secret = hmac.new(state_key, b"deadlinewatch web sessions", hashlib.sha256).digest()
        self._signer = URLSafeTimedSerializer(self.secret, salt="deadlinewatch-session")

    def issue(self, user: str, fingerprint: str) -> tuple[Session, str]:
        session = Session(user, secrets.token_urlsafe(16))
        return session, self._signer.dumps({"u": user, "s": session.sid, "f": fingerprint})

    def read(self, cookie: str | None, fingerprint: str) -> Session | None:
        """The session a cookie names, when its signature, age and password fingerprint hold."""
        if not cookie:
            return None
        try:
            data = self._signer.loads(cookie, max_age=SESSION_SECONDS)
        except BadSignature:  # tampered, or expired (SignatureExpired is a BadSignature)
            return None
        if not isinstance(data, dict) or data.get("f") != fingerprint or not data.get("s"):
            return None
        return Session(str(data.get("u", "")), str(data["s"]))


def fingerprint(stored_hash: str) -> str:
    return hashlib.sha256(stored_hash.encode()).hexdigest()[:16]


# --- how often a password may be tried -------------------------------------------------------------------------
#
# Two rules, as the login throttles of mature web applications have them (Nextcloud's brute-force protection,
# django-axes by address): an address that guessed wrong too often waits (429), alone; failures from everywhere
# never refuse anyone — the right password from another address must always get in — they slow every attempt
# down instead, more as they grow, never beyond a bound. An attempt is counted when it is reserved, before the
# password is read or checked, so concurrent guesses from one address cannot all pass the check.

Outcome = Literal["failed", "succeeded", "void"]  # void: no password was checked (the request broke off first)


@dataclass(frozen=True)
class Refused:
    """This address has had its tries: it may try again in `retry_after` seconds."""

    retry_after: int


@dataclass(frozen=True)
class Reserved:
    """An attempt counted before its password is checked: check it after `delay` seconds, then settle it."""

    key: str
    delay: float


def address_key(address: str) -> str:
    """What an address counts as: itself for IPv4, its /64 for IPv6 (one host holds a whole /64, as Nextcloud
    counts it), IPv4-mapped IPv6 as its IPv4; anything unreadable as itself, cut short."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def slowdown(failures: int, calm: int, first: float, most: float) -> float:
    """Seconds every attempt waits when `failures` failed from everywhere within the window: none while they are
    fewer than `calm`, then `first`, doubled for every further `calm`, never more than `most`."""
    if failures < calm:
        return 0.0
    return min(most, first * 2.0 ** min((failures - calm) // calm, 32))


@dataclass
class Attempts:
    """Failed sign-ins: `per_address` per address within `window` seconds, then that address waits until its
    oldest failure leaves the window (a success clears it); failures from everywhere slow everyone (slowdown).
    Memory is bounded: at most `max_addresses` addresses are remembered (the least recent forgotten first), and
    the failures from everywhere are counted per minute."""

    per_address: int = 5
    window: float = 900.0
    calm: int = 30  # failures from everywhere within the window before anyone is slowed down
    first_delay: float = 1.0
    max_delay: float = 10.0
    max_addresses: int = 10_000
    _failures: OrderedDict[str, tuple[float, ...]] = field(default_factory=OrderedDict)  # newest last
    _pending: dict[str, int] = field(default_factory=dict)  # attempts reserved, not yet settled
    _everywhere: deque[list[float]] = field(default_factory=deque)  # [minute, failures in it], oldest first

    def _recent(self, key: str, now: float) -> tuple[float, ...]:
        kept = tuple(t for t in self._failures.get(key, ()) if t > now - self.window)
        if not kept:
            self._failures.pop(key, None)
        elif len(kept) != len(self._failures[key]):
            self._failures[key] = kept
        return kept

    def failures_everywhere(self, now: float | None = None) -> int:
        now = time.monotonic() if now is None else now
        bucket = self.window / 15
        while self._everywhere and self._everywhere[0][0] <= (now - self.window) // bucket:
            self._everywhere.popleft()
        return int(sum(count for _, count in self._everywhere))

    def delay(self, now: float | None = None) -> float:
        return slowdown(self.failures_everywhere(now), self.calm, self.first_delay, self.max_delay)

    def reserve(self, address: str, now: float | None = None) -> Reserved | Refused:
        """Count an attempt from `address` now, or refuse it. No await may come between this and the caller's
        check of its answer: that is what makes concurrent attempts count."""
        now = time.monotonic() if now is None else now
        key = address_key(address)
        failed, pending = self._recent(key, now), self._pending.get(key, 0)
        if len(failed) + pending >= self.per_address:
            # the attempts under way count as failures made now: the wait ends when enough have left the window
            times = [*failed, *[now] * pending]
            leaving = times[len(times) - self.per_address]
            return Refused(max(1, int(leaving + self.window - now) + 1))
        self._pending[key] = pending + 1
        return Reserved(key, self.delay(now))

    def settle(self, attempt: Reserved, outcome: Outcome, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        key = attempt.key
        left = self._pending.get(key, 0) - 1
        if left > 0:
            self._pending[key] = left
        else:
            self._pending.pop(key, None)
        if outcome == "succeeded":
            self._failures.pop(key, None)
        elif outcome == "failed":
            self._failures[key] = (*self._recent(key, now), now)[-self.per_address:]
            self._failures.move_to_end(key)
            while len(self._failures) > self.max_addresses:
                self._failures.popitem(last=False)
            minute = (now // (self.window / 15))
            if self._everywhere and self._everywhere[-1][0] == minute:
                self._everywhere[-1][1] += 1
            else:
                self._everywhere.append([minute, 1])


def from_proxy(remote: str | None, proxies: Sequence[str]) -> bool:
    """Whether a connection comes from one of web.trusted_proxies."""
    try:
        address = ipaddress.ip_address(remote or "")
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(p, strict=False) for p in proxies)


def trusted_user(value: str | None, manager: str) -> str | None:
    """The user the proxy named, when it is exactly the manager: the manager's address, or the bare user name
    (its local part), case-insensitive — one value and nothing else. "Mallory <pm@studio.example>" or
    "pm@studio.example, mallory@evil.example" name nobody: a proxy writes the user it signed in, not a mail
    header, and anything more is someone writing around it."""
    if not value:
        return None
    named = value.strip().lower()
    address = parseaddr(manager)[1].lower()
    return address if named and named in (address, address.split("@")[0]) else None
