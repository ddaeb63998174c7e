"""Who may see the manager's pages: a password checked against an argon2 hash in a file, sessions in signed
cookies, sign-in attempts rate-limited — or the user named by the reverse proxy's own sign-in, honoured only
from the proxy's address. Nothing here touches the network or the store: the server (server.py) asks."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path

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
    sid: str  # random per sign-in: the CSRF token is made from it, signing out revokes it

    def csrf(self, secret: bytes) -> str:
        return hmac.new(secret, b"csrf:" + self.sid.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, secret: bytes, token: str) -> bool:
        return hmac.compare_digest(self.csrf(secret), token)


class Sessions:
    """Signed, timed cookies. The signing key is derived from the state's secret; a changed password file
    (its hash is in every cookie's fingerprint) or signing out ends a session."""

    def __init__(self, state_key: bytes) -> None:
        self.secret = hmac.new(state_key, b"deadlinewatch web sessions", hashlib.sha256).digest()
        self._signer = URLSafeTimedSerializer(self.secret, salt="deadlinewatch-session")
        self._revoked: dict[str, float] = {}  # sid -> when it would have expired anyway

    def issue(self, user: str, fingerprint: str) -> tuple[Session, str]:
        session = Session(user, secrets.token_urlsafe(16))
        return session, self._signer.dumps({"u": user, "s": session.sid, "f": fingerprint})

    def read(self, cookie: str | None, fingerprint: str) -> Session | None:
        if not cookie:
            return None
        try:
            data = self._signer.loads(cookie, max_age=SESSION_SECONDS)
        except BadSignature:  # tampered, or expired (SignatureExpired is a BadSignature)
            return None
        if not isinstance(data, dict) or data.get("f") != fingerprint or data.get("s") in self._revoked:
            return None
        return Session(str(data.get("u", "")), str(data.get("s", "")))

    def revoke(self, session: Session) -> None:
        now = time.time()
        self._revoked = {sid: until for sid, until in self._revoked.items() if until > now}
        self._revoked[session.sid] = now + SESSION_SECONDS


def fingerprint(stored_hash: str) -> str:
    return hashlib.sha256(stored_hash.encode()).hexdigest()[:16]


@dataclass
class Attempts:
    """Failed sign-ins: at most `per_address` per address and `overall` in all within `window` seconds (the
    overall cap slows a guesser spread over many addresses); a success clears its address."""

    per_address: int = 5
    overall: int = 30
    window: float = 900.0
    _failures: dict[str, deque[float]] = field(default_factory=dict)
    _all: deque[float] = field(default_factory=deque)

    def _trim(self, q: deque[float], now: float) -> None:
        while q and q[0] <= now - self.window:
            q.popleft()

    def retry_after(self, address: str, now: float | None = None) -> int:
        """Seconds until this address may try again; 0 when it may now."""
        now = time.monotonic() if now is None else now
        q = self._failures.get(address, deque())
        self._trim(q, now)
        self._trim(self._all, now)
        waits = [q[0] + self.window - now] if len(q) >= self.per_address else []
        if len(self._all) >= self.overall:
            waits.append(self._all[0] + self.window - now)
        return max(1, int(max(waits)) + 1) if waits else 0

    def failed(self, address: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._failures.setdefault(address, deque()).append(now)
        self._all.append(now)
        if len(self._failures) > 10_000:  # a flood of addresses must not grow memory without end
            self._failures = {a: q for a, q in self._failures.items() if q and q[-1] > now - self.window}

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)


def from_proxy(remote: str | None, proxies: Sequence[str]) -> bool:
    """Whether a connection comes from one of web.trusted_proxies."""
    try:
        address = ipaddress.ip_address(remote or "")
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(p, strict=False) for p in proxies)


def trusted_user(value: str | None, manager: str) -> str | None:
    """The user the proxy named, when it is the manager (by address or by local part, case-insensitive)."""
    if not value:
        return None
    named = parseaddr(value)[1].strip().lower() or value.strip().lower()
    address = parseaddr(manager)[1].lower()
    return address if named in (address, address.split("@")[0]) else None
