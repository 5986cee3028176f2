"""An owner's saved predictions, their photos and their feedback.

Every method takes the owner and filters on it: another owner's id is not found, exactly
like an id that does not exist. Each write is one transaction.

Example::

    >>> from amulet_ai.store.database import Database
    >>> from amulet_ai.store.migrate import upgrade
    >>> db = Database("sqlite://"); upgrade(db)
    >>> history = HistoryRepository(db)
    >>> result = {"top1": {"class_id": "waek_man", "probability": 0.9},
    ...           "unknown": {"is_unknown": False}}
    >>> item = history.save("ann", result, model=("m", "1"))
    >>> history.get("ann", item).top1_class_id
    'waek_man'
    >>> history.get("bob", item)
    Traceback (most recent call last):
    ...
    amulet_ai.errors.NotFound: No such history item.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from amulet_ai.errors import NotFound
from amulet_ai.store.database import Database
from amulet_ai.store.images import KeptPhoto
from amulet_ai.store.keys import ensure_owner
from amulet_ai.store.models import Feedback, HistoryItem, Photo, utcnow

Side = Literal["front", "back"]
Size = Literal["thumb", "full"]


@dataclass(frozen=True, slots=True)
class FeedbackRecord:
    correct: bool
    class_id: str | None
    type_name: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class HistoryRecord:
    """One saved prediction as the API shows it."""

    id: int
    created_at: datetime
    model_name: str
    model_version: str
    top1_class_id: str
    top1_probability: float
    is_unknown: bool
    result: dict[str, Any]
    photos: tuple[Side, ...]
    has_back: bool
    filename: str | None
    feedback: FeedbackRecord | None


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):  # noqa: UP046 (Python 3.11 has no class Page[T] syntax)
    """One page of a list, newest first; ``next_before`` continues it (None at the end)."""

    items: list[T]
    next_before: int | None


def add_photo(session: Session, owner: str, kept: KeptPhoto) -> int:
    """Insert one kept photo for ``owner``; its id."""
    row = Photo(
        owner=owner,
        source_sha256=kept.source_sha256,
        width=kept.width,
        height=kept.height,
        full_jpeg=kept.full_jpeg,
        thumb_jpeg=kept.thumb_jpeg,
    )
    session.add(row)
    session.flush()
    return row.id


def photo_bytes(session: Session, owner: str, photo_id: int | None, size: Size) -> bytes:
    """The JPEG of a photo of ``owner``'s; NotFound when there is none."""
    if photo_id is None:
        raise NotFound("No photo is kept for this item.")
    column = Photo.thumb_jpeg if size == "thumb" else Photo.full_jpeg
    data = session.scalar(select(column).where(Photo.id == photo_id, Photo.owner == owner))
    if data is None:
        raise NotFound("No photo is kept for this item.")
    return data


def _feedback(row: Feedback | None) -> FeedbackRecord | None:
    if row is None:
        return None
    return FeedbackRecord(row.correct, row.class_id, row.type_name, row.updated_at)


def _record(row: HistoryItem, feedback: Feedback | None) -> HistoryRecord:
    photos: list[Side] = []
    if row.front_photo_id is not None:
        photos.append("front")
    if row.back_photo_id is not None:
        photos.append("back")
    return HistoryRecord(
        id=row.id,
        created_at=row.created_at,
        model_name=row.model_name,
        model_version=row.model_version,
        top1_class_id=row.top1_class_id,
        top1_probability=row.top1_probability,
        is_unknown=row.is_unknown,
        result=row.result,
        photos=tuple(photos),
        has_back=row.has_back,
        filename=row.front_filename,
        feedback=_feedback(feedback),
    )


class HistoryRepository:
    """Save, list, read, delete history items and record feedback on them."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def save(
        self,
        owner: str,
        result: dict[str, Any],
        *,
        model: tuple[str, str],
        front: KeptPhoto | None = None,
        back: KeptPhoto | None = None,
        has_back: bool = False,
        filename: str | None = None,
    ) -> int:
        """Store one prediction (and its photos, when given) in one transaction; its id."""
        top1 = result["top1"]
        with self.db.write() as session:
            ensure_owner(session, owner)
            row = HistoryItem(
                owner=owner,
                model_name=model[0],
                model_version=model[1],
                top1_class_id=top1["class_id"],
                top1_probability=float(top1["probability"]),
                is_unknown=bool(result["unknown"]["is_unknown"]),
                result=result,
                front_photo_id=add_photo(session, owner, front) if front else None,
                back_photo_id=add_photo(session, owner, back) if back else None,
                has_back=has_back or back is not None,
                front_filename=filename,
            )
            session.add(row)
            session.flush()
            item_id: int = row.id
        return item_id

    def _row(
        self, session: Session, owner: str, item_id: int, *, lock: bool = False
    ) -> HistoryItem:
        query = select(HistoryItem).where(HistoryItem.id == item_id, HistoryItem.owner == owner)
        if lock:
            # PostgreSQL: two writers on one item take turns (SQLite's writes already do).
            query = query.with_for_update()
        row = session.scalar(query)
        if row is None:
            raise NotFound("No such history item.")
        return row

    def page(
        self, owner: str, *, limit: int = 20, before: int | None = None
    ) -> Page[HistoryRecord]:
        """``owner``'s items newest first, at most ``limit``, with ids below ``before``."""
        query = select(HistoryItem, Feedback).outerjoin(
            Feedback, Feedback.history_id == HistoryItem.id
        )
        query = query.where(HistoryItem.owner == owner)
        if before is not None:
            query = query.where(HistoryItem.id < before)
        query = query.order_by(HistoryItem.id.desc()).limit(limit + 1)
        with self.db.read() as session:
            rows = list(session.execute(query))
        items = [_record(item, feedback) for item, feedback in rows[:limit]]
        more = len(rows) > limit
        return Page(items, items[-1].id if more and items else None)

    def get(self, owner: str, item_id: int) -> HistoryRecord:
        """One item of ``owner``'s; NotFound for any other id."""
        with self.db.read() as session:
            row = self._row(session, owner, item_id)
            return _record(row, session.get(Feedback, row.id))

    def delete(self, owner: str, item_id: int) -> None:
        """Delete one item of ``owner``'s with its photos and feedback."""
        with self.db.write() as session:
            row = self._row(session, owner, item_id, lock=True)
            photo_ids = [p for p in (row.front_photo_id, row.back_photo_id) if p is not None]
            session.execute(delete(Feedback).where(Feedback.history_id == row.id))
            session.delete(row)
            session.flush()
            if photo_ids:
                session.execute(delete(Photo).where(Photo.id.in_(photo_ids)))

    def photo(self, owner: str, item_id: int, side: Side, size: Size) -> bytes:
        """The JPEG of one side of an item; NotFound when no photo was kept."""
        with self.db.read() as session:
            row = self._row(session, owner, item_id)
            photo_id = row.front_photo_id if side == "front" else row.back_photo_id
            return photo_bytes(session, owner, photo_id, size)

    def set_feedback(
        self,
        owner: str,
        item_id: int,
        *,
        correct: bool,
        class_id: str | None = None,
        type_name: str | None = None,
    ) -> FeedbackRecord:
        """Record (or replace) the owner's feedback on one item."""
        with self.db.write() as session:
            row = self._row(session, owner, item_id, lock=True)
            feedback = session.get(Feedback, row.id)
            if feedback is None:
                feedback = Feedback(history_id=row.id)
                session.add(feedback)
            feedback.correct = correct
            feedback.class_id = class_id
            feedback.type_name = type_name
            feedback.updated_at = utcnow()
            session.flush()
            record = _feedback(feedback)
            assert record is not None
            return record
