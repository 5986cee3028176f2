"""Collect garbage and shrink caches when the process's memory passes a high-water mark.

:class:`GarbageCollectionManager` runs as an asyncio background task beside the app. Every
``interval_s`` it reads the process RSS (psutil); above ``high_water_mb`` it runs a full
``gc.collect()`` and calls the registered shrink callbacks (caches), on a worker thread so
the event loop keeps serving. A cooldown keeps it from collecting on every tick while the
memory is real data rather than garbage.

Example::

    >>> import asyncio
    >>> from amulet_ai.runtime.cache import ImageCache
    >>> images = ImageCache(max_mb=16)
    >>> async def serve():
    ...     async with GarbageCollectionManager(high_water_mb=1024, interval_s=5.0) as gcm:
    ...         gcm.add_shrink_callback(images.shrink)
    ...         await asyncio.sleep(0)  # the app serves here
    ...     return gcm.running
    >>> asyncio.run(serve())
    False
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from amulet_ai.runtime.memory import process_rss

logger = logging.getLogger(__name__)

_MB = 1024 * 1024

ShrinkCallback = Callable[[float], object]
"""Called with the fraction of its content a cache should drop (0.5 = half)."""


@dataclass(frozen=True, slots=True)
class GcStats:
    """What a :class:`GarbageCollectionManager` saw and did."""

    samples: int
    collections: int
    objects_freed: int
    shrinks: int
    last_rss_mb: float
    peak_rss_mb: float


class GarbageCollectionManager:
    """Background RSS watcher that collects garbage and shrinks caches above a mark.

    ``check()`` runs one sample-and-act step synchronously (what the task does each tick);
    ``rss_reader`` is injectable for tests that want to drive the mark directly.

    Example::

        >>> gcm = GarbageCollectionManager(high_water_mb=0.001, cooldown_s=0.0)
        >>> gcm.check()  # any process is above 1 kB: collect now
        True
        >>> gcm.stats().collections
        1
    """

    def __init__(
        self,
        high_water_mb: float = 1024.0,
        interval_s: float = 5.0,
        *,
        shrink_fraction: float = 0.5,
        cooldown_s: float = 30.0,
        rss_reader: Callable[[], int] = process_rss,
    ) -> None:
        if high_water_mb <= 0 or interval_s <= 0 or not 0.0 <= shrink_fraction <= 1.0:
            raise ValueError("high_water_mb, interval_s > 0 and shrink_fraction in [0, 1]")
        self.high_water_mb = high_water_mb
        self.interval_s = interval_s
        self.shrink_fraction = shrink_fraction
        self.cooldown_s = cooldown_s
        self._read_rss = rss_reader
        self._callbacks: list[ShrinkCallback] = []
        self._lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None
        self._last_action = -float("inf")
        self._samples = 0
        self._collections = 0
        self._freed = 0
        self._shrinks = 0
        self._last_rss = 0
        self._peak_rss = 0

    def add_shrink_callback(self, callback: ShrinkCallback) -> None:
        """Have ``callback(fraction)`` called on every collection (a cache's ``shrink``)."""
        with self._lock:
            self._callbacks.append(callback)

    def check(self) -> bool:
        """Sample RSS once; above the mark (and past the cooldown) collect and shrink.

        Returns True when it acted.
        """
        rss = self._read_rss()
        now = time.monotonic()
        with self._lock:
            self._samples += 1
            self._last_rss = rss
            self._peak_rss = max(self._peak_rss, rss)
            if rss / _MB < self.high_water_mb or now - self._last_action < self.cooldown_s:
                return False
            self._last_action = now
            callbacks = list(self._callbacks)
        freed = gc.collect()
        for callback in callbacks:
            callback(self.shrink_fraction)
        with self._lock:
            self._collections += 1
            self._freed += freed
            self._shrinks += len(callbacks)
        logger.info(
            "rss %.0f MB above %.0f MB: gc freed %d objects, %d caches shrunk",
            rss / _MB,
            self.high_water_mb,
            freed,
            len(callbacks),
        )
        return True

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await asyncio.to_thread(self.check)
            except Exception:
                # A background task has no caller to raise to: log the failure with its
                # traceback and keep watching rather than stop protecting the process.
                logger.exception("gc manager check failed")

    async def start(self) -> None:
        """Start the background task on the running loop (no-op when running)."""
        if self.running:
            return
        self._task = asyncio.get_running_loop().create_task(self._run(), name="gc-manager")
        logger.info(
            "gc manager started: high water %.0f MB, every %.1f s",
            self.high_water_mb,
            self.interval_s,
        )

    async def stop(self) -> None:
        """Stop the background task and wait for it to end."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # stop() itself was cancelled
        logger.info("gc manager stopped after %d collections", self._collections)

    @property
    def running(self) -> bool:
        """True while the background task runs."""
        return self._task is not None and not self._task.done()

    def stats(self) -> GcStats:
        """A snapshot of the counters."""
        with self._lock:
            return GcStats(
                samples=self._samples,
                collections=self._collections,
                objects_freed=self._freed,
                shrinks=self._shrinks,
                last_rss_mb=self._last_rss / _MB,
                peak_rss_mb=self._peak_rss / _MB,
            )

    async def __aenter__(self) -> GarbageCollectionManager:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
