"""Against a real uvicorn on loopback: a decode waits its turn in the decode memory budget
for at most ``AMULET_REQUEST_TIMEOUT_S``, then the request is 503 ``memory_pressure``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx

from amulet_ai.ops.api_process import ApiThread


def test_a_decode_that_never_gets_its_turn_is_503_and_the_next_one_runs(
    live_server: Callable[..., ApiThread], make_photo: Callable[..., bytes]
) -> None:
    server = live_server(request_timeout_s=0.3)
    budget = server.app.state.services.model.require().decode_budget
    assert budget.wait_s == 0.3
    photo = make_photo(240, 240, seed=7400)
    release = threading.Event()

    def hold_everything() -> None:
        with budget.hold(budget.total):
            release.wait(10)

    holder = threading.Thread(target=hold_everything)
    holder.start()
    try:
        with httpx.Client(base_url=server.url, timeout=30.0) as http:
            started = time.monotonic()
            r = http.post("/v1/predict", files={"front": ("a.jpg", photo, "image/jpeg")})
            waited = time.monotonic() - started
            assert r.status_code == 503, r.text
            assert r.json()["error"]["code"] == "memory_pressure"
            assert r.headers["Retry-After"] == "1"
            assert 0.3 <= waited < 5.0
            assert budget.waiting == 0  # the refused decode left the line
            release.set()
            holder.join(timeout=10)
            r = http.post("/v1/predict", files={"front": ("a.jpg", photo, "image/jpeg")})
            assert r.status_code == 200, r.text
            assert r.json()["cached"] is False
    finally:
        release.set()
        holder.join(timeout=10)
    assert budget.free == budget.total
