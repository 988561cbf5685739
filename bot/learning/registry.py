"""The versioned models folder: one sub-folder per model version, and CURRENT naming the one in use.

    models/
      CURRENT                      the live version's name (absent: the configured or default model)
      20261130T120000Z-1a2b3c4d/   model.skops + model.json (classifier/model.py save())

Switching writes CURRENT atomically (a temporary file renamed over it), so a running daemon reading it
sees the old name or the new one, never half of one; every version stays until a person removes it.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.errors import DeskbotError

CURRENT = "CURRENT"
DEFAULT = "default"  # `deskbot model use default`: back to [paths] model, or the model built from the corpus


@dataclass(frozen=True)
class ModelVersion:
    """One saved version and what its sidecar says of it."""

    name: str
    path: Path
    created_at: str
    training_tickets: int
    learning: dict[str, Any]  # what retraining recorded: labelled tickets used, scores, who switched it


class ModelRegistry:
    """A models folder (bot/learning's store of model versions)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def versions(self) -> list[ModelVersion]:
        """Every saved version, oldest first."""
        if not self.folder.is_dir():
            return []
        found = []
        for path in sorted(p for p in self.folder.iterdir() if (p / "model.json").is_file()):
            try:
                meta = json.loads((path / "model.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            found.append(ModelVersion(path.name, path, str(meta.get("created_at", "")),
                                      int(meta.get("training_tickets", 0)), dict(meta.get("learning") or {})))
        return sorted(found, key=lambda v: (v.created_at, v.name))

    def current_name(self) -> str | None:
        """The version CURRENT names, or None (the configured or default model is live)."""
        try:
            name = (self.folder / CURRENT).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return name or None

    def current_dir(self) -> Path | None:
        """The live version's folder, or None."""
        name = self.current_name()
        return self.folder / name if name else None

    def stamp(self) -> tuple[int, int] | None:
        """Changes whenever CURRENT is replaced: what a running daemon checks before each ticket."""
        try:
            info = (self.folder / CURRENT).stat()
        except FileNotFoundError:
            return None
        return info.st_mtime_ns, info.st_ino

    def add(self, model: Any) -> ModelVersion:
        """Save a model as a new version (staged, then renamed into place); CURRENT is left alone."""
        from classifier.model import save

        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / model.version
        staging = self.folder / f".{model.version}.{os.getpid()}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        save(model, staging)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
        return next(v for v in self.versions() if v.name == model.version)

    def use(self, name: str) -> None:
        """Make `name` live (or `default`: no CURRENT); an unknown name says which exist."""
        if name == DEFAULT:
            (self.folder / CURRENT).unlink(missing_ok=True)
            return
        known = [v.name for v in self.versions()]
        if name not in known:
            raise DeskbotError(f"no model version {name!r} in {self.folder}; known: {', '.join(known) or '(none)'}, "
                               f"or {DEFAULT!r}")
        self.folder.mkdir(parents=True, exist_ok=True)
        staging = self.folder / f".{CURRENT}.{os.getpid()}.tmp"
        staging.write_text(name + "\n", encoding="utf-8")
        os.replace(staging, self.folder / CURRENT)
