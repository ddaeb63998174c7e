"""The evaluation's decisions, asserted on the actions it returns — no server: the store is a file, the calendar,
mailbox and mailer are never touched (each raises if it is)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from deadlinewatch import config as config_mod
from deadlinewatch.adapters.clock import FixedClock
from deadlinewatch.adapters.store import Store
from deadlinewatch.adapters.templates import letters
from deadlinewatch.core.milestones import milestones_from_ics
from deadlinewatch.core.model import QueueMail, Report, ShowDate
from deadlinewatch.demo.servers import write_local_config
from deadlinewatch.services import Services
from deadlinewatch.stages.evaluation import plan_intro, plan_notice
from deadlinewatch.stages.forecasts import forecast_milestone
from deadlinewatch.stages.project_view import view
from tests.samples import DESIGN, LAUNCH

NOW = dt.datetime(2026, 11, 30, 9, tzinfo=dt.UTC)


class Untouchable:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a decision must not reach an outside server ({name})")


@pytest.fixture
def svc(tmp_path: Path) -> Any:
    path = write_local_config(tmp_path / "dw.toml", caldav_url="http://127.0.0.1:9/", imap_port=9, smtp_port=9)
    config = config_mod.load(path)
    store = Store.open(config.state_dir)
    entries, parsed = [], {}
    for href, ics in (("/design-1.ics", DESIGN), ("/launch-1.ics", LAUNCH)):
        entries.append((href, "etag", ics, False))
        parsed[href] = milestones_from_ics(ics, "acme-web", (), "Europe/London", config.timezone, href, NOW).milestones
    store.apply_calendar("acme-web", ref="acme-web", url="http://127.0.0.1:9/pm/acme-web/", token="t1",
                         fingerprint="f", entries=entries, parsed=parsed, deleted=[], kept=set(), now=NOW)
    yield Services(config, store, Untouchable(), Untouchable, Untouchable(), FixedClock(NOW),  # type: ignore[arg-type]
                   letters())
    store.close()


def test_the_introduction_is_one_letter_and_one_request_per_other_milestone(svc: Services) -> None:
    plan = plan_intro(svc, view(svc, svc.config.projects[0]), NOW)
    assert plan is not None
    assert [(m.kind, m.uid) for m in plan.messages] == [("intro", "design-1"), ("intro", "launch-1")]
    assert all(isinstance(m, QueueMail) and m.audience == "client" and m.state == "pending" for m in plan.messages)
    assert plan.messages[0].recipients[0] == "jane@acme.example"
    assert plan.dates == [ShowDate("acme-web", "design-1", 2, shown_date=dt.date(2026, 12, 4)),
                          ShowDate("acme-web", "launch-1", 0, shown_date=dt.date(2026, 12, 10))]


def test_a_notice_raises_the_sequence_and_promises_the_new_date(svc: Services) -> None:
    from deadlinewatch.core import policy

    note = Report("acme-web", "design-1", NOW, 20, 15.0, None, "the assets came late", "a second designer",
                  False, "alice@studio.example")
    pv = view(svc, svc.config.projects[0])
    m = next(x for x in pv.milestones if x.uid == "design-1")
    f = forecast_milestone(svc, m, [note], None, NOW)
    assert f is not None and f.p_miss is not None and f.p_miss > 0.9
    decision = policy.decide(m, f, policy.Promise(None, False), svc.policy, svc.workdays, dt.date(2026, 12, 4),
                             today=NOW.date())
    assert decision is not None and decision.kind == "notice"
    plan = plan_notice(svc, pv, m, decision, NOW)
    [notice] = plan.messages
    assert notice.kind == "notice" and notice.promised == decision.promised
    [shown] = plan.dates
    assert shown.sequence == 3 and shown.shown_date == decision.promised == shown.promised
