"""Fixtures of the reliability suite: real API servers on 127.0.0.1, photos made on the spot."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from live_server import BASE_ENV, LiveApi, StartApi

from amulet_ai.ops.api_process import ApiProcess, free_port


@pytest.fixture
def start_api(tmp_path: Path) -> Iterator[StartApi]:
    """Factory: ``start_api(env, port=None, wait="/health/ready")`` -> a ready :class:`LiveApi`.

    Every server started is stopped (SIGTERM, then SIGKILL) when the test ends.
    """
    started: list[LiveApi] = []

    def start(
        env: dict[str, str] | None = None,
        *,
        port: int | None = None,
        wait: str = "/health/ready",
    ) -> LiveApi:
        log_path = tmp_path / f"api-{len(started)}.log"
        log_file = log_path.open("wb")
        process = ApiProcess(
            port or free_port(),
            env={**BASE_ENV, **(env or {})},
            output=log_file,
            ready_timeout_s=90.0,
        )
        api = LiveApi(process, log_path, log_file)
        started.append(api)
        process.start()
        process.wait_ready(wait)
        return api

    yield start
    for api in started:
        api.stop(grace_s=10.0)


@pytest.fixture(scope="session")
def unique_jpeg() -> Callable[[int], bytes]:
    """``unique_jpeg(i)``: a small valid JPEG whose bytes differ for every ``i`` (no cache hit)."""
    import hostile_images

    base = hostile_images.jpeg(96, 72, seed=5)

    def make(i: int) -> bytes:
        # Bytes after the end-of-image marker change the hash, not the picture.
        return base + i.to_bytes(8, "big")

    return make
