"""Per-owner enrolled-type indexes under real contention: readers on many threads while a
writer enrols types, on a real database and the committed model."""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from amulet_ai import AmuletClassifier
from amulet_ai.serving.owner_indexes import OwnerIndexes
from amulet_ai.serving.result_cache import model_tag
from amulet_ai.store import Database, Store, keep_photo, upgrade
from amulet_ai.store.types import EnrolledPhoto


@pytest.fixture(scope="module")
def classifier(model_dir: Path) -> AmuletClassifier:
    return AmuletClassifier.load(model_dir, warmup_runs=0)


def _photo(seed: int) -> EnrolledPhoto:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (seed * 40 % 255, 90, 30)).save(buf, "PNG")
    return EnrolledPhoto(keep_photo(buf.getvalue()), np.full(624, seed, np.float32))


def test_readers_always_get_the_types_of_the_revision_they_read(
    database_url: str, classifier: AmuletClassifier
) -> None:
    store = Store(Database(database_url))
    upgrade(store.db)
    indexes = OwnerIndexes(store.types, store.collection)
    tag = model_tag(classifier)
    done = threading.Event()
    seen: list[tuple[int, int]] = []

    def read() -> None:
        while not done.is_set():
            lookup = indexes.enrolled("ann", classifier)
            if lookup.index is None:
                continue
            revision = int(lookup.cache_part.split(".")[1])  # types=<owner>.<own>.<published>
            # Each create bumps the revision once: revision n shows exactly n types.
            seen.append((revision, len(lookup.index.classes)))

    with ThreadPoolExecutor(6) as pool:
        readers = [pool.submit(read) for _ in range(6)]
        for n in range(4):
            store.types.create("ann", name_en=f"Type {n}", photos=[_photo(n)] * 3, model=tag)
        done.set()
        for reader in readers:
            reader.result()
    assert seen and all(revision == types for revision, types in seen)
    final = indexes.enrolled("ann", classifier)
    assert final.index is not None and len(final.index.classes) == 4 and len(final.index) == 12
    assert indexes.enrolled("bob", classifier).index is None  # nobody's types leak
    store.close()


def test_a_reading_is_reused_until_a_change_here_or_the_recheck_time(
    database_url: str, classifier: AmuletClassifier
) -> None:
    here, elsewhere = Store(Database(database_url)), Store(Database(database_url))
    upgrade(here.db)
    tag = model_tag(classifier)
    indexes = OwnerIndexes(here.types, here.collection, recheck_s=60.0)
    assert indexes.recent_enrolled("ann", classifier) is None  # never read
    first = indexes.enrolled("ann", classifier)
    assert indexes.recent_enrolled("ann", classifier) == first
    # Another process's change: the reading stands (until the recheck time).
    elsewhere.types.create("ann", name_en="Elsewhere", photos=[_photo(1)] * 3, model=tag)
    assert indexes.recent_enrolled("ann", classifier) == first
    # A change through this process's repository: dropped at once.
    here.types.create("ann", name_en="Here", photos=[_photo(2)] * 3, model=tag)
    assert indexes.recent_enrolled("ann", classifier) is None
    now = indexes.enrolled("ann", classifier)
    assert now.index is not None and len(now.index.classes) == 2
    # With no recheck time nothing is kept.
    assert OwnerIndexes(here.types, here.collection).recent_enrolled("ann", classifier) is None
    for store in (here, elsewhere):
        store.close()
