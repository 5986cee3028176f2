"""What the API tests share besides fixtures: settings, expected envelopes, an ASGI client.

A live server on a real socket is :class:`amulet_ai.ops.api_process.ApiThread` (in this
process) or :class:`~amulet_ai.ops.api_process.ApiProcess` (a child).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager

from amulet_ai.api.app import create_app
from amulet_ai.config import Settings

REQUEST_ID = "test-request-1"
# The tests' SQLite databases live here, never in the working directory.
TEST_DATA_DIR = Path(tempfile.mkdtemp(prefix="amulet-api-tests-"))
atexit.register(shutil.rmtree, TEST_DATA_DIR, True)


def make_settings(model_dir: Path, **overrides: Any) -> Settings:
    """Test settings: the committed model, 2 workers, limits off unless a test sets them."""
    values: dict[str, Any] = {
        "model_dir": model_dir,
        "env": "test",
        "inference_workers": 2,
        "queue_size": 16,
        "warmup_runs": 0,
        "rate_limit": "",
        "gc_interval_s": 60.0,
        "max_upload_mb": 2.0,
        "data_dir": TEST_DATA_DIR,
        # These apps share the pytest process, whose RSS is every app's and test's together:
        # the ceiling is for a server process of its own. Tests of it set their own.
        "memory_limit_mb": 16384.0,
        "gc_high_water_mb": 12288.0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def error_body(code: str, message: str, request_id: str = REQUEST_ID) -> dict[str, Any]:
    """The exact error envelope a test expects."""
    return {"error": {"code": code, "message": message, "request_id": request_id}}


@asynccontextmanager
async def async_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An ``httpx.AsyncClient`` on the app through ASGI, with the lifespan run around it."""
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=120, shutdown_timeout=60) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client


def post_front(client: Any, photo: bytes, query: str = "") -> dict[str, Any]:
    """``POST /v1/predict{query}`` with ``photo`` as the front (a TestClient or
    ``httpx.Client``); the answer's JSON, asserted to be a 200."""
    r = client.post(f"/v1/predict{query}", files={"front": ("f.jpg", photo)})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body
