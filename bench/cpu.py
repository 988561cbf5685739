"""CPU seconds of the processes a bench run involves, read from the kernel (getrusage, proc(5)): which side of a
run (deskbot, Dovecot, the SMTP sink in the bench's own process) is the bottleneck on a shared machine."""

from __future__ import annotations

import os
import resource
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.servers import DovecotServer


def own_cpu() -> float:
    """This process's own user + system seconds so far (in the benches: the aiosmtpd sink's thread)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def dovecot_cpu(server: DovecotServer | None) -> float:
    """CPU seconds of Dovecot so far: its master's own and those of its children it has reaped (proc(5) stat)."""
    if server is None:
        return 0.0
    try:
        pid = int((server.dir / "run" / "master.pid").read_text().split()[0])
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except (OSError, ValueError, IndexError):
        return float("nan")
    ticks = sum(int(f) for f in fields[11:15])  # utime stime cutime cstime: fields 14-17 of the whole line
    live = sum(_process_cpu(child) for child in _children(pid))
    return ticks / os.sysconf("SC_CLK_TCK") + live


def _children(pid: int) -> list[int]:
    """Live child processes of `pid` (imap-login, auth, imap sessions)."""
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _process_cpu(pid: int) -> float:
    """A live process's own CPU seconds (the reaped ones are in its parent's cutime)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
