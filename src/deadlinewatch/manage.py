"""The manager's commands — status, preview, approve, reject — as one function over a config and a store.

The CLI runs them on the store directly when no daemon is running; a running daemon runs them for the CLI
over its control socket (`control.py`), so nothing ever writes around the one writer.
A request is a dict: {"command": ..., "now": ISO or None, ...}; the answer {"exit": int, "stdout": str,
"error": str}.
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from collections.abc import Callable, Sequence
from email import message_from_bytes
from email.policy import default as default_policy
from typing import Any

from deadlinewatch import config as config_mod
from deadlinewatch import wiring
from deadlinewatch.adapters.clock import FixedClock, SystemClock, parse_now
from deadlinewatch.adapters.store import Milestones, OutboxItem, StorePort, WebState
from deadlinewatch.config.schema import Project
from deadlinewatch.coordination import Running
from deadlinewatch.core.model import DecideHeld, Forecast, Milestone
from deadlinewatch.decisions.outbox import cannot_go
from deadlinewatch.errors import DeadlinewatchError, Refused, UsageError, exit_code


def handle(config: config_mod.Config, store: StorePort, request: dict[str, Any],
           daemons: Callable[[], Sequence[Running]] = tuple) -> dict[str, Any]:
    """A command over a config and a store; `daemons`: who runs on this state (the running daemon answers with
    itself, or with every daemon sharing the state)."""
    try:
        command = request.get("command")
        if command == "status":
            data = status_data(store, config, daemons=daemons())
            return {"exit": 0, "stdout": json.dumps(data, indent=2, ensure_ascii=False) + "\n" if request.get("json")
                    else render_status(data, config)}
        if command == "preview":
            return {"exit": 0, "stdout": preview(config, store, str(request.get("milestone", "")), request.get("now"))}
        if command == "rotate-page":
            return {"exit": 0, "stdout": rotate_page(store, config, str(request.get("project", "")))}
        if command in ("approve", "reject"):
            date = request.get("date")
            return {"exit": 0, "stdout": decide(store, str(request.get("notice_id", "")), command == "approve",
                                                config, request.get("now"),
                                                date=dt.date.fromisoformat(date) if date else None)}
        raise DeadlinewatchError(f"unknown command {command!r}")
    except DeadlinewatchError as e:
        return {"exit": exit_code(e), "error": str(e)}


def _clock(config: config_mod.Config, now: str | None) -> FixedClock | SystemClock:
    moment = parse_now(now, config.timezone)
    return FixedClock(moment) if moment else SystemClock()


def status_data(store: StorePort, config: config_mod.Config,
                explain: Callable[[Forecast], str] | None = None, daemons: Sequence[Running] = (), *,
                milestones: Sequence[Milestone] | None = None, outbox: Sequence[OutboxItem] | None = None
                ) -> dict[str, Any]:
    """The shape of `status --json` (CONTRACT.md). With `explain`, each milestone with a forecast also has
    `explained`: its reason as `explain` says it (the dashboard's, in the team's language); `reason` stays English.
    `milestones` (every one) and `outbox` (the client's letters): as the caller read them already, for a view that
    reads each of them once."""
    from deadlinewatch.core.milestones import effective_state

    last = store.last_pass()
    servers = store.servers()
    # the client pages' tokens are made with the pages: while [web] is off there is no page to show
    tokens = store.make_page_tokens([p.id for p in config.projects]) if config.web.listen else {}
    data: dict[str, Any] = {
        "last_pass": last.finished.isoformat() if last else None,
        "daemons": [d.as_json() for d in daemons],
        "servers": {name: {"ok": s.ok, "detail": s.detail} if (s := servers.get(name)) else
                    {"ok": False, "detail": "not contacted yet"} for name in ("caldav", "imap", "smtp")},
        "projects": [{"id": p.id, "name": p.name, "client_page": f"/p/{tokens[p.id]}/" if p.id in tokens else None}
                     for p in config.projects],
        "milestones": [],
        "notices": [],
    }
    from deadlinewatch.stages.state import told_dates

    alerts = store.risk_alerts()
    told = {p.id: told_dates(store, p) for p in config.projects}
    for m in store.milestones() if milestones is None else milestones:
        reports = store.reports(m.project, m.uid)
        state = effective_state(m, reports)
        if state == "cancelled":
            continue
        f = store.forecast(m.project, m.uid) if state == "open" else None
        cd = told.get(m.project, {}).get(m.uid)  # what the client was told: not a date held or rejected
        latest = reports[-1] if reports else None
        data["milestones"].append({
            "project": m.project, "uid": m.uid, "name": m.name, "deadline": m.deadline.isoformat(),
            "state": state, "done_percent": next((r.done for r in reversed(reports) if r.done is not None), m.percent),
            "last_note": latest.at.isoformat() if latest else None,
            "p50": f.p50.isoformat() if f and f.p50 else None, "p80": f.p80.isoformat() if f and f.p80 else None,
            "p_miss": f.p_miss if f else None, "reason": f.reason if f else ("done" if state == "done" else None),
            "promised": cd.promised.isoformat() if cd and cd.promised else None,
            "alert": (m.project, m.uid) in alerts,
            **({"explained": explain(f) if f else None} if explain else {}),
        })
    for item in store.outbox(audience="client") if outbox is None else outbox:
        to = message_from_bytes(item.message, policy=default_policy).get("To", "")
        data["notices"].append({
            "id": item.id, "project": item.project, "uid": item.uid, "kind": item.kind, "state": item.state,
            "to": str(to), "created": item.created.isoformat(), "sent": item.sent.isoformat() if item.sent else None,
            "decided_by": item.decided_by,
        })
    return data


def _due(deadline: str, project: Project | None) -> str:
    """A deadline as `status` shows it to a person (due_text: beside P50 and P80, which are days); as stored for a
    project no longer configured. `--json` keeps the moment."""
    if project is None:
        return deadline[:16]
    from deadlinewatch.core.milestones import due_text

    return due_text(dt.datetime.fromisoformat(deadline), project.client.timezone)


def render_status(data: dict[str, Any], config: config_mod.Config) -> str:
    """`status` for a person: moments in the team's zone (daemon.timezone), named once; deadlines as _due."""
    projects, zone = {p.id: p for p in config.projects}, zoneinfo.ZoneInfo(config.timezone)

    def moment(iso: str) -> str:  # the stored moments carry the offset they were written in: one zone for all
        return f"{dt.datetime.fromisoformat(iso).astimezone(zone):%Y-%m-%d %H:%M}"

    lines = [f"last pass: {moment(data['last_pass']) if data['last_pass'] else 'never'} ({config.timezone})"]
    if not data["daemons"]:
        lines.append("daemons: none running")
    for d in data["daemons"]:
        lines.append(f"daemon #{d['id']} on {d['host']} (pid {d['pid']}), seen {moment(d['last_seen'])}: "
                     f"{', '.join(d['holds']) or 'holds nothing'}")
    for name, s in data["servers"].items():
        lines.append(f"  {name:<7} {'ok  ' if s['ok'] else 'DOWN'}  {s['detail']}")
    pages = [p for p in data["projects"] if p["client_page"]]
    if pages:
        lines.append("client pages:")
        lines += [f"  {p['id']}: {p['client_page']}" for p in pages]
    lines.append("milestones:")
    for m in data["milestones"]:
        risk = f"P(miss) {m['p_miss']:.0%}" if m["p_miss"] is not None else "no forecast"
        due = _due(m["deadline"], projects.get(m["project"]))
        lines.append(f"  {m['project']}/{m['name']}: due {due}, {m['state']}, "
                     f"{m['done_percent'] if m['done_percent'] is not None else '?'}% — P50 {m['p50'] or '-'}, "
                     f"P80 {m['p80'] or '-'}, {risk}" + (f", promised {m['promised']}" if m["promised"] else "")
                     + (", RISK ALERT to the manager" if m["alert"] else ""))
        if m["reason"]:
            lines.append(f"      {m['reason']}")
    lines.append("notices:")
    for n in data["notices"]:
        about = f"{n['project']}/{n['uid']}" if n["uid"] else n["project"]  # a check-in is about the project
        lines.append(f"  #{n['id']} {n['kind']:<9} {n['state']:<8} {about} to {n['to']} "
                     f"created {moment(n['created'])}" + (f", sent {moment(n['sent'])}" if n["sent"] else ""))
    return "\n".join(lines) + "\n"


def resolve_milestone(store: Milestones, ref: str) -> tuple[str, str]:
    """MILESTONE: a UID, PROJECT/UID, PROJECT/name, or a name unique across projects."""
    from deadlinewatch.core.notes import fold

    ms = [m for m in store.milestones() if m.state != "cancelled"]
    project, _, rest = ref.partition("/")
    candidates = [m for m in ms if m.uid == ref]
    if not candidates and rest:
        candidates = [m for m in ms if m.project == project and (m.uid == rest or fold(m.name) == fold(rest))]
    if not candidates:
        candidates = [m for m in ms if fold(m.name) == fold(ref)]
    if len(candidates) == 1:
        return candidates[0].project, candidates[0].uid
    if not candidates:
        raise UsageError(f'no milestone "{ref}"; use a UID, PROJECT/UID, PROJECT/name or a unique name')
    listed = "\n".join(f"  {m.project}/{m.uid} ({m.name})" for m in candidates)
    raise UsageError(f'"{ref}" is ambiguous; it could be:\n{listed}')


def preview(config: config_mod.Config, store: StorePort, ref: str, now_text: str | None) -> str:
    """Exactly what would be sent for a milestone now; sends and writes nothing."""
    from deadlinewatch.core import policy
    from deadlinewatch.decisions.evaluation import decide_project, not_told_yet, plan_notice
    from deadlinewatch.stages.evaluation import snapshot
    from deadlinewatch.stages.state import forecaster

    project_id, uid = resolve_milestone(store, ref)
    clock = _clock(config, now_text)
    svc = wiring.services(config, store, clock)  # no server is contacted: only the letters are used
    c = svc.composer
    now = clock.now()
    forecast = forecaster(svc)
    # what the pass's evaluation would decide now, by the same function over the same snapshot
    snap = snapshot(svc, config.project(project_id), now, forecast.spread.history)
    decided = decide_project(c, snap, forecast, now)
    plan = next((p for p in decided.plans if p.messages[0].kind in ("notice", "delivered")
                 and p.messages[0].uid == uid), None)
    out = []
    if plan is None:
        pv = snap.view
        m = next(x for x in pv.milestones if x.uid == uid)
        if (silent := not_told_yet(pv, m, now.astimezone(pv.client_tz).date())) is not None:
            return f"policy would not send now: \"{m.name}\" is {silent}\n"
        f = next((x for x in decided.forecasts if x.uid == uid), None)
        why = "private milestone: never shown to the client" if m.private else f.reason if f else "closed"
        out.append(f"policy would not send now ({why}); this is what a notice would say:\n\n")
        # the notice as the policy would make it once due: the same date, never the deadline's own day
        decision = policy.replan(m, f, c.workdays, pv.agreed(m), c.client_days(pv.project),
                                 today=now.astimezone(c.team_tz).date())
        plan = plan_notice(c, pv, m, decision, now, forecast.spread.history)
    for i, message in enumerate(plan.messages):
        if i:
            out.append(f"\n----- sent with it, message {i + 1} of {len(plan.messages)} -----\n\n")
        out.append(readable(message.message))
    return "".join(out)


def readable(raw: bytes) -> str:
    """A message as a person reads it: every header decoded, then each part (text, HTML, calendar data) decoded
    under a line naming it. What is sent is the same message, encoded for the wire."""
    msg = message_from_bytes(raw, policy=default_policy)
    lines = [f"{name}: {value}" for name, value in msg.items() if name.lower() != "content-type" or
             not msg.is_multipart()]
    for part in msg.walk():
        if part.is_multipart():
            continue
        label = part.get_content_type()
        if label == "text/calendar":
            label += f"; method={part.get_param('method')}"
        if part.get_filename():
            label += f"; {part.get_filename()}"
        content = part.get_content()
        text = content if isinstance(content, str) else content.as_string() if hasattr(content, "as_string") \
            else f"({len(content)} bytes)"
        lines += ["", f"--- {label} ---", text.rstrip("\n")]
    return "\n".join(lines) + "\n"


def rotate_page(store: WebState, config: config_mod.Config, project: str) -> str:
    """`rotate-page PROJECT`: the project's client page (and feed) under a new random token; the old address
    answers 404 at once (the pages read the token from the state on every request)."""
    known = {p.id.lower(): p.id for p in config.projects}
    if project.lower() not in known:
        raise UsageError(f'no project "{project}"; the projects are: {", ".join(sorted(known.values()))}')
    token = store.rotate_page_token(known[project.lower()])
    where = f"{config.web.base_url.rstrip('/')}/p/{token}/" if config.web.base_url else f"/p/{token}/"
    note = "" if config.web.listen else " (the pages are served when [web] listen is set)"
    return (f"{known[project.lower()]}: the client page is now {where}{note}; the old address answers 404. Send the "
            "client the new link (the next letter carries it).\n")


def decide(store: StorePort, notice_ref: str, approve: bool, config: config_mod.Config, now_text: str | None,
           decided_by: str = "cli", date: dt.date | None = None) -> str:
    """`approve`/`reject`, and the web pages' buttons: the manager's decision on a held notice, with who made it.
    With `date`, the notice is composed again for that date and approved (decisions/approval.py)."""
    try:
        notice_id = int(notice_ref)
    except ValueError:
        raise DeadlinewatchError(f'"{notice_ref}" is not a notice id (a number, see `status`)') from None
    item = store.outbox_item(notice_id)
    if item is None or item.audience != "client":
        raise DeadlinewatchError(f"no notice #{notice_id}")
    if item.state != "held":
        raise DeadlinewatchError(f"notice #{notice_id} is {item.state}, not held: nothing to decide")
    if item.parent is not None:  # decided alone, it told the client a date moved with no notice saying why
        raise UsageError(f"#{notice_id} ({item.kind}) goes out with notice #{item.parent} and is decided with it: "
                         f"approve or reject #{item.parent}")
    from deadlinewatch.stages.state import view

    clock = _clock(config, now_text)
    refused = cannot_go(item, view(store, config.project(item.project)), clock.now()) \
        if approve and item.project and item.project in {p.id for p in config.projects} else None
    if refused is not None:
        raise Refused(refused.command.format(id=notice_id), refused.refused)
    if date is not None and approve:
        return _approve_with_date(store, item, date, config, clock, decided_by)
    if store.carry_out([DecideHeld(notice_id, approve, decided_by)], clock.now()).refused:
        raise DeadlinewatchError(f"notice #{notice_id} is {item.state}, not held: nothing to decide")
    if not approve and item.kind == "reinstate":  # what the client then holds (the mail answer says it too)
        return (f"notice #{notice_id} rejected: the client keeps holding the milestone cancelled (its page and "
                "calendar leave it out, and it gets no news) until a letter saying it is back goes out; one is "
                "drafted again once its date moves in the team calendar, and the client is told once it is "
                "delivered\n")
    return f"notice #{notice_id} {'approved: it goes out on the next pass' if approve else 'rejected'}\n"


def _approve_with_date(store: StorePort, item: OutboxItem, date: dt.date, config: config_mod.Config,
                       clock: FixedClock | SystemClock, decided_by: str) -> str:
    from deadlinewatch.decisions.approval import with_date
    from deadlinewatch.stages.state import forecaster, record, view

    if item.project is None or item.project not in {p.id for p in config.projects}:
        raise DeadlinewatchError(f"notice #{item.id} belongs to no configured project")
    svc = wiring.services(config, store, clock)  # no server is contacted: only the letters are used
    forecast = forecaster(svc)
    now = clock.now()
    pv = view(store, config.project(item.project))
    plan = with_date(svc.composer, pv, item, date, forecast, forecast.spread.history, now, decided_by)
    (new_id,) = record(store, svc.composer, [plan.group()], now).ids
    return (f"notice #{item.id} approved with the date {date.isoformat()}: composed again for it as #{new_id}, "
            "which goes out on the next pass\n")
