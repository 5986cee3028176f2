"""State that several API processes share through Redis, when ``AMULET_REDIS_URL`` is set.

:func:`build_shared_state` makes, from the settings, the result store and the rate-limit
storage that :class:`~amulet_ai.api.state.ServingState` takes: a
:class:`~amulet_ai.runtime.redis_cache.RedisResultCache` over the in-process store the
settings describe (which serves while Redis is down) and a
:class:`~amulet_ai.runtime.redis_limits.FailoverRedisStorage`. Nothing touches the network
until :meth:`SharedState.start` (in the lifespan); a Redis that is absent then, or goes
later, leaves the API serving from in-process state with ``/health`` "degraded".

Example::

    >>> from amulet_ai.config import Settings
    >>> build_shared_state(Settings(redis_url=None)) is None
    True
    >>> shared = build_shared_state(Settings(redis_url="redis://127.0.0.1:6379/0"))
    >>> shared.status()["status"]  # not started yet
    'degraded'
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from amulet_ai.config import Settings
from amulet_ai.runtime.cache import ByteBudgetCache
from amulet_ai.runtime.redis_cache import RedisResultCache
from amulet_ai.runtime.redis_limits import FailoverRedisStorage
from amulet_ai.runtime.redis_link import RedisLink
from amulet_ai.serving.result_cache import ResultStore, build_result_store


def _encode_text(text: str) -> bytes:
    return text.encode("utf-8")


def _decode_text(data: bytes) -> str:
    return data.decode("utf-8")


@dataclass(slots=True)
class SharedState:
    """The Redis link and the two stores built on it."""

    link: RedisLink
    result_store: ResultStore | None
    rate_limit_storage: FailoverRedisStorage

    async def start(self) -> None:
        """Connect (one ping, off the event loop); down is reported, not raised."""
        await asyncio.to_thread(self.link.start)

    async def stop(self) -> None:
        await asyncio.to_thread(self.link.close)

    def status(self) -> dict[str, Any]:
        """``{"backend": "redis", "status": "ok"|"degraded", "reason": ...}`` for /health."""
        return self.link.status()


def build_shared_state(settings: Settings) -> SharedState | None:
    """The shared stores for ``settings.redis_url``; None when it is unset."""
    if not settings.redis_url:
        return None
    link = RedisLink(
        settings.redis_url, timeout_s=settings.redis_timeout_s, retry_s=settings.redis_retry_s
    )
    local = build_result_store(settings)
    store: ResultStore | None = None
    if isinstance(local, ByteBudgetCache):
        # Verdicts are already compact JSON text: stored in Redis as they are.
        store = RedisResultCache[str, str](
            link, local, ttl_s=settings.cache_ttl_s, encode=_encode_text, decode=_decode_text
        )
    return SharedState(link, store, FailoverRedisStorage(link))
