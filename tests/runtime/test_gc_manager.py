"""GarbageCollectionManager on the real process: collects cyclic garbage, shrinks caches."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest

from amulet_ai.runtime import GarbageCollectionManager, ImageCache


class Node:
    def __init__(self) -> None:
        self.partner: Node | None = None
        self.payload = bytearray(256)


def make_cycles(n: int) -> None:
    """Leave ``n`` unreachable two-node cycles behind (only the cycle collector frees them)."""
    for _ in range(n):
        a, b = Node(), Node()
        a.partner, b.partner = b, a


@pytest.fixture
def gc_paused() -> Iterator[None]:
    """Automatic collection off, so the garbage waits for the manager."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def test_low_high_water_mark_collects_and_shrinks(gc_paused: None) -> None:
    images = ImageCache(max_mb=4)
    for i in range(8):
        images.cache_image(bytes([i]) * 100_000, f"{i}.jpg")
    fractions: list[float] = []

    def shrink(fraction: float) -> int:
        fractions.append(fraction)
        return images.shrink(fraction)

    make_cycles(5_000)
    manager = GarbageCollectionManager(high_water_mb=1.0, interval_s=0.02, cooldown_s=0.0)
    manager.add_shrink_callback(shrink)
    async with manager:
        assert manager.running
        for _ in range(250):
            await asyncio.sleep(0.02)
            if manager.stats().collections >= 2:
                break
    assert not manager.running
    stats = manager.stats()
    assert stats.collections >= 2
    assert stats.objects_freed >= 5_000 * 2  # the two nodes of every cycle at least
    assert stats.shrinks == stats.collections and fractions[0] == 0.5
    assert images.stats().bytes < 8 * 100_000
    assert stats.peak_rss_mb >= stats.last_rss_mb > 1.0


async def test_below_the_mark_it_only_samples() -> None:
    called: list[float] = []
    manager = GarbageCollectionManager(high_water_mb=1e9, interval_s=0.01)
    manager.add_shrink_callback(called.append)
    await manager.start()
    for _ in range(200):
        await asyncio.sleep(0.01)
        if manager.stats().samples >= 3:
            break
    await manager.stop()
    stats = manager.stats()
    assert stats.samples >= 3 and stats.collections == 0 and called == []


async def test_stop_ends_the_task_and_sampling() -> None:
    manager = GarbageCollectionManager(high_water_mb=1e9, interval_s=0.01)
    await manager.start()
    await manager.start()  # a second start is a no-op, not a second task
    await asyncio.sleep(0.05)
    await manager.stop()
    samples = manager.stats().samples
    await asyncio.sleep(0.05)
    assert manager.stats().samples == samples
    await manager.stop()  # stopping twice is harmless


def test_cooldown_prevents_collecting_every_tick() -> None:
    manager = GarbageCollectionManager(high_water_mb=0.001, cooldown_s=60.0)
    assert manager.check() is True
    assert manager.check() is False
    assert manager.stats().collections == 1


async def test_a_failing_callback_is_logged_and_the_watch_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(fraction: float) -> None:
        raise RuntimeError("cache is broken")

    manager = GarbageCollectionManager(high_water_mb=0.001, interval_s=0.01, cooldown_s=0.0)
    manager.add_shrink_callback(broken)
    async with manager:
        for _ in range(200):
            await asyncio.sleep(0.01)
            if manager.stats().samples >= 3:
                break
        assert manager.running
    assert manager.stats().samples >= 3
    assert "gc manager check failed" in caplog.text
