"""POST /v1/admin/reload: requests finish on the model they started with; none fails."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
from harness import async_client

from amulet_ai.config import Settings
from amulet_ai.ops.api_process import ApiThread

ADMIN = {"X-Admin-Key": "admin-secret"}


def _copy_model(model_dir: Path, target: Path) -> Path:
    target.mkdir()
    for name in ("amulet_classifier.onnx", "metadata.json"):
        shutil.copy(model_dir / name, target / name)
    return target


def _set_version(folder: Path, version: str) -> None:
    path = folder / "metadata.json"
    metadata = json.loads(path.read_text(encoding="utf-8"))
    metadata["version"] = version
    path.write_text(json.dumps(metadata, ensure_ascii=False), encoding="utf-8")


async def test_a_request_in_flight_finishes_on_the_model_it_started_with(
    settings_for: Callable[..., Settings],
    model_dir: Path,
    tmp_path: Path,
    photo: bytes,
    served_model: dict[str, str],
) -> None:
    old_version, new_version = served_model["version"], served_model["version"] + "-reloaded"
    folder = _copy_model(model_dir, tmp_path / "model")
    settings = settings_for(model_dir=folder, admin_key="admin-secret")
    boundary = b"B0undary"
    head = (
        b"--" + boundary + b'\r\nContent-Disposition: form-data; name="front"; filename="a.jpg"'
        b"\r\nContent-Type: image/jpeg\r\n\r\n"
    )
    admitted, release = asyncio.Event(), asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        yield head + photo[:100]
        admitted.set()  # the app asked for more: its dependencies (the model) are settled
        await release.wait()
        yield photo[100:] + b"\r\n--" + boundary + b"--\r\n"

    async with async_client(settings) as client:
        in_flight = asyncio.create_task(
            client.post(
                "/v1/predict",
                content=slow_body(),
                headers={"Content-Type": f"multipart/form-data; boundary={boundary.decode()}"},
            )
        )
        await asyncio.wait_for(admitted.wait(), 30)
        _set_version(folder, new_version)
        reload = await client.post("/v1/admin/reload", headers=ADMIN)
        assert reload.status_code == 200
        assert reload.json()["model"]["version"] == new_version
        assert reload.json()["previous"]["version"] == old_version
        release.set()
        old = await asyncio.wait_for(in_flight, 60)
        new = await client.post("/v1/predict", files={"front": ("a.jpg", photo)})
    assert old.status_code == 200 and old.json()["model"]["version"] == old_version
    assert new.status_code == 200 and new.json()["model"]["version"] == new_version
    assert new.json()["cached"] is False, "a new model never reads an old model's results"


async def test_a_broken_reload_keeps_the_old_model_serving(
    settings_for: Callable[..., Settings], model_dir: Path, tmp_path: Path, photo: bytes
) -> None:
    folder = _copy_model(model_dir, tmp_path / "model")
    settings = settings_for(model_dir=folder, admin_key="admin-secret")
    async with async_client(settings) as client:
        (folder / "amulet_classifier.onnx").write_bytes(b"broken")
        r = await client.post("/v1/admin/reload", headers=ADMIN)
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "model_unavailable"
        assert r.json()["error"]["message"] == (
            "Reload failed: Model file amulet_classifier.onnx does not match its metadata. "
            "The previous model keeps serving."
        )
        assert (await client.get("/health/ready")).status_code == 200
        ok = await client.post("/v1/predict", files={"front": ("a.jpg", photo)})
        assert ok.status_code == 200


async def test_reload_under_load_drops_no_request(
    settings_for: Callable[..., Settings], make_photo: Callable[..., bytes]
) -> None:
    from amulet_ai.api.app import create_app

    settings = settings_for(admin_key="admin-secret", cache_enabled=False, queue_size=64)
    server = await asyncio.to_thread(lambda: ApiThread(create_app(settings)).start())
    images = [make_photo(224, 224, seed=400 + i) for i in range(8)]
    statuses: list[int] = []
    stop = asyncio.Event()

    async def hammer(client: httpx.AsyncClient, image: bytes) -> None:
        while not stop.is_set():
            r = await client.post("/v1/predict", files={"front": ("a.jpg", image)})
            statuses.append(r.status_code)

    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            workers = [asyncio.create_task(hammer(client, img)) for img in images]
            await asyncio.sleep(0.3)
            reloads = []
            for _ in range(2):
                reloads.append(await client.post("/v1/admin/reload", headers=ADMIN))
            deadline = time.monotonic() + 30
            while len(statuses) < 40 and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            stop.set()
            await asyncio.gather(*workers)
    finally:
        await asyncio.to_thread(server.stop)
    assert [r.status_code for r in reloads] == [200, 200]
    assert len(statuses) >= 40
    assert set(statuses) == {200}, statuses
