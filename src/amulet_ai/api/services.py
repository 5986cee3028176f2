"""What one app instance is made of, assembled once in :func:`~amulet_ai.api.app.create_app`.

Cheap parts (metrics, keys, rate limiter, result cache, model slot, forms, the database
engine) are made with the app; heavy parts (the inference threads and the model, the GC
manager, Redis links, the SQLite migration) start in the lifespan (:meth:`Services.start`)
and stop with it. Routes never receive this object: :mod:`amulet_ai.api.deps` hands each
route only the part it needs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from limits.storage import Storage

from amulet_ai.api.owners import OwnerResolver
from amulet_ai.api.readiness import HealthMonitor
from amulet_ai.api.saved_work import SavedWork
from amulet_ai.api.saving import HistorySaver
from amulet_ai.api.security import ApiKeys, RateLimiter
from amulet_ai.api.shared_state import build_shared_state
from amulet_ai.api.traffic import Traffic
from amulet_ai.api.uploads import FormRules
from amulet_ai.api.worker_metrics import WorkerMetrics
from amulet_ai.config import Settings
from amulet_ai.runtime.gc_manager import GarbageCollectionManager
from amulet_ai.serving.memory_ceiling import MemoryCeiling
from amulet_ai.serving.metrics import LiveFigures, ServiceMetrics
from amulet_ai.serving.model_slot import ModelSlot
from amulet_ai.serving.owner_indexes import OwnerIndexes
from amulet_ai.serving.result_cache import ResultCache, ResultStore, build_result_store
from amulet_ai.serving.service import PredictionService

logger = logging.getLogger(__name__)

# Photos of one enrolled type (POST /v1/types and its /photos together).
MAX_TYPE_PHOTOS = 50


@dataclass(frozen=True, slots=True)
class PredictForms:
    """The multipart forms of the routes that classify: predict, batch, a new piece, a new
    enrolled type and its added photos, a similarity search."""

    single: FormRules
    batch: FormRules
    piece: FormRules
    types: FormRules
    type_photos: FormRules
    similar: FormRules


class Services:
    """The app's parts: prediction service, limits, traffic, health, metrics."""

    def __init__(
        self,
        settings: Settings,
        *,
        result_store: ResultStore | None = None,
        rate_limit_storage: Storage | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = ServiceMetrics()
        # With AMULET_REDIS_URL the cache and the rate limits live in Redis, shared.
        self.shared = None
        if result_store is None and rate_limit_storage is None:
            self.shared = build_shared_state(settings)
        if self.shared is not None:
            result_store = self.shared.result_store
            rate_limit_storage = self.shared.rate_limit_storage
        store = result_store if result_store is not None else build_result_store(settings)
        cache = ResultCache(store)
        self.memory = MemoryCeiling(settings.memory_limit_mb, relieve=lambda: cache.shrink(0.5))
        self.model = ModelSlot(settings, lock_timeout_s=settings.request_timeout_s)
        self.saved = SavedWork(settings)
        self.indexes = OwnerIndexes(
            self.saved.store.types,
            self.saved.store.collection,
            locate=settings.locate,
            recheck_s=settings.database_recheck_s,
        )
        self.prediction = PredictionService(
            self.model,
            cache,
            self.memory,
            self.metrics,
            workers=settings.inference_workers,
            queue_size=settings.queue_size,
            queue_timeout_s=settings.queue_timeout_s,
            indexes=self.indexes,
            locate=settings.locate,
            turns=settings.crop_turns,
        )
        self.api_keys = ApiKeys(settings.api_keys)
        self.owners = OwnerResolver(
            self.api_keys,
            self.saved.store.keys,
            allow_open=settings.env != "production",
            recheck_s=settings.database_recheck_s,
        )
        self.saver = HistorySaver(
            self.saved.store.history, settings.history, settings.max_image_pixels
        )
        self.rate_limiter = RateLimiter(settings.rate_limit, rate_limit_storage)
        self.traffic = Traffic()
        self.health = HealthMonitor(self.memory, self.prediction, self.traffic, self.shared)
        self.forms = PredictForms(
            single=FormRules.for_settings(settings, {"front": 1, "back": 1}, ["front"]),
            batch=FormRules.for_settings(
                settings, {"files": settings.max_batch_files}, ["files"], file_errors=True
            ),
            piece=FormRules.for_settings(
                settings,
                {"front": 1, "back": 1, "name": 1, "notes": 1, "confirmed_class_id": 1},
                ["front"],
                text=["name", "notes", "confirmed_class_id"],
            ),
            types=FormRules.for_settings(
                settings,
                {"name_en": 1, "name_th": 1, "description": 1, "photos": MAX_TYPE_PHOTOS},
                ["name_en", "photos"],
                text=["name_en", "name_th", "description"],
            ),
            type_photos=FormRules.for_settings(settings, {"photos": MAX_TYPE_PHOTOS}, ["photos"]),
            similar=FormRules.for_settings(
                settings,
                {"front": 1, "back": 1, "limit": 1, "max_distance": 1},
                ["front"],
                text=["limit", "max_distance"],
            ),
        )
        self.gc = GarbageCollectionManager(
            high_water_mb=settings.gc_high_water_mb, interval_s=settings.gc_interval_s
        )
        self.gc.add_shrink_callback(cache.shrink)
        self.metrics.watch(self.live_figures)
        self.worker_metrics = WorkerMetrics(self.live_figures)

    async def start(self) -> None:
        """Connect shared state, start the inference threads and load the model."""
        if self.shared is not None:
            await self.shared.start()
        await self.saved.start()
        if not self.api_keys.required:
            logger.warning(
                "no API keys in AMULET_API_KEYS: the API is open unless keys exist in the database"
            )
        await self.prediction.start()
        await self.gc.start()
        await self.worker_metrics.start()

    async def stop(self) -> None:
        """Refuse new work, let running jobs end, stop the background threads."""
        self.traffic.begin_drain()
        await self.worker_metrics.stop()
        await self.gc.stop()
        await self.prediction.stop()
        await self.saved.stop()
        if self.shared is not None:
            await self.shared.stop()

    def live_figures(self) -> LiveFigures:
        stats = self.prediction.cache.stats()
        classifier = self.model.current
        return LiveFigures(
            rss_bytes=self.memory.rss_bytes(),
            cache_hits=stats.hits if stats else 0,
            cache_misses=stats.misses if stats else 0,
            cache_evictions=stats.evictions if stats else 0,
            cache_bytes=stats.bytes if stats else 0,
            cache_entries=stats.entries if stats else 0,
            model_name=classifier.name if classifier else None,
            model_version=classifier.version if classifier else None,
        )
