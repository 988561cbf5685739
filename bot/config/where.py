"""Which deskbot.toml a command uses when none is named: the same order for every command, said out loud.

`--config`, then `$DESKBOT_CONFIG`, then `./deskbot.toml`, then the user's config folder
(`$XDG_CONFIG_HOME/deskbot/deskbot.toml`, by default `~/.config/deskbot/deskbot.toml`). Nothing
falls back to the demo's log: a command that found no config says how to name one.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path

from bot.errors import ConfigError

NAME = "deskbot.toml"
CONFIG_HELP = ("deskbot.toml (default: $DESKBOT_CONFIG, else ./deskbot.toml, else "
               "$XDG_CONFIG_HOME/deskbot/deskbot.toml); the file used is printed on standard error")


def database_options(parser: argparse.ArgumentParser) -> None:
    """--config or --db: which decision log a reading command opens (the same two options on every such command)."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--config", type=Path, help="use the decision log of this config, reading no secrets: "
                       + CONFIG_HELP)
    where.add_argument("--db", help="a database URL or SQLite file instead of a config's (a backup copy, say)")


def user_config(environ: Mapping[str, str]) -> Path:
    """$XDG_CONFIG_HOME/deskbot/deskbot.toml, else ~/.config/deskbot/deskbot.toml."""
    base = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME") or Path.home()) / ".config")
    return Path(base) / "deskbot" / NAME


def candidates(environ: Mapping[str, str], cwd: Path) -> list[tuple[str, Path]]:
    """Where a config is looked for, in order, each with how it was found."""
    found = [("$DESKBOT_CONFIG", Path(environ["DESKBOT_CONFIG"]))] if environ.get("DESKBOT_CONFIG") else []
    return [*found, ("the current folder", cwd / NAME), ("the user's config folder", user_config(environ))]


def find_config(explicit: Path | None, *, environ: Mapping[str, str] | None = None,
                cwd: Path | None = None, required: bool = True) -> Path | None:
    """The config file to use; a ConfigError listing the places looked at when there is none."""
    if explicit is not None:
        return explicit
    env = os.environ if environ is None else environ
    looked = candidates(env, cwd or Path.cwd())
    for how, path in looked:
        if how == "$DESKBOT_CONFIG" and not path.is_file():
            raise ConfigError(f"$DESKBOT_CONFIG names {path}, which is not a file: fix the variable or unset it")
        if path.is_file():
            return path
    if not required:
        return None
    places = ", ".join(str(path) for _, path in looked)
    raise ConfigError(f"no config file found (looked at {places}): name one with --config FILE or "
                      f"DESKBOT_CONFIG=FILE, or put it at {looked[-1][1]}; `deskbot demo` needs none")
