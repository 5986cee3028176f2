"""The app built with ``AMULET_REDIS_URL``, in process: a result another release stored in
the shared Redis in an older shape is a miss (and is replaced), never a 500; without a
Redis URL, /health has no shared-state section."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from redis_process import RedisServer

from amulet_ai.api.app import create_app
from amulet_ai.config import Settings
from amulet_ai.runtime.redis_cache import NAMESPACE
from amulet_ai.serving.result_cache import ResultCache, model_tag

pytestmark = pytest.mark.redis


def settings(model_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "model_dir": model_dir,
        "env": "test",
        "inference_workers": 1,
        "warmup_runs": 0,
        "rate_limit": "",
        # An app in this process: the pytest process's RSS is not the server's own.
        "memory_limit_mb": 16384.0,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_a_stale_shared_result_is_a_miss_then_replaced(
    redis_server: RedisServer, model_dir: Path, make_photo: Callable[..., bytes]
) -> None:
    photo = make_photo(224, 224, seed=951)
    app = create_app(settings(model_dir, redis_url=redis_server.url))
    with TestClient(app) as client:
        classifier = app.state.services.model.current
        key = ResultCache.key(
            model_tag(classifier),
            hashlib.sha256(photo).hexdigest(),
            None,
            top_k=3,
            explain=False,
        )
        redis_server.client().set(f"{NAMESPACE}{key}", b'{"shape":"of an older release"}')
        files = {"front": ("p.jpg", photo, "image/jpeg")}
        first = client.post("/v1/predict", files=files)
        assert first.status_code == 200, first.text
        assert first.json()["cached"] is False
        second = client.post("/v1/predict", files=files)
        assert second.json()["cached"] is True
        assert client.get("/health").json()["shared_state"]["status"] == "ok"


def test_without_a_redis_url_health_has_no_shared_state(model_dir: Path) -> None:
    with TestClient(create_app(settings(model_dir, redis_url=None))) as client:
        report = client.get("/health").json()
    assert report["shared_state"] is None
