"""log-templates: log lines mined into templates per stream (Drain), their hourly counts,
and the miner's state and checkpoint (log anomalies).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from watchkeeper.store.tables import UTCDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "log_template_scopes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=2000), nullable=False),
        sa.Column("state", sa.LargeBinary(), nullable=False),
        sa.Column("first_seen", UTCDateTime(), nullable=False),
        sa.Column("lines", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("scope", name="uq_log_template_scopes_scope"),
    )
    op.create_table(
        "log_templates",
        sa.Column("id", _ID, nullable=False),
        sa.Column("scope_id", sa.Integer(), nullable=False),
        sa.Column("cluster", sa.Integer(), nullable=False),
        sa.Column("template", sa.Text(), nullable=False),
        sa.Column("first_seen", UTCDateTime(), nullable=False),
        sa.Column("last_seen", UTCDateTime(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("new", sa.Boolean(), nullable=False),
        sa.Column("examples", sa.JSON(), nullable=False),
        sa.Column("anomaly", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["scope_id"], ["log_template_scopes.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("scope_id", "cluster", name="uq_log_templates_scope_cluster"),
    )
    op.create_index("ix_log_templates_first_seen", "log_templates", ["first_seen"])
    op.create_table(
        "log_template_hours",
        sa.Column("template_id", _ID, nullable=False),
        sa.Column("hour", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["template_id"], ["log_templates.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("template_id", "hour"),
    )
    op.create_table(
        "log_template_checkpoint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("read_to", sa.BigInteger(), nullable=False),
        sa.Column("evaluated_hour", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("log_template_checkpoint")
    op.drop_table("log_template_hours")
    op.drop_index("ix_log_templates_first_seen", table_name="log_templates")
    op.drop_table("log_templates")
    op.drop_table("log_template_scopes")
