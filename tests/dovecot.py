"""Dovecot on 127.0.0.1, for the tests and the intake benchmark: the IMAP server the integration tests read notes
from (the demo runs pymap, deadlinewatch.demo.servers). Its mail lives in a folder of its own; with an OAuth
introspection URL it checks XOAUTH2 and OAUTHBEARER logins there."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from deadlinewatch.demo.servers import ServerProcess, free_port, imap_ready, wait_ready

DOVECOT = "/usr/sbin/dovecot"
DOVECOT_CONF = """instance_name = dovecot-{port}
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login{oauth_mechanisms}
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
{mail_ids}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/users
}}
{oauth_passdb}userdb {{
  driver = passwd-file
  args = username_format=%u {d}/users
  default_fields = home={d}/mail/%u
}}
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  separator = /
}}
service imap-login {{
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
{chroot}}}
{extra_services}
"""


def dovecot_available() -> bool:
    return os.path.exists(DOVECOT)


@dataclass
class DovecotServer(ServerProcess):
    users: dict[str, str] = field(default_factory=lambda: {"progress": "progresspw"})
    # with an RFC 7662 introspection URL (credentials in it), XOAUTH2 and OAUTHBEARER logins are checked there:
    # the token must be active, name the user and carry `oauth_scope`
    oauth_introspection: str = ""
    oauth_scope: str = "imap"

    @property
    def conf(self) -> Path:
        return self.directory / "dovecot.conf"

    def start(self) -> DovecotServer:
        # the folder must be traversable by Dovecot's unprivileged users (pytest's tmp_path is 0700)
        self.directory.mkdir(parents=True, exist_ok=True)
        for p in [self.directory, *self.directory.parents]:
            if p == Path("/") or p == Path("/tmp"):
                break
            with contextlib.suppress(PermissionError):
                p.chmod(p.stat().st_mode | 0o055)
        self.port = free_port()
        (self.directory / "mail").mkdir(exist_ok=True)
        (self.directory / "users").write_text("".join(f"{u}:{{PLAIN}}{p}::::::\n" for u, p in self.users.items()))
        if os.geteuid() == 0:
            os.chown(self.directory / "mail", 65534, 65534)
            values = dict(internal_user="dovecot", internal_group="dovecot", login_user="dovenull",
                          mail_ids="mail_uid = 65534\nmail_gid = 65534", chroot="", extra_services="")
        else:
            import pwd

            me = pwd.getpwuid(os.geteuid()).pw_name
            values = dict(internal_user=me, internal_group=me, login_user=me, mail_ids="",
                          chroot="  chroot =\n",
                          extra_services="service anvil {\n  chroot =\n}\nservice stats {\n  chroot =\n}\n")
        oauth = dict(oauth_mechanisms="", oauth_passdb="")
        if self.oauth_introspection:
            (self.directory / "oauth2.conf.ext").write_text(
                f"introspection_mode = post\nintrospection_url = {self.oauth_introspection}\n"
                f"username_attribute = username\nactive_attribute = active\nactive_value = true\n"
                f"scope = {self.oauth_scope}\n")
            oauth = dict(oauth_mechanisms=" xoauth2 oauthbearer", oauth_passdb=(
                "passdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n"
                f"  args = {self.directory}/oauth2.conf.ext\n}}\n"))
        self.conf.write_text(DOVECOT_CONF.format(port=self.port, d=self.directory, **values, **oauth))
        self._spawn([DOVECOT, "-F", "-c", str(self.conf)], "dovecot.stdout")
        wait_ready(imap_ready(self.port), "dovecot", self.proc, self.directory / "dovecot.log")
        return self

    def seed(self, user: str, messages: list[bytes]) -> None:
        """Write messages straight into the user's Maildir — before start(): 10,000 in about a second, where
        delivering them one by one takes minutes."""
        maildir = self.directory / "mail" / user / "Maildir"
        for sub in ("cur", "new", "tmp"):
            (maildir / sub).mkdir(parents=True, exist_ok=True)
        stamp = int(time.time())
        for i, raw in enumerate(messages):
            (maildir / "new" / f"{stamp}.M{i}P{os.getpid()}.seed").write_bytes(raw)
        if os.geteuid() == 0:
            for path in [self.directory / "mail", *(self.directory / "mail").rglob("*")]:
                os.chown(path, 65534, 65534)

    def restart(self) -> None:
        """Stop and start again on the same port, keeping the mail (a server restart, as seen by clients)."""
        self._stop_until_port_free()
        self._spawn([DOVECOT, "-F", "-c", str(self.conf)], "dovecot.stdout")
        wait_ready(imap_ready(self.port), "dovecot", self.proc, self.directory / "dovecot.log")

    def doveadm(self, *args: str) -> str:
        return subprocess.run(["doveadm", "-c", str(self.conf), *args], check=True, capture_output=True,
                              text=True).stdout

    def save(self, user: str, raw: bytes, folder: str = "INBOX") -> None:
        subprocess.run(["doveadm", "-c", str(self.conf), "save", "-u", user, "-m", folder], input=raw, check=True,
                       capture_output=True)
