"""The process's memory ceiling as an admission check.

New inference work is admitted only while the process's resident memory (RSS) is under
``memory_limit_mb``. This is a property of the whole process, checked once per request
before its upload is read; it says nothing about which request used the memory. What one
decode may cost is bounded separately and per decode, from the image's own header (see
:class:`~amulet_ai.serving.predictor.Predictor`).

Example::

    >>> ceiling = MemoryCeiling(limit_mb=1e6)
    >>> ceiling.admit()   # far under the ceiling: nothing happens
    >>> ceiling.under_limit()
    True
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from amulet_ai.errors import MemoryPressure
from amulet_ai.runtime.memory import process_rss

logger = logging.getLogger(__name__)

_MB = 1024 * 1024
_RSS_MAX_AGE_S = 0.05


class MemoryCeiling:
    """Refuses new work (503 ``memory_pressure``) while RSS is above ``limit_mb``.

    ``relieve`` is called on a refusal to give memory back (the result cache shrinks) and
    returns the bytes it freed.
    """

    def __init__(self, limit_mb: float, *, relieve: Callable[[], int] | None = None) -> None:
        self.limit_mb = limit_mb
        self._relieve = relieve
        self._rss = 0
        self._rss_read_at = -float("inf")

    def rss_bytes(self) -> int:
        """Process RSS, read at most every 50 ms (a read costs tens of microseconds)."""
        now = time.monotonic()
        if now - self._rss_read_at > _RSS_MAX_AGE_S:
            self._rss = process_rss()
            self._rss_read_at = now
        return self._rss

    def under_limit(self) -> bool:
        return self.rss_bytes() <= self.limit_mb * _MB

    def admit(self) -> None:
        """Raise ``MemoryPressure`` above the ceiling, after asking for memory back."""
        rss = self.rss_bytes()
        if rss <= self.limit_mb * _MB:
            return
        freed = self._relieve() if self._relieve is not None else 0
        logger.warning(
            "memory pressure: rss %.0f MB above %.0f MB; %d bytes freed",
            rss / _MB,
            self.limit_mb,
            freed,
        )
        raise MemoryPressure(
            f"The server is above its memory ceiling of {self.limit_mb:g} MB.", retry_after=2.0
        )
