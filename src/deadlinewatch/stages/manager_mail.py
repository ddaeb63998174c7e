"""Messages to the manager about a client message: its draft to approve, or what became of it (released
undecided, failed, decided, or why a notice went)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Protocol

from deadlinewatch.adapters.store import StorePort
from deadlinewatch.core.model import QueueMail
from deadlinewatch.core.words import _
from deadlinewatch.services import Composer, bare


class NoticeRef(Protocol):
    """What a note to the manager needs to know of the client message it is about (an OutboxItem has it)."""

    @property
    def id(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def project(self) -> str | None: ...
    @property
    def uid(self) -> str | None: ...
    @property
    def token(self) -> str: ...


def names_of(store: StorePort, project: str | None) -> dict[str, str]:
    """A project's milestone names by UID, as the manager's messages name them."""
    return {m.uid: m.name for m in store.milestones(project)} if project else {}


def compose_manager_message(c: Composer, notice: NoticeRef, names: Mapping[str, str], what: str, reason: str,
                            now: dt.datetime, detail: str = "", draft: bytes | None = None,
                            in_reply_to: str = "", state: str = "pending",
                            not_before: dt.datetime | None = None) -> QueueMail:
    """A note to the project's manager about a client message: its draft, or what became of it."""
    project = c.config.project(notice.project) if notice.project else None
    manager = project.manager if project else c.config.team.manager
    attached = message_from_bytes(draft, policy=default_policy) if draft is not None else None
    token, msg_id = c.message_id(f"manager-{what}", notice.id, notice.token, reason)
    msg = c.letters.manager(
        language=c.config.team.language, sender=c.sender, to=manager, composed_at=now, message_id=msg_id,
        what=what, notice_id=notice.id, token=notice.token, project_name=project.name if project else "",
        milestone=_subject_of(c, notice, names), client=project.client.email if project else "",
        reason=reason, detail=detail, draft=attached if isinstance(attached, EmailMessage) else None,
        in_reply_to=in_reply_to,
    )
    return c.outgoing(kind=f"manager-{what}", audience="team", token=token, msg_id=msg_id, message=msg.as_bytes(),
                      recipients=[bare(manager)], now=now, project=notice.project, state=state,
                      not_before=not_before)


SUBJECTS = {  # what a client message is about, as the manager's messages name it
    "intro": _("the introduction of the timeline"),
    "weekly": _("the weekly update"),
    "cancel": _("the cancellation of %(milestone)s"),
    "delivered": _("%(milestone)s delivered"),
}


def _subject_of(c: Composer, notice: NoticeRef, names: Mapping[str, str]) -> str:
    """What a client message is about, in the manager's words and language."""
    name = names.get(notice.uid or "", notice.uid or "")
    if notice.kind not in SUBJECTS:
        return name
    return c.letters.gettext(c.config.team.language, SUBJECTS[notice.kind], milestone=name)
