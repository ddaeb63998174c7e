"""The configuration: every key declared once, every problem reported at once with file, key and value."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest

from deadlinewatch.config import load
from deadlinewatch.config.loading import system_timezone
from deadlinewatch.config.schema import SECTIONS, Client, OAuth2Table, Offer, PolicySection, Project, keys_of
from deadlinewatch.config.starter import starter_config
from deadlinewatch.core.policy import Policy
from deadlinewatch.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
CONTRACT_KEYS = {
    "daemon": {"state_dir", "database", "database_password_file", "timezone", "poll_seconds", "log_level"},
    "caldav": {"url", "username", "password_file", "password_env", "password", "verify_tls"},
    "imap": {"host", "port", "security", "username", "password_file", "address", "folder", "processed_folder",
             "rejected_folder", "sent_folder", "require_authentication", "authserv_id"},
    "smtp": {"host", "port", "security", "username", "password_file", "from"},
    "team": {"members", "manager", "language"},
    "policy": {"approval", "working_days", "holidays", "closed", "weekly_update", "warn_probability",
               "renotify_slip_days", "stale_after_days", "approval_hours"},
    "letters": {"template_dir"},
    "metrics": {"listen"},
}


def test_every_contract_key_is_declared() -> None:
    for section, keys in CONTRACT_KEYS.items():
        assert keys <= {k.name for k in keys_of(SECTIONS[section])}, section
    assert {"id", "name", "calendar", "categories", "context", "client_calendar", "approval", "weekly_update",
            "manager"} <= {k.name for k in keys_of(Project)}
    assert {k.name for k in keys_of(Offer)} == {"min_slip_days", "text"}


def test_the_example_config_is_the_starter_config() -> None:
    assert (ROOT / "config" / "deadlinewatch.example.toml").read_text() == starter_config()


def test_the_starter_config_writes_every_key_of_a_project() -> None:
    """The contract audit: `init` left out projects' weekly_update, a per-project override CONTRACT.md names (a key
    with nothing by default was skipped); it is written, commented out, as a secret's keys are."""
    from deadlinewatch.config.schema import Project, keys_of

    text = starter_config()
    missing = [k.name for k in keys_of(Project) if k.attribute and f"{k.name} =" not in text]
    assert missing == [], missing
    assert '# weekly_update = "fri 16:00"' in text


def test_the_starter_config_loads_with_the_passwords_as_systemd_credentials(tmp_path: Path) -> None:
    for name in ("caldav", "imap", "smtp"):
        (tmp_path / name).write_text("secret\n")
    path = tmp_path / "dw.toml"
    path.write_text(starter_config())
    config = load(path, env={"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert config.projects[0].id == "acme-web"
    assert config.accounts["imap"].password is not None and config.accounts["imap"].password.reveal() == "secret"
    assert [o.min_slip_days for o in config.offers] == [1, 10]


def minimal(tmp_path: Path, extra: str = "", imap_extra: str = 'password_env = "IMAP_PW"') -> Path:
    path = tmp_path / "dw.toml"
    path.write_text(f"""
[caldav]
url = "http://127.0.0.1:1/"
[imap]
host = "127.0.0.1"
security = "none"
username = "progress"
address = "progress@studio.example"
require_authentication = false
{imap_extra}
[smtp]
host = "127.0.0.1"
security = "none"
from = "PM <pm@studio.example>"
[team]
members = ["alice@studio.example"]
manager = "pm@studio.example"
[[projects]]
id = "p"
name = "P"
calendar = "p"
client = {{ name = "C", email = "c@client.example" }}
{extra}
""")
    path.chmod(0o600)
    return path


def test_all_problems_are_reported_at_once_naming_file_key_and_value(tmp_path: Path) -> None:
    path = minimal(tmp_path, extra='[policy]\nwarn_probability = 7\nworking_days = ["mon", "funday"]\n'
                                   'holidays = "XX"\nsurprise = 1\n')
    with pytest.raises(ConfigError) as e:
        load(path, env={"IMAP_PW": "x"})
    text = str(e.value)
    assert str(path) in text
    assert "policy.warn_probability = 7: expected a probability between 0 and 1" in text
    assert "policy.working_days" in text and "funday" in text
    assert 'policy.holidays = "XX"' in text
    assert "policy.surprise: unknown key" in text
    assert len(e.value.problems) == 4


def test_a_client_address_in_another_script_is_written_as_mail_servers_know_it_or_refused(tmp_path: Path) -> None:
    """The audit: check-config accepted jane@bücher.example, and every pass then stopped at composing the client's
    letter (UnicodeEncodeError) — the team's replies queued behind it never went either. Its domain is written as
    DNS and SMTP know it (IDNA); a mailbox name outside ASCII, which needs SMTPUTF8, is refused, naming the key."""
    path = minimal(tmp_path)
    path.write_text(path.read_text().replace("c@client.example", "jane@bücher.example"))
    [project] = load(path, env={"IMAP_PW": "x"}).projects
    assert project.client.email == "jane@xn--bcher-kva.example"
    # IDNA 2008, not Python's IDNA 2003 codec, which makes straße.de strasse.de: another registrant (the review)
    path.write_text(path.read_text().replace("jane@bücher.example", "jane@straße.de"))
    assert load(path, env={"IMAP_PW": "x"}).projects[0].client.email == "jane@xn--strae-oqa.de"
    path.write_text(path.read_text().replace("jane@straße.de", "jäne@client.example"))
    with pytest.raises(ConfigError) as e:
        load(path, env={"IMAP_PW": "x"})
    assert 'projects[0].client.email = "jäne@client.example"' in str(e.value) and "SMTPUTF8" in str(e.value)


def test_a_team_of_nobody_is_refused(tmp_path: Path) -> None:
    """The contract audit: team.members = [] was "valid", and every note was then refused for ever."""
    path = minimal(tmp_path)
    text = path.read_text()
    start = text.index("members = ")
    path.write_text(text[:start] + "members = []" + text[text.index("\n", start):])
    with pytest.raises(ConfigError) as e:
        load(path, env={"IMAP_PW": "x"})
    assert "team.members = []: expected at least one team member's address" in str(e.value)


def test_every_language_without_words_is_named_at_once(tmp_path: Path) -> None:
    """The contract audit: check-config named one language problem a run — team.language "xx", then, once fixed,
    a client's "fr" — as the file's other problems are all named at once."""
    from deadlinewatch import wiring

    path = minimal(tmp_path)
    path.write_text(path.read_text().replace('manager = "pm@studio.example"\n', 'manager = "pm@studio.example"\n'
                                             'language = "xx"\n')
                    .replace('email = "c@client.example" }', 'email = "c@client.example", language = "fr" }'))
    with pytest.raises(ConfigError) as e:
        wiring.letters(load(path, env={"IMAP_PW": "x"}))
    assert len(e.value.problems) == 2 and str(path) in str(e.value)
    assert 'team.language = "xx"' in e.value.problems[0] and 'projects[0].client.language = "fr"' in \
        e.value.problems[1]


def test_missing_required_keys_say_what_is_expected(tmp_path: Path) -> None:
    path = tmp_path / "dw.toml"
    path.write_text("[imap]\nport = 993\n")
    with pytest.raises(ConfigError) as e:
        load(path, env={})
    text = str(e.value)
    assert "caldav.url: missing" in text and "imap.host: missing" in text and "[[projects]]" in text


def test_an_inline_password_is_refused_in_a_file_others_can_read(tmp_path: Path) -> None:
    path = minimal(tmp_path, imap_extra='password = "hunter2"')
    path.chmod(0o644)
    with pytest.raises(ConfigError) as e:
        load(path, env={})
    assert "chmod 600" in str(e.value) and "hunter2" not in str(e.value)
    path.chmod(0o600)
    password = load(path, env={}).accounts["imap"].password
    assert password is not None
    assert password.reveal() == "hunter2"


def test_passwords_from_systemd_credentials(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "imap").write_text("from-systemd\n")
    config = load(minimal(tmp_path, imap_extra=""), env={"CREDENTIALS_DIRECTORY": str(creds)})
    password = config.accounts["imap"].password
    assert password is not None
    assert password.reveal() == "from-systemd"


def test_a_username_without_any_password_is_a_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape("imap.username is set but no password")):
        load(minimal(tmp_path, imap_extra=""), env={})


def test_secrets_never_show_in_reprs(tmp_path: Path) -> None:
    config = load(minimal(tmp_path), env={"IMAP_PW": "hunter2"})
    assert "hunter2" not in repr(config)


def test_authentication_needs_our_authserv_id(tmp_path: Path) -> None:
    path = minimal(tmp_path)
    path.write_text(path.read_text().replace("require_authentication = false", "require_authentication = true"))
    with pytest.raises(ConfigError, match=re.escape("imap.authserv_id: required")):
        load(path, env={"IMAP_PW": "x"})


def test_plain_connections_only_to_loopback(tmp_path: Path) -> None:
    path = minimal(tmp_path)
    path.write_text(path.read_text().replace('host = "127.0.0.1"\nsecurity = "none"\nusername',
                                             'host = "imap.example.com"\nsecurity = "none"\nusername'))
    expected = 'imap.security = "none": plain connections are allowed to loopback only'
    with pytest.raises(ConfigError, match=re.escape(expected)):
        load(path, env={"IMAP_PW": "x"})


def test_defaults_fill_what_is_left_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load(minimal(tmp_path), env={"IMAP_PW": "x", "STATE_DIRECTORY": "/var/lib/dw"})
    assert config.state_dir == Path("/var/lib/dw")
    assert config.policy.warn_probability == 0.97 and config.imap.folder == "INBOX"
    assert config.projects[0].client.timezone == config.timezone
    assert config.projects[0].approval == "auto" and config.projects[0].manager == "pm@studio.example"


def test_not_toml_is_one_clear_problem(tmp_path: Path) -> None:
    path = tmp_path / "dw.toml"
    path.write_text("[daemon\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(path)


def test_system_timezone_is_a_real_zone() -> None:
    import zoneinfo

    assert zoneinfo.ZoneInfo(system_timezone()).key


def test_a_choice_is_its_fields_literal_type() -> None:
    """The file accepts exactly the values the program's type names (mypy checks the code against the same)."""
    assert typing.get_type_hints(PolicySection)["approval"] == typing.Literal["auto", "manager", "shadow"]
    choices = 0
    for cls in (*SECTIONS.values(), OAuth2Table, Client, Project):
        hints = typing.get_type_hints(cls)
        for key in keys_of(cls):
            kind = hints.get(key.attribute)
            if typing.get_origin(kind) is typing.Literal:
                choices += 1
                assert [key.check(v) for v in typing.get_args(kind)] == list(typing.get_args(kind)), key.name
                with pytest.raises(ValueError, match="one of "):
                    key.check("something else")
    assert choices >= 8  # log_level, auth ×3, security ×2, approval ×2, provider, calendar_updates


def test_the_server_passwords_are_read_but_kept_out_of_the_sections(tmp_path: Path) -> None:
    config = load(minimal(tmp_path), env={"IMAP_PW": "hunter2"})
    assert {"password", "password_file", "password_env"} <= {k.name for k in keys_of(SECTIONS["imap"])}
    assert not {"password", "password_file", "password_env"} & set(vars(config.imap))
    assert config.accounts["imap"].password is not None and config.accounts["imap"].password.reveal() == "hunter2"


def test_the_decisions_thresholds_are_the_configs() -> None:
    """One conversion from [policy] to the notice policy's thresholds, and no defaults of the policy's own."""
    assert PolicySection().thresholds() == Policy(warn_probability=0.97, renotify_slip_days=3, alert_probability=0.88)
    with pytest.raises(TypeError):
        Policy()  # type: ignore[call-arg]  # on purpose: the thresholds have no defaults besides the config's


def test_a_feed_needs_the_address_the_letters_link(tmp_path: Path) -> None:
    path = minimal(tmp_path, extra='calendar_updates = "feed"\n')
    with pytest.raises(ConfigError) as e:
        load(path, env={"IMAP_PW": "x"})
    assert 'projects[0].client_feed_url: required with calendar_updates = "feed"' in str(e.value)


def test_the_web_pages_need_a_way_to_sign_in_and_a_readable_password_file(tmp_path: Path) -> None:
    path = minimal(tmp_path)
    path.write_text(path.read_text() + '\n[web]\nlisten = "127.0.0.1:8080"\n')
    with pytest.raises(ConfigError) as e:
        load(path, env={"IMAP_PW": "x"})
    assert "web.listen is set but nobody could sign in" in str(e.value)
    path.write_text(path.read_text() + f'password_file = "{tmp_path}/missing"\ntrusted_proxies = ["not an address"]\n')
    with pytest.raises(ConfigError) as e:
        load(path, env={"IMAP_PW": "x"})
    assert f'web.password_file = "{tmp_path}/missing": cannot read it' in str(e.value)
    assert "web.trusted_proxies" in str(e.value)


def test_a_feed_may_be_the_web_pages_own(tmp_path: Path) -> None:
    path = minimal(tmp_path, extra='calendar_updates = "feed"\n')
    (tmp_path / "pw").write_text("$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA\n")
    path.write_text(path.read_text() + f'\n[web]\nlisten = "127.0.0.1:8080"\nbase_url = "https://s.example/dw/"\n'
                                       f'password_file = "{tmp_path}/pw"\n')
    assert load(path, env={"IMAP_PW": "x"}).web.base_url == "https://s.example/dw/"


def test_the_web_password_comes_from_systemds_credentials_when_no_file_is_named(tmp_path: Path) -> None:
    path = minimal(tmp_path)
    path.write_text(path.read_text() + '\n[web]\nlisten = "127.0.0.1:8080"\n')
    (tmp_path / "creds").mkdir()
    (tmp_path / "creds" / "web-password").write_text("$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA\n")
    config = load(path, env={"IMAP_PW": "x", "CREDENTIALS_DIRECTORY": str(tmp_path / "creds")})
    assert config.web.password_file == str(tmp_path / "creds" / "web-password")


def test_the_proxys_user_header_needs_the_proxys_address_named(tmp_path: Path) -> None:
    """No default for web.trusted_proxies: a header any local process could write names nobody."""
    for name in ("caldav", "imap", "smtp"):
        (tmp_path / name).write_text("secret\n")
    path = tmp_path / "dw.toml"
    path.write_text(starter_config() + '\n')
    text = path.read_text().replace('trusted_user_header = ""', 'trusted_user_header = "X-Forwarded-User"')
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        load(path, env={"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert "web.trusted_user_header" in str(e.value) and "trusted_proxies" in str(e.value)


def test_the_state_is_sqlite_in_the_state_directory_by_default(tmp_path: Path) -> None:
    config = load(minimal(tmp_path), env={"IMAP_PW": "x"})
    assert config.daemon.database == "" and "database" not in config.accounts


def test_a_postgresql_database_with_its_password_from_a_file_or_systemds_credentials(tmp_path: Path) -> None:
    (tmp_path / "db.pw").write_text("s3cret\n")
    path = minimal(tmp_path, extra=f'[daemon]\ndatabase = "postgresql://dw@db.example:5432/deadlinewatch"\n'
                                    f'database_password_file = "{tmp_path}/db.pw"\n')
    config = load(path, env={"IMAP_PW": "x"})
    assert config.daemon.database == "postgresql://dw@db.example:5432/deadlinewatch"
    account = config.accounts["database"]
    assert account.username == "dw" and account.password is not None and account.password.reveal() == "s3cret"
    (tmp_path / "creds").mkdir()
    (tmp_path / "creds" / "database").write_text("from-systemd\n")
    path = minimal(tmp_path, extra='[daemon]\ndatabase = "postgres://db.example/dw"\n')
    password = load(path, env={"IMAP_PW": "x", "CREDENTIALS_DIRECTORY": str(tmp_path / "creds")}).accounts[
        "database"].password
    assert password is not None and password.reveal() == "from-systemd"


def test_a_password_inside_the_database_url_is_refused_without_showing_it(tmp_path: Path) -> None:
    for url in ("postgresql://dw:hunter2@db.example/dw", "postgresql://db.example/dw?password=hunter2"):
        with pytest.raises(ConfigError) as e:
            load(minimal(tmp_path, extra=f'[daemon]\ndatabase = "{url}"\n'), env={"IMAP_PW": "x"})
        text = str(e.value)
        assert "daemon.database = " in text and "a URL without the password" in text, text
        assert "$CREDENTIALS_DIRECTORY/database" in text and "daemon.database_password_file" in text
        assert "hunter2" not in text and "***" in text


def test_a_database_that_is_not_postgresql_names_the_key_and_what_would_be_right(tmp_path: Path) -> None:
    for url in ("mysql://db.example/dw", "sqlite:///var/lib/dw/state.db", "db.example:5432",
                "postgresql://db.example:port/dw"):
        with pytest.raises(ConfigError) as e:
            load(minimal(tmp_path, extra=f'[daemon]\ndatabase = "{url}"\n'), env={"IMAP_PW": "x"})
        assert f'daemon.database = "{url}": expected "" for SQLite in state_dir, or a URL such as "postgresql://' \
            in str(e.value)


def test_the_database_password_file_is_read_and_only_with_a_database(tmp_path: Path) -> None:
    path = minimal(tmp_path, extra=f'[daemon]\ndatabase = "postgresql://dw@db.example/dw"\n'
                                    f'database_password_file = "{tmp_path}/missing"\n')
    with pytest.raises(ConfigError, match=re.escape(f'daemon.database_password_file = "{tmp_path}/missing": '
                                                    "cannot read it")):
        load(path, env={"IMAP_PW": "x"})
    (tmp_path / "db.pw").write_text("s3cret\n")
    path = minimal(tmp_path, extra=f'[daemon]\ndatabase_password_file = "{tmp_path}/db.pw"\n')
    with pytest.raises(ConfigError, match=re.escape("set, but daemon.database is not")):
        load(path, env={"IMAP_PW": "x"})


def test_a_providers_endpoints_and_scopes_are_filled_in(tmp_path: Path) -> None:
    google = 'auth = "oauth2"\noauth2 = { provider = "google", client_id = "1234.apps.example" }'
    oauth = load(minimal(tmp_path, imap_extra=google), env={}).accounts["imap"].oauth
    assert oauth is not None and oauth.token_url == "https://oauth2.googleapis.com/token"
    assert oauth.scopes == ("https://mail.google.com/",) and oauth.device_authorization_url == ""
    assert oauth.authorization_url == "https://accounts.google.com/o/oauth2/v2/auth"  # Google: in a browser only
    microsoft = 'auth = "oauth2"\noauth2 = { provider = "microsoft", client_id = "app", tenant = "studio.example" }'
    oauth = load(minimal(tmp_path, imap_extra=microsoft), env={}).accounts["imap"].oauth
    assert oauth is not None and oauth.scopes == ("https://outlook.office.com/IMAP.AccessAsUser.All", "offline_access")
    base = "https://login.microsoftonline.com/studio.example/oauth2/v2.0"
    assert (oauth.device_authorization_url, oauth.token_url) == (f"{base}/devicecode", f"{base}/token")


def test_microsoft_365_offers_no_caldav(tmp_path: Path) -> None:
    path = minimal(tmp_path)
    path.write_text(path.read_text().replace('url = "http://127.0.0.1:1/"\n', 'url = "http://127.0.0.1:1/"\nusername = '
                                             '"pm"\nauth = "oauth2"\noauth2 = { provider = "microsoft", client_id = '
                                             '"app" }\n'))
    with pytest.raises(ConfigError, match=re.escape('caldav.oauth2.provider = "microsoft": Microsoft 365 offers no '
                                                    "CalDAV; use its IMAP and SMTP with a CalDAV server of your own")):
        load(path, env={"IMAP_PW": "x"})
