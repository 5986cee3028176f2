"""Who is calling: the owner behind an API key, and what that key may do.

Three kinds of key, checked in this order:

* a key of ``AMULET_API_KEYS`` (compared in constant time with each): owner ``default``,
  scopes ``predict`` and ``collection``;
* a key made with ``keys create`` (looked up by its SHA-256 in the database): its owner and
  scopes;
* no key at all: allowed only while no key exists anywhere (neither in the environment nor
  in the database, development), as owner ``local`` with ``predict`` and ``collection``;
  never with ``AMULET_ENV=production``, where every call needs a key.
  Once any key exists, no key is 401 ``unauthorized``; a key that matches nothing is 403
  ``forbidden``; a key without the scope a route needs is 403 ``forbidden`` too.
  Whether any key exists is asked of the database at most every ``recheck_s`` seconds
  (``AMULET_DATABASE_RECHECK_S``): the first key made by ``keys create``, or the last one
  revoked, changes what a call without a key gets within that time. A presented key is
  looked up on every call, so a revoked key is refused at once.

While the database cannot be reached, environment keys keep working (predictions answer);
a database key cannot be checked (503 ``storage_unavailable``), and a call without a key is
judged by the last answer the database gave to "does any key exist" (503 when it never
answered).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Final

from amulet_ai.api.security import ApiKeys
from amulet_ai.errors import Forbidden, StorageUnavailable, Unauthorized
from amulet_ai.store.keys import KeyRepository

logger = logging.getLogger(__name__)

ENV_OWNER: Final = "default"
LOCAL_OWNER: Final = "local"
USER_SCOPES: Final = frozenset({"predict", "collection"})


@dataclass(frozen=True, slots=True)
class Caller:
    """The owner a request acts for, its scopes, and its rate-limit bucket.

    Example::

        >>> caller = Caller("shop-a", frozenset({"predict"}), "key:1")
        >>> caller.require("collection")
        Traceback (most recent call last):
        ...
        amulet_ai.errors.Forbidden: This API key does not have the 'collection' scope.
    """

    owner: str
    scopes: frozenset[str]
    identity: str

    def require(self, scope: str) -> None:
        """Raise 403 ``forbidden`` unless the caller has ``scope``."""
        if scope not in self.scopes:
            raise Forbidden(
                f"This API key does not have the '{scope}' scope.", details={"scope": scope}
            )


class OwnerResolver:
    """Turns an ``X-API-Key`` header (or its absence) into a :class:`Caller`."""

    def __init__(
        self,
        env_keys: ApiKeys,
        keys: KeyRepository | None,
        *,
        allow_open: bool = True,
        recheck_s: float = 0.0,
    ) -> None:
        self._env = env_keys
        self._keys = keys
        self._allow_open = allow_open
        self._recheck_s = recheck_s
        self._keys_exist: bool | None = None
        self._asked_at = float("-inf")  # when the last answer's query began (monotonic)

    async def resolve(self, presented: str | None, client_host: str) -> Caller:
        """The caller for ``presented``; raises 401, 403 or 503 as the module says."""
        if presented:
            identity = self._env.match(presented)
            if identity is not None:
                return Caller(ENV_OWNER, USER_SCOPES, identity)
            if self._keys is not None:
                principal = await asyncio.to_thread(self._keys.authenticate, presented)
                if principal is not None:
                    return Caller(principal.owner, principal.scopes, f"key:{principal.key_id}")
            raise Forbidden("The API key is not valid.")
        if not self._allow_open or self._env.required or await self._database_keys_exist():
            raise Unauthorized()
        return Caller(LOCAL_OWNER, USER_SCOPES, f"ip:{client_host}")

    async def _database_keys_exist(self) -> bool:
        if self._keys is None:
            return False
        asked_at = time.monotonic()
        if self._keys_exist is not None and asked_at - self._asked_at < self._recheck_s:
            return self._keys_exist
        try:
            exist = await asyncio.to_thread(self._keys.any_active)
        except StorageUnavailable:
            if self._keys_exist is None:
                raise StorageUnavailable(
                    "The database cannot be reached to check whether an API key is needed."
                ) from None
            return self._keys_exist
        self._keys_exist, self._asked_at = exist, asked_at
        return exist
