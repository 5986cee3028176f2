"""LockManager: opposite-order callers finish, busy locks time out with LockTimeout."""

from __future__ import annotations

import threading
import time

import pytest

from amulet_ai.runtime import LockManager, LockTimeout, lock_manager


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


def test_two_threads_taking_two_locks_in_opposite_order_both_finish() -> None:
    locks = LockManager()
    rounds = 300
    done = {"ab": 0, "ba": 0}
    shared = [0]
    barrier = threading.Barrier(2)

    def worker(order: tuple[str, str]) -> None:
        barrier.wait()
        for _ in range(rounds):
            with locks.acquire_locks(*order, timeout=10):
                value = shared[0]
                time.sleep(0)  # invite the other thread in while both locks are held
                shared[0] = value + 1
            done["".join(order)] += 1

    threads = [threading.Thread(target=worker, args=(o,)) for o in (("a", "b"), ("b", "a"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
        assert not thread.is_alive(), "deadlock"
    assert done == {"ab": rounds, "ba": rounds}
    assert shared[0] == 2 * rounds


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


def test_several_names_are_taken_in_sorted_order_and_released_on_timeout() -> None:
    locks = LockManager()
    thread, release = hold_in_thread(locks, "b")
    try:
        # Named "b" first, yet "a" is taken first: the call then waits on "b" and times out.
        with pytest.raises(LockTimeout) as caught:
            with locks.acquire_locks("b", "a", timeout=0.2):
                pytest.fail("acquired a lock another thread holds")
        assert caught.value.details["lock"] == "b"
        # "a" was released on the way out: another thread can take it at once.
        got_a = threading.Event()

        def take_a() -> None:
            with locks.acquire_lock("a", timeout=0.5):
                got_a.set()

        other = threading.Thread(target=take_a)
        other.start()
        other.join(5)
        assert got_a.is_set()
    finally:
        release.set()
        thread.join(5)


def test_locks_are_reentrant_in_the_holding_thread() -> None:
    locks = LockManager(default_timeout=0.5)
    with locks.acquire_lock("model"), locks.acquire_locks("model", "cache"):
        assert locks.names() == ["cache", "model"]


def test_module_default_manager_is_shared() -> None:
    from amulet_ai.runtime.locks import lock_manager as same

    assert same is lock_manager
    with lock_manager.acquire_lock("test-default", timeout=1):
        pass
