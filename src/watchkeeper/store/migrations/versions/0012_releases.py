"""Releases: deploys recorded from CI/CD with their release-gate verdicts.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from watchkeeper.store.tables import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "deploys",
        sa.Column("id", _ID, nullable=False),
        sa.Column("service", sa.String(length=128), nullable=False),
        sa.Column("version", sa.String(length=128), nullable=False),
        sa.Column("environment", sa.String(length=128), nullable=False),
        sa.Column("commit_sha", sa.String(length=64), nullable=False),
        sa.Column("commit_times", sa.JSON(), nullable=False),
        sa.Column("first_commit_at", UTCDateTime(), nullable=True),
        sa.Column("author", sa.String(length=128), nullable=False),
        sa.Column("link", sa.String(length=1000), nullable=False),
        sa.Column("changes", sa.Text(), nullable=False),
        sa.Column("hosts", sa.JSON(), nullable=False),
        sa.Column("previous_version", sa.String(length=128), nullable=False),
        sa.Column("previous_commit", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("gate", sa.String(length=16), nullable=False),
        sa.Column("gate_detail", sa.JSON(), nullable=False),
        sa.Column("gate_checked_at", UTCDateTime(), nullable=True),
        sa.Column("in_freeze", sa.String(length=128), nullable=False),
        sa.Column("incident_id", _ID, nullable=True),
        sa.Column("deployed_at", UTCDateTime(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_deploys_service_env_at", "deploys", ["service", "environment", "deployed_at"]
    )
    op.create_index("ix_deploys_deployed_at", "deploys", ["deployed_at"])
    op.create_index("ix_deploys_incident_id", "deploys", ["incident_id"])


def downgrade() -> None:
    op.drop_table("deploys")
