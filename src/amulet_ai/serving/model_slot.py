"""The model being served, and its swap on reload.

Requests read :attr:`ModelSlot.current` once, at admission, and keep that reference until
they answer, so a request in flight always finishes on the model it started with. A reload
loads the new model first and then swaps one reference, under the ``"model"`` lock of the
process-wide :data:`~amulet_ai.runtime.locks.lock_manager`, which also keeps two reloads
from interleaving. Readers take no lock: a reference is read whole.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from amulet_ai.config import Settings
from amulet_ai.errors import ModelUnavailable
from amulet_ai.model.classifier import AmuletClassifier
from amulet_ai.runtime.locks import LockManager, lock_manager

logger = logging.getLogger(__name__)

MODEL_LOCK = "model"

Loader = Callable[[Settings], AmuletClassifier]


@dataclass(frozen=True, slots=True)
class Swap:
    """The outcome of a reload."""

    previous: AmuletClassifier | None
    current: AmuletClassifier
    seconds: float


class ModelSlot:
    """Holds the served classifier (or why there is none) and swaps it atomically.

    Example::

        >>> slot = ModelSlot(Settings(model_dir="/nonexistent"))
        >>> slot.load()
        False
        >>> slot.error
        'Model metadata metadata.json is missing.'
    """

    def __init__(
        self,
        settings: Settings,
        *,
        loader: Loader = AmuletClassifier.from_settings,
        locks: LockManager = lock_manager,
        lock_timeout_s: float = 60.0,
    ) -> None:
        self._settings = settings
        self._loader = loader
        self._locks = locks
        self._lock_timeout_s = lock_timeout_s
        self._current: AmuletClassifier | None = None
        self.error: str | None = "The model has not been loaded yet."
        self.loaded_at: float | None = None

    @property
    def current(self) -> AmuletClassifier | None:
        """The classifier serving now, or None."""
        return self._current

    def require(self) -> AmuletClassifier:
        """The classifier serving now; ``ModelUnavailable`` (503) when there is none."""
        classifier = self._current
        if classifier is None:
            raise ModelUnavailable(self.error, retry_after=5.0)
        return classifier

    def load(self) -> bool:
        """Load the model at startup; on failure keep serving without one (ready = 503)."""
        try:
            self.reload()
        except ModelUnavailable as exc:
            self.error = exc.message
            logger.error("model unavailable: %s", exc.message)
            return False
        return True

    def reload(self) -> Swap:
        """Load the model from disk and swap it in; on failure the old one keeps serving.

        Blocking (it loads and warms the model): call it from a worker thread.

        Raises:
            ModelUnavailable: the files on disk are missing or broken.
            LockTimeout: another reload held the lock for too long.
        """
        with self._locks.acquire_lock(MODEL_LOCK, timeout=self._lock_timeout_s):
            started = time.perf_counter()
            try:
                new = self._loader(self._settings)
            except ModelUnavailable as exc:
                if self._current is None:
                    self.error = exc.message
                raise
            previous, self._current = self._current, new
            self.error = None
            self.loaded_at = time.time()
        return Swap(previous, new, time.perf_counter() - started)
