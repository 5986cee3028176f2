"""An owner's photos that ``/v1/similar`` searches: pieces, history items, enrolled types.

Each photo is listed with what it belongs to (``kind`` and the item's id, and the side of
a piece or a history item), the class it stands for, and its embedding for one model when
it has one. The class is a piece's confirmed class, else the one it was classified as; a
history item's class as corrected by its feedback, else the one it was classified as; an
enrolled type's own id (``enrolled_<id>``); none where the answer was "not a known type"
(and nothing confirmed or corrected) or the feedback named no class. Photos saved
before they had an embedding (pieces and history items keep none when they are saved, and
every photo after a model change) are listed as missing; the caller embeds them and
stores the vectors with :meth:`CollectionRepository.put_embeddings`.

Example::

    >>> from amulet_ai.store.database import Database
    >>> from amulet_ai.store.migrate import upgrade
    >>> db = Database("sqlite://"); upgrade(db)
    >>> CollectionRepository(db).vectors("ann", "m").photo_ids
    []
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from sqlalchemy import Subquery, case, func, literal, select, union_all

from amulet_ai.store.database import Database
from amulet_ai.store.models import (
    EnrolledType,
    Feedback,
    HistoryItem,
    Photo,
    PhotoEmbedding,
    Piece,
    TypePhoto,
)
from amulet_ai.store.types import put_embedding

Kind = Literal["piece", "history", "type"]
# The class id of an enrolled type: this prefix and the type's row id.
ENROLLED_PREFIX = "enrolled_"


@dataclass(frozen=True, slots=True)
class PhotoRef:
    """What a photo belongs to, and the class it stands for (None: not a known type)."""

    kind: Kind
    item_id: int
    side: str | None
    photo_id: int
    class_id: str | None = None


@dataclass(frozen=True, slots=True)
class CollectionVectors:
    """The embedded photos of an owner (row ``i`` of ``vectors`` is ``refs[i]``) and the
    ids of photos still without an embedding for the model."""

    refs: list[PhotoRef]
    vectors: np.ndarray
    missing: list[int]

    @property
    def photo_ids(self) -> list[int]:
        return [r.photo_id for r in self.refs]


class CollectionRepository:
    """Reads an owner's searchable photos and stores their embeddings."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def _refs(self, owner: str) -> Subquery:
        piece_class = func.coalesce(
            Piece.confirmed_class_id,
            case(
                (Piece.result[("unknown", "is_unknown")].as_boolean(), None),
                else_=Piece.predicted_class_id,
            ),
        )
        history_class = case(
            (Feedback.correct.is_(False), Feedback.class_id),
            (HistoryItem.is_unknown, None),
            else_=HistoryItem.top1_class_id,
        )
        parts: list[Any] = []
        items = (("piece", Piece, piece_class), ("history", HistoryItem, history_class))
        for kind, model, class_id in items:
            for side, column in (("front", model.front_photo_id), ("back", model.back_photo_id)):
                query = select(
                    literal(kind).label("kind"),
                    model.id.label("item_id"),
                    literal(side).label("side"),
                    column.label("photo_id"),
                    class_id.label("class_id"),
                ).where(model.owner == owner, column.is_not(None))
                if model is HistoryItem:
                    query = query.outerjoin(Feedback, Feedback.history_id == HistoryItem.id)
                parts.append(query)
        parts.append(
            select(
                literal("type").label("kind"),
                TypePhoto.type_id.label("item_id"),
                literal(None).label("side"),
                TypePhoto.photo_id.label("photo_id"),
                literal(None).label("class_id"),  # its own id, given below
            )
            .join(EnrolledType, EnrolledType.id == TypePhoto.type_id)
            .where(EnrolledType.owner == owner)
        )
        return union_all(*parts).subquery()

    def version(self, owner: str, model: str) -> tuple[int, int, int, int]:
        """Changes whenever a photo is added, removed or embedded: (photos, embedded,
        sum of ids, max id)."""
        refs = self._refs(owner)
        embedded = func.count(PhotoEmbedding.photo_id)
        query = select(
            func.count(), embedded, func.coalesce(func.sum(refs.c.photo_id), 0),
            func.coalesce(func.max(refs.c.photo_id), 0),
        ).select_from(refs).outerjoin(
            PhotoEmbedding,
            (PhotoEmbedding.photo_id == refs.c.photo_id) & (PhotoEmbedding.model == model),
        )  # fmt: skip
        with self.db.read() as session:
            row = session.execute(query).one()
        return int(row[0]), int(row[1]), int(row[2]), int(row[3])

    def vectors(self, owner: str, model: str) -> CollectionVectors:
        """Every searchable photo of ``owner``, with its embedding for ``model``."""
        refs = self._refs(owner)
        query = (
            select(
                refs.c.kind,
                refs.c.item_id,
                refs.c.side,
                refs.c.photo_id,
                refs.c.class_id,
                PhotoEmbedding.model,
                PhotoEmbedding.vector,
            )  # fmt: skip
            .outerjoin(PhotoEmbedding, PhotoEmbedding.photo_id == refs.c.photo_id)
            .order_by(refs.c.photo_id)
        )
        found: list[PhotoRef] = []
        vectors: list[np.ndarray] = []
        missing: list[int] = []
        with self.db.read() as session:
            for kind, item_id, side, photo_id, class_id, tag, vector in session.execute(query):
                if tag != model or vector is None:
                    missing.append(photo_id)
                    continue
                if kind == "type":
                    class_id = f"{ENROLLED_PREFIX}{item_id}"
                found.append(PhotoRef(kind, item_id, side, photo_id, class_id))
                vectors.append(np.frombuffer(vector, dtype="<f4"))
        matrix = np.stack(vectors) if vectors else np.zeros((0, 0), np.float32)
        return CollectionVectors(found, matrix, missing)

    def full_jpegs(self, photo_ids: Sequence[int]) -> dict[int, bytes]:
        """The kept JPEGs of photos by id (ids found through an owner's query)."""
        query = select(Photo.id, Photo.full_jpeg).where(Photo.id.in_(list(photo_ids)))
        with self.db.read() as session:
            return dict(session.execute(query).all())

    def put_embeddings(self, model: str, embeddings: dict[int, np.ndarray]) -> None:
        """Store embeddings of photos by id, in one transaction."""
        with self.db.write() as session:
            for photo_id, embedding in embeddings.items():
                put_embedding(session, photo_id, model, embedding)
