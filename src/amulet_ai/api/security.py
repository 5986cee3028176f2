"""API keys, the admin key and rate limits.

* API keys (``X-API-Key``): several may be configured; a presented key is compared with
  every configured one in constant time (:func:`hmac.compare_digest`, no early exit).
  Missing: 401 ``unauthorized``; wrong: 403 ``forbidden``. With none configured the API
  is open (a warning is logged at start).
* The admin key (``X-Admin-Key``) guards ``/v1/admin``. With no admin key configured the
  admin routes answer 403 ``forbidden`` ("admin routes are disabled").
* Rate limits, with the ``limits`` library's moving window: per API key, or per client IP
  when anonymous; a key used through a trusted proxy (``AMULET_FORWARDED_ALLOW_IPS``, the
  page) counts per key and forwarded client address. Over the limit: 429 ``rate_limited``
  with ``Retry-After``; every limited response carries ``RateLimit-Limit``,
  ``RateLimit-Remaining`` and ``RateLimit-Reset``. The storage is in-process memory unless
  another ``limits`` storage is passed in (Redis, shared by several processes; sync or
  asyncio storages both work).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from limits import parse, strategies
from limits.aio import storage as async_storage
from limits.aio import strategies as async_strategies
from limits.storage import Storage
from pydantic import SecretStr

from amulet_ai.errors import Forbidden, RateLimited, Unauthorized


def _fingerprint(key: bytes) -> str:
    # Rate-limit buckets are named after a digest, so no key is ever stored or logged.
    return hashlib.sha256(key).hexdigest()[:16]


class ApiKeys:
    """The configured API keys.

    Example::

        >>> keys = ApiKeys([SecretStr("k1"), SecretStr("k2")])
        >>> keys.identify("k2").startswith("key:")
        True
        >>> ApiKeys([]).identify(None) is None  # open: no key needed
        True
    """

    def __init__(self, keys: Sequence[SecretStr]) -> None:
        self._keys = [key.get_secret_value().encode("utf-8") for key in keys]
        self._names = [f"key:{_fingerprint(key)}" for key in self._keys]

    @property
    def required(self) -> bool:
        """True when keys are configured (and so required)."""
        return bool(self._keys)

    def identify(self, presented: str | None) -> str | None:
        """The caller's rate-limit identity for ``presented``; None when the API is open.

        Raises:
            Unauthorized: keys are configured and none was sent.
            Forbidden: the key sent matches none of them.
        """
        if not self._keys:
            return None
        if not presented:
            raise Unauthorized()
        candidate = presented.encode("utf-8")
        match: str | None = None
        for key, name in zip(self._keys, self._names, strict=True):
            if hmac.compare_digest(candidate, key):
                match = name
        if match is None:
            raise Forbidden("The API key is not valid.")
        return match


def check_admin_key(admin_key: SecretStr | None, presented: str | None) -> None:
    """Allow an admin call, or raise.

    Raises:
        Forbidden: no admin key is configured (admin routes are off), or the key is wrong.
        Unauthorized: no ``X-Admin-Key`` was sent.
    """
    if admin_key is None or not admin_key.get_secret_value():
        raise Forbidden("Admin routes are disabled: no admin key is configured.")
    if not presented:
        raise Unauthorized("An admin key is required in the X-Admin-Key header.")
    if not hmac.compare_digest(
        presented.encode("utf-8"), admin_key.get_secret_value().encode("utf-8")
    ):
        raise Forbidden("The admin key is not valid.")


@dataclass(frozen=True, slots=True)
class RateLimitVerdict:
    """Whether a hit was allowed, and the ``RateLimit-*`` headers that describe it."""

    allowed: bool
    limit: int
    remaining: int
    reset_s: int

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_s),
        }


class RateLimiter:
    """A moving-window limit per identity; ``limit`` in limits notation ("120/minute").

    An empty ``limit`` turns limiting off. The default storage is ``limits``' asyncio
    in-memory one (per process). A synchronous ``limits`` storage (the Redis one shared by
    several processes) is called on a worker thread, so a slow network never stalls the
    event loop.

    Example::

        >>> import asyncio
        >>> async def three_hits():
        ...     limiter = RateLimiter("2/minute")
        ...     return [(await limiter.hit("ip:1")).allowed for _ in range(3)]
        >>> asyncio.run(three_hits())
        [True, True, False]
    """

    def __init__(self, limit: str, storage: Storage | async_storage.Storage | None = None) -> None:
        self.item = parse(limit) if limit.strip() else None
        self.storage = storage if storage is not None else async_storage.MemoryStorage()
        self._async: async_strategies.MovingWindowRateLimiter | None = None
        self._sync: strategies.MovingWindowRateLimiter | None = None
        if isinstance(self.storage, async_storage.Storage):
            self._async = async_strategies.MovingWindowRateLimiter(self.storage)
        else:
            self._sync = strategies.MovingWindowRateLimiter(self.storage)

    @property
    def enabled(self) -> bool:
        return self.item is not None

    def _verdict(self, allowed: bool, reset_time: float, remaining: int) -> RateLimitVerdict:
        assert self.item is not None
        reset_s = max(0, math.ceil(reset_time - time.time()))
        return RateLimitVerdict(allowed, self.item.amount, max(0, remaining), reset_s)

    def _hit_sync(self, identity: str) -> RateLimitVerdict:
        assert self.item is not None and self._sync is not None
        allowed = self._sync.hit(self.item, identity)
        stats = self._sync.get_window_stats(self.item, identity)
        return self._verdict(allowed, stats.reset_time, stats.remaining)

    async def hit(self, identity: str) -> RateLimitVerdict:
        """Count one request for ``identity``."""
        if self.item is None:
            return RateLimitVerdict(True, 0, 0, 0)
        if self._async is None:
            return await asyncio.to_thread(self._hit_sync, identity)
        allowed = await self._async.hit(self.item, identity)
        stats = await self._async.get_window_stats(self.item, identity)
        return self._verdict(allowed, stats.reset_time, stats.remaining)

    @staticmethod
    def refuse(verdict: RateLimitVerdict) -> RateLimited:
        """The 429 error for a refused hit, ``Retry-After`` set to the window's reset."""
        return RateLimited(
            f"Rate limit of {verdict.limit} requests exceeded; retry in {verdict.reset_s} s.",
            retry_after=max(1, verdict.reset_s),
        )
