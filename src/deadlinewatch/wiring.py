"""Building the real adapters from a validated configuration."""

from __future__ import annotations

import dataclasses
import os

from deadlinewatch.adapters import templates
from deadlinewatch.adapters.calendar import CalDAVCalendar
from deadlinewatch.adapters.clock import Clock
from deadlinewatch.adapters.mailbox import ImapMailbox, ImapSettings
from deadlinewatch.adapters.mailer import SmtpMailer, SmtpSettings
from deadlinewatch.adapters.oauth import RefreshTokens, TokenSource
from deadlinewatch.adapters.store import StorePort
from deadlinewatch.config import Config
from deadlinewatch.core.letters import Letters
from deadlinewatch.errors import ConfigError
from deadlinewatch.services import Services


def refresh_tokens(config: Config, section: str) -> RefreshTokens:
    oauth = config.accounts[section].oauth
    return RefreshTokens(config.state_dir, section, oauth.refresh_token_file if oauth else "",
                         os.environ.get("CREDENTIALS_DIRECTORY"))


def signed_in(config: Config) -> Config:
    """The config with each OAuth account given its source of access tokens (one per account, shared by every
    connection made with this config: a token is renewed once, not per connection)."""
    accounts = {name: a if a.oauth is None or a.token is not None else
                dataclasses.replace(a, token=TokenSource(name, a.oauth, refresh_tokens(config, name)))
                for name, a in config.accounts.items()}
    return dataclasses.replace(config, accounts=accounts)


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
    result = templates.letters(config.letters.template_dir, config.timezone)
    problems: list[str] = []  # every language's, at once, as the file's own problems are
    checks = [(config.team.language, "team.language", True),
              *((p.client.language, f"projects[{i}].client.language", False) for i, p in enumerate(config.projects))]
    for language, where, team in checks:
        try:
            result.check_language(language, where, team=team)
        except ConfigError as e:
            problems += [p for p in e.problems if p not in problems]
    if problems:
        raise ConfigError(problems, config.path)
    return result


def services(config: Config, store: StorePort, clock: Clock) -> Services[StorePort]:
    config = signed_in(config)
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
