"""tasks: recurring tasks' instances and the evidence files attached to them.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from watchkeeper.store.tables import UTCDateTime

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "task_instances",
        sa.Column("id", _ID, nullable=False),
        sa.Column("task", sa.String(length=128), nullable=False),
        sa.Column("occurrence_at", UTCDateTime(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=160), nullable=False),
        sa.Column("owner_rule", sa.String(length=160), nullable=False),
        sa.Column("checklist", sa.JSON(), nullable=False),
        sa.Column("checked", sa.JSON(), nullable=False),
        sa.Column("worklist", sa.JSON(), nullable=False),
        sa.Column("decisions", sa.JSON(), nullable=False),
        sa.Column("applied", sa.JSON(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("link", sa.String(length=2000), nullable=False),
        sa.Column("value", sa.String(length=500), nullable=False),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.Column("completed_by", sa.String(length=150), nullable=False),
        sa.Column("on_time", sa.Boolean(), nullable=True),
        sa.Column("skip_reason", sa.String(length=500), nullable=False),
        sa.Column("reminded", sa.JSON(), nullable=False),
        sa.Column("reminders_sent", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("task", "occurrence_at", name="uq_task_instances_occurrence"),
    )
    op.create_index("ix_task_instances_status_due", "task_instances", ["status", "due_at"])
    op.create_index("ix_task_instances_task_due", "task_instances", ["task", "due_at"])
    op.create_table(
        "task_evidence_files",
        sa.Column("id", _ID, nullable=False),
        sa.Column("instance_id", _ID, nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("uploaded_by", sa.String(length=150), nullable=False),
        sa.Column("uploaded_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["instance_id"], ["task_instances.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_task_evidence_files_instance_id", "task_evidence_files", ["instance_id"])


def downgrade() -> None:
    op.drop_index("ix_task_evidence_files_instance_id", table_name="task_evidence_files")
    op.drop_table("task_evidence_files")
    op.drop_index("ix_task_instances_task_due", table_name="task_instances")
    op.drop_index("ix_task_instances_status_due", table_name="task_instances")
    op.drop_table("task_instances")
