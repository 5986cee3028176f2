"""Alembic migrations, configured in code: no ``alembic.ini``, the scripts ship in the package.

Example::

    >>> from amulet_ai.store.database import Database
    >>> db = Database("sqlite://")
    >>> upgrade(db)
    >>> current(db) == head()
    True
"""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from amulet_ai.store.database import Database

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(db: Database) -> Config:
    """An Alembic config that runs on ``db``'s engine (used by the commands below)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    config.attributes["database"] = db
    return config


# Any constant: PostgreSQL advisory locks are named by a 64-bit number.
_MIGRATION_LOCK = 0x616D756C6574


# Alembic keeps the running migration in module globals: one at a time per process.
_ALEMBIC = threading.Lock()


def _run(db: Database, action: str, revision: str) -> None:
    config = alembic_config(db)
    # SQLite: take the write lock at BEGIN, so a second process waits, then finds it done.
    engine = db.engine.execution_options(sqlite_begin="IMMEDIATE")
    with _ALEMBIC, engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Replicas starting together migrate one after the other, not on top of each other.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)


def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (default: the newest)."""
    _run(db, "upgrade", revision)


def downgrade(db: Database, revision: str) -> None:
    """Take the schema back to ``revision`` (``-1``: one step; ``base``: empty)."""
    _run(db, "downgrade", revision)


def current(db: Database) -> str | None:
    """The revision the database is at; None when it was never migrated."""
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head() -> str:
    """The newest revision shipped with the package."""
    revision = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert revision is not None
    return revision
