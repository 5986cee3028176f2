"""The database goes away: predictions still answer (without history_id), /health says
degraded and why, saved work answers 503 storage_unavailable; it all comes back with it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from harness import make_settings
from pydantic import SecretStr

from amulet_ai.api.app import create_app
from amulet_ai.store import Database, upgrade
from bench.postgres_cluster import PG_BIN, PostgresServer

ENV_KEY = {"X-API-Key": "env-key"}


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A cluster of this test's own, which it stops and starts again."""
    if PG_BIN is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.remove()


def assert_outage(client: TestClient, photo: bytes) -> None:
    r = client.post("/v1/predict?save=true", files={"front": ("a.jpg", photo)}, headers=ENV_KEY)
    assert r.status_code == 200, r.text
    assert r.json()["history_id"] is None and r.json()["top1"]["class_id"]
    health = client.get("/health")
    assert health.status_code == 200
    report = health.json()
    assert report["status"] == "degraded"
    assert report["storage"]["status"] == "unavailable"
    assert any(reason.startswith("storage: ") for reason in report["reasons"])
    assert client.get("/health/ready").status_code == 200  # still fit for predictions
    for method, path in (
        ("GET", "/v1/history"),
        ("GET", "/v1/history/1"),
        ("GET", "/v1/pieces"),
        ("DELETE", "/v1/pieces/1"),
    ):
        r = client.request(method, path, headers=ENV_KEY)
        assert r.status_code == 503, path
        assert r.json()["error"]["code"] == "storage_unavailable"
        assert "Retry-After" in r.headers
    r = client.post("/v1/pieces", files={"front": ("a.jpg", photo)}, headers=ENV_KEY)
    assert r.status_code == 503 and r.json()["error"]["code"] == "storage_unavailable"
    # A database key cannot be checked meanwhile.
    r = client.get("/v1/classes", headers={"X-API-Key": "amk_cannot-check"})
    assert r.status_code == 503


def test_postgresql_stopping_and_coming_back(
    own_postgres: PostgresServer, model_dir: Path, photo: bytes
) -> None:
    url = own_postgres.new_database()
    upgrade(Database(url, timeout_s=2))
    settings = make_settings(
        model_dir, database_url=url, api_keys=[SecretStr("env-key")], database_timeout_s=2
    )
    with TestClient(create_app(settings)) as client:
        saved = client.post(
            "/v1/predict?save=true", files={"front": ("a.jpg", photo)}, headers=ENV_KEY
        )
        assert isinstance(saved.json()["history_id"], int)
        assert client.get("/health").json()["storage"]["status"] == "ok"
        own_postgres.stop()
        assert_outage(client, photo)
        own_postgres.start()
        again = client.post(
            "/v1/predict?save=true", files={"front": ("a.jpg", photo)}, headers=ENV_KEY
        )
        assert isinstance(again.json()["history_id"], int)
        listed = client.get("/v1/history", headers=ENV_KEY).json()["items"]
        assert [i["id"] for i in listed] == [again.json()["history_id"], saved.json()["history_id"]]
        assert client.get("/health").json()["status"] == "ok"


def test_a_sqlite_file_that_cannot_be_opened(model_dir: Path, photo: bytes, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the database folder should be")
    settings = make_settings(
        model_dir,
        database_url=f"sqlite:///{blocker / 'amulet.db'}",
        api_keys=[SecretStr("env-key")],
    )
    with TestClient(create_app(settings)) as client:
        assert_outage(client, photo)


def test_without_any_key_an_unreachable_database_is_not_taken_as_open(
    model_dir: Path, photo: bytes, tmp_path: Path, make_client: Callable[..., TestClient]
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    client = make_client(database_url=f"sqlite:///{blocker / 'amulet.db'}")
    r = client.post("/v1/predict", files={"front": ("a.jpg", photo)})
    assert r.status_code == 503 and r.json()["error"]["code"] == "storage_unavailable"
