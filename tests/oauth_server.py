"""A real OAuth 2.0 authorization server on 127.0.0.1 for the tests, built on Authlib's server components (the
grants, the endpoints and their checks are Authlib's; this file only keeps their records in memory):

- the device authorization grant (RFC 8628) at /device_authorization, with a page at /device where a person
  enters the user code and approves (the tests post that form as the person would);
- the token endpoint /token: the device code grant and the refresh token grant (a refresh token is rotated: the
  old one stops working, as Microsoft and Google may do);
- the authorization code grant with PKCE (RFC 7636) for a sign-in in a browser that ends on a loopback address
  (RFC 8252 §7.3, as Google asks of command-line tools: its device flow does not grant mail scopes); the person
  approves at /authorize?…&user=U&allow=yes, which redirects to the client's 127.0.0.1 listener;
- token introspection (RFC 7662) at /introspect, for the resource servers (Dovecot's oauth2 passdb, the SMTP
  sink), which authenticate with their own client id and secret.

`revoke(user)` withdraws a person's consent (every token of theirs stops working), `expires_in` sets how long an
access token lives.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc8628 import DeviceAuthorizationEndpoint, DeviceCodeGrant, DeviceCredentialDict
from flask import Flask, request
from werkzeug.serving import make_server


@dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str  # "" for a public client (a device, like deadlinewatch)
    scopes: tuple[str, ...]
    grant_types: tuple[str, ...]

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return ""

    def get_allowed_scope(self, scope: Collection[str] | str | None) -> str:
        asked = scope.split() if isinstance(scope, str) else scope or ()  # Authlib passes a string, or None
        return " ".join(s for s in asked if s in self.scopes)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri.startswith("http://127.0.0.1:")  # RFC 8252 §7.3: a loopback address, any port

    def check_client_secret(self, client_secret: str) -> bool:
        return bool(self.client_secret) and secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "none" if not self.client_secret else method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


@dataclass
class Token(TokenMixin):
    client_id: str
    user: str
    scope: str
    access_token: str
    refresh_token: str
    issued_at: float
    expires_in: int
    revoked: bool = False

    def is_expired(self) -> bool:
        return time.time() >= self.issued_at + self.expires_in

    # what the refresh token grant asks of a token (Authlib's TokenMixin)
    def get_scope(self) -> str:
        return self.scope

    def check_client(self, client: Client) -> bool:
        return self.client_id == client.get_client_id()

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_revoked(self) -> bool:
        return self.revoked

    def get_user(self) -> str:
        return self.user


@dataclass
class Code:
    code: str
    client_id: str
    user: str
    scope: str
    redirect_uri: str
    code_challenge: str
    code_challenge_method: str

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


@dataclass
class Records:
    clients: dict[str, Client] = field(default_factory=dict)
    devices: dict[str, DeviceCredentialDict] = field(default_factory=dict)  # by device code
    grants: dict[str, tuple[str, bool]] = field(default_factory=dict)  # user code → (user, approved)
    tokens: list[Token] = field(default_factory=list)
    codes: dict[str, Code] = field(default_factory=dict)
    slow: dict[str, float] = field(default_factory=dict)  # device code → last poll
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Served:
    """A WSGI application served on 127.0.0.1, in a thread of its own, on a port the system picks."""

    def _serve(self, app: Any, path: str = "") -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request in the tests' output
        self.http = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self.http.server_port
        self.url = f"http://127.0.0.1:{self.port}{path}"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)

    def start(self) -> Any:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.http.shutdown()


class OAuthServer(_Served):
    """The authorization server, in a thread of its own, on a port the system picks."""

    DEVICE_CLIENT = "deadlinewatch-test"
    RESOURCE_CLIENT, RESOURCE_SECRET = "resource-server", "resource-secret"

    def __init__(self, scopes: tuple[str, ...] = ("imap", "smtp", "caldav"), expires_in: int = 3600,
                 interval: int = 1) -> None:
        self.records = Records()
        self.expires_in = expires_in
        self.records.clients[self.DEVICE_CLIENT] = Client(
            self.DEVICE_CLIENT, "", scopes, (DeviceCodeGrant.GRANT_TYPE, "authorization_code", "refresh_token"))
        self.records.clients[self.RESOURCE_CLIENT] = Client(self.RESOURCE_CLIENT, self.RESOURCE_SECRET, (), ())
        self.app = self._app(interval)
        self._serve(self.app)

    # --- what a person and an administrator do -------------------------------------------------------------

    def approve(self, user_code: str, user: str, allow: bool = True) -> None:
        """As the person would: open the verification page, enter the code, approve (or deny)."""
        import urllib.parse
        import urllib.request

        data = urllib.parse.urlencode({"user_code": user_code, "user": user, "allow": "yes" if allow else "no"})
        with urllib.request.urlopen(f"{self.url}/device", data.encode(), timeout=10) as answer:
            assert answer.status == 200, answer.status

    def revoke(self, user: str) -> None:
        """The person withdraws consent (or changes the password): every token of theirs stops working."""
        with self.records.lock:
            for t in self.records.tokens:
                if t.user == user:
                    t.revoked = True

    def issued(self, user: str) -> list[Token]:
        return [t for t in self.records.tokens if t.user == user]

    def holder(self, access_token: str, scope: str = "") -> str:
        """Whom an access token stands for while it is active (not revoked, not expired, and carrying `scope`
        when one is asked for); "" otherwise. What introspection answers, for the gate in front of Radicale."""
        found = next((t for t in self.records.tokens if t.access_token == access_token), None)
        if found is None or found.revoked or found.is_expired() or (scope and scope not in found.scope.split()):
            return ""
        return found.user

    # --- the Flask application -----------------------------------------------------------------------------

    def _app(self, interval: int) -> Flask:
        app = Flask("oauth-test-server")
        app.config["OAUTH2_SCOPES_SUPPORTED"] = [s for c in self.records.clients.values() for s in c.scopes]
        records, outer = self.records, self

        def save_token(token: dict[str, Any], req: Any) -> None:
            with records.lock:
                records.tokens.append(Token(req.client.get_client_id(), req.user, token.get("scope", ""),
                                            token["access_token"], token.get("refresh_token", ""), time.time(),
                                            int(token["expires_in"])))

        server = AuthorizationServer(app, query_client=records.clients.get, save_token=save_token)
        server.register_token_generator("default", _generator(lambda: outer.expires_in))

        class Devices(DeviceAuthorizationEndpoint):
            INTERVAL = interval

            def get_verification_uri(self) -> str:
                return f"{outer.url}/device"

            def save_device_credential(self, client_id: str, scope: str, data: dict[str, Any]) -> None:
                with records.lock:
                    records.devices[data["device_code"]] = DeviceCredentialDict(
                        client_id=client_id, scope=scope, expires_at=time.time() + data["expires_in"], **data)

        class DeviceGrant(DeviceCodeGrant):
            def query_device_credential(self, device_code: str) -> DeviceCredentialDict | None:
                return records.devices.get(device_code)

            def query_user_grant(self, user_code: str) -> tuple[str, bool] | None:
                return records.grants.get(user_code)

            def should_slow_down(self, credential: DeviceCredentialDict) -> bool:
                now, code = time.time(), credential["device_code"]
                assert isinstance(code, str)  # the device code this server made (a dict of objects to the stub)
                last = records.slow.get(code)
                records.slow[code] = now
                return last is not None and now - last < interval * 0.5

        class Refresh(grants.RefreshTokenGrant):
            INCLUDE_NEW_REFRESH_TOKEN = True  # rotated: the old refresh token stops working
            TOKEN_ENDPOINT_AUTH_METHODS = ("none", "client_secret_basic", "client_secret_post")  # public clients

            # Authlib reads None as "no such refresh token" and answers invalid_grant; its stub leaves None out
            def authenticate_refresh_token(  # type: ignore[override]  # None: see the line above
                    self, refresh_token: str) -> Token | None:
                for t in records.tokens:
                    if t.refresh_token == refresh_token and not t.revoked:
                        return t
                return None

            def authenticate_user(self, credential: Token) -> str:
                return credential.user

            def revoke_old_credential(self, credential: TokenMixin) -> None:
                assert isinstance(credential, Token)  # the one authenticate_refresh_token found
                credential.revoked = True

        class Introspection(IntrospectionEndpoint):
            def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
                return next((t for t in records.tokens if t.access_token == token_string), None)

            def introspect_token(self, token: Token) -> dict[str, Any]:
                if not outer.holder(token.access_token):
                    return {"active": False}
                return {"active": True, "client_id": token.client_id, "token_type": "Bearer",
                        "username": token.user, "sub": token.user, "scope": token.scope,
                        "iat": int(token.issued_at), "exp": int(token.issued_at + token.expires_in)}

            def check_permission(self, token: Token, client: Client, req: Any) -> bool:
                return client.get_client_id() == outer.RESOURCE_CLIENT

        class Code_(grants.AuthorizationCodeGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ("none", "client_secret_basic", "client_secret_post")  # public clients

            def save_authorization_code(self, code: str, req: Any) -> None:
                records.codes[code] = Code(code, req.client.get_client_id(), req.user, req.payload.scope,
                                           req.payload.redirect_uri, req.payload.data.get("code_challenge", ""),
                                           req.payload.data.get("code_challenge_method", ""))

            def query_authorization_code(self, code: str, client: ClientMixin) -> Code | None:
                found = records.codes.get(code)
                return found if found is not None and found.client_id == client.get_client_id() else None

            def delete_authorization_code(self, authorization_code: Code) -> None:
                records.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code: Code) -> str:
                return authorization_code.user

        # Authlib registers any class with an ENDPOINT_NAME; its stub asks for rfc6749's Endpoint, not a base of this
        server.register_endpoint(Devices)  # type: ignore[arg-type]  # see the line above
        server.register_grant(Code_, [CodeChallenge(required=True)])
        server.register_grant(DeviceGrant)
        server.register_grant(Refresh)
        server.register_endpoint(Introspection)

        @app.post("/device_authorization")
        def device_authorization() -> Any:
            return server.create_endpoint_response("device_authorization")  # type: ignore[no-untyped-call]  # types-Authlib: untyped

        @app.post("/token")
        def token() -> Any:
            return server.create_token_response()

        @app.post("/introspect")
        def introspect() -> Any:
            return server.create_endpoint_response("introspection")  # type: ignore[no-untyped-call]  # types-Authlib: untyped

        @app.get("/authorize")
        def authorize() -> Any:
            """The consent page, answered as the person would: `user` signs in, `allow` says yes or no."""
            user = request.args.get("user", "")
            return server.create_authorization_response(grant_user=user if request.args.get("allow") == "yes"
                                                        else None)

        @app.route("/device", methods=["GET", "POST"])
        def device() -> Any:
            if request.method == "GET":
                return ('<form method="post"><input name="user_code"><input name="user">'
                        '<button name="allow" value="yes">Allow</button></form>')
            code = request.form.get("user_code", "").strip().upper()
            if not any(d["user_code"] == code for d in records.devices.values()):
                return "no such code", 400
            records.grants[code] = (request.form["user"], request.form.get("allow") == "yes")
            return "done"

        return app


def _generator(lifetime: Any) -> Any:
    """Bearer tokens with the lifetime the test set (read at issue time: a test may shorten it)."""
    from authlib.oauth2.rfc6750 import BearerTokenGenerator

    def token(**_: Any) -> str:
        return secrets.token_urlsafe(32)

    generator = BearerTokenGenerator(token, token, lambda client, grant_type: lifetime())
    return generator


class GatedRadicale(_Served):
    """Radicale (its WSGI application, in this process) behind a gate that takes OAuth bearer tokens, as a studio
    would put a reverse proxy in front of it: each request's token is checked by introspection at the
    authorization server (active, carrying `scope`), and Radicale trusts the user the server names (its auth type
    `http_x_remote_user`, documented for proxies). A request without a good token gets 401, as Google's CalDAV
    answers it."""

    def __init__(self, directory: Any, oauth: OAuthServer, scope: str = "caldav") -> None:
        import radicale.config
        from radicale.app import Application

        directory.mkdir(parents=True, exist_ok=True)
        conf = directory / "radicale.conf"
        conf.write_text("[auth]\ntype = http_x_remote_user\n[rights]\ntype = owner_only\n"
                        f"[storage]\nfilesystem_folder = {directory}/collections\n[web]\ntype = none\n"
                        "[logging]\nlevel = warning\n")
        self.app = Application(radicale.config.load([(str(conf), False)]))
        self.oauth = oauth
        self.scope = scope
        self._serve(self._gate, "/")

    def _gate(self, environ: dict[str, Any], start_response: Any) -> Any:
        header = environ.get("HTTP_AUTHORIZATION", "")
        user = self.oauth.holder(header[7:], self.scope) if header.startswith("Bearer ") else ""
        environ.pop("HTTP_X_REMOTE_USER", None)  # never from the client
        if not user:
            start_response("401 Unauthorized", [("WWW-Authenticate", 'Bearer realm="caldav"'),
                                                ("Content-Length", "0")])
            return [b""]
        environ["HTTP_X_REMOTE_USER"] = user
        return self.app(environ, start_response)

    def issue(self, user: str) -> str:
        """A token for setting up the user's calendars, as the studio's own admin tools would hold one."""
        token = Token(OAuthServer.DEVICE_CLIENT, user, self.scope, secrets.token_urlsafe(32), "", time.time(), 3600)
        with self.oauth.records.lock:
            self.oauth.records.tokens.append(token)
        return token.access_token
