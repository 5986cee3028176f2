"""The Redis result cache and rate-limit storage against a real redis-server: shared between
two independent clients, falling back to in-process state when Redis goes, sharing again
when it returns."""

from __future__ import annotations

import doctest
import importlib
import logging
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from limits import parse
from limits.strategies import MovingWindowRateLimiter
from redis_process import RedisServer

from amulet_ai.runtime.cache import ByteBudgetCache
from amulet_ai.runtime.redis_cache import NAMESPACE, RedisResultCache, result_key
from amulet_ai.runtime.redis_limits import FailoverRedisStorage, rate_limit_storage
from amulet_ai.runtime.redis_link import RedisLink

pytestmark = pytest.mark.redis

RESULT = {"top1": {"class_id": "somdej", "name_th": "พระสมเด็จ", "probability": 0.91}}


def wait_until(condition: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.fixture
def make_link() -> Iterator[Callable[[str], RedisLink]]:
    links: list[RedisLink] = []

    def make(url: str) -> RedisLink:
        link = RedisLink(url, timeout_s=0.25, retry_s=0.2)
        link.start()
        links.append(link)
        return link

    yield make
    for link in links:
        link.close()


def make_cache(link: RedisLink, ttl_s: float = 60.0) -> RedisResultCache[str, object]:
    return RedisResultCache(link, ByteBudgetCache(1 << 20, ttl_s), ttl_s=ttl_s)


def unique_key() -> str:
    return result_key("test-model", uuid.uuid4().hex * 2, "top_k=3,explain=0")


def test_a_result_stored_through_one_client_is_found_through_another(
    redis_server: RedisServer, make_link: Callable[[str], RedisLink]
) -> None:
    first = make_cache(make_link(redis_server.url))
    second = make_cache(make_link(redis_server.url))
    key = unique_key()
    assert second.get(key) is None
    assert first.set(key, RESULT)
    assert second.get(key) == RESULT
    assert (second.stats().hits, second.stats().misses) == (1, 1)
    assert first.local.stats().entries == 0  # shared through Redis, not kept in process


def test_values_are_compact_json_under_the_namespace_with_a_ttl(
    redis_server: RedisServer, make_link: Callable[[str], RedisLink]
) -> None:
    cache = make_cache(make_link(redis_server.url), ttl_s=30)
    key = unique_key()
    cache.set(key, RESULT)
    raw = redis_server.client()
    stored = raw.get(f"{NAMESPACE}{key}")
    assert key.startswith("test-model:")
    assert stored == (
        '{"top1":{"class_id":"somdej","name_th":"พระสมเด็จ","probability":0.91}}'.encode()
    )
    assert 0 < raw.ttl(f"{NAMESPACE}{key}") <= 30


def test_an_entry_expires_after_its_ttl(
    redis_server: RedisServer, make_link: Callable[[str], RedisLink]
) -> None:
    cache = make_cache(make_link(redis_server.url), ttl_s=1)
    key = unique_key()
    cache.set(key, RESULT)
    assert cache.get(key) == RESULT
    assert wait_until(lambda: cache.get(key) is None, timeout_s=5)


def test_an_unreadable_stored_value_is_a_miss(
    redis_server: RedisServer, make_link: Callable[[str], RedisLink]
) -> None:
    cache = make_cache(make_link(redis_server.url))
    key = unique_key()
    redis_server.client().set(f"{NAMESPACE}{key}", b"{not json")
    assert cache.get(key) is None
    assert cache.link.usable()


def test_a_limit_holds_across_two_clients_together(
    redis_server: RedisServer, make_link: Callable[[str], RedisLink]
) -> None:
    limit = parse("10/minute")
    client_id = uuid.uuid4().hex
    first = MovingWindowRateLimiter(rate_limit_storage(make_link(redis_server.url)))
    second = MovingWindowRateLimiter(rate_limit_storage(make_link(redis_server.url)))
    allowed = [(first if i % 2 else second).hit(limit, client_id) for i in range(10)]
    assert allowed == [True] * 10
    assert first.hit(limit, client_id) is False
    assert second.hit(limit, client_id) is False
    assert second.get_window_stats(limit, client_id).remaining == 0


def test_without_a_link_the_storage_is_in_memory() -> None:
    storage = rate_limit_storage(None)
    assert not isinstance(storage, FailoverRedisStorage)
    limiter = MovingWindowRateLimiter(storage)
    assert [limiter.hit(parse("2/minute"), "x") for _ in range(3)] == [True, True, False]


def test_redis_going_away_degrades_then_sharing_resumes(
    own_redis_server: RedisServer,
    make_link: Callable[[str], RedisLink],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="amulet_ai.runtime.redis_link")
    link = make_link(own_redis_server.url)
    other = make_cache(make_link(own_redis_server.url))
    cache = make_cache(link)
    limiter = MovingWindowRateLimiter(rate_limit_storage(link))
    limit = parse("3/minute")
    shared_key = unique_key()
    cache.set(shared_key, RESULT)

    own_redis_server.stop()
    started = time.monotonic()
    assert cache.get(shared_key) is None  # not an exception: the local cache answers
    assert time.monotonic() - started < 1.0
    status = link.status()
    assert status["status"] == "degraded"
    assert status["reason"] == "redis unavailable (ConnectionError)"
    local_key = unique_key()
    assert cache.set(local_key, RESULT) and cache.get(local_key) == RESULT
    assert cache.local.stats().entries == 1
    # Each process now limits on its own, in memory.
    assert [limiter.hit(limit, "client") for _ in range(4)] == [True, True, True, False]
    for _ in range(5):
        cache.get(unique_key())
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]

    own_redis_server.start()
    assert wait_until(link.usable, timeout_s=5), "the link did not reconnect"
    back_key = unique_key()
    assert cache.set(back_key, RESULT)
    # The other client's pooled connections died with the old server: redis-py reopens them.
    assert other.get(back_key) == RESULT
    assert other.link.usable()
    assert link.status() == {"backend": "redis", "status": "ok", "reason": None}
    assert any("sharing resumed" in r.getMessage() for r in caplog.records)


def test_a_link_that_starts_without_redis_connects_when_it_appears(
    own_redis_server: RedisServer, make_link: Callable[[str], RedisLink]
) -> None:
    own_redis_server.stop()
    link = make_link(own_redis_server.url)
    assert not link.usable()
    assert link.status()["status"] == "degraded"
    cache = make_cache(link)
    key = unique_key()
    assert cache.set(key, RESULT) and cache.get(key) == RESULT  # in process meanwhile
    own_redis_server.start()
    assert wait_until(link.usable, timeout_s=5)
    assert cache.set(key, RESULT)
    assert own_redis_server.client().exists(f"{NAMESPACE}{key}") == 1


def test_a_hung_redis_costs_one_timeout_then_is_skipped(
    own_redis_server: RedisServer, make_link: Callable[[str], RedisLink]
) -> None:
    link = make_link(own_redis_server.url)
    cache = make_cache(link)
    key = unique_key()
    cache.set(key, RESULT)
    assert own_redis_server.process is not None
    pid = own_redis_server.process.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        assert cache.get(key) is None
        first_call_s = time.monotonic() - started
        started = time.monotonic()
        for _ in range(20):
            cache.get(key)
        later_calls_s = time.monotonic() - started
    finally:
        os.kill(pid, signal.SIGCONT)
    assert first_call_s < 1.0
    assert later_calls_s < 0.2  # down: Redis is not waited on again
    assert wait_until(link.usable, timeout_s=5)
    assert cache.get(key) == RESULT


@pytest.mark.parametrize(
    "name",
    [
        "amulet_ai.runtime.redis_cache",
        "amulet_ai.runtime.redis_limits",
        "amulet_ai.runtime.redis_link",
    ],
)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
