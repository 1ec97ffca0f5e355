"""Heartbeats, metrics (series, raw head, hourly chunks, rollups) and hosts.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from watchkeeper.store.tables import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_DOUBLE = sa.Float(precision=53)


def upgrade() -> None:
    op.create_table(
        "heartbeats",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("key", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "heartbeat_pings",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("exit_status", sa.Integer(), nullable=True),
        sa.Column("remote_addr", sa.String(64), nullable=False),
        sa.Column("user_agent", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
    )
    op.create_index("ix_heartbeat_pings_name_at", "heartbeat_pings", ["name", "at"])
    op.create_table(
        "metric_series",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("fingerprint", sa.String(32), nullable=False, unique=True),
        sa.Column("metric", sa.String(200), nullable=False, index=True),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "metric_samples",
        sa.Column("series_id", sa.BigInteger(), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("bits", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("ts", "series_id"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "metric_chunks",
        sa.Column("series_id", sa.BigInteger(), primary_key=True),
        sa.Column("start_ts", sa.BigInteger(), primary_key=True),
        sa.Column("end_ts", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "metric_rollups",
        sa.Column("series_id", sa.BigInteger(), primary_key=True),
        sa.Column("step", sa.Integer(), primary_key=True),
        sa.Column("ts", sa.BigInteger(), primary_key=True),
        sa.Column("min", _DOUBLE, nullable=False),
        sa.Column("max", _DOUBLE, nullable=False),
        sa.Column("sum", _DOUBLE, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("last", _DOUBLE, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "hosts",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("first_seen", UTCDateTime(), nullable=False),
        sa.Column("last_seen", UTCDateTime(), nullable=False),
        sa.Column("agent_version", sa.String(40), nullable=False),
        sa.Column("inventory", sa.JSON(), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "hosts",
        "metric_rollups",
        "metric_chunks",
        "metric_samples",
        "metric_series",
        "heartbeat_pings",
        "heartbeats",
    ):
        op.drop_table(table)
