"""Enrolled types: an owner's own amulet types, their photos, photo embeddings, revisions.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from amulet_ai.store.models import UtcDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "enrolled_types",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("name_th", sa.String(length=200), nullable=True),
        sa.Column("name_key", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner"],
            ["owners.name"],
            name=op.f("fk_enrolled_types_owner_owners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrolled_types")),
        sa.UniqueConstraint("owner", "name_key", name=op.f("uq_enrolled_types_owner")),
    )
    op.create_index(op.f("ix_enrolled_types_owner"), "enrolled_types", ["owner"], unique=False)
    op.create_index(
        op.f("ix_enrolled_types_published"), "enrolled_types", ["published"], unique=False
    )
    op.create_table(
        "type_photos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("type_id", sa.Integer(), nullable=False),
        sa.Column("photo_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["photo_id"],
            ["photos.id"],
            name=op.f("fk_type_photos_photo_id_photos"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["type_id"],
            ["enrolled_types.id"],
            name=op.f("fk_type_photos_type_id_enrolled_types"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_type_photos")),
        sa.UniqueConstraint("photo_id", name=op.f("uq_type_photos_photo_id")),
    )
    op.create_index(op.f("ix_type_photos_type_id"), "type_photos", ["type_id"], unique=False)
    op.create_table(
        "photo_embeddings",
        sa.Column("photo_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("dims", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["photo_id"],
            ["photos.id"],
            name=op.f("fk_photo_embeddings_photo_id_photos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("photo_id", name=op.f("pk_photo_embeddings")),
    )
    op.create_table(
        "type_revisions",
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("scope", name=op.f("pk_type_revisions")),
    )


def downgrade() -> None:
    op.drop_table("type_revisions")
    op.drop_table("photo_embeddings")
    op.drop_index(op.f("ix_type_photos_type_id"), table_name="type_photos")
    op.drop_table("type_photos")
    op.drop_index(op.f("ix_enrolled_types_published"), table_name="enrolled_types")
    op.drop_index(op.f("ix_enrolled_types_owner"), table_name="enrolled_types")
    op.drop_table("enrolled_types")
