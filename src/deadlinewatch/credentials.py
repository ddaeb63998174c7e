"""A server account's login, as the adapters need it: the name, and a password that never shows itself — or,
for `auth = "oauth2"`, the OAuth client it signs in with and a source of fresh access tokens.

Kept apart from config/ so that the adapters (adapters/) depend on this small value, not on the configuration.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


class Secret:
    """A password that never shows itself in logs, reprs or error messages."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True)
class OAuthClient:
    """Where and as whom a server account signs in with OAuth 2.0 (the provider's endpoints filled in)."""

    provider: str  # google | microsoft | generic
    client_id: str
    client_secret: Secret | None
    device_authorization_url: str  # RFC 8628; "" where the provider grants these scopes only in a browser
    token_url: str
    scopes: tuple[str, ...]
    refresh_token_file: str = ""  # a refresh token kept outside the state (e.g. a systemd credential)
    authorization_url: str = ""  # a sign-in in a browser ending on a loopback address (RFC 8252 §7.3), with PKCE


@dataclass(frozen=True)
class ServerAccount:
    username: str
    password: Secret | None
    oauth: OAuthClient | None = None
    # for OAuth: a fresh access token on every call (refreshed before it expires); set by wiring.py
    token: Callable[[], Secret] | None = None
