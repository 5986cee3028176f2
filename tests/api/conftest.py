"""Fixtures for the API tests: real apps on the committed model, real uvicorn servers.

* ``client``: one app with default-ish settings for the whole session (TestClient, so the
  lifespan runs: the model is loaded, the pool started).
* ``make_client(**overrides)``: an app of its own for a test that needs other settings.
* ``live_server(**overrides)``: the app behind a real uvicorn on a free 127.0.0.1 port,
  for what only a socket shows (chunked bodies, early 413, concurrency, shutdown).
* ``saved`` / ``app_for(**overrides)``: an app on a fresh database of each kind (SQLite
  and PostgreSQL), with a store on the same database to make keys.
* ``scene``: a phone-style photo of a development photo's amulet on a generated backdrop.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from harness import make_settings
from saved_harness import Saved

from amulet_ai.api.app import create_app
from amulet_ai.config import Settings
from amulet_ai.ops.api_process import ApiThread
from amulet_ai.store import Database, Store, upgrade
from amulet_ai.training.cutout import CutOut
from amulet_ai.training.scenes import Scene, make_scene


@pytest.fixture(scope="session")
def settings_for(model_dir: Path) -> Callable[..., Settings]:
    def build(**overrides: Any) -> Settings:
        return make_settings(overrides.pop("model_dir", model_dir), **overrides)

    return build


@pytest.fixture(scope="session")
def served_model(model_dir: Path) -> dict[str, str]:
    """Name and version of the committed model, as its metadata states them."""
    metadata = json.loads((model_dir / "metadata.json").read_text(encoding="utf-8"))
    return {"name": metadata["name"], "version": metadata["version"]}


@pytest.fixture(scope="session")
def scene(cuts: list[CutOut]) -> Scene:
    """A phone-style photo (2000 x 1500 or turned): an amulet on a paper backdrop."""
    return make_scene(cuts[1], photo=960, number=0, family="paper", seed=4, canvas="phone")


@pytest.fixture(scope="session")
def client(settings_for: Callable[..., Settings]) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for())) as test_client:
        yield test_client


@pytest.fixture
def make_client(settings_for: Callable[..., Settings]) -> Iterator[Callable[..., TestClient]]:
    with ExitStack() as stack:

        def build(**overrides: Any) -> TestClient:
            return stack.enter_context(TestClient(create_app(settings_for(**overrides))))

        yield build


@pytest.fixture(scope="session")
def photo(make_photo: Callable[..., bytes]) -> bytes:
    """A 224 px JPEG."""
    return make_photo(224, 224, seed=1)


@pytest.fixture(scope="session")
def other_photo(make_photo: Callable[..., bytes]) -> bytes:
    return make_photo(320, 240, seed=2)


@pytest.fixture
def live_server(settings_for: Callable[..., Settings]) -> Iterator[Callable[..., ApiThread]]:
    servers: list[ApiThread] = []

    def start(**overrides: Any) -> ApiThread:
        server = ApiThread(create_app(settings_for(**overrides))).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def app_for(database_url: str, model_dir: Path) -> Iterator[Callable[..., Saved]]:
    """``app_for(**settings)``: a started app on this test's database (SQLite file or a new
    PostgreSQL database, migrated first), keeping photos unless told otherwise."""
    with ExitStack() as stack:
        store = Store(Database(database_url))
        upgrade(store.db)
        stack.callback(store.close)

        def build(**overrides: Any) -> Saved:
            values = {"database_url": database_url, "history": "photos", **overrides}
            client = TestClient(create_app(make_settings(model_dir, **values)))
            return Saved(stack.enter_context(client), store)

        yield build


@pytest.fixture
def saved(app_for: Callable[..., Saved]) -> Saved:
    """The app on this test's database, keeping photos."""
    return app_for()
