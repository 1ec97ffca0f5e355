"""errors: projects' DSN keys, issues, their releases and users, events, rate windows.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from watchkeeper.store.tables import UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "error_projects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("public_key", sa.String(length=32), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("public_key"),
    )
    op.create_table(
        "error_issues",
        sa.Column("id", _ID, nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("grouping", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("culprit", sa.String(length=255), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("assignee", sa.String(length=150), nullable=True),
        sa.Column("team", sa.String(length=128), nullable=False),
        sa.Column("resolved_in_release", sa.String(length=200), nullable=True),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("ignore_until_count", sa.BigInteger(), nullable=True),
        sa.Column("first_seen", UTCDateTime(), nullable=False),
        sa.Column("last_seen", UTCDateTime(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("users", sa.BigInteger(), nullable=False),
        sa.Column("first_release", sa.String(length=200), nullable=True),
        sa.Column("last_release", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "fingerprint", name="uq_error_issues_fingerprint"),
    )
    op.create_index(
        "ix_error_issues_project_last_seen", "error_issues", ["project_id", "last_seen"]
    )
    op.create_index("ix_error_issues_last_seen", "error_issues", ["last_seen"])
    op.create_table(
        "error_issue_releases",
        sa.Column("issue_id", _ID, nullable=False),
        sa.Column("release", sa.String(length=200), nullable=False),
        sa.Column("first_seen", UTCDateTime(), nullable=False),
        sa.Column("last_seen", UTCDateTime(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["issue_id"], ["error_issues.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("issue_id", "release"),
    )
    op.create_table(
        "error_issue_users",
        sa.Column("issue_id", _ID, nullable=False),
        sa.Column("user_hash", sa.String(length=32), nullable=False),
        sa.Column("first_seen", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["issue_id"], ["error_issues.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("issue_id", "user_hash"),
    )
    op.create_table(
        "error_events",
        sa.Column("id", _ID, nullable=False),
        sa.Column("issue_id", _ID, nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=32), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("release", sa.String(length=200), nullable=True),
        sa.Column("environment", sa.String(length=64), nullable=True),
        sa.Column("user_hash", sa.String(length=32), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["issue_id"], ["error_issues.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "event_id", name="uq_error_events_event_id"),
    )
    op.create_index("ix_error_events_issue_id", "error_events", ["issue_id", "id"])
    op.create_index("ix_error_events_received_at", "error_events", ["received_at"])
    op.create_table(
        "error_rate_windows",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("minute", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "minute"),
    )


def downgrade() -> None:
    op.drop_table("error_rate_windows")
    op.drop_table("error_events")
    op.drop_table("error_issue_users")
    op.drop_table("error_issue_releases")
    op.drop_index("ix_error_issues_last_seen", table_name="error_issues")
    op.drop_index("ix_error_issues_project_last_seen", table_name="error_issues")
    op.drop_table("error_issues")
    op.drop_table("error_projects")
