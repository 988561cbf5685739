"""Real IMAP servers for tests: a throwaway Dovecot (the reference), else pymap.

Dovecot refuses to run its login process as root, so when started by root it runs as
the package's own dovecot/dovenull users (../shared/notes/real-mail-servers.md).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from types import TracebackType

from bot.ops.loopback import PymapServer, free_port, wait_for_port

_USERS = 200

_CONF = """\
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = imap
listen = 127.0.0.1
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login{mechanisms}
mail_location = maildir:{d}/mail/%u
first_valid_uid = 1
{capability}service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
  }}
}}
{oauth2}passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/users
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={d}/mail/%u
}}
"""


# Dovecot's oauth2 passdb asks an RFC 7662 introspection URL about each XOAUTH2/OAUTHBEARER token
# (https://doc.dovecot.org/2.3/configuration_manual/authentication/oauth2/). It comes first and only for those
# mechanisms; a refused token does not fall through to the passwd file. Failed logins are not slowed down
# (auth penalty off: its anvil socket closed), so tests of refused tokens take no seconds.
_OAUTH2 = """\
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {d}/oauth2.conf
  result_failure = return-fail
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""
_OAUTH2_ARGS = """\
introspection_mode = post
introspection_url = {url}
username_attribute = email
active_attribute = active
active_value = true
force_introspection = yes
"""


def make_certificate(cert: Path, key: Path) -> None:
    """A self-signed certificate for 127.0.0.1 and localhost (openssl), good for a test server and as its CA."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                    "/CN=deskbot test server", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)


def dovecot_usable() -> bool:
    """Dovecot is installed and can be started here (root with the dovecot user)."""
    if os.environ.get("DESKBOT_TEST_IMAP") == "pymap":
        return False
    if not shutil.which("dovecot") or os.geteuid() != 0:
        return False
    try:
        pwd.getpwnam("dovecot")
    except KeyError:
        return False
    return True


class DovecotServer:
    """A Dovecot instance in a temp dir; `new_user()` gives each test its own empty mailbox.

    The passwd file is written once at start: Dovecot notices changes by mtime in whole seconds.
    """

    kind = "dovecot"

    def __init__(self, *, tls: bool = False, oauth2_introspection: str = "", capability: str = "") -> None:
        self.host, self.port = "127.0.0.1", free_port()
        self.tls = tls
        self.oauth2_introspection = oauth2_introspection  # a URL: XOAUTH2 logins are checked there
        self.capability = capability  # the CAPABILITY after login instead of Dovecot's own (e.g. without IDLE)
        self.imaps_port = free_port() if tls else 0
        self.dir = Path(tempfile.mkdtemp(prefix="deskbot-dovecot-"))
        self.cert = self.dir / "cert.pem"  # with tls: a self-signed certificate for 127.0.0.1, its own CA
        self._count = 0
        self._lock = threading.Lock()

    def __enter__(self) -> DovecotServer:
        d = self.dir
        os.chmod(d, 0o755)
        (d / "mail").mkdir()
        shutil.chown(d / "mail", "dovecot", "dovecot")
        # Dovecot notices a changed passwd file by its mtime (whole seconds): create every user up front.
        (d / "users").write_text("".join(f"support{n}:{{PLAIN}}secret\n" for n in range(1, _USERS + 1)))
        ssl = "ssl = no"
        if self.tls:
            make_certificate(self.cert, d / "key.pem")
            ssl = f"ssl = yes\nssl_cert = <{self.cert}\nssl_key = <{d / 'key.pem'}"
        oauth2 = ""
        if self.oauth2_introspection:
            (d / "oauth2.conf").write_text(_OAUTH2_ARGS.format(url=self.oauth2_introspection))
            oauth2 = _OAUTH2.format(d=d)
        (d / "dovecot.conf").write_text(_CONF.format(d=d, port=self.port, imaps_port=self.imaps_port, ssl=ssl,
                                                     oauth2=oauth2, mechanisms=" xoauth2 oauthbearer" if oauth2 else "",
                                                     capability=f"imap_capability = {self.capability}\n" if self.capability else ""))
        # Dovecot daemonises and keeps its inherited stdout/stderr: a pipe here would never close.
        with open(d / "start.log", "wb") as out:
            subprocess.run(["dovecot", "-c", str(d / "dovecot.conf")], check=True, stdout=out, stderr=out)
        wait_for_port(self.host, self.port)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        subprocess.run(["doveadm", "-c", str(self.dir / "dovecot.conf"), "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    def new_user(self) -> tuple[str, str]:
        """A fresh account (username, password); Dovecot re-reads the passwd file on change."""
        with self._lock:
            self._count += 1
            if self._count > _USERS:
                raise RuntimeError(f"more than {_USERS} test mailboxes: raise _USERS in tests/servers.py")
            return f"support{self._count}", "secret"

    def kick(self, user: str) -> None:
        """Close every connection of `user` from the server's side (`doveadm kick`), as a restart would."""
        subprocess.run(["doveadm", "-c", str(self.dir / "dovecot.conf"), "kick", user], check=True, capture_output=True)


class PymapPool:
    """The fallback: one pymap process per user (its dict backend has a single demo user)."""

    kind = "pymap"

    def __init__(self) -> None:
        self._servers: list[PymapServer] = []
        self.host, self.port = "127.0.0.1", 0

    def __enter__(self) -> PymapPool:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        for server in self._servers:
            server.__exit__(None, None, None)

    def new_user(self) -> tuple[str, str]:
        """Start a new pymap for this user; host/port then point at it."""
        server = PymapServer().__enter__()
        self._servers.append(server)
        self.port = server.port
        return server.username, server.password
