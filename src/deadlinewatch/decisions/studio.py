"""The studio as a decision knows it (`Studio`): its configuration, its letters and the key of our ids — nothing
that reaches outside — with what every decision derives from them: the team's zone and working days, a
client's holidays, the policy's thresholds, our deterministic Message-IDs, and a message for the outbox.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import parseaddr
from functools import cached_property, lru_cache

from deadlinewatch.config import Config
from deadlinewatch.config.schema import Project
from deadlinewatch.core import policy
from deadlinewatch.core.letters import Letters
from deadlinewatch.core.model import QueueMail
from deadlinewatch.core.workdays import WorkCalendar


@lru_cache(maxsize=64)
def _client_days(holidays: str) -> WorkCalendar:
    return WorkCalendar(frozenset(range(7)), holidays)


@dataclass(frozen=True)
class Studio:
    """What deciding and composing a message needs, and nothing that reaches outside: the config, the letters,
    the key of our ids. A decision made with it alone is a pure function of plain data."""

    config: Config
    letters: Letters
    key: bytes  # the state's secret: our Message-IDs and tokens are HMACs with it

    @cached_property
    def team_tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.config.timezone)

    @cached_property
    def workdays(self) -> WorkCalendar:
        p = self.config.policy
        return WorkCalendar.from_policy(p.working_days, p.holidays, p.closed)

    def client_days(self, project: Project) -> WorkCalendar | None:
        """The client's calendar as far as a promise needs it: every day but their public holidays."""
        return _client_days(project.client.holidays) if project.client.holidays else None

    @cached_property
    def policy(self) -> policy.Policy:
        """The notice policy's thresholds: made once (the config does not change under a Studio), not per milestone."""
        return self.config.policy.thresholds()

    @property
    def sender(self) -> str:
        return str(self.config.smtp.from_)

    @cached_property
    def envelope_from(self) -> str:
        return bare(self.sender)

    @cached_property
    def _id_domain(self) -> str:  # parsing the sender's address took most of making a reply's Message-ID
        return self.envelope_from.rpartition("@")[2] or "deadlinewatch.invalid"

    def message_id(self, kind: str, *identity: object) -> tuple[str, str]:
        """A deterministic (token, Message-ID) for a message: composing the same decision twice gives the same
        id, so the outbox's uniqueness refuses a duplicate even across a crash. Keyed with the state's secret
        (HMAC): nobody outside can compute the id of a notice to forge its bounce, nor a token to forge a
        decision."""
        digest = hmac.new(self.key, "\0".join([kind, *map(str, identity)]).encode(), hashlib.sha256).hexdigest()
        return digest[:10], f"<dw.{kind}.{digest[:24]}@{self._id_domain}>"

    def outgoing(self, *, kind: str, audience: str, token: str, msg_id: str, message: bytes,
                 recipients: Sequence[str], now: dt.datetime, project: str | None = None, uid: str | None = None,
                 state: str = "pending", promised: dt.date | None = None,
                 not_before: dt.datetime | None = None, shadow: bool = False) -> QueueMail:
        """A message for the outbox. Every message is also Bcc'd to the inbox: the archive copy filed in
        sent_folder."""
        return QueueMail(kind=kind, audience=audience, project=project, uid=uid, token=token, message_id=msg_id,
                         mail_from=self.envelope_from, recipients=(*recipients, self.config.imap.address),
                         message=message, state=state, created=now, promised=promised, not_before=not_before,
                         shadow=shadow)


def bare(address: str) -> str:
    return parseaddr(address)[1]
