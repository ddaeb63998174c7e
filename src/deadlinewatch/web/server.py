"""The web pages, served by the daemon in its own event loop (aiohttp's server: it runs inside a loop we
already own, with no second process and no server of its own to supervise). Handlers run on the loop, like
every worker, so they read and write the same store through the daemon: one writer.

  /                      the manager's dashboard (signed in)
  /signin, /signout      the manager's session
  /notices/<id>/approve  the manager's decision, exactly as `approve`/`reject` (POST, CSRF token)
  /api/status            `status --json` (signed in)
  /p/<token>/            the client's page; /p/<token>/timeline.ics its feed
  /static/site.css       the one stylesheet, the icon, and the dashboard's one script (dashboard.js)

Every answer carries a strict Content-Security-Policy (styles from us only; no script at all, but for the
dashboard's one file of ours, static/dashboard.js, which loads the next page in place), no referrer (the client's
link is a secret) and no caching of the manager's pages. A wrong client token and any unknown path get the same
bare 404.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import logging
import zoneinfo
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.utils import format_datetime, parsedate_to_datetime
from http import HTTPStatus
from importlib.resources import files
from typing import TYPE_CHECKING, Any

from aiohttp import web, web_protocol
from markupsafe import Markup

from deadlinewatch import manage
from deadlinewatch.adapters.store import OutboxItem, StorePort
from deadlinewatch.adapters.store.port import WITHDRAWN, replaced_by
from deadlinewatch.coordination import Running
from deadlinewatch.core import timeline
from deadlinewatch.core.forecast import team_date
from deadlinewatch.core.locales import format_moment
from deadlinewatch.core.model import Milestone, Report, TimelineRow
from deadlinewatch.decisions.project_view import agreed_day
from deadlinewatch.errors import ConfigError, DeadlinewatchError, Refused, UsageError
from deadlinewatch.stages.state import promised_dates, view_as_told
from deadlinewatch.web import catalogs, connections, pages, signin
from deadlinewatch.web.fan import FanData, fan_svg

if TYPE_CHECKING:
    from deadlinewatch.services import Services

log = logging.getLogger(__name__)

CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
# the dashboard alone runs a script: our one file (no inline script, no eval), fetching its own next page
DASHBOARD_CSP = CSP + "; script-src 'self'; connect-src 'self'"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY", "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Resource-Policy":
    "same-origin", "Permissions-Policy": "camera=(), microphone=(), geolocation=()", "X-Robots-Tag": "noindex",
}
NOT_FOUND = "Not found\n"
STATIC = {"site.css": "text/css", "icon.svg": "image/svg+xml", "dashboard.js": "text/javascript"}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SERVICES: web.AppKey[Callable[[], Services[StorePort]]] = web.AppKey("services")
DOOR: web.AppKey[connections.Door] = web.AppKey("door")


async def _body_in_time(request: web.Request) -> bool:
    """Read the whole body (64 KiB at most, client_max_size) within BODY_SECONDS, in all however it trickles;
    the handlers then have it at hand (`post()` reads it from memory: the pages send only urlencoded forms)."""
    if not request.body_exists:
        return True
    try:
        async with asyncio.timeout(connections.BODY_SECONDS):
            await request.read()
    except TimeoutError:
        return False
    return True


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Security headers on every answer, errors included; an error's details go to the log, never the page. The
    request's line and headers are in (the door stops their clock); its body must be in within BODY_SECONDS."""
    door = request.app.get(DOOR)
    if door is not None:
        door.received(request.transport)
    try:
        if await _body_in_time(request):
            response = await handler(request)
        else:
            response = web.Response(status=408, text="Request Timeout\n", headers={"Connection": "close"})
            response.force_close()
    except web.HTTPException as e:
        response = web.Response(status=e.status, text=NOT_FOUND if e.status == 404 else f"{e.reason}\n",
                                headers={k: v for k, v in e.headers.items() if k in ("Location", "Allow")})
    except Exception:
        log.exception("web: %s %s failed", request.method, request.path)
        response = web.Response(status=500, text="Something went wrong; the daemon's log says what.\n")
    response.headers.update(SECURITY_HEADERS)
    if response.headers.get("Content-Security-Policy") != DASHBOARD_CSP:  # the one a handler may choose
        response.headers["Content-Security-Policy"] = CSP
    response.headers["Server"] = "deadlinewatch"  # not aiohttp's name and version: nothing to look up for a scanner
    if request.app[SERVICES]().config.web.base_url.startswith("https:"):
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
    response.headers.setdefault("Cache-Control", "no-store")
    return response


class _Connection(web_protocol.RequestHandler):
    """aiohttp's connection, but for a request it cannot even parse (a malformed line or header, headers too large,
    two Content-Lengths): the answer `_guard` gives every other — the status alone, our headers, `Server:
    deadlinewatch` — and not aiohttp's, which names its version and echoes the parser's view of the request. The
    details go to the log (aiohttp's own line)."""

    def handle_error(self, request: web.BaseRequest, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        super().handle_error(request, status, exc, message)  # its log line; ConnectionError once a reply began
        response = web.Response(status=status, text=f"{HTTPStatus(status).phrase}\n",
                                headers={**SECURITY_HEADERS, "Content-Security-Policy": CSP,
                                         "Server": "deadlinewatch", "Cache-Control": "no-store"})
        response.force_close()
        return response


class Pages:
    """The handlers, over whatever Services the daemon runs now (it swaps them on reload)."""

    def __init__(self, services: Callable[[], Services[StorePort]], on_decided: Callable[[], None],
                 daemons: Callable[[], Sequence[Running]] = tuple) -> None:
        self.services = services
        self.on_decided = on_decided
        self.daemons = daemons  # who runs on the state, for /api/status
        svc = services()
        self.sessions = signin.Sessions(svc.store.key)
        self.attempts = signin.Attempts()
        # argon2 is slow and memory-hungry on purpose: one thread of its own, so guesses queue here and never
        # take the default executor the inbox and SMTP work on
        self.verifier = ThreadPoolExecutor(max_workers=1, thread_name_prefix="web-password")
        self._slowed = 0.0  # the delay every sign-in waits now, as last logged
        self._feed_seen: dict[str, tuple[str, dt.datetime]] = {}  # token -> its feed's ETag, when first served

    # --- who is asking ---------------------------------------------------------------------------------------

    def _address(self, request: web.Request) -> str:
        """The browser's address: the proxy's last X-Forwarded-For hop when the proxy is trusted (and that hop is
        an address: anything else counts as the proxy's own)."""
        web_cfg = self.services().config.web
        forwarded = request.headers.get("X-Forwarded-For", "")
        if forwarded and signin.from_proxy(request.remote, web_cfg.trusted_proxies):
            hop = forwarded.split(",")[-1].strip()
            with contextlib.suppress(ValueError):
                return str(ipaddress.ip_address(hop))
        return request.remote or ""

    def _fingerprint(self) -> str | None:
        path = self.services().config.web.password_file
        return signin.fingerprint(signin.read_hash(path)) if path else None

    def _session(self, request: web.Request) -> signin.Session | None:
        config = self.services().config
        header = config.web.trusted_user_header
        if header and signin.from_proxy(request.remote, config.web.trusted_proxies) and header in request.headers:
            user = signin.trusted_user(request.headers[header], config.team.manager)
            # the proxy's user, with a CSRF token made from who they are (no cookie of ours in this mode)
            return signin.Session(user, "proxy:" + user) if user else None
        fingerprint = self._fingerprint()
        if fingerprint is None:
            return None
        session = self.sessions.read(request.cookies.get(signin.SESSION_COOKIE), fingerprint)
        # the cookie's signature says who; the state says whether that session is still on (not signed out)
        if session is None or self.services().store.web_session(session.sid, _wall_clock()) != session.user:
            return None
        return session

    def _signed_in(self, request: web.Request, root: str = "") -> signin.Session:
        session = self._session(request)
        if session is None:
            raise web.HTTPSeeOther(root + "signin")
        return session

    def _render(self, name: str, language: str, status: int = 200, **values: Any) -> web.Response:
        html = catalogs.environment(language).get_template(name).render(lang=language, **values)
        return web.Response(status=status, text=html, content_type="text/html", charset="utf-8")

    # --- the manager's pages ---------------------------------------------------------------------------------

    async def dashboard(self, request: web.Request) -> web.StreamResponse:
        session = self._signed_in(request)
        svc = self.services()
        project, page = dashboard_query(request.query, [p.id for p in svc.config.projects])
        seen = read_dashboard(svc, project, page)  # on the loop, like every reader of the store
        # laying out a page of milestones is pure work: in a thread, so the workers and the watchdog go on
        html = await asyncio.to_thread(render_dashboard, seen, session.user, session.csrf(self.sessions.secret),
                                       not session.sid.startswith("proxy:"))
        return web.Response(text=html, content_type="text/html", charset="utf-8",
                            headers={"Content-Security-Policy": DASHBOARD_CSP})

    async def api_status(self, request: web.Request) -> web.StreamResponse:
        if self._session(request) is None:
            return web.json_response({"error": "sign in first"}, status=401)
        svc = self.services()
        return web.json_response(manage.status_data(svc.store, svc.config, daemons=self.daemons()),
                                 dumps=lambda d: json.dumps(d, ensure_ascii=False, indent=2))

    async def decide(self, request: web.Request) -> web.StreamResponse:
        session = self._signed_in(request, "../../")
        form = await request.post()
        svc = self.services()
        if request.headers.get("Sec-Fetch-Site") == "cross-site" or \
                not session.csrf_ok(self.sessions.secret, str(form.get("csrf", ""))):
            # a form from a page read before signing in again (or from elsewhere): a page in the manager's
            # words, with the way back, not a bare 403
            return self._render("decided.html.j2", svc.config.team.language, status=403, root="../../", message="",
                                stale=True, anchor="")
        notice_id = request.match_info["id"]
        approve = request.match_info["action"] == "approve"
        item = svc.store.outbox_item(int(notice_id))
        if item is not None and item.audience == "client" and item.state != "held":
            # decided since the page was read: said in the manager's words (a newer letter replaced it, or its state)
            state = "withdrawn" if item.decided_by == WITHDRAWN else item.state  # by the pass, not by anyone
            return self._render("decided.html.j2", svc.config.team.language, status=409, root="../../", message="",
                                state=state, replaced_by=replaced_by(item.decided_by) or "",
                                anchor=f"notice-{notice_id}")
        try:
            date = _form_date(str(form.get("date", ""))) if approve else None
            manage.decide(svc.store, notice_id, approve, svc.config, svc.clock.now().isoformat(),
                          decided_by=f"web: {session.user}", date=date)
        except DeadlinewatchError as e:  # a refusal the pass can say in the manager's language is said so
            language = svc.config.team.language
            message = svc.composer.letters.say(language, [e.words]) if isinstance(e, Refused) else str(e)
            return self._render("decided.html.j2", language, status=409, root="../../", message=message,
                                anchor=f"notice-{notice_id}")
        log.info("web: notice #%s %s by %s", notice_id, "approved" if approve else "rejected", session.user)
        self.on_decided()
        return _redirect(f"../../#notice-{int(notice_id)}")

    async def signin_page(self, request: web.Request) -> web.StreamResponse:
        if self._session(request) is not None:
            raise web.HTTPSeeOther("./")
        config = self.services().config
        return self._render("signin.html.j2", config.team.language, root="", problem="",
                            password_on=bool(config.web.password_file))

    async def signin(self, request: web.Request) -> web.StreamResponse:
        config = self.services().config
        if not config.web.password_file or request.headers.get("Sec-Fetch-Site") == "cross-site":
            raise web.HTTPForbidden()
        address = self._address(request)
        # counted before anything is awaited: concurrent guesses from one address cannot all pass the check
        attempt = self.attempts.reserve(address)
        if isinstance(attempt, signin.Refused):
            response = self._render("signin.html.j2", config.team.language, status=429, root="", problem="slow",
                                    password_on=True)
            response.headers["Retry-After"] = str(attempt.retry_after)
            return response
        outcome: signin.Outcome = "void"  # until a password is checked; once it is, a broken-off check failed
        try:
            form = await request.post()
            stored = signin.read_hash(config.web.password_file)
            self._slow_down(attempt.delay)
            await asyncio.sleep(attempt.delay)
            outcome = "failed"
            ok = await asyncio.get_running_loop().run_in_executor(
                self.verifier, signin.password_matches, stored, str(form.get("password", "")))
            outcome = "succeeded" if ok else "failed"
        finally:
            self.attempts.settle(attempt, outcome)
        if not ok:
            log.warning("web: a failed sign-in from %s", address)
            return self._render("signin.html.j2", config.team.language, status=401, root="", problem="wrong",
                                password_on=True)
        session, cookie = self.sessions.issue(config.team.manager, signin.fingerprint(stored))
        now = _wall_clock()
        self.services().store.start_web_session(session.sid, session.user, now,
                                                now + dt.timedelta(seconds=signin.SESSION_SECONDS))
        response = _redirect("./")
        # Secure, but where the studio serves its pages over plain http (an http base_url: on its own network, or
        # behind a proxy that redirects to https) — a browser drops a Secure cookie there, and the manager could
        # never sign in, with nothing to say why
        response.set_cookie(signin.SESSION_COOKIE, cookie, max_age=signin.SESSION_SECONDS, path=_cookie_path(config),
                            secure=not config.web.base_url.lower().startswith("http:"), httponly=True,
                            samesite="Strict")
        return response

    def _slow_down(self, delay: float) -> None:
        """One log line when failures from everywhere make every sign-in wait longer, not one per attempt."""
        if delay > self._slowed:
            log.warning("web: %d failed sign-ins from everywhere in %d minutes: every sign-in now waits %.0f s",
                        self.attempts.failures_everywhere(), self.attempts.window // 60, delay)
        self._slowed = delay

    async def signout(self, request: web.Request) -> web.StreamResponse:
        session = self._session(request)
        form = await request.post()
        if session is None:
            return _redirect("signin")  # nothing to end: no cookie is touched
        # the same proof as a decision's: the form came from our page (a cross-site form cannot end a session)
        if request.headers.get("Sec-Fetch-Site") == "cross-site" or \
                not session.csrf_ok(self.sessions.secret, str(form.get("csrf", ""))):
            raise web.HTTPForbidden(reason="Forbidden: this form is stale or did not come from this page")
        if not session.sid.startswith("proxy:"):
            self.services().store.end_web_session(session.sid)
            log.info("web: %s signed out", session.user)
        response = _redirect("signin")
        response.del_cookie(signin.SESSION_COOKIE, path=_cookie_path(self.services().config))
        return response

    async def close(self, app: web.Application) -> None:
        """The server stops: the password checker's thread goes with it."""
        self.verifier.shutdown(wait=False, cancel_futures=True)

    # --- the client's pages ------------------------------------------------------------------------------------

    def _project(self, token: str) -> Any:
        svc = self.services()
        for project_id, known in svc.store.page_tokens().items():
            if hmac.compare_digest(known.encode(), token.encode()):
                try:
                    return svc.config.project(project_id)
                except DeadlinewatchError:
                    break  # a project no longer in the config has no page
        raise web.HTTPNotFound()

    async def client_page(self, request: web.Request) -> web.StreamResponse:
        project = self._project(request.match_info["token"])
        svc = self.services()
        page = pages.client_page(view_as_told(svc.store, project), svc.clock.now())
        response = self._render("client.html.j2", page.language, root="../../", page=page)
        response.headers["Cache-Control"] = "private, no-cache"
        return response

    async def feed(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        project = self._project(token)
        svc = self.services()
        told = view_as_told(svc.store, project)
        rows = told.rows()
        organizer = svc.config.smtp.from_
        page, client = told.page_url(svc.config.web.base_url), project.client

        def describe(row: TimelineRow) -> str:  # each entry's DESCRIPTION, in the client's language
            return svc.letters.entry_description(client.language, row, page, client.timezone)

        # the tag is made from what the feed says, not when it was made: a restart does not make every
        # subscriber download it again
        content = timeline.publish(rows, project.name, dt.datetime(2000, 1, 1, tzinfo=dt.UTC), organizer, describe)
        etag = '"' + hashlib.sha256(content).hexdigest()[:32] + '"'
        seen = self._feed_seen.get(token)
        if seen is None or seen[0] != etag:  # one entry per project: memory does not grow with the changes
            seen = self._feed_seen[token] = (etag, svc.clock.now().astimezone(dt.UTC).replace(microsecond=0))
        changed = seen[1]
        headers = {"ETag": etag, "Last-Modified": format_datetime(changed, usegmt=True),
                   "Cache-Control": "private, no-cache"}
        if _not_modified(request, etag, changed):
            return web.Response(status=304, headers=headers)
        body = timeline.publish(rows, project.name, changed, organizer, describe)
        return web.Response(body=body, headers={**headers, "Content-Disposition": 'inline; filename="timeline.ics"'},
                            content_type="text/calendar", charset="utf-8")

    async def client_page_without_slash(self, request: web.Request) -> web.StreamResponse:
        self._project(request.match_info["token"])
        raise web.HTTPMovedPermanently(f"{request.match_info['token']}/")

    async def static(self, request: web.Request) -> web.StreamResponse:
        """One of the files named in STATIC, nothing else: no listing, no path from the request reaches a file."""
        name = request.match_info["name"]
        content_type = STATIC.get(name)
        if content_type is None:
            raise web.HTTPNotFound()
        data = (files("deadlinewatch") / "web" / "static" / name).read_text()
        return web.Response(text=data, content_type=content_type, charset="utf-8",
                            headers={"Cache-Control": "public, max-age=3600"})

    async def not_found(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPNotFound()


@dataclass(frozen=True)
class DashboardInput:
    """What one view of the dashboard shows, read from the store in one go: `status --json`'s data, and for the
    milestones on the page (only those) their notes and their forecast's reason in the team's language."""

    data: dict[str, Any]  # status --json
    selection: pages.Selection  # the view's project and page, and its milestones on that page
    notes: dict[tuple[str, str], list[Report]]  # the page's milestones' notes
    explained: dict[tuple[str, str], str]  # the page's forecasts' reasons in the team's language
    held: dict[int, bytes]
    names: dict[str, str]
    now: dt.datetime
    zone: zoneinfo.ZoneInfo
    language: str
    warn_probability: float
    choices: dict[int, pages.DateChoice] = dataclasses.field(default_factory=dict)  # held notices' dates
    # the page's milestones' deadlines as the days their clients hold (agreed_day), not their moments' days here
    deadlines: dict[tuple[str, str], dt.date] = dataclasses.field(default_factory=dict)


def date_choices(svc: Services[StorePort], held: Sequence[OutboxItem],
                 notes: Mapping[tuple[str, str], Sequence[Report]],
                 milestones: Sequence[Milestone]) -> dict[int, pages.DateChoice]:
    """The dates a held notice may be sent with: the forecast's (the letter's), the team's own when it is after
    the date it replaces (and today) and differs, and the earliest the manager may type (the day after the date it
    replaces — the deadline, or the date the client was last promised — and after today)."""
    c = svc.composer
    notices = {(item.project or "", item.uid or "") for item in held if item.kind == "notice"}
    # the day agreed with the client, or the later one they were promised since, as approve --date checks it
    projects = {p.id: p for p in svc.config.projects}
    promised = promised_dates(svc.store, (projects[p] for p, _ in notices if p in projects))
    deadlines = {(m.project, m.uid): max(agreed_day(projects[m.project], m.deadline),
                                         promised.get((m.project, m.uid), dt.date.min))
                 for m in milestones if (m.project, m.uid) in notices and m.project in projects}
    out = {}
    today = svc.clock.now().astimezone(c.team_tz).date()  # a date the client is given comes after today too
    for item in held:
        deadline = deadlines.get((item.project or "", item.uid or ""))
        if item.kind != "notice" or deadline is None:
            continue
        floor = max(deadline, today)
        team = team_date(notes.get((item.project or "", item.uid or ""), ()), c.workdays, c.team_tz)
        out[item.id] = pages.DateChoice(item.promised, team if team and team > floor and team != item.promised
                                        else None, floor + dt.timedelta(days=1))
    return out


def read_dashboard(svc: Services[StorePort], project: str | None = None, page: int = 1) -> DashboardInput:
    """One view: `project`'s milestones (every project's with None), page `page`. The milestones' order needs only
    `status --json`'s data; the notes (for the pictures) and the reasons in words are read for the page alone.
    The milestones and the client's letters are read once, for that data and for the page alike."""
    config, store = svc.config, svc.store
    milestones, letters = store.milestones(), store.outbox(audience="client")
    data = manage.status_data(store, config, milestones=milestones, outbox=letters)
    sel = pages.select(data, config.policy.warn_probability, project, page)
    shown = [(m["project"], m["uid"]) for m in sel.shown]
    # the letters the manager decides: a group's other letters (the calendar update of a milestone a notice moves)
    # go with it, decided with it, never on their own
    held = [item for item in letters if item.state == "held" and item.parent is None]
    wanted = set(shown) | {(i.project or "", i.uid or "") for i in held if i.kind == "notice"}
    notes = {key: store.reports(*key) for key in wanted}
    projects = {p.id: p for p in config.projects}
    deadlines = {(m["project"], m["uid"]): agreed_day(projects[m["project"]], dt.datetime.fromisoformat(m["deadline"]))
                 for m in sel.shown if m["project"] in projects}
    explained = {}
    for m in sel.shown:  # the forecast's reason in the team's language (status --json keeps it in English)
        f = store.forecast(m["project"], m["uid"]) if m["p_miss"] is not None else None
        if f is not None:
            explained[(m["project"], m["uid"])] = svc.letters.reason(config.team.language, f)
    return DashboardInput(
        data=data, selection=sel, notes=notes, explained=explained, held={i.id: i.message for i in held},
        names={f"{m.project}/{m.uid}": m.name for m in milestones},
        now=svc.clock.now(), zone=zoneinfo.ZoneInfo(config.timezone), language=config.team.language,
        warn_probability=config.policy.warn_probability, choices=date_choices(svc, held, notes, milestones),
        deadlines=deadlines)


def render_dashboard(seen: DashboardInput, user: str, csrf: str, can_sign_out: bool) -> str:
    """The view's HTML: a pure function of what was read (safe to run in a thread). Pictures are drawn for the
    page's milestones only."""
    language, zone = seen.language, seen.zone
    view = pages.dashboard(seen.data, seen.selection, seen.notes, seen.held, seen.names,
                           today=seen.now.astimezone(zone).date(), zone=zone, language=language,
                           warn_probability=seen.warn_probability, choices=seen.choices, explained=seen.explained,
                           deadlines=seen.deadlines)
    last = seen.data["last_pass"]

    def draw(data: FanData, ident: str) -> Markup:
        return Markup(fan_svg(data, f"fan-{ident}"))  # fan_svg escapes every text it draws

    return catalogs.environment(language).get_template("dashboard.html.j2").render(
        lang=language, root="", view=view, user=user, csrf=csrf, signed_out_possible=can_sign_out, draw=draw,
        servers=seen.data["servers"],
        last_pass=format_moment(dt.datetime.fromisoformat(last), language, zone) if last else "")


def dashboard_query(query: Mapping[str, str], projects: Sequence[str]) -> tuple[str | None, int]:
    """The view a dashboard address asks for: `?project=ID&page=N`. An unknown project is no view (404); a page
    that is not a number is the first, one past the last the last."""
    project = query.get("project") or None
    if project is not None and project not in projects:
        raise web.HTTPNotFound()
    page = query.get("page", "1")
    return project, int(page) if page.isascii() and page.isdigit() and len(page) < 7 else 1  # "²" is a digit


def _form_date(text: str) -> dt.date | None:
    """The date field of an approval: none (the letter's date), or YYYY-MM-DD as a browser's date input sends."""
    if not text.strip():
        return None
    try:
        day = dt.date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f'"{text}" is not a date as YYYY-MM-DD') from None
    if day.year > 2100:  # 9999-12-31 has no day after it for the entry's end
        raise UsageError(f'"{text}" is too far ahead to be a date the client can plan on')
    return day


def _wall_clock() -> dt.datetime:
    """Sessions live in real time, as the cookie's own signed timestamp does (not the daemon's `--now`)."""
    return dt.datetime.now(dt.UTC)


def _redirect(location: str) -> web.Response:
    """303 to a path relative to this one: right behind a proxy that serves the pages under a prefix too."""
    return web.Response(status=303, headers={"Location": location})


def _cookie_path(config: Any) -> str:
    """The cookie's path: where the pages are behind the proxy (web.base_url's path), else the root."""
    from urllib.parse import urlsplit

    return urlsplit(config.web.base_url).path or "/" if config.web.base_url else "/"


def _not_modified(request: web.Request, etag: str, changed: dt.datetime) -> bool:
    """RFC 9110 §13.1: If-None-Match decides when present (weak comparison), else If-Modified-Since."""
    if_none = request.headers.get("If-None-Match")
    if if_none is not None:
        tags = [t.strip().removeprefix("W/") for t in if_none.split(",")]
        return "*" in tags or etag in tags
    since = request.headers.get("If-Modified-Since")
    if since:
        try:
            return changed <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


def application(services: Callable[[], Services[StorePort]], on_decided: Callable[[], None],
                daemons: Callable[[], Sequence[Running]] = tuple) -> web.Application:
    app = web.Application(middlewares=[_guard], client_max_size=64 * 1024, handler_args={"max_field_size": 8190})
    app[SERVICES] = services
    p = Pages(services, on_decided, daemons)
    app.router.add_get("/", p.dashboard)
    app.router.add_get("/signin", p.signin_page)
    app.router.add_post("/signin", p.signin)
    app.router.add_post("/signout", p.signout)
    app.router.add_post(r"/notices/{id:\d{1,12}}/{action:approve|reject}", p.decide)
    app.router.add_get("/api/status", p.api_status)
    app.router.add_get(r"/p/{token:[A-Za-z0-9_-]{1,100}}/", p.client_page)
    app.router.add_get(r"/p/{token:[A-Za-z0-9_-]{1,100}}", p.client_page_without_slash)
    app.router.add_get(r"/p/{token:[A-Za-z0-9_-]{1,100}}/timeline.ics", p.feed)
    app.router.add_get(r"/static/{name:[a-z]+\.[a-z]+}", p.static)
    app.router.add_route("*", "/{anything:.*}", p.not_found)
    app.on_cleanup.append(p.close)
    return app


class WebServer:
    """The pages on `web.listen`, started and stopped with the daemon (and moved when a reload changes it). The
    port is served through a `connections.Door`, not aiohttp's site: capped connections (from the descriptor
    limit, raised at start where allowed), deadlines, and a log line a minute instead of one per connection."""

    def __init__(self, services: Callable[[], Services[StorePort]], on_decided: Callable[[], None],
                 daemons: Callable[[], Sequence[Running]] = tuple) -> None:
        app = application(services, on_decided, daemons)
        # keepalive_timeout: an idle connection, or the next request's headers after an answer, gets the same
        # 10 s as the first; lingering_time: what is left of a body we answered 408 is not waited for long;
        # shutdown_timeout: a request in flight does not hold up SIGTERM's 8 s
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False,
                                    keepalive_timeout=connections.HEADER_SECONDS, lingering_time=2.0,
                                    shutdown_timeout=5.0)
        self.caps = connections.caps_for(connections.raise_descriptor_limit())
        self.door = connections.Door(
            self._protocol, self.caps,
            lambda address: signin.from_proxy(address, services().config.web.trusted_proxies))
        app[DOOR] = self.door
        self.listen = ""

    def _protocol(self) -> asyncio.Protocol:
        server = self.runner.server
        assert server is not None  # set up before the door opens
        # as aiohttp's Server makes its handler (web_server.Server.__call__), with our answer to what cannot be parsed
        return _Connection(server, loop=asyncio.get_running_loop(), **server._kwargs)

    async def start(self, listen: str) -> None:
        host, _, port = listen.rpartition(":")
        if not self.runner.server:
            await self.runner.setup()
            c = self.caps
            limit = f"descriptor limit {c.limit:,}, {c.limit - c.total:,} kept for the servers" if c.limit >= 0 \
                else "no descriptor limit"
            log.info("web: at most %s connections at once, %d from one address (%s)", f"{c.total:,}", c.per_address,
                     limit)
        try:
            await self.door.open(host.strip("[]") or "127.0.0.1", int(port))
        except OSError as e:
            raise ConfigError(f'web.listen = "{listen}": cannot listen there ({e.strerror})') from None
        self.listen = listen
        log.info("web pages on http://%s/", listen)

    async def move(self, listen: str) -> None:
        """A reload changed web.listen: serve there instead (the connections open stay until they end)."""
        if listen == self.listen:
            return
        await self.door.shut()
        if listen:
            await self.start(listen)
        self.listen = listen

    async def stop(self) -> None:
        await self.door.close()
        await self.runner.cleanup()
