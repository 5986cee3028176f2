"""Everything one app instance shares between requests, built once per app.

Cheap parts (settings, metrics, keys, rate limiter, result cache, model slot) are made with
the app; heavy parts (the model, the inference threads, the batcher, the GC manager) start
in the lifespan (:meth:`ServingState.start`) and stop with it. Routes reach this object
through the dependencies in :mod:`amulet_ai.api.deps`.
"""

from __future__ import annotations

import asyncio
import logging
import time

from limits.storage import Storage

from amulet_ai.api.batching import MicroBatcher
from amulet_ai.api.inference import InferencePool
from amulet_ai.api.model_slot import ModelSlot
from amulet_ai.api.pipeline import Predictor
from amulet_ai.api.result_cache import ResultCache, ResultStore, build_result_store
from amulet_ai.api.security import ApiKeys, RateLimiter
from amulet_ai.api.shared_state import build_shared_state
from amulet_ai.api.telemetry import LiveFigures, ServiceMetrics
from amulet_ai.api.uploads import FormRules
from amulet_ai.api.worker_metrics import WorkerMetrics
from amulet_ai.config import Settings
from amulet_ai.runtime.atomic import AtomicCounter
from amulet_ai.runtime.errors import MemoryPressure, ShuttingDown
from amulet_ai.runtime.gc_manager import GarbageCollectionManager
from amulet_ai.runtime.memory import process_rss

logger = logging.getLogger(__name__)

_MB = 1024 * 1024
_RSS_MAX_AGE_S = 0.05


class ServingState:
    """The app's shared state: model, pool, cache, limits, counters and metrics."""

    def __init__(
        self,
        settings: Settings,
        *,
        result_store: ResultStore | None = None,
        rate_limit_storage: Storage | None = None,
    ) -> None:
        self.settings = settings
        self.started_at = time.monotonic()
        self.metrics = ServiceMetrics()
        self.model = ModelSlot(settings, lock_timeout_s=settings.request_timeout_s)
        # With AMULET_REDIS_URL the cache and the rate limits live in Redis, shared.
        self.shared = None
        if result_store is None and rate_limit_storage is None:
            self.shared = build_shared_state(settings)
        if self.shared is not None:
            result_store = self.shared.result_store
            rate_limit_storage = self.shared.rate_limit_storage
        store = result_store if result_store is not None else build_result_store(settings)
        self.cache = ResultCache(store)
        self.api_keys = ApiKeys(settings.api_keys)
        self.rate_limiter = RateLimiter(settings.rate_limit, rate_limit_storage)
        self.in_flight = AtomicCounter()
        self.draining = False
        self.gc = GarbageCollectionManager(
            high_water_mb=settings.gc_high_water_mb, interval_s=settings.gc_interval_s
        )
        self.gc.add_shrink_callback(self.cache.shrink)
        self.batcher: MicroBatcher | None = None
        self.predictor = Predictor(
            max_pixels=settings.max_image_pixels,
            decode_limit_mb=settings.decode_memory_limit_mb,
        )
        self._pool: InferencePool | None = None
        self._rss = 0
        self._rss_read_at = -float("inf")
        spool = int(settings.stream_spool_mb * _MB)
        mmap = int(settings.stream_mmap_mb * _MB)
        self.predict_form = FormRules(
            fields={"front": 1, "back": 1},
            required=frozenset({"front"}),
            max_file_bytes=settings.max_upload_bytes,
            spool_bytes=spool,
            mmap_bytes=mmap,
            idle_timeout_s=settings.upload_idle_timeout_s,
        )
        self.batch_form = FormRules(
            fields={"files": settings.max_batch_files},
            required=frozenset({"files"}),
            max_file_bytes=settings.max_upload_bytes,
            spool_bytes=spool,
            mmap_bytes=mmap,
            idle_timeout_s=settings.upload_idle_timeout_s,
        )
        self.metrics.watch(self.live_figures)
        self.worker_metrics = WorkerMetrics(self.live_figures)

    # --- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        """Load the model (a failure leaves the app up, not ready), start the workers."""
        s = self.settings
        if self.shared is not None:
            await self.shared.start()
        if not self.api_keys.required:
            logger.warning("no API keys configured: the API is open to anyone who reaches it")
        workers = s.inference_workers
        if s.batch_max_size > 1:
            self.batcher = MicroBatcher(
                s.batch_max_size,
                s.batch_max_wait_ms / 1000.0,
                on_batch=self.metrics.batch_size.observe,
            )
            self.batcher.start()
            # Each request waiting on a batch holds a worker, so a batch needs that many.
            workers = max(workers, s.batch_max_size)
            self.predictor = Predictor(
                max_pixels=s.max_image_pixels,
                decode_limit_mb=s.decode_memory_limit_mb,
                batcher=self.batcher,
            )
        self._pool = InferencePool(
            workers,
            s.queue_size,
            s.queue_timeout_s,
            on_queue_wait=self.metrics.queue_wait_seconds.observe,
        )
        await asyncio.to_thread(self.model.load)
        await self.gc.start()
        await self.worker_metrics.start()

    async def stop(self) -> None:
        """Refuse new work, let running jobs end, stop the background threads."""
        self.draining = True
        await self.worker_metrics.stop()
        await self.gc.stop()
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown)
        if self.batcher is not None:
            await asyncio.to_thread(self.batcher.stop)
        if self.shared is not None:
            await self.shared.stop()

    def begin_drain(self) -> None:
        """From now on new requests get 503 ``shutting_down``; those in flight finish."""
        if not self.draining:
            self.draining = True
            logger.info("draining: %d requests in flight", self.in_flight.value)

    # --- admission -----------------------------------------------------------------------
    @property
    def pool(self) -> InferencePool:
        """The inference pool; ``ShuttingDown`` once it has stopped."""
        pool = self._pool
        if pool is None:
            raise ShuttingDown()
        return pool

    def rss_bytes(self) -> int:
        """Process RSS, read at most every 50 ms (a read costs tens of microseconds)."""
        now = time.monotonic()
        if now - self._rss_read_at > _RSS_MAX_AGE_S:
            self._rss = process_rss()
            self._rss_read_at = now
        return self._rss

    def check_memory(self) -> None:
        """Refuse new work above the RSS ceiling (and shrink the cache to get under it)."""
        rss = self.rss_bytes()
        limit = self.settings.memory_limit_mb * _MB
        if rss > limit:
            freed = self.cache.shrink(0.5)
            logger.warning(
                "memory pressure: rss %.0f MB above %.0f MB; cache freed %d bytes",
                rss / _MB,
                self.settings.memory_limit_mb,
                freed,
            )
            raise MemoryPressure(
                f"The server is above its memory ceiling of {self.settings.memory_limit_mb:g} MB.",
                retry_after=2.0,
            )

    def readiness_problems(self) -> list[str]:
        """Why the app should not get traffic now; empty when ready."""
        problems = []
        if self.model.current is None:
            problems.append(f"model not loaded: {self.model.error}")
        if self.rss_bytes() > self.settings.memory_limit_mb * _MB:
            problems.append("memory above the ceiling")
        if self.draining:
            problems.append("shutting down")
        return problems

    # --- reporting -----------------------------------------------------------------------
    def uptime_s(self) -> float:
        return time.monotonic() - self.started_at

    def live_figures(self) -> LiveFigures:
        stats = self.cache.stats()
        classifier = self.model.current
        return LiveFigures(
            rss_bytes=self.rss_bytes(),
            cache_hits=stats.hits if stats else 0,
            cache_misses=stats.misses if stats else 0,
            cache_evictions=stats.evictions if stats else 0,
            cache_bytes=stats.bytes if stats else 0,
            cache_entries=stats.entries if stats else 0,
            model_name=classifier.name if classifier else None,
            model_version=classifier.version if classifier else None,
        )
