"""Fixtures for the store tests: a migrated store on SQLite and on PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from amulet_ai.store import Database, KeptPhoto, Store, keep_photo, upgrade


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """A store at the newest schema; each test gets an empty database of its own."""
    made = Store(Database(database_url))
    upgrade(made.db)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture(scope="session")
def kept(make_photo: Callable[..., bytes]) -> Callable[[int], KeptPhoto]:
    """``kept(seed)``: a photo as the store keeps it."""

    def make(seed: int) -> KeptPhoto:
        return keep_photo(make_photo(400, 300, seed=seed))

    return make


def result_for(class_id: str = "waek_man", probability: float = 0.9) -> dict[str, object]:
    """A classification's JSON, as the API stores it."""
    top1 = {"class_id": class_id, "name_en": "x", "name_th": "x", "probability": probability}
    return {
        "top1": top1,
        "predictions": [top1],
        "unknown": {"is_unknown": False, "score": 1.0, "threshold": 2.0},
    }
