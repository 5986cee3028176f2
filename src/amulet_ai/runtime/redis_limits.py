"""Rate-limit counters in Redis for every API process, in memory while Redis is down.

:class:`FailoverRedisStorage` is a ``limits`` storage: any ``limits`` strategy (moving
window, fixed window, sliding window counter) runs on it unchanged. While the
:class:`~amulet_ai.runtime.redis_link.RedisLink` is up, each call goes to ``limits``' own
Redis storage (its Lua scripts, over the link's connection pool with its short timeouts),
so N processes count against one shared limit. A Redis failure marks the link down and the
call, and the calls after it, are counted by an in-process ``MemoryStorage`` instead: each
process then limits on its own until Redis answers again, and never fails a request.

Example::

    >>> from limits import parse
    >>> from limits.strategies import MovingWindowRateLimiter
    >>> link = RedisLink("redis://127.0.0.1:6379/0"); link.start()   # doctest: +SKIP
    >>> limiter = MovingWindowRateLimiter(rate_limit_storage(link))   # doctest: +SKIP
    >>> limiter.hit(parse("10/minute"), "client-key")                 # doctest: +SKIP
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import redis
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.storage.base import MovingWindowSupport, SlidingWindowCounterSupport

from amulet_ai.runtime.redis_link import REDIS_FAILURES, RedisLink

R = TypeVar("R")

KEY_PREFIX = "amulet:ratelimit"


class FailoverRedisStorage(Storage, MovingWindowSupport, SlidingWindowCounterSupport):
    """A ``limits`` storage over Redis that falls back to memory while the link is down."""

    STORAGE_SCHEME = None

    def __init__(self, link: RedisLink, *, key_prefix: str = KEY_PREFIX) -> None:
        super().__init__()
        self.link = link
        self.redis = RedisStorage(link.url, connection_pool=link.pool, key_prefix=key_prefix)
        self.memory = MemoryStorage()

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return redis.RedisError

    def _route(self, call: Callable[[Storage], R]) -> R:
        if self.link.usable():
            try:
                return call(self.redis)
            except REDIS_FAILURES as exc:
                self.link.mark_down(exc)
        return call(self.memory)

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        return self._route(lambda s: s.incr(key, expiry, amount))

    def get(self, key: str) -> int:
        return self._route(lambda s: s.get(key))

    def get_expiry(self, key: str) -> float:
        return self._route(lambda s: s.get_expiry(key))

    def check(self) -> bool:
        """True when Redis answers; the fallback is always healthy, so this reports sharing."""
        return self.link.usable() and self.redis.check()

    def reset(self) -> int | None:
        self.memory.reset()
        return self._route(lambda s: s.reset())

    def clear(self, key: str) -> None:
        self.memory.clear(key)
        self._route(lambda s: s.clear(key))

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        return self._route(lambda s: _moving(s).acquire_entry(key, limit, expiry, amount))

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        return self._route(lambda s: _moving(s).get_moving_window(key, limit, expiry))

    def acquire_sliding_window_entry(
        self, key: str, limit: int, expiry: int, amount: int = 1
    ) -> bool:
        return self._route(
            lambda s: _sliding(s).acquire_sliding_window_entry(key, limit, expiry, amount)
        )

    def get_sliding_window(self, key: str, expiry: int) -> tuple[int, float, int, float]:
        return self._route(lambda s: _sliding(s).get_sliding_window(key, expiry))

    def clear_sliding_window(self, key: str, expiry: int) -> None:
        self._route(lambda s: _sliding(s).clear_sliding_window(key, expiry))


def _moving(storage: Storage) -> MovingWindowSupport:
    assert isinstance(storage, MovingWindowSupport)
    return storage


def _sliding(storage: Storage) -> SlidingWindowCounterSupport:
    assert isinstance(storage, SlidingWindowCounterSupport)
    return storage


def rate_limit_storage(link: RedisLink | None) -> Storage:
    """The storage the API's limiter runs on: shared through ``link``, else in memory."""
    if link is None:
        return MemoryStorage()
    return FailoverRedisStorage(link)
