"""Single predictions that arrive together go to the model together.

A model call costs about 2.5 ms of fixed work whatever its size, and about 0.15 ms per text in a
batch, so answering concurrent POST /v1/predict requests one model call each caps the API near 400
requests/s on one core. Here the first request starts a model call at once (no added wait when
idle); requests that arrive while it runs wait for the next call, which takes all of them. Results
are the same as one call each: the model predicts each row of a batch on its own.

The call runs on the event loop itself: a few milliseconds (at most `most` texts) during which the
loop reads the next requests into its buffers anyway, and no hop to a worker thread and back; that
hop, and the GIL handed between the two threads, cost a quarter of the throughput (bench/api.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from bot.models import Prediction

Pair = tuple[str, str]  # subject, body


class PredictionQueue:
    """Coalesces concurrent single predictions into one `predict_many` call per turn of the model."""

    def __init__(self, predict_many: Callable[[Sequence[Pair]], list[Prediction]], *, most: int = 64) -> None:
        self._predict_many = predict_many
        self._most = most
        self._waiting: list[tuple[Pair, asyncio.Future[Prediction]]] = []
        self._draining: asyncio.Task[None] | None = None

    async def predict(self, subject: str, body: str) -> Prediction:
        """One prediction, made in the next model call."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Prediction] = loop.create_future()
        self._waiting.append(((subject, body), future))
        if self._draining is None or self._draining.done():
            self._draining = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        """Model calls until nobody waits; a failed call fails the requests it held (each gets a 500)."""
        while self._waiting:
            batch, self._waiting = self._waiting[:self._most], self._waiting[self._most:]
            try:
                found = self._predict_many([pair for pair, _ in batch])
                await asyncio.sleep(0)  # let the requests that arrived meanwhile queue up for the next call
            except Exception as exc:  # noqa: BLE001 - handed to each request, logged by the app's Guard
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), prediction in zip(batch, found):
                if not future.done():
                    future.set_result(prediction)
