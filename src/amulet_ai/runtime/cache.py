"""Caches with a time-to-live and a byte budget, least recently used evicted first.

:class:`ByteBudgetCache` is the generic one (the API's result cache); :class:`ImageCache`
keeps uploaded pictures under a content key (the page's session images), with base64
helpers for showing them. Both sit on ``cachetools.TTLCache``, whose ``maxsize`` counts the
bytes that ``getsizeof`` reports.

Example::

    >>> cache = ImageCache(max_mb=8, ttl_s=600)
    >>> key = cache.cache_image(b"\\xff\\xd8 jpeg bytes", "image.jpg")
    >>> cache.get_image(key).filename
    'image.jpg'
    >>> cache.stats().hits
    1
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import sys
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from cachetools import TTLCache

from amulet_ai.errors import InvalidInput

logger = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_MB = 1024 * 1024


def default_sizeof(value: object) -> int:
    """Bytes a value holds: its length for bytes-like values, else ``sys.getsizeof``."""
    if isinstance(value, bytes | bytearray | memoryview):
        return len(value)
    return sys.getsizeof(value)


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Counters of one cache since it was made (or since ``clear``)."""

    hits: int
    misses: int
    evictions: int
    expirations: int
    entries: int
    bytes: int
    max_bytes: int

    @property
    def hit_rate(self) -> float:
        """Hits over lookups; 0.0 before any lookup."""
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0


class _CountingTTLCache(TTLCache[K, V]):
    """``TTLCache`` that counts what leaves by budget (``popitem``) and by age (``expire``)."""

    evicted = 0
    expired = 0

    def popitem(self) -> tuple[K, V]:
        pair = super().popitem()
        self.evicted += 1
        return pair

    def expire(self, time: float | None = None) -> list[tuple[K, V]]:
        gone = super().expire(time)
        self.expired += len(gone)
        return gone


class ByteBudgetCache(Generic[K, V]):
    """A thread-safe TTL + LRU cache bounded by the bytes its values hold.

    ``timer`` is injectable (seconds, monotonic) so tests can move time. A value larger
    than the whole budget is not stored. ``shrink(fraction)`` drops the least recently used
    entries; the GC manager calls it under memory pressure. Values must not be None
    (``get`` answers None for a miss).

    Example::

        >>> now = [0.0]
        >>> cache = ByteBudgetCache[str, bytes](max_bytes=10, ttl_s=60, timer=lambda: now[0])
        >>> cache.set("a", b"12345"); cache.set("b", b"12345")
        True
        True
        >>> cache.get("a")  # "a" is now more recent than "b"
        b'12345'
        >>> cache.set("c", b"1234")  # over budget: "b" goes
        True
        >>> sorted(cache.keys())
        ['a', 'c']
        >>> now[0] = 61.0
        >>> cache.get("a") is None
        True
    """

    def __init__(
        self,
        max_bytes: int,
        ttl_s: float,
        *,
        getsizeof: Callable[[V], int] = default_sizeof,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_bytes <= 0 or ttl_s <= 0:
            raise ValueError("max_bytes and ttl_s must be positive")
        self.max_bytes = max_bytes
        self.ttl_s = ttl_s
        self._getsizeof = getsizeof
        self._timer = timer
        self._data: _CountingTTLCache[K, V] = _CountingTTLCache(max_bytes, ttl_s, timer, getsizeof)
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    def get(self, key: K) -> V | None:
        """The value under ``key`` (marking it recently used), or None when absent or stale."""
        with self._lock:
            value = self._data.get(key)
            if value is None:
                self._misses += 1
            else:
                self._hits += 1
            return value

    def set(self, key: K, value: V) -> bool:
        """Store ``value``; False when it alone exceeds the budget (then nothing changes)."""
        if self._getsizeof(value) > self.max_bytes:
            logger.debug("cache value of %d bytes exceeds the budget", self._getsizeof(value))
            return False
        with self._lock:
            self._data[key] = value
        return True

    def pop(self, key: K) -> V | None:
        """Remove ``key`` and return its value, or None."""
        with self._lock:
            return self._data.pop(key, None)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._data

    def __len__(self) -> int:
        with self._lock:
            self._data.expire()
            return len(self._data)

    def keys(self) -> list[K]:
        """A snapshot of the live keys."""
        with self._lock:
            return list(self._data)

    def clear(self) -> None:
        """Drop every entry and reset the counters."""
        with self._lock:
            self._data.clear()
            self._data.evicted = self._data.expired = 0
            self._hits = self._misses = 0

    def expire(self) -> int:
        """Drop entries past their TTL now; return how many went."""
        with self._lock:
            return len(self._data.expire())

    def shrink(self, fraction: float = 0.5) -> int:
        """Drop stale entries, then least recently used ones until ``fraction`` of the
        bytes are gone; return the bytes freed."""
        if not 0.0 <= fraction <= 1.0:
            raise ValueError("fraction must be within [0, 1]")
        with self._lock:
            before = int(self._data.currsize)
            self._data.expire()
            target = before * (1.0 - fraction)
            while self._data.currsize > target and len(self._data):
                self._data.popitem()
            freed = before - int(self._data.currsize)
        if freed:
            logger.info("cache shrunk by %d bytes", freed)
        return freed

    @property
    def currsize(self) -> int:
        """Bytes held now."""
        with self._lock:
            return int(self._data.currsize)

    def stats(self) -> CacheStats:
        """A snapshot of the counters."""
        with self._lock:
            return CacheStats(
                hits=self._hits,
                misses=self._misses,
                evictions=self._data.evicted,
                expirations=self._data.expired,
                entries=len(self._data),
                bytes=int(self._data.currsize),
                max_bytes=self.max_bytes,
            )


def content_key(data: bytes | bytearray | memoryview) -> str:
    """The SHA-256 hex digest of ``data``: equal bytes, equal key."""
    return hashlib.sha256(data).hexdigest()


def encode_base64(data: bytes | bytearray | memoryview) -> str:
    """Standard base64 text of ``data``."""
    return base64.b64encode(data).decode("ascii")


def decode_base64(text: str) -> bytes:
    """Bytes from base64 text, a ``data:...;base64,`` URI accepted; ``InvalidInput`` if bad."""
    if text.startswith("data:"):
        _, _, text = text.partition(",")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("The text is not valid base64.") from exc


@dataclass(frozen=True, slots=True)
class CachedImage:
    """An image held by :class:`ImageCache`."""

    key: str
    data: bytes
    filename: str
    content_type: str

    def to_base64(self) -> str:
        """The image as base64 text."""
        return encode_base64(self.data)

    def data_uri(self) -> str:
        """The image as a ``data:`` URI, ready for an ``<img src=...>``."""
        return f"data:{self.content_type};base64,{self.to_base64()}"


def _sniff_content_type(data: bytes) -> str:
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypmsf1"):
        return "image/heic"
    return "application/octet-stream"


class ImageCache:
    """Uploaded pictures under their SHA-256, with a TTL and a byte budget.

    Example::

        >>> images = ImageCache(max_mb=1, ttl_s=60)
        >>> key = images.cache_image(b"\\x89PNG\\r\\n\\x1a\\n...", "a.png")
        >>> key == images.cache_image(b"\\x89PNG\\r\\n\\x1a\\n...", "copy.png")
        True
        >>> images.get_image(key).data_uri()[:22]
        'data:image/png;base64,'
    """

    def __init__(
        self,
        max_mb: float = 64.0,
        ttl_s: float = 3600.0,
        *,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cache: ByteBudgetCache[str, CachedImage] = ByteBudgetCache(
            int(max_mb * _MB), ttl_s, getsizeof=lambda item: len(item.data), timer=timer
        )

    def cache_image(self, image_bytes: bytes, filename: str = "") -> str:
        """Store the picture and return its content key (the same bytes give the same key)."""
        key = content_key(image_bytes)
        self._cache.set(
            key, CachedImage(key, bytes(image_bytes), filename, _sniff_content_type(image_bytes))
        )
        return key

    def get_image(self, key: str) -> CachedImage | None:
        """The picture under ``key``, or None when absent or expired."""
        return self._cache.get(key)

    def remove(self, key: str) -> bool:
        """Forget the picture under ``key``; True when it was there."""
        return self._cache.pop(key) is not None

    def shrink(self, fraction: float = 0.5) -> int:
        """Drop the least recently used pictures; see :meth:`ByteBudgetCache.shrink`."""
        return self._cache.shrink(fraction)

    def clear(self) -> None:
        """Drop every picture and reset the counters."""
        self._cache.clear()

    def stats(self) -> CacheStats:
        """Hit, miss, eviction and size counters."""
        return self._cache.stats()

    def __len__(self) -> int:
        return len(self._cache)

    def __contains__(self, key: object) -> bool:
        return key in self._cache
