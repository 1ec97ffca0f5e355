"""Capacity: the latest forecast of every capacity item (capacity_forecasts).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from watchkeeper.store.tables import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_FLOAT = sa.Float(precision=53)


def upgrade() -> None:
    op.create_table(
        "capacity_forecasts",
        sa.Column("id", _ID, nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.Column("resource", sa.String(length=128), nullable=False),
        sa.Column("subject", sa.String(length=400), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("current", _FLOAT, nullable=True),
        sa.Column("limit_value", _FLOAT, nullable=True),
        sa.Column("fit", sa.String(length=16), nullable=False),
        sa.Column("per_day", _FLOAT, nullable=True),
        sa.Column("sigma", _FLOAT, nullable=True),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("reaches_at", UTCDateTime(), nullable=True),
        sa.Column("reaches_earliest", UTCDateTime(), nullable=True),
        sa.Column("reaches_latest", UTCDateTime(), nullable=True),
        sa.Column("alert_within_s", sa.BigInteger(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("chart", sa.JSON(), nullable=False),
        sa.Column("computed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("capacity_forecasts")
