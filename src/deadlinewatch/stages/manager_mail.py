"""Messages to the manager about a client message: its draft to approve, or what became of it (released
undecided, failed, decided, or why a notice went)."""

from __future__ import annotations

import datetime as dt
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Protocol

from deadlinewatch.core.model import QueueMail
from deadlinewatch.services import Services, bare, message_id, outgoing


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


def manager_message(svc: Services, notice: NoticeRef, what: str, reason: str, now: dt.datetime,
                    detail: str = "", draft: bytes | None = None, in_reply_to: str = "") -> QueueMail:
    """A note to the project's manager about a client message: its draft, or what became of it."""
    project = svc.config.project(notice.project) if notice.project else None
    manager = project.manager if project else svc.config.team.manager
    names = {m.uid: m.name for m in svc.store.milestones(notice.project)} if notice.project else {}
    attached = message_from_bytes(draft, policy=default_policy) if draft is not None else None
    token, msg_id = message_id(svc, f"manager-{what}", notice.id, notice.token, reason)
    msg = svc.letters.manager(
        language=svc.config.team.language, sender=svc.sender, to=manager, composed_at=now, message_id=msg_id,
        what=what, notice_id=notice.id, token=notice.token, project_name=project.name if project else "",
        milestone=_subject_of(notice, names), client=project.client.email if project else "",
        reason=reason, detail=detail, draft=attached if isinstance(attached, EmailMessage) else None,
        in_reply_to=in_reply_to,
    )
    return outgoing(svc, kind=f"manager-{what}", audience="team", token=token, msg_id=msg_id,
                    message=msg.as_bytes(), recipients=[bare(manager)], now=now, project=notice.project)


def _subject_of(notice: NoticeRef, names: dict[str, str]) -> str:
    """What a client message is about, in the manager's words."""
    if notice.kind == "intro":
        return "introduction of the timeline"
    if notice.kind == "weekly":
        return "weekly check-in"
    name = names.get(notice.uid or "", notice.uid or "")
    return {"cancel": f"cancellation of {name}", "delivered": f"{name} delivered"}.get(notice.kind, name)
