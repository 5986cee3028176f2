"""Saving answers to the caller's history, off the event loop, without failing the answer.

``POST /v1/predict?save=true`` answers the prediction whatever happens to the save: when
the database cannot be reached the answer comes without ``history_id`` (and the failure is
logged), because the prediction itself is still right. What is kept follows
``AMULET_HISTORY``: ``results`` the answer only, ``photos`` the answer and the photos
re-encoded (:func:`~amulet_ai.store.images.keep_photo`), ``off`` nothing (``save=true``
is then 409 ``history_disabled``, before the upload is read).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final, Literal

from amulet_ai.errors import AmuletError, HistoryDisabled, StorageUnavailable
from amulet_ai.model.classifier import AmuletClassifier
from amulet_ai.model.results import Classification
from amulet_ai.runtime.streaming import StreamedFile
from amulet_ai.store.history import HistoryRepository
from amulet_ai.store.images import KeptPhoto, keep_photo

logger = logging.getLogger(__name__)

HistoryMode = Literal["off", "results", "photos"]


# What an answer keeps out of the history: large, and recomputable from the photo.
_NOT_KEPT: Final[dict[str, Any]] = {
    "heatmap": True,
    "images": {side: {"location": {"mask"}} for side in ("front", "back")},
}


def stored_result(classification: Classification) -> dict[str, Any]:
    """The answer as it is kept: its JSON without the heatmaps and the localiser's masks
    (large, and recomputable)."""
    return classification.model_dump(mode="json", exclude=_NOT_KEPT)


def keep_or_none(photo: StreamedFile | None, max_pixels: int) -> KeptPhoto | None:
    """The kept form of ``photo``; None (logged) if it cannot be re-encoded."""
    if photo is None:
        return None
    try:
        return keep_photo(photo.read_bytes(), max_pixels=max_pixels)
    except AmuletError as exc:
        logger.warning("photo not kept: %s", exc.code)
        return None


class HistorySaver:
    """Writes answers to the history of their owner (``AMULET_HISTORY`` decides what)."""

    def __init__(self, history: HistoryRepository | None, mode: HistoryMode, max_pixels: int):
        self._history = history
        self.mode = mode
        self._max_pixels = max_pixels

    def check_enabled(self) -> None:
        """Raise 409 ``history_disabled`` when nothing is kept."""
        if self.mode == "off" or self._history is None:
            raise HistoryDisabled()

    def _save(
        self,
        owner: str,
        classification: Classification,
        classifier: AmuletClassifier,
        front: StreamedFile,
        back: StreamedFile | None,
        filename: str | None,
    ) -> int:
        assert self._history is not None
        keep = self.mode == "photos"
        return self._history.save(
            owner,
            stored_result(classification),
            model=(classifier.name, classifier.version),
            front=keep_or_none(front, self._max_pixels) if keep else None,
            back=keep_or_none(back, self._max_pixels) if keep else None,
            has_back=back is not None,
            filename=filename,
        )

    async def save(
        self,
        owner: str,
        classification: Classification,
        classifier: AmuletClassifier,
        front: StreamedFile,
        back: StreamedFile | None = None,
        filename: str | None = None,
    ) -> int | None:
        """Save one answer on a worker thread; its history id, or None if the database is out."""
        self.check_enabled()
        try:
            return await asyncio.to_thread(
                self._save, owner, classification, classifier, front, back, filename
            )
        except StorageUnavailable:
            logger.warning("history not saved for %s: database unavailable", owner)
            return None
