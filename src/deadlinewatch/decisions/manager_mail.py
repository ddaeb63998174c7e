"""Messages to the manager about a client message: its draft to approve, or what became of it (released
undecided, failed, decided, or why a notice went) — composed from plain data (a group's ManagerNote, once its
id exists).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Protocol

from deadlinewatch.core.model import ApprovedDate, QueueGroup, QueueMail
from deadlinewatch.core.words import _, phrase
from deadlinewatch.decisions.studio import Studio, bare


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


@dataclass(frozen=True)
class HeldRef:
    """A recorded client message, as the manager's messages name it."""

    id: int
    kind: str
    project: str | None
    uid: str | None
    token: str


def manager_messages(c: Studio, group: QueueGroup, primary: int, now: dt.datetime) -> list[QueueMail]:
    """The manager's messages about a client group recorded as `primary` (its ManagerNote): the draft to approve
    when held (by policy.approval, or for a reason of its own), the why of a notice that goes out on its own, the
    reminder of a follow-up the letter promises (scheduled for its day), their copies of client messages with live
    calendar parts (held, approved or rejected with them), and what the team is asked."""
    note, first = group.about, group.messages[0]
    if note is None:
        return []
    ref, names, team = HeldRef(primary, first.kind, first.project, first.uid, first.token), dict(note.names), \
        c.config.team.language
    out: list[QueueMail] = []
    if first.state == "held":
        # the updates the draft carries, named: a count alone ("1") tells the manager nothing to check
        others = [names.get(m.uid or "", m.uid or "") for m in group.messages[1:]]
        said = phrase(_("One calendar update goes out with it: the entry for %(names)s."), names=others[0]) \
            if len(others) == 1 else phrase(_("%(count)s calendar updates go out with it: the entries for "
                                              "%(names)s."), count=len(others), names=", ".join(others))
        extra = c.letters.say(team, [said]) if others else ""
        out.append(compose_manager_message(c, ref, names, "draft", note.reason, now, detail=extra, draft=first.message,
                                           held=note.held))
    elif first.kind == "notice":
        out.append(compose_manager_message(c, ref, names, "explained", note.reason, now, detail=note.trigger,
                                           approved=note.approved))
    if note.follow_up is not None:
        at = dt.datetime.combine(note.follow_up, dt.time(9), tzinfo=c.team_tz)
        out.append(compose_manager_message(c, ref, names, "follow-up", "", now, state=first.state, not_before=at))
    if note.call is not None:
        at = dt.datetime.combine(note.call, dt.time(9), tzinfo=c.team_tz)
        out.append(compose_manager_message(c, ref, names, "call", "" if note.prevent else "prevent", now,
                                           before=note.call_before,
                                           state=first.state, not_before=at))
    return out + [dataclasses.replace(q, state=first.state) for q in note.copies] + list(note.team)


def compose_manager_message(c: Studio, notice: NoticeRef, names: Mapping[str, str], what: str, reason: str,
                            now: dt.datetime, detail: str = "", draft: bytes | None = None,
                            in_reply_to: str = "", state: str = "pending",
                            not_before: dt.datetime | None = None, held: Sequence[str] = (),
                            before: dt.date | None = None, approved: ApprovedDate | None = None,
                            promised: dt.date | None = None) -> QueueMail:
    """A note to the project's manager about a client message: its draft, or what became of it."""
    project = c.config.project(notice.project) if notice.project else None
    manager = project.manager if project else c.config.team.manager
    attached = message_from_bytes(draft, policy=default_policy) if draft is not None else None
    said = "\n".join([reason, *(f"- {why}" for why in held)])  # as the ids were made when `held` was in `reason`
    # an answer to the manager's own mail is one per mail answered: two "approve" refused alike get two answers
    answering = [in_reply_to] if in_reply_to else []
    token, msg_id = c.message_id(f"manager-{what}", notice.id, notice.token, said, *answering)
    # a reminder scheduled for its day is dated that day: it says "today" of the day it arrives
    msg = c.letters.manager(
        language=c.config.team.language, sender=c.sender, to=manager, composed_at=not_before or now,
        message_id=msg_id,
        what=what, notice_id=notice.id, token=notice.token, project_name=project.name if project else "",
        milestone=_subject_of(c, notice, names), client=project.client.email if project else "",
        client_name=project.client.name if project else "", before=before,
        reason=reason, detail=detail, draft=attached if isinstance(attached, EmailMessage) else None,
        in_reply_to=in_reply_to, held=held, approved=approved,
        dated=notice.kind == "notice",  # only a notice takes the manager's date (decisions/approval.py)
        promised=promised,
    )
    return c.outgoing(kind=f"manager-{what}", audience="team", token=token, msg_id=msg_id, message=msg.as_bytes(),
                      recipients=[bare(manager)], now=now, project=notice.project, state=state,
                      not_before=not_before)


SUBJECTS = {  # what a client message is about, as the manager's messages name it
    "intro": _("the introduction of the timeline"),
    "weekly": _("the weekly update"),
    "cancel": _("the cancellation of %(milestone)s"),
    "reinstate": _("%(milestone)s back in the plan"),
    "delivered": _("%(milestone)s delivered"),
}


def _subject_of(c: Studio, notice: NoticeRef, names: Mapping[str, str]) -> str:
    """What a client message is about, in the manager's words and language."""
    name = names.get(notice.uid or "", notice.uid or "")
    if notice.kind not in SUBJECTS:
        return name
    return c.letters.gettext(c.config.team.language, SUBJECTS[notice.kind], milestone=name)
