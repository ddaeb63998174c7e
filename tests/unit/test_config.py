"""The configuration: every key declared once, every problem reported at once with file, key and value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from deadlinewatch import config as config_mod
from deadlinewatch.config import OFFER_KEYS, PROJECT_KEYS, SCHEMA, load, starter_config
from deadlinewatch.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
CONTRACT_KEYS = {
    "daemon": {"state_dir", "timezone", "poll_seconds", "log_level"},
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
        assert keys <= {k.name for k in SCHEMA[section]}, section
    assert {"id", "name", "calendar", "categories", "context", "client_calendar", "approval", "weekly_update",
            "manager"} <= {k.name for k in PROJECT_KEYS}
    assert {k.name for k in OFFER_KEYS} == {"min_slip_days", "text"}


def test_the_example_config_is_the_starter_config() -> None:
    assert (ROOT / "config" / "deadlinewatch.example.toml").read_text() == starter_config()


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
    assert load(path, env={}).accounts["imap"].password.reveal() == "hunter2"  # type: ignore[union-attr]


def test_passwords_from_systemd_credentials(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "imap").write_text("from-systemd\n")
    config = load(minimal(tmp_path, imap_extra=""), env={"CREDENTIALS_DIRECTORY": str(creds)})
    assert config.accounts["imap"].password.reveal() == "from-systemd"  # type: ignore[union-attr]


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
    assert config.policy.warn_probability == 0.98 and config.imap.folder == "INBOX"
    assert config.projects[0].client.timezone == config.timezone
    assert config.projects[0].approval == "auto" and config.projects[0].manager == "pm@studio.example"


def test_not_toml_is_one_clear_problem(tmp_path: Path) -> None:
    path = tmp_path / "dw.toml"
    path.write_text("[daemon\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(path)


def test_system_timezone_is_a_real_zone() -> None:
    import zoneinfo

    assert zoneinfo.ZoneInfo(config_mod.system_timezone()).key


def test_each_section_has_exactly_the_keys_the_schema_declares() -> None:
    from dataclasses import fields

    from deadlinewatch.config import SECTION_TYPES, SERVER_SECTIONS, field_name

    secrets = ("password", "password_file", "password_env")  # a server's: in Config.accounts, never in its section
    assert set(SECTION_TYPES) == set(SCHEMA)
    for name, keys in SCHEMA.items():
        declared = {field_name(k.name) for k in keys if name not in SERVER_SECTIONS or k.name not in secrets}
        assert {f.name for f in fields(SECTION_TYPES[name])} == declared, name


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
    from deadlinewatch.config import load
    from deadlinewatch.errors import ConfigError

    for name in ("caldav", "imap", "smtp"):
        (tmp_path / name).write_text("secret\n")
    path = tmp_path / "dw.toml"
    path.write_text(starter_config() + '\n')
    text = path.read_text().replace('trusted_user_header = ""', 'trusted_user_header = "X-Forwarded-User"')
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        load(path, env={"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert "web.trusted_user_header" in str(e.value) and "trusted_proxies" in str(e.value)
