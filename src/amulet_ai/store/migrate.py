"""Alembic migrations, configured in code: no ``alembic.ini``, the scripts ship in the package.

Example::

    >>> from amulet_ai.store.database import Database
    >>> db = Database("sqlite://")
    >>> upgrade(db)
    >>> current(db) == head()
    True
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from amulet_ai.store.database import Database

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(db: Database) -> Config:
    """An Alembic config that runs on ``db``'s engine (used by the commands below)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    config.attributes["database"] = db
    return config


def _run(db: Database, action: str, revision: str) -> None:
    config = alembic_config(db)
    with db.engine.begin() as connection:
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
