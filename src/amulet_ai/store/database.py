"""The engine and its transactions: one place that knows SQLite from PostgreSQL.

* SQLite: WAL journal (readers never wait for the writer), a busy timeout of
  ``AMULET_DATABASE_TIMEOUT_S`` (writers queue instead of failing with "database is
  locked"), foreign keys on, and ``BEGIN IMMEDIATE`` for writes so that two writers never
  both start reading and then deadlock on the upgrade to a write lock.
* PostgreSQL (``postgresql+psycopg://``): a pool with pre-ping, a connect timeout.

Every write is one transaction (:meth:`Database.write`); a database that cannot be reached
or stays locked becomes :class:`~amulet_ai.errors.StorageUnavailable` (503
``storage_unavailable``), whatever the backend said.

These calls block: the API runs them on a worker thread, never on the event loop.

Example::

    >>> db = Database("sqlite://")
    >>> with db.read() as session:
    ...     session.scalar(text("select 1"))
    1
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from amulet_ai.errors import StorageUnavailable

logger = logging.getLogger(__name__)


def safe_url(url: str | URL) -> str:
    """The URL with any password masked, for logs and messages."""
    return make_url(url).render_as_string(hide_password=True)


def _sqlite_file(url: URL) -> Path | None:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _build_engine(url: URL, timeout_s: float) -> Engine:
    if url.get_backend_name() == "sqlite":
        path = _sqlite_file(url)
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError:
                # Not fatal here: connecting will fail and report the store unavailable.
                logger.warning("cannot create the folder of %s", path)
        kwargs: dict[str, Any] = {
            "connect_args": {"timeout": timeout_s, "check_same_thread": False},
        }
        if path is None:
            # One shared connection, or each thread would see its own empty database.
            kwargs["poolclass"] = StaticPool
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine, timeout_s)
        return engine
    connect_args: dict[str, Any] = {}
    if url.get_backend_name() == "postgresql":
        connect_args["connect_timeout"] = max(1, round(timeout_s))
    return create_engine(
        url, pool_pre_ping=True, pool_size=8, max_overflow=8, connect_args=connect_args
    )


def _configure_sqlite(engine: Engine, timeout_s: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _entry: ConnectionPoolEntry) -> None:
        # The driver's own BEGIN handling is off; SQLAlchemy's begin event below emits it.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


class Database:
    """An engine and the two ways to use it: :meth:`read` and :meth:`write`."""

    def __init__(self, url: str | URL, *, timeout_s: float = 5.0) -> None:
        self.url = make_url(url)
        self.engine = _build_engine(self.url, timeout_s)
        self._reads = sessionmaker(self.engine, expire_on_commit=False)
        writer = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        self._writes = sessionmaker(writer, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    @property
    def display_url(self) -> str:
        return safe_url(self.url)

    @contextmanager
    def _session(self, *, write: bool) -> Iterator[Session]:
        try:
            with (self._writes if write else self._reads)() as session:
                if write:
                    with session.begin():
                        yield session
                else:
                    yield session
        except (OperationalError, DBAPIError) as exc:
            if isinstance(exc, DBAPIError) and not _unavailable(exc):
                raise
            logger.warning("database unavailable: %s", type(exc.orig).__name__)
            raise StorageUnavailable() from exc

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for queries; nothing it changes is committed."""
        with self._session(write=False) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        with self._session(write=True) as session:
            yield session

    def ping(self) -> None:
        """Raise :class:`StorageUnavailable` unless the database answers a query."""
        with self.read() as session:
            session.execute(text("select 1"))

    def dispose(self) -> None:
        self.engine.dispose()


def _unavailable(exc: DBAPIError) -> bool:
    # Lost connections, refused connections and locks; constraint errors are bugs or bad
    # input and must not be reported as an outage.
    return bool(exc.connection_invalidated) or isinstance(exc, OperationalError)
