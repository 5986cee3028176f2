"""Fixtures of the reliability suite: real API servers on 127.0.0.1, photos made on the spot."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from live_server import BASE_ENV, StartApi

from amulet_ai.ops.api_process import ApiProcess, free_port


def _api_starter(log_dir: Path, started: list[ApiProcess]) -> StartApi:
    def start(
        env: dict[str, str] | None = None,
        *,
        port: int | None = None,
        wait: str = "/health/ready",
    ) -> ApiProcess:
        api = ApiProcess(
            port or free_port(),
            env={**BASE_ENV, **(env or {})},
            log_path=log_dir / f"api-{len(started)}.log",
            ready_timeout_s=90.0,
        )
        started.append(api)
        api.start().wait_ready(wait)
        return api

    return start


@pytest.fixture
def start_api(tmp_path: Path) -> Iterator[StartApi]:
    """Factory: ``start_api(env, port=None, wait="/health/ready")`` -> a ready
    :class:`~amulet_ai.ops.api_process.ApiProcess`.

    Every server started is stopped (SIGTERM, then SIGKILL) when the test ends.
    """
    started: list[ApiProcess] = []
    yield _api_starter(tmp_path, started)
    for api in started:
        api.stop(grace_s=10.0)


@pytest.fixture(scope="module")
def start_module_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartApi]:
    """Like ``start_api``, for a server that the tests of one module share."""
    started: list[ApiProcess] = []
    yield _api_starter(tmp_path_factory.mktemp("api"), started)
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
