"""X-Forwarded-For is believed only from AMULET_FORWARDED_ALLOW_IPS (the page's address).

The API runs as ``production_runner.py api`` runs it (a real uvicorn in a child process);
clients on other loopback addresses (127.0.0.0/8) play the page and a stranger.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from amulet_ai.ops.api_process import ApiProcess, free_port

PAGE_ADDRESS = "127.0.0.2"
STRANGER_ADDRESS = "127.0.0.3"


@pytest.fixture(scope="module")
def api() -> Iterator[ApiProcess]:
    env = {"AMULET_RATE_LIMIT": "2/minute", "AMULET_FORWARDED_ALLOW_IPS": PAGE_ADDRESS}
    with ApiProcess(free_port(), env=env, ready_timeout_s=120) as server:
        yield server


def from_address(api: ApiProcess, address: str) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=api.url, timeout=10.0, transport=transport)


def test_the_page_forwards_each_collector_and_a_stranger_cannot(api: ApiProcess) -> None:
    with from_address(api, PAGE_ADDRESS) as page, from_address(api, STRANGER_ADDRESS) as stranger:
        # Through the trusted page: every collector has a limit of their own.
        collectors = [
            [
                page.get("/v1/classes", headers={"X-Forwarded-For": collector}).status_code
                for _ in range(3)
            ]
            for collector in ("198.51.100.7", "198.51.100.8")
        ]
        # From anyone else the header is ignored: one address, one limit, however it lies.
        lies = [
            stranger.get("/v1/classes", headers={"X-Forwarded-For": f"203.0.113.{i}"})
            for i in range(3)
        ]
    assert collectors == [[200, 200, 429], [200, 200, 429]]
    assert [r.status_code for r in lies] == [200, 200, 429]
    assert lies[2].json()["error"]["code"] == "rate_limited"


@pytest.fixture(scope="module")
def keyed_api() -> Iterator[ApiProcess]:
    env = {
        "AMULET_RATE_LIMIT": "2/minute",
        "AMULET_API_KEYS": "page-key",
        "AMULET_FORWARDED_ALLOW_IPS": PAGE_ADDRESS,
    }
    with ApiProcess(free_port(), env=env, ready_timeout_s=120) as server:
        yield server


def test_a_page_with_a_key_still_gives_each_collector_a_limit(keyed_api: ApiProcess) -> None:
    key = {"X-API-Key": "page-key"}
    with (
        from_address(keyed_api, PAGE_ADDRESS) as page,
        from_address(keyed_api, STRANGER_ADDRESS) as direct,
        from_address(keyed_api, "127.0.0.4") as other_machine,
    ):
        collectors = [
            [
                page.get("/v1/classes", headers={**key, "X-Forwarded-For": who}).status_code
                for _ in range(3)
            ]
            for who in ("198.51.100.7", "198.51.100.8")
        ]
        # Without a trusted proxy in between, a key is one limit wherever it is used.
        direct_statuses = [direct.get("/v1/classes", headers=key).status_code for _ in range(2)]
        elsewhere = other_machine.get("/v1/classes", headers=key).status_code
    assert collectors == [[200, 200, 429], [200, 200, 429]]
    assert direct_statuses == [200, 200] and elsewhere == 429
