"""SMTP, through aiosmtplib. A send is never blindly repeated: the outbox records the attempt first."""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import aiosmtplib

from deadlinewatch.credentials import ServerAccount
from deadlinewatch.errors import LoginRefused, ServerError


class Mailer(Protocol):
    async def send(self, mail_from: str, recipients: Sequence[str], message: bytes, *,
                   before_data: Callable[[], None] = lambda: None) -> dict[str, str]:
        """Send; returns the recipients the server refused (address → reason) when others were accepted. The
        first recipient is the one the message is for: refused (for now or for good), nothing goes to the others
        either — the message is tried again or fails whole, and no copy (the manager's, the archive's) went without
        it. `before_data` runs once the envelope is accepted, right before the message goes: what it raises ends
        the session with nothing sent (the outbox checks there that its lease still holds)."""
        ...

    async def check(self) -> str: ...


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str
    account: ServerAccount
    timeout: int = 60


class _Client(aiosmtplib.SMTP):
    """aiosmtplib's client, which calls `before_data` before its DATA — and sends no DATA at all when the
    recipient the message is for (`first`) was refused: sendmail's envelope, size and reset handling kept as they
    are. (A client greylisted while the archive's Bcc went through left a copy in the mailbox that a later,
    interrupted try took for proof of delivery.)"""

    before_data: Callable[[], None] = staticmethod(lambda: None)
    first: str = ""
    first_refused: aiosmtplib.SMTPRecipientRefused | None = None

    async def rcpt(self, recipient: str, *args: Any, **kwargs: Any) -> aiosmtplib.SMTPResponse:
        try:
            return await super().rcpt(recipient, *args, **kwargs)
        except aiosmtplib.SMTPRecipientRefused as e:
            if recipient == self.first:
                self.first_refused = e
            raise

    async def data(self, message: str | bytes, **kwargs: Any) -> aiosmtplib.SMTPResponse:
        if self.first_refused is not None:  # sendmail resets the envelope: nothing goes to the others
            raise aiosmtplib.SMTPRecipientsRefused([self.first_refused])
        self.before_data()
        return await super().data(message, **kwargs)


class SmtpMailer:
    def __init__(self, settings: SmtpSettings) -> None:
        self.s = settings

    def _client(self) -> _Client:
        s = self.s
        return _Client(
            hostname=s.host, port=s.port, timeout=s.timeout,
            use_tls=s.security == "tls", start_tls=s.security == "starttls" if s.security != "none" else False,
            tls_context=ssl.create_default_context() if s.security != "none" else None,
        )

    async def _session(self) -> _Client:
        client = self._client()
        account = self.s.account
        try:
            await client.connect()
            if account.token is not None:
                await self._bearer_login(client, account.username, (await asyncio.to_thread(account.token)).reveal())
            elif account.username:
                await client.login(account.username, account.password.reveal() if account.password else "")
        except aiosmtplib.SMTPAuthenticationError:
            client.close()
            what = "the OAuth access token" if account.token is not None else "the login"
            raise LoginRefused(f'smtp.username / {"auth" if account.token else "password"}: {self.s.host} refused '
                               f'{what} for "{account.username}"') from None
        except (LoginRefused, ServerError):
            client.close()
            raise
        except (aiosmtplib.SMTPException, OSError, ssl.SSLError) as e:
            client.close()
            raise ServerError("smtp", f"{self.s.host}:{self.s.port}: {e}") from None
        return client

    @staticmethod
    async def _bearer_login(client: aiosmtplib.SMTP, user: str, token: str) -> None:
        """SASL XOAUTH2 (Gmail, Microsoft 365; aiosmtplib's own), or OAUTHBEARER (RFC 7628) where only that is
        offered. A refused token is answered with a 334 error challenge, an empty line, then 535."""
        if client.is_ehlo_or_helo_needed:
            await client.ehlo()
        mechanisms = {m.upper() for m in client.server_auth_methods}
        if "XOAUTH2" in mechanisms or "OAUTHBEARER" not in mechanisms:
            await client.auth_xoauth2(user, token)
            return
        text = f"n,a={user},\x01auth=Bearer {token}\x01\x01"
        answer = await client.execute_command(b"AUTH", b"OAUTHBEARER", base64.b64encode(text.encode()))
        if answer.code == 334:
            answer = await client.execute_command(b"")
        if answer.code != 235:
            raise aiosmtplib.SMTPAuthenticationError(answer.code, answer.message)

    async def send(self, mail_from: str, recipients: Sequence[str], message: bytes, *,
                   before_data: Callable[[], None] = lambda: None) -> dict[str, str]:
        client = await self._session()
        client.before_data = before_data
        client.first = recipients[0] if recipients else ""
        try:
            # aiosmtplib reports recipients refused beside accepted ones in its result; it does not raise
            errors, _ = await client.sendmail(mail_from, list(recipients), message)
            return {addr: f"{err.code} {err.message}" if hasattr(err, "code") else str(err)
                    for addr, err in errors.items()}
        except aiosmtplib.SMTPRecipientsRefused as e:
            return {r.recipient: f"{r.code} {r.message}" for r in e.recipients}
        except aiosmtplib.SMTPResponseException as e:
            if 500 <= e.code < 600:
                return {addr: f"{e.code} {e.message}" for addr in recipients}
            raise ServerError("smtp", f"{self.s.host}: temporary failure {e.code} {e.message}") from None
        except (aiosmtplib.SMTPException, OSError) as e:
            # lost mid-exchange: the server may have taken the message before the connection broke
            raise ServerError("smtp", f"{self.s.host}:{self.s.port}: {e}", maybe_done=True) from None
        finally:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()

    async def check(self) -> str:
        client = await self._session()
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError):
            client.close()
        account = self.s.account
        how = f" and logged in as {account.username}" + (" (OAuth)" if account.token else "")
        return f"connected to {self.s.host}:{self.s.port}" + (how if account.username else "")
