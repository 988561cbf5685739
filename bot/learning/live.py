"""The live model of a running daemon: the version the models folder's CURRENT names, picked up for the next
ticket after `deskbot model use` or `deskbot retrain --apply`, without a restart."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from bot.learning.registry import ModelRegistry
from bot.models import Prediction

log = logging.getLogger(__name__)


class LiveClassifier:
    """Predicts with the registry's current version, else with the fallback (configured or default) model."""

    def __init__(self, registry: ModelRegistry, fallback: Callable[[], Any]) -> None:
        self.registry = registry
        self._fallback = fallback
        self._lock = threading.Lock()
        self._stamp: object = "unread"
        self._model: Any = None

    def current(self) -> Any:
        """The model to use now: reloaded when CURRENT changed since the last ticket (one stat per ticket)."""
        stamp = self.registry.stamp()
        with self._lock:
            if stamp != self._stamp or self._model is None:
                self._model = self._load()
                self._stamp = stamp
            return self._model

    def _load(self) -> Any:
        from classifier.model import load

        folder = self.registry.current_dir()
        if folder is None:
            return self._fallback()
        model = load(folder)
        log.info("model %s is live (from %s)", model.version, folder)
        return model

    def predict(self, text: str) -> Prediction:
        """Predict with the live model."""
        return self.current().predict(text)  # type: ignore[no-any-return]

    def predict_many(self, texts: list[str]) -> list[Prediction]:
        """Predict a batch with the live model."""
        return self.current().predict_many(texts)  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        """Everything else a model offers (departments, version, max_confidence) from the live one."""
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.current(), name)
