"""training: sessions held (course, day, trainer, material) and who attended each.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from watchkeeper.store.tables import UTCDateTime

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "training_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("course", sa.String(length=128), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("trainer", sa.String(length=200), nullable=False),
        sa.Column("material_url", sa.String(length=2000), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(length=150), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_training_sessions_course_held", "training_sessions", ["course", "held_on"])
    op.create_table(
        "training_attendance",
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=150), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["training_sessions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("session_id", "username"),
    )
    op.create_index("ix_training_attendance_username", "training_attendance", ["username"])


def downgrade() -> None:
    op.drop_index("ix_training_attendance_username", table_name="training_attendance")
    op.drop_table("training_attendance")
    op.drop_index("ix_training_sessions_course_held", table_name="training_sessions")
    op.drop_table("training_sessions")
