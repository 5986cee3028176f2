"""The decode memory budget under real thread contention."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from amulet_ai.errors import MemoryPressure
from amulet_ai.imaging.budget import MemoryBudget


def test_decodes_at_once_never_hold_more_than_the_budget() -> None:
    budget = MemoryBudget(100)
    held, peak, lock = 0, 0, threading.Lock()

    def decode(nbytes: int) -> None:
        nonlocal held, peak
        with budget.hold(nbytes):
            with lock:
                held += nbytes
                peak = max(peak, held)
            time.sleep(0.01)
            with lock:
                held -= nbytes

    threads = [threading.Thread(target=decode, args=(30 + 10 * (i % 4),)) for i in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not any(thread.is_alive() for thread in threads)
    assert 60 < peak <= 100  # several at once, never over the budget
    assert budget.free == 100


def test_a_share_over_the_whole_budget_waits_for_all_of_it_and_runs() -> None:
    budget = MemoryBudget(100)
    with budget.hold(500):
        assert budget.free == 0
    assert budget.free == 100


def test_a_failing_decode_gives_its_share_back() -> None:
    budget = MemoryBudget(100)
    try:
        with budget.hold(70):
            raise ValueError("corrupt")
    except ValueError:
        pass
    assert budget.free == 100


def _wait_until(condition: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


def test_a_large_share_is_not_starved_by_a_stream_of_small_ones() -> None:
    # Four small decodes in a loop keep 60-90 of 100 held at every moment: without a line
    # the whole budget is never free, and the large decode would wait as long as they run.
    budget = MemoryBudget(100)
    stop = threading.Event()
    small_runs = [0] * 4

    def small(i: int) -> None:
        deadline = time.monotonic() + 5.0
        while not stop.is_set() and time.monotonic() < deadline:
            with budget.hold(30):
                time.sleep(0.005)
            small_runs[i] += 1

    stream = [threading.Thread(target=small, args=(i,)) for i in range(4)]
    for thread in stream:
        thread.start()
    assert _wait_until(lambda: sum(small_runs) >= 20), "the stream did not start"
    started = time.monotonic()
    with budget.hold(100):
        waited = time.monotonic() - started
        assert budget.free == 0
    stop.set()
    for thread in stream:
        thread.join(timeout=10)
    assert not any(thread.is_alive() for thread in stream)
    assert waited < 0.3, f"the large decode waited {waited:.2f} s behind the small ones"
    assert budget.free == 100 and budget.waiting == 0


def test_waiters_are_let_in_in_the_order_they_came() -> None:
    budget = MemoryBudget(100)
    order: list[int] = []
    sizes = [50, 10, 90, 10, 30, 70]

    def decode(i: int) -> None:
        with budget.hold(sizes[i]):
            order.append(i)

    threads = []
    with budget.hold(100):
        for i in range(len(sizes)):
            thread = threading.Thread(target=decode, args=(i,))
            thread.start()
            threads.append(thread)
            assert _wait_until(lambda n=i + 1: budget.waiting == n)  # type: ignore[misc]
    for thread in threads:
        thread.join(timeout=10)
    assert order == list(range(len(sizes)))
    assert budget.free == 100


def test_a_share_of_nothing_never_waits_in_line() -> None:
    budget = MemoryBudget(100)

    def waiting_decode() -> None:
        with budget.hold(50):
            pass

    with budget.hold(100):
        blocked = threading.Thread(target=waiting_decode)
        blocked.start()
        assert _wait_until(lambda: budget.waiting == 1)
        with budget.hold(0):
            assert budget.waiting == 1
    blocked.join(timeout=5)
    assert not blocked.is_alive() and budget.free == 100


def test_a_waiter_that_times_out_gives_up_its_place_in_the_line() -> None:
    budget = MemoryBudget(100)
    events: list[str] = []
    errors: list[MemoryPressure] = []

    def large() -> None:
        try:
            with budget.hold(100, timeout=0.2):
                events.append("large in")
        except MemoryPressure as exc:
            errors.append(exc)
            events.append("large gave up")

    def small() -> None:
        with budget.hold(10):
            events.append("small in")

    with budget.hold(80):  # 20 free: the small share fits, the large one does not
        first = threading.Thread(target=large)
        first.start()
        assert _wait_until(lambda: budget.waiting == 1)
        second = threading.Thread(target=small)
        second.start()
        assert _wait_until(lambda: budget.waiting == 2)
        time.sleep(0.05)
        assert events == [], "the small share went past the large one waiting ahead of it"
        first.join(timeout=5)
        second.join(timeout=5)
        # Still inside the 80 held: the small share got in once the large one left the line.
        assert events == ["large gave up", "small in"]
        assert budget.waiting == 0 and budget.free == 20
    assert not first.is_alive() and not second.is_alive()
    assert budget.free == 100
    assert (errors[0].status_code, errors[0].code, errors[0].retryable) == (
        503,
        "memory_pressure",
        True,
    )


def test_timeouts_under_contention_leave_no_one_stuck_and_nothing_held() -> None:
    budget = MemoryBudget(100, wait_s=0.02)
    held, peak, lock = 0, 0, threading.Lock()
    outcomes = {"ran": 0, "gave up": 0}

    def decode(i: int) -> None:
        nonlocal held, peak
        for round_ in range(15):
            nbytes = (10, 40, 70, 100)[(i + round_) % 4]
            try:
                with budget.hold(nbytes, timeout=None if i % 3 == 0 else 0.005):
                    with lock:
                        held += nbytes
                        peak = max(peak, held)
                    time.sleep(0.002)
                    with lock:
                        held -= nbytes
                outcome = "ran"
            except MemoryPressure:
                outcome = "gave up"
            with lock:
                outcomes[outcome] += 1

    threads = [threading.Thread(target=decode, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert not any(thread.is_alive() for thread in threads), "a decode is stuck"
    assert outcomes["ran"] + outcomes["gave up"] == 12 * 15
    assert outcomes["ran"] > 0 and outcomes["gave up"] > 0
    assert peak <= 100
    assert budget.free == 100 and budget.waiting == 0
