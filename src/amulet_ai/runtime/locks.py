"""Named locks with timeouts: a lock that stays busy fails fast with a typed error.

Example::

    >>> with lock_manager.acquire_lock("model", timeout=5.0):
    ...     pass  # swap the model reference here
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from amulet_ai.errors import LockTimeout

logger = logging.getLogger(__name__)


class LockManager:
    """Reentrant locks looked up by name, created on first use.

    A lock not obtained within its timeout raises
    :class:`~amulet_ai.errors.LockTimeout` (HTTP 503, retryable).
    Locks are never removed: names are expected to be a small fixed set ("model", ...).

    Example::

        >>> locks = LockManager(default_timeout=1.0)
        >>> with locks.acquire_lock("global_data"):
        ...     locks.names()
        ['global_data']
    """

    def __init__(self, default_timeout: float = 10.0) -> None:
        self.default_timeout = default_timeout
        self._locks: dict[str, threading.RLock] = {}
        self._registry_lock = threading.Lock()

    def lock(self, name: str) -> threading.RLock:
        """The lock registered under ``name`` (created if new)."""
        with self._registry_lock:
            found = self._locks.get(name)
            if found is None:
                found = self._locks[name] = threading.RLock()
            return found

    def names(self) -> list[str]:
        """Names of the locks created so far."""
        with self._registry_lock:
            return sorted(self._locks)

    @contextmanager
    def acquire_lock(self, name: str, timeout: float | None = None) -> Iterator[None]:
        """Hold the lock ``name`` for the block; raise ``LockTimeout`` after ``timeout`` s."""
        wait = self.default_timeout if timeout is None else timeout
        lock = self.lock(name)
        if not lock.acquire(timeout=wait):
            logger.warning("lock %r not acquired within %.3f s", name, wait)
            raise LockTimeout(
                f"The lock {name!r} stayed busy for {wait:g} s.",
                retry_after=1.0,
                details={"lock": name, "timeout_s": wait},
            )
        try:
            yield
        finally:
            lock.release()


lock_manager = LockManager()
"""The process-wide lock manager; the model swap on reload takes ``"model"`` from it."""
