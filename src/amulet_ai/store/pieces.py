"""A collector's own pieces: photos, a name, notes, the answer they got, a confirmed type.

Scoped to the owner like :mod:`amulet_ai.store.history`; each write is one transaction.

Example::

    >>> from amulet_ai.store.database import Database
    >>> from amulet_ai.store.images import keep_photo
    >>> from amulet_ai.store.migrate import upgrade
    >>> import io; from PIL import Image
    >>> db = Database("sqlite://"); upgrade(db)
    >>> buf = io.BytesIO(); Image.new("RGB", (64, 64)).save(buf, "PNG")
    >>> pieces = PieceRepository(db)
    >>> made = pieces.create("ann", name="Grandfather's", front=keep_photo(buf.getvalue()),
    ...                      result={"top1": {"class_id": "waek_man"}}, model=("m", "1"))
    >>> pieces.update("ann", made.id, notes="From Ayutthaya").notes
    'From Ayutthaya'
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from amulet_ai.errors import NotFound
from amulet_ai.store.database import Database
from amulet_ai.store.history import Page, Side, Size, add_photo, photo_bytes
from amulet_ai.store.images import KeptPhoto
from amulet_ai.store.keys import ensure_owner
from amulet_ai.store.models import Photo, Piece, utcnow

# Passed as ``confirmed_class_id`` to leave it as it is (None clears it).
UNCHANGED: Any = object()


@dataclass(frozen=True, slots=True)
class PieceRecord:
    """One piece as the API shows it."""

    id: int
    name: str
    notes: str
    created_at: datetime
    updated_at: datetime
    model_name: str
    model_version: str
    predicted_class_id: str
    confirmed_class_id: str | None
    result: dict[str, Any]
    photos: tuple[Side, ...]


def _record(row: Piece) -> PieceRecord:
    return PieceRecord(
        id=row.id,
        name=row.name,
        notes=row.notes,
        created_at=row.created_at,
        updated_at=row.updated_at,
        model_name=row.model_name,
        model_version=row.model_version,
        predicted_class_id=row.predicted_class_id,
        confirmed_class_id=row.confirmed_class_id,
        result=row.result,
        photos=("front", "back") if row.back_photo_id is not None else ("front",),
    )


class PieceRepository:
    """Create, list, read, update and delete an owner's pieces."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self,
        owner: str,
        *,
        name: str,
        front: KeptPhoto,
        result: dict[str, Any],
        model: tuple[str, str],
        back: KeptPhoto | None = None,
        notes: str = "",
        confirmed_class_id: str | None = None,
    ) -> PieceRecord:
        """Store a new piece with its photos in one transaction."""
        with self.db.write() as session:
            ensure_owner(session, owner)
            row = Piece(
                owner=owner,
                name=name,
                notes=notes,
                front_photo_id=add_photo(session, owner, front),
                back_photo_id=add_photo(session, owner, back) if back else None,
                model_name=model[0],
                model_version=model[1],
                predicted_class_id=result["top1"]["class_id"],
                result=result,
                confirmed_class_id=confirmed_class_id,
            )
            session.add(row)
            session.flush()
            return _record(row)

    def _row(self, session: Session, owner: str, piece_id: int, *, lock: bool = False) -> Piece:
        query = select(Piece).where(Piece.id == piece_id, Piece.owner == owner)
        if lock:
            query = query.with_for_update()
        row = session.scalar(query)
        if row is None:
            raise NotFound("No such piece.")
        return row

    def page(self, owner: str, *, limit: int = 20, before: int | None = None) -> Page[PieceRecord]:
        """``owner``'s pieces newest first, at most ``limit``, with ids below ``before``."""
        query = select(Piece).where(Piece.owner == owner)
        if before is not None:
            query = query.where(Piece.id < before)
        query = query.order_by(Piece.id.desc()).limit(limit + 1)
        with self.db.read() as session:
            rows = list(session.scalars(query))
        items = [_record(row) for row in rows[:limit]]
        return Page(items, items[-1].id if len(rows) > limit and items else None)

    def get(self, owner: str, piece_id: int) -> PieceRecord:
        with self.db.read() as session:
            return _record(self._row(session, owner, piece_id))

    def update(
        self,
        owner: str,
        piece_id: int,
        *,
        name: str | None = None,
        notes: str | None = None,
        confirmed_class_id: str | None = UNCHANGED,
    ) -> PieceRecord:
        """Change the name, the notes or the confirmed type; what is not given stays."""
        with self.db.write() as session:
            row = self._row(session, owner, piece_id, lock=True)
            if name is not None:
                row.name = name
            if notes is not None:
                row.notes = notes
            if confirmed_class_id is not UNCHANGED:
                row.confirmed_class_id = confirmed_class_id
            row.updated_at = utcnow()
            session.flush()
            return _record(row)

    def delete(self, owner: str, piece_id: int) -> None:
        """Delete a piece with its photos."""
        with self.db.write() as session:
            row = self._row(session, owner, piece_id, lock=True)
            photo_ids = [p for p in (row.front_photo_id, row.back_photo_id) if p is not None]
            session.delete(row)
            session.flush()
            session.execute(delete(Photo).where(Photo.id.in_(photo_ids)))

    def photo(self, owner: str, piece_id: int, side: Side, size: Size) -> bytes:
        with self.db.read() as session:
            row = self._row(session, owner, piece_id)
            photo_id = row.front_photo_id if side == "front" else row.back_photo_id
            return photo_bytes(session, owner, photo_id, size)
