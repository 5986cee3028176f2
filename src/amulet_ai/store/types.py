"""Enrolled types: an owner's own amulet types, each taught from a few photos.

Each type belongs to one owner and is seen by that owner only, unless an admin publishes it
(then every owner sees it). Each photo is kept like any other (:mod:`~amulet_ai.store.
images`) with its embedding (the model's ``embedding`` output). Every change bumps a
revision counter (the owner's, and ``*`` when a published type changes) in the same
transaction, so the result cache and the in-memory indexes of every process see it
(:meth:`TypeRepository.revision`). :attr:`TypeRepository.changes` counts the changes made
through one repository, after each commits: a reader that keeps a revision for a while
(:class:`~amulet_ai.serving.owner_indexes.OwnerIndexes`) drops it at once on a change made
in its own process.

Example::

    >>> import io; import numpy as np; from PIL import Image
    >>> from amulet_ai.store.database import Database
    >>> from amulet_ai.store.images import keep_photo
    >>> from amulet_ai.store.migrate import upgrade
    >>> db = Database("sqlite://"); upgrade(db)
    >>> buf = io.BytesIO(); Image.new("RGB", (64, 64)).save(buf, "PNG")
    >>> photo = EnrolledPhoto(keep_photo(buf.getvalue()), np.zeros(4, np.float32))
    >>> types = TypeRepository(db)
    >>> made = types.create("ann", name_en="Phra Rod", photos=[photo] * 3, model="m")
    >>> made.photos, types.revision("ann"), types.revision("bob")
    (3, (1, 0), (0, 0))
    >>> [t.name_en for t in types.visible("bob")]
    []
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from amulet_ai.errors import DuplicateName, NotFound
from amulet_ai.runtime.atomic import AtomicCounter
from amulet_ai.store.database import Database
from amulet_ai.store.history import Size, add_photo
from amulet_ai.store.images import KeptPhoto
from amulet_ai.store.keys import ensure_owner
from amulet_ai.store.models import (
    EnrolledType,
    Photo,
    PhotoEmbedding,
    TypePhoto,
    TypeRevision,
    utcnow,
)

PUBLISHED_SCOPE = "*"


def name_key(name: str) -> str:
    """The form two names are compared in: case-folded, spaces collapsed."""
    return re.sub(r"\s+", " ", name).strip().casefold()


@dataclass(frozen=True, slots=True)
class EnrolledPhoto:
    """A photo to enrol: its kept JPEGs and its embedding."""

    kept: KeptPhoto
    embedding: np.ndarray


@dataclass(frozen=True, slots=True)
class TypeRecord:
    """One enrolled type as the API shows it."""

    id: int
    owner: str
    name_en: str
    name_th: str | None
    description: str
    published: bool
    photos: int
    photo_ids: tuple[int, ...]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class TypeVectors:
    """The embeddings of the types an owner sees, for one model: row ``i`` is photo
    ``photo_ids[i]`` of type ``type_ids[i]``; ``missing`` lists photos without one."""

    type_ids: np.ndarray
    photo_ids: np.ndarray
    vectors: np.ndarray
    missing: list[int]


def _vector_bytes(embedding: np.ndarray) -> bytes:
    return np.ascontiguousarray(embedding, dtype="<f4").tobytes()


def put_embedding(session: Session, photo_id: int, model: str, embedding: np.ndarray) -> None:
    """Store (or replace) the embedding of a photo for ``model``."""
    row = session.get(PhotoEmbedding, photo_id)
    vector = _vector_bytes(embedding)
    if row is None:
        session.add(
            PhotoEmbedding(photo_id=photo_id, model=model, dims=embedding.size, vector=vector)
        )
    else:
        row.model, row.dims, row.vector = model, embedding.size, vector


def _bump(session: Session, scope: str) -> None:
    row = session.get(TypeRevision, scope, with_for_update=True)
    if row is None:
        session.add(TypeRevision(scope=scope, revision=1))
    else:
        row.revision += 1


class TypeRepository:
    """Create, list, extend, publish and delete enrolled types."""

    def __init__(self, db: Database) -> None:
        self.db = db
        # Writes through this repository, counted once each has committed (or failed).
        self.changes = AtomicCounter()

    @contextmanager
    def _write(self) -> Iterator[Session]:
        try:
            with self.db.write() as session:
                yield session
        finally:
            self.changes.increment()

    # --- reads ---------------------------------------------------------------------------
    def revision(self, owner: str) -> tuple[int, int]:
        """The owner's revision and the published types' revision (0 before any change)."""
        with self.db.read() as session:
            query = select(TypeRevision.scope, TypeRevision.revision).where(
                TypeRevision.scope.in_([owner, PUBLISHED_SCOPE])
            )
            rows = dict(session.execute(query).all())
        return rows.get(owner, 0), rows.get(PUBLISHED_SCOPE, 0)

    def _records(self, session: Session, rows: Sequence[EnrolledType]) -> list[TypeRecord]:
        ids = [row.id for row in rows]
        photos: dict[int, list[int]] = {i: [] for i in ids}
        query = select(TypePhoto.type_id, TypePhoto.photo_id).where(TypePhoto.type_id.in_(ids))
        for type_id, photo_id in session.execute(query.order_by(TypePhoto.id)):
            photos[type_id].append(photo_id)
        return [
            TypeRecord(
                id=row.id,
                owner=row.owner,
                name_en=row.name_en,
                name_th=row.name_th,
                description=row.description,
                published=row.published,
                photos=len(photos[row.id]),
                photo_ids=tuple(photos[row.id]),
                created_at=row.created_at,
                updated_at=row.updated_at,
            )
            for row in rows
        ]

    @staticmethod
    def _visible(owner: str):  # type: ignore[no-untyped-def]
        return or_(EnrolledType.owner == owner, EnrolledType.published.is_(True))

    def visible(self, owner: str) -> list[TypeRecord]:
        """The owner's types and the published ones, oldest first."""
        query = select(EnrolledType).where(self._visible(owner)).order_by(EnrolledType.id)
        with self.db.read() as session:
            return self._records(session, list(session.scalars(query)))

    def get(self, owner: str, type_id: int) -> TypeRecord:
        """A type the owner sees (its own or a published one); NotFound otherwise."""
        query = select(EnrolledType).where(EnrolledType.id == type_id, self._visible(owner))
        with self.db.read() as session:
            row = session.scalar(query)
            if row is None:
                raise NotFound("No such type.")
            return self._records(session, [row])[0]

    def vectors(self, owner: str, model: str) -> TypeVectors:
        """The embeddings for ``model`` of every photo of the types ``owner`` sees."""
        query = (
            select(
                TypePhoto.type_id, TypePhoto.photo_id, PhotoEmbedding.model, PhotoEmbedding.vector
            )
            .join(EnrolledType, EnrolledType.id == TypePhoto.type_id)
            .outerjoin(PhotoEmbedding, PhotoEmbedding.photo_id == TypePhoto.photo_id)
            .where(self._visible(owner))
            .order_by(TypePhoto.id)
        )
        type_ids, photo_ids, vectors, missing = [], [], [], []
        with self.db.read() as session:
            for type_id, photo_id, tag, vector in session.execute(query):
                if tag != model or vector is None:
                    missing.append(photo_id)
                    continue
                type_ids.append(type_id)
                photo_ids.append(photo_id)
                vectors.append(np.frombuffer(vector, dtype="<f4"))
        matrix = np.stack(vectors).astype(np.float32) if vectors else np.zeros((0, 0), np.float32)
        return TypeVectors(
            np.asarray(type_ids, np.int64), np.asarray(photo_ids, np.int64), matrix, missing
        )

    def photo(self, owner: str, type_id: int, photo_id: int, size: Size) -> bytes:
        """A photo of a type the owner sees."""
        column = Photo.thumb_jpeg if size == "thumb" else Photo.full_jpeg
        query = (
            select(column)
            .join(TypePhoto, TypePhoto.photo_id == Photo.id)
            .join(EnrolledType, EnrolledType.id == TypePhoto.type_id)
            .where(TypePhoto.type_id == type_id, Photo.id == photo_id, self._visible(owner))
        )
        with self.db.read() as session:
            data = session.scalar(query)
        if data is None:
            raise NotFound("No such photo.")
        return data

    # --- writes --------------------------------------------------------------------------
    def _own(self, session: Session, owner: str, type_id: int) -> EnrolledType:
        query = select(EnrolledType).where(EnrolledType.id == type_id, EnrolledType.owner == owner)
        row = session.scalar(query.with_for_update())
        if row is None:
            raise NotFound("No such type.")
        return row

    def _add_photos(
        self,
        session: Session,
        owner: str,
        type_id: int,
        photos: Sequence[EnrolledPhoto],
        model: str,
    ) -> None:
        for photo in photos:
            photo_id = add_photo(session, owner, photo.kept)
            session.add(TypePhoto(type_id=type_id, photo_id=photo_id))
            put_embedding(session, photo_id, model, photo.embedding)

    def create(
        self,
        owner: str,
        *,
        name_en: str,
        photos: Sequence[EnrolledPhoto],
        model: str,
        name_th: str | None = None,
        description: str = "",
    ) -> TypeRecord:
        """A new type with its photos, in one transaction.

        Raises:
            DuplicateName: the owner already has a type of this name.
        """
        try:
            with self._write() as session:
                ensure_owner(session, owner)
                row = EnrolledType(
                    owner=owner,
                    name_en=name_en,
                    name_th=name_th,
                    name_key=name_key(name_en),
                    description=description,
                    published=False,
                )
                session.add(row)
                session.flush()
                self._add_photos(session, owner, row.id, photos, model)
                _bump(session, owner)
                session.flush()
                return self._records(session, [row])[0]
        except IntegrityError as exc:
            if self._name_taken(owner, name_en):
                raise DuplicateName(
                    f"You already have a type named {name_en!r}.", details={"field": "name_en"}
                ) from exc
            raise

    def _name_taken(self, owner: str, name_en: str) -> bool:
        query = select(func.count()).where(
            EnrolledType.owner == owner, EnrolledType.name_key == name_key(name_en)
        )
        with self.db.read() as session:
            return bool(session.scalar(query))

    def add_photos(
        self, owner: str, type_id: int, photos: Sequence[EnrolledPhoto], model: str
    ) -> TypeRecord:
        """Add photos to one of the owner's types."""
        with self._write() as session:
            row = self._own(session, owner, type_id)
            self._add_photos(session, owner, type_id, photos, model)
            row.updated_at = utcnow()
            _bump(session, owner)
            if row.published:
                _bump(session, PUBLISHED_SCOPE)
            session.flush()
            return self._records(session, [row])[0]

    def delete(self, owner: str, type_id: int) -> None:
        """Delete one of the owner's types with its photos."""
        with self._write() as session:
            row = self._own(session, owner, type_id)
            photo_ids = list(
                session.scalars(select(TypePhoto.photo_id).where(TypePhoto.type_id == type_id))
            )
            published = row.published
            session.delete(row)
            session.flush()
            session.execute(delete(Photo).where(Photo.id.in_(photo_ids)))
            _bump(session, owner)
            if published:
                _bump(session, PUBLISHED_SCOPE)

    def set_published(self, type_id: int, published: bool) -> TypeRecord:
        """Publish a type to every owner, or take it back (admin; any owner's type)."""
        with self._write() as session:
            row = session.get(EnrolledType, type_id, with_for_update=True)
            if row is None:
                raise NotFound("No such type.")
            if row.published != published:
                session.execute(
                    update(EnrolledType)
                    .where(EnrolledType.id == type_id)
                    .values(published=published, updated_at=utcnow())
                )
                _bump(session, PUBLISHED_SCOPE)
                _bump(session, row.owner)
                session.refresh(row)
            return self._records(session, [row])[0]
