"""The store: one database and the repositories over it, built from the settings.

Example::

    >>> from amulet_ai.config import Settings
    >>> store = Store.from_settings(Settings(_env_file=None, database_url="sqlite://"))
    >>> store.prepare()  # SQLite: migrate to the newest schema
    >>> store.keys.any_active()
    False
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from amulet_ai.config import Settings
from amulet_ai.store import migrate
from amulet_ai.store.collection import CollectionRepository
from amulet_ai.store.database import Database
from amulet_ai.store.history import HistoryRepository
from amulet_ai.store.keys import KeyRepository
from amulet_ai.store.pieces import PieceRepository
from amulet_ai.store.types import TypeRepository

logger = logging.getLogger(__name__)


class Store:
    """Keys, history, pieces and enrolled types over one :class:`Database`."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.keys = KeyRepository(db)
        self.history = HistoryRepository(db)
        self.pieces = PieceRepository(db)
        self.types = TypeRepository(db)
        self.collection = CollectionRepository(db)

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        return cls(Database(settings.database, timeout_s=settings.database_timeout_s))

    def prepare(self) -> None:
        """On SQLite, migrate to the newest schema (PostgreSQL: ``db upgrade`` does it)."""
        if self.db.is_sqlite:
            migrate.upgrade(self.db)
            logger.info("database %s at revision %s", self.db.display_url, migrate.current(self.db))

    def backup(self, target: Path) -> None:
        """Copy a SQLite database to ``target`` while it is in use (SQLite online backup).

        Raises:
            ValueError: the database is not SQLite (use ``pg_dump`` for PostgreSQL).
        """
        if not self.db.is_sqlite:
            raise ValueError(
                "db backup copies SQLite databases only; for PostgreSQL run "
                "pg_dump --format=custom --file FILE DBNAME"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        raw = self.db.engine.raw_connection()
        try:
            source = raw.driver_connection
            assert isinstance(source, sqlite3.Connection)
            with sqlite3.connect(target) as dest:
                source.backup(dest)
            dest.close()
        finally:
            raw.close()

    def close(self) -> None:
        self.db.dispose()
