"""Numbers that agree (#25, item 7), on real servers: in one `once` pass a note comes in and is answered, the
evaluation warns the manager and decides the client notice — and every message about a milestone states the
forecast `status` shows for it, the same P50, P80, P(miss) and pace; a week of silence later the nudge does too."""

from __future__ import annotations

import datetime as dt
import json
import re
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

import imapclient
import pytest

from tests.conftest import Studio, deadlinewatch
from tests.samples import DESIGN

pytestmark = pytest.mark.integration

LINKED = DESIGN.replace("SEQUENCE:2\n", "SEQUENCE:2\nRELATED-TO;RELTYPE=FINISHTOSTART:launch-1\n")


def deliver(studio: Studio, when: dt.datetime, key: str, body: str) -> None:
    """A note from Alice that arrived at `when` (its IMAP INTERNALDATE: a note's time is when it arrived)."""
    raw = (f"From: Alice <alice@studio.example>\nTo: progress@studio.example\nSubject: [acme-web] progress\n"
           f"Date: {format_datetime(when)}\nMessage-ID: <{key}@studio.example>\n"
           f"Content-Type: text/plain; charset=utf-8\n\n{body}\n").encode()
    with imapclient.IMAPClient("127.0.0.1", port=studio.dovecot.port, ssl=False) as c:
        c.login("progress", "progresspw")
        c.append("INBOX", raw, msg_time=when)


def once(studio: Studio, now: str) -> None:
    result = deadlinewatch("once", config=studio.config, now=now)
    assert result.returncode == 0, result.stderr


def forecasts(studio: Studio) -> dict[str, dict[str, Any]]:
    out = json.loads(deadlinewatch("status", "--json", config=studio.config).stdout)
    return {m["uid"]: m for m in out["milestones"]}


def text(msg: EmailMessage) -> str:
    body = msg.get_body(("plain",))
    return str(body.get_content()) if body is not None else ""


def figures(reason: str) -> tuple[str, str, int]:
    """P50, P80 and P(miss): `status`'s figures, or the team mail's words for them."""
    found = re.search(r"→ P50 (.+?), P80 (.+?), P\(miss\) (\d+)%", reason) or re.search(
        r"likely done by (.+?), and by (.+?) four times in five; the chance of missing .+? is (\d+)%", reason)
    assert found is not None, reason
    return found[1], found[2], int(found[3])


def medium_day(iso: str) -> str:
    """A date as the team's mail writes it in English, in the team's region (Istanbul: "25 Dec 2026")."""
    day = dt.date.fromisoformat(iso)
    return f"{day.day} {day:%b} {day.year}"


def in_mail(reason: str) -> str:
    """`status`'s reason as the team's mail says it: the same words, its ISO dates in the team's locale, and its
    figures ("→ P50 …, P80 …, P(miss) …") in the mail's words."""
    words, arrow, _ = reason.partition(" → P50 ")
    said = re.sub(r"\d{4}-\d{2}-\d{2}", lambda iso: medium_day(iso[0]), words)
    if not arrow:
        return said
    p50, p80, _p_miss = figures(reason)
    # up to the date the chance is of missing (the deadline, or the date the client holds: `status` names neither);
    # the figure itself is compared by `figures`
    return (f"{said} So it is likely done by {medium_day(p50)}, and by {medium_day(p80)} four times in five; the "
            f"chance of missing ")


def test_the_reply_the_alert_the_managers_mail_and_the_nudge_state_the_forecast_status_shows(studio: Studio) -> None:
    studio.caldav.put(studio.caldav.calendar_url("acme-web"), "design-1", LINKED)
    deliver(studio, dt.datetime(2026, 11, 20, 8, 30, tzinfo=dt.UTC), "n1",
            "Milestone: design mockups\nDone: 10%\n\nMilestone: Launch\nDone: 40%")
    once(studio, "2026-11-20T12:00")
    seen = len(studio.smtp.parsed())
    deliver(studio, dt.datetime(2026, 11, 30, 8, 30, tzinfo=dt.UTC), "n2",
            "Milestone: design mockups\nDone: 30%\nRemaining: 10 days\n\nMilestone: Launch\nDone: 80%")
    once(studio, "2026-11-30T12:00")
    new = studio.smtp.parsed()[seen:]
    [reply] = [text(m) for m in new if m["X-Deadlinewatch-Kind"] == "reply"]
    alerts = {str(m["Subject"]).rpartition(": ")[2]: text(m) for m in new
              if m["X-Deadlinewatch-Kind"] == "manager-alert"}
    manager = [text(m) for m in new if str(m["X-Deadlinewatch-Kind"]).startswith("manager-")
               and m["X-Deadlinewatch-Kind"] != "manager-alert"]
    shown = forecasts(studio)
    for uid, name in (("design-1", "Design mockups"), ("launch-1", "Launch")):
        f = shown[uid]
        assert f"Forecast: {in_mail(f['reason'])}" in reply  # the forecast the pass computed and stored, word for word
        told = alerts[name]
        # one date form a mail: the alert's dates as its reason gives them
        assert f"likely done by {medium_day(f['p50'])}, and by {medium_day(f['p80'])} four times in five" in told
        assert f"the chance of missing it is {round(f['p_miss'] * 100)}%" in told
    design = shown["design-1"]
    assert figures(reply) == (medium_day(design["p50"]), medium_day(design["p80"]), round(design["p_miss"] * 100))
    assert [t for t in manager if in_mail(design["reason"]) in t]  # the notice's "why", as the manager reads it
    assert "It waits for “Design mockups”" in shown["launch-1"]["reason"]
    # the pace the design's reason states, and the alert's: 10% → 30% in 6 working days, 70% left at that pace
    pace = re.search(r"a trend of ([\d.]+) points a working day: at that pace it needs another ([\d.]+) working days",
                     reply)
    assert pace is not None and f"Why: {in_mail(design['reason'].partition(' → P50')[0])}" in alerts["Design mockups"]
    assert abs(70 / float(pace[1]) - float(pace[2])) <= 0.1
    needs = re.search(r"recent pace it needs (\d+) more \(30% done\)", alerts["Design mockups"])
    assert needs is not None and int(needs[1]) == round(float(pace[2]))
    # the team's own date is past the deadline: due in this pass — sent, or drafted for the manager, as the reply says
    assert [m for m in new if m["X-Deadlinewatch-Kind"] == "notice" or m["X-Deadlinewatch-Kind"] == "manager-draft"]
    waits = any(m["X-Deadlinewatch-Kind"] == "manager-draft" for m in new)
    assert ("The client needs to hear now; the notice is waiting for the manager's approval." if waits
            else "The client notice is due now.") in reply

    seen = len(studio.smtp.parsed())
    once(studio, "2026-12-07T12:00")  # a week without a note
    nudges = [text(m) for m in studio.smtp.parsed()[seen:] if m["X-Deadlinewatch-Kind"] == "nudge"]
    shown = forecasts(studio)
    for uid, name in (("design-1", "Design mockups"), ("launch-1", "Launch")):
        [nudged] = [t for t in nudges if f"about {name} (" in t]
        said = in_mail(shown[uid]["reason"])  # after "Where it stands now:", its first letter lowered
        assert f"{said[0].lower()}{said[1:]}" in nudged
