"""Building the real adapters from a validated configuration."""

from __future__ import annotations

from deadlinewatch.adapters import templates
from deadlinewatch.adapters.calendar import CalDAVCalendar
from deadlinewatch.adapters.clock import Clock
from deadlinewatch.adapters.mailbox import ImapMailbox, ImapSettings
from deadlinewatch.adapters.mailer import SmtpMailer, SmtpSettings
from deadlinewatch.adapters.store import Store
from deadlinewatch.config import Config
from deadlinewatch.core.letters import Letters
from deadlinewatch.services import Services


def imap_settings(config: Config) -> ImapSettings:
    i = config.imap
    return ImapSettings(i.host, i.port, i.security, config.accounts["imap"], i.timeout_seconds)


def smtp_settings(config: Config) -> SmtpSettings:
    s = config.smtp
    return SmtpSettings(s.host, s.port, s.security, config.accounts["smtp"], s.timeout_seconds)


def caldav_calendar(config: Config) -> CalDAVCalendar:
    c = config.caldav
    return CalDAVCalendar(c.url, config.accounts["caldav"], c.verify_tls, c.timeout_seconds)


def letters(config: Config) -> Letters:
    """The letters, with every configured language checked to have its templates."""
    result = templates.letters(config.letters.template_dir)
    result.check_language(config.team.language, "team.language", team=True)
    for i, p in enumerate(config.projects):
        result.check_language(p.client.language, f"projects[{i}].client.language")
    return result


def services(config: Config, store: Store, clock: Clock) -> Services:
    settings = imap_settings(config)
    return Services(
        config=config,
        store=store,
        calendar=caldav_calendar(config),
        mailbox=lambda: ImapMailbox(settings),
        mailer=SmtpMailer(smtp_settings(config)),
        clock=clock,
        letters=letters(config),
    )
