"""CircuitBreaker transitions on an injected clock; retry limits and Retry-After."""

from __future__ import annotations

import httpx
import pytest

from amulet_ai.runtime import (
    CircuitBreaker,
    CircuitOpen,
    CircuitState,
    InvalidInput,
    Overloaded,
    RateLimited,
    UpstreamUnavailable,
    async_retrying,
    retrying,
    with_retries,
)


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def fail() -> None:
    raise UpstreamUnavailable()


def test_circuit_closed_open_half_open_closed() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=3, reset_timeout_s=10.0, clock=clock)
    for _ in range(2):
        with pytest.raises(UpstreamUnavailable):
            breaker.call(fail)
    assert breaker.state is CircuitState.CLOSED
    with pytest.raises(UpstreamUnavailable):
        breaker.call(fail)
    assert breaker.state is CircuitState.OPEN

    calls = []
    clock.now += 4.0
    with pytest.raises(CircuitOpen) as caught:
        breaker.call(lambda: calls.append(1))
    assert calls == []  # an open circuit does not call through
    assert caught.value.retry_after == pytest.approx(6.0)

    clock.now += 6.0
    assert breaker.state is CircuitState.HALF_OPEN
    assert breaker.call(lambda: "trial") == "trial"
    assert breaker.state is CircuitState.CLOSED
    stats = breaker.stats()
    assert (stats.consecutive_failures, stats.times_opened, stats.rejected) == (0, 1, 1)


def test_half_open_admits_one_trial_and_a_failed_trial_reopens() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout_s=5.0, clock=clock)
    with pytest.raises(UpstreamUnavailable):
        breaker.call(fail)
    clock.now += 5.0
    breaker.before_call()  # the trial is in flight
    with pytest.raises(CircuitOpen):
        breaker.call(lambda: "second caller")
    breaker.record_failure()
    assert breaker.state is CircuitState.OPEN
    clock.now += 4.9
    assert breaker.state is CircuitState.OPEN  # the reset timeout restarted at the failure
    clock.now += 0.1
    assert breaker.call(lambda: 1) == 1
    assert breaker.stats().times_opened == 2


def test_client_errors_do_not_count_against_the_upstream() -> None:
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout_s=10.0, clock=Clock())

    def bad_request() -> None:
        raise InvalidInput("the upload is not an image")

    for _ in range(5):
        with pytest.raises(InvalidInput):
            breaker.call(bad_request)
    assert breaker.state is CircuitState.CLOSED


async def test_async_calls_and_connection_errors_open_the_circuit() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout_s=1.0, clock=clock)

    async def refuse() -> None:
        raise httpx.ConnectError("connection refused")

    for _ in range(2):
        with pytest.raises(httpx.ConnectError):
            await breaker.call_async(refuse)
    with pytest.raises(CircuitOpen):
        await breaker.call_async(refuse)
    clock.now += 1.0

    async def answer() -> str:
        return "ok"

    assert await breaker.call_async(answer) == "ok"
    assert breaker.state is CircuitState.CLOSED


def test_retries_stop_at_their_limit_and_reraise_the_error() -> None:
    waits: list[float] = []
    attempts: list[int] = []

    def always_busy() -> None:
        attempts.append(1)
        raise Overloaded()

    policy = retrying(attempts=4, backoff_s=0.5, max_backoff_s=2.0, sleep=waits.append)
    with pytest.raises(Overloaded):
        policy(always_busy)
    assert len(attempts) == 4
    assert len(waits) == 3
    assert all(0.0 <= w <= 2.0 for w in waits)


def test_retries_honour_retry_after() -> None:
    waits: list[float] = []
    attempts: list[int] = []

    def limited() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise RateLimited(retry_after=7.0)
        return "through"

    policy = retrying(attempts=5, backoff_s=0.1, max_backoff_s=1.0, sleep=waits.append)
    assert policy(limited) == "through"
    assert waits == [7.0, 7.0]  # backoff alone would wait at most 1 s


def test_only_retryable_errors_are_retried() -> None:
    waits: list[float] = []
    for error in (
        InvalidInput(),
        CircuitOpen(retry_after=1.0),
        RateLimited(retry_after=3600.0),  # beyond max_retry_after_s: give up now
        ValueError("a bug"),
    ):
        attempts: list[int] = []

        def raise_it(exc: Exception = error, log: list[int] = attempts) -> None:
            log.append(1)
            raise exc

        with pytest.raises(type(error)):
            retrying(attempts=3, sleep=waits.append)(raise_it)
        assert len(attempts) == 1, error
    assert waits == []


async def test_async_retries_connection_errors_with_injected_sleep() -> None:
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    attempts: list[int] = []

    async def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise httpx.ConnectError("refused")
        return "ok"

    policy = async_retrying(attempts=3, backoff_s=0.2, max_backoff_s=5.0, sleep=record)
    assert await policy(flaky) == "ok"
    assert len(waits) == 2


async def test_decorator_wraps_sync_and_async_functions() -> None:
    counts = {"sync": 0, "async": 0}

    @with_retries(attempts=3, backoff_s=0.0)
    def sync_call() -> str:
        counts["sync"] += 1
        if counts["sync"] < 2:
            raise Overloaded()
        return "sync ok"

    @with_retries(attempts=2, backoff_s=0.0)
    async def async_call() -> str:
        counts["async"] += 1
        raise UpstreamUnavailable()

    assert sync_call() == "sync ok"
    with pytest.raises(UpstreamUnavailable):
        await async_call()
    assert counts == {"sync": 2, "async": 2}
