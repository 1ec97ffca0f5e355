"""Log explorer: saved searches and per-user query history.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from watchkeeper.store.tables import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _user_fk() -> sa.Column[int]:
    return sa.Column(
        "user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "log_saved_searches",
        sa.Column("id", _ID, primary_key=True),
        _user_fk(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("time_range", sa.String(100), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_log_saved_searches_user", "log_saved_searches", ["user_id"])
    op.create_table(
        "log_query_history",
        sa.Column("id", _ID, primary_key=True),
        _user_fk(),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("ran_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_log_query_history_user_at", "log_query_history", ["user_id", "ran_at"])


def downgrade() -> None:
    op.drop_table("log_query_history")
    op.drop_table("log_saved_searches")
