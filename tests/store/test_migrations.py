"""Migrations: from empty to head, one step down and up again, and in step with the models."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from amulet_ai.store import Database, current, downgrade, head, upgrade
from amulet_ai.store.models import Base


def schema(db: Database) -> dict[str, Any]:
    """Tables with their columns, indexes, foreign keys and unique constraints."""
    insp = inspect(db.engine)
    out: dict[str, Any] = {}
    for table in sorted(insp.get_table_names()):
        out[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(table)
            ],
            "indexes": sorted(
                (i["name"], tuple(i["column_names"])) for i in insp.get_indexes(table)
            ),
            "fks": sorted(
                (f["name"], tuple(f["constrained_columns"]), f["referred_table"])
                for f in insp.get_foreign_keys(table)
            ),
            "unique": sorted(u["name"] or "" for u in insp.get_unique_constraints(table)),
        }
    return out


def test_upgrade_from_empty_creates_every_table(database_url: str) -> None:
    db = Database(database_url)
    assert current(db) is None
    upgrade(db)
    assert current(db) == head()
    assert set(schema(db)) == set(Base.metadata.tables) | {"alembic_version"}
    db.dispose()


def test_downgrade_one_step_and_upgrade_again_leaves_the_same_schema(database_url: str) -> None:
    db = Database(database_url)
    upgrade(db)
    before = schema(db)
    downgrade(db, "-1")
    assert current(db) != head()
    assert set(schema(db)) < set(before)
    upgrade(db)
    assert schema(db) == before
    downgrade(db, "base")
    assert set(schema(db)) == {"alembic_version"}
    db.dispose()


def test_the_migrations_match_the_models(database_url: str) -> None:
    db = Database(database_url)
    upgrade(db)
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []
    db.dispose()


def test_processes_upgrading_at_once_all_succeed(database_url: str) -> None:
    code = (
        "import sys; from amulet_ai.store import Database, upgrade; upgrade(Database(sys.argv[1]))"
    )
    runs = [
        subprocess.Popen([sys.executable, "-c", code, database_url], stderr=subprocess.PIPE)
        for _ in range(3)
    ]
    errors = [run.communicate(timeout=60)[1].decode() for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], errors
    db = Database(database_url)
    assert current(db) == head()
    db.dispose()
