"""A throwaway PostgreSQL cluster for tests: initdb in a temp dir, a free loopback port, no fsync.

The recipe is ../shared/notes/real-mail-servers.md's: `initdb` refuses root, so as root the cluster
belongs to the `postgres` user and runs through `runuser`. Each test gets a database of its own.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from types import TracebackType

from bot.ops.loopback import free_port, wait_for_port

BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def pg_bin() -> Path | None:
    """The newest installed server's bin folder (Debian's layout), else one on PATH, else None."""
    for folder in BIN_DIRS:
        if (folder / "initdb").exists():
            return folder
    found = shutil.which("initdb")
    return Path(found).parent if found else None


class PostgresServer:
    """One cluster for the session; `new_database()` gives each test an empty database and its URL."""

    def __init__(self) -> None:
        bin_dir = pg_bin()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL is not installed: apt-get install postgresql (.ci/run does)")
        self.bin = bin_dir
        self.host, self.port = "127.0.0.1", free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="deskbot-pg-"))
        self._count = 0
        self._lock = threading.Lock()

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if os.getuid() == 0:  # initdb and postgres refuse root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def __enter__(self) -> PostgresServer:
        if os.getuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        os.chmod(self.dir, 0o700)
        self._run("initdb", "-D", str(self.dir / "data"), "-A", "trust", "-U", "deskbot", "-E", "UTF8")
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-l", str(self.dir / "log"), "-w",
                  "-o", f"-k {self.dir} -h {self.host} -p {self.port} -F", "start")
        wait_for_port(self.host, self.port)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL deskbot's config takes."""
        return f"postgresql+psycopg://deskbot@{self.host}:{self.port}/{database}"

    def new_database(self) -> str:
        """A new empty database; returns its URL."""
        import psycopg

        with self._lock:
            self._count += 1
            name = f"test{self._count}"
        with psycopg.connect(f"host={self.host} port={self.port} user=deskbot dbname=postgres",
                             autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)
