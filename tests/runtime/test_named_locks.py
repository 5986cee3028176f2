"""LockManager: contending threads take turns, busy locks time out with LockTimeout."""

from __future__ import annotations

import threading
import time

import pytest

from amulet_ai.runtime import LockManager, LockTimeout


def hold_in_thread(locks: LockManager, name: str) -> tuple[threading.Thread, threading.Event]:
    """Take ``name`` in another thread and keep it until the returned event is set."""
    taken, release = threading.Event(), threading.Event()

    def holder() -> None:
        with locks.acquire_lock(name, timeout=5):
            taken.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    assert taken.wait(5)
    return thread, release


def test_threads_contending_for_one_name_never_overlap() -> None:
    locks = LockManager()
    rounds, workers = 300, 8
    shared = [0]
    inside = [0]
    overlaps = [0]
    barrier = threading.Barrier(workers)

    def worker() -> None:
        barrier.wait()
        for _ in range(rounds):
            with locks.acquire_lock("global_data", timeout=10):
                inside[0] += 1
                overlaps[0] += inside[0] > 1
                value = shared[0]
                time.sleep(0)  # invite another thread in while the lock is held
                shared[0] = value + 1
                inside[0] -= 1

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
        assert not thread.is_alive(), "a worker never got the lock"
    assert overlaps[0] == 0
    assert shared[0] == workers * rounds


def test_lock_held_elsewhere_times_out_with_the_typed_error() -> None:
    locks = LockManager()
    thread, release = hold_in_thread(locks, "global_data")
    try:
        start = time.monotonic()
        with pytest.raises(LockTimeout) as caught:
            with locks.acquire_lock("global_data", timeout=0.2):
                pytest.fail("acquired a lock another thread holds")
        elapsed = time.monotonic() - start
    finally:
        release.set()
        thread.join(5)
    assert 0.18 <= elapsed < 3.0
    err = caught.value
    assert (err.status_code, err.code, err.retryable) == (503, "lock_timeout", True)
    assert err.details == {"lock": "global_data", "timeout_s": 0.2}
    with locks.acquire_lock("global_data", timeout=1):  # free again once released
        pass


def test_locks_are_reentrant_in_the_holding_thread() -> None:
    locks = LockManager(default_timeout=0.5)
    with locks.acquire_lock("model"), locks.acquire_lock("model"), locks.acquire_lock("cache"):
        assert locks.names() == ["cache", "model"]
