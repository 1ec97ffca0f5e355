"""errors-triage: each issue's triage state (ignore until, regression, what was counted,
its tracker issue) and its events per five minutes (charts, sparklines and rate alert rules).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from watchkeeper.store.tables import UTCDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "error_issue_triage",
        sa.Column("issue_id", _ID, nullable=False),
        sa.Column("ignore_until", UTCDateTime(), nullable=True),
        sa.Column("regressed_at", UTCDateTime(), nullable=True),
        sa.Column("regressed_in_release", sa.String(length=200), nullable=True),
        sa.Column("counted_events", sa.BigInteger(), nullable=False),
        sa.Column("counted_users", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", UTCDateTime(), nullable=True),
        sa.Column("changed_by", sa.String(length=150), nullable=False),
        sa.Column("tracker", sa.String(length=128), nullable=False),
        sa.Column("tracker_external_id", sa.String(length=200), nullable=False),
        sa.Column("tracker_url", sa.String(length=2000), nullable=False),
        sa.ForeignKeyConstraint(["issue_id"], ["error_issues.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("issue_id"),
    )
    op.create_index("ix_error_issue_triage_regressed_at", "error_issue_triage", ["regressed_at"])
    op.create_table(
        "error_issue_counts",
        sa.Column("issue_id", _ID, nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("users", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["issue_id"], ["error_issues.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("issue_id", "bucket"),
    )
    op.create_index(
        "ix_error_issue_counts_project_bucket", "error_issue_counts", ["project_id", "bucket"]
    )


def downgrade() -> None:
    op.drop_index("ix_error_issue_counts_project_bucket", table_name="error_issue_counts")
    op.drop_table("error_issue_counts")
    op.drop_index("ix_error_issue_triage_regressed_at", table_name="error_issue_triage")
    op.drop_table("error_issue_triage")
