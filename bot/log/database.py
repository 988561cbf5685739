"""Opening the decision log: check the URL and folder, connect, and bring the schema up to date (Alembic).

Every way this can go wrong on a new machine (a path instead of a URL, a folder that cannot be
written, a PostgreSQL URL without its driver, a database made by a newer deskbot) ends in a
ConfigError that says what to do, never a traceback.
"""

from __future__ import annotations

import errno
import importlib.resources
import logging
import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from bot.errors import ConfigError, DeskbotError
from bot.log.migrations import HEAD

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

log = logging.getLogger(__name__)

SQLITE_SYNCHRONOUS = "FULL"  # NORMAL is ~1.4x faster here but may lose the last commits on power loss
MIGRATION_LOCK = 0x6465736B626F74  # "deskbot": the advisory lock key migrations hold on PostgreSQL
_DRIVERS = {"postgresql": "pip install 'psycopg[binary]' and write the URL as postgresql+psycopg://…"}


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL, or None for another database (or an in-memory one)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def check_url(url: str) -> None:
    """A database URL deskbot can use, or a ConfigError that shows the right form."""
    if "://" not in url:
        raise ConfigError(f"{url!r} is not a database URL: write a SQLite file as sqlite:///{url} "
                          "(relative to the config file) or sqlite:////absolute/path", key="database.url")
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"cannot read the database URL: {exc}", key="database.url") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(f"database {parsed.get_backend_name()!r} is not supported: use sqlite:/// or "
                          "postgresql+psycopg://", key="database.url")


def prepare(url: str) -> Path | None:
    """Check the URL, and for SQLite make and check its folder; returns the SQLite file (for the instance lock)."""
    check_url(url)
    path = sqlite_path(url)
    if path is not None:
        _check_folder(path)
        _create_private(path)
    return path


def _create_private(path: Path) -> None:
    """A new SQLite file is made readable by this user only (it holds customers' mail); SQLite gives its
    -wal and -shm files the same mode."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def open_engine(url: str, *, reference_prefix: str = "SUP", migrate: bool = True) -> Engine:
    """An engine on an up-to-date schema; a SQLite file's folder is made (and checked) first."""
    prepare(url)
    engine = _create_engine(url)
    if migrate:
        upgrade(engine, reference_prefix=reference_prefix)
    return engine


def open_reader(url: str) -> Engine:
    """An engine that only reads (`deskbot log`, `status`): a read-only file system, a backup copy or a
    colleague's log is enough; an up-to-date schema is required, never made."""
    check_url(url)
    path = sqlite_path(url)
    if path is None:
        engine = _create_engine(url)
    else:
        if not path.exists():
            raise DeskbotError(f"no decision log at {path} (`deskbot run` makes it)")
        engine = _read_only_sqlite(path)
    try:
        with engine.connect() as connection:
            current = _current_revision(connection)
    except OperationalError as exc:
        raise DeskbotError(f"cannot read the decision log {path or url}: {exc.orig}") from None
    if current != HEAD:
        raise DeskbotError(f"the decision log {path or url} has schema {current or 'none'}, this deskbot reads "
                           f"{HEAD}: run `deskbot check --config FILE` once (it upgrades it), or use a matching deskbot")
    return engine


def _current_revision(connection: sa.Connection) -> str | None:
    """The schema revision alembic recorded, None when it recorded none (a new or a 0.1 log).

    Read with one query, without importing alembic (a tenth of a second at every start): alembic is only
    needed when there is something to migrate."""
    if not sa.inspect(connection).has_table("alembic_version"):
        return None
    rows = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    return rows[0] if len(rows) == 1 else None


def _read_only_sqlite(path: Path) -> Engine:
    """SQLite opened with mode=ro; where even the WAL's shared-memory file cannot be made (a read-only
    folder), as immutable (nothing else may write it meanwhile, which is what such a copy is)."""
    for flags in ("mode=ro", "mode=ro&immutable=1"):
        uri = f"file:{quote(str(path.resolve()))}?{flags}"
        engine = sa.create_engine("sqlite://", creator=lambda uri=uri: sqlite3.connect(uri, uri=True,
                                                                                          check_same_thread=False))
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql("SELECT count(*) FROM sqlite_master").all()
            return engine
        except OperationalError:
            engine.dispose()
    raise DeskbotError(f"cannot read the decision log {path}: check its permissions")


def _create_engine(url: str) -> Engine:
    if make_url(url).get_backend_name() != "sqlite":
        try:
            return sa.create_engine(url, pool_pre_ping=True)
        except (NoSuchModuleError, ModuleNotFoundError) as exc:
            backend = make_url(url).get_backend_name()
            hint = _DRIVERS.get(backend, "install its driver")
            raise ConfigError(f"the {backend} database driver is not installed ({exc}): {hint}",
                              key="database.url") from None
    # The scheduler runs one job per source in threads; each store call opens its own session.
    engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(connection: Any, record: object) -> None:
    """WAL: one fsync per commit instead of several, readers never block the writer."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _check_folder(path: Path) -> None:
    """The folder exists (made if missing) and we may create files in it (SQLite writes -wal beside it)."""
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise
        raise ConfigError(f"cannot create the database folder {folder}: {exc.strerror}; create it or point "
                          "[database] url elsewhere", key="database.url") from None
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.R_OK | os.W_OK)):
        raise ConfigError(f"the database {path} is not writable by this user (uid {os.getuid()}): fix the "
                          "folder's permissions or point [database] url elsewhere", key="database.url")


def _alembic_config(connection: sa.Connection, reference_prefix: str) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(importlib.resources.files("bot.log") / "migrations"))
    config.attributes["connection"] = connection
    config.attributes["reference_prefix"] = reference_prefix
    return config


def upgrade(engine: Engine, *, reference_prefix: str = "SUP") -> None:
    """Bring the schema to this release's head; a 0.1 database (no version table) is adopted first."""
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":  # instances starting together migrate one at a time
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            current = _current_revision(connection)
            if current == HEAD:
                return  # the usual start: nothing to migrate, alembic not even imported
            from alembic import command
            from alembic.script import ScriptDirectory

            config = _alembic_config(connection, reference_prefix)
            if current is None and sa.inspect(connection).has_table("ticket"):
                command.stamp(config, "0001")  # made by 0.1's create_all(), which kept no version
                current = "0001"
            known = {s.revision for s in ScriptDirectory.from_config(config).walk_revisions()}
            if current is not None and current not in known:
                raise ConfigError(f"the decision log was made by a newer deskbot (schema {current}); "
                                  "upgrade deskbot (pip install -U deskbot) to use it", key="database.url")
            if current == HEAD:
                return
            log.info("upgrading the decision log schema from %s to %s", current or "nothing", HEAD)
            command.upgrade(config, "head")
    except OperationalError as exc:
        if is_disk_full(exc):
            raise DeskbotError(f"the disk holding the decision log is full ({exc.orig}): free some space, "
                               "then start again; nothing recorded was lost") from None
        raise ConfigError(f"cannot open the decision log: {exc.orig}", key="database.url") from None


def is_disk_full(exc: BaseException) -> bool:
    """SQLite's "database or disk is full" (SQLITE_FULL) or the system's ENOSPC: no fault of the config."""
    orig = getattr(exc, "orig", exc)
    return getattr(orig, "errno", None) == errno.ENOSPC or "disk is full" in str(orig)
