"""OAuth 2.0 for a server account (`auth = "oauth2"`): signing in once by the device authorization grant
(RFC 8628), keeping the refresh token, and a fresh access token for every login, renewed before it expires.

The token endpoint is spoken to through Authlib's client (it handles the client authentication methods — a public
client with `none`, or a secret — the token responses and the providers' error codes); tokens never reach a log.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deadlinewatch.credentials import OAuthClient, Secret
from deadlinewatch.errors import LoginRefused, ServerError

if TYPE_CHECKING:
    from authlib.integrations.requests_client import OAuth2Session

log = logging.getLogger(__name__)

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
RENEW_BEFORE = 120  # seconds: an access token is renewed this long before it expires (a login must not race it)
TIMEOUT = 30


def _session(client: OAuthClient) -> OAuth2Session:
    from authlib.integrations.requests_client import OAuth2Session  # 0.2-0.5 s: only when a token is needed

    secret = client.client_secret.reveal() if client.client_secret else None
    return OAuth2Session(client.client_id, secret, token_endpoint_auth_method="client_secret_post" if secret
                         else "none", scope=" ".join(client.scopes), default_timeout=TIMEOUT)


class RefreshTokens:
    """Where a server section's refresh token lives. `login` and every rotation write it into the state directory
    (0600); a token given outside it — `refresh_token_file`, or `$CREDENTIALS_DIRECTORY/<section>-refresh-token`
    (systemd's LoadCredential=) — is used until the provider rotates it, and wins again when it is replaced
    there (a new `login --print`)."""

    def __init__(self, state_dir: Path, section: str, configured: str = "", credentials_dir: str | None = None
                 ) -> None:
        self.section = section
        self.path = state_dir / "oauth" / f"{section}-refresh-token"
        candidates = [configured] if configured else []
        if credentials_dir:
            candidates.append(str(Path(credentials_dir) / f"{section}-refresh-token"))
        self.outside = next((Path(c) for c in candidates if Path(c).is_file()), None)

    def read(self) -> str | None:
        given = self.outside.read_text(encoding="utf-8").strip() if self.outside else ""
        try:
            kept = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            kept = None
        if isinstance(kept, dict) and kept.get("refresh_token") and (
                not given or kept.get("replaces") == _digest(given)):
            return str(kept["refresh_token"])
        return given or None

    def write(self, token: str) -> None:
        """Keep a refresh token (from `login`, or rotated by the provider), readable by this user only."""
        given = self.outside.read_text(encoding="utf-8").strip() if self.outside else ""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"refresh_token": token, "replaces": _digest(given) if given else ""}, f)
        os.replace(tmp, self.path)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def device_login(section: str, client: OAuthClient, say: Callable[[str], None],
                 sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """The device authorization grant: ask for a code, tell the person where to enter it, poll the token endpoint
    as the server allows (`interval`, `slow_down`) until they approve, deny, or the code expires."""
    import requests
    from authlib.integrations.base_client import OAuthError

    data: dict[str, str] = {"client_id": client.client_id, "scope": " ".join(client.scopes)}
    if client.client_secret:
        data["client_secret"] = client.client_secret.reveal()
    try:
        answer = requests.post(client.device_authorization_url, data=data, timeout=TIMEOUT)
        grant = answer.json()
    except (requests.RequestException, ValueError) as e:
        raise ServerError(f"{section} sign-in", f"{client.device_authorization_url}: {e}") from None
    if answer.status_code != 200 or "device_code" not in grant:
        raise LoginRefused(f"{section}.oauth2: the provider refused to start a sign-in "
                           f"({grant.get('error', answer.status_code)}: {grant.get('error_description', '')})")
    where = grant.get("verification_uri") or grant.get("verification_url")  # Google says _url
    minutes = int(grant.get("expires_in", 900)) // 60
    say(f"To sign in the {section} account, open {where} and enter the code {grant['user_code']} "
        f"(it expires in {minutes} minutes). Waiting for the approval …")
    interval = float(grant.get("interval", 5))
    session = _session(client)
    while True:
        sleep(interval)
        try:
            return dict(session.fetch_token(client.token_url, grant_type=DEVICE_GRANT,
                                            device_code=grant["device_code"]))
        except OAuthError as e:
            if e.error == "authorization_pending":
                continue
            if e.error == "slow_down":
                interval += 5  # RFC 8628 §3.5: for this and every later request
                continue
            if e.error == "expired_token":
                raise LoginRefused(f"{section}: the code expired before it was approved; run "
                                   f"`deadlinewatch login {section}` again") from None
            if e.error == "access_denied":
                raise LoginRefused(f"{section}: the sign-in was denied at {where}") from None
            raise LoginRefused(f"{section}: the provider refused the sign-in ({e.error}: {e.description})") from None
        except requests.RequestException as e:
            raise ServerError(f"{section} sign-in", f"{client.token_url}: {e}") from None


def browser_login(section: str, client: OAuthClient, say: Callable[[str], None], pasted: Callable[[], str],
                  timeout: float = 900) -> dict[str, Any]:
    """A sign-in in a browser (RFC 8252 §7.3): the authorization code grant with PKCE, ending on a listener on
    127.0.0.1. On a server without a browser the person opens the address on their own machine, where the final
    redirect to 127.0.0.1 does not load: they paste that address back here (`pasted` reads it), as mutt's and
    getmail's OAuth helpers ask. Whichever arrives first — the redirect or the pasted line — is used."""
    import queue
    import secrets
    from http.server import BaseHTTPRequestHandler, HTTPServer

    import requests
    from authlib.integrations.base_client import OAuthError

    answers: queue.Queue[str] = queue.Queue()

    class Callback(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if "code=" not in self.path and "error=" not in self.path:
                self.send_error(404)
                return
            answers.put(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.end_headers()
            self.wfile.write(f"deadlinewatch: {section} signed in; you may close this page.\n".encode())

        def log_message(self, *args: Any) -> None:  # the code is in the request line: nothing to the terminal
            pass

    listener = HTTPServer(("127.0.0.1", 0), Callback)
    redirect = f"http://127.0.0.1:{listener.server_port}/"
    threading.Thread(target=listener.serve_forever, daemon=True).start()
    threading.Thread(target=lambda: answers.put(pasted()), daemon=True).start()
    session = _session(client)
    session.redirect_uri = redirect
    verifier = secrets.token_urlsafe(64)
    session.code_challenge_method = "S256"
    url, state = session.create_authorization_url(client.authorization_url, code_verifier=verifier,
                                                  access_type="offline", prompt="consent")
    say(f"To sign in the {section} account, open this address in a browser and allow access:\n\n  {url}\n\n"
        f"If the browser is on another machine, it ends on an address starting {redirect} that does not load: "
        "copy that whole address here and press Enter.")
    try:
        while True:
            try:
                answer = answers.get(timeout=timeout).strip()
            except queue.Empty:
                raise LoginRefused(f"{section}: no sign-in within {timeout / 60:.0f} minutes; run "
                                   f"`deadlinewatch login {section}` again") from None
            if "code=" in answer or "error=" in answer:
                break
        if "error=" in answer:
            raise LoginRefused(f"{section}: the sign-in was not allowed ({answer.split('error=')[1].split('&')[0]})")
        response = answer if answer.startswith("http") else redirect.rstrip("/") + answer
        try:
            return dict(session.fetch_token(client.token_url, authorization_response=response, state=state,
                                            code_verifier=verifier, redirect_uri=redirect))
        except OAuthError as e:
            raise LoginRefused(f"{section}: the provider refused the sign-in ({e.error}: {e.description})") from None
        except requests.RequestException as e:
            raise ServerError(f"{section} sign-in", f"{client.token_url}: {e}") from None
    finally:
        listener.shutdown()


class TokenSource:
    """Fresh access tokens for one server account: the one in hand while it has more than RENEW_BEFORE seconds
    left, else a new one from the refresh token (a rotated refresh token is kept). Safe across threads (IMAP logs
    in from worker threads and from its IDLE thread)."""

    def __init__(self, section: str, client: OAuthClient, tokens: RefreshTokens,
                 clock: Callable[[], float] = time.time) -> None:
        self.section = section
        self.client = client
        self.tokens = tokens
        self.clock = clock
        self._lock = threading.Lock()
        self._access: Secret | None = None
        self._expires_at = 0.0

    @property
    def expires_at(self) -> float:
        return self._expires_at

    def __call__(self) -> Secret:
        import requests
        from authlib.integrations.base_client import OAuthError

        with self._lock:
            if self._access is not None and self._expires_at - RENEW_BEFORE > self.clock():
                return self._access
            refresh = self.tokens.read()
            if not refresh:
                raise LoginRefused(f'{self.section}.auth = "oauth2": not signed in yet; run '
                                   f"`deadlinewatch login {self.section}`")
            try:
                token = _session(self.client).refresh_token(self.client.token_url, refresh_token=refresh)
            except OAuthError as e:
                raise LoginRefused(f"{self.section}: the provider refused to renew the sign-in ({e.error}"
                                   f"{': ' + e.description if e.description else ''}); consent may have been "
                                   f"withdrawn or the password changed: run `deadlinewatch login {self.section}`"
                                   ) from None
            except requests.RequestException as e:
                raise ServerError(self.section, f"token endpoint {self.client.token_url}: {e}") from None
            if token.get("refresh_token") and token["refresh_token"] != refresh:
                self.tokens.write(str(token["refresh_token"]))
            self._access = Secret(str(token["access_token"]))
            self._expires_at = self.clock() + float(token.get("expires_in", 3600))
            log.info("%s: access token renewed, valid %d s", self.section, int(float(token.get("expires_in", 3600))))
            return self._access
