"""The tables of saved work, as SQLAlchemy 2 typed models.

::

    owners      name (the key's owner; "default" for AMULET_API_KEYS, "local" when open)
    api_keys    SHA-256 of each key (never the key), owner, scopes, created/last used/revoked
    photos      re-encoded JPEG (<= 1024 px, no EXIF) and a 256 px thumbnail, per owner
    history     one saved prediction: the answer as JSON, top-1, model, photo ids
    feedback    at most one per history item: correct, or the right class / a free-text type
    pieces      a collector's own amulet: photos, name, notes, the answer it got, a
                confirmed class
    enrolled_types    an owner's own amulet type, taught from a few photos; ``published``
                      (set by an admin) shows it to every owner
    type_photos       the photos of an enrolled type
    photo_embeddings  a photo's embedding (the model's ``embedding`` output), per model
    type_revisions    a counter per owner (``*``: published types) bumped by every change
                      to enrolled types, so caches and in-memory indexes see it at once

Photos are their own table so that history items, pieces and, later, enrolled types and
their embeddings can all point at the same kind of row. Every row that belongs to someone
carries ``owner`` and every query filters on it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Limits shared by the models and the API's input checks.
OWNER_MAX = 64
NAME_MAX = 200
NOTES_MAX = 4000
TYPE_NAME_MAX = 200
CLASS_ID_MAX = 100
DESCRIPTION_MAX = 2000
MODEL_TAG_MAX = 100

# Named constraints, so that migrations are the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Owner(Base):
    __tablename__ = "owners"

    name: Mapped[str] = mapped_column(String(OWNER_MAX), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str] = mapped_column(ForeignKey("owners.name", ondelete="CASCADE"), index=True)
    # SHA-256 hex of the whole key: keys are 256 random bits, so a fast hash is enough.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the key, to tell keys apart in `keys list` and logs.
    prefix: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class Photo(Base):
    __tablename__ = "photos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str] = mapped_column(ForeignKey("owners.name", ondelete="CASCADE"), index=True)
    # SHA-256 of the upload as sent (not stored): finds the same photo sent again.
    source_sha256: Mapped[str] = mapped_column(String(64), index=True)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    full_jpeg: Mapped[bytes] = mapped_column(LargeBinary)
    thumb_jpeg: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class HistoryItem(Base):
    __tablename__ = "history"
    __table_args__ = (Index("ix_history_owner_id", "owner", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str] = mapped_column(ForeignKey("owners.name", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    model_name: Mapped[str] = mapped_column(String(NAME_MAX))
    model_version: Mapped[str] = mapped_column(String(50))
    top1_class_id: Mapped[str] = mapped_column(String(CLASS_ID_MAX))
    top1_probability: Mapped[float] = mapped_column(Float)
    is_unknown: Mapped[bool] = mapped_column(Boolean)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    front_photo_id: Mapped[int | None] = mapped_column(
        ForeignKey("photos.id", ondelete="SET NULL"), nullable=True
    )
    back_photo_id: Mapped[int | None] = mapped_column(
        ForeignKey("photos.id", ondelete="SET NULL"), nullable=True
    )
    has_back: Mapped[bool] = mapped_column(Boolean, default=False)
    front_filename: Mapped[str | None] = mapped_column(String(255), nullable=True)


class Feedback(Base):
    __tablename__ = "feedback"

    history_id: Mapped[int] = mapped_column(
        ForeignKey("history.id", ondelete="CASCADE"), primary_key=True
    )
    correct: Mapped[bool] = mapped_column(Boolean)
    class_id: Mapped[str | None] = mapped_column(String(CLASS_ID_MAX), nullable=True)
    type_name: Mapped[str | None] = mapped_column(String(TYPE_NAME_MAX), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Piece(Base):
    __tablename__ = "pieces"
    __table_args__ = (Index("ix_pieces_owner_id", "owner", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str] = mapped_column(ForeignKey("owners.name", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    front_photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="RESTRICT"))
    back_photo_id: Mapped[int | None] = mapped_column(
        ForeignKey("photos.id", ondelete="RESTRICT"), nullable=True
    )
    model_name: Mapped[str] = mapped_column(String(NAME_MAX))
    model_version: Mapped[str] = mapped_column(String(50))
    predicted_class_id: Mapped[str] = mapped_column(String(CLASS_ID_MAX))
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    confirmed_class_id: Mapped[str | None] = mapped_column(String(CLASS_ID_MAX), nullable=True)


class EnrolledType(Base):
    __tablename__ = "enrolled_types"
    __table_args__ = (UniqueConstraint("owner", "name_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str] = mapped_column(ForeignKey("owners.name", ondelete="CASCADE"), index=True)
    name_en: Mapped[str] = mapped_column(String(TYPE_NAME_MAX))
    name_th: Mapped[str | None] = mapped_column(String(TYPE_NAME_MAX), nullable=True)
    # The English name case-folded and with runs of spaces collapsed: one per owner.
    name_key: Mapped[str] = mapped_column(String(TYPE_NAME_MAX))
    description: Mapped[str] = mapped_column(Text, default="")
    published: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class TypePhoto(Base):
    __tablename__ = "type_photos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type_id: Mapped[int] = mapped_column(
        ForeignKey("enrolled_types.id", ondelete="CASCADE"), index=True
    )
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"), unique=True)


class PhotoEmbedding(Base):
    __tablename__ = "photo_embeddings"

    photo_id: Mapped[int] = mapped_column(
        ForeignKey("photos.id", ondelete="CASCADE"), primary_key=True
    )
    # The model the vector came from (version + checksum): another model's space differs.
    model: Mapped[str] = mapped_column(String(MODEL_TAG_MAX))
    dims: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float32, little-endian


class TypeRevision(Base):
    __tablename__ = "type_revisions"

    scope: Mapped[str] = mapped_column(String(OWNER_MAX), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)
