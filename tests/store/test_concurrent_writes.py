"""Many threads saving at once: every save lands once, none fails on a lock."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from conftest import result_for

from amulet_ai.store import Store

THREADS = 8
SAVES = 25


def test_parallel_saves_and_reads_lose_nothing(store: Store) -> None:
    def work(worker: int) -> list[int]:
        owner = f"owner-{worker % 3}"  # owners shared by threads: first saves race too
        ids = []
        for _ in range(SAVES):
            ids.append(store.history.save(owner, result_for(), model=("m", "1")))
            store.history.page(owner, limit=5)
        return ids

    with ThreadPoolExecutor(THREADS) as pool:
        saved = [i for ids in pool.map(work, range(THREADS)) for i in ids]
    assert len(saved) == len(set(saved)) == THREADS * SAVES
    listed = [
        r.id for owner in range(3) for r in store.history.page(f"owner-{owner}", limit=500).items
    ]
    assert sorted(listed) == sorted(saved)
