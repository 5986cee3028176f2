"""One connection to Redis for the state that API processes share, and whether it is up.

The result cache (:mod:`amulet_ai.runtime.redis_cache`) and the rate-limit storage
(:mod:`amulet_ai.runtime.redis_limits`) both talk to Redis through a :class:`RedisLink`.
When a Redis call fails they report it with :meth:`RedisLink.mark_down`: the link logs one
warning, answers ``usable() == False`` so callers fall back to their in-process state
without waiting on a dead socket, and a background thread pings Redis every ``retry_s``
seconds. The first ping that succeeds makes the link usable again (one info line), and
sharing resumes. No request ever waits on a reconnect attempt.

Sockets have short timeouts and redis-py's own retries are off: a request that meets a
dead or hung Redis costs at most one ``timeout_s``, after which the link is down and
skipped. (Pooled connections that a restarted Redis closed are reopened by redis-py when
they are taken from the pool, so a restart alone does not mark the link down.)

Example (needs a Redis server)::

    >>> link = RedisLink("redis://127.0.0.1:6379/0", timeout_s=0.25)  # doctest: +SKIP
    >>> link.start()  # doctest: +SKIP
    True
    >>> link.status()  # doctest: +SKIP
    {'backend': 'redis', 'status': 'ok', 'reason': None}
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

logger = logging.getLogger(__name__)

#: Failures that mean "Redis cannot serve now" rather than "the command was wrong".
REDIS_FAILURES: tuple[type[Exception], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.OutOfMemoryError,
)


def _describe(exc: BaseException) -> str:
    """The full reason, for the log line (it names the Redis address)."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


def _public_reason(exc: BaseException) -> str:
    """The reason ``/health`` shows: the kind of failure, no address or path."""
    return f"redis unavailable ({type(exc).__name__})"


class RedisLink:
    """A Redis client with short timeouts, an up/down flag and a background reconnect.

    ``client`` is a ``redis.Redis`` over ``pool``; other users (the ``limits`` Redis storage)
    take ``pool`` so every connection shares the same timeouts. Thread-safe: API worker
    threads and the event loop call :meth:`usable` and :meth:`mark_down` concurrently.
    """

    def __init__(self, url: str, *, timeout_s: float = 0.25, retry_s: float = 2.0) -> None:
        if timeout_s <= 0 or retry_s <= 0:
            raise ValueError("timeout_s and retry_s must be positive")
        self.url = url
        self.timeout_s = timeout_s
        self.retry_s = retry_s
        self.pool: redis.ConnectionPool = redis.ConnectionPool.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
        )
        self.client: redis.Redis = redis.Redis(connection_pool=self.pool)
        self._lock = threading.Lock()
        self._up = False
        self._reason: str | None = "not connected yet"
        self._down_since: float | None = None
        self._stop = threading.Event()
        self._prober = threading.Thread(target=self._probe, name="redis-reconnect", daemon=True)

    def start(self) -> bool:
        """Ping once and start the reconnect thread; down (with the reason) if no answer.

        Returns True when Redis answered.
        """
        try:
            self.client.ping()
        except REDIS_FAILURES as exc:
            self.mark_down(exc)
        else:
            with self._lock:
                self._up, self._reason, self._down_since = True, None, None
            logger.info("redis shared state connected at %s", self._safe_url())
        if not self._prober.is_alive():
            self._prober.start()
        return self._up

    def usable(self) -> bool:
        """True while Redis is believed up; callers use their in-process state otherwise."""
        return self._up

    def mark_down(self, exc: BaseException) -> None:
        """Record that a Redis call failed; only the first failure of an outage is logged."""
        with self._lock:
            newly_down = self._up or self._down_since is None
            if newly_down:
                self._up = False
                self._reason = _public_reason(exc)
                self._down_since = time.time()
        if newly_down:
            logger.warning(
                "redis shared state unavailable, using in-process state: %s", _describe(exc)
            )

    def _probe(self) -> None:
        """Reconnect thread: while down, ping every ``retry_s`` until Redis answers."""
        while not self._stop.wait(self.retry_s):
            if self._up:
                continue
            try:
                self.client.ping()
            except REDIS_FAILURES as exc:
                logger.debug("redis still unavailable: %s", _describe(exc))
                continue
            with self._lock:
                down_for = time.time() - (self._down_since or time.time())
                self._up, self._reason, self._down_since = True, None, None
            logger.info("redis shared state back after %.1f s, sharing resumed", down_for)

    def status(self) -> dict[str, Any]:
        """What ``/health`` reports: backend, ``ok`` or ``degraded``, and why."""
        with self._lock:
            return {
                "backend": "redis",
                "status": "ok" if self._up else "degraded",
                "reason": self._reason,
            }

    def close(self) -> None:
        """Stop probing and close the connections."""
        self._stop.set()
        if self._prober.is_alive():
            self._prober.join(timeout=self.timeout_s + 1.0)
        self.pool.disconnect()

    def _safe_url(self) -> str:
        """The URL without its password, for logs."""
        kwargs = self.pool.connection_kwargs
        host = kwargs.get("host") or kwargs.get("path", "?")
        return f"{host}:{kwargs.get('port', '')}/{kwargs.get('db', 0)}"
