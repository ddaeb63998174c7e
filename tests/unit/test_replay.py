"""Replay scores, computed by hand on a tiny history."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from deadlinewatch.core.policy import Policy
from deadlinewatch.core.replay import ReplayFormatError, Row, read_rows, replay
from deadlinewatch.core.workdays import WorkCalendar

CSV = """milestone,deadline,started_on,reported_on,percent_done,remaining_days,eta,completed_on
late,2026-03-20,2026-03-02,2026-03-02,10,20,,2026-04-03
late,2026-03-20,2026-03-02,2026-03-09,20,18,,2026-04-03
fine,2026-03-20,2026-03-02,2026-03-02,10,4,,2026-03-13
fine,2026-03-20,2026-03-02,2026-03-09,60,3,,2026-03-13
admits,2026-03-20,,2026-03-02,,,2026-03-20,2026-03-27
admits,2026-03-20,,2026-03-16,,,2026-03-27,2026-03-27
"""


def rows(text: str = CSV) -> list[Row]:
    reader = csv.DictReader(io.StringIO(text))
    return read_rows(reader, reader.fieldnames or [])


def test_scores_against_hand_computed_outcomes() -> None:
    # "fine" says 4 working days of its 15 planned are left, and is done in 10: before any closure the team's
    # plans and estimates are taken to run 1.8x (the reference prior), which still leaves it on time
    result = replay(rows(), Policy(0.6, 3, 0.5), WorkCalendar())
    assert (result.milestones, result.misses) == (3, 2)
    dw = result.methods["deadlinewatch"]
    assert dw["alarmed"] == 2 and dw["precision"] == 1.0 and dw["recall"] == 1.0 and dw["false_alarm_rate"] == 0.0
    # both are caught at their first report, 18 days ahead: "admits" gives the deadline as its ETA, but teams'
    # estimates run long (the reference prior) and the evidence says so before the team does (4 days ahead)
    assert dw["median_lead_days"] == 18
    always = result.methods["always"]
    assert always["alarmed"] == 3 and always["false_alarm_rate"] == 1.0 and always["median_lead_days"] == 18
    passed = result.methods["deadline_passed"]
    assert passed["recall"] == 1.0 and passed["median_lead_days"] == 0
    admits = result.methods["team_admits_slip"]
    assert admits["alarmed"] == 1 and admits["recall"] == 0.5 and admits["median_lead_days"] == 4
    burnup = result.methods["linear_burnup"]
    assert burnup["alarmed"] == 1 and burnup["precision"] == 1.0  # only "late" and "fine" have percentages
    assert [t.alarm for t in result.trace if t.milestone == "late"] == [True, True]
    alert = result.methods["deadlinewatch_alert"]  # the manager's: on the same forecasts, a lower threshold
    alert_lead, dw_lead = alert["median_lead_days"], dw["median_lead_days"]
    assert alert_lead is not None and dw_lead is not None  # each alarmed: each has a lead
    assert alert["recall"] == 1.0 and alert_lead >= dw_lead


def test_the_trace_lets_anyone_recompute_the_alarms(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text(CSV)
    trace = tmp_path / "trace.csv"
    out = subprocess.run([sys.executable, "-m", "deadlinewatch", "replay", str(path), "--json", "--trace",
                          str(trace)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    scores = json.loads(out.stdout)
    assert scores["methods"]["deadlinewatch"]["alarmed"] == 2
    assert set(scores["methods"]) == {"deadlinewatch", "deadlinewatch_alert", "always", "deadline_passed",
                                      "team_admits_slip", "linear_burnup"}
    lines = trace.read_text().splitlines()
    assert lines[0] == "milestone,reported_on,p_miss,p50,p80,alarm,alert" and len(lines) == 7
    cells = [line.split(",") for line in lines[1:]]
    assert {c[0] for c in cells if c[5] == "true"} == {"late", "admits"}
    # the manager hears no later than the client: on each milestone the alert's first report precedes the notice's
    for name in {c[0] for c in cells if c[5] == "true"}:
        mine = [c for c in cells if c[0] == name]
        assert [c[6] for c in mine].index("true") <= [c[5] for c in mine].index("true")
    alerted = {c[0] for c in cells if c[6] == "true"}
    assert scores["methods"]["deadlinewatch_alert"]["alarmed"] == len(alerted) >= 2


def test_a_bad_row_names_its_line_and_column() -> None:
    with pytest.raises(ReplayFormatError, match='line 3: percent_done = "lots"'):
        rows(CSV.splitlines()[0] + "\n" + CSV.splitlines()[1] + "\nx,2026-03-20,,2026-03-02,lots,,,2026-03-20\n")
    with pytest.raises(ReplayFormatError, match="completed_on is empty"):
        rows(CSV.splitlines()[0] + "\nx,2026-03-20,,2026-03-02,,,,\n")


def test_replay_reads_the_policy_of_a_config_and_nothing_else(tmp_path: Path) -> None:
    """The contract audit: `replay` with a config checked the whole file — on a server whose passwords are systemd
    credentials (there only inside the service) it exited 78, as it did for a file of [policy] alone. It reads
    [policy], and a problem in it is still named."""
    path = tmp_path / "r.csv"
    path.write_text(CSV)
    policy = tmp_path / "policy.toml"
    policy.write_text("[policy]\nwarn_probability = 0.99\n")
    run = [sys.executable, "-m", "deadlinewatch", "--config", str(policy), "replay", str(path), "--json"]
    out = subprocess.run(run, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["methods"]["deadlinewatch"]["alarmed"] >= 1
    policy.write_text("[policy]\nwarn_probability = 2\n")
    out = subprocess.run(run, capture_output=True, text=True, timeout=60)
    assert out.returncode == 78 and "policy.warn_probability" in out.stderr


@pytest.mark.parametrize(("cell", "said"), [("150,", "percent_done = 150 is impossible"),
                                            ("10,-3", "remaining_days = -3 is impossible"),
                                            ("nan,", "percent_done = nan is impossible")])
def test_an_impossible_figure_in_a_replay_file_is_refused_naming_its_line(cell: str, said: str) -> None:
    """The contract audit: percent_done = 150 and remaining_days = -3 were scored (P(miss) 0, Brier 1.0)."""
    with pytest.raises(ReplayFormatError, match=f"line 2: {said}"):
        rows(CSV.splitlines()[0] + f"\nx,2026-03-20,,2026-03-02,{cell},,2026-03-27\n")
