"""Finish-to-start dependencies: when a milestone slips, the work that builds on it moves too.

A successor cannot start before its predecessor is done plus the GAP. It keeps its own length: the working
days from its start (DTSTART, or else the predecessor's planned finish plus the GAP) to its deadline. So it
moves only when the predecessor's new date eats into that slack, and by no more than the delay requires — but
always to a working day after the predecessor's date plus the GAP: work that builds on another cannot be done on
the day that work is. What the client was told stands: a successor is never moved earlier than the date they
have, and a predecessor told a later date in an earlier notice holds its successors after that date too.
Cycles are reported, never followed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping

from deadlinewatch.core.model import Forecast, Milestone
from deadlinewatch.core.words import _, phrase
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
    land: Callable[[dt.date], dt.date] = lambda day: day,
) -> dict[str, dt.date]:
    """The new dates of everything downstream of `moved_uid` now due on `new_date`.

    `current` holds each milestone's date as the client knows it (its deadline's day, or a promised date).
    Returns only the successors whose date moves later. Each lands after every one of its predecessors: the one
    that moves now, those moved with it (along the whole chain, whichever way it branches and joins) and those
    told a later date before. Cycles are cut where they close. `land` moves a date the chain reaches to the first
    day it may be promised (a client's holiday skipped), before the successors further down are counted from it.
    """
    into = _predecessors(milestones)
    order = _downstream(milestones, moved_uid)
    reached = set(order)
    # the date each milestone of the chain holds its successors to: the new one, or one told in an earlier notice;
    # absent while it is on its plan (its successors' own plan already allows for it)
    holds: dict[str, dt.date] = {moved_uid: new_date}
    out: dict[str, dt.date] = {}
    for uid in order[1:]:  # every predecessor within the chain comes before its successors
        succ = milestones[uid]
        known = current.get(uid, _planned(succ, tz))
        needed = _needed(milestones, into, succ, cal, tz,
                         lambda p: holds.get(p) if p in reached else _told(milestones, current, p, tz))
        if needed is not None and (needed := land(needed)) > known:
            out[uid] = holds[uid] = needed
        elif known > _planned(succ, tz):
            holds[uid] = known
    return out


def earliest(
    milestones: Mapping[str, Milestone],
    uid: str,
    current: Mapping[str, dt.date],
    cal: WorkCalendar,
    tz: dt.tzinfo,
) -> dt.date | None:
    """The first date `uid` may be promised, given its predecessors' dates as the client knows them (`current`):
    after each one told a later date than its plan, by its GAP and its own length. None when none was."""
    return _needed(milestones, _predecessors(milestones), milestones[uid], cal, tz,
                   lambda p: _told(milestones, current, p, tz))


def _planned(m: Milestone, tz: dt.tzinfo) -> dt.date:
    from deadlinewatch.core.forecast import last_work_day

    return last_work_day(m.deadline, tz)


def _predecessors(milestones: Mapping[str, Milestone]) -> dict[str, list[tuple[str, int]]]:
    """For each milestone, the ones it builds on, with the GAP of each link."""
    into: dict[str, list[tuple[str, int]]] = {}
    for m in milestones.values():
        for succ, gap in m.successors:
            into.setdefault(succ, []).append((m.uid, gap))
    return into


def _downstream(milestones: Mapping[str, Milestone], root: str) -> list[str]:
    """`root` and the open work that builds on it, directly or along a chain, each after all of its predecessors
    among them: a depth-first walk, in reverse order of finishing. A link that closes a cycle leads back to a
    milestone earlier in this order, so it is never followed: that predecessor has no date yet when its successor
    is placed."""
    finished: list[str] = []
    seen = {root}
    stack = [(root, iter(milestones[root].successors))]
    while stack:
        uid, links = stack[-1]
        for succ_uid, _gap in links:
            succ = milestones.get(succ_uid)
            if succ is None or succ.state != "open" or succ_uid in seen:
                continue
            seen.add(succ_uid)
            stack.append((succ_uid, iter(succ.successors)))
            break
        else:
            stack.pop()
            finished.append(uid)
    return finished[::-1]


def _told(milestones: Mapping[str, Milestone], current: Mapping[str, dt.date], uid: str,
          tz: dt.tzinfo) -> dt.date | None:
    """The date an open milestone holds its successors to without moving now: the one the client was told, when
    that is later than its plan."""
    m = milestones.get(uid)
    told = current.get(uid)
    if m is None or m.state != "open" or told is None:
        return None
    return told if told > _planned(m, tz) else None


def _needed(
    milestones: Mapping[str, Milestone],
    into: Mapping[str, list[tuple[str, int]]],
    succ: Milestone,
    cal: WorkCalendar,
    tz: dt.tzinfo,
    held_to: Callable[[str], dt.date | None],
) -> dt.date | None:
    """The first day `succ` can be done after the predecessors that hold it (`held_to`: a predecessor's date, or
    None when it holds nothing): its work starts after each one's date plus the GAP (or at its own DTSTART, if
    that is later) and takes its own length in working days, and it is done at the earliest a working day after
    that predecessor's date plus the GAP."""
    due = _planned(succ, tz)
    start = succ.start_day()
    start = start - dt.timedelta(days=1) if start is not None else None
    needed: dt.date | None = None
    for pred_uid, gap in into.get(succ.uid, ()):
        held = held_to(pred_uid)
        if held is None:
            continue
        # `ref`: the day after which the successor's work counts in its plan (the day before its DTSTART, else
        # the predecessor's planned finish plus the GAP); its length runs from there to its deadline
        ref = start if start is not None else cal.add(_planned(milestones[pred_uid], tz), gap)
        ready = cal.add(held, gap)
        day = max(cal.add(max(ready, ref), max(cal.count(ref, due), 0)), cal.add(ready, 1))
        needed = day if needed is None or day > needed else needed
    return needed


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
        reasons.append(phrase(_("It waits for “%(name)s”, done by %(date)s four times in five."), name=pred.name,
                              date=pf.p80))
    if not reasons:
        return own
    words = (*own.words, *reasons) if own else tuple(reasons)
    # its English reason (Forecast.reason) states this forecast's own figures: the ones the work it waits for pushed
    return Forecast(m.project, m.uid, p50, p80, p_miss, "", target, own.team_date if own else None, words)
