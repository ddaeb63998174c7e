"""The commands of CONTRACT.md; the one place an error becomes a message (its exit code: errors.exit_code)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import logging
import os
import sys
import traceback
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from deadlinewatch import __version__
from deadlinewatch import config as config_mod
from deadlinewatch.adapters.clock import Clock, FixedClock, ShiftedClock, SystemClock, parse_now
from deadlinewatch.adapters.store import StateLock, StorePort
from deadlinewatch.adapters.store.engine import open_state
from deadlinewatch.config.loading import DEFAULT_CONFIG_PATH
from deadlinewatch.config.starter import starter_config
from deadlinewatch.coordination import running
from deadlinewatch.errors import DeadlinewatchError, LoginRefused, ServerError, StateError, UsageError, exit_code

if TYPE_CHECKING:
    from deadlinewatch.services import PassReport, Services

# the commands import what they use (wiring: the adapters and letters, ~0.15 s) so that `run` reaches READY
# without it and `status` or `approve` answer fast
log = logging.getLogger("deadlinewatch")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message}\n{self.format_usage().strip()}")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="deadlinewatch", description="Tells a client, early and well, that a deadline will slip.")
    p.add_argument("-c", "--config", help="config file (default $DEADLINEWATCH_CONFIG, then "
                                          f"{DEFAULT_CONFIG_PATH})")
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
    sub.choices["approve"].add_argument(
        "--date", type=_iso_date, help="send it with this new date (YYYY-MM-DD) instead of the forecast's: the "
        "letter, offer and calendar data are composed again for it; it must be after the deadline")
    s = sub.add_parser("rotate-page", help="give a project's client page and feed a new address")
    s.add_argument("project")
    s = sub.add_parser("replay", help="score the forecaster on a replay file")
    s.add_argument("file")
    s.add_argument("--json", action="store_true")
    s.add_argument("--trace")
    s = sub.add_parser("demo", help="the whole loop on local servers it starts itself")
    s.add_argument("--out", default="demo-out")
    s = sub.add_parser("web-password", help="write the argon2 hash of a password (read from stdin) for "
                       "web.password_file")
    s.add_argument("--out", required=True, help="the file to write (mode 0600)")
    s = sub.add_parser("login", help='OAuth 2.0 sign-in (device authorization) for a server with auth = "oauth2"')
    s.add_argument("server", choices=("imap", "smtp", "caldav"))
    s.add_argument("--print", action="store_true", dest="print_token",
                   help="write the refresh token to stdout (for LoadCredential=) instead of the state directory")
    s = sub.add_parser("copy-state", help="copy the SQLite state into an empty PostgreSQL database (daemon.database)")
    s.add_argument("url", help="postgresql://USER@HOST:PORT/DBNAME; the password from $CREDENTIALS_DIRECTORY/database, "
                               "daemon.database_password_file or PGPASSWORD")
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
    return args.config or os.environ.get("DEADLINEWATCH_CONFIG") or DEFAULT_CONFIG_PATH


def make_clock(args: argparse.Namespace, timezone: str, ticking: bool) -> Clock:
    now = parse_now(args.now, timezone)
    if now is None:
        return SystemClock()
    return ShiftedClock(now) if ticking else FixedClock(now)


# --- commands --------------------------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace) -> int:
    text = starter_config()
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
    from deadlinewatch import wiring
    config = config_mod.load(config_path(args))
    wiring.letters(config)
    print(f"{config.path}: valid ({len(config.projects)} projects, {len(config.team.members)} team members)")
    if not args.connect:
        return 0
    return asyncio.run(_connect_all(wiring.signed_in(config)))


async def _connect_all(config: config_mod.Config) -> int:
    from deadlinewatch import wiring
    from deadlinewatch.adapters.mailer import SmtpMailer

    checks: dict[str, Callable[[], Awaitable[str]]] = {
        "caldav": lambda: asyncio.to_thread(wiring.caldav_calendar(config).check),
        "imap": lambda: asyncio.to_thread(_imap_check, config),
        "smtp": lambda: SmtpMailer(wiring.smtp_settings(config)).check(),
    }
    failed: list[DeadlinewatchError] = []
    for name, check in checks.items():
        try:
            print(f"{name}: {await check()}")
        except (LoginRefused, ServerError) as e:
            print(f"{name}: {e}", file=sys.stderr)
            failed.append(e)
    return exit_code(*failed)


def _imap_check(config: config_mod.Config) -> str:
    from deadlinewatch import wiring
    from deadlinewatch.adapters.mailbox import ImapMailbox

    mailbox = ImapMailbox(wiring.imap_settings(config))
    try:
        return mailbox.check()
    finally:
        mailbox.close()


def cmd_once(args: argparse.Namespace) -> int:
    from deadlinewatch import wiring
    from deadlinewatch.pipeline import run_pass

    config = config_mod.load(config_path(args))
    setup_logging(config.daemon.log_level, args.debug)
    config.state_dir.mkdir(parents=True, exist_ok=True)
    lock = StateLock(config.state_dir)
    lock.acquire()
    store = open_state(config.state_dir, config.daemon.database, config.accounts.get("database"))
    try:
        # a shared state: no lock on this machine keeps out the daemons on others; their heartbeats say they run
        if alive := running(config.daemon.database, store, config.daemon.poll_seconds):
            raise StateError(f"daemon.database is in use by {len(alive)} running daemon(s) ("
                             + ", ".join(f"#{d.id} on {d.host}" for d in alive)
                             + "); `once` does not run beside them: use status, approve, reject, preview")
        svc = wiring.services(config, store, make_clock(args, config.timezone, ticking=False))
        report = asyncio.run(_pass_holding_every_part(svc) if config.daemon.database else run_pass(svc))
    finally:
        store.close()
        lock.release()
    for line in report.events:
        print(line)
    for line in report.problems:
        print(f"problem: {line}", file=sys.stderr)
    # the pass finished what it could: a refused login and a server that was down are what it met
    return exit_code(*(kind for kind, met in ((LoginRefused, report.refused), (ServerError, report.unavailable))
                       if met))


async def _pass_holding_every_part(svc: Services[StorePort]) -> PassReport:
    """`once` over a shared state: the pass runs holding every part of the work, as a daemon registered beside the
    others, each step's writes checked against its part's lease. A daemon that starts, or wakes from a pause,
    while it runs finds every part taken — it sends nothing `once` is sending (it had taken the outbox, found
    `once`'s message on its way with no archive copy yet, and sent it again). A part a daemon holds (one paused
    within its lease) is waited for a lease's time, then `once` refuses."""
    import time

    from deadlinewatch.coordination import PARTS
    from deadlinewatch.daemon import shared_coordination
    from deadlinewatch.pipeline import run_pass

    shared, pool = shared_coordination(svc.config, every_part=True)
    stop = asyncio.Event()
    keeper = asyncio.create_task(shared.keep(stop, lambda: None))
    try:
        until = time.monotonic() + 2 * shared.ttl.total_seconds()
        while set(shared.holding()) != set(PARTS.values()):
            if keeper.done() or time.monotonic() > until:
                held = ", ".join(f"#{d.id} on {d.host} ({', '.join(d.holds)})" for d in shared.daemons()
                                 if d.holds and (shared.daemon is None or d.id != shared.daemon.id))
                raise StateError(f"daemon.database: a daemon holds part of the work ({held or 'unknown'}); `once` "
                                 "does not run beside a daemon: use status, approve, reject, preview")
            await asyncio.sleep(0.1)
        return await run_pass(svc, shared.lease)
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await keeper
        pool.close()


def cmd_run(args: argparse.Namespace) -> int:
    from deadlinewatch import daemon

    path = config_path(args)
    config = config_mod.load(path)
    setup_logging(config.daemon.log_level, args.debug)

    async def main() -> None:
        await daemon.run(path, make_clock(args, config.timezone, ticking=True), asyncio.Event())

    asyncio.run(main())
    # stopped in order (the store closed, the lock released, "stopped" logged): the process ends here, without the
    # interpreter's teardown, whose sweeps of the cycle collector over everything the daemon held took seconds —
    # systemd's stop, and a restart, waited on them
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _open_store(config: config_mod.Config) -> StorePort:
    return open_state(config.state_dir, config.daemon.database, config.accounts.get("database"), existing=True)


def _manage(args: argparse.Namespace, command: str, **params: Any) -> int:
    """status, preview, approve, reject: through the running daemon's control socket when there is one (it is
    the one writer), else on the store directly."""
    from deadlinewatch import control, manage

    config = config_mod.load(config_path(args))
    params["now"] = args.now
    answer = control.ask(config, {"command": command, **params})
    if answer is None:
        store = _open_store(config)
        try:
            answer = manage.handle(config, store, {"command": command, **params},
                                   daemons=lambda: running(config.daemon.database, store, config.daemon.poll_seconds))
            if command in ("approve", "reject") and answer.get("exit") == 0 and config.daemon.database:
                _wake_daemons(store, ("evaluator", "outbox"))
        finally:
            store.close()
    if answer.get("stdout"):
        sys.stdout.write(answer["stdout"])
    if answer.get("error"):
        print(f"deadlinewatch: {answer['error']}", file=sys.stderr)
    return int(answer.get("exit", 1))


def _wake_daemons(store: StorePort, workers: Sequence[str]) -> None:
    """A decision made on the shared state from a machine with no daemon: the daemons' workers that act on it are
    woken at once over the database's channel, as one made through a daemon's control socket wakes its own (it
    waited for the outbox holder's next poll, up to poll_seconds). Unheard, it goes at that poll all the same."""
    from deadlinewatch.adapters.store.postgres.store import PostgresStore
    from deadlinewatch.coordination import wake

    if isinstance(store, PostgresStore):
        with contextlib.suppress(Exception):
            wake(store.pool, workers)  # from no daemon: to all


def cmd_status(args: argparse.Namespace) -> int:
    return _manage(args, "status", json=args.json)


def cmd_preview(args: argparse.Namespace) -> int:
    return _manage(args, "preview", milestone=args.milestone)


def cmd_decide(args: argparse.Namespace, approve: bool) -> int:
    date = getattr(args, "date", None)
    return _manage(args, "approve" if approve else "reject", notice_id=args.notice_id,
                   **({"date": date.isoformat()} if date else {}))


def _iso_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date as YYYY-MM-DD, e.g. 2026-12-11") from None


def cmd_rotate_page(args: argparse.Namespace) -> int:
    return _manage(args, "rotate-page", project=args.project)


DEMO_SERVERS = ("radicale", "pymap", "aiosmtpd")  # the servers the demo starts itself: the [demo] extra


def cmd_demo(args: argparse.Namespace) -> int:
    import importlib.util

    from deadlinewatch.demo import story

    if missing := [name for name in DEMO_SERVERS if importlib.util.find_spec(name) is None]:
        raise UsageError(f"the demo starts its own calendar, mail and SMTP servers, which are not installed "
                         f"({', '.join(missing)}): install deadlinewatch with its demo extra — pip install "
                         "'deadlinewatch[demo]', or 'PATH/TO/deadlinewatch-….whl[demo]' — the daemon itself needs "
                         "none of them")
    setup_logging("warning", args.debug)
    return story.main(Path(args.out), args.now)


def cmd_replay(args: argparse.Namespace) -> int:
    from deadlinewatch import replay
    from deadlinewatch.config.loading import load_policy

    policy_section = None
    path = args.config or os.environ.get("DEADLINEWATCH_CONFIG")
    if path:
        policy_section = load_policy(path)  # its [policy] alone: replay needs no server, secret or project
    return replay.main(Path(args.file), policy_section, as_json=args.json, trace=args.trace)


def cmd_login(args: argparse.Namespace) -> int:
    """The sign-in of one server account — the device authorization grant, or a browser with PKCE — and its
    refresh token kept (or printed)."""
    from deadlinewatch import wiring
    from deadlinewatch.adapters.oauth import browser_login, device_login
    from deadlinewatch.errors import ConfigError

    config = config_mod.load(config_path(args))
    account = config.accounts[args.server]
    if account.oauth is None:
        raise UsageError(f'{args.server}.auth is "password": set {args.server}.auth = "oauth2" and its '
                         f"{args.server}.oauth2 table first")
    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    if account.oauth.device_authorization_url:
        token = device_login(args.server, account.oauth, say)
    else:
        token = browser_login(args.server, account.oauth, say, sys.stdin.readline)
    refresh = str(token.get("refresh_token") or "")
    if not refresh:
        raise LoginRefused(f"{args.server}: the provider gave no refresh token (ask for offline access: "
                           f"{args.server}.oauth2.scopes)")
    if args.print_token:
        print(refresh)
        print(f"signed in; put the line above in the file LoadCredential={args.server}-refresh-token:… names",
              file=sys.stderr)
        return 0
    store = wiring.refresh_tokens(config, args.server)
    try:
        store.write(refresh)
    except ConfigError:  # the sign-in ends with this process: where the token could not go, and why
        raise ConfigError(
            f"{args.server}: signed in, but the refresh token could not be saved to {store.path} "
            f"({store.save_error}): make {store.path.parent} writable for this user and run "
            f"`deadlinewatch login {args.server}` again, or keep the token outside the state with "
            f"`deadlinewatch login {args.server} --print`") from None
    print(f"signed in {args.server} as {account.username}; the refresh token is in {store.path} (mode 0600)")
    return 0


def cmd_web_password(args: argparse.Namespace) -> int:
    """The manager's web password: read from the terminal (asked twice) or from stdin, its argon2 hash written."""
    import getpass

    from deadlinewatch.web.signin import write_password_file

    if sys.stdin.isatty():
        password = getpass.getpass("password for the web pages: ")
        if getpass.getpass("again: ") != password:
            raise UsageError("the two passwords differ; nothing was written")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    write_password_file(args.out, password)
    print(f'the hash is in {args.out} (mode 0600); set web.password_file = "{args.out}"', file=sys.stderr)
    return 0


def cmd_copy_state(args: argparse.Namespace) -> int:
    from deadlinewatch.adapters.store.postgres.connection import connect, database_password, describe
    from deadlinewatch.adapters.store.postgres.copy import copy_state

    config = config_mod.load(config_path(args))
    account = config.accounts.get("database")
    with connect(args.url, account.password if account else database_password(), autocommit=True) as conn:
        copied = copy_state(config.state_dir, conn, args.url)
    for c in copied:
        print(f"{c.table}: {c.rows} rows")
    print(f"copied into {describe(args.url)}; set daemon.database to it and start the daemons", file=sys.stderr)
    return 0


COMMANDS = {
    "init": cmd_init, "check-config": cmd_check_config, "once": cmd_once, "run": cmd_run, "status": cmd_status,
    "preview": cmd_preview, "approve": lambda a: cmd_decide(a, True), "reject": lambda a: cmd_decide(a, False),
    "rotate-page": cmd_rotate_page, "demo": cmd_demo, "replay": cmd_replay, "login": cmd_login,
    "web-password": cmd_web_password, "copy-state": cmd_copy_state,
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
        return exit_code(e)
    except (KeyboardInterrupt, SystemExit) as e:  # SystemExit: argparse --help / --version
        return exit_code(e)
    except Exception as e:  # the last resort: one readable paragraph, the traceback only with --debug
        if debug:
            traceback.print_exc()
        print(f"deadlinewatch: internal error: {type(e).__name__}: {e} (run with --debug for details)",
              file=sys.stderr)
        return exit_code(e)
