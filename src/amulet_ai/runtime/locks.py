"""Named locks with timeouts, taken in one global order so callers cannot deadlock.

Example::

    >>> with lock_manager.acquire_lock("model", timeout=5.0):
    ...     pass  # swap the model reference here
    >>> with lock_manager.acquire_locks("model", "cache", timeout=5.0):
    ...     pass  # always taken as "cache" then "model", whatever order the caller names
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from amulet_ai.errors import LockTimeout

logger = logging.getLogger(__name__)


class LockManager:
    """Reentrant locks looked up by name, created on first use.

    Several names are always taken in sorted order, so two callers that name the same locks
    in opposite orders cannot wait on each other forever. A lock not obtained within its
    timeout raises :class:`~amulet_ai.errors.LockTimeout` (HTTP 503, retryable).
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
        with self.acquire_locks(name, timeout=timeout):
            yield

    @contextmanager
    def acquire_locks(self, *names: str, timeout: float | None = None) -> Iterator[None]:
        """Hold every lock in ``names`` for the block, taken in sorted order.

        ``timeout`` bounds the whole acquisition; on timeout the locks already taken are
        released before ``LockTimeout`` is raised.
        """
        wait = self.default_timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        with ExitStack() as held:
            for name in sorted(set(names)):
                lock = self.lock(name)
                remaining = max(0.0, deadline - time.monotonic())
                if not lock.acquire(timeout=remaining):
                    logger.warning("lock %r not acquired within %.3f s", name, wait)
                    raise LockTimeout(
                        f"The lock {name!r} stayed busy for {wait:g} s.",
                        retry_after=1.0,
                        details={"lock": name, "timeout_s": wait},
                    )
                held.callback(lock.release)
            yield


lock_manager = LockManager()
"""The process-wide lock manager; the model swap on reload takes ``"model"`` from it."""
