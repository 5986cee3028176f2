"""The one prediction path: admission, result cache, inference pool, predictor, metrics.

Both predict routes (single and batch) call :class:`PredictionService`; a route reads its
input, calls the service, and shapes the answer. Everything a prediction does besides HTTP
happens here, in this order:

1. :meth:`PredictionService.admit`: refuse at once while memory is above the ceiling, no
   model is loaded, or the inference pool and its queue are full (before the upload is
   read), and pin the model serving now, so a reload meanwhile does not change the model
   the request finishes on;
2. find the enrolled types the caller's owner sees (their revision, from the database at
   most every ``database_recheck_s``; the index of their photos' embeddings, rebuilt only
   when the revision changed: :class:`~amulet_ai.serving.owner_indexes.OwnerIndexes`);
3. look each photo up in the result cache by its SHA-256 (computed while it streamed in),
   the owner's enrolled-type revision part of the key;
4. on a miss, one hop onto an inference worker decodes, finds the amulet (``locate=auto``,
   :mod:`~amulet_ai.serving.locating`) and classifies, the enrolled types competing with
   the model's classes (:class:`~amulet_ai.serving.predictor.Predictor`), and the
   verdict is cached;
5. decode, locate and inference times and the locations' statuses go to the metrics.

The same service embeds photos for enrolment (:meth:`PredictionService.score_photos`) and
searches an owner's collection (:meth:`PredictionService.similar`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np

from amulet_ai.errors import AmuletError, ModelUnavailable, ShuttingDown, StorageUnavailable
from amulet_ai.model.classifier import AmuletClassifier
from amulet_ai.model.results import Classification, LocateMode, PhotoLocation
from amulet_ai.runtime.streaming import StreamedFile
from amulet_ai.serving.inference_pool import InferencePool
from amulet_ai.serving.memory_ceiling import MemoryCeiling
from amulet_ai.serving.metrics import ServiceMetrics
from amulet_ai.serving.model_slot import ModelSlot
from amulet_ai.serving.owner_indexes import OwnerIndexes, TypesLookup
from amulet_ai.serving.predictor import Predictor, ScoredPhoto
from amulet_ai.serving.result_cache import ResultCache, locate_tag, model_tag
from amulet_ai.store.collection import PhotoRef

logger = logging.getLogger(__name__)

NO_TYPES = TypesLookup("", None)
# While the database cannot be reached: answers of the six alone, kept apart in the cache.
TYPES_UNAVAILABLE = TypesLookup("types=unavailable", None)


@dataclass(frozen=True, slots=True)
class PredictOutcome:
    """A verdict, whether it came from the cache, and the work it took (seconds)."""

    classification: Classification
    cached: bool
    decode_s: float = 0.0
    inference_s: float = 0.0
    locate_s: float = 0.0


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """One verdict or error per photo, in order, which came from the cache, and the work."""

    items: list[Classification | AmuletError]
    cached: list[bool]
    decode_s: float = 0.0
    inference_s: float = 0.0
    locate_s: float = 0.0


@dataclass(frozen=True, slots=True)
class SimilarOutcome:
    """The closest photos with their distances, the time the search itself took, and where
    the amulet was on each photo sent (front first)."""

    hits: list[tuple[PhotoRef, float]]
    searched: int
    search_s: float
    locations: list[PhotoLocation]
    # English and Thai names of the hits' classes, by class id (those known).
    names: dict[str, tuple[str, str]]


@dataclass(frozen=True, slots=True)
class PoolFigures:
    """The inference pool as the health report shows it (zeros once it has stopped)."""

    workers: int
    pending: int
    capacity: int


class PredictionService:
    """Classifies photos for the API; built with the app, started in its lifespan.

    Example::

        >>> service = PredictionService(slot, cache, ceiling, metrics, workers=2,
        ...                             queue_size=8, queue_timeout_s=5.0)  # doctest: +SKIP
        >>> await service.start()                                          # doctest: +SKIP
        >>> classifier = service.admit()                                   # doctest: +SKIP
        >>> outcome = await service.predict(classifier, front, None, top_k=3,
        ...                                 explain=False)                 # doctest: +SKIP
    """

    def __init__(
        self,
        model: ModelSlot,
        cache: ResultCache,
        memory: MemoryCeiling,
        metrics: ServiceMetrics,
        *,
        workers: int,
        queue_size: int,
        queue_timeout_s: float,
        indexes: OwnerIndexes | None = None,
        locate: LocateMode = "off",
        turns: int = 1,
    ) -> None:
        self.model = model
        # How enrolment and search see a photo: the server's default locate mode, the one
        # a prediction without the option takes.
        self.locate = locate
        self.indexes = indexes
        self.cache = cache
        self._memory = memory
        self._metrics = metrics
        # A cropped photo is scored with its crop's quarter turns (1: the crop alone).
        self._predictor = Predictor(turns)
        self._pool_shape = (workers, queue_size, queue_timeout_s)
        self._pool: InferencePool | None = None

    async def start(self) -> None:
        """Start the inference threads and load the model (a failure leaves it unready)."""
        workers, queue_size, queue_timeout_s = self._pool_shape
        self._pool = InferencePool(
            workers,
            queue_size,
            queue_timeout_s,
            on_queue_wait=self._metrics.queue_wait_seconds.observe,
        )
        await asyncio.to_thread(self.model.load)

    async def stop(self) -> None:
        """Drop queued jobs, let running ones end, stop the threads."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown)

    @property
    def pool(self) -> InferencePool:
        """The inference pool; ``ShuttingDown`` once it has stopped."""
        pool = self._pool
        if pool is None:
            raise ShuttingDown()
        return pool

    def pool_figures(self) -> PoolFigures:
        pool = self._pool
        if pool is None:
            return PoolFigures(0, 0, 0)
        return PoolFigures(pool.workers, pool.pending, pool.capacity)

    def admit(self) -> AmuletClassifier:
        """Admit one request's inference work and pin the model it will run on.

        Raises:
            MemoryPressure: the process is above its memory ceiling.
            ModelUnavailable: no model is loaded.
            Overloaded: every worker is busy and the queue is full.
            ShuttingDown: the pool has stopped.
        """
        self._memory.admit()
        classifier = self.model.require()
        self.pool.check_admission()
        return classifier

    async def predict(
        self,
        classifier: AmuletClassifier,
        front: StreamedFile,
        back: StreamedFile | None,
        *,
        top_k: int,
        explain: bool,
        owner: str | None = None,
        locate: LocateMode = "off",
        mask: bool = False,
    ) -> PredictOutcome:
        """Classify a front photo, or a front and back pair, from the cache when it can.

        With ``owner``, the enrolled types that owner sees compete with the model's classes;
        with ``locate="auto"`` each photo's amulet is found and cropped first, and with
        ``mask`` its location carries the localiser's mask too.
        """
        types = await self.enrolled_types(owner, classifier)
        key = ResultCache.key(
            model_tag(classifier),
            front.sha256,
            back.sha256 if back is not None else None,
            top_k=top_k,
            explain=explain,
            types=types.cache_part,
            locate=locate_tag(classifier, locate, self._predictor.turns),
            mask=mask,
        )
        verdict = self.cache.get(key)
        if verdict is not None:
            return PredictOutcome(verdict, cached=True)
        job = partial(
            self._predictor.predict,
            classifier,
            front,
            back,
            top_k=top_k,
            explain=explain,
            enrolled=types.index,
            locate=locate,
            mask=mask,
        )
        done = await self.pool.run(job)
        self.cache.put(key, done.classification)
        self._observe(done.decode_s, done.inference_s, done.locate_s, [done.classification])
        return PredictOutcome(
            done.classification, False, done.decode_s, done.inference_s, done.locate_s
        )

    async def predict_batch(
        self,
        classifier: AmuletClassifier,
        photos: Sequence[StreamedFile],
        *,
        top_k: int,
        explain: bool,
        owner: str | None = None,
        locate: LocateMode = "off",
        mask: bool = False,
    ) -> BatchOutcome:
        """Classify independent photos: cached ones from the cache, the rest in one job."""
        tag = model_tag(classifier)
        located = locate_tag(classifier, locate, self._predictor.turns)
        types = await self.enrolled_types(owner, classifier)
        keys = [
            ResultCache.key(
                tag,
                photo.sha256,
                None,
                top_k=top_k,
                explain=explain,
                types=types.cache_part,
                locate=located,
                mask=mask,
            )
            for photo in photos
        ]
        found: list[Classification | AmuletError | None] = [self.cache.get(k) for k in keys]
        cached = [item is not None for item in found]
        todo = [i for i, hit in enumerate(cached) if not hit]
        if not todo:
            return BatchOutcome([item for item in found if item is not None], cached)
        job = partial(
            self._predictor.predict_many,
            classifier,
            [photos[i] for i in todo],
            top_k=top_k,
            explain=explain,
            enrolled=types.index,
            locate=locate,
            mask=mask,
        )
        done = await self.pool.run(job)
        verdicts = []
        for i, item in zip(todo, done.items, strict=True):
            found[i] = item
            if isinstance(item, Classification):
                self.cache.put(keys[i], item)
                verdicts.append(item)
        self._observe(done.decode_s, done.inference_s, done.locate_s, verdicts)
        items = [item for item in found if item is not None]
        return BatchOutcome(items, cached, done.decode_s, done.inference_s, done.locate_s)

    async def enrolled_types(self, owner: str | None, classifier: AmuletClassifier) -> TypesLookup:
        """The enrolled types ``owner`` sees, for one prediction (none without an owner,
        a database or a model with an embedding output)."""
        if owner is None or self.indexes is None or not classifier.has_embedding:
            return NO_TYPES
        recent = self.indexes.recent_enrolled(owner, classifier)
        if recent is not None:
            return recent
        try:
            return await asyncio.to_thread(self.indexes.enrolled, owner, classifier)
        except StorageUnavailable:
            logger.warning("enrolled types of %s skipped: database unavailable", owner)
            return TYPES_UNAVAILABLE

    async def score_photos(
        self, classifier: AmuletClassifier, photos: Sequence[StreamedFile]
    ) -> list[ScoredPhoto | AmuletError]:
        """Each photo's evidence, embedding and location from one job, seen as predictions
        see it (the service's ``locate``); a bad photo fails alone.

        Raises:
            ModelUnavailable: the model serving now has no embedding output.
        """
        if not classifier.has_embedding:
            raise ModelUnavailable("The model serving now has no embedding output.")
        started = time.perf_counter()
        job = partial(self._predictor.score_each, classifier, list(photos), self.locate)
        done = await self.pool.run(job)
        self._metrics.inference_seconds.observe(time.perf_counter() - started)
        return done

    async def similar(
        self,
        classifier: AmuletClassifier,
        owner: str,
        photos: Sequence[StreamedFile],
        *,
        limit: int,
    ) -> SimilarOutcome:
        """The owner's photos closest to ``photos`` (a front, or a front and back), with
        their classes' names.

        A photo predictions could not judge (its location ``no_amulet``, ``too_small`` or
        ``too_blurred``) is searched all the same, by the embedding of the picture they
        would classify; its location in the outcome says so.

        Raises:
            AmuletError: a photo cannot be decoded (its own error), or as :meth:`score_photos`.
        """
        if self.indexes is None:
            raise StorageUnavailable()
        scored: list[ScoredPhoto] = []
        for item in await self.score_photos(classifier, photos):
            if isinstance(item, AmuletError):
                raise item
            scored.append(item)
        queries = np.stack([s.scores.embedding for s in scored if s.scores.embedding is not None])
        locations = [s.location for s in scored]
        indexes = self.indexes

        def search() -> SimilarOutcome:
            index = indexes.collection(owner, classifier)
            started = time.perf_counter()
            hits = index.search(queries, limit)
            elapsed = time.perf_counter() - started
            class_ids = {ref.class_id for ref, _ in hits if ref.class_id is not None}
            names = indexes.class_names(owner, classifier, class_ids)
            return SimilarOutcome(hits, len(index.refs), elapsed, locations, names)

        return await asyncio.to_thread(search)

    def _observe(
        self,
        decode_s: float,
        inference_s: float,
        locate_s: float,
        verdicts: Sequence[Classification],
    ) -> None:
        self._metrics.decode_seconds.observe(decode_s)
        self._metrics.inference_seconds.observe(inference_s)
        self._metrics.locate_seconds.observe(locate_s)
        for verdict in verdicts:
            for photo in (verdict.images.front, verdict.images.back):
                if photo is not None and photo.location is not None:
                    self._metrics.locations.labels(status=photo.location.status).inc()
