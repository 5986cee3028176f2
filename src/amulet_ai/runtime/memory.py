"""Bound how much resident memory a block of work may add to the process.

``memory_limit_context(mb)`` records the peak growth of the process RSS (psutil) over the
RSS at entry. One process-wide sampling thread serves every open block: it reads RSS every
``interval_s`` while at least one block is open and sleeps otherwise, so entering a block
costs two RSS reads, not a thread start. When the block ends
with growth past the limit it raises :class:`~amulet_ai.errors.MemoryLimitExceeded`;
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

import ctypes
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psutil

from amulet_ai.errors import MemoryLimitExceeded

logger = logging.getLogger(__name__)

_MB = 1024 * 1024
# glibc serves allocations of at least its mmap threshold from mmap and unmaps them when
# freed; by default the threshold rises to the largest block freed (up to 32 MB), after
# which Pillow's 16 MB image blocks come from the heap and a large decode's memory stays
# resident once it is done (a 49 MP PNG left the API 190 MB larger for good).
RETURNED_ALLOCATION_BYTES = 4 * _MB
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def return_large_allocations(threshold: int = RETURNED_ALLOCATION_BYTES) -> bool:
    """Pin glibc's mmap threshold at ``threshold`` bytes for this process, so that the
    memory of large allocations (decoded pictures) goes back to the system when freed.

    Pinning it also stops glibc raising its trim threshold with it, which would leave the
    default 128 kB: each request's 600 kB input tensor, freed at the top of the heap, would
    be handed back and faulted in again on the next request. So the trim threshold is set
    to twice the mmap threshold, where glibc's own rule would put it.

    Returns False, changing nothing, where the C library is not glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, threshold)) and bool(
            libc.mallopt(_M_TRIM_THRESHOLD, 2 * threshold)
        )
    except (OSError, AttributeError):
        return False


_process: tuple[int, psutil.Process] | None = None


def process_rss() -> int:
    """Resident set size of this process, in bytes."""
    global _process
    pid = os.getpid()
    if _process is None or _process[0] != pid:  # a forked child must not read its parent
        _process = (pid, psutil.Process(pid))
    return int(_process[1].memory_info().rss)


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
        self.start_rss = rss_reader()
        self._start_peak = peak_rss() if rss_reader is process_rss else None
        self._peak_rss = self.start_rss

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

    def _start(self) -> None:
        _sampler.add(self)

    def _finish(self) -> None:
        _sampler.remove(self)
        self.sample()
        end_peak = peak_rss() if self._start_peak is not None else None
        if end_peak is not None and self._start_peak is not None and end_peak > self._start_peak:
            # The process set a new lifetime peak inside the block: RSS reached end_peak.
            with self._lock:
                self._peak_rss = max(self._peak_rss, end_peak)


class _Sampler:
    """One daemon thread sampling every open guard; idle while none is open."""

    def __init__(self) -> None:
        self._guards: set[MemoryGuard] = set()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, guard: MemoryGuard) -> None:
        with self._cond:
            self._guards.add(guard)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="memory-guard", daemon=True)
                self._thread.start()
            self._cond.notify()

    def remove(self, guard: MemoryGuard) -> None:
        with self._cond:
            self._guards.discard(guard)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._guards:
                    self._cond.wait()
                guards = list(self._guards)
                interval = min(g.interval_s for g in guards)
            for guard in guards:
                guard.sample()
            with self._cond:
                self._cond.wait(interval)


_sampler = _Sampler()


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
