"""The decode memory budget under real thread contention."""

from __future__ import annotations

import threading
import time

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
