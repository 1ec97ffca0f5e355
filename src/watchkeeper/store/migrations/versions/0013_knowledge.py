"""Knowledge base: runbooks, their revisions and their reviews.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from watchkeeper.store.tables import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "runbooks",
        sa.Column("id", _ID, nullable=False),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("services", sa.JSON(), nullable=False),
        sa.Column("alerts", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("owner", sa.String(length=150), nullable=False),
        sa.Column("review_period_s", sa.BigInteger(), nullable=True),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=150), nullable=False),
        sa.Column("last_reviewed_at", UTCDateTime(), nullable=False),
        sa.Column("last_reviewed_by", sa.String(length=150), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("slug"),
    )
    op.create_table(
        "runbook_revisions",
        sa.Column("id", _ID, nullable=False),
        sa.Column(
            "runbook_id", _ID, sa.ForeignKey("runbooks.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("author", sa.String(length=150), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("runbook_id", "version", name="uq_runbook_revisions"),
    )
    op.create_table(
        "runbook_reviews",
        sa.Column("id", _ID, nullable=False),
        sa.Column(
            "runbook_id", _ID, sa.ForeignKey("runbooks.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("reviewed_by", sa.String(length=150), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_runbook_reviews_runbook_id", "runbook_reviews", ["runbook_id"])


def downgrade() -> None:
    op.drop_table("runbook_reviews")
    op.drop_table("runbook_revisions")
    op.drop_table("runbooks")
