"""Retry policies on tenacity: exponential backoff with full jitter, ``Retry-After`` honoured.

Only retryable errors are retried: an :class:`~amulet_ai.errors.AmuletError` whose
``retryable`` is true (429, 503, 504 ...) and connection-level failures (``httpx``
transport errors, ``ConnectionError``, ``TimeoutError``). ``CircuitOpen`` is never retried:
the breaker exists to fail fast. When the error carries ``retry_after`` the wait is at
least that long; a ``retry_after`` beyond ``max_retry_after_s`` ends the retries instead.
The last error is re-raised as itself, not wrapped.

Example::

    >>> from amulet_ai.errors import Overloaded
    >>> waits = []
    >>> policy = retrying(attempts=3, backoff_s=0.1, sleep=waits.append)
    >>> calls = []
    >>> def flaky():
    ...     calls.append(1)
    ...     if len(calls) < 3:
    ...         raise Overloaded(retry_after=2.0)
    ...     return "ok"
    >>> policy(flaky), len(calls), [w >= 2.0 for w in waits]
    ('ok', 3, [True, True])
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar, cast

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from amulet_ai.errors import AmuletError, CircuitOpen

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


def is_retryable(exc: BaseException) -> bool:
    """True for errors worth another attempt (see the module docstring)."""
    if isinstance(exc, CircuitOpen):
        return False
    if isinstance(exc, AmuletError):
        return exc.retryable
    return isinstance(exc, httpx.TransportError | ConnectionError | TimeoutError)


class _WaitHonouringRetryAfter:
    """Full-jitter exponential backoff, but never shorter than the error's ``retry_after``."""

    def __init__(self, backoff_s: float, max_backoff_s: float) -> None:
        self._backoff = wait_random_exponential(multiplier=backoff_s, max=max_backoff_s)

    def __call__(self, retry_state: RetryCallState) -> float:
        wait = float(self._backoff(retry_state))
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(retry_after, int | float):
            wait = max(wait, float(retry_after))
        return wait


def _should_retry(max_retry_after_s: float) -> Callable[[BaseException], bool]:
    def predicate(exc: BaseException) -> bool:
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(retry_after, int | float) and retry_after > max_retry_after_s:
            return False
        return is_retryable(exc)

    return predicate


def _log_before_sleep(retry_state: RetryCallState) -> None:
    outcome = retry_state.outcome
    exc = outcome.exception() if outcome is not None else None
    wait = retry_state.next_action.sleep if retry_state.next_action else 0.0
    logger.warning(
        "attempt %d failed with %s; retrying in %.2f s",
        retry_state.attempt_number,
        type(exc).__name__,
        wait,
    )


def _policy_kwargs(
    attempts: int, backoff_s: float, max_backoff_s: float, max_retry_after_s: float
) -> dict[str, Any]:
    if attempts < 1:
        raise ValueError("attempts must be >= 1")
    return {
        "stop": stop_after_attempt(attempts),
        "wait": _WaitHonouringRetryAfter(backoff_s, max_backoff_s),
        "retry": retry_if_exception(_should_retry(max_retry_after_s)),
        "before_sleep": _log_before_sleep,
        "reraise": True,
    }


def retrying(
    *,
    attempts: int = 3,
    backoff_s: float = 0.5,
    max_backoff_s: float = 10.0,
    max_retry_after_s: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Retrying:
    """A synchronous tenacity policy: ``policy(fn, *args)`` or ``for attempt in policy``.

    ``attempts`` counts the first call too; ``sleep`` is injectable for tests.
    """
    return Retrying(
        sleep=sleep, **_policy_kwargs(attempts, backoff_s, max_backoff_s, max_retry_after_s)
    )


def async_retrying(
    *,
    attempts: int = 3,
    backoff_s: float = 0.5,
    max_backoff_s: float = 10.0,
    max_retry_after_s: float = 60.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> AsyncRetrying:
    """The asyncio twin of :func:`retrying`: ``await policy(coro_fn, *args)``."""
    return AsyncRetrying(
        sleep=sleep, **_policy_kwargs(attempts, backoff_s, max_backoff_s, max_retry_after_s)
    )


def with_retries(
    *,
    attempts: int = 3,
    backoff_s: float = 0.5,
    max_backoff_s: float = 10.0,
    max_retry_after_s: float = 60.0,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a function or a coroutine function with the retry policy.

    Example::

        >>> @with_retries(attempts=2, backoff_s=0.0)
        ... def fetch() -> str:
        ...     return "ok"
        >>> fetch()
        'ok'
    """

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def run_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                policy = async_retrying(
                    attempts=attempts,
                    backoff_s=backoff_s,
                    max_backoff_s=max_backoff_s,
                    max_retry_after_s=max_retry_after_s,
                )
                return await policy(fn, *args, **kwargs)

            return cast(Callable[P, R], run_async)

        @functools.wraps(fn)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            policy = retrying(
                attempts=attempts,
                backoff_s=backoff_s,
                max_backoff_s=max_backoff_s,
                max_retry_after_s=max_retry_after_s,
            )
            return policy(fn, *args, **kwargs)

        return run

    return decorate
