"""The commands of CONTRACT.md; the one place an error becomes a message and an exit code."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import os
import sys
import traceback
import zoneinfo
from collections.abc import Sequence
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from deadlinewatch import __version__, wiring
from deadlinewatch import config as config_mod
from deadlinewatch.adapters.clock import Clock, FixedClock, ShiftedClock, SystemClock
from deadlinewatch.adapters.store import StateLock, Store
from deadlinewatch.errors import (
    EX_UNAVAILABLE,
    EX_USAGE,
    DeadlinewatchError,
    LoginRefused,
    ServerError,
    UsageError,
)

log = logging.getLogger("deadlinewatch")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message}\n{self.format_usage().strip()}")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="deadlinewatch", description="Tells a client, early and well, that a deadline will slip.")
    p.add_argument("-c", "--config", help="config file (default $DEADLINEWATCH_CONFIG, then "
                                          f"{config_mod.DEFAULT_CONFIG_PATH})")
    p.add_argument("--now", help="the clock for this command (ISO 8601; without an offset: daemon.timezone)")
    p.add_argument("--debug", action="store_true", help="tracebacks and debug logging")
    p.add_argument("--version", action="version", version=f"deadlinewatch {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    s = sub.add_parser("init", help="write a commented starter config")
    s.add_argument("--out", help="where to write it (default: the --config path; '-' for stdout)")
    sub.add_parser("run", help="the daemon")
    sub.add_parser("once", help="one full pass, then exit")
    s = sub.add_parser("status", help="servers, last pass, milestones, notices")
    s.add_argument("--json", action="store_true")
    s = sub.add_parser("check-config", help="validate the config file")
    s.add_argument("--connect", action="store_true", help="also log in to each server")
    s = sub.add_parser("preview", help="print the client notice that would be sent now")
    s.add_argument("milestone")
    for name in ("approve", "reject"):
        s = sub.add_parser(name, help=f"{name} a held notice")
        s.add_argument("notice_id")
    s = sub.add_parser("replay", help="score the forecaster on a replay file")
    s.add_argument("file")
    s.add_argument("--json", action="store_true")
    s.add_argument("--trace")
    s = sub.add_parser("demo", help="the whole loop on local servers it starts itself")
    s.add_argument("--out", default="demo-out")
    return p


def setup_logging(level: str, debug: bool) -> None:
    # journald adds its own timestamps; a terminal gets them from us
    fmt = "%(levelname)s %(name)s: %(message)s" if os.environ.get("JOURNAL_STREAM") else \
        "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=logging.DEBUG if debug else getattr(logging, level.upper(), logging.INFO),
                        format=fmt, stream=sys.stderr, force=True)
    for noisy in ("caldav", "niquests", "urllib3", "urllib3_future", "imapclient", "mail.log", "aiosmtpd"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if debug else logging.ERROR)


def config_path(args: argparse.Namespace) -> str:
    return args.config or os.environ.get("DEADLINEWATCH_CONFIG") or config_mod.DEFAULT_CONFIG_PATH


def parse_now(text: str | None, timezone: str) -> dt.datetime | None:
    """`--now`: ISO 8601; without an offset it is in `timezone`; a bare date means 00:00."""
    if text is None:
        return None
    try:
        if len(text) == 10:
            moment = dt.datetime.combine(dt.date.fromisoformat(text), dt.time(0))
        else:
            moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f'--now "{text}": expected an ISO 8601 date or time, e.g. 2026-12-01T09:00') from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zoneinfo.ZoneInfo(timezone))
    return moment


def make_clock(args: argparse.Namespace, timezone: str, ticking: bool) -> Clock:
    now = parse_now(args.now, timezone)
    if now is None:
        return SystemClock()
    return ShiftedClock(now) if ticking else FixedClock(now)


# --- commands --------------------------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace) -> int:
    text = config_mod.starter_config()
    out = args.out or config_path(args)
    if out == "-":
        sys.stdout.write(text)
        return 0
    path = Path(out)
    if path.exists():
        raise DeadlinewatchError(f"{path} already exists; not overwriting it (use --out to write elsewhere)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {path}. Fill in [caldav], [imap], [smtp], [team] and one [[projects]] entry per client project;")
    print("put the passwords in files (password_file) or systemd credentials, then run:")
    print(f"  deadlinewatch --config {path} check-config --connect")
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    config = config_mod.load(config_path(args))
    wiring.letters(config)
    print(f"{config.path}: valid ({len(config.projects)} projects, {len(config.team['members'])} team members)")
    if not args.connect:
        return 0
    return asyncio.run(_connect_all(config))


async def _connect_all(config: config_mod.Config) -> int:
    from deadlinewatch.adapters.mailer import SmtpMailer

    checks = {
        "caldav": lambda: asyncio.to_thread(wiring.caldav_calendar(config).check),
        "imap": lambda: asyncio.to_thread(_imap_check, config),
        "smtp": lambda: SmtpMailer(wiring.smtp_settings(config)).check(),
    }
    code = 0
    for name, check in checks.items():
        try:
            print(f"{name}: {await check()}")
        except LoginRefused as e:
            print(f"{name}: {e}", file=sys.stderr)
            code = max(code, e.exit_code)
        except ServerError as e:
            print(f"{name}: {e}", file=sys.stderr)
            code = code or EX_UNAVAILABLE
    return code


def _imap_check(config: config_mod.Config) -> str:
    from deadlinewatch.adapters.mailbox import ImapMailbox

    mailbox = ImapMailbox(wiring.imap_settings(config))
    try:
        return mailbox.check()
    finally:
        mailbox.close()


def cmd_once(args: argparse.Namespace) -> int:
    from deadlinewatch.cycle import run_pass

    config = config_mod.load(config_path(args))
    setup_logging(config.daemon["log_level"], args.debug)
    config.state_dir.mkdir(parents=True, exist_ok=True)
    lock = StateLock(config.state_dir)
    lock.acquire()
    store = Store.open(config.state_dir)
    try:
        svc = wiring.services(config, store, make_clock(args, config.timezone, ticking=False))
        report = asyncio.run(run_pass(svc))
    finally:
        store.close()
        lock.release()
    for line in report.events:
        print(line)
    for line in report.problems:
        print(f"problem: {line}", file=sys.stderr)
    if report.refused:
        return 78
    return EX_UNAVAILABLE if report.unavailable else 0


def cmd_run(args: argparse.Namespace) -> int:
    from deadlinewatch import daemon

    path = config_path(args)
    config = config_mod.load(path)
    setup_logging(config.daemon["log_level"], args.debug)

    async def main() -> None:
        await daemon.run(path, make_clock(args, config.timezone, ticking=True), asyncio.Event())

    asyncio.run(main())
    return 0


def _open_store_readonly(config: config_mod.Config) -> Store:
    if not (config.state_dir / "deadlinewatch.sqlite3").exists():
        raise DeadlinewatchError(f"no state in {config.state_dir} yet: run `deadlinewatch once` first")
    return Store.open(config.state_dir)


def status_data(config: config_mod.Config, store: Store) -> dict[str, Any]:
    from deadlinewatch.services import effective_state

    last = store.last_pass()
    servers = store.servers()
    data: dict[str, Any] = {
        "last_pass": last["finished"] if last else None,
        "servers": {name: servers.get(name, {"ok": False, "detail": "not contacted yet"})
                    for name in ("caldav", "imap", "smtp")},
        "milestones": [],
        "notices": [],
    }
    for m in store.milestones():
        reports = store.reports(m.project, m.uid)
        state = effective_state(m, reports)
        if state == "cancelled":
            continue
        f = store.forecast(m.project, m.uid) if state == "open" else None
        cd = store.client_date(m.project, m.uid)
        latest = reports[-1] if reports else None
        data["milestones"].append({
            "project": m.project, "uid": m.uid, "name": m.name, "deadline": m.deadline.isoformat(),
            "state": state, "done_percent": next((r.done for r in reversed(reports) if r.done is not None), m.percent),
            "last_note": latest.at.isoformat() if latest else None,
            "p50": f.p50.isoformat() if f and f.p50 else None, "p80": f.p80.isoformat() if f and f.p80 else None,
            "p_miss": f.p_miss if f else None, "reason": f.reason if f else ("done" if state == "done" else None),
            "promised": cd.promised.isoformat() if cd and cd.promised else None,
        })
    for item in store.outbox(audience="client"):
        to = message_from_bytes(item.message, policy=default_policy).get("To", "")
        data["notices"].append({
            "id": item.id, "project": item.project, "uid": item.uid, "kind": item.kind, "state": item.state,
            "to": str(to), "created": item.created.isoformat(), "sent": item.sent.isoformat() if item.sent else None,
        })
    return data


def cmd_status(args: argparse.Namespace) -> int:
    config = config_mod.load(config_path(args))
    store = _open_store_readonly(config)
    try:
        data = status_data(config, store)
    finally:
        store.close()
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return 0
    print(f"last pass: {data['last_pass'] or 'never'}")
    for name, s in data["servers"].items():
        print(f"  {name:<7} {'ok  ' if s['ok'] else 'DOWN'}  {s['detail']}")
    print("milestones:")
    for m in data["milestones"]:
        risk = f"P(miss) {m['p_miss']:.0%}" if m["p_miss"] is not None else "no forecast"
        print(f"  {m['project']}/{m['name']}: due {m['deadline'][:16]}, {m['state']}, "
              f"{m['done_percent'] if m['done_percent'] is not None else '?'}% — P50 {m['p50'] or '-'}, "
              f"P80 {m['p80'] or '-'}, {risk}" + (f", promised {m['promised']}" if m["promised"] else ""))
        if m["reason"]:
            print(f"      {m['reason']}")
    print("notices:")
    for n in data["notices"]:
        print(f"  #{n['id']} {n['kind']:<9} {n['state']:<8} {n['project']}/{n['uid']} to {n['to']} "
              f"created {n['created'][:16]}" + (f", sent {n['sent'][:16]}" if n["sent"] else ""))
    return 0


def resolve_milestone(store: Store, ref: str) -> tuple[str, str]:
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


def cmd_preview(args: argparse.Namespace) -> int:
    from deadlinewatch.core import policy
    from deadlinewatch.core.forecast import last_work_day
    from deadlinewatch.core.model import NoticeDecision
    from deadlinewatch.services import forecast_milestone
    from deadlinewatch.stages.clients import plan_notice, view

    config = config_mod.load(config_path(args))
    store = _open_store_readonly(config)
    try:
        project_id, uid = resolve_milestone(store, args.milestone)
        clock = make_clock(args, config.timezone, ticking=False)
        svc = wiring.services(config, store, clock)  # no server is contacted: only the letters are used
        pv = view(svc, config.project(project_id))
        m = next(x for x in pv.milestones if x.uid == uid)
        now = clock.now()
        cd = pv.dates.get(uid)
        f = forecast_milestone(svc, m, pv.reports.get(uid, []), cd, now)
        effective = type(m)(**{**m.__dict__, "state": pv.state(m)})
        promise = policy.Promise(cd.promised if cd else None, cd.delivered_sent if cd else False)
        deadline_day = last_work_day(m.deadline, svc.team_tz)
        decision = policy.decide(effective, f, promise, svc.policy, svc.workdays, deadline_day)
        if decision is None or m.private:
            why = "private milestone: never shown to the client" if m.private else f.reason if f else "closed"
            print(f"policy would not send now ({why}); this is what a notice would say:\n")
            promised = max((policy.promised_date(f) if f else None) or deadline_day, deadline_day)
            decision = NoticeDecision(project_id, uid, "notice", promised,
                                      max(svc.workdays.count(deadline_day, promised), 0), f.reason if f else "")
        plan = plan_notice(svc, pv, m, decision, now)
        for i, message in enumerate(plan.messages):
            if i:
                print(f"\n----- sent with it, message {i + 1} of {len(plan.messages)} -----\n")
            raw = message["message"]
            assert isinstance(raw, bytes)
            sys.stdout.write(raw.decode("utf-8", errors="replace"))
    finally:
        store.close()
    return 0


def cmd_decide(args: argparse.Namespace, approve: bool) -> int:
    config = config_mod.load(config_path(args))
    store = _open_store_readonly(config)
    try:
        try:
            notice_id = int(args.notice_id)
        except ValueError:
            raise DeadlinewatchError(f'"{args.notice_id}" is not a notice id (a number, see `status`)') from None
        item = store.outbox_item(notice_id)
        if item is None or item.audience != "client":
            raise DeadlinewatchError(f"no notice #{notice_id}")
        clock = make_clock(args, config.timezone, ticking=False)
        if not store.decide(notice_id, approve, now=clock.now(), decided_by="cli"):
            raise DeadlinewatchError(f"notice #{notice_id} is {item.state}, not held: nothing to decide")
    finally:
        store.close()
    print(f"notice #{notice_id} {'approved: it goes out on the next pass' if approve else 'rejected'}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from deadlinewatch import demo

    setup_logging("warning", args.debug)
    return demo.main(Path(args.out), args.now)


def cmd_replay(args: argparse.Namespace) -> int:
    from deadlinewatch import replay

    policy_section = None
    path = args.config or os.environ.get("DEADLINEWATCH_CONFIG")
    if path:
        policy_section = config_mod.load(path).policy
    return replay.main(Path(args.file), policy_section, as_json=args.json, trace=args.trace)


COMMANDS = {
    "init": cmd_init, "check-config": cmd_check_config, "once": cmd_once, "run": cmd_run, "status": cmd_status,
    "preview": cmd_preview, "approve": lambda a: cmd_decide(a, True), "reject": lambda a: cmd_decide(a, False),
    "demo": cmd_demo, "replay": cmd_replay,
}


def main(argv: Sequence[str] | None = None) -> int:
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        args = build_parser().parse_args(argv)
        parse_now(args.now, "UTC")  # a bad --now is a usage error for every command, before any work
        if args.command not in ("once", "run", "demo"):
            setup_logging("warning", args.debug)
        return int(COMMANDS[args.command](args))
    except DeadlinewatchError as e:
        if debug:
            traceback.print_exc()
        print(f"deadlinewatch: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except SystemExit as e:  # argparse --help / --version
        return int(e.code or 0) if not isinstance(e.code, str) else EX_USAGE
    except Exception as e:  # the last resort: one readable paragraph, the traceback only with --debug
        if debug:
            traceback.print_exc()
        print(f"deadlinewatch: internal error: {type(e).__name__}: {e} (run with --debug for details)",
              file=sys.stderr)
        return 1
