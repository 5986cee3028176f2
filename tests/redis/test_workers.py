"""``production_runner.py api --workers 2``: two worker processes on one port that share the
result cache through Redis, one ``/metrics`` that adds up both workers, a worker that dies
is replaced and its live gauges go, and the metrics folder goes when the runner stops."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from redis_process import API_ENV, RedisServer

from amulet_ai.ops.api_process import ApiProcess, free_port

pytestmark = pytest.mark.redis

REQUESTS = 40


def scrape(api: ApiProcess) -> str:
    response = httpx.get(f"{api.url}/metrics", timeout=10.0)
    assert response.status_code == 200
    return response.text


def worker_pids(text: str) -> set[int]:
    """Pids of the workers whose RSS gauge is live (``multiprocess_mode="liveall"``)."""
    return {int(pid) for pid in re.findall(r'amulet_process_rss_bytes\{pid="(\d+)"\}', text)}


def classes_requests(text: str) -> float:
    pattern = r'amulet_requests_total\{[^}]*route="/v1/classes"[^}]*status="200"[^}]*\} (\S+)'
    return sum(float(value) for value in re.findall(pattern, text))


def wait_for(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


@pytest.fixture
def runner(redis_server: RedisServer, tmp_path: Path) -> Iterator[ApiProcess]:
    (tmp_path / "tmp").mkdir()
    env = {
        "AMULET_REDIS_URL": redis_server.url,
        "AMULET_RATE_LIMIT": "",
        # The runner makes its metrics folder here, so the test can see it go.
        "TMPDIR": str(tmp_path / "tmp"),
    }
    log_path = tmp_path / "runner.log"
    api = ApiProcess(free_port(), env={**API_ENV, **env}, log_path=log_path, workers=2).start()
    try:
        api.wait_ready(streak=10)
        yield api
    finally:
        api.stop()


def test_two_workers_share_the_cache_and_one_metrics_endpoint_adds_them_up(
    runner: ApiProcess, tmp_path: Path, make_photo: Callable[..., bytes]
) -> None:
    metrics_dirs = list((tmp_path / "tmp").glob("amulet-metrics-*"))
    assert len(metrics_dirs) == 1
    assert wait_for(lambda: len(worker_pids(scrape(runner))) == 2, timeout_s=15)

    # A new connection each time, so the kernel hands requests to either worker.
    assert all(httpx.get(f"{runner.url}/v1/classes").status_code == 200 for _ in range(REQUESTS))
    # Whichever worker answers the scrape, it reports both workers' requests (a worker
    # counts a request just after answering it, hence the short wait for the last one).
    assert wait_for(lambda: classes_requests(scrape(runner)) == REQUESTS, timeout_s=5)
    assert [classes_requests(scrape(runner)) for _ in range(6)] == [REQUESTS] * 6
    assert "amulet_requests_in_flight" in scrape(runner)

    photo = make_photo(224, 224, seed=901)
    verdicts = [
        httpx.post(
            f"{runner.url}/v1/predict",
            files={"front": ("p.jpg", photo, "image/jpeg")},
            timeout=30.0,
        ).json()["cached"]
        for _ in range(6)
    ]
    assert verdicts == [False] + [True] * 5

    assert runner.stop() == 0
    assert not metrics_dirs[0].exists()


def test_a_worker_that_dies_is_replaced_and_its_live_gauges_go(runner: ApiProcess) -> None:
    assert wait_for(lambda: len(worker_pids(scrape(runner))) == 2, timeout_s=15)
    victim, survivor = sorted(worker_pids(scrape(runner)))
    os.kill(victim, signal.SIGKILL)

    def replaced() -> bool:
        try:
            pids = worker_pids(scrape(runner))
        except httpx.TransportError:
            return False
        return len(pids) == 2 and victim not in pids and survivor in pids

    assert wait_for(replaced, timeout_s=60), runner.log_tail()
    runner.wait_ready(streak=5)
