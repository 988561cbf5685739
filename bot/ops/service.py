"""`deskbot service systemd|container`: the shipped service files, printed for an admin to install.

They ship inside the package (bot/shipped/service/) so that a pip-installed deskbot has them too.
The systemd unit is printed with the path of the deskbot being run in ExecStart (systemd needs an
absolute path, and a venv's deskbot is not on the service's PATH).
"""

from __future__ import annotations

import argparse
import importlib.resources
import shutil
import sys
from pathlib import Path

from bot.errors import DeskbotError

FILES = {"systemd": "deskbot.service", "container": "Containerfile"}
SHIPPED_BIN = "/usr/local/bin/deskbot"
SHIPPED_CONFIG = "/etc/deskbot/deskbot.toml"
SHIPPED_ENV = "/etc/deskbot/deskbot.env"
HIDDEN = ("/home", "/root", "/run/user")  # ProtectHome=yes makes these unreachable for the service

DESCRIPTION = """\
Print a service file deskbot ships, for an admin to install (README.md, "Running as a service"):

  systemd     a hardened unit: user deskbot, ProtectSystem=strict, StateDirectory=/var/lib/deskbot,
              CacheDirectory=/var/cache/deskbot (the model cache), secrets from an EnvironmentFile,
              Restart=on-failure, `systemctl reload` sends SIGHUP (rules and templates are reloaded)
  container   a Containerfile: non-root user, the decision log and the model cache in volumes, a
              HEALTHCHECK on /healthz; build it in a deskbot source tree

  deskbot service systemd | sudo tee /etc/systemd/system/deskbot.service
  deskbot service container > Containerfile && docker build -f Containerfile -t deskbot ."""


def shipped_text(kind: str) -> str:
    """The text of a shipped service file, as it is in the package."""
    return (importlib.resources.files("bot.shipped") / "service" / FILES[kind]).read_text(encoding="utf-8")


def installed_bin() -> Path | None:
    """The deskbot script of this installation: beside the running Python (a venv), else on PATH."""
    beside = Path(sys.executable).parent / "deskbot"
    if beside.is_file():
        return beside.absolute()
    found = shutil.which("deskbot")
    return Path(found).absolute() if found else None


def systemd_unit(*, executable: Path, config: Path) -> str:
    """The shipped unit with this deskbot in ExecStart and this config (its secrets file beside it)."""
    if not executable.is_absolute() or not config.is_absolute():
        raise DeskbotError("systemd needs absolute paths: give --bin and --config as /full/paths")
    text = shipped_text("systemd")
    text = text.replace(f"ExecStart={SHIPPED_BIN} ", f"ExecStart={executable} ")
    text = text.replace(SHIPPED_ENV, str(config.parent / "deskbot.env"))
    return text.replace(SHIPPED_CONFIG, str(config))


def print_service(args: argparse.Namespace) -> int:
    """Print the unit or the Containerfile; warn (on stderr) of an ExecStart the service could not run."""
    if args.kind == "container":
        sys.stdout.write(shipped_text("container"))
        return 0
    executable = args.bin or installed_bin()
    if executable is None:
        raise DeskbotError("cannot find the deskbot script: give its full path with --bin")
    if str(executable).startswith(HIDDEN):
        print(f"deskbot: warning: {executable} is under a home folder, which ProtectHome=yes hides from the "
              "service: install deskbot elsewhere (python3 -m venv /opt/deskbot && /opt/deskbot/bin/pip install "
              "deskbot) and run this command with that deskbot", file=sys.stderr)
    sys.stdout.write(systemd_unit(executable=executable, config=args.config))
    return 0


def add_service_command(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `deskbot service`."""
    service = sub.add_parser("service", help="print the systemd unit or the Containerfile deskbot ships",
                             description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    service.add_argument("kind", choices=tuple(FILES), help="systemd: the unit file; container: the Containerfile")
    service.add_argument("--bin", type=Path, help="systemd: the deskbot to run (default: this one, "
                         f"{installed_bin() or 'not found'})")
    service.add_argument("--config", type=Path, default=Path(SHIPPED_CONFIG), help="systemd: the config the "
                         f"service runs (default {SHIPPED_CONFIG}); its secrets file is deskbot.env beside it")
    service.set_defaults(handler=print_service)
