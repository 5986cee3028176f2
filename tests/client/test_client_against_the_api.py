"""The clients against the real API: in-process through ASGI, and over real sockets to a
uvicorn server on 127.0.0.1, with the committed model."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from amulet_ai.api.app import create_app
from amulet_ai.client import AmuletClient, AsyncAmuletClient
from amulet_ai.config import Settings
from amulet_ai.errors import (
    CorruptImage,
    RateLimited,
    Unauthorized,
    UnsupportedMediaType,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from amulet_ai.imaging.masks import mask_from_data_url
from amulet_ai.ops.api_process import ApiProcess, free_port


def _settings(model_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "model_dir": model_dir,
        "rate_limit": "",
        "warmup_runs": 0,
        # An app in this process: the pytest process's RSS is not the server's own.
        "memory_limit_mb": 16384.0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
async def asgi_client(model_dir: Path) -> AsyncIterator[AsyncAmuletClient]:
    app = create_app(_settings(model_dir))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with AsyncAmuletClient("http://testserver", transport=transport) as client:
            yield client


@pytest.fixture(scope="module")
def live_api() -> Iterator[ApiProcess]:
    with ApiProcess(free_port(), env={"AMULET_RATE_LIMIT": ""}, ready_timeout_s=120) as api:
        yield api


@pytest.fixture
def amulet_photo(shared_data_or_none: Path | None, make_photo: Callable[..., bytes]) -> bytes:
    """A real amulet photo from ../shared when present, else a generated one."""
    if shared_data_or_none is not None:
        return next((shared_data_or_none / "phra_sivali" / "front").glob("*.jpg")).read_bytes()
    return make_photo(640, 480)


@pytest.fixture(scope="session")
def shared_data_or_none(repo_root: Path) -> Path | None:
    path = repo_root.parent / "shared" / "data" / "amulets"
    return path if path.is_dir() else None


async def test_catalog_model_and_health_match_the_committed_model(
    asgi_client: AsyncAmuletClient, model_dir: Path
) -> None:
    metadata = json.loads((model_dir / "metadata.json").read_text(encoding="utf-8"))
    health = await asgi_client.health()
    assert health.status in ("ok", "degraded")
    assert health.model.loaded and health.model.version == metadata["version"]
    catalog = await asgi_client.classes()
    assert [c.id for c in catalog.classes] == [c["id"] for c in metadata["classes"]]
    assert [c.name_th for c in catalog.classes] == [c["name_th"] for c in metadata["classes"]]
    info = await asgi_client.model_info()
    assert info.name == metadata["name"] and info.version == metadata["version"]
    localiser = json.loads((model_dir / "localiser.json").read_text(encoding="utf-8"))
    assert info.localiser is not None and info.localiser.version == localiser["version"]
    assert health.model.localiser is not None
    assert health.model.localiser.name == localiser["name"]


async def test_predict_answers_in_the_api_schema_with_heatmap_and_sides(
    asgi_client: AsyncAmuletClient, amulet_photo: bytes, make_photo: Callable[..., bytes]
) -> None:
    result = await asgi_client.predict(amulet_photo, top_k=3, explain=True)
    assert len(result.predictions) == 3
    assert result.predictions[0] == result.top1
    assert [p.probability for p in result.predictions] == sorted(
        (p.probability for p in result.predictions), reverse=True
    )
    assert result.heatmap is not None and result.heatmap["front"].startswith("data:image/png")
    assert result.images.back is None and not result.cached
    again = await asgi_client.predict(amulet_photo, top_k=3, explain=True)
    assert again.cached and again.top1 == result.top1
    both = await asgi_client.predict(amulet_photo, make_photo(300, 300, seed=3))
    assert both.images.back is not None and both.heatmap is None


async def test_the_locate_option_and_each_photos_location(
    asgi_client: AsyncAmuletClient, amulet_photo: bytes, make_photo: Callable[..., bytes]
) -> None:
    whole = await asgi_client.predict(amulet_photo, locate="off")
    location = whole.images.front.location
    assert location is not None and location.status == "whole_photo"
    assert location.method == "off" and location.confidence is None
    assert location.box is not None
    assert (location.box.width, location.box.height) == (whole.images.front.width,
                                                         whole.images.front.height)  # fmt: skip
    assert whole.status == "ok" and whole.timing_ms.locate == 0.0
    located = await asgi_client.predict(amulet_photo, locate="auto")
    assert not located.cached  # the mode is part of the cache key
    assert located.images.front.location is not None
    assert located.images.front.location.method == "localiser"
    plain = make_photo(640, 480, seed=77)
    batch = await asgi_client.predict_batch([plain], locate="auto")
    result = batch.results[0].result
    assert result is not None and result.images.front.location is not None
    assert result.images.front.location.status == "no_amulet"
    assert result.status == "no_amulet" and result.unknown.is_unknown


async def test_the_mask_option_gives_each_located_photo_its_localiser_mask(
    asgi_client: AsyncAmuletClient, amulet_photo: bytes, make_photo: Callable[..., bytes]
) -> None:
    plain = await asgi_client.predict(amulet_photo, locate="auto")
    assert plain.images.front.location is not None and plain.images.front.location.mask is None
    masked = await asgi_client.predict(amulet_photo, locate="auto", mask=True)
    assert not masked.cached  # asked for, so not the mask-less answer from the cache
    location = masked.images.front.location
    assert location is not None and location.status == "found" and location.mask is not None
    shape = mask_from_data_url(location.mask.image)
    assert shape.shape == (location.mask.height, location.mask.width) and shape.mean() > 0.3
    assert masked.top1 == plain.top1
    again = await asgi_client.predict(amulet_photo, locate="auto", mask=True)
    assert again.cached and again.images.front.location == location
    batch = await asgi_client.predict_batch(
        [amulet_photo, make_photo(640, 480, seed=77)], locate="auto", mask=True
    )
    found, nothing = (item.result for item in batch.results)
    assert found is not None and found.images.front.location == location
    assert nothing is not None and nothing.images.front.location is not None
    assert nothing.images.front.location.status == "no_amulet"
    assert nothing.images.front.location.mask is None


async def test_a_batch_keeps_order_and_isolates_a_bad_file(
    asgi_client: AsyncAmuletClient, make_photo: Callable[..., bytes]
) -> None:
    batch = await asgi_client.predict_batch([make_photo(seed=1), b"not an image", make_photo()])
    assert [item.index for item in batch.results] == [0, 1, 2]
    assert batch.results[0].result is not None and batch.results[2].result is not None
    assert batch.results[1].error is not None
    assert batch.results[1].error.code == "unsupported_media_type"


async def test_api_errors_arrive_as_typed_exceptions_with_the_apis_message(
    asgi_client: AsyncAmuletClient, make_photo: Callable[..., bytes]
) -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        await asgi_client.predict(b"plain text, not a photo")
    assert caught.value.details["request_id"]
    assert caught.value.message == UnsupportedMediaType.default_message
    with pytest.raises(CorruptImage):
        await asgi_client.predict(make_photo()[:400])


async def test_api_keys_travel_in_x_api_key(
    model_dir: Path, make_photo: Callable[..., bytes]
) -> None:
    app = create_app(_settings(model_dir, api_keys="key-one,key-two"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with AsyncAmuletClient("http://testserver", transport=transport) as anonymous:
            with pytest.raises(Unauthorized):
                await anonymous.classes()
        async with AsyncAmuletClient(
            "http://testserver", transport=transport, api_key="key-two"
        ) as keyed:
            assert len((await keyed.classes()).classes) >= 2


async def test_rate_limits_are_waited_out_as_retry_after_says(model_dir: Path) -> None:
    app = create_app(_settings(model_dir, rate_limit="2/second"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with AsyncAmuletClient(
            "http://testserver", transport=transport, retries=0
        ) as impatient:
            await impatient.classes()
            await impatient.classes()
            with pytest.raises(RateLimited) as caught:
                await impatient.classes()
            assert caught.value.retry_after is not None and 0 < caught.value.retry_after <= 2
        async with AsyncAmuletClient(
            "http://testserver", transport=transport, retries=3, backoff_s=0.01
        ) as patient:
            started = time.monotonic()
            for _ in range(4):
                await patient.classes()
            assert time.monotonic() - started < 10
        assert patient.requests_sent > 4, "some calls were limited and retried"


def test_the_sync_client_over_a_real_server(
    live_api: ApiProcess, amulet_photo: bytes, tmp_path: Path
) -> None:
    path = tmp_path / "front.jpg"
    path.write_bytes(amulet_photo)
    with AmuletClient(live_api.url) as client:
        assert client.health().model.loaded
        from_path = client.predict(path, explain=True)
        with path.open("rb") as fh:
            from_file = client.predict(fh, explain=True)
        assert from_file.top1 == from_path.top1 and from_file.cached
        batch = client.predict_batch([amulet_photo, path])
        assert len(batch.results) == 2
        assert client.requests_sent == 4, "no retries were needed"


async def test_the_async_client_over_a_real_server_runs_requests_concurrently(
    live_api: ApiProcess, make_photo: Callable[..., bytes]
) -> None:
    photos = [make_photo(seed=seed) for seed in range(8)]
    async with AsyncAmuletClient(live_api.url, max_connections=4) as client:
        results = await asyncio.gather(*(client.predict(photo) for photo in photos))
    assert len({r.request_id for r in results}) == 8


def test_a_closed_port_is_upstream_unavailable_after_the_retries() -> None:
    port = free_port()  # nothing listens here
    started = time.monotonic()
    with AmuletClient(f"http://127.0.0.1:{port}", retries=2, backoff_s=0.01) as client:
        with pytest.raises(UpstreamUnavailable):
            client.health()
        assert client.requests_sent == 3
    assert time.monotonic() - started < 5


def test_a_server_that_never_answers_is_upstream_timeout() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        accepted: list[socket.socket] = []
        stop = threading.Event()

        def accept_and_stay_silent() -> None:
            listener.settimeout(0.1)
            while not stop.is_set():
                try:
                    accepted.append(listener.accept()[0])
                except TimeoutError:
                    continue

        thread = threading.Thread(target=accept_and_stay_silent, daemon=True)
        thread.start()
        try:
            with AmuletClient(f"http://127.0.0.1:{port}", timeout_s=0.5, retries=3) as client:
                started = time.monotonic()
                with pytest.raises(UpstreamTimeout):
                    client.predict(b"\xff\xd8\xff photo")
                elapsed = time.monotonic() - started
            assert 0.4 <= elapsed < 2.0, "one attempt, bounded by the timeout"
        finally:
            stop.set()
            thread.join(timeout=2)
            for conn in accepted:
                conn.close()
