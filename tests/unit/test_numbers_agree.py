"""Numbers that agree (#25, item 7): one milestone at one moment is told with one forecast. The reply to a note,
the manager's mail about the notice, the risk alert and the nudge state the same P50, P80, P(miss) and pace —
the forecast the pass's evaluation makes — and each message's arithmetic checks out: the percent left divided by
the pace stated is the days left stated. The reply says the client will be told only when the policy makes the
notice due."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import zoneinfo
from email import message_from_bytes
from email.policy import default as email_policy
from pathlib import Path
from typing import Any

import pytest

from deadlinewatch import config as config_mod
from deadlinewatch.adapters.clock import FixedClock
from deadlinewatch.adapters.store import StorePort
from deadlinewatch.adapters.templates import letters
from deadlinewatch.core import alert, intake
from deadlinewatch.core.forecast import DEFAULT_SPREAD, Spread, forecast, last_work_day, percent_pace
from deadlinewatch.core.letters import AlertLetter
from deadlinewatch.core.locales import format_day
from deadlinewatch.core.milestones import milestones_from_ics
from deadlinewatch.core.model import ClientDate, Forecast, Milestone, RecordMessage, Report
from deadlinewatch.core.policy import LITTLE_HISTORY
from deadlinewatch.core.workdays import WorkCalendar
from deadlinewatch.decisions.evaluation import Snapshot, decide_project
from deadlinewatch.decisions.forecaster import Forecaster
from deadlinewatch.decisions.inbox import Lookup, after, as_evaluated, carried, decide_message, rules_of
from deadlinewatch.decisions.project_view import ProjectView
from deadlinewatch.decisions.studio import Studio
from deadlinewatch.demo.servers import write_local_config
from deadlinewatch.services import PassReport, Services
from deadlinewatch.stages.evaluation import evaluate
from deadlinewatch.stages.inbox import Reading, _decide_one, _parse_for, snapshot
from deadlinewatch.stages.state import forecaster
from tests.memory_store import MemoryStore
from tests.samples import DESIGN, LAUNCH

TZ = zoneinfo.ZoneInfo("Europe/Istanbul")
CAL = WorkCalendar()
NOW = dt.datetime(2026, 11, 30, 9, tzinfo=dt.UTC)  # a Monday
M = Milestone("acme-web", "design-1", "Design mockups", dt.datetime(2026, 12, 19, tzinfo=TZ))
FOLDERS = {"sent": "deadlinewatch/sent", "processed": "deadlinewatch/processed", "rejected": "deadlinewatch/rejected"}
# the design is finished before the launch can be (RFC 9253): the launch's forecast waits for the design's
LINKED = DESIGN.replace("SEQUENCE:2\n", "SEQUENCE:2\nRELATED-TO;RELTYPE=FINISHTOSTART:launch-1\n")

# "The notes went from 20% to 40% in 8 working days, a trend of 2.5 points a working day: at that pace it needs
# another 24 working days."
PACE = re.compile(r"from (?P<before>\d+)% to (?P<after>\d+)% in (?P<span>[\d.]+) working days?"
                  r"(?: \((?P<notes>\d+) notes\))?, "
                  r"(?:a trend of|which is no clear progress: even at) "
                  r"(?:(?P<points>[\d.]+) points a working day|a point every (?P<every>[\d.]+) working days?)"
                  r"(?:: at that pace|, the best they allow,) it needs another (?P<left>[\d.]+) working days?")


def note(days_ago: int, done: int | None = None, **kw: Any) -> Report:
    return Report("p", "m", NOW - dt.timedelta(days=days_ago), done, **kw)


@dataclasses.dataclass(frozen=True)
class Pace:
    done: int
    per_day: float
    left: float


def stated_pace(text: str) -> Pace:
    """The pace a message states, checked as its reader would check it: (100 - done) / pace = days left, within the
    rounding of the figures shown (a tenth of a day; a tenth of a point, or of a day per point)."""
    found = PACE.search(text)
    assert found is not None, text
    done, left = int(found["after"]), float(found["left"])
    if found["points"]:
        per_day = float(found["points"])
        slack = (100 - done) * (1 / (per_day - 0.05) - 1 / (per_day + 0.05)) / 2
    else:
        every = float(found["every"])
        per_day, slack = 1 / every, (100 - done) * 0.05
    # half a working day is the least a forecast counts
    assert abs(max((100 - done) / per_day, 0.5) - left) <= slack + 0.05 + 1e-9, text
    return Pace(done, per_day, left)


# --- the pace a forecast states -----------------------------------------------------------------------------------


def test_the_issues_example_now_says_the_days_its_pace_gives() -> None:
    """20% → 40% in 8 working days is 2.5 points a working day: the 60% left takes 24 working days, not 12."""
    two = [note(12, 20), note(0, 40)]  # Wed 18 Nov → Mon 30 Nov: 8 working days (and no holidays here)
    f = forecast(M, two, NOW, CAL, TZ)
    assert ("The notes went from 20% to 40% in 8 working days, a trend of 2.5 points a working day: at that pace it "
            "needs another 24 working days.") in f.reason
    assert stated_pace(f.reason) == Pace(40, 2.5, 24)


@pytest.mark.parametrize("notes", [
    [note(10, 20), note(0, 40)],  # two notes: their simple pace
    [note(14, 20), note(7, 35), note(4, 38), note(0, 40)],  # four: the trend, not the two ends
    [note(21, 10), note(14, 14), note(7, 19), note(0, 22)],  # under a point a day: the days a point takes
    [note(7, 30), note(6, 10), note(5, 35), note(4, 15), note(0, 20)],  # scattered: no clear progress
    [note(8, 50), note(0, 50)],  # a stall
    [note(3, 60), note(0, 97)],  # nearly done, fast
], ids=["two", "trend", "slow", "scattered", "stall", "fast"])
def test_every_pace_a_forecast_states_gives_the_days_left_it_states(notes: list[Report]) -> None:
    f = forecast(M, notes, NOW, CAL, TZ)
    pace = stated_pace(f.reason)
    counted = percent_pace(notes, CAL, TZ)
    assert counted is not None
    assert pace.per_day == pytest.approx(counted.per_day, abs=0.05) and pace.left == round(counted.days_left, 1)
    assert counted.days_left == pytest.approx(max((100 - counted.done) / counted.per_day, 0.5))


def test_the_pace_is_said_in_the_teams_language_with_the_same_figures() -> None:
    f = forecast(M, [note(12, 20), note(0, 40)], NOW, CAL, TZ)
    assert letters().say("tr", f.words).startswith("Notlara göre iş 8 iş günü içinde %20 seviyesinden %40 seviyesine")
    for language, figures in (("tr", ("2,5", "24")), ("bn", ("২.৫", "২৪"))):
        said = letters().say(language, f.words)
        assert all(x in said for x in figures) and "working day" not in said, said


# --- the risk alert's pace ----------------------------------------------------------------------------------------


def test_the_alert_states_the_pace_its_reason_states() -> None:
    """The alert's "needs N more working days" is the days left of the pace its reason gives, and the factor it
    asks for is those days over the days that remain."""
    notes = [note(14, 20), note(7, 35), note(4, 38), note(0, 40)]
    f = forecast(M, notes, NOW, CAL, TZ)
    today, target = NOW.astimezone(TZ).date(), last_work_day(M.deadline, TZ)
    pace = alert.pace(notes, today, target, CAL, TZ)
    said = stated_pace(f.reason)
    assert pace.done == 40
    assert pace.per_day == pytest.approx(said.per_day, abs=0.05)
    assert pace.needed_days == pytest.approx(said.left, abs=0.05)
    assert f.p_miss is not None
    text = letters().alert(AlertLetter(
        what="raise", project="ACME", milestone=M.name, target=target, p_miss=f.p_miss, was=None, p50=f.p50,
        p80=f.p80, reason=letters().say("en", f.words), pace=pace, notice="later", held=False,
        warn_probability=0.98), language="en", sender="pm@studio.example", to="pm@studio.example", composed_at=NOW,
        message_id="<a@studio.example>").get_content()
    found = re.search(r"Only (\d+) working days remain, and at the notes' recent pace it needs (\d+) more \((\d+)% "
                      r"done\)", text)
    assert found is not None, text
    remain, needs, done = map(int, found.groups())
    assert done == said.done and abs(needs - (100 - done) / said.per_day) <= 0.5 + 0.05 * needs
    factor = re.search(r"must go ([\d.]+) times as fast", text)
    assert factor is not None and float(factor[1]) == pytest.approx(needs / remain, abs=0.06), text


@pytest.mark.parametrize(("language", "said"), [("en", "must go 1.3 times as fast"),
                                              ("tr", "işin 1,3 kat"), ("bn", "১.৩")])
def test_the_alerts_factor_is_the_ratio_of_the_days_it_states(language: str, said: str) -> None:
    """"14 working days remain … it needs 18 more" asks for 18/14 = 1.29, said 1.3 — never 1.2 from the unrounded
    17.5 days or a half-even rounding (fourth native reading, defect 15)."""
    pace = alert.Pace(30, 4.0, 17.5, 14)
    text = letters().alert(AlertLetter(
        what="raise", project="ACME", milestone=M.name, target=dt.date(2026, 12, 18), p_miss=0.9, was=None,
        p50=None, p80=None, reason="", pace=pace, notice="later", held=False, warn_probability=0.98),
        language=language, sender="pm@studio.example", to="pm@studio.example", composed_at=NOW,
        message_id="<a@studio.example>").get_content()
    assert said in text and "1.2" not in text and "1,2" not in text and "১.২" not in text


def test_the_alert_finds_no_pace_where_the_forecast_finds_no_clear_progress() -> None:
    scattered = [note(7, 30), note(6, 10), note(5, 35), note(4, 15), note(0, 20)]
    pace = alert.pace(scattered, NOW.date(), dt.date(2026, 12, 18), CAL, TZ)
    assert "no clear progress" in forecast(M, scattered, NOW, CAL, TZ).reason
    assert pace.per_day == 0 and pace.needed_days is None and pace.done == 20


# --- the reply: the evaluation's forecast, and the notice only when the policy makes it due ---------------------


def _config(tmp_path: Path, approval: str = "auto", policy: str = "") -> config_mod.Config:
    return config_mod.load(write_local_config(tmp_path / "dw.toml", caldav_url="http://127.0.0.1:9/", imap_port=9,
                                              smtp_port=9, approval=approval, policy=policy))


def _milestones(c: Studio, design: str = LINKED) -> dict[str, list[Milestone]]:
    return {href: milestones_from_ics(ics, "acme-web", (), "Europe/London", c.config.timezone, href, NOW).milestones
            for href, ics in (("/design-1.ics", design), ("/launch-1.ics", LAUNCH))}


def _note(blocks: str, at: dt.datetime = NOW, key: str = "note-1") -> intake.Incoming:
    raw = (f"From: Alice <alice@studio.example>\nTo: progress@studio.example\nSubject: [acme-web] progress\n"
           f"Date: {at.strftime('%a, %d %b %Y %H:%M:%S +0000')}\nMessage-ID: <{key}@studio.example>\n\n{blocks}\n")
    return intake.read_message(raw.encode(), at)


def _text(raw: bytes) -> str:
    body = message_from_bytes(raw, policy=email_policy).get_body(("plain",))
    return str(body.get_content()) if body is not None else ""


def _reply(c: Studio, pv: ProjectView, blocks: str, spread: Any = DEFAULT_SPREAD) -> str:
    """The reply to a note, decided as the inbox decides it (a pure function of the message and the project)."""
    from deadlinewatch.core.notes import MilestoneRef, parse_note

    incoming = _note(blocks)
    refs = [MilestoneRef(m.project, m.uid, m.name) for m in pv.milestones]
    parsed = parse_note(incoming.subject, incoming.text, refs, ["acme-web"], NOW.date(), 5)
    lookup = Lookup(note=parsed, milestones={"acme-web": pv.milestones}, view=pv, closed=LITTLE_HISTORY)
    decided = decide_message(c, Forecaster(c.workdays, c.team_tz, spread), rules_of(c.config), FOLDERS, incoming,
                             lookup, NOW)
    [record] = [a for a in decided.actions if type(a).__name__ == "RecordMessage"]
    assert isinstance(record, RecordMessage)  # the one the filter found
    [reply] = record.outgoing
    return _text(reply.message)


@pytest.mark.parametrize(("done", "eta", "due"), [
    (50, None, False),  # a likely miss (85%), short of warn_probability (98%)
    (50, dt.date(2026, 12, 21), True),  # the team's own date past the deadline: due whatever the chance
    (25, None, True),  # five points in a week: the chance reaches warn_probability
], ids=["slow", "admitted", "certain"])
def test_the_reply_says_the_client_will_be_told_only_when_the_notice_is_due(
        tmp_path: Path, done: int, eta: dt.date | None, due: bool) -> None:
    c = Studio(_config(tmp_path), letters(), b"k" * 32)
    ms = sorted((m for ms in _milestones(c, DESIGN).values() for m in ms), key=lambda m: m.deadline)
    earlier = Report("acme-web", "design-1", NOW - dt.timedelta(days=7), 20)
    pv = ProjectView(c.config.projects[0], ms, {"design-1": [earlier]}, {})
    text = _reply(c, pv, f"Milestone: Design mockups\nDone: {done}%" + (f"\nETA: {eta.isoformat()}" if eta else ""))
    now = ProjectView(pv.project, ms, {"design-1": [earlier, Report("acme-web", "design-1", NOW, done, eta=eta)]}, {})
    decided = decide_project(c, Snapshot(now, NOW, None), Forecaster(c.workdays, c.team_tz, DEFAULT_SPREAD), NOW)
    [f] = [f for f in decided.forecasts if f.uid == "design-1"]
    assert f.p_miss is not None and f.p_miss >= 0.5 and (due or f.p_miss < c.policy.warn_probability)
    assert f"Forecast: {in_mail(f)}" in text  # the evaluation's forecast, word for word
    assert ("The client notice is due now." in text) is due
    assert ("Please send the cause, the plan" in text) is due
    assert [p.what for p in decided.plans if p.what.startswith("notice")] == (
        ['notice for "Design mockups", 4.6 days before its deadline, promising ' +
         str(next(d.promised for p in decided.plans for d in p.dates if d.promised))] if due else [])
    assert "will go out" not in text and "the client will be told" not in text


def test_the_reply_says_a_notice_due_waits_for_the_managers_approval_when_it_does(tmp_path: Path) -> None:
    """Under approval = "manager" the notice due is drafted for the manager, not sent: the reply says so, as the
    manager's draft of the same pass does, never "The client notice is due now." (third native reading, 10)."""
    c = Studio(_config(tmp_path, "manager"), letters(), b"k" * 32)
    ms = sorted((m for ms in _milestones(c, DESIGN).values() for m in ms), key=lambda m: m.deadline)
    earlier = Report("acme-web", "design-1", NOW - dt.timedelta(days=7), 20)
    pv = ProjectView(c.config.projects[0], ms, {"design-1": [earlier]}, {})
    text = _reply(c, pv, "Milestone: Design mockups\nDone: 50%\nETA: 2026-12-21")
    assert "The client needs to hear now; the notice is waiting for the manager's approval." in text
    assert "The client notice is due now." not in text


def test_the_reply_does_not_announce_a_notice_the_client_already_has(tmp_path: Path) -> None:
    """Told of a new date already, with the forecast still on it: no new notice is due, and the reply says none."""
    c = Studio(_config(tmp_path), letters(), b"k" * 32)
    ms = sorted((m for ms in _milestones(c, DESIGN).values() for m in ms), key=lambda m: m.deadline)
    earlier = Report("acme-web", "design-1", NOW - dt.timedelta(days=7), 20)
    told = ClientDate(3, dt.date(2027, 3, 1), dt.date(2027, 3, 1), False)
    pv = ProjectView(c.config.projects[0], ms, {"design-1": [earlier]}, {"design-1": told})
    assert "The client notice is due now." not in _reply(c, pv, "Milestone: Design mockups\nDone: 20%")


def test_the_reply_forecasts_a_dependant_as_the_evaluation_does(tmp_path: Path) -> None:
    """The launch waits for the design: the reply gives the launch the forecast the evaluation gives it — pushed
    by the design's — not the launch's own."""
    c = Studio(_config(tmp_path), letters(), b"k" * 32)
    ms = sorted((m for ms in _milestones(c).values() for m in ms), key=lambda m: m.deadline)
    history = {"design-1": [Report("acme-web", "design-1", NOW - dt.timedelta(days=7), 20)],
               "launch-1": [Report("acme-web", "launch-1", NOW - dt.timedelta(days=7), 40)]}
    pv = ProjectView(c.config.projects[0], ms, history, {})
    text = _reply(c, pv, "Milestone: Design mockups\nDone: 25%\n\nMilestone: Launch\nDone: 80%")
    after = {uid: [*rs, Report("acme-web", uid, NOW, 25 if uid == "design-1" else 80)] for uid, rs in history.items()}
    decided = decide_project(c, Snapshot(ProjectView(pv.project, ms, after, {}), NOW, None),
                             Forecaster(c.workdays, c.team_tz, DEFAULT_SPREAD), NOW)
    launch = next(f for f in decided.forecasts if f.uid == "launch-1")
    assert "It waits for “Design mockups”" in launch.reason
    assert f"Forecast: {in_mail(launch)}" in text


# --- one moment, every message: over the in-memory store, as a pass runs ------------------------------------------


class Untouchable:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"no outside server is touched here ({name})")


def _services(config: config_mod.Config, store: MemoryStore, now: dt.datetime) -> Services[StorePort]:
    return Services(config, store, Untouchable(), Untouchable, Untouchable(), FixedClock(now),
                    letters())


def _history(store: MemoryStore, reports: list[Report]) -> None:
    """Notes recorded before the test's own (as one message of Alice's)."""
    store.record_message(message_key="k0", message_id="<k0@x>", sender="alice@studio.example", subject="s",
                         received_at=NOW, outcome="accepted", target_folder="done", project="acme-web", problems=(),
                         raw=b"", body="", now=NOW, reports=reports)


def _told(store: MemoryStore, kind: str, since: int = 0) -> list[str]:
    return [_text(i.message) for i in store.outbox(audience="team") if i.kind == kind and i.id > since]


def _said_in_english(f: Forecast) -> tuple[str, str, str]:
    """The forecast as the alert says it: its dates in the form its reason gives them (one date form a mail) and
    its probability."""
    assert f.p50 is not None and f.p80 is not None and f.p_miss is not None
    return format_day(f.p50, "en", "medium"), format_day(f.p80, "en", "medium"), f"{f.p_miss:.0%}"


def in_mail(f: Forecast) -> str:
    """A forecast as the team's mail in English says it: the words of `status`'s reason, its dates in the team's
    locale (`status` keeps them ISO, for scripts)."""
    return letters().forecast("en", f)


def _figures(text: str) -> tuple[str, str, int]:
    """P50, P80 and P(miss) as a reason in English states them: `status`'s figures, or the team mail's words."""
    found = re.search(r"→ P50 (.+?), P80 (.+?), P\(miss\) (\d+)%", text) or re.search(
        r"likely done by (.+?), and by (.+?) four times in five; the chance of missing .+? is (\d+)%", text)
    assert found is not None, text
    return found[1], found[2], int(found[3])


def _fields(f: Forecast, iso: bool = False) -> tuple[str, str, int]:
    """P50, P80 and P(miss) of a forecast, its dates as the team's mail says them (`iso`: as `status` does)."""
    assert f.p50 is not None and f.p80 is not None and f.p_miss is not None
    dates = (f.p50.isoformat(), f.p80.isoformat()) if iso else (format_day(f.p50, "en", "medium"),
                                                                 format_day(f.p80, "en", "medium"))
    return *dates, round(f.p_miss * 100)


def _synced(store: MemoryStore, c: Studio, design: str = LINKED) -> None:
    parsed = _milestones(c, design)
    store.apply_calendar("acme-web", ref="acme-web", url="http://127.0.0.1:9/pm/acme-web/", token="t1",
                         fingerprint="f", entries=[(h, "e", "", False) for h in parsed], parsed=parsed, deleted=[],
                         kept=set(), now=NOW)


def _read(svc: Services[StorePort], *notes: intake.Incoming) -> Spread:
    """One batch of the inbox, as read_inbox decides it (each message recorded with its reply); the team's spread
    the last reply forecast with."""
    reading = Reading(_parse_for(svc), rules_of(svc.config), FOLDERS, {})
    batch = [(incoming, reading.note(incoming, None)) for incoming in notes]
    snap, _ = snapshot(svc, batch)
    with svc.store.transaction():
        for n, (incoming, note) in enumerate(batch):
            decided = _decide_one(svc, PassReport(), snap, incoming, note, reading)
            snap = after(snap, decided) or snapshot(svc, batch[n + 1:], carried(snap, decided))[0]
    return snap.spread


@pytest.mark.parametrize("approval", ["auto", "manager"])
def test_one_moment_one_forecast_in_the_reply_the_managers_mail_the_alert_and_the_nudge(
        tmp_path: Path, approval: str) -> None:
    config = _config(tmp_path, approval)
    store = MemoryStore()
    _synced(store, Studio(config, letters(), store.key))
    week_ago = NOW - dt.timedelta(days=10)
    store.record_message(message_key="k0", message_id="<k0@x>", sender="alice@studio.example", subject="s",
                         received_at=week_ago, outcome="accepted", target_folder="done", project="acme-web",
                         problems=(), raw=b"", body="", now=week_ago,
                         reports=[Report("acme-web", "design-1", week_ago, 10, sender="alice@studio.example"),
                                  Report("acme-web", "launch-1", week_ago, 40, sender="alice@studio.example")])

    # the moment a note comes in: the pass reads it (and answers it), then evaluates
    svc = _services(config, store, NOW)
    _read(svc, _note("Milestone: design mockups\nDone: 30%\nRemaining: 10 days\n\nMilestone: Launch\nDone: 80%"))
    evaluate(svc, PassReport())
    [reply] = _told(store, "reply")
    alerts = _told(store, "manager-alert")
    manager = [t for kind in ("manager-draft", "manager-explained") for t in _told(store, kind)]
    design, launch = store.forecast("acme-web", "design-1"), store.forecast("acme-web", "launch-1")
    assert design is not None and launch is not None
    # the design: the same P50, P80, P(miss) and pace in the reply, the manager's mail about its notice and the alert
    [told] = [t for t in alerts if t.startswith("Design mockups (")]
    likely, surely, p_miss = _said_in_english(design)
    assert f"likely done by {likely}, and by {surely} four times in five" in told
    assert f"the chance of missing it is {p_miss}" in told and f"Why: {letters().say('en', design.words)}" in told
    assert f"Forecast: {in_mail(design)}" in reply and _figures(reply) == _fields(design)
    [why] = [t for t in manager if in_mail(design) in t]
    assert _figures(why) == _fields(design)
    pace = stated_pace(design.reason)
    assert stated_pace(reply) == stated_pace(told) == pace
    needs = re.search(r"recent pace it needs (\d+) more \((\d+)% done\)", told)
    assert needs is not None and int(needs[2]) == pace.done and int(needs[1]) == round(pace.left), told
    # the day the client holds (4 December in London), though its end is past midnight in Istanbul
    deadline = dt.date(2026, 12, 4)
    assert design.p50 is not None
    late = CAL.count(deadline, design.p50)
    assert f"The likely date is {late} working days after the deadline (Dec 4, 2026)" in reply
    # the team's own date (14 December) is past the deadline: due, and — as the manager's mail of the same pass
    # says — sent now, or drafted for the manager's approval
    waits = bool(_told(store, "manager-draft"))
    assert ("The client needs to hear now; the notice is waiting for the manager's approval." if waits
            else "The client notice is due now.") in reply
    assert waits is (approval == "manager" or "Why it's waiting for you" in " ".join(manager))
    # the launch waits for the design: the reply says the evaluation's forecast of it, as the alert does
    assert "It waits for “Design mockups”" in launch.reason and f"Forecast: {in_mail(launch)}" in reply
    [told] = [t for t in alerts if t.startswith("Launch (")]
    likely, surely, p_miss = _said_in_english(launch)
    assert f"likely done by {likely}, and by {surely} four times in five" in told
    assert f"the chance of missing it is {p_miss}" in told

    # a week without a note: the nudge says the forecast of that moment, as the alert does when it is said again
    later = NOW + dt.timedelta(days=7)
    svc = _services(config, store, later)
    before = max(i.id for i in store.outbox())
    evaluate(svc, PassReport())  # the nudges with it
    nudges = _told(store, "nudge", before)
    assert len(nudges) == 2
    for uid, name in (("design-1", "Design mockups"), ("launch-1", "Launch")):
        f = store.forecast("acme-web", uid)
        assert f is not None
        [nudged] = [t for t in nudges if f"about {name} (" in t]
        # after "Where it stands now:" its first letter lowered (English after a colon)
        said = in_mail(f)
        assert f"Where it stands now: {said[0].lower()}{said[1:]}" in nudged and "no note for 5 working days" in nudged
        for told in (t for t in _told(store, "manager-alert", before) if t.startswith(f"{name} (")):
            likely, surely, p_miss = _said_in_english(f)
            assert f"likely done by {likely}" in told and f"is now {p_miss}" in told
    [nudged] = [t for t in nudges if "about Design mockups (" in t]
    design = store.forecast("acme-web", "design-1")
    assert design is not None and _figures(nudged) == _fields(design)


def test_the_english_reason_of_a_dependants_forecast_states_its_own_figures(tmp_path: Path) -> None:
    """`status`, and every team message in English, say a forecast's reason word for word: its figures must be the
    forecast's. A dependant pushed by the work it waits for has new ones."""
    c = Studio(_config(tmp_path), letters(), b"k" * 32)
    ms = sorted((m for ms in _milestones(c).values() for m in ms), key=lambda m: m.deadline)
    notes = {"design-1": [Report("acme-web", "design-1", NOW - dt.timedelta(days=7), 20),
                          Report("acme-web", "design-1", NOW, 25)],
             "launch-1": [Report("acme-web", "launch-1", NOW - dt.timedelta(days=7), 40),
                          Report("acme-web", "launch-1", NOW, 80)]}
    decided = decide_project(c, Snapshot(ProjectView(c.config.projects[0], ms, notes, {}), NOW, None),
                             Forecaster(c.workdays, c.team_tz, DEFAULT_SPREAD), NOW)
    launch = next(f for f in decided.forecasts if f.uid == "launch-1")
    assert "It waits for “Design mockups”" in launch.reason
    assert _figures(launch.reason) == _fields(launch, iso=True)


def test_a_reading_answers_each_note_with_the_notes_before_it_in_the_same_batch(tmp_path: Path) -> None:
    """Two notes in one batch: the second reply counts the first (the project is read once a batch and kept as
    notes are recorded), as the evaluation after them does."""
    config = _config(tmp_path)
    store = MemoryStore()
    _synced(store, Studio(config, letters(), store.key), DESIGN)
    svc = _services(config, store, NOW)
    _read(svc, _note("Milestone: design mockups\nDone: 20%", NOW - dt.timedelta(days=12), "note-a"),
          _note("Milestone: design mockups\nDone: 40%", NOW, "note-b"))
    evaluate(svc, PassReport())
    first, second = _told(store, "reply")
    design = store.forecast("acme-web", "design-1")
    assert design is not None and f"Forecast: {in_mail(design)}" in second
    assert stated_pace(second) == Pace(40, 2.5, 24)  # 20% → 40% in 8 working days
    assert "There is only one note so far (20% done), which isn't enough for a trend" in first


def test_the_reply_gives_the_cause_the_plan_and_the_prevention_one_a_line_label_first(tmp_path: Path) -> None:
    """The figures on the milestone's line; the note's sentences each on a line of their own, label first: commas
    inside them would run into the figures' commas (fourth native reading, defect 14)."""
    config = _config(tmp_path)
    store = MemoryStore()
    _synced(store, Studio(config, letters(), store.key), DESIGN)
    svc = _services(config, store, NOW)
    _read(svc, _note("Milestone: design mockups\nDone: 70%\nRemaining: 7 days\nCause: we underestimated the "
                     "templates, all of them\nPlan: a second designer joins\nPrevent: we count templates first"))
    [reply] = _told(store, "reply")
    assert ("- Design mockups: 70% done, 7 working days left\n  Cause: we underestimated the templates, all of them\n"
            "  Plan: a second designer joins\n  Prevent: we count templates first\n  Forecast: "
            ) in reply.replace("\r\n", "\n")


def test_the_reply_forecasts_with_the_spread_the_pass_learns(tmp_path: Path) -> None:
    """A note that teaches the team's spread something (here a milestone's first estimate; a Done: 100% more so)
    is answered with the spread the evaluation learns once it is recorded — not the defaults, not the one before."""
    config = _config(tmp_path)
    store = MemoryStore()
    _synced(store, Studio(config, letters(), store.key), DESIGN)
    svc = _services(config, store, NOW)
    before = forecaster(svc).spread
    replied = _read(svc, _note("Milestone: design mockups\nDone: 30%\nRemaining: 4 days"))
    assert replied == forecaster(svc).spread != before
    assert replied.bias != DEFAULT_SPREAD.bias  # Little's reference class: work runs long
    [reply] = _told(store, "reply")
    # no milestone of its own closed yet
    assert "Work like this has usually taken about 1.8 times as long as estimated." in reply


def test_a_note_that_closes_a_milestone_is_learned_from_before_its_reply_forecasts_the_others(
        tmp_path: Path) -> None:
    """Done: 100% on one milestone changes what the team's estimates are taken to be worth: the reply to that note
    forecasts the other milestones with it, as the evaluation then does."""
    config = _config(tmp_path)
    store = MemoryStore()
    _synced(store, Studio(config, letters(), store.key), DESIGN)
    three_weeks = NOW - dt.timedelta(days=21)
    store.record_message(message_key="k0", message_id="<k0@x>", sender="alice@studio.example", subject="s",
                         received_at=three_weeks, outcome="accepted", target_folder="done", project="acme-web",
                         problems=(), raw=b"", body="", now=three_weeks,
                         reports=[Report("acme-web", "design-1", three_weeks, 50, 3.0)])
    svc = _services(config, store, NOW)
    before = forecaster(svc).spread
    _read(svc, _note("Milestone: design mockups\nDone: 100%\n\nMilestone: Launch\nDone: 30%\nRemaining: 5 days"))
    evaluate(svc, PassReport())
    learned = forecaster(svc).spread
    assert learned != before and learned.history == 1  # one estimate, three days, took fifteen
    [reply] = _told(store, "reply")
    launch = store.forecast("acme-web", "launch-1")
    assert launch is not None and f"Forecast: {in_mail(launch)}" in reply


def test_a_note_on_a_closed_milestone_is_learned_from_as_the_evaluation_learns_it(tmp_path: Path) -> None:
    """The review of the inbox's snapshot: the design, closed in the morning (Done: 100%, never estimated), gets a
    note in the afternoon with a remaining time, beside the launch's. Its statements — what the team's spread
    learns from a closed milestone — change: the reply learned them with the note, the evaluation from what it had
    read in the morning (kept, "a closed milestone's notes never change"), and the launch's forecast differed by a
    day. Both learn them with the note; and a later note on the closed milestone in the same batch, which taught
    nothing by the old rule, is learned from too."""
    config = _config(tmp_path)
    store = MemoryStore()
    _synced(store, Studio(config, letters(), store.key), DESIGN)
    a = "alice@studio.example"
    _history(store, [Report("acme-web", "m2", NOW - dt.timedelta(days=15), 10, 5.0, sender=a),
                     Report("acme-web", "m2", NOW - dt.timedelta(days=8), 100, sender=a),
                     Report("acme-web", "m3", NOW - dt.timedelta(days=10), 10, 4.0, sender=a)])
    svc = _services(config, store, NOW)
    _read(svc, _note("Milestone: design mockups\nDone: 100%", NOW, "morning"))
    evaluate(svc, PassReport())
    later = NOW + dt.timedelta(hours=5)
    svc = dataclasses.replace(svc, clock=FixedClock(later))
    replied = _read(svc, _note("Milestone: design mockups\nDone: 90%\nRemaining: 1 day\n\nMilestone: Launch\n"
                               "Done: 40%\nRemaining: 6 days", later, "afternoon"),
                    _note("Milestone: design mockups\nRemaining: 2 days\n\nMilestone: Launch\nDone: 45%", later,
                          "evening"))
    evaluate(svc, PassReport())
    assert replied == forecaster(svc).spread
    launch = store.forecast("acme-web", "launch-1")
    assert launch is not None and f"Forecast: {in_mail(launch)}" in _told(store, "reply")[-1]


def test_a_members_mail_that_is_not_recorded_teaches_the_spread_nothing(tmp_path: Path) -> None:
    """The review: an auto-reply from a member's address that reads as a note ("Done: 100%", quoted back) is never
    recorded — yet the spread learned with it was carried to the next note's reply, which then forecast with a
    milestone closed that the evaluation knows open."""
    config = _config(tmp_path)
    store = MemoryStore()
    _synced(store, Studio(config, letters(), store.key), DESIGN)
    a = "alice@studio.example"
    _history(store, [Report("acme-web", "design-1", NOW - dt.timedelta(days=9), 10, 3.0, sender=a),
                     Report("acme-web", "launch-1", NOW - dt.timedelta(days=9), 10, 8.0, sender=a)])
    svc = _services(config, store, NOW)
    automatic = intake.read_message((
        "From: Alice <alice@studio.example>\nTo: progress@studio.example\nSubject: [acme-web] Out of office\n"
        f"Date: {NOW.strftime('%a, %d %b %Y %H:%M:%S +0000')}\nMessage-ID: <ooo@studio.example>\n"
        "Auto-Submitted: auto-replied\n\nMilestone: design mockups\nDone: 100%\n").encode(), NOW)
    replied = _read(svc, automatic, _note("Milestone: Launch\nDone: 30%", NOW, "real"))  # it teaches nothing
    assert store.done_at() == {}  # the auto-reply closed nothing
    evaluate(svc, PassReport())
    assert replied == forecaster(svc).spread


def test_two_mails_of_one_message_id_in_a_batch_each_keep_the_first_ones_facts(tmp_path: Path) -> None:
    """The review: facts were kept by message key, the last copy's winning — the manager's "approve" naming notice
    #1 was decided with the facts of a later mail of the same Message-ID naming #2, and approved #2. The first
    mail's facts are its own (a later copy is only filed)."""
    from deadlinewatch.core.model import QueueMail

    config = _config(tmp_path, "manager")
    store = MemoryStore()
    _synced(store, Studio(config, letters(), store.key), DESIGN)
    held = [QueueMail(kind="notice", audience="client", token=token, message_id=f"<{token}@x>",
                      mail_from="pm@studio.example", recipients=("jane@acme.example",), message=b"x", created=NOW,
                      state="held", project="acme-web", uid="design-1") for token in ("aaaa000001", "bbbb000002")]
    store.carry_out(held, NOW)

    def approval(token: str) -> intake.Incoming:
        return intake.read_message((f"From: pm@studio.example\nTo: progress@studio.example\nSubject: Re: [dw:{token}] "
                                    "draft\nMessage-ID: <same@studio.example>\n\napprove\n").encode(), NOW)

    snap, unread = snapshot(_services(config, store, NOW), [(approval("aaaa000001"), None),
                                                            (approval("bbbb000002"), None)])
    held_one = snap.facts["<same@studio.example>"].held
    assert unread == {} and held_one is not None and held_one.token == "aaaa000001"


def test_the_reply_knows_a_notice_waits_when_work_it_builds_on_pushes_its_date_past_the_teams(tmp_path: Path) -> None:
    """The launch waits for the design, promised Dec 23 in an earlier notice. A note gives the launch the team's
    own date, Dec 14, past its deadline: its notice is due at once, and its new date comes after the design's
    promise (plan_notice: dependencies.earliest), so far past the team's own date that the notice is held for the
    manager (the outrun rule, a team with no closed milestone). The reply must say so, as the evaluation drafts it:
    the shortcut that judged the date before work it builds on pushed it said "The client notice is due now.". The
    pass's event names the date the letter gives, not the policy's before the push."""
    c = Studio(_config(tmp_path), letters(), b"k" * 32)
    ms = sorted((m for ms in _milestones(c).values() for m in ms), key=lambda m: m.deadline)
    told = {"design-1": ClientDate(3, dt.date(2026, 12, 23), dt.date(2026, 12, 23), False)}
    notes = {"launch-1": [Report("acme-web", "launch-1", NOW, 10, eta=dt.date(2026, 12, 14))]}
    pv = ProjectView(c.config.projects[0], ms, notes, told)
    forecast = Forecaster(c.workdays, c.team_tz, DEFAULT_SPREAD)
    evaluation = decide_project(c, Snapshot(pv, NOW, None, history=0), forecast, NOW)
    [plan] = [p for p in evaluation.plans if p.messages[0].kind == "notice"]
    assert plan.messages[0].uid == "launch-1" and plan.messages[0].state == "held"  # the outrun hold, by the plan
    assert as_evaluated(c, pv, forecast, NOW, {"launch-1"}, 0)[1:] == ({"launch-1"}, {"launch-1"})
    assert plan.what.endswith("promising 2026-12-24")  # the pass's event names the date the letter gives
