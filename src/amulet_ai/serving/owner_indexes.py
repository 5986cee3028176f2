"""Per-owner in-memory indexes of embeddings: enrolled types (for predictions) and the
owner's whole collection (for ``/v1/similar``), rebuilt when the database says they changed.

Each index is an immutable matrix built on a worker thread and kept in a
:class:`~amulet_ai.runtime.atomic.ThreadSafeDict` by owner: inference threads and request
threads read it at the same time, and two requests of one owner may rebuild it at once.
For enrolled types the entry kept is the one with the newest revision (``update`` compares
under the lock), so a slow rebuild of an old revision never replaces a newer one.

Versions come from the database (one small query):

* enrolled types: the owner's revision and the published types' revision
  (:meth:`~amulet_ai.store.types.TypeRepository.revision`), plus the model. A prediction
  reuses the owner's last reading for up to ``recheck_s`` seconds
  (:meth:`OwnerIndexes.recent_enrolled`, on the event loop, no thread hop and no query),
  unless a change was made through this process's repository since: a change through
  this API is seen at once, one through another process (another API worker) within
  ``recheck_s``;
* the collection: count, sum and maximum of its photo ids and how many are embedded, read
  on every call.

Photos without an embedding for the model serving now (pieces and history items, which
keep none when saved, and every photo after a model change) are embedded from their kept
JPEG when an index is built, then stored.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

import numpy as np

from amulet_ai.errors import ModelUnavailable, StorageUnavailable
from amulet_ai.model.classifier import AmuletClassifier
from amulet_ai.model.enrolment import EnrolledClass, EnrolledIndex, rms_distances
from amulet_ai.model.results import LocateMode
from amulet_ai.runtime.atomic import ThreadSafeDict
from amulet_ai.serving.locating import prepare, scores_of
from amulet_ai.serving.result_cache import embedding_tag
from amulet_ai.store.collection import ENROLLED_PREFIX as ENROLLED_PREFIX  # re-exported
from amulet_ai.store.collection import CollectionRepository, PhotoRef
from amulet_ai.store.types import TypeRepository

logger = logging.getLogger(__name__)

# Photos embedded per model run when an index is built.
EMBED_CHUNK: Final = 16
BUILD_ATTEMPTS: Final = 10

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Versioned(Generic[T]):  # noqa: UP046 (Python 3.11)
    version: tuple[str, tuple[int, ...]]  # (model, database version)
    value: T


def _newest(new: Versioned[T]) -> Callable[[Versioned[T] | None], Versioned[T]]:
    def pick(old: Versioned[T] | None) -> Versioned[T]:
        if old is None or old.version[0] != new.version[0] or old.version[1] <= new.version[1]:
            return new
        return old

    return pick


def _cache_part(owner: str, own: int, published: int) -> str:
    if own == 0:
        return f"types=*.{published}"  # published types only: the same for every owner
    digest = hashlib.sha256(owner.encode()).hexdigest()[:16]
    return f"types={digest}.{own}.{published}"


def _source(data: bytes) -> Callable[[], bytes]:
    return lambda: data


def embed_jpegs(
    classifier: AmuletClassifier, jpegs: dict[int, bytes], locate: LocateMode = "off"
) -> dict[int, np.ndarray]:
    """Embeddings of kept photos by id, each seen as a prediction with ``locate`` sees it
    (CPU work: call it on a worker thread)."""
    out: dict[int, np.ndarray] = {}
    ids = list(jpegs)
    for start in range(0, len(ids), EMBED_CHUNK):
        chunk = ids[start : start + EMBED_CHUNK]
        photos = [prepare(classifier, _source(jpegs[i]), locate) for i in chunk]
        for photo_id, scores in zip(chunk, scores_of(classifier, photos), strict=True):
            assert scores.embedding is not None
            out[photo_id] = scores.embedding
    return out


@dataclass(frozen=True, slots=True)
class TypesLookup:
    """The owner's enrolled types for one prediction: the cache key part and the index."""

    cache_part: str
    index: EnrolledIndex | None


@dataclass(frozen=True, slots=True)
class _Reading:
    """A lookup, when its read began (monotonic) and the repository's change count then."""

    lookup: TypesLookup
    read_at: float
    changes: int


@dataclass(frozen=True, slots=True)
class CollectionIndex:
    """The owner's searchable photos as one matrix; row ``i`` is ``refs[i]``."""

    refs: list[PhotoRef]
    vectors: np.ndarray
    sq_norms: np.ndarray

    def search(self, queries: np.ndarray, limit: int) -> list[tuple[PhotoRef, float]]:
        """The ``limit`` closest photos to any of the query embeddings, closest first."""
        if not self.refs:
            return []
        d = rms_distances(queries, self.vectors, self.sq_norms).min(axis=0)
        limit = min(limit, len(d))
        best = np.argpartition(d, limit - 1)[:limit]
        best = best[np.argsort(d[best], kind="stable")]
        return [(self.refs[i], float(d[i])) for i in best]


class OwnerIndexes:
    """The enrolled-type and collection indexes of every owner seen, by version."""

    def __init__(
        self,
        types: TypeRepository,
        collection: CollectionRepository,
        locate: LocateMode = "off",
        *,
        recheck_s: float = 0.0,
    ) -> None:
        self.locate = locate  # how stored photos are seen: as the server's predictions are
        self._types = types
        self._collection = collection
        self._recheck_s = recheck_s
        self._enrolled = ThreadSafeDict[str, Versioned[EnrolledIndex]]()
        self._collections = ThreadSafeDict[str, Versioned[CollectionIndex]]()
        self._readings = ThreadSafeDict[tuple[str, str], _Reading]()

    # --- enrolled types ------------------------------------------------------------------
    def recent_enrolled(self, owner: str, classifier: AmuletClassifier) -> TypesLookup | None:
        """The owner's enrolled types as read less than ``recheck_s`` ago, with no change
        through this process since; None when :meth:`enrolled` must read them (cheap and
        non-blocking: for the event loop)."""
        reading = self._readings.get((owner, embedding_tag(classifier, self.locate)))
        if (
            reading is None
            or reading.changes != self._types.changes.value
            or time.monotonic() - reading.read_at >= self._recheck_s
        ):
            return None
        return reading.lookup

    def enrolled(self, owner: str, classifier: AmuletClassifier) -> TypesLookup:
        """The owner's enrolled types now (blocking: database, maybe the model).

        The revision is read before and after the types are read: every change bumps it
        in its own transaction, so equal readings mean the index is exactly that revision.
        The answer is kept for :meth:`recent_enrolled`.

        Raises:
            StorageUnavailable: the database cannot be reached, or the owner's types kept
                changing during :data:`BUILD_ATTEMPTS` reads.
        """
        tag = embedding_tag(classifier, self.locate)
        # Taken before the read: a change committed meanwhile makes this reading stale.
        changes, read_at = self._types.changes.value, time.monotonic()
        lookup = self._read_enrolled(owner, classifier, tag)
        if self._recheck_s > 0:
            self._readings.set((owner, tag), _Reading(lookup, read_at, changes))
        return lookup

    def _read_enrolled(self, owner: str, classifier: AmuletClassifier, tag: str) -> TypesLookup:
        for _ in range(BUILD_ATTEMPTS):
            own, published = self._types.revision(owner)
            if own == 0 and published == 0:
                return TypesLookup("", None)  # nobody ever enrolled a type this owner sees
            part = _cache_part(owner, own, published)
            version = (tag, (own, published))
            entry = self._enrolled.get(owner)
            if entry is not None and entry.version == version:
                return TypesLookup(part, entry.value)
            index = self._build_enrolled(owner, classifier, tag, part)
            if self._types.revision(owner) != (own, published):
                continue  # changed while it was read: read again
            self._enrolled.update(owner, _newest(Versioned(version, index)))
            return TypesLookup(part, index)
        raise StorageUnavailable("The enrolled types kept changing while they were read.")

    def _build_enrolled(
        self, owner: str, classifier: AmuletClassifier, tag: str, part: str
    ) -> EnrolledIndex:
        records = self._types.visible(owner)
        vectors = self._types.vectors(owner, tag)
        if vectors.missing:
            self._embed_missing(classifier, tag, vectors.missing)
            vectors = self._types.vectors(owner, tag)
        position = {r.id: i for i, r in enumerate(records)}
        classes = tuple(
            EnrolledClass(f"{ENROLLED_PREFIX}{r.id}", r.name_en, r.name_th or r.name_en)
            for r in records
        )
        keep = np.array([t in position for t in vectors.type_ids], dtype=bool)
        labels = np.array([position[t] for t in vectors.type_ids[keep]], dtype=np.int64)
        matrix = vectors.vectors[keep] if len(vectors.vectors) else np.zeros((0, 1), np.float32)
        logger.info("enrolled index owner=%s types=%d photos=%d", owner, len(classes), len(labels))
        return EnrolledIndex(part, classes, matrix, labels)

    def _embed_missing(self, classifier: AmuletClassifier, tag: str, photo_ids: list[int]) -> None:
        if not classifier.has_embedding:
            raise ModelUnavailable("The model serving now has no embedding output.")
        jpegs = self._collection.full_jpegs(photo_ids)
        self._collection.put_embeddings(tag, embed_jpegs(classifier, jpegs, self.locate))
        logger.info("embedded %d stored photos for model %s", len(jpegs), tag)

    def class_names(
        self, owner: str, classifier: AmuletClassifier, class_ids: set[str]
    ) -> dict[str, tuple[str, str]]:
        """The English and Thai names of the class ids that the model or one of the
        owner's visible enrolled types has (blocking only when an enrolled id is asked);
        an id neither has (a type deleted since, a class of another model) is left out."""
        names = {c.id: (c.name_en, c.name_th) for c in classifier.metadata.classes}
        if any(c.startswith(ENROLLED_PREFIX) for c in class_ids - names.keys()):
            index = self.enrolled(owner, classifier).index
            for kind in index.classes if index is not None else ():
                names[kind.class_id] = (kind.name_en, kind.name_th)
        return {c: names[c] for c in class_ids if c in names}

    # --- the whole collection ------------------------------------------------------------
    def collection(self, owner: str, classifier: AmuletClassifier) -> CollectionIndex:
        """The owner's searchable photos now, every one embedded (blocking)."""
        tag = embedding_tag(classifier, self.locate)
        version = (tag, self._collection.version(owner, tag))
        entry = self._collections.get(owner)
        if entry is not None and entry.version == version:
            return entry.value
        found = self._collection.vectors(owner, tag)
        if found.missing:
            self._embed_missing(classifier, tag, found.missing)
            found = self._collection.vectors(owner, tag)
            version = (tag, self._collection.version(owner, tag))
        vectors = found.vectors.astype(np.float32)
        sq_norms = (vectors.astype(np.float64) ** 2).sum(1).astype(np.float32)
        index = CollectionIndex(found.refs, vectors, sq_norms)
        # Collection versions are not ordered (a deletion lowers them): the last build wins,
        # and a stale one is rebuilt by the next call, which compares versions again.
        self._collections.set(owner, Versioned(version, index))
        return index
