"""The live model of a running daemon: the version the models folder's CURRENT names, picked up for the next
ticket after `deskbot model use` or `deskbot retrain --apply`, without a restart."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from bot.learning.registry import ModelRegistry
from bot.models import Prediction
from classifier.text import warm_identifier

log = logging.getLogger(__name__)
# Subject and body with words of several kinds, so every feature block builds its tables on it.
WARM_UP_TEXT = "Invoice question\nHello, my invoice for the order was charged twice, please help. Thank you"


class LiveClassifier:
    """Predicts with the registry's current version, else with the fallback (configured or default) model."""

    def __init__(self, registry: ModelRegistry, fallback: Callable[[], Any]) -> None:
        self.registry = registry
        self._fallback = fallback
        self._lock = threading.Lock()
        self._stamp: object = "unread"
        self._model: Any = None
        self._warming: threading.Thread | None = None
        self._warm_error: Exception | None = None

    def warm(self, then: Callable[[Any], None] | None = None) -> None:
        """Load the model and build its lazy tables in a background thread, started before the sources log in,
        so that neither the first poll nor the first mail waits for it; `then` gets the loaded model."""
        def run() -> None:
            try:
                model = self.current()
                model.predict_many([WARM_UP_TEXT])  # vocabularies and indexes are built on first use
                warm_identifier()  # the language identifier for mail whose function words do not settle it
                if then is not None:
                    then(model)
            except Exception as exc:  # noqa: BLE001 - kept for wait_ready(), which raises it where it is caught
                self._warm_error = exc

        self._warming = threading.Thread(target=run, name="model-warm-up", daemon=True)
        self._warming.start()

    def wait_ready(self) -> None:
        """Wait for warm() to finish; raise what stopped it (a model that cannot load stops the start)."""
        warming, self._warming = self._warming, None
        if warming is not None:
            warming.join()
        error, self._warm_error = self._warm_error, None
        if error is not None:
            raise error

    def current(self) -> Any:
        """The model to use now: reloaded when CURRENT changed since the last ticket (one stat per ticket)."""
        stamp = self.registry.stamp()
        with self._lock:
            if stamp != self._stamp or self._model is None:
                self._model = self._load()
                self._stamp = stamp
            return self._model

    def _load(self) -> Any:
        from classifier.loading import load

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
