"""Reading the config file: TOML, then every key checked against its declaration (schema.py), the secrets
resolved (password files, environment variables, systemd credentials), and every problem reported at once, each
naming the file, the key path, the bad value and what would be right."""

from __future__ import annotations

import os
import re
import stat
import tomllib
import urllib.parse
import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from deadlinewatch.config import checks
from deadlinewatch.config.schema import (
    SECTIONS,
    SERVER_SECTIONS,
    Client,
    Config,
    Key,
    OAuth2Table,
    Offer,
    PolicySection,
    Project,
    keys_of,
)
from deadlinewatch.credentials import OAuthClient, Secret, ServerAccount
from deadlinewatch.errors import ConfigError

DEFAULT_CONFIG_PATH = "/etc/deadlinewatch/deadlinewatch.toml"
T = TypeVar("T")


def load(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Config:
    """Read and validate the whole file; raise ConfigError listing every problem."""
    env = os.environ if env is None else env
    path = Path(path)
    return from_dict(_parsed(path), path, env)


def load_policy(path: str | os.PathLike[str]) -> PolicySection:
    """The file's [policy] alone, validated (every problem in it raised at once): what `replay` reads of a
    config — whose servers, secrets and projects it never needs (a service's credentials are not there outside
    the service)."""
    path = Path(path)
    problems: list[str] = []
    values = _read_section(_parsed(path).get("policy", {}), keys_of(PolicySection), "policy", problems)
    _check_policy(values, problems)
    if problems:
        raise ConfigError(problems, path)
    return _typed(PolicySection, values)


def _parsed(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            "no such file; write a starter one with `deadlinewatch init --out PATH`, or point --config / "
            "$DEADLINEWATCH_CONFIG at yours", path) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read the file: {e}", path) from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"not valid TOML: {e}", path) from None
    return doc


def system_timezone() -> str:
    """The system's IANA zone, from $TZ or /etc/localtime; UTC when it cannot be told."""
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz:
        try:
            zoneinfo.ZoneInfo(tz)
            return tz
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
    try:
        target = os.path.realpath("/etc/localtime")
        marker = "/zoneinfo/"
        if marker in target:
            name = target.split(marker, 1)[1]
            zoneinfo.ZoneInfo(name)
            return name
    except (OSError, zoneinfo.ZoneInfoNotFoundError, ValueError):
        pass
    return "UTC"


def _read_section(table: Any, keys: tuple[Key, ...], where: str, problems: list[str]) -> dict[str, Any]:
    """A table's values by key name, each checked: a bad or missing one is a problem, and reads as its default
    (None for a required key) so that the rest is still checked."""
    if not isinstance(table, dict):
        problems.append(f"[{where}] must be a table, not {table!r}")
        return {}
    known = {k.name for k in keys}
    for name in table:
        if name not in known:
            close = ", ".join(sorted(known))
            problems.append(f"{where}.{name}: unknown key (known keys: {close})")
    values: dict[str, Any] = {}
    for key in keys:
        if key.name not in table:
            if key.required:
                problems.append(f"{where}.{key.name}: missing; expected {key.help}")
            values[key.name] = None if key.required else key.default
            continue
        raw = table[key.name]
        try:
            values[key.name] = key.check(raw)
        except ValueError as e:
            problems.append(f"{where}.{key.name} = {_show(key.name, raw)}: expected {e}")
            values[key.name] = None if key.required else key.default
    return values


def _typed(cls: type[T], values: Mapping[str, Any], **resolved: Any) -> T:
    """A table's checked values as its typed object (`resolved`: the fields the loading filled in)."""
    kind: type = cls  # keys_of's cache takes the class as a key
    return cls(**{k.attribute: values[k.name] for k in keys_of(kind) if k.attribute} | resolved)


def _show(name: str, raw: Any) -> str:
    if name == "password":
        return "'***'"
    if name == "database" and isinstance(raw, str):
        raw = checks.without_password(raw)
    if isinstance(raw, str):
        return '"' + raw + '"'
    return repr(raw)


def _secret_file(where: str, name: str, problems: list[str]) -> Secret | None:
    try:
        return Secret(Path(name).read_text(encoding="utf-8").rstrip("\r\n"))
    except OSError as e:
        problems.append(f'{where} = "{name}": cannot read it ({e.strerror})')
        return None


def _credential(env: Mapping[str, str], name: str) -> Secret | None:
    """systemd's LoadCredential=NAME:… for the service, when it is there."""
    cred_dir = env.get("CREDENTIALS_DIRECTORY")
    if cred_dir and (Path(cred_dir) / name).is_file():
        return Secret((Path(cred_dir) / name).read_text(encoding="utf-8").rstrip("\r\n"))
    return None


def _resolve_password(
    section: str, values: dict[str, Any], path: Path, env: Mapping[str, str], problems: list[str]
) -> Secret | None:
    if values.get("password_file"):
        return _secret_file(f"{section}.password_file", values["password_file"], problems)
    if values.get("password_env"):
        name = values["password_env"]
        if name not in env:
            problems.append(f"{section}.password_env = \"{name}\": the environment has no variable {name}")
            return None
        return Secret(env[name])
    if values.get("password"):
        try:
            mode = path.stat().st_mode
        except OSError:
            mode = 0
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            problems.append(
                f"{section}.password: an inline password is refused while {path} is readable by others "
                f"(mode {stat.filemode(mode)}); run `chmod 600 {path}` or use password_file / password_env"
            )
            return None
        return Secret(values["password"])
    return _credential(env, section)


def _oauth_client(section: str, table: Any, problems: list[str]) -> OAuthClient | None:
    """A server section's `oauth2` table as the client it signs in with, a provider's endpoints filled in."""
    where = f"{section}.oauth2"
    if table is None:
        problems.append(f'{section}.auth = "oauth2": needs {where} = {{ provider = "google" | "microsoft" | '
                        f'"generic", client_id = "..." }}')
        return None
    v = _read_section(table, keys_of(OAuth2Table), where, problems)
    if v.get("provider") is None or v.get("client_id") is None:
        return None
    t = _typed(OAuth2Table, v)
    secret = None
    if t.client_secret_file:
        try:
            secret = Secret(Path(t.client_secret_file).read_text(encoding="utf-8").strip())
        except OSError as e:
            problems.append(f'{where}.client_secret_file = "{t.client_secret_file}": cannot read it ({e.strerror})')
    if t.provider != "generic":
        from deadlinewatch.adapters import oauth  # its HTTP and file machinery: only for an OAuth account

        client = oauth.provider_client(t.provider, section, t.client_id, secret, t.tenant, t.refresh_token_file)
        if client is None:
            problems.append(f'{where}.provider = "{t.provider}": {oauth.PROVIDERS[t.provider].title} offers no '
                            'CalDAV; use its IMAP and SMTP with a CalDAV server of your own, or "generic"')
        return client
    for name, value in (("token_url", t.token_url), ("device_authorization_url",
                                                      t.device_authorization_url or t.authorization_url)):
        if not re.match(r"^https?://[^/\s]+", value or ""):
            problems.append(f'{where}.{name}: required for provider = "generic" (an https:// URL)'
                            + (", or authorization_url for a sign-in in a browser" if name != "token_url" else ""))
    if not t.scopes:
        problems.append(f'{where}.scopes: required for provider = "generic", e.g. ["imap"]')
    return OAuthClient(t.provider, t.client_id, secret, t.device_authorization_url, t.token_url, t.scopes,
                       t.refresh_token_file, t.authorization_url)


def _database_account(daemon: dict[str, Any], env: Mapping[str, str], problems: list[str]) -> ServerAccount | None:
    """daemon.database's login: the user named in the URL, the password from daemon.database_password_file, else
    $CREDENTIALS_DIRECTORY/database (none: PostgreSQL may know the user another way, e.g. peer or .pgpass)."""
    if not daemon["database"]:
        if daemon["database_password_file"]:
            problems.append(f'daemon.database_password_file = "{daemon["database_password_file"]}": set, but '
                            "daemon.database is not (the state is SQLite in state_dir, which needs no password)")
        return None
    if daemon["database_password_file"]:
        password = _secret_file("daemon.database_password_file", daemon["database_password_file"], problems)
    else:
        password = _credential(env, "database")
    user = urllib.parse.unquote(urllib.parse.urlsplit(daemon["database"]).username or "")
    return ServerAccount(user, password)


def from_dict(doc: Mapping[str, Any], path: Path, env: Mapping[str, str]) -> Config:
    """The configuration a parsed file describes, every problem in it found before any is raised."""
    problems: list[str] = []
    allowed = {*SECTIONS, "offers", "projects"}
    for name in doc:
        if name not in allowed:
            problems.append(f"[{name}]: unknown section (known: {', '.join(sorted(allowed))})")
    oauth_tables = {name: doc[name].get("oauth2") for name in SERVER_SECTIONS if isinstance(doc.get(name), dict)}
    sections = {name: _read_section({k: v for k, v in doc[name].items() if k != "oauth2"}
                                    if name in oauth_tables else doc.get(name, {}), keys_of(cls), name, problems)
                for name, cls in SECTIONS.items()}

    daemon = sections["daemon"]
    if not daemon["state_dir"]:
        daemon["state_dir"] = env.get("STATE_DIRECTORY", "").split(":")[0] or str(Path("state").resolve())
    if not daemon["timezone"]:
        daemon["timezone"] = system_timezone()
    accounts = {section: _account(section, sections[section], oauth_tables.get(section), path, env, problems)
                for section in SERVER_SECTIONS}
    database = _database_account(daemon, env, problems)
    if database is not None:
        accounts["database"] = database
    _check_together(sections, env, problems)
    offers = _offers(doc.get("offers", []), problems)
    projects = _projects(doc.get("projects", []), sections, problems)
    if problems:
        raise ConfigError(problems, path)
    return Config(
        path=str(path), offers=tuple(sorted(offers, key=lambda o: o.min_slip_days)), projects=tuple(projects),
        accounts=accounts, **{name: _typed(SECTIONS[name], values) for name, values in sections.items()},
    )


def _account(section: str, values: dict[str, Any], oauth_table: Any, path: Path, env: Mapping[str, str],
             problems: list[str]) -> ServerAccount:
    """A server section's login: its OAuth client, or its password from wherever the section says."""
    client = None
    if values.get("auth") == "oauth2":
        client = _oauth_client(section, oauth_table, problems)
        if not values.get("username"):
            problems.append(f'{section}.username: required with auth = "oauth2" (the account that signs in)')
    elif oauth_table is not None:
        problems.append(f'{section}.oauth2: set, but {section}.auth is "password"; set {section}.auth = "oauth2"')
    password = _resolve_password(section, values, path, env, problems) if client is None else None
    if client is None and values.get("username") and password is None and not any(
        values.get(k) for k in ("password_file", "password_env", "password")
    ):
        problems.append(
            f"{section}.username is set but no password was found: set {section}.password_file, "
            f"{section}.password_env, or provide $CREDENTIALS_DIRECTORY/{section}"
        )
    if section in ("imap", "smtp") and values.get("security") == "none" and values.get("host") not in (
        None, "127.0.0.1", "localhost", "::1"
    ):
        problems.append(
            f"{section}.security = \"none\": plain connections are allowed to loopback only "
            f"(host is \"{values['host']}\"); use \"tls\" or \"starttls\""
        )
    return ServerAccount(values.get("username") or "", password, client)


def _check_together(sections: dict[str, dict[str, Any]], env: Mapping[str, str], problems: list[str]) -> None:
    """The keys that are only right or wrong together (and web.password_file's systemd credential)."""
    imap = sections["imap"]
    if imap["require_authentication"] and not imap["authserv_id"]:
        problems.append(
            'imap.authserv_id: required while imap.require_authentication = true (the host name your mail '
            'server writes in Authentication-Results, e.g. "mx.studio.example")'
        )

    _check_policy(sections["policy"], problems)
    web = sections["web"]
    credential = Path(env.get("CREDENTIALS_DIRECTORY", "").split(":")[0] or "/nonexistent") / "web-password"
    if not web["password_file"] and credential.is_file():  # systemd's LoadCredential=web-password:…
        web["password_file"] = str(credential)
    if web["listen"] and not (web["password_file"] or web["trusted_user_header"]):
        problems.append("web.listen is set but nobody could sign in to the manager's pages: set web.password_file "
                        "(`deadlinewatch web-password --out FILE`) or web.trusted_user_header")
    if web["trusted_user_header"] and not web["trusted_proxies"]:
        problems.append(f'web.trusted_user_header = "{web["trusted_user_header"]}" needs web.trusted_proxies: the '
                        "addresses of the reverse proxy that writes it (e.g. [\"127.0.0.1\"]); from anyone else the "
                        "header is anyone's to write")
    if web["password_file"] and not os.access(web["password_file"], os.R_OK):
        problems.append(f'web.password_file = "{web["password_file"]}": cannot read it (write it with '
                        "`deadlinewatch web-password --out FILE`)")
    if web["base_url"] and not web["listen"]:
        problems.append("web.base_url is set but web.listen is not: the pages it points at are not served")


def _check_policy(pol: dict[str, Any], problems: list[str]) -> None:
    if pol["alert_probability"] is not None and pol["warn_probability"] is not None and \
            pol["alert_probability"] >= pol["warn_probability"]:
        problems.append(f"policy.alert_probability = {pol['alert_probability']}: must be below "
                        f"policy.warn_probability ({pol['warn_probability']}) — the manager hears before the client")


def _offers(raw: Any, problems: list[str]) -> list[Offer]:
    offers: list[Offer] = []
    if not isinstance(raw, list):
        problems.append("[[offers]] must be an array of tables")
        raw = []
    for i, item in enumerate(raw):
        v = _read_section(item, keys_of(Offer), f"offers[{i}]", problems)
        if v.get("min_slip_days") is not None and v.get("text") is not None:
            offers.append(_typed(Offer, v))
    return offers


def _projects(raw: Any, sections: dict[str, dict[str, Any]], problems: list[str]) -> list[Project]:
    """The [[projects]], each override resolved: the project's own, else its client's or the section's."""
    projects: list[Project] = []
    if not isinstance(raw, list) or not raw:
        problems.append("[[projects]]: at least one project is needed (id, name, calendar, client)")
        raw = raw if isinstance(raw, list) else []
    seen: set[str] = set()
    daemon, team, policy, web = sections["daemon"], sections["team"], sections["policy"], sections["web"]
    for i, item in enumerate(raw):
        where = f"projects[{i}]"
        client_raw = item.get("client") if isinstance(item, dict) else None
        item = {k: v for k, v in item.items() if k != "client"} if isinstance(item, dict) else item
        v = _read_section(item, keys_of(Project), where, problems)
        if client_raw is None:
            problems.append(f"{where}.client: missing; expected {{ name = ..., email = ..., language = ... }}")
            continue
        c = _read_section(client_raw, keys_of(Client), f"{where}.client", problems)
        if v["id"] is not None:
            if v["id"].lower() in seen:
                problems.append(f"{where}.id = \"{v['id']}\": another project already has this id")
            seen.add(v["id"].lower())
        if None in (v["id"], v["name"], v["calendar"], c["name"], c["email"]):
            continue
        updates = v["calendar_updates"] or c.get("calendar_updates") or "invitations"
        if updates == "feed" and not v["client_feed_url"] and not web["base_url"]:
            problems.append(f'{where}.client_feed_url: required with calendar_updates = "feed" unless web.base_url '
                            "is set (then the letters link the project's feed on the web pages): the https:// "
                            "address the letters link, e.g. your CalDAV server's read-only link to client_calendar")
        projects.append(_typed(
            Project, v, calendar_updates=updates, approval=v["approval"] or policy["approval"],
            weekly_update=policy["weekly_update"] if v["weekly_update"] is None else v["weekly_update"],
            manager=v["manager"] or team["manager"] or "", signature=v["signature"] or team["signature"] or "",
            client=_typed(Client, c, timezone=c["timezone"] or daemon["timezone"]),
        ))
    return projects
