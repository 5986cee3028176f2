"""Bound how much resident memory a block of work may add to the process.

``memory_limit_context(mb)`` starts a sampling thread that reads the process RSS (psutil)
every ``interval_s`` and records the peak growth over the RSS at entry. When the block ends
with growth past the limit it raises :class:`~amulet_ai.runtime.errors.MemoryLimitExceeded`;
a long block can call ``guard.check()`` between steps to fail as soon as the sampler has
seen the overrun. A C call (one numpy or PIL operation) cannot be interrupted from outside,
so the check happens at those points and on exit.

RSS belongs to the whole process: concurrent work in other threads counts too. A burst
shorter than the interval can slip between samples; on Linux the process's lifetime peak
(``ru_maxrss``) is also read on exit, which catches a burst that set a new process peak.

Example::

    >>> import numpy as np
    >>> with memory_limit_context(100) as guard:
    ...     small = np.ones(1_000_000)  # 8 MB
    >>> guard.peak_mb < 100
    True
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psutil

from amulet_ai.runtime.errors import MemoryLimitExceeded

logger = logging.getLogger(__name__)

_MB = 1024 * 1024


def process_rss() -> int:
    """Resident set size of this process, in bytes."""
    return int(psutil.Process().memory_info().rss)


def peak_rss() -> int | None:
    """The process's lifetime peak RSS in bytes, where the platform reports it."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kilobytes, macOS bytes.
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


class MemoryGuard:
    """What :func:`memory_limit_context` yields: the limit, the peak growth, ``check()``."""

    def __init__(
        self, limit_mb: float, interval_s: float, rss_reader: Callable[[], int] = process_rss
    ) -> None:
        self.limit_mb = limit_mb
        self.interval_s = interval_s
        self._read_rss = rss_reader
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.start_rss = rss_reader()
        self._start_peak = peak_rss() if rss_reader is process_rss else None
        self._peak_rss = self.start_rss
        self._thread = threading.Thread(target=self._watch, name="memory-guard", daemon=True)

    @property
    def peak_mb(self) -> float:
        """The largest RSS growth seen since entry, in MB."""
        with self._lock:
            return (self._peak_rss - self.start_rss) / _MB

    @property
    def exceeded(self) -> bool:
        """True once the growth seen so far passed the limit."""
        return self.peak_mb > self.limit_mb

    def sample(self) -> float:
        """Read RSS now, update the peak, return the current growth in MB."""
        rss = self._read_rss()
        with self._lock:
            self._peak_rss = max(self._peak_rss, rss)
        return (rss - self.start_rss) / _MB

    def check(self) -> None:
        """Raise ``MemoryLimitExceeded`` if the growth passed the limit (samples once)."""
        self.sample()
        if self.exceeded:
            raise self._error()

    def _error(self) -> MemoryLimitExceeded:
        peak = self.peak_mb
        logger.warning("memory limit %.0f MB exceeded: peak growth %.1f MB", self.limit_mb, peak)
        return MemoryLimitExceeded(
            f"The work grew memory by {peak:.0f} MB; the limit is {self.limit_mb:g} MB.",
            retry_after=1.0,
            details={"limit_mb": self.limit_mb, "peak_mb": round(peak, 1)},
        )

    def _watch(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def _start(self) -> None:
        self._thread.start()

    def _finish(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()
        end_peak = peak_rss() if self._start_peak is not None else None
        if end_peak is not None and self._start_peak is not None and end_peak > self._start_peak:
            # The process set a new lifetime peak inside the block: RSS reached end_peak.
            with self._lock:
                self._peak_rss = max(self._peak_rss, end_peak)


@contextmanager
def memory_limit_context(
    limit_mb: float,
    *,
    interval_s: float = 0.01,
    rss_reader: Callable[[], int] = process_rss,
) -> Iterator[MemoryGuard]:
    """Run a block under an RSS-growth limit of ``limit_mb``; yield its :class:`MemoryGuard`.

    Raises ``MemoryLimitExceeded`` (HTTP 503) on exit when the peak growth passed the
    limit. An exception from the block itself propagates unchanged.

    Example::

        >>> with memory_limit_context(512) as guard:
        ...     guard.check()  # between steps of a long job
    """
    if limit_mb <= 0 or interval_s <= 0:
        raise ValueError("limit_mb and interval_s must be positive")
    guard = MemoryGuard(limit_mb, interval_s, rss_reader)
    guard._start()
    try:
        yield guard
    finally:
        guard._finish()
    if guard.exceeded:
        raise guard._error()
