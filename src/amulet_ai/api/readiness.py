"""Whether this app should get traffic, and the detailed health report behind ``/health``.

Example::

    >>> monitor = HealthMonitor(settings, slot, memory, cache, service, traffic)  # doctest: +SKIP
    >>> monitor.problems()                                                          # doctest: +SKIP
    ['model not loaded: Model metadata metadata.json is missing.']
"""

from __future__ import annotations

import time

from amulet_ai.api.schemas import (
    CacheHealth,
    HealthReport,
    HealthStatus,
    MemoryHealth,
    ModelHealth,
    ModelRef,
    SharedStateHealth,
    StorageHealth,
    WorkHealth,
)
from amulet_ai.api.shared_state import SharedState
from amulet_ai.api.traffic import Traffic
from amulet_ai.serving.memory_ceiling import MemoryCeiling
from amulet_ai.serving.service import PredictionService

_MB = 1024 * 1024


class HealthMonitor:
    """Reads the parts that decide readiness; builds the ``/health`` report from them."""

    def __init__(
        self,
        memory: MemoryCeiling,
        service: PredictionService,
        traffic: Traffic,
        shared: SharedState | None,
    ) -> None:
        self._memory = memory
        self._service = service
        self._traffic = traffic
        self._shared = shared
        self._started_at = time.monotonic()

    def problems(self) -> list[str]:
        """Why the app should not get traffic now; empty when ready."""
        problems = []
        slot = self._service.model
        if slot.current is None:
            problems.append(f"model not loaded: {slot.error}")
        if not self._memory.under_limit():
            problems.append("memory above the ceiling")
        if self._traffic.draining:
            problems.append("shutting down")
        return problems

    def report(self, storage: StorageHealth | None = None) -> HealthReport:
        """Model, memory, cache, work in flight, shared state and storage, with a status.

        A database that does not answer makes the report degraded, not unready: predictions
        still answer without it.
        """
        slot = self._service.model
        classifier = slot.current
        reasons = self.problems()
        status: HealthStatus = "ok"
        if classifier is None:
            status = "unavailable"
        elif reasons:
            status = "degraded"
        shared = SharedStateHealth(**self._shared.status()) if self._shared else None
        if shared is not None and shared.status == "degraded":
            # Still serving (from in-process state), so degraded, not unready.
            reasons = [*reasons, f"shared state: {shared.reason}"]
            status = "degraded" if status == "ok" else status
        if storage is not None and storage.status == "unavailable":
            reasons = [*reasons, f"storage: {storage.reason}"]
            status = "degraded" if status == "ok" else status
        stats = self._service.cache.stats()
        cache = CacheHealth(enabled=False)
        if stats is not None:
            cache = CacheHealth(
                enabled=True,
                entries=stats.entries,
                bytes=stats.bytes,
                max_bytes=stats.max_bytes,
                hits=stats.hits,
                misses=stats.misses,
                evictions=stats.evictions,
                hit_rate=round(stats.hit_rate, 4),
            )
        pool = self._service.pool_figures()
        rss = self._memory.rss_bytes()
        located = classifier.localiser if classifier is not None else None
        return HealthReport(
            status=status,
            reasons=reasons,
            draining=self._traffic.draining,
            uptime_s=round(time.monotonic() - self._started_at, 3),
            model=ModelHealth(
                loaded=classifier is not None,
                name=classifier.name if classifier else None,
                version=classifier.version if classifier else None,
                loaded_at=slot.loaded_at,
                error=slot.error if classifier is None else None,
                localiser=ModelRef(name=located.name, version=located.version)
                if located is not None
                else None,
            ),
            memory=MemoryHealth(
                rss_mb=round(rss / _MB, 1),
                limit_mb=self._memory.limit_mb,
                under_limit=rss <= self._memory.limit_mb * _MB,
            ),
            cache=cache,
            work=WorkHealth(
                requests_in_flight=self._traffic.in_flight,
                inference_workers=pool.workers,
                inference_pending=pool.pending,
                inference_capacity=pool.capacity,
            ),
            shared_state=shared,
            storage=storage,
        )
