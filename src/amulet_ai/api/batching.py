"""Micro-batching: one model run for photos of several requests that arrive together.

Inference workers decode their request's photos, then hand them to the
:class:`MicroBatcher` and wait. Its thread takes the first photos that arrive, gathers more
for at most ``max_wait_s`` or until ``max_size`` photos, runs the model once
(:meth:`~amulet_ai.model.classifier.AmuletClassifier.score`) and gives each request its
share. Requests pinned to different models (a reload in between) never share a run.

Off by default (``AMULET_BATCH_MAX_SIZE=1``): on 2 cores a batch of 8 took longer per photo
than single runs. With batching on, the pool gets at least ``max_size`` threads, since each
waiting request holds one.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from amulet_ai.imaging.decode import DecodedImage
from amulet_ai.model.classifier import AmuletClassifier, PhotoScores
from amulet_ai.runtime.atomic import ThreadSafeQueue

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class _Order:
    classifier: AmuletClassifier
    images: Sequence[DecodedImage]
    future: Future[list[PhotoScores]] = field(default_factory=Future)


class MicroBatcher:
    """Gathers photos from concurrent requests into one model run.

    Example::

        >>> batcher = MicroBatcher(max_size=8, max_wait_s=0.002)   # doctest: +SKIP
        >>> batcher.start()                                        # doctest: +SKIP
        >>> scores = batcher.score(classifier, [decoded])          # doctest: +SKIP
        >>> batcher.stop()                                         # doctest: +SKIP
    """

    def __init__(
        self,
        max_size: int,
        max_wait_s: float,
        *,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        if max_size < 1 or max_wait_s < 0:
            raise ValueError("max_size >= 1 and max_wait_s >= 0")
        self.max_size = max_size
        self.max_wait_s = max_wait_s
        self._on_batch = on_batch
        self._orders: ThreadSafeQueue[_Order | None] = ThreadSafeQueue()
        self._thread = threading.Thread(target=self._serve, name="amulet-batcher", daemon=True)

    def start(self) -> None:
        """Start the batching thread."""
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Finish the orders already queued, then stop the thread."""
        if self._thread.is_alive():
            self._orders.put(None)
            self._thread.join(timeout_s)

    def score(
        self, classifier: AmuletClassifier, images: Sequence[DecodedImage]
    ) -> list[PhotoScores]:
        """Evidence for ``images``, computed in a shared model run; blocks until done."""
        order = _Order(classifier, images)
        self._orders.put(order)
        return order.future.result()

    def _serve(self) -> None:
        while True:
            first = self._orders.get()
            if first is None:
                return
            batch, stopping = self._gather(first)
            self._run(batch)
            if stopping:
                return

    def _gather(self, first: _Order) -> tuple[list[_Order], bool]:
        batch = [first]
        count = len(first.images)
        deadline = time.monotonic() + self.max_wait_s
        while count < self.max_size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                order = self._orders.get(timeout=remaining)
            except queue.Empty:
                break
            if order is None:
                return batch, True
            batch.append(order)
            count += len(order.images)
        return batch, False

    def _run(self, batch: list[_Order]) -> None:
        groups: dict[int, list[_Order]] = {}
        for order in batch:
            groups.setdefault(id(order.classifier), []).append(order)
        for orders in groups.values():
            images = [image for order in orders for image in order.images]
            if self._on_batch is not None:
                self._on_batch(len(images))
            try:
                scores = orders[0].classifier.score(images)
            except Exception as exc:
                # Each waiting request re-raises it on its own thread, to its own handler.
                for order in orders:
                    order.future.set_exception(exc)
                continue
            start = 0
            for order in orders:
                end = start + len(order.images)
                order.future.set_result(scores[start:end])
                start = end
