"""Health checks: status, raw results, hourly rollups, state-change events.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from watchkeeper.store.tables import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "check_status",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("successes", sa.Integer(), nullable=False),
        sa.Column("changed_at", UTCDateTime(), nullable=True),
        sa.Column("last_run_at", UTCDateTime(), nullable=True),
        sa.Column("last_ok", sa.Boolean(), nullable=True),
        sa.Column("last_message", sa.String(500), nullable=False),
        sa.Column("last_response_ms", sa.Float(), nullable=True),
    )
    op.create_table(
        "check_results",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("response_ms", sa.Float(), nullable=True),
        sa.Column("message", sa.String(500), nullable=False),
    )
    op.create_index("ix_check_results_name_at", "check_results", ["name", "at"])
    op.create_table(
        "check_rollups",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("hour", UTCDateTime(), primary_key=True),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("ok_runs", sa.Integer(), nullable=False),
        sa.Column("response_ms_sum", sa.Float(), nullable=False),
        sa.Column("response_ms_max", sa.Float(), nullable=True),
    )
    op.create_table(
        "check_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("from_status", sa.String(10), nullable=False),
        sa.Column("to_status", sa.String(10), nullable=False),
        sa.Column("message", sa.String(500), nullable=False),
    )
    op.create_index("ix_check_events_name_at", "check_events", ["name", "at"])


def downgrade() -> None:
    for table in ("check_events", "check_rollups", "check_results", "check_status"):
        op.drop_table(table)
