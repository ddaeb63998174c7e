"""OAuth 2.0 for a server account (`auth = "oauth2"`): signing in once — by the device authorization grant
(RFC 8628), or in a browser with PKCE ending on a loopback listener (RFC 8252) — keeping the refresh token, and a
fresh access token for every login, renewed before it expires.

The token endpoint is spoken to through Authlib's client (it handles the client authentication methods — a public
client with `none`, or a secret — the token responses and the providers' error codes); tokens never reach a log.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import hmac
import json
import logging
import os
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deadlinewatch.credentials import OAuthClient, Secret
from deadlinewatch.errors import ConfigError, DeadlinewatchError, LoginRefused, ServerError

if TYPE_CHECKING:
    from authlib.integrations.requests_client import OAuth2Session

log = logging.getLogger(__name__)

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
RENEW_BEFORE = 120  # seconds: an access token is renewed this long before it expires (a login must not race it)
TIMEOUT = 30


@dataclass(frozen=True)
class Provider:
    """A provider's endpoints, "{tenant}" filled in from the oauth2 table, and the scopes each server section asks
    for (README, "OAuth 2.0", cites their documentation)."""

    title: str
    device_authorization_url: str  # "": the provider grants these scopes in a browser only
    authorization_url: str
    token_url: str
    scopes: Mapping[str, tuple[str, ...]]  # a section it has no server for is not here


_MICROSOFT = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0"
PROVIDERS = {
    # Google's device flow grants a short list of scopes without mail or calendar: a sign-in in a browser ending
    # on a loopback address, the flow Google documents for command-line tools
    "google": Provider("Google", "", "https://accounts.google.com/o/oauth2/v2/auth",
                       "https://oauth2.googleapis.com/token", {
                           "imap": ("https://mail.google.com/",), "smtp": ("https://mail.google.com/",),
                           "caldav": ("https://www.googleapis.com/auth/calendar",)}),
    "microsoft": Provider("Microsoft 365", f"{_MICROSOFT}/devicecode", "", f"{_MICROSOFT}/token", {
        "imap": ("https://outlook.office.com/IMAP.AccessAsUser.All", "offline_access"),
        "smtp": ("https://outlook.office.com/SMTP.Send", "offline_access")}),
}


def provider_client(provider: str, section: str, client_id: str, client_secret: Secret | None, tenant: str,
                    refresh_token_file: str) -> OAuthClient | None:
    """The client a known provider's account signs in to a server section with, the endpoints and scopes filled
    in; None when the provider has no such server (Microsoft 365: no CalDAV)."""
    known = PROVIDERS[provider]
    if section not in known.scopes:
        return None
    return OAuthClient(provider, client_id, client_secret, known.device_authorization_url.format(tenant=tenant),
                       known.token_url.format(tenant=tenant), known.scopes[section], refresh_token_file,
                       known.authorization_url)


def _session(client: OAuthClient) -> OAuth2Session:
    from authlib.integrations.requests_client import OAuth2Session  # 0.2-0.5 s: only when a token is needed

    secret = client.client_secret.reveal() if client.client_secret else None
    return OAuth2Session(client.client_id, secret, token_endpoint_auth_method="client_secret_post" if secret
                         else "none", scope=" ".join(client.scopes), default_timeout=TIMEOUT)


class RefreshTokens:
    """Where a server section's refresh token lives. `login` and every rotation write it into the state directory
    (0600); a token given outside it — `refresh_token_file`, or `$CREDENTIALS_DIRECTORY/<section>-refresh-token`
    (systemd's LoadCredential=) — is used until the provider rotates it, and wins again when it is replaced
    there (a new `login --print`).

    A provider that rotates has revoked the old refresh token by the time the new one is written: the new one is
    held in memory first and used from there for as long as it cannot be saved (`unsaved` says where and why),
    and saving it is tried again at every use."""

    def __init__(self, state_dir: Path, section: str, configured: str = "", credentials_dir: str | None = None
                 ) -> None:
        self.section = section
        self.path = state_dir / "oauth" / f"{section}-refresh-token"
        candidates = [configured] if configured else []
        if credentials_dir:
            candidates.append(str(Path(credentials_dir) / f"{section}-refresh-token"))
        self.outside = next((Path(c) for c in candidates if Path(c).is_file()), None)
        self._held: dict[str, str] | None = None  # a token not saved yet, as the file would have it
        self.save_error = ""  # why the last save failed ("Read-only file system"); "" once a token is saved

    @property
    def unsaved(self) -> str:
        """Why the token in use is held in memory only, and what mends it; "" while it is saved."""
        if not self.save_error:
            return ""
        user = _user()
        return (f"the new refresh token could not be saved to {self.path} ({self.save_error}); it is used from "
                f"memory until it can be: make {self.path.parent} writable for the user {user} (or free space) — "
                f"should deadlinewatch stop before, run `deadlinewatch login {self.section}` as {user}")

    def read(self) -> str | None:
        given = self._given()
        if self._held is not None and given and self._held["replaces"] != _digest(given):
            self._held, self.save_error = None, ""  # a newer one put in the credential: the held one is moot
        kept = self._held if self._held is not None else self._kept()
        if kept is not None and kept.get("refresh_token") and (
                not given or kept.get("replaces") == _digest(given)):
            return str(kept["refresh_token"])
        return given or None

    def write(self, token: str) -> None:
        """Keep a refresh token (from `login`, or rotated by the provider), readable by this user only: whole or
        not at all (a crash or a full disk leaves the old file as it was). When it cannot be saved it is still
        the one `read` returns, and a ConfigError names the file, the reason and what to fix."""
        given = self._given()
        self._held = {"refresh_token": token, "replaces": _digest(given) if given else ""}
        self.save()

    def save(self) -> None:
        """Save the token held in memory, if any (again: the folder may have been mended meanwhile)."""
        if self._held is None:
            return
        try:
            self._save_atomically(json.dumps(self._held))
        except OSError as e:
            self.save_error = e.strerror or str(e)
            raise ConfigError(f"{self.section}: {self.unsaved}") from None
        self._held, self.save_error = None, ""

    def _save_atomically(self, text: str) -> None:
        # The new content goes to a temp file beside the old one (same file system: the rename is atomic), created
        # 0600 by mkstemp (O_EXCL: never an old or planted file), is flushed to disk before it takes the name, and
        # the folder is flushed after, so that the rename itself survives a power cut.
        folder = self.path.parent
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        folder_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(folder_fd)
        except OSError as e:
            if e.errno not in (errno.EINVAL, errno.ENOTSUP):  # a file system that cannot sync a folder
                raise
        finally:
            os.close(folder_fd)

    def _given(self) -> str:
        return self.outside.read_text(encoding="utf-8").strip() if self.outside else ""

    def _kept(self) -> dict[str, str] | None:
        try:
            kept = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return kept if isinstance(kept, dict) else None


def _user() -> str:
    import pwd

    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:  # a uid without a passwd entry (DynamicUser=, a container)
        return f"uid {os.geteuid()}"


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


@dataclass(frozen=True)
class Callback:
    """What an address the sign-in may have ended on says (a redirect to the loopback listener, or the address
    pasted back), judged against this sign-in's `state`. Only an address carrying that state is `ours`: anything
    else may come from any process on this machine or any page the person has open, and is ignored."""

    ours: bool
    code: str = ""
    error: str = ""  # the provider's refusal (RFC 6749 §4.1.2.1): access_denied, invalid_scope, …
    description: str = ""


NOT_OURS = Callback(False)


def judge_callback(address: str, state: str) -> Callback | None:
    """The verdict on one address: None when it is no callback at all (no code, no error: a browser asking for
    /favicon.ico, a stray line), else whether it is this sign-in's and what it says. The state is compared in
    constant time; a repeated parameter makes the address not ours (which copy would count is anyone's guess)."""
    address = address.strip()
    query = urllib.parse.urlsplit(address).query if "?" in address else address
    params = urllib.parse.parse_qs(query.split("#", 1)[0], keep_blank_values=True)
    if "code" not in params and "error" not in params:
        return None
    if any(len(values) != 1 for values in params.values()):
        return NOT_OURS
    received = params.get("state", [""])[0]
    if not received or not hmac.compare_digest(received.encode(), state.encode()):
        return NOT_OURS
    if "error" in params:
        return Callback(True, error=_shown(params["error"][0], 64) or "error",
                        description=_shown(params.get("error_description", [""])[0], 300))
    return Callback(True, code=params["code"][0])


def _shown(text: str, limit: int) -> str:
    """A provider's words for the terminal and the page: printable ASCII (RFC 6749's charset), one line, short."""
    return "".join(c for c in text if " " <= c <= "~")[:limit].strip()


def browser_login(section: str, client: OAuthClient, say: Callable[[str], None], pasted: Callable[[], str],
                  timeout: float = 900) -> dict[str, Any]:
    """A sign-in in a browser (RFC 8252 §7.3): the authorization code grant with PKCE, ending on a listener on
    127.0.0.1. On a server without a browser the person opens the address on their own machine, where the final
    redirect to 127.0.0.1 does not load: they paste that address back here (`pasted` reads it, one line at a time),
    as mutt's and getmail's OAuth helpers ask. Whichever arrives first with this sign-in's `state` is used; one
    without it — from another process, another sign-in, a page crafted to end it — is answered "not this sign-in"
    and ignored, and the sign-in goes on until its deadline. The browser is told "signed in" only once the code was
    exchanged for tokens."""
    import queue
    import secrets
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    # each arrival: its verdict, how to answer where it came from (the browser's page; a pasted line: none), and
    # whether the person pasted it (then they hear of each one ignored; of a poke at the listener, once)
    arrivals: queue.Queue[tuple[Callback, Callable[[int, str], None], bool]] = queue.Queue()
    state = secrets.token_urlsafe(32)
    over = "deadlinewatch: this sign-in is over; see the terminal.\n"
    answering: list[threading.Event] = []  # one per browser request: set once its page is written

    class Listener(BaseHTTPRequestHandler):
        timeout = 10  # seconds for a request line and headers: a connection that sends nothing holds no thread long

        def do_GET(self) -> None:
            verdict = judge_callback(self.path, state)
            if verdict is None:
                self.send_error(404)
                return
            written = threading.Event()
            answering.append(written)
            try:
                answer: queue.Queue[tuple[int, str]] = queue.Queue(maxsize=1)
                arrivals.put((verdict, lambda status, page: answer.put((status, page)), False))
                try:
                    status, page = answer.get(timeout=TIMEOUT * 2)  # the token request takes at most TIMEOUT
                except queue.Empty:
                    status, page = 200, over
                body = page.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()
            finally:
                written.set()

        def log_message(self, *args: Any) -> None:  # the code is in the request line: nothing to the terminal
            pass

    def read_pasted() -> None:
        while line := pasted():  # "" only at the end of the input
            verdict = judge_callback(line, state)
            if verdict is not None:
                arrivals.put((verdict, lambda status, page: None, True))
            elif line.strip():
                say("That is not the address the browser ended on (it has no code=…): copy the whole address from "
                    "the browser's address bar.")

    listener = ThreadingHTTPServer(("127.0.0.1", 0), Listener)
    listener.daemon_threads = True
    redirect = f"http://127.0.0.1:{listener.server_port}/"
    threading.Thread(target=listener.serve_forever, daemon=True).start()
    threading.Thread(target=read_pasted, daemon=True).start()
    session = _session(client)
    session.redirect_uri = redirect
    verifier = secrets.token_urlsafe(64)
    session.code_challenge_method = "S256"
    url, _ = session.create_authorization_url(client.authorization_url, state=state, code_verifier=verifier,
                                              access_type="offline", prompt="consent")
    say(f"To sign in the {section} account, open this address in a browser and allow access:\n\n  {url}\n\n"
        f"If the browser is on another machine, it ends on an address starting {redirect} that does not load: "
        "copy that whole address here and press Enter.")
    deadline = time.monotonic() + timeout
    too_late = LoginRefused(f"{section}: no sign-in within {timeout / 60:.0f} minutes; run "
                            f"`deadlinewatch login {section}` again")
    poked = False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:  # however many foreign callbacks keep the queue busy
                raise too_late
            try:
                callback, reply, was_pasted = arrivals.get(timeout=left)
            except queue.Empty:
                raise too_late from None
            if not callback.ours:
                reply(400, "deadlinewatch: not this sign-in. This address does not carry the state of the sign-in "
                           "deadlinewatch is waiting for, so it was ignored.\n")
                if was_pasted or not poked:
                    say(("That address is" if was_pasted else "Something on this machine sent the listener an "
                         "address that is") + " not from this sign-in (its state does not match): ignored, still "
                        "waiting for the address above to be allowed.")
                poked = poked or not was_pasted
                continue
            try:
                token = _exchange(section, client, session, callback, verifier, redirect)
            except DeadlinewatchError as e:
                reply(200, f"deadlinewatch: {e}\nYou may close this page.\n")
                raise
            reply(200, f"deadlinewatch: {section} signed in; you may close this page.\n")
            return token
    finally:
        while not arrivals.empty():  # a second redirect (a reload) waiting for its page
            arrivals.get_nowait()[1](200, over)
        for written in list(answering):  # the last page reaches the browser before the process can end
            written.wait(timeout=5)
        listener.shutdown()
        listener.server_close()


def _exchange(section: str, client: OAuthClient, session: OAuth2Session, callback: Callback, verifier: str,
              redirect: str) -> dict[str, Any]:
    """The code for tokens — or, for a refusal carrying this sign-in's state, the error that ends `login`."""
    import requests
    from authlib.integrations.base_client import OAuthError

    said = f"({callback.error})" + (f": {callback.description}" if callback.description else "")
    if callback.error in ("server_error", "temporarily_unavailable"):
        raise ServerError(f"{section} sign-in", f"{client.authorization_url} answered {said}; try again later")
    if callback.error:
        raise LoginRefused(f"{section}: the sign-in was not allowed {said}; to try again, run "
                           f"`deadlinewatch login {section}` and allow access")
    try:
        return dict(session.fetch_token(client.token_url, grant_type="authorization_code", code=callback.code,
                                        code_verifier=verifier, redirect_uri=redirect))
    except OAuthError as e:
        raise LoginRefused(f"{section}: the provider refused the sign-in ({e.error}: {e.description})") from None
    except requests.RequestException as e:
        raise ServerError(f"{section} sign-in", f"{client.token_url}: {e}") from None


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

    @property
    def problem(self) -> str | None:
        """Why the refresh token in use is held in memory only (where, and what mends it), for `status` and
        systemd's STATUS; None while it is saved."""
        return self.tokens.unsaved or None

    def __call__(self) -> Secret:
        import requests
        from authlib.integrations.base_client import OAuthError

        with self._lock:
            self._keep()
            if self._access is not None and self._expires_at - RENEW_BEFORE > self.clock():
                return self._access
            refresh = self.tokens.read()
            if not refresh:
                raise LoginRefused(f'{self.section}.auth = "oauth2": not signed in yet; run '
                                   f"`deadlinewatch login {self.section}`")
            try:
                token = _session(self.client).refresh_token(self.client.token_url, refresh_token=refresh)
            except OAuthError as e:
                said = f"{e.error}{': ' + e.description if e.description else ''}"
                raise LoginRefused(f"{self.section}: the provider refused to renew the sign-in ({said}); consent "
                                   f"may have been withdrawn or the password changed: run `deadlinewatch login "
                                   f"{self.section}`", provider=said) from None
            except requests.RequestException as e:
                raise ServerError(self.section, f"token endpoint {self.client.token_url}: {e}") from None
            if token.get("refresh_token") and token["refresh_token"] != refresh:
                self._keep(str(token["refresh_token"]))
            self._access = Secret(str(token["access_token"]))
            self._expires_at = self.clock() + float(token.get("expires_in", 3600))
            log.info("%s: access token renewed, valid %d s", self.section, int(float(token.get("expires_in", 3600))))
            return self._access

    def _keep(self, rotated: str | None = None) -> None:
        """Save a rotated refresh token, or retry saving one held in memory; a failure is said once per episode
        (at error level: the next restart would need a `login` by hand), and its end too."""
        before = self.tokens.unsaved
        try:
            if rotated is not None:
                self.tokens.write(rotated)
            else:
                self.tokens.save()
        except ConfigError:
            if self.tokens.unsaved != before:
                log.error("%s: %s", self.section, self.tokens.unsaved)
            return
        if before:
            log.info("%s: the refresh token held in memory is saved now in %s", self.section, self.tokens.path)
