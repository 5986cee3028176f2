"""The app's link to its database: opened in the lifespan, checked by ``/health``.

On SQLite the schema is migrated when the app starts (``db upgrade`` does it for
PostgreSQL). A database that cannot be opened or reached does not stop the app: predictions
still answer, saved work answers 503 ``storage_unavailable``, and ``/health`` says
``degraded`` with the reason, until the database answers again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Literal

from sqlalchemy.exc import SQLAlchemyError

from amulet_ai.api.schemas import StorageHealth
from amulet_ai.config import Settings
from amulet_ai.errors import StorageUnavailable
from amulet_ai.store import Store

logger = logging.getLogger(__name__)

# /health waits this long for the database before calling it unreachable.
PING_TIMEOUT_S = 2.0


class SavedWork:
    """The store of one app, and whether it works now."""

    def __init__(self, settings: Settings) -> None:
        self.store = Store.from_settings(settings)
        self.history_mode = settings.history
        self.backend: Literal["sqlite", "postgresql"] = (
            "sqlite" if self.store.db.is_sqlite else "postgresql"
        )
        self._problem: str | None = None

    async def start(self) -> None:
        """Migrate SQLite to the newest schema; a failure is logged, not raised."""
        try:
            await asyncio.to_thread(self.store.prepare)
        except (StorageUnavailable, SQLAlchemyError, OSError) as exc:
            self._problem = f"cannot open the database: {type(exc).__name__}"
            logger.error(
                "saved work unavailable: %s (%s)", self._problem, self.store.db.display_url
            )

    async def stop(self) -> None:
        await asyncio.to_thread(self.store.close)

    async def health(self) -> StorageHealth:
        """Ping the database (bounded by :data:`PING_TIMEOUT_S`)."""
        reason: str | None = None
        try:
            await asyncio.wait_for(asyncio.to_thread(self.store.db.ping), PING_TIMEOUT_S)
        except TimeoutError:
            reason = f"the database did not answer within {PING_TIMEOUT_S:g} s"
        except StorageUnavailable:
            reason = "the database cannot be reached"
        return StorageHealth(
            backend=self.backend,
            status="unavailable" if reason else "ok",
            history=self.history_mode,
            reason=reason,
        )
