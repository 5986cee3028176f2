"""Two real API processes sharing one redis-server: the result cache and the rate limit are
shared; Redis stopped mid-run degrades them to in-process state (no 500, /health
"degraded"), and when Redis is back they share again."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from redis_process import API_ENV, RedisServer

from amulet_ai.ops.api_process import ApiProcess, free_port

pytestmark = pytest.mark.redis

KEYS = {"cache": "key-cache", "limit": "key-limit", "outage": "key-outage"}


def start_pair(env: dict[str, str], logs: Path) -> tuple[ApiProcess, ApiProcess]:
    a, b = (
        ApiProcess(free_port(), env={**API_ENV, **env}, log_path=logs / f"api-{name}.log").start()
        for name in "ab"
    )
    pair = (a, b)
    for api in pair:
        api.wait_ready()
    return pair


def predict(api: ApiProcess, photo: bytes, key: str) -> httpx.Response:
    return httpx.post(
        f"{api.url}/v1/predict",
        files={"front": ("photo.jpg", photo, "image/jpeg")},
        headers={"X-API-Key": key},
        timeout=30.0,
    )


def wait_for(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


@pytest.fixture(scope="module")
def api_pair(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ApiProcess, ApiProcess]]:
    env = {
        "AMULET_REDIS_URL": redis_server.url,
        "AMULET_RATE_LIMIT": "10/minute",
        "AMULET_API_KEYS": ",".join(KEYS.values()),
    }
    pair = start_pair(env, tmp_path_factory.mktemp("api-pair"))
    try:
        yield pair
    finally:
        for api in pair:
            api.stop()


def test_a_result_cached_through_one_process_is_a_hit_through_the_other(
    api_pair: tuple[ApiProcess, ApiProcess], make_photo: Callable[..., bytes]
) -> None:
    first, second = api_pair
    photo = make_photo(224, 224, seed=801)
    miss = predict(first, photo, KEYS["cache"])
    assert miss.status_code == 200, miss.text
    assert miss.json()["cached"] is False
    hit = predict(second, photo, KEYS["cache"])
    assert hit.status_code == 200, hit.text
    assert hit.json()["cached"] is True
    assert hit.json()["predictions"] == miss.json()["predictions"]
    health = httpx.get(f"{second.url}/health").json()
    assert health["shared_state"] == {"backend": "redis", "status": "ok", "reason": None}
    assert health["cache"]["hits"] >= 1


def test_a_limit_of_ten_per_minute_holds_across_both_processes(
    api_pair: tuple[ApiProcess, ApiProcess],
) -> None:
    headers = {"X-API-Key": KEYS["limit"]}
    answers = [httpx.get(f"{api_pair[i % 2].url}/v1/classes", headers=headers) for i in range(10)]
    assert [r.status_code for r in answers] == [200] * 10
    assert [int(r.headers["RateLimit-Remaining"]) for r in answers] == list(range(9, -1, -1))
    for api in api_pair:
        refused = httpx.get(f"{api.url}/v1/classes", headers=headers)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "rate_limited"
        assert int(refused.headers["Retry-After"]) >= 1


def test_redis_stopped_mid_run_degrades_then_sharing_resumes(
    own_redis_server: RedisServer, tmp_path: Path, make_photo: Callable[..., bytes]
) -> None:
    env = {
        "AMULET_REDIS_URL": own_redis_server.url,
        "AMULET_RATE_LIMIT": "1000/minute",
        "AMULET_API_KEYS": KEYS["outage"],
        "AMULET_REDIS_RETRY_S": "0.3",
    }
    first, second = start_pair(env, tmp_path)
    key = KEYS["outage"]
    try:
        before = make_photo(224, 224, seed=811)
        assert predict(first, before, key).json()["cached"] is False
        assert predict(second, before, key).json()["cached"] is True

        own_redis_server.stop()
        during = make_photo(224, 224, seed=812)
        for api in (first, second):
            answers = [predict(api, during, key) for _ in range(2)]
            answers.append(httpx.get(f"{api.url}/v1/classes", headers={"X-API-Key": key}))
            assert [r.status_code for r in answers] == [200, 200, 200], answers[-1].text
            # Each process now caches for itself.
            assert [r.json()["cached"] for r in answers[:2]] == [False, True]
            health = httpx.get(f"{api.url}/health")
            assert health.status_code == 200
            report = health.json()
            assert report["status"] == "degraded"
            assert report["shared_state"]["status"] == "degraded"
            assert "shared state: redis unavailable" in " ".join(report["reasons"])
            # Still serving, so still ready: the balancer keeps sending traffic.
            assert httpx.get(f"{api.url}/health/ready").status_code == 200
        warnings = first.log_tail(100_000).count("redis shared state unavailable")
        assert warnings == 1

        own_redis_server.start()

        def shared_again() -> bool:
            reports = [httpx.get(f"{api.url}/health").json() for api in (first, second)]
            return all(r["shared_state"]["status"] == "ok" for r in reports)

        assert wait_for(shared_again, timeout_s=15), first.log_tail()
        after = make_photo(224, 224, seed=813)
        assert predict(first, after, key).json()["cached"] is False
        assert predict(second, after, key).json()["cached"] is True
        assert httpx.get(f"{first.url}/health").json()["status"] == "ok"
        assert "sharing resumed" in first.log_tail()
    finally:
        for api in (first, second):
            api.stop()
