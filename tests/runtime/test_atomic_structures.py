"""AtomicCounter, ThreadSafeDict and ThreadSafeQueue under 16 real threads."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

import pytest

from amulet_ai.runtime import AtomicCounter, ThreadSafeDict, ThreadSafeQueue

THREADS = 16


def run_threads(target: Callable[[int], None], n: int = THREADS) -> None:
    """Start ``n`` threads on ``target(index)`` released together by a barrier; join all."""
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def body(index: int) -> None:
        barrier.wait()
        try:
            target(index)
        except BaseException as exc:  # surfaced below, in the test's own thread
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive(), "a worker thread hung"
    assert not errors, errors


def test_counter_16_threads_10000_increments_each() -> None:
    counter = AtomicCounter()
    returned: list[list[int]] = [[] for _ in range(THREADS)]

    def work(index: int) -> None:
        out = returned[index]
        for _ in range(10_000):
            out.append(counter.increment())

    run_threads(work)
    assert counter.value == 160_000
    # Every increment saw a distinct value: the read-modify-write was atomic.
    seen = [v for values in returned for v in values]
    assert sorted(seen) == list(range(1, 160_001))


def test_counter_decrement_and_reset() -> None:
    counter = AtomicCounter(10)
    run_threads(lambda _: [counter.decrement(2) for _ in range(100)])
    assert counter.value == 10 - 2 * 100 * THREADS
    assert counter.reset() == 10 - 3200
    assert counter.value == 0


def test_dict_under_16_threads_loses_and_duplicates_nothing() -> None:
    d: ThreadSafeDict[tuple[int, int], int] = ThreadSafeDict()
    totals: ThreadSafeDict[str, int] = ThreadSafeDict()
    per_thread = 2_000
    popped: list[list[int]] = [[] for _ in range(THREADS)]
    all_written = threading.Barrier(THREADS)

    def work(index: int) -> None:
        for i in range(per_thread):
            d.set((index, i), index * per_thread + i)
            totals.update("writes", lambda n: (n or 0) + 1)
        all_written.wait()
        # Every thread pops every key of two threads, racing its neighbours for them.
        for owner in (index, (index + 1) % THREADS):
            for i in range(per_thread):
                value = d.pop((owner, i))
                if value is not None:
                    popped[index].append(value)

    run_threads(work)
    assert totals.get("writes") == THREADS * per_thread
    values = [v for chunk in popped for v in chunk]
    assert len(values) == THREADS * per_thread  # nothing lost, nothing popped twice
    assert sorted(values) == list(range(THREADS * per_thread))
    assert len(d) == 0 and d.items() == []


def test_dict_snapshots_are_safe_to_iterate_while_writing() -> None:
    d: ThreadSafeDict[int, int] = ThreadSafeDict()
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            d.set(i % 500, i)
            d.pop((i + 250) % 500)
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(300):
            for key, _value in d.items():  # a dict iterated live would raise RuntimeError
                assert 0 <= key < 500
    finally:
        stop.set()
        thread.join(timeout=10)


def test_queue_threads_lose_and_duplicate_nothing() -> None:
    q: ThreadSafeQueue[int | None] = ThreadSafeQueue(maxsize=64)
    producers, consumers, per_producer = 8, 8, 5_000
    received: list[list[int]] = [[] for _ in range(consumers)]
    producers_left = AtomicCounter(producers)

    def work(index: int) -> None:
        if index < producers:
            for i in range(per_producer):
                q.put(index * per_producer + i, timeout=10)
            if producers_left.decrement() == 0:  # the last producer ends the consumers
                for _ in range(consumers):
                    q.put(None, timeout=10)
            return
        out = received[index - producers]
        while (item := q.get(timeout=10)) is not None:
            out.append(item)

    run_threads(work, producers + consumers)
    items = [v for chunk in received for v in chunk]
    assert len(items) == producers * per_producer
    assert sorted(items) == list(range(producers * per_producer))
    assert q.empty()


def test_queue_bounded_put_and_get_time_out() -> None:
    q: ThreadSafeQueue[int] = ThreadSafeQueue(maxsize=2)
    q.put(1)
    q.put(2)
    assert q.full()
    start = time.monotonic()
    with pytest.raises(queue.Full):
        q.put(3, timeout=0.2)
    assert 0.18 <= time.monotonic() - start < 2.0
    assert [q.get(), q.get()] == [1, 2]
    with pytest.raises(queue.Empty):
        q.get(timeout=0.05)
    with pytest.raises(queue.Empty):
        q.get_nowait()
