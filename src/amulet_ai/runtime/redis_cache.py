"""The result cache in Redis, shared by every API process, with an in-process fallback.

:class:`RedisResultCache` answers the same calls as
:class:`~amulet_ai.runtime.cache.ByteBudgetCache` (``get``, ``set``, ``pop``, ``shrink``,
``clear``, ``stats``), so the API uses either one unchanged. Values are stored as compact
JSON with ``SET ... EX`` (SETEX) under ``amulet:result:<key>``, where the API's key reads
``<model_version>:<sha256>:<options>`` (see :func:`result_key`), and live ``ttl_s`` seconds.

While the :class:`~amulet_ai.runtime.redis_link.RedisLink` is down, every call goes to the
in-process cache it wraps; a Redis failure in the middle of a call marks the link down and
the call is answered from the in-process cache, so a caller never sees a Redis error.

Example::

    >>> link = RedisLink("redis://127.0.0.1:6379/0"); link.start()    # doctest: +SKIP
    >>> local = ByteBudgetCache[str, dict](max_bytes=1 << 20, ttl_s=60)
    >>> cache = RedisResultCache(link, local, ttl_s=60)                # doctest: +SKIP
    >>> key = result_key("1.0.0", "ab" * 32, "top_k=3")
    >>> cache.set(key, {"top1": "somdej"}); cache.get(key)             # doctest: +SKIP
    True
    {'top1': 'somdej'}
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Callable, Hashable
from dataclasses import replace
from typing import Any, Generic, TypeVar

from amulet_ai.runtime.cache import ByteBudgetCache, CacheStats
from amulet_ai.runtime.redis_link import REDIS_FAILURES, RedisLink

logger = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

NAMESPACE = "amulet:result:"


def result_key(model_version: str, sha256: str, options: str) -> str:
    """The cache key of one result: ``<model_version>:<sha256>:<options>``.

    >>> result_key("1.0.0", "0f" * 32, "top_k=3,explain=0")[:12]
    '1.0.0:0f0f0f'
    """
    return f"{model_version}:{sha256}:{options}"


def encode_json(value: Any) -> bytes:
    """Compact UTF-8 JSON (no spaces, Thai kept as is)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def decode_json(data: bytes) -> Any:
    """The value back from :func:`encode_json`."""
    return json.loads(data)


class RedisResultCache(Generic[K, V]):
    """A TTL cache in Redis shared across processes; ``local`` serves while Redis is down.

    ``encode``/``decode`` turn a value into bytes and back (compact JSON by default, so the
    values must be JSON objects: the API's result dictionaries). ``stats()`` reports the
    local cache's entries and bytes, with the Redis hits and misses added to its counters.
    ``shrink`` and ``clear`` act on the local cache only: Redis memory is not this process's,
    and keys carry the model version, so a new model never reads an old model's results.
    """

    def __init__(
        self,
        link: RedisLink,
        local: ByteBudgetCache[K, V],
        *,
        ttl_s: float,
        encode: Callable[[V], bytes] = encode_json,
        decode: Callable[[bytes], V] = decode_json,
        namespace: str = NAMESPACE,
    ) -> None:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        self.link = link
        self.local = local
        self.ttl_s = ttl_s
        self.namespace = namespace
        self._ttl_whole_s = max(1, math.ceil(ttl_s))
        self._encode = encode
        self._decode = decode
        self._counts_lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    def _redis_key(self, key: K) -> str:
        return f"{self.namespace}{key}"

    def get(self, key: K) -> V | None:
        """The value under ``key``, or None when absent or expired."""
        if self.link.usable():
            try:
                data = self.link.client.get(self._redis_key(key))
            except REDIS_FAILURES as exc:
                self.link.mark_down(exc)
            else:
                value = self._decode_or_none(key, data)
                with self._counts_lock:
                    if value is None:
                        self._misses += 1
                    else:
                        self._hits += 1
                return value
        return self.local.get(key)

    def _decode_or_none(self, key: K, data: Any) -> V | None:
        if data is None:
            return None
        try:
            return self._decode(bytes(data))
        except ValueError:
            # Written by another version of the service: treat as a miss, let a fresh set win.
            logger.warning("unreadable cached result under %s, ignored", self._redis_key(key))
            return None

    def set(self, key: K, value: V) -> bool:
        """Store ``value`` for ``ttl_s`` seconds; False if it was not stored."""
        if self.link.usable():
            data = self._encode(value)
            if len(data) > self.local.max_bytes:
                return False
            try:
                self.link.client.set(self._redis_key(key), data, ex=self._ttl_whole_s)
            except REDIS_FAILURES as exc:
                self.link.mark_down(exc)
            else:
                return True
        return self.local.set(key, value)

    def pop(self, key: K) -> V | None:
        """Remove ``key`` from Redis and the local cache; return the value found, or None."""
        found = self.local.pop(key)
        if self.link.usable():
            try:
                data = self.link.client.getdel(self._redis_key(key))
            except REDIS_FAILURES as exc:
                self.link.mark_down(exc)
            else:
                return self._decode_or_none(key, data) or found
        return found

    def shrink(self, fraction: float = 0.5) -> int:
        """Shrink the local cache (memory pressure); Redis is not this process's memory."""
        return self.local.shrink(fraction)

    def expire(self) -> int:
        """Drop stale local entries (Redis expires its own)."""
        return self.local.expire()

    def clear(self) -> None:
        """Empty the local cache and reset the counters; shared entries stay in Redis."""
        self.local.clear()
        with self._counts_lock:
            self._hits = self._misses = 0

    @property
    def max_bytes(self) -> int:
        """The local cache's byte budget, also the largest value stored in Redis."""
        return self.local.max_bytes

    @property
    def currsize(self) -> int:
        """Bytes held in this process."""
        return self.local.currsize

    def __len__(self) -> int:
        return len(self.local)

    def stats(self) -> CacheStats:
        """Local counters plus the lookups Redis answered."""
        local = self.local.stats()
        with self._counts_lock:
            hits, misses = self._hits, self._misses
        return replace(local, hits=local.hits + hits, misses=local.misses + misses)

    def status(self) -> dict[str, Any]:
        """Where results live now, for ``/health``."""
        return self.link.status()
