"""What each client must hear now, decided from a project's snapshot (pure): the forecasts, then the messages the
policy decides, each a `Plan` recorded as a QueueGroup — cancellations of milestones the client has seen; the
introduction; apology + replan notices with the dependants they move, and delivered notes; invitations as dates
come near; the weekly check-in — and beside them the manager's early risk alerts (`plan_alert`, core/alert.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage

from babel import Locale

from deadlinewatch.config.schema import Offer, Project
from deadlinewatch.core import alert, dependencies, policy
from deadlinewatch.core.intake import ascii_lower
from deadlinewatch.core.language import foreign
from deadlinewatch.core.letters import AlertLetter, ClientEnvelope, NoticeLetter, Recipient
from deadlinewatch.core.locales import context_day
from deadlinewatch.core.model import (
    ApprovedDate,
    Forecast,
    ManagerNote,
    Milestone,
    NoticeDecision,
    QueueGroup,
    QueueMail,
    Report,
    RiskAlert,
    ShowDate,
    TimelineRow,
)
from deadlinewatch.core.notes import note_keys
from deadlinewatch.core.words import Days, Percent, _, phrase
from deadlinewatch.core.workdays import WorkCalendar
from deadlinewatch.decisions.forecaster import ForecastFn
from deadlinewatch.decisions.project_view import ProjectView
from deadlinewatch.decisions.studio import Studio, bare


@dataclass
class Plan:
    """Client messages decided together: the first is the primary, the rest ride with it; the dates they show
    the client, and the manager's copy (made with the primary's id once it is recorded)."""

    messages: list[QueueMail] = field(default_factory=list)
    dates: list[ShowDate] = field(default_factory=list)
    reason: str = ""  # why, in English (the pass's events)
    why: str = ""  # why, in the team's language (the manager's messages); the reason when empty
    what: str = ""  # what it is, for the pass's events
    held: list[str] = field(default_factory=list)  # why it waits for the manager whatever policy.approval says
    follow_up: dt.date | None = None  # the day the letter promises the client the steps by (a reminder then)
    call: dt.date | None = None  # a second notice: the day the letter says the manager calls the client
    prevent: bool = True  # the letter gave what keeps it from happening again
    call_before: dt.date | None = None  # the day the client counts on, when the new date falls after it
    ask_team: str = ""  # what the team is asked for (a second notice without a newer Cause or Plan)
    team: list[QueueMail] = field(default_factory=list)  # messages to the team it causes (the ask), with it
    copies: list[QueueMail] = field(default_factory=list)  # the manager's copies, without live calendar parts
    about: ManagerNote | None = None  # what the manager hears of it, once decided (about)
    trigger: str = ""  # what made the notice due now (the rule that fired, with its dates), in the team's language
    approved: ApprovedDate | None = None  # the manager approved it with a date of their own (approve --date)

    def group(self) -> QueueGroup:
        """The plan as the action that records it."""
        return QueueGroup(tuple(self.messages), tuple(self.dates), self.about)


def about(pv: ProjectView, plan: Plan) -> ManagerNote | None:
    """What the manager hears of a plan (decisions/manager_mail.py composes it once the plan has its id): when it is
    held, a notice, or brings copies or messages to the team."""
    first = plan.messages[0]
    if first.state != "held" and first.kind != "notice" and not plan.team and not plan.copies:
        return None
    return ManagerNote(tuple((m.uid, m.name) for m in pv.milestones), plan.why or plan.reason, tuple(plan.held),
                       plan.follow_up, plan.call, plan.prevent, plan.call_before, tuple(plan.copies),
                       tuple(plan.team), plan.trigger, plan.approved)


def _envelope(c: Studio, pv: ProjectView, kind: str, identity: Sequence[object], now: dt.datetime
              ) -> ClientEnvelope:
    project = pv.project
    shadow = project.approval == "shadow"
    # a letter composed in shadow has an id of its own: the real one, once the project leaves shadow, is another
    # message (the same id would be refused as a duplicate, and the pass with it)
    token, msg_id = c.message_id(kind, project.id, *identity, *(["shadow"] if shadow else []))
    client = project.client
    return ClientEnvelope(project_name=project.name,
                          client=Recipient(client.name, client.email, client.language, client.timezone),
                          sender=c.sender, manager=project.manager, cc=client.cc, composed_at=now,
                          message_id=msg_id, token=token, kind=kind, shadow=shadow,
                          calendar_updates=project.calendar_updates, feed_url=pv.feed_url(c.config.web.base_url),
                          page_url=pv.page_url(c.config.web.base_url), signature=project.signature,
                          weekday=project.weekly_update.split(" ")[0] if project.weekly_update else "",
                          team_language=c.config.team.language)


def _add(c: Studio, plan: Plan, project: Project, env: ClientEnvelope, message: EmailMessage, now: dt.datetime,
         uid: str | None = None, promised: dt.date | None = None) -> None:
    """A client message for the plan. The manager is in its Cc; when it carries a live calendar part they get a copy
    of their own instead (`Letters.manager_copy`: the change in words), decided with it, never the invitation."""
    live = any(p.get_content_type() == "text/calendar" for p in message.walk())
    manager = bare(project.manager)
    to = [manager] if env.shadow else [project.client.email, *([] if live else [manager]), *project.client.cc]
    state = "held" if project.approval == "manager" or (plan.held and not env.shadow) else "pending"
    plan.messages.append(c.outgoing(kind=env.kind, audience="client", token=env.token, msg_id=env.message_id,
                                  message=message.as_bytes(), recipients=to, now=now, project=project.id, uid=uid,
                                  state=state, promised=promised, shadow=env.shadow))
    if live and not env.shadow:
        token, msg_id = c.message_id("manager-copy", env.message_id)
        copy = c.letters.manager_copy(message, language=c.config.team.language, message_id=msg_id)
        plan.copies.append(c.outgoing(kind="manager-copy", audience="team", token=token, msg_id=msg_id,
                                      message=copy.as_bytes(), recipients=[manager], now=now, project=project.id,
                                      uid=uid))


# what the team writes in its notes: in another language than the client's, it stays out of the letter
TEAM_TEXT = ("Cause", "Plan", "Prevent")


def _hold_foreign(c: Studio, plan: Plan, language: str, said: dict[str, str]) -> set[str]:
    """Free text a person wrote (Cause, Plan, Prevent, an offer, the project's context) in another language than
    the letter's holds the letter for the manager, saying which text and why. What the team wrote in its notes is
    also left out of the letter (returned: the keys): released undecided after approval_hours, the letter would
    have carried it to the client as is; an offer or the context, the manager's own words in the config, stay."""
    team = c.config.team.language
    studio = {team, "en", *(p.client.language for p in c.config.projects)}  # the languages it works in
    left_out = set()
    for key, text in said.items():
        written_in = foreign(text, language, studio) if text else None
        if written_in is None:
            continue
        if key in TEAM_TEXT:
            left_out.add(key)
            plan.held.append(c.letters.gettext(team, _(
                "the %(key)s is written in another language (%(found)s) than the letter (%(language)s), so the letter "
                "leaves it out: \"%(text)s\"; a note giving it in %(language_name)s composes the letter again with it"),
                key=note_keys(team)[key.lower()], found=written_in, language=language, text=text,
                language_name=Locale.parse(language.replace("-", "_")).get_language_name(team.replace("-", "_"))))
        else:
            plan.held.append(c.letters.gettext(team, _(
                "the %(key)s is written in another language (%(found)s) than the letter (%(language)s): "
                "\"%(text)s\""), key=key, found=written_in, language=language, text=text))
    return left_out


def plan_intro(c: Studio, pv: ProjectView, now: dt.datetime) -> Plan | None:
    """The first message a client gets: one letter with the whole timeline — never one mail per milestone. Under
    "invitations" it carries the nearest milestone's invitation; the others are invited when they move or come
    near (plan_invitation). Under "feed" and "off" the client's calendar learns every date from the feed or the
    table, so all of them count as shown."""
    open_visible = [m for m in pv.visible() if pv.state(m) == "open"]
    if not open_visible:
        return None
    project = pv.project
    rows = pv.rows()
    by_uid = {r.uid: r for r in rows}
    first = by_uid[open_visible[0].uid]
    plan = Plan(reason=f"introducing {len(rows)} milestones",
                why=c.letters.gettext(c.config.team.language, _("introducing %(count)s milestones"),
                                      count=len(rows)))
    env = _envelope(c, pv, "intro", [], now)
    _hold_foreign(c, plan, project.client.language, {"context": project.context})
    _add(c, plan, project, env, c.letters.intro(env, rows, first, project.context), now, first.uid)
    # every date is now in the client's hands (the table); under "invitations" only the first in their calendar
    plan.dates = [ShowDate(project=project.id, uid=r.uid, sequence=r.sequence, shown_date=r.new,
                           invited=env.invites and r.uid == first.uid, entry_uid=r.entry_uid)
                  for r in (by_uid[m.uid] for m in open_visible)]
    return plan


NEAR_DAYS = 14  # a milestone not yet in the client's calendar is invited when its date is this close


def plan_invitation(c: Studio, pv: ProjectView, m: Milestone, now: dt.datetime) -> Plan:
    """The invitation of a milestone the client's calendar does not have yet, now that its date comes near."""
    row = next(r for r in pv.rows() if r.uid == m.uid)
    env = _envelope(c, pv, "update", [row.uid, row.sequence], now)
    plan = Plan(reason=f"its date ({row.new.isoformat()}) comes near",
                why=c.letters.say(c.config.team.language, [phrase(_("its date (%(date)s) comes near"), date=row.new)]))
    _add(c, plan, pv.project, env, c.letters.calendar(env, row), now, row.uid)
    plan.dates.append(ShowDate(pv.project.id, row.uid, row.sequence, shown_date=row.new, invited=True,
                               entry_uid=row.entry_uid))
    return plan


def outrun_factor(decision: NoticeDecision, today: dt.date, closed: int, cal: WorkCalendar) -> float | None:
    """The one rule that holds a notice for the manager because its date outruns the team's own (how many times as
    far off, policy.outruns_team): plan_notice holds by it, and the reply to a note says the notice waits by it
    (decisions/inbox.py) without planning the project's letters. None: this rule does not hold it."""
    if decision.kind != "notice" or decision.forecast is None:
        return None
    return policy.outruns_team(decision.promised, decision.forecast.team_date, today, closed, cal)


def _offered(pv: ProjectView, m: Milestone, ladder: Sequence[tuple[int, Offer]], rung: Offer, cal: WorkCalendar,
             again: bool) -> tuple[bool, dt.datetime | None]:
    """Whether this client was already made the offer of `rung` — in this milestone's notice (a second slip on
    the same rung: the slip is counted from the original deadline, so a bigger one climbs the ladder) or in a
    notice of another of the project's that went out (one gesture, not the same one twice as news) — and when it
    was last said, where the store knows it: each milestone's latest notice (ProjectView.sent), the newest of
    those on this rung. The newest, not the first: a milestone's promise may since have been moved by another's
    notice, onto a rung its own notice never offered, and the newest notice on the rung is the one that said it.
    The letter then says the offer made stands, dated."""
    stands, made = False, []
    for x in pv.milestones:
        cd, sent = pv.dates.get(x.uid), pv.sent.get(x.uid)
        if cd is None or cd.promised is None or (x.uid == m.uid and not again) or (x.uid != m.uid and sent is None):
            continue
        if policy.pick_offer(ladder, max(cal.count(pv.agreed(x), cd.promised), 0)) is rung:
            stands = True
            made += [sent] if sent is not None else []
    return stands, max(made, default=None)


def plan_notice(c: Studio, pv: ProjectView, m: Milestone, decision: NoticeDecision, now: dt.datetime,
                closed: int, chosen: bool = False) -> Plan:
    """Apology + replan (or a delivered note), with a one-UID update for each dependant it moves. `closed`: how
    many of the team's closed milestones its forecasts learned from. `chosen`: the manager chose its date
    (`approve --date`): nothing more to hold it for."""
    project, cal = pv.project, c.workdays
    tz = pv.client_tz
    cd = pv.dates.get(m.uid)
    override: dict[str, tuple[dt.date, int]] = {}
    moved: dict[str, dt.date] = {}
    back = decision.kind == "delivered" and pv.cancelled_for_client(m)
    if back:  # to a client who holds it cancelled it comes back, delivered: a change their calendar takes
        pv = pv.after([ShowDate(project.id, m.uid, pv.next_sequence(m), reinstated=True)])
    if decision.kind == "delivered":
        sequence = pv.sequence(m)
        override[m.uid] = (pv.shown(m), sequence)
    else:
        assert decision.promised is not None
        by_uid = {x.uid: x for x in pv.milestones if pv.state(x) == "open" or x.uid == m.uid}
        current = {x.uid: pv.shown(x) for x in pv.milestones}
        # work it builds on was promised a later date: its own new date comes after that
        after = dependencies.earliest(by_uid, m.uid, current, cal, tz)
        if after is not None and after > decision.promised and not chosen:
            promised = policy.usable(after, cal, c.client_days(project))
            decision = dataclasses.replace(decision, promised=promised, slip_days=max(
                cal.count(pv.agreed(m), promised), 0))
        new_date = decision.promised
        assert new_date is not None
        sequence = pv.next_sequence(m)
        override[m.uid] = (new_date, sequence)
        # a dependant's new date is a promise too: never on one of the client's public holidays, and the work
        # further down the chain is counted from the day it lands on
        moved = dependencies.shifted(by_uid, m.uid, new_date, current, cal, tz,
                                     lambda day: policy.usable(day, cal, c.client_days(project)))
        for uid, new in moved.items():
            dep = by_uid[uid]
            if not dep.private:
                override[uid] = (new, pv.next_sequence(dep))
    rows = pv.rows(override)
    row = next(r for r in rows if r.uid == m.uid)
    history = pv.reports.get(m.uid, [])
    language, team = project.client.language, c.config.team.language
    # "again" and "broken" are judged against what the client was told: a held or rejected date never was
    again = cd is not None and cd.promised is not None and decision.kind == "notice"
    plan = Plan(reason=decision.reason, why=c.letters.forecast(team, decision.forecast) if decision.forecast else
                c.letters.gettext(team, _("delivered")))
    # a second notice is a new apology: the cause, plan and prevention it gives are what the notes said after the
    # last notice told the client, whose plan and reassurance have just failed — never the old ones again
    since = pv.told.get(m.uid) if again else None
    fresh = [r for r in history if since is None or r.at > since]
    plan_report = _latest(fresh, "plan")
    cause, prevent = _latest_text(fresh, "cause"), _latest_text(fresh, "prevent")
    if again and since is not None and (plan_report is None or not cause) and not chosen:
        missing = "/".join(k for k, v in (("Cause", cause), ("Plan", plan_report)) if not v)
        keys = note_keys(team)  # the keys as the team writes them in its notes, the date as it writes dates
        plan.held.append(c.letters.say(team, [phrase(_(
            "the notes give no %(keys)s newer than the last notice of %(date)s, whose date is now broken: the team "
            "is asked for them; when their note comes the letter is composed again, or approve it as it is (it "
            "then claims no cause and promises the client the steps)"),
            keys="/".join(keys[k.lower()] for k in missing.split("/")), date=since.astimezone(c.team_tz).date())]))
        plan.ask_team = missing
    team_date = decision.forecast.team_date if decision.forecast else None
    today = now.astimezone(c.team_tz).date()
    if decision.kind == "notice" and decision.forecast is not None and not chosen:
        plan.trigger = _trigger(c, pv, m, decision.forecast)
    factor = None if chosen else outrun_factor(decision, today, closed, cal)
    if factor is not None and decision.promised is not None and team_date is not None:
        learned = phrase(_("no closed milestone of this team to learn from yet")) if closed == 0 else \
            phrase(_("only one closed milestone of this team to learn from")) if closed == 1 else \
            phrase(_("only %(count)s closed milestones of this team to learn from"), count=closed)
        agreed = pv.agreed(m)
        later = Days(cal.count(team_date, decision.promised))  # how much later, as the manager counts days
        if team_date > agreed:
            plan.held.append(c.letters.say(team, [phrase(_(
                "The draft promises the forecast's date, %(promised)s, %(later)s later than the team's own date "
                "(%(eta)s). The forecast has %(learned)s, so its date is mostly how long work like this took other "
                "teams. Sending the team's date risks a second apology if this team runs late as most do; sending "
                "the forecast's risks telling the client of more delay than this team may need. Ask the team, or "
                "choose below: to send the team's date, reply \"%(yes)s %(eta_iso)s\"."),
                promised=decision.promised, later=later, eta=team_date, learned=learned,
                yes=c.letters.gettext(team, _("approve")),
                eta_iso=policy.usable(team_date, cal, c.client_days(project)).isoformat())]))
        else:  # the team keeps the date agreed: its date is no new one to send (approve refuses it)
            plan.held.append(c.letters.say(team, [phrase(_(
                "The draft promises the forecast's date, %(promised)s, %(later)s later than the team's own date "
                "(%(eta)s), which keeps the date agreed with the client. The forecast has %(learned)s, so its date "
                "is mostly how long work like this took other teams. Keeping the agreed date risks a late apology "
                "if this team runs late as most do; sending the forecast's risks telling the client of a delay "
                "this team may not have. Ask the team, or choose below: rejecting keeps the agreed date, as the "
                "team says, and a date of your own must come after %(agreed)s."), promised=decision.promised,
                later=later, eta=team_date, learned=learned,
                agreed=agreed)]))
    # no note gave an estimate: the date is a placeholder the manager is asked to replace (held whatever approval)
    placeholder = decision.kind == "notice" and not chosen and policy.unestimated(decision.forecast)
    if placeholder and decision.promised is not None:
        plan.held.append(c.letters.say(team, [phrase(_(
            "No note gives this milestone an estimate (a remaining time, an ETA or a trend), and the date the client "
            "holds, %(date)s, is about to pass: the draft's date, %(promised)s, is only a placeholder, a working "
            "week later, not a forecast. Ask the team for a note, or give the date yourself: reply \"%(yes)s\" "
            "with it, as in \"%(yes)s %(example)s\"."),
            date=cd.promised if cd is not None and cd.promised is not None else pv.agreed(m),
            promised=decision.promised, yes=c.letters.gettext(team, _("approve")),
            example=decision.promised.isoformat())]))
    offer, offer_stands, offered_at = None, False, None
    if decision.kind != "delivered":
        ladder = [(o.min_slip_days, o) for o in c.config.offers]
        rung = policy.pick_offer(ladder, decision.slip_days)
        offer = rung.text(language) if rung else None
        if rung is not None:
            offer_stands, offered_at = _offered(pv, m, ladder, rung, cal, again)
        if rung is not None and offer is None:
            plan.held.append(c.letters.gettext(team, _(
                "the offer for a slip of %(days)s working days has no text in %(language)s: add it to [[offers]] "
                "(text = { %(language)s = \"…\" })"), days=rung.min_slip_days, language=language))
    if decision.kind == "notice":
        left_out = _hold_foreign(c, plan, language, {
            "Cause": cause, "Plan": plan_report.plan if plan_report else "", "Prevent": prevent, "offer": offer or "",
            "context": project.context})
        cause = "" if "Cause" in left_out else cause
        plan_report = None if "Plan" in left_out else plan_report
        prevent = "" if "Prevent" in left_out else prevent
        if again and not plan.ask_team and (missing := "/".join(k for k in ("Cause", "Plan") if k in left_out)):
            plan.ask_team = missing  # asked for them in the client's language, as for ones not given
    if plan.ask_team and cd is not None and cd.promised is not None and decision.promised is not None:
        plan.team.append(_ask(c, pv, m, cd.promised, decision.promised, history, now))
    # the days the letter names count from the day it reaches the client: a letter held for the manager goes when
    # they decide, at the latest when its hold runs out (policy.hold_expiry) — counted from then (a working day on
    # at most: a long approval_hours must not push the steps past the date they are for), a day it names never
    # passed before the client reads it ("I'll call you on Thursday" in a letter approved on Friday). A date the
    # manager chose goes now (`chosen`)
    holds = not chosen and (project.approval == "manager" or (bool(plan.held) and project.approval != "shadow"))
    sent_on = min(policy.hold_expiry(now, c.config.policy.approval_hours, pv.agreed(m), cal, c.team_tz,
                                     cd.promised if cd is not None else None)[0].astimezone(c.team_tz).date(),
                  cal.add(today, 1)) if holds else today
    sent_on = max(sent_on, today)
    if decision.kind == "notice" and plan_report is None and project.approval != "shadow":
        # a day the letter names to the client: a working day of the team's that is no public holiday of theirs
        plan.follow_up = policy.usable(cal.add(sent_on, FOLLOW_UP_DAYS), cal, c.client_days(project))
    if again and project.approval != "shadow":
        # a second slip is owned with a step of ours, not left to the client: the manager calls on the next
        # working day (reminded that morning), to go through the new plan and what reaches the client first
        plan.call = policy.usable(cal.add(sent_on, CALL_DAYS), cal,
                                  c.client_days(project))  # no call on the client's Christmas Day
        plan.prevent = bool(prevent)
        # as the letter says it: the call agrees what reaches the client before their day, when the date misses it
        when = context_day(project.context, language, now.astimezone(tz).date())
        plan.call_before = when if when and decision.promised and decision.promised >= when else None
    identity = [m.uid, sequence] if decision.kind != "delivered" else [m.uid]
    env = _envelope(c, pv, decision.kind, identity, now)
    moved_rows = tuple(r for r in rows if r.uid in moved and r.uid in override)
    done = next((r.at for r in reversed(history) if r.done == 100), now)
    # "the date we expect to meet" only of a date the forecast gives at least four times in five (or the team's own,
    # when later): a date the manager chose before it is the one the team works to, no expectation of ours
    likely = policy.promised_date(decision.forecast) if decision.forecast else None
    letter = NoticeLetter(
        envelope=env, milestone=row, deadline=pv.agreed(m), promised=decision.promised,
        slip_days=decision.slip_days, context=project.context, cause=cause,
        plan=plan_report.plan if plan_report else "", prevent=prevent, offer=offer, rows=rows, again=again,
        moved=moved_rows, broken=cd.promised if again and cd else None, follow_up=plan.follow_up,
        delivered_on=done.astimezone(tz).date(), offer_stands=offer_stands, call=plan.call,
        offered_on=offered_at.astimezone(tz).date() if offered_at else None,
        expected=likely is not None and decision.promised is not None and decision.promised >= likely,
        placeholder=placeholder,
        new_entry=not _in_calendar(pv, m.uid),
        held=holds,
    )
    _add(c, plan, project, env, c.letters.notice(letter), now, m.uid, decision.promised)
    if history:  # what it was composed from: a newer note makes a held one be composed again
        plan.messages[-1] = dataclasses.replace(plan.messages[-1], basis=max(r.at for r in history))
    if decision.kind == "delivered":
        plan.dates.append(ShowDate(project=project.id, uid=m.uid, sequence=sequence, delivered=True,
                                   entry_uid=row.entry_uid, reinstated=back))
        return plan
    plan.dates.append(ShowDate(project=project.id, uid=m.uid, sequence=sequence, shown_date=decision.promised,
                               promised=decision.promised, invited=env.invites, entry_uid=row.entry_uid))
    for r in moved_rows:
        if env.invites:  # under "feed" and "off" the feed or the next letter's table shows the new date
            dep_env = _envelope(c, pv, "update", [r.uid, r.sequence], now)
            _add(c, plan, project, dep_env, c.letters.calendar(dep_env, r, after=row.name, context=project.context,
                                                               new_entry=not _in_calendar(pv, r.uid)), now, r.uid)
        # the dependant's new date is a promise too: it is judged against it from now on
        plan.dates.append(ShowDate(project.id, r.uid, r.sequence, shown_date=r.new, promised=r.new,
                                   invited=env.invites, entry_uid=r.entry_uid))
    return plan


def _trigger(c: Studio, pv: ProjectView, m: Milestone, f: Forecast) -> str:
    """Why a notice is due now, as core/policy.decide judged it: the team's own date past the date the client
    holds, no estimate with that date about to pass, the chance of missing it at warn_probability, or a promise
    about to break."""
    held = f.target if f.target is not None else pv.agreed(m)  # the date the forecast judged: the one they hold
    client, warn = pv.project.client.name, c.config.policy.warn_probability
    if f.team_date is not None and f.team_date > held:
        said = phrase(_("the team's latest note puts the end of the work on %(team)s, past %(date)s, the date "
                        "%(client)s holds, and the client hears as soon as the team's own date passes theirs."),
                      team=f.team_date, date=held, client=client)
    elif policy.unestimated(f):
        said = phrase(_("no note gives an estimate, and %(date)s, the date %(client)s holds, is about to pass: the "
                        "client hears before it does."), date=held, client=client)
    elif f.p_miss is not None and f.p_miss >= warn:
        said = phrase(_("the chance of missing %(date)s, the date %(client)s holds, has reached %(p_miss)s, and the "
                        "client hears at %(warn)s."), date=held, client=client, p_miss=Percent(f.p_miss * 100),
                      warn=Percent(warn * 100))
    else:
        said = phrase(_("%(date)s, the date %(client)s holds, is a working day away and the forecast runs past it: "
                        "a promise is never let pass unannounced."), date=held, client=client)
    return c.letters.say(c.config.team.language, [said])


def _in_calendar(pv: ProjectView, uid: str) -> bool:
    """The client's calendar has the milestone's entry: an invitation for it went out and was not rejected (one
    still held for the manager has not gone out)."""
    if pv.in_calendar is not None:
        return uid in pv.in_calendar
    cd = pv.dates.get(uid)
    return cd is not None and cd.invited and uid not in pv.uninvited


def _ask(c: Studio, pv: ProjectView, m: Milestone, broken: dt.date, promised: dt.date,
         history: Sequence[Report], now: dt.datetime) -> QueueMail:
    """The team is asked for a cause and a plan newer than the last notice: whoever reported on the milestone
    last (a member), else the manager. Its answer is a note (Reply-To: the inbox)."""
    members = {ascii_lower(bare(x)) for x in c.config.team.members}
    last = next((r.sender for r in reversed(history) if r.sender and ascii_lower(r.sender) in members), "")
    to = last or bare(pv.project.manager)
    token, msg_id = c.message_id("ask", pv.project.id, m.uid, promised.isoformat(), now.isoformat())
    message = c.letters.ask(language=c.config.team.language, sender=c.sender, to=to,
                            reply_to=c.config.imap.address, composed_at=now, message_id=msg_id,
                            project_id=pv.project.id, project_name=pv.project.name, milestone=m.name, broken=broken,
                            promised=promised)
    return c.outgoing(kind="ask", audience="team", token=token, msg_id=msg_id, message=message.as_bytes(),
                      recipients=[to], now=now, project=pv.project.id, uid=m.uid)


WEEKLY_AFTER = dt.timedelta(days=2)  # the first check-in comes at least this long after the introduction
FOLLOW_UP_DAYS = 2  # a notice without a plan promises the steps within this many working days (a reminder then)
CALL_DAYS = 1  # a second notice: the manager calls the client this many working days later (a reminder then)


def _latest(history: Sequence[Report], key: str) -> Report | None:
    """The newest note that gave `key` (cause, plan, prevent)."""
    return next((r for r in reversed(history) if getattr(r, key)), None)


def _latest_text(history: Sequence[Report], key: str) -> str:
    found = _latest(history, key)
    return str(getattr(found, key)) if found else ""


def plan_cancel(c: Studio, pv: ProjectView, m: Milestone, now: dt.datetime, private: bool = False) -> Plan:
    """A milestone the client has seen is cancelled: the letter, with METHOD:CANCEL only when the client's calendar
    has its entry (an invitation went, and was not rejected) — one seen only in a letter's table gets the letter
    alone. Its SEQUENCE is above every one decided for the entry (held or rejected ones too: it only grows).
    `private`: not cancelled, but made private in the team calendar while its entry is in the client's calendar:
    the letter says it is off the timeline they share, and the CANCEL takes the entry out — left there, its date
    would never move again."""
    sequence = pv.next_sequence(m)
    row = TimelineRow(m.uid, m.name, pv.agreed(m), pv.shown(m), "cancelled", sequence,
                      pv.entry_uid(m.uid))
    invited = _in_calendar(pv, m.uid)
    # its SEQUENCE in its identity: a milestone back in the plan and cancelled again gets a second cancellation, a
    # message of its own (the same id would be refused as a duplicate, and the pass with it)
    env = _envelope(c, pv, "cancel", [m.uid, sequence], now)
    plan = Plan(reason="made private in the calendar" if private else "cancelled in the calendar",
                why=c.letters.gettext(c.config.team.language, _("made private in the calendar") if private
                                      else _("cancelled in the calendar")))
    # the work that built on it goes ahead on the dates the client has: a cancelled milestone holds nothing back
    builds_on = {uid for uid, _gap in m.successors}
    dependants = [r for r in pv.rows() if r.uid in builds_on and r.status != "done"]
    # why, when the team said it: the Cause of the milestone's newest note, if that note came after the last notice
    # the client read (a cause the client already read was a delay's, not this cancellation's)
    history, since = pv.reports.get(m.uid, []), pv.told.get(m.uid)
    newest = max(history, key=lambda r: r.at) if history else None
    cause = newest.cause or "" if newest is not None and (since is None or newest.at > since) and not private else ""
    letter = c.letters.cancel(env, row, sent=pv.sequence(m), invited=invited, cause=cause, dependants=dependants,
                              private=private)
    _add(c, plan, pv.project, env, letter, now, m.uid)
    plan.dates.append(ShowDate(project=pv.project.id, uid=m.uid, sequence=sequence, cancelled=True,
                               entry_uid=row.entry_uid))
    return plan


def back_on(pv: ProjectView, m: Milestone) -> dt.date:
    """The date a milestone back in the plan is back on: the one the client was last promised, where a notice gave
    one, else the deadline the team calendar has now (restored, it may have a new one)."""
    cd = pv.dates.get(m.uid)
    return cd.promised if cd is not None and cd.promised is not None else pv.agreed(m)


def return_due(pv: ProjectView, m: Milestone, today: dt.date) -> bool:
    """Is the letter saying this milestone is back in the plan due: the client holds it cancelled (told so, a
    cancellation held, rejected or refused told nothing), no such letter is on its way, the team calendar has it open
    with a date still to come (`today`: the client's), and that date is not the one of a letter saying so that the
    manager rejected or the client's server refused (drafted again only once the date changes)."""
    if m.state == "cancelled" or m.private or pv.state(m) != "open" or not pv.believed_cancelled(m):
        return False
    return back_on(pv, m) >= today and not _refused_again(pv, m)


def _refused_again(pv: ProjectView, m: Milestone) -> bool:
    """Would the letter saying this milestone is back say what one the manager rejected (or the client's server
    refused) said — its date, and the team calendar's day then? A move of either is news: it is drafted again."""
    refused = pv.return_refused.get(m.uid)
    return refused is not None and refused.shown_date == back_on(pv, m) and refused.planned in (None, pv.agreed(m))


def not_told_yet(pv: ProjectView, m: Milestone, today: dt.date) -> str | None:
    """Why the client hears no news of this open milestone now — they hold it cancelled, and the letter saying it is
    back in the plan has not reached them (the pass's log and `preview` say it) —; None when they may."""
    if not pv.cancelled_for_client(m):
        return None
    if m.uid in pv.return_pending:
        return ("open again; the client, told it was cancelled, hears no news of it until the letter saying it is "
                "back in the plan goes out")
    if back_on(pv, m) < today:
        return ("open again but its date has passed; the client, told it was cancelled, hears of it once the team "
                "calendar gives it a date to come")
    if _refused_again(pv, m):
        return ("open again; the letter saying it is back in the plan was rejected or refused, so the client, told it "
                "was cancelled, hears of it once its date changes in the team calendar")
    return "open again; the client, told it was cancelled, hears first that it is back in the plan"


def plan_reinstated(c: Studio, pv: ProjectView, m: Milestone, now: dt.datetime) -> Plan:
    """A milestone the client was told is cancelled is open again in the team calendar: the letter that says it is
    back in the plan, on the date it now has (`back_on`), with the entry put back in the client's calendar (a
    REQUEST whose SEQUENCE is above every one decided for it: the cancellation's too)."""
    sequence = pv.next_sequence(m)
    row = TimelineRow(m.uid, m.name, pv.agreed(m), back_on(pv, m), "on track", sequence, pv.entry_uid(m.uid))
    invited = _in_calendar(pv, m.uid)
    env = _envelope(c, pv, "reinstate", [m.uid, sequence], now)
    plan = Plan(reason="back in the plan after its cancellation",
                why=c.letters.gettext(c.config.team.language, _("back in the plan after its cancellation")))
    _add(c, plan, pv.project, env, c.letters.reinstated(env, row, sent=pv.sequence(m), invited=invited), now, m.uid)
    plan.dates.append(ShowDate(project=pv.project.id, uid=m.uid, sequence=sequence, shown_date=row.new,
                               invited=env.invites, entry_uid=row.entry_uid, reinstated=True, planned=pv.agreed(m)))
    return plan


def plan_weekly(c: Studio, pv: ProjectView, slot: dt.datetime, now: dt.datetime,
                alerts: Collection[str] = (), first_sent: dt.datetime | None = None,
                waiting: Collection[str] = ()) -> Plan | None:
    """The check-in of the week whose slot (weekly_update, in the client's zone) has come; `alerts`: the UIDs the
    manager's risk alert is up for — the letter says the team keeps a close eye on them (no figure); `waiting`:
    the UIDs whose notice waits for the manager — the check-in waits with it (it would tell their old dates and
    "you'll hear it from me straight away" hours before the apology)."""
    open_visible = [m for m in pv.visible() if pv.state(m) == "open"]
    if not open_visible:
        return None  # nothing open: no check-in to send
    env = _envelope(c, pv, "weekly", [slot.date().isoformat()], now)
    rows = pv.rows()
    progress = pv.progress(slot - dt.timedelta(days=7))
    horizon = slot.date() + dt.timedelta(days=14)
    upcoming = sorted((r for r in rows if r.status != "done" and r.new <= horizon), key=lambda r: r.new)[:3]
    plan = Plan(reason=f"weekly check-in for the week of {slot.date().isoformat()}",
                why=c.letters.say(c.config.team.language, [phrase(_("the weekly update for the week of %(date)s"),
                                                                  date=slot.date())]))
    watch = [m.name for m in open_visible if m.uid in alerts]
    # the first check-in: last week's slot came before the project's first letter (or too soon after it to count)
    first = first_sent is not None and slot - dt.timedelta(days=7) <= first_sent + WEEKLY_AFTER
    message = c.letters.weekly(env, rows, progress, upcoming, slot.date(), watch, first=first)
    if held := [m.name for m in open_visible if m.uid in waiting]:
        plan.held.append(c.letters.gettext(c.config.team.language, _(
            "the notice about %(names)s waits for your decision, and this check-in gives its date as it stands: it "
            "waits with it — a notice that goes out withdraws it, or approve it once the notice is decided"),
            names=", ".join(f"\"{name}\"" for name in held)))
    _add(c, plan, pv.project, env, message, now)
    return plan


@dataclass(frozen=True)
class AlertPlan:
    """A change of a milestone's alert: the state to keep (None: down) and the mail to the manager, if any."""

    project: str
    uid: str
    what: str  # raise | worse | clear | end
    state: RiskAlert | None
    message: QueueMail | None


def _told_on(pv: ProjectView, m: Milestone, target: dt.date, tz: dt.tzinfo) -> dt.date | None:
    """The day a notice told the client `target` as the milestone's new date, when one did: the day it went out
    (the day the letters name, "As I said on …"), else — approved and not sent yet — the day it was made."""
    cd, at = pv.dates.get(m.uid), pv.sent.get(m.uid) or pv.told.get(m.uid)
    if cd is None or cd.promised != target or at is None:
        return None
    return at.astimezone(tz).date()


def plan_alert(c: Studio, pv: ProjectView, m: Milestone, f: Forecast | None, up: RiskAlert | None,
               notice: NoticeDecision | None, now: dt.datetime) -> AlertPlan | None:
    what = alert.change(pv.state(m), f, up, c.config.policy.alert_probability, c.workdays)
    if what is None:
        return None
    if what == "end":
        return AlertPlan(m.project, m.uid, what, None, None)
    assert f is not None and f.p_miss is not None  # change() raises or clears only on a forecast
    project = pv.project
    today = now.astimezone(c.team_tz).date()
    target = f.target or pv.agreed(m)
    letter = AlertLetter(
        what=what, project=project.name, milestone=m.name, target=target, p_miss=f.p_miss,
        was=up.p_miss if up else None, p50=f.p50, p80=f.p80,
        reason=c.letters.say(c.config.team.language, f.words) if f.words else f.reason,
        pace=alert.pace(pv.reports.get(m.uid, []), today, target, c.workdays, c.team_tz),
        notice="due" if notice is not None and notice.kind == "notice" and not m.private else
        "private" if m.private else "later",
        held=project.approval == "manager", warn_probability=c.config.policy.warn_probability,
        alert_probability=c.config.policy.alert_probability, client=project.client.name,
        told_on=_told_on(pv, m, target, c.team_tz),
    )
    token, msg_id = c.message_id("manager-alert", m.project, m.uid, what, now.isoformat())
    message = c.letters.alert(letter, language=c.config.team.language, sender=c.sender, to=project.manager,
                              composed_at=now, message_id=msg_id)
    mail = c.outgoing(kind="manager-alert", audience="team", token=token, msg_id=msg_id,
                      message=message.as_bytes(), recipients=[bare(project.manager)], now=now, project=m.project,
                      uid=m.uid)
    state = None if what == "clear" else RiskAlert(f.p_miss, f.p80, f.target, now)
    return AlertPlan(m.project, m.uid, what, state, mail)


@dataclass(frozen=True)
class Snapshot:
    """What deciding about a project reads from the store, read once before it."""

    view: ProjectView
    first_sent: dt.datetime | None  # when the project's first client message was recorded
    weekly_slot: dt.datetime | None  # this week's check-in time, when it has come and is not yet recorded
    alerts: dict[str, RiskAlert] = field(default_factory=dict)  # the manager's risk alerts that are up, by UID
    history: int = policy.LITTLE_HISTORY  # the team's closed milestones its forecasts learned from (Spread.history)


@dataclass
class Decision:
    """What a project's evaluation decided: the forecasts, the client messages, what the team should know."""

    forecasts: list[Forecast] = field(default_factory=list)
    plans: list[Plan] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    alerts: list[AlertPlan] = field(default_factory=list)  # the manager's risk alerts raised, worse, cleared


def decide_milestone(c: Studio, pv: ProjectView, m: Milestone, f: Forecast | None, now: dt.datetime
                     ) -> NoticeDecision | None:
    """The policy on one milestone as the client knows it: must they hear about it now? A notice still held for
    the manager is composed again when a note came after it (it then says what the team says now, and replaces
    the held one); a held or rejected date is otherwise not decided again until the news moves past it."""
    state = pv.state(m)
    effective = m if state == m.state else dataclasses.replace(m, state=state)
    cd = pv.dates.get(m.uid)
    withheld = pv.withheld.get(m.uid)
    held = pv.held.get(m.uid)
    if held is not None and any(r.at > held for r in pv.reports.get(m.uid, [])):
        withheld = None  # the held letter is out of date: decide afresh
    promise = policy.Promise(cd.promised if cd else None, cd.delivered_sent if cd else False, withheld)
    return policy.decide(effective, f, promise, c.policy, c.workdays, pv.agreed(m),
                         today=now.astimezone(c.team_tz).date(), client=c.client_days(pv.project))


def decide_project(c: Studio, snap: Snapshot, forecast: ForecastFn, now: dt.datetime,
                   tick: Callable[[], None] = lambda: None) -> Decision:
    """Every decision about a project, in order; each sees the dates the ones before it gave the client."""
    # the client's entries get UIDs keyed with the state's secret (the view read from the store has it already)
    pv, project, out = dataclasses.replace(snap.view, key=c.key), snap.view.project, Decision()

    def add(plan: Plan, what: str) -> None:
        nonlocal pv
        plan.what, plan.about = what, about(pv, plan)
        out.plans.append(plan)
        pv = pv.after(plan.dates, held=plan.messages[0].state == "held")

    invites = project.calendar_updates == "invitations"
    client_day = now.astimezone(pv.client_tz).date()  # the day the client is in: what has passed for them
    for m in pv.milestones:
        cd = pv.dates.get(m.uid)
        # a date the client was told (and not held cancelled still: its return to the plan never reached them);
        # under "feed" or "off" (letters alone since this session) only one still to come, so that the first pass
        # after an upgrade writes no letter of a cancellation long past
        if (m.state == "cancelled" and cd is not None and cd.shown_date is not None
                and not cd.cancelled_sent and not m.private and not pv.cancelled_for_client(m)
                and (invites or pv.shown(m) >= client_day)):
            add(plan_cancel(c, pv, m, now), f"cancellation of \"{m.name}\"")
        # told it was cancelled (a cancellation held, rejected or refused told nothing), and open again in the team
        # calendar with a date still to come: the client hears it is back — before any other news of it
        elif return_due(pv, m, client_day):
            add(plan_reinstated(c, pv, m, now), f"\"{m.name}\" back in the plan")
        # made private since its entry went into the client's calendar, with its date still to come: taken out,
        # said so — the page and feed leave it out, and a date in their calendar nobody updates is worse than none
        elif (m.private and invites and m.state != "cancelled" and pv.state(m) == "open" and cd is not None
              and not pv.cancelled_for_client(m) and _in_calendar(pv, m.uid) and pv.shown(m) >= client_day):
            add(plan_cancel(c, pv, m, now, private=True), f"\"{m.name}\" off the client's timeline (made private)")
    first_sent = snap.first_sent
    if first_sent is None and (intro := plan_intro(c, pv, now)) is not None:
        add(intro, "introduction")
        first_sent = now
    forecasts: dict[str, Forecast] = {}
    linked = {x.uid: x for x in pv.milestones if x.state != "cancelled"}
    followers = {s for x in linked.values() for s, _ in x.successors}
    for m in pv.milestones:  # in deadline order: predecessors are usually forecast first
        tick()
        if m.state == "cancelled":
            if m.uid in snap.alerts:
                out.alerts.append(AlertPlan(m.project, m.uid, "end", None, None))
            continue
        f = forecast(m, pv.reports.get(m.uid, []), pv.dates.get(m.uid), now, pv.agreed(m))
        if m.uid in followers and pv.state(m) == "open":
            f = dependencies.waits_for(m, f, forecasts, linked, c.workdays, pv.client_tz)
        if f is not None:
            forecasts[m.uid] = f
        decision = decide_milestone(c, pv, m, f, now)
        if (risk := plan_alert(c, pv, m, f, snap.alerts.get(m.uid), decision, now)) is not None:
            out.alerts.append(risk)
        if decision is None:
            continue
        if m.private:
            if decision.kind != "delivered":
                out.events.append(f"{project.id}: private milestone \"{m.name}\" is at risk ({decision.reason}); "
                                  "the client is not told")
            continue
        # a milestone the client holds cancelled hears nothing until it is back in the plan — but that it was
        # delivered after all, once no letter saying it is back is on its way (it never could be now)
        if (silent := not_told_yet(pv, m, client_day)) is not None and \
                (decision.kind != "delivered" or m.uid in pv.return_pending):
            out.events.append(f"{project.id}: \"{m.name}\" is {silent}")
            continue
        plan = plan_notice(c, pv, m, decision, now, snap.history)
        if decision.kind == "delivered":
            what = f"delivered note for \"{m.name}\""
        else:  # the date the letter promises: after the work it waits for, where that pushed the policy's later
            days_left = (m.deadline - now).total_seconds() / 86400
            promised = next((d.promised for d in plan.dates if d.uid == m.uid), decision.promised)
            what = f"notice for \"{m.name}\", {days_left:.1f} days before its deadline, promising {promised}"
        add(plan, what)
    # not at first contact: the introduction (and a notice, if one is due) are all a client gets that day
    if invites and first_sent is not None and now - first_sent >= dt.timedelta(days=2):
        near = client_day + dt.timedelta(days=NEAR_DAYS)
        for m in pv.visible():  # visible: never one the client holds cancelled (cancelled_for_client)
            cd = pv.dates.get(m.uid)
            if (cd is None or not cd.invited) and pv.state(m) == "open" and pv.shown(m) <= near:
                add(plan_invitation(c, pv, m, now), f"invitation for \"{m.name}\"")
    out.forecasts = list(forecasts.values())
    # the first check-in comes at least two days after the introduction, not hours after it
    if (first_sent is not None and snap.weekly_slot is not None and snap.weekly_slot > first_sent + WEEKLY_AFTER
            and (weekly := plan_weekly(c, pv, snap.weekly_slot, now, snap.alerts, first_sent, {
                *pv.held, *(p.messages[0].uid or "" for p in out.plans if p.messages[0].kind == "notice"
                            and p.messages[0].state == "held")})) is not None):
        add(weekly, "weekly check-in")
    return out
