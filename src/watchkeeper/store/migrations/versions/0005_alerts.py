"""Alerts, their history, silences, aggregation groups and the notification outbox; the
certificate expiry of checks.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from watchkeeper.store.tables import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_DOUBLE = sa.Float(precision=53)


def upgrade() -> None:
    with op.batch_alter_table("check_status") as batch:
        batch.add_column(sa.Column("cert_expires_at", UTCDateTime(), nullable=True))
    op.create_table(
        "alerts",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("rule", sa.String(128), nullable=False),
        sa.Column("fingerprint", sa.String(32), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("annotations", sa.JSON(), nullable=False),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("value", _DOUBLE, nullable=True),
        sa.Column("active_at", UTCDateTime(), nullable=False),
        sa.Column("fired_at", UTCDateTime(), nullable=True),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("last_true_at", UTCDateTime(), nullable=False),
        sa.Column("muted", sa.String(12), nullable=False),
        sa.Column("muted_by", sa.JSON(), nullable=False),
        sa.Column("acknowledged_at", UTCDateTime(), nullable=True),
        sa.Column("acknowledged_by", sa.String(128), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("rule", "fingerprint", "active_at", name="uq_alerts_rule_fp_active"),
    )
    op.create_index("ix_alerts_state", "alerts", ["state"])
    op.create_index("ix_alerts_fingerprint", "alerts", ["fingerprint"])
    op.create_table(
        "alert_events",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("alert_id", _ID, sa.ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("event", sa.String(20), nullable=False),
        sa.Column("value", _DOUBLE, nullable=True),
        sa.Column("detail", sa.String(500), nullable=False),
    )
    op.create_index("ix_alert_events_alert_at", "alert_events", ["alert_id", "at"])
    op.create_index("ix_alert_events_at", "alert_events", ["at"])
    op.create_table(
        "silences",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("matchers", sa.JSON(), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("comment", sa.String(1000), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_silences_ends_at", "silences", ["ends_at"])
    op.create_table(
        "alert_groups",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("route", sa.String(200), nullable=False),
        sa.Column("receivers", sa.JSON(), nullable=False),
        sa.Column("group_labels", sa.JSON(), nullable=False),
        sa.Column("first_at", UTCDateTime(), nullable=False),
        sa.Column("last_flush_at", UTCDateTime(), nullable=True),
        sa.Column("notified", sa.JSON(), nullable=False),
        sa.Column("flushes", sa.Integer(), nullable=False),
    )
    op.create_table(
        "notifications",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("key", sa.String(64), nullable=False, unique=True),
        sa.Column("batch", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(128), nullable=False),
        sa.Column("group_key", sa.String(64), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.String(1000), nullable=False),
        sa.Column("fallback", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_notifications_status_next", "notifications", ["status", "next_attempt_at"])
    op.create_index("ix_notifications_batch", "notifications", ["batch"])
    op.create_index(
        "ix_notifications_channel_group", "notifications", ["channel", "group_key", "status", "id"]
    )
    op.create_index("ix_notifications_created_at", "notifications", ["created_at"])


def downgrade() -> None:
    op.drop_table("notifications")
    op.drop_table("alert_groups")
    op.drop_table("silences")
    op.drop_table("alert_events")
    op.drop_table("alerts")
    with op.batch_alter_table("check_status") as batch:
        batch.drop_column("cert_expires_at")
