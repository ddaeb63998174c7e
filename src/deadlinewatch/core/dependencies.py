"""Finish-to-start dependencies: when a milestone slips, the work that builds on it moves too.

A successor cannot start before its predecessor is done plus the GAP. It keeps its own length: the working
days from its start (DTSTART, or else the predecessor's planned finish plus the GAP) to its deadline. So it
moves only when the predecessor's new date eats into that slack, and by no more than the delay requires.
Cycles are reported, never followed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from deadlinewatch.core.model import Milestone
from deadlinewatch.core.workdays import WorkCalendar


def find_cycles(milestones: Mapping[str, Milestone]) -> list[list[str]]:
    """Every dependency cycle among these milestones, as a list of UIDs."""
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(uid: str, path: list[str]) -> None:
        state[uid] = 1
        for succ, _ in milestones[uid].successors:
            if succ not in milestones:
                continue
            if state.get(succ) == 1:
                cycles.append([*path[path.index(succ):], succ] if succ in path else [uid, succ])
            elif succ not in state:
                visit(succ, [*path, succ])
        state[uid] = 2

    for uid in milestones:
        if uid not in state:
            visit(uid, [uid])
    return cycles


def shifted(
    milestones: Mapping[str, Milestone],
    moved_uid: str,
    new_date: dt.date,
    current: Mapping[str, dt.date],
    cal: WorkCalendar,
    tz: dt.tzinfo,
) -> dict[str, dt.date]:
    """The new dates of everything downstream of `moved_uid` now due on `new_date`.

    `current` holds each milestone's date as the client knows it (its deadline's day, or a promised date).
    Returns only the successors whose date moves later. Cycles are cut where they close.
    """
    from deadlinewatch.core.forecast import last_work_day

    out: dict[str, dt.date] = {}
    frontier = [(moved_uid, new_date)]
    visiting = {moved_uid}
    while frontier:
        uid, finish = frontier.pop()
        pred = milestones[uid]
        planned_finish = last_work_day(pred.deadline, tz)
        for succ_uid, gap in pred.successors:
            succ = milestones.get(succ_uid)
            if succ is None or succ.state != "open" or succ_uid in visiting:
                continue
            due = last_work_day(succ.deadline, tz)
            # `ref`: the day after which the successor's work counts (the day before its DTSTART, if it has one)
            ref = (succ.start.astimezone(tz).date() - dt.timedelta(days=1) if succ.start
                   else cal.add(planned_finish, gap))
            length = max(cal.count(ref, due), 0)
            candidate = cal.add(max(cal.add(finish, gap), ref), length)
            known = out.get(succ_uid, current.get(succ_uid, due))
            if candidate > known:
                out[succ_uid] = candidate
                visiting.add(succ_uid)
                frontier.append((succ_uid, candidate))
    return out
