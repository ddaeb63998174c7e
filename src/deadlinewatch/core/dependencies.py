"""Finish-to-start dependencies: when a milestone slips, the work that builds on it moves too.

A successor cannot start before its predecessor is done plus the GAP. It keeps its own length: the working
days from its start (DTSTART, or else the predecessor's planned finish plus the GAP) to its deadline. So it
moves only when the predecessor's new date eats into that slack, and by no more than the delay requires.
Cycles are reported, never followed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from deadlinewatch.core.model import Forecast, Milestone
from deadlinewatch.core.words import _, english, phrase
from deadlinewatch.core.workdays import WorkCalendar


def find_cycles(milestones: Mapping[str, Milestone]) -> list[list[str]]:
    """Every dependency cycle among these milestones, as a list of UIDs."""
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(uid: str, path: list[str]) -> None:
        state[uid] = 1
        for succ, _gap in milestones[uid].successors:
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


def waits_for(
    m: Milestone,
    own: Forecast | None,
    forecasts: Mapping[str, Forecast],
    milestones: Mapping[str, Milestone],
    cal: WorkCalendar,
    tz: dt.tzinfo,
) -> Forecast | None:
    """A milestone's forecast, pushed later by its predecessors' forecasts: it cannot be done before the work it
    builds on allows. When a predecessor's slip eats this one's slack, its miss probability is at least theirs."""
    from deadlinewatch.core.forecast import last_work_day

    current = {x.uid: last_work_day(x.deadline, tz) for x in milestones.values()}
    p50, p80 = (own.p50, own.p80) if own else (None, None)
    p_miss = own.p_miss if own else None
    target = own.target if own and own.target else last_work_day(m.deadline, tz)
    reasons = []
    for pred in milestones.values():
        if m.uid not in {s for s, _ in pred.successors}:
            continue
        pf = forecasts.get(pred.uid)
        if pf is None or pf.p80 is None:
            continue
        late80 = shifted(milestones, pred.uid, pf.p80, current, cal, tz).get(m.uid)
        late50 = shifted(milestones, pred.uid, pf.p50, current, cal, tz).get(m.uid) if pf.p50 else None
        if late80 is None or (p80 is not None and late80 <= p80):
            continue
        p80 = late80
        p50 = max(p50, late50) if p50 and late50 else late50 or p50
        if late80 > target and pf.p_miss is not None:
            p_miss = max(p_miss or 0.0, pf.p_miss)
        reasons.append(phrase(_("waits for %(name)s (its P80 %(date)s)"), name=pred.name, date=pf.p80))
    if not reasons:
        return own
    words = (*own.words, *reasons) if own else tuple(reasons)
    english_reason = f"{own.reason}; {english(reasons)}" if own else \
        f"{english(reasons)} → P80 {p80.isoformat() if p80 else '-'}"
    return Forecast(m.project, m.uid, p50, p80, p_miss, english_reason, target, own.eta if own else None, words)
