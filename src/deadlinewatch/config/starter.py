"""The starter file `deadlinewatch init` writes (and config/deadlinewatch.example.toml is): every key of the
schema with its help, the required ones filled in with examples."""

from __future__ import annotations

import datetime as dt
from typing import Any

from deadlinewatch.config.schema import (
    REQUIRED,
    SECTIONS,
    SERVER_SECTIONS,
    Client,
    Key,
    OAuth2Table,
    Offer,
    Project,
    keys_of,
)


def _toml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml(x.isoformat() if isinstance(x, dt.date) else x) for x in v) + "]"
    raise TypeError(v)


def _key_lines(keys: tuple[Key, ...]) -> list[str]:
    lines = []
    for key in keys:
        value = key.example if key.example is not None else key.default
        if value is REQUIRED or value is None:
            continue
        text = f"{key.name} = {_toml(value)}"
        note = ("(required) " if key.required else "") + key.help
        # a secret's, and an optional key's with nothing by default (a per-project override): shown, left unset
        if key.name in ("password_file", "password_env", "password") or (not key.required and key.default is None):
            lines.append(f"# {text:<45} # {note}")
        else:
            lines.append(f"{text:<47} # {note}")
    return lines


def starter_config() -> str:
    """The commented config `deadlinewatch init` writes: every key, with its help."""
    out = [
        "# deadlinewatch configuration. Every key is listed with its help; see README.md for the details.",
        "# Fill in the servers, the team and at least one project, then run `deadlinewatch check-config --connect`.",
        "",
    ]
    for name, section in SECTIONS.items():
        out.append(f"[{name}]")
        out.extend(_key_lines(keys_of(section)))
        if name in SERVER_SECTIONS:
            out.append('# oauth2 = { provider = "google", client_id = "..." }   # with auth = "oauth2"; keys: '
                       + "; ".join(f"{k.name}: {k.help}" for k in keys_of(OAuth2Table)).replace("SECTION", name))
        out.append("")
    out.append("# damage-minimisation ladder: the rung with the largest min_slip_days <= slip (in working days)")
    out.append("[[offers]]")
    out.extend(_key_lines(keys_of(Offer)))
    out += ["[[offers]]", "min_slip_days = 10", 'text = "We will take 10% off this milestone\'s invoice."', ""]
    out.append("[[projects]]")
    out.extend(_key_lines(keys_of(Project)))
    client = ", ".join(f"{k.name} = {_toml(k.example if k.example is not None else k.default)}"
                       for k in keys_of(Client))
    out.append(f"client = {{ {client} }}")
    out.append("# client keys: " + "; ".join(f"{k.name}: {k.help}" for k in keys_of(Client)))
    out.append("")
    return "\n".join(out)
