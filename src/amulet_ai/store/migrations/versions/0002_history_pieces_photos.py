"""Saved work: photos, history with feedback, and pieces.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from amulet_ai.store.models import UtcDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _owner_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["owner"], ["owners.name"], name=op.f(f"fk_{table}_owner_owners"), ondelete="CASCADE"
    )


def _photo_fk(table: str, column: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["photos.id"], name=op.f(f"fk_{table}_{column}_photos"), ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        "photos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("source_sha256", sa.String(length=64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("full_jpeg", sa.LargeBinary(), nullable=False),
        sa.Column("thumb_jpeg", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        _owner_fk("photos"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_photos")),
    )
    op.create_index(op.f("ix_photos_owner"), "photos", ["owner"], unique=False)
    op.create_index(op.f("ix_photos_source_sha256"), "photos", ["source_sha256"], unique=False)
    op.create_table(
        "history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("model_version", sa.String(length=50), nullable=False),
        sa.Column("top1_class_id", sa.String(length=100), nullable=False),
        sa.Column("top1_probability", sa.Float(), nullable=False),
        sa.Column("is_unknown", sa.Boolean(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("front_photo_id", sa.Integer(), nullable=True),
        sa.Column("back_photo_id", sa.Integer(), nullable=True),
        sa.Column("has_back", sa.Boolean(), nullable=False),
        sa.Column("front_filename", sa.String(length=255), nullable=True),
        _photo_fk("history", "back_photo_id", "SET NULL"),
        _photo_fk("history", "front_photo_id", "SET NULL"),
        _owner_fk("history"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_history")),
    )
    op.create_index("ix_history_owner_id", "history", ["owner", "id"], unique=False)
    op.create_table(
        "pieces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("front_photo_id", sa.Integer(), nullable=False),
        sa.Column("back_photo_id", sa.Integer(), nullable=True),
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("model_version", sa.String(length=50), nullable=False),
        sa.Column("predicted_class_id", sa.String(length=100), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("confirmed_class_id", sa.String(length=100), nullable=True),
        _photo_fk("pieces", "back_photo_id", "RESTRICT"),
        _photo_fk("pieces", "front_photo_id", "RESTRICT"),
        _owner_fk("pieces"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pieces")),
    )
    op.create_index("ix_pieces_owner_id", "pieces", ["owner", "id"], unique=False)
    op.create_table(
        "feedback",
        sa.Column("history_id", sa.Integer(), nullable=False),
        sa.Column("correct", sa.Boolean(), nullable=False),
        sa.Column("class_id", sa.String(length=100), nullable=True),
        sa.Column("type_name", sa.String(length=200), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["history_id"],
            ["history.id"],
            name=op.f("fk_feedback_history_id_history"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("history_id", name=op.f("pk_feedback")),
    )


def downgrade() -> None:
    op.drop_table("feedback")
    op.drop_index("ix_pieces_owner_id", table_name="pieces")
    op.drop_table("pieces")
    op.drop_index("ix_history_owner_id", table_name="history")
    op.drop_table("history")
    op.drop_index(op.f("ix_photos_source_sha256"), table_name="photos")
    op.drop_index(op.f("ix_photos_owner"), table_name="photos")
    op.drop_table("photos")
