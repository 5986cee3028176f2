"""memory_limit_context against real numpy allocations (pages touched, so RSS really grows)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import numpy as np
import pytest

from amulet_ai.runtime import MemoryLimitExceeded, memory_limit_context

MB = 1024 * 1024


@pytest.fixture(autouse=True)
def no_collection_inside_the_block() -> Iterator[None]:
    """Collect earlier tests' garbage first and keep the collector off during the test.

    RSS belongs to the whole pytest process: a cyclic collection triggered by an allocation
    inside the block could free an earlier test's app (its model session is hundreds of MB)
    and hide the block's own growth.
    """
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def test_raises_on_a_200_mb_allocation_under_a_100_mb_limit() -> None:
    with pytest.raises(MemoryLimitExceeded) as caught:
        with memory_limit_context(100) as guard:
            block = np.ones(200 * MB // 8)  # float64 ones: every page written
            assert block[-1] == 1.0
    assert guard.peak_mb >= 150
    err = caught.value
    assert (err.status_code, err.code, err.retryable) == (503, "memory_limit_exceeded", True)
    assert err.details["limit_mb"] == 100
    assert err.details["peak_mb"] >= 150


def test_does_not_raise_on_10_mb() -> None:
    with memory_limit_context(100) as guard:
        block = np.ones(10 * MB // 8)
        assert block.sum() == block.size
        guard.check()
    assert not guard.exceeded
    assert guard.peak_mb < 100


def test_check_fails_early_inside_the_block() -> None:
    reached_after_check = False
    with pytest.raises(MemoryLimitExceeded):
        with memory_limit_context(50, interval_s=0.005) as guard:
            block = np.ones(256 * MB // 8)
            guard.check()
            reached_after_check = True
            del block
    assert not reached_after_check


def test_the_blocks_own_exception_propagates_unchanged() -> None:
    with pytest.raises(KeyError):
        with memory_limit_context(100):
            raise KeyError("boom")


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError):
        with memory_limit_context(0):
            pass
