"""The code's walk: one note, from the IMAP fetch to the client's notice leaving by SMTP, as a reader follows it.

Real servers on 127.0.0.1 (Radicale, Dovecot, an SMTP sink), one project of three milestones, approval auto. A
first pass syncs the calendar and sends the introduction; then a note that tips the first milestone into a miss
("Remaining: 15 days", ten days before its deadline) is delivered, and the inbox, evaluation and outbox steps
run under a profiler hook that records every function of the package as it is first entered (templates left
out: a reader opens them, but they hold words, not steps).

The walk is that list of functions, in the order first entered, up to the SMTP adapter's (comprehensions,
lambdas and the methods a dataclass generates left out); with --depth N, only the functions at most N calls below
a step's own (what a reader opens following the calls from the step down). A **step** is a move from one module
to another along it (consecutive functions of one module are one stop); a **climb back** is a step into a module
the walk had already left. Issue 29's goal: at most 25 steps with at most 8 climbs back. The figure describes the
code's shape; it is printed, never asserted.

Run: python bench/walk.py [--depth N] [--modules] (--modules prints the walk, function by function).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import tempfile
import types
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from deadlinewatch import config as config_mod
from deadlinewatch import wiring
from deadlinewatch.adapters.clock import FixedClock
from deadlinewatch.adapters.store import Store
from deadlinewatch.demo.servers import CalDAVServer, SmtpSink, write_local_config
from deadlinewatch.pipeline import STEP, run_pass
from deadlinewatch.services import PassReport

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' Dovecot, tests/dovecot.py (not shipped)
from tests.dovecot import DovecotServer

PACKAGE = str(Path(config_mod.__file__).resolve().parents[1])
SKIPPED = ("<genexpr>", "<listcomp>", "<dictcomp>", "<setcomp>", "<lambda>", "__init__", "__eq__", "__hash__",
           "__repr__", "__post_init__", "__setattr__", "__iter__", "__len__", "__bool__")
NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def milestone_ics(uid: str, name: str, due: dt.date) -> str:
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:bench\r\nBEGIN:VTODO\r\nUID:{uid}\r\n"
            f"DTSTAMP:20261101T000000Z\r\nSUMMARY:{name}\r\nDUE;VALUE=DATE:{due:%Y%m%d}\r\n"
            "END:VTODO\r\nEND:VCALENDAR\r\n")


def tipping_note() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Alice <alice@studio.example>"
    msg["To"] = "progress@studio.example"
    msg["Subject"] = "[acme-web] progress"
    msg["Date"] = format_datetime(NOW)
    msg["Message-ID"] = make_msgid(idstring="walk", domain="studio.example")
    msg.set_content("Milestone: Design mockups\nDone: 40%\nRemaining: 15 days\n"
                    "Cause: the review round took a week longer\nPlan: a second designer joins on Monday\n")
    return msg.as_bytes()


def package_depth(frame: types.FrameType) -> int:
    """How many of the package's functions are below this one on the stack, the step's own entry (pipeline) not
    counted: 0 for the step's own function (read_inbox, evaluate_all, deliver), 1 for what it calls, …"""
    depth, caller = 0, frame.f_back
    while caller is not None:
        if caller.f_code.co_filename.startswith(PACKAGE) and caller.f_code.co_filename.endswith(".py"):
            depth += 1
        caller = caller.f_back
    return depth


class Walk:
    """The package's functions in the order first entered, while installed as the profiler hook."""

    def __init__(self, depth: int | None = None) -> None:
        self.depth = depth
        self.functions: list[tuple[str, str]] = []
        self._seen: set[types.CodeType] = set()

    def __call__(self, frame: types.FrameType, event: str, _arg: object) -> None:
        code = frame.f_code
        if event != "call" or code in self._seen:
            return
        if self.depth is not None and package_depth(frame) > self.depth:
            return  # deeper than the reader opens: seen again at a shallower depth, it still counts
        self._seen.add(code)
        if code.co_filename.startswith(PACKAGE) and code.co_filename.endswith(".py") and code.co_name not in SKIPPED:
            module = code.co_filename[len(PACKAGE) + 1:].removesuffix(".py").replace("/", ".")
            self.functions.append((module, code.co_qualname))

    def until_sent(self) -> list[tuple[str, str]]:
        """The walk up to the last function of the SMTP adapter: what follows (the client calendars) is not on a
        note's way to the client's notice."""
        sent = [i for i, (module, _) in enumerate(self.functions) if module == "adapters.mailer"]
        return self.functions[:sent[-1] + 1] if sent else self.functions

    def stops(self) -> list[str]:
        stops: list[str] = []
        for module, _ in self.until_sent():
            if not stops or stops[-1] != module:
                stops.append(module)
        return stops


async def traced_steps(svc: object, walk: Walk) -> PassReport:
    report = PassReport()
    sys.setprofile(walk)
    try:
        for name in ("inbox", "evaluator", "outbox"):
            await STEP[name].run(svc, report)  # type: ignore[arg-type]  # svc: the Services the wiring built
    finally:
        sys.setprofile(None)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modules", action="store_true", help="print the walk: each function with its module")
    parser.add_argument("--depth", type=int, help="only functions at most this deep below a step's entry")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="dw-bench-walk-"))
    folder.chmod(0o755)
    caldav = CalDAVServer(folder / "radicale", kind="radicale")
    dovecot = DovecotServer(folder / "dovecot")
    sink = SmtpSink(local_address="progress@studio.example")
    try:
        dovecot.start()
        caldav.start()
        sink.start()
        cal = caldav.make_calendar("acme-web")
        for uid, name, due in (("design", "Design mockups", dt.date(2026, 12, 11)),
                               ("build", "Build", dt.date(2027, 1, 15)),
                               ("launch", "Launch", dt.date(2027, 2, 1))):
            caldav.put(cal, uid, milestone_ics(uid, name, due))
        config_path = write_local_config(folder / "dw.toml", caldav_url=caldav.url, imap_port=dovecot.port,
                                         smtp_port=sink.port, holidays="")
        config = config_mod.load(config_path)
        store = Store.open(config.state_dir)
        svc = wiring.services(config, store, FixedClock(NOW))
        asyncio.run(run_pass(svc))  # the calendar synced, the introduction sent: what the walk does not cover
        before = len(sink.messages)
        dovecot.seed("progress", [tipping_note()])
        walk = Walk(args.depth)
        asyncio.run(traced_steps(svc, walk))
        store.close()
        kinds = [line.split(b":", 1)[1].strip().decode() for _, _, raw in sink.messages[before:]
                 for line in raw.splitlines() if line.startswith(b"X-Deadlinewatch-Kind:")]
        if "notice" not in kinds:
            print(f"PROBLEM: no client notice left by SMTP (sent: {kinds})")
            sys.exit(1)
        stops = walk.stops()
        climbs = sum(1 for i, module in enumerate(stops) if module in stops[:i])
        print("one note, IMAP fetch → the client's notice accepted by SMTP (inbox, evaluation, outbox steps)")
        print(f"  sent in the walk: {', '.join(kinds)}")
        print(f"  functions entered:         {len(walk.until_sent()):4d}")
        print(f"  modules:                   {len(set(stops)):4d}")
        print(f"  steps (module to module):  {len(stops) - 1:4d}   (goal: at most 25)")
        print(f"  climbs back:               {climbs:4d}   (goal: at most 8)")
        if args.modules:
            for module, function in walk.until_sent():
                print(f"    {module:32s} {function}")
    finally:
        sink.stop()
        caldav.stop()
        dovecot.stop()


if __name__ == "__main__":
    main()
