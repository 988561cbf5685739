"""A second model deciding beside the live one (`deskbot run --shadow MODEL_DIR`): both are recorded, only the
live one is acted on, so a candidate can be judged on real traffic before anyone switches to it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.log.feedback import ShadowDecision
from bot.log.store import Store
from bot.models import Decision, Prediction, Ticket

log = logging.getLogger(__name__)


class ShadowModel:
    """Records what `model` would have decided; its failures are logged and cost the live ticket nothing."""

    def __init__(self, model: Any, store: Store) -> None:
        self.model, self.store = model, store

    @classmethod
    def load(cls, folder: Path, store: Store) -> ShadowModel:
        """The model saved in `folder` (a `deskbot train` output or a models-folder version)."""
        from classifier.model import load

        return cls(load(folder), store)

    def record(self, ticket: Ticket, text: str, live: Prediction, decide_with: Callable[[Prediction], Decision]) -> None:
        """Predict and decide with the shadow model and record it beside the live prediction."""
        try:
            prediction = self.model.predict(text)
            decision = decide_with(prediction)
            with self.store.session() as session:
                session.add(ShadowDecision(
                    key=ticket.key, source=ticket.source, model_version=prediction.model_version,
                    department=decision.department, priority=decision.priority, confidence=prediction.confidence,
                    needs_review=decision.needs_review, live_model_version=live.model_version,
                    live_department=live.department, live_priority=live.priority or "", at=self.store.now()))
                session.commit()
        except Exception:  # noqa: BLE001 - the shadow is an experiment: the live ticket goes on whatever it does
            log.exception("%s %s: the shadow model failed on this ticket", ticket.source, ticket.ref)
