"""The bounded pool under real concurrency: overload, queue timeout, micro-batching."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
from harness import async_client

from amulet_ai.config import Settings


async def _predict_all(client: httpx.AsyncClient, images: list[bytes]) -> list[httpx.Response]:
    return await asyncio.gather(
        *(
            client.post("/v1/predict", files={"front": (f"{i}.jpg", img)})
            for i, img in enumerate(images)
        )
    )


async def test_full_pool_answers_503_with_retry_after(
    settings_for: Callable[..., Settings], make_photo: Callable[..., bytes]
) -> None:
    images = [make_photo(900, 900, seed=100 + i) for i in range(6)]
    settings = settings_for(inference_workers=1, queue_size=0, cache_enabled=False)
    async with async_client(settings) as client:
        responses = await _predict_all(client, images)
        statuses = sorted(r.status_code for r in responses)
        assert set(statuses) == {200, 503}, statuses
        refused = [r for r in responses if r.status_code == 503]
        for r in refused:
            assert r.headers["Retry-After"] == "1"
            assert r.json()["error"] == {
                "code": "overloaded",
                "message": "Every inference worker is busy and the queue is full.",
                "request_id": r.headers["X-Request-ID"],
            }
        metrics = (await client.get("/metrics")).text
        assert f'amulet_rejections_total{{reason="overload"}} {float(len(refused))}' in metrics
        # Healthy again once the burst is over.
        again = await client.post("/v1/predict", files={"front": ("a.jpg", images[0])})
        assert again.status_code == 200


async def test_waiting_past_the_queue_timeout_answers_503(
    settings_for: Callable[..., Settings], make_photo: Callable[..., bytes]
) -> None:
    images = [make_photo(900, 900, seed=200 + i) for i in range(5)]
    settings = settings_for(
        inference_workers=1, queue_size=10, queue_timeout_s=0.02, cache_enabled=False
    )
    async with async_client(settings) as client:
        responses = await _predict_all(client, images)
        timed_out = [r for r in responses if r.status_code == 503]
        assert timed_out, [r.status_code for r in responses]
        assert {r.status_code for r in responses} <= {200, 503}
        assert timed_out[0].json()["error"]["message"] == (
            "No inference worker became free within 0.02 s."
        )
        metrics = (await client.get("/metrics")).text
        assert "amulet_queue_wait_seconds_count" in metrics
