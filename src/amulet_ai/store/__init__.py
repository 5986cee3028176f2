"""Saved work: owners and API keys, history, feedback and pieces, in a real database.

SQLAlchemy 2 models (:mod:`~amulet_ai.store.models`) and Alembic migrations shipped in the
package (:mod:`~amulet_ai.store.migrate`); SQLite by default (WAL, busy timeout),
PostgreSQL at scale. Every call blocks: the API runs them on worker threads.

Example::

    >>> from amulet_ai.store import Database, Store, upgrade
    >>> store = Store(Database("sqlite://")); upgrade(store.db)
    >>> store.history.page("ann").items
    []
"""

from amulet_ai.store.database import Database
from amulet_ai.store.export import export_feedback
from amulet_ai.store.history import FeedbackRecord, HistoryRecord, HistoryRepository, Page
from amulet_ai.store.images import KeptPhoto, keep_photo
from amulet_ai.store.keys import SCOPES, KeyInfo, KeyRepository, NewKey, Principal
from amulet_ai.store.migrate import current, downgrade, head, upgrade
from amulet_ai.store.pieces import UNCHANGED, PieceRecord, PieceRepository
from amulet_ai.store.store import Store

__all__ = [
    "SCOPES",
    "UNCHANGED",
    "Database",
    "FeedbackRecord",
    "HistoryRecord",
    "HistoryRepository",
    "KeptPhoto",
    "KeyInfo",
    "KeyRepository",
    "NewKey",
    "Page",
    "PieceRecord",
    "PieceRepository",
    "Principal",
    "Store",
    "current",
    "downgrade",
    "export_feedback",
    "head",
    "keep_photo",
    "upgrade",
]
