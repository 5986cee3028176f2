"""The result cache: verdicts by photo hash, model and options.

Key: the SHA-256 of each photo's bytes (computed while the upload streams in), the model's
identity (version, plus its file's checksum when the metadata has one, so a retrained model
under an old version string never reads stale results), the options (``top_k``,
``explain``, the locate mode with the localiser's identity, ``mask``) and, for an owner who sees
enrolled types, the owner and the types' revisions (so a new type is seen at once and one
owner's verdicts never reach another). Value: the
verdict as compact JSON text, so the store may be the in-process
:class:`~amulet_ai.runtime.cache.ByteBudgetCache` (TTL + byte budget, least recently used
evicted first) or any store with the same calls (Redis, shared by several processes).
"""

from __future__ import annotations

from typing import Protocol

from pydantic import ValidationError

from amulet_ai.config import Settings
from amulet_ai.model.classifier import AmuletClassifier
from amulet_ai.model.results import Classification
from amulet_ai.runtime.cache import ByteBudgetCache, CacheStats
from amulet_ai.runtime.redis_cache import result_key

_MB = 1024 * 1024


class ResultStore(Protocol):
    """What the result cache needs from its store; ``ByteBudgetCache[str, str]`` has it."""

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str) -> bool: ...

    def shrink(self, fraction: float = 0.5) -> int: ...

    def stats(self) -> CacheStats: ...


def build_result_store(settings: Settings) -> ResultStore | None:
    """The in-process store the settings describe; None when caching is off."""
    if not settings.cache_enabled:
        return None
    store: ByteBudgetCache[str, str] = ByteBudgetCache(
        max_bytes=int(settings.cache_max_mb * _MB), ttl_s=settings.cache_ttl_s
    )
    return store


def model_tag(classifier: AmuletClassifier) -> str:
    """The model's part of a cache key."""
    checksum = classifier.metadata.onnx_sha256
    return f"{classifier.version}+{checksum[:16]}" if checksum else classifier.version


def locate_tag(classifier: AmuletClassifier, mode: str, turns: int = 1) -> str:
    """The locate mode's part of a cache key: ``off``, or ``auto`` and the localiser that
    answers it (a model folder without one classifies whole, as ``off`` does), and the
    quarter turns a crop is scored with where there are more than one."""
    localiser = classifier.localiser
    if mode == "off" or localiser is None:
        return "off"
    checksum = localiser.metadata.onnx_sha256
    tag = f"auto:{localiser.version}+{checksum[:16]}" if checksum else f"auto:{localiser.version}"
    return tag if turns == 1 else f"{tag}+turns{turns}"


def embedding_tag(classifier: AmuletClassifier, mode: str) -> str:
    """What stored embeddings are filed under: the model, and the localiser when photos are
    embedded from their located crop (``mode="auto"``), so a change of either re-embeds."""
    located = locate_tag(classifier, mode)
    tag = model_tag(classifier)
    return tag if located == "off" else f"{tag}|{located}"


class ResultCache:
    """Looks verdicts up and stores them; a no-op when built without a store.

    Example::

        >>> cache = ResultCache(None)
        >>> cache.enabled, cache.get("anything")
        (False, None)
    """

    def __init__(self, store: ResultStore | None) -> None:
        self.store = store

    @property
    def enabled(self) -> bool:
        return self.store is not None

    @staticmethod
    def key(
        model: str,
        front_sha256: str,
        back_sha256: str | None,
        *,
        top_k: int,
        explain: bool,
        types: str = "",
        locate: str = "off",
        mask: bool = False,
    ) -> str:
        """The key of one verdict; a pair's key names both photos, front first.

        ``types`` names the enrolled types the verdict considered (the owner and revisions,
        :class:`~amulet_ai.serving.owner_indexes.OwnerIndexes`); empty when there are none.
        ``locate`` is :func:`locate_tag`'s. ``mask`` (the localiser's masks asked for) is
        part of the key only where the photo is located: without it a key is as before the
        option existed, and with ``locate`` off both answers are the same.

        >>> plain = ResultCache.key("m", "f", None, top_k=3, explain=False, locate="auto:1")
        >>> masked = ResultCache.key(
        ...     "m", "f", None, top_k=3, explain=False, locate="auto:1", mask=True
        ... )
        >>> plain == masked, ResultCache.key("m", "f", None, top_k=3, explain=False, mask=True)
        (False, 'm:f:back=-,top_k=3,explain=0,locate=off')
        """
        options = f"back={back_sha256 or '-'},top_k={top_k},explain={int(explain)}"
        options += f",locate={locate}"
        if mask and locate != "off":
            options += ",mask=1"
        if types:
            options += f",{types}"
        return result_key(model, front_sha256, options)

    def get(self, key: str) -> Classification | None:
        """The stored verdict, or None."""
        if self.store is None:
            return None
        text = self.store.get(key)
        if text is None:
            return None
        try:
            return Classification.model_validate_json(text)
        except ValidationError:
            # Stored by another release of the service sharing this Redis: a miss, not a 500.
            return None

    def put(self, key: str, verdict: Classification) -> None:
        """Store a verdict (a value larger than the whole budget is skipped by the store)."""
        if self.store is not None:
            self.store.set(key, verdict.model_dump_json())

    def shrink(self, fraction: float = 0.5) -> int:
        """Drop the least recently used part of the store; bytes freed."""
        return 0 if self.store is None else self.store.shrink(fraction)

    def stats(self) -> CacheStats | None:
        return None if self.store is None else self.store.stats()
