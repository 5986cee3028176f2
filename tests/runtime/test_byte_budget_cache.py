"""ByteBudgetCache and ImageCache: TTL with an injected clock, LRU by bytes, stats, base64."""

from __future__ import annotations

import base64
import hashlib
import io
import threading

import pytest
from PIL import Image

from amulet_ai.runtime import (
    ByteBudgetCache,
    ImageCache,
    InvalidInput,
    decode_base64,
    encode_base64,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def jpeg_bytes(color: str, size: tuple[int, int] = (64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "JPEG")
    return buf.getvalue()


def test_ttl_expiry_with_injected_clock() -> None:
    clock = Clock()
    cache: ByteBudgetCache[str, bytes] = ByteBudgetCache(1000, ttl_s=60, timer=clock)
    cache.set("a", b"x" * 10)
    clock.now += 59.9
    assert cache.get("a") == b"x" * 10
    clock.now += 0.1  # exactly 60 s after the write
    assert cache.get("a") is None
    assert "a" not in cache
    assert cache.expire() == 1
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.expirations, stats.entries, stats.bytes) == (
        1,
        1,
        1,
        0,
        0,
    )


def test_rewrite_restarts_the_ttl() -> None:
    clock = Clock()
    cache: ByteBudgetCache[str, bytes] = ByteBudgetCache(1000, ttl_s=10, timer=clock)
    cache.set("k", b"1")
    clock.now += 8
    cache.set("k", b"2")
    clock.now += 8
    assert cache.get("k") == b"2"


def test_byte_budget_evicts_least_recently_used_first() -> None:
    cache: ByteBudgetCache[str, bytes] = ByteBudgetCache(100, ttl_s=60, timer=Clock())
    for key in "abc":
        assert cache.set(key, key.encode() * 30)
    assert cache.currsize == 90
    assert cache.get("a") is not None  # a is now the most recently used; b the least
    cache.set("d", b"d" * 30)  # 120 bytes > 100: one entry must go
    assert sorted(cache.keys()) == ["a", "c", "d"]
    cache.set("e", b"e" * 60)  # needs 60 bytes: c then a go, in LRU order
    assert sorted(cache.keys()) == ["d", "e"]
    stats = cache.stats()
    assert stats.evictions == 3
    assert stats.bytes == 90 <= stats.max_bytes == 100


def test_value_over_the_whole_budget_is_refused_without_evicting() -> None:
    cache: ByteBudgetCache[str, bytes] = ByteBudgetCache(100, ttl_s=60)
    cache.set("small", b"s" * 10)
    assert cache.set("huge", b"h" * 101) is False
    assert cache.get("huge") is None
    assert cache.get("small") == b"s" * 10


def test_shrink_drops_the_least_recently_used_share() -> None:
    cache: ByteBudgetCache[int, bytes] = ByteBudgetCache(1000, ttl_s=60, timer=Clock())
    for i in range(10):
        cache.set(i, bytes(100))
    for i in range(5, 10):
        cache.get(i)
    assert cache.shrink(0.5) == 500
    assert sorted(cache.keys()) == [5, 6, 7, 8, 9]
    assert cache.shrink(1.0) == 500 and len(cache) == 0


def test_custom_sizeof_for_result_dicts() -> None:
    cache: ByteBudgetCache[str, dict[str, str]] = ByteBudgetCache(
        50, ttl_s=60, getsizeof=lambda d: sum(len(k) + len(v) for k, v in d.items())
    )
    cache.set("r1", {"top1": "x" * 20})  # 24 bytes
    cache.set("r2", {"top1": "y" * 20})
    cache.set("r3", {"top1": "z" * 20})  # 72 > 50: r1 goes
    assert cache.get("r1") is None and cache.get("r3") == {"top1": "z" * 20}


def test_budget_holds_under_threads() -> None:
    cache: ByteBudgetCache[int, bytes] = ByteBudgetCache(10_000, ttl_s=60)
    barrier = threading.Barrier(8)

    def work(seed: int) -> None:
        barrier.wait()
        for i in range(2_000):
            key = (seed * 7919 + i) % 300
            if cache.get(key) is None:
                cache.set(key, bytes(50 + key % 50))

    threads = [threading.Thread(target=work, args=(s,)) for s in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    stats = cache.stats()
    assert stats.hits + stats.misses == 16_000
    assert stats.bytes <= 10_000
    assert stats.bytes == sum(len(cache.get(k) or b"") for k in cache.keys())


def test_image_cache_same_bytes_same_key() -> None:
    images = ImageCache(max_mb=1, ttl_s=60)
    red, blue = jpeg_bytes("red"), jpeg_bytes("blue")
    key = images.cache_image(red, "image.jpg")
    assert key == hashlib.sha256(red).hexdigest()
    assert images.cache_image(red, "again.jpg") == key
    assert images.cache_image(blue, "image.jpg") != key
    cached = images.get_image(key)
    assert cached is not None
    assert (cached.data, cached.filename, cached.content_type) == (red, "again.jpg", "image/jpeg")
    assert len(images) == 2


def test_image_cache_hit_miss_eviction_stats_and_ttl() -> None:
    clock = Clock()
    photo = jpeg_bytes("green", (400, 300))
    images = ImageCache(max_mb=2.5 * len(photo) / 1024 / 1024, ttl_s=30, timer=clock)
    first = images.cache_image(photo, "a.jpg")
    assert images.get_image(first) is not None
    assert images.get_image("0" * 64) is None
    others = [images.cache_image(photo + bytes([i]), f"{i}.jpg") for i in range(2)]
    # Two copies fit the budget, a third pushes out the least recently used: the first.
    assert images.get_image(first) is None
    assert all(images.get_image(k) is not None for k in others)
    clock.now += 30
    assert images.get_image(others[0]) is None
    stats = images.stats()
    assert (stats.hits, stats.misses, stats.evictions) == (3, 3, 1)
    assert stats.hit_rate == 0.5


def test_base64_helpers_round_trip() -> None:
    photo = jpeg_bytes("white")
    images = ImageCache()
    key = images.cache_image(photo, "w.jpg")
    cached = images.get_image(key)
    assert cached is not None
    assert cached.to_base64() == base64.b64encode(photo).decode()
    uri = cached.data_uri()
    assert uri.startswith("data:image/jpeg;base64,")
    assert decode_base64(uri) == photo == decode_base64(encode_base64(photo))
    assert images.cache_image(decode_base64(uri), "w.jpg") == key
    assert images.get_image("missing") is None


def test_bad_base64_is_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        decode_base64("not base64 at all!")
