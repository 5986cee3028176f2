"""A circuit breaker: stop calling an upstream that keeps failing, try again later.

States: *closed* (calls pass; consecutive failures are counted), *open* (calls fail at once
with :class:`~amulet_ai.errors.CircuitOpen`), *half-open* (after the reset timeout
one trial call passes; its success closes the circuit, its failure opens it again).

Example::

    >>> breaker = CircuitBreaker(failure_threshold=2, reset_timeout_s=15.0)
    >>> breaker.call(lambda: "ok")
    'ok'
    >>> breaker.state
    <CircuitState.CLOSED: 'closed'>
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import ParamSpec, TypeVar

import httpx

from amulet_ai.errors import AmuletError, CircuitOpen

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


class CircuitState(enum.StrEnum):
    """Where a :class:`CircuitBreaker` stands."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


def is_upstream_failure(exc: BaseException) -> bool:
    """True for errors that say the upstream is unwell: 5xx-class errors, timeouts and
    connection failures. A 4xx answer means the upstream works, so it does not count."""
    if isinstance(exc, CircuitOpen):
        return False
    if isinstance(exc, AmuletError):
        return exc.status_code >= 500
    return isinstance(exc, httpx.TransportError | ConnectionError | TimeoutError)


@dataclass(frozen=True, slots=True)
class CircuitStats:
    """Counters of one breaker."""

    state: CircuitState
    consecutive_failures: int
    times_opened: int
    rejected: int


class CircuitBreaker:
    """Closed / open / half-open breaker, thread-safe, with an injectable clock.

    Use ``call(fn, ...)``, ``await call_async(fn, ...)`` or ``with breaker: ...``. Only
    exceptions for which ``is_failure`` is true count; others pass through and count as
    a working upstream.

    Example::

        >>> now = [0.0]
        >>> breaker = CircuitBreaker(2, reset_timeout_s=10.0, clock=lambda: now[0])
        >>> def no_answer():
        ...     raise TimeoutError("upstream did not answer")
        >>> for _ in range(2):
        ...     try:
        ...         breaker.call(no_answer)
        ...     except TimeoutError:
        ...         pass
        >>> breaker.state
        <CircuitState.OPEN: 'open'>
        >>> now[0] = 10.0
        >>> breaker.state
        <CircuitState.HALF_OPEN: 'half_open'>
        >>> breaker.call(lambda: "trial ok"), breaker.state
        ('trial ok', <CircuitState.CLOSED: 'closed'>)
    """

    def __init__(
        self,
        failure_threshold: int = 5,
        reset_timeout_s: float = 15.0,
        *,
        is_failure: Callable[[BaseException], bool] = is_upstream_failure,
        clock: Callable[[], float] = time.monotonic,
        name: str = "upstream",
    ) -> None:
        if failure_threshold < 1 or reset_timeout_s <= 0:
            raise ValueError("failure_threshold must be >= 1 and reset_timeout_s > 0")
        self.failure_threshold = failure_threshold
        self.reset_timeout_s = reset_timeout_s
        self.name = name
        self._is_failure = is_failure
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_in_flight = False
        self._times_opened = 0
        self._rejected = 0

    def _current_state(self) -> CircuitState:
        if (
            self._state is CircuitState.OPEN
            and self._clock() - self._opened_at >= self.reset_timeout_s
        ):
            return CircuitState.HALF_OPEN
        return self._state

    @property
    def state(self) -> CircuitState:
        """The state now; an open circuit past its reset timeout reads as half-open."""
        with self._lock:
            return self._current_state()

    def before_call(self) -> None:
        """Admit a call or raise ``CircuitOpen``; pair it with ``record_success`` /
        ``record_failure`` / ``record_cancelled``."""
        with self._lock:
            state = self._current_state()
            if state is CircuitState.CLOSED:
                return
            if state is CircuitState.HALF_OPEN and not self._trial_in_flight:
                self._state = CircuitState.HALF_OPEN
                self._trial_in_flight = True
                logger.info("circuit %s half-open: one trial call admitted", self.name)
                return
            self._rejected += 1
            wait = max(0.0, self._opened_at + self.reset_timeout_s - self._clock())
        raise CircuitOpen(retry_after=wait, details={"circuit": self.name})

    def record_success(self) -> None:
        """The admitted call reached a working upstream."""
        with self._lock:
            if self._state is not CircuitState.CLOSED:
                logger.info("circuit %s closed", self.name)
            self._state = CircuitState.CLOSED
            self._failures = 0
            self._trial_in_flight = False

    def record_failure(self) -> None:
        """The admitted call failed in a way that counts against the upstream."""
        with self._lock:
            self._failures += 1
            if self._state is CircuitState.OPEN:
                return  # a call admitted before the circuit opened; keep the open window
            if self._state is CircuitState.HALF_OPEN or self._failures >= self.failure_threshold:
                self._state = CircuitState.OPEN
                self._opened_at = self._clock()
                self._trial_in_flight = False
                self._times_opened += 1
                logger.warning("circuit %s open after %d failures", self.name, self._failures)

    def record_cancelled(self) -> None:
        """The admitted call ended without a verdict (cancelled); free the trial slot."""
        with self._lock:
            self._trial_in_flight = False

    def _settle(self, exc: BaseException | None) -> None:
        if exc is None:
            self.record_success()
        elif not isinstance(exc, Exception):
            self.record_cancelled()
        elif self._is_failure(exc):
            self.record_failure()
        else:
            self.record_success()

    def call(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``fn`` through the breaker."""
        with self:
            return fn(*args, **kwargs)

    async def call_async(
        self, fn: Callable[P, Awaitable[R]], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """Await ``fn(...)`` through the breaker."""
        with self:
            return await fn(*args, **kwargs)

    def __enter__(self) -> CircuitBreaker:
        self.before_call()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._settle(exc)

    def reset(self) -> None:
        """Close the circuit and forget the failures."""
        self.record_success()

    def stats(self) -> CircuitStats:
        """A snapshot of state and counters."""
        with self._lock:
            return CircuitStats(
                self._current_state(), self._failures, self._times_opened, self._rejected
            )
