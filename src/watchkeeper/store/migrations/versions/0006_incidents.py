"""Incidents and their timeline, escalations, on-call overrides, status page updates,
tracker links, postmortems with action items, and drill runs; notifications by group.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from watchkeeper.store.tables import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _incident_fk(ondelete: str = "CASCADE", nullable: bool = False) -> sa.Column[int]:
    return sa.Column(
        "incident_id", _ID, sa.ForeignKey("incidents.id", ondelete=ondelete), nullable=nullable
    )


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("severity", sa.String(4), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("group_key", sa.String(64), nullable=True),
        sa.Column("team", sa.String(128), nullable=False),
        sa.Column("services", sa.JSON(), nullable=False),
        sa.Column("assignees", sa.JSON(), nullable=False),
        sa.Column("commander", sa.String(128), nullable=False),
        sa.Column("escalation_policy", sa.String(128), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("major", sa.Boolean(), nullable=False),
        sa.Column("drill", sa.String(128), nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("opened_by", sa.String(128), nullable=False),
        sa.Column("acknowledged_at", UTCDateTime(), nullable=True),
        sa.Column("acknowledged_by", sa.String(128), nullable=False),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("resolved_by", sa.String(128), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_incidents_status", "incidents", ["status"])
    op.create_index("ix_incidents_group_key", "incidents", ["group_key"])
    op.create_index("ix_incidents_opened_at", "incidents", ["opened_at"])
    op.create_table(
        "incident_alerts",
        sa.Column(
            "incident_id",
            _ID,
            sa.ForeignKey("incidents.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "alert_id", _ID, sa.ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("joined_at", UTCDateTime(), nullable=False),
        sa.Column("resolved_seen", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_incident_alerts_alert_id", "incident_alerts", ["alert_id"])
    op.create_index("ix_incident_alerts_resolved_seen", "incident_alerts", ["resolved_seen"])
    op.create_index("ix_notifications_group_key", "notifications", ["group_key"])
    op.create_table(
        "incident_events",
        sa.Column("id", _ID, primary_key=True),
        _incident_fk(),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
    )
    op.create_index("ix_incident_events_incident_at", "incident_events", ["incident_id", "at"])
    op.create_table(
        "escalations",
        sa.Column(
            "incident_id",
            _ID,
            sa.ForeignKey("incidents.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("policy", sa.String(128), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("loop", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("next_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_escalations_state_next", "escalations", ["state", "next_at"])
    op.create_table(
        "oncall_overrides",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("schedule", sa.String(128), nullable=False),
        sa.Column("person", sa.String(128), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("note", sa.String(500), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_oncall_overrides_schedule_end", "oncall_overrides", ["schedule", "ends_at"])
    op.create_table(
        "status_updates",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("page", sa.String(128), nullable=False),
        _incident_fk("SET NULL", nullable=True),
        sa.Column("status", sa.String(14), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("components", sa.JSON(), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=True),
        sa.Column("ends_at", UTCDateTime(), nullable=True),
        sa.Column("posted_at", UTCDateTime(), nullable=False),
        sa.Column("posted_by", sa.String(128), nullable=False),
    )
    op.create_index("ix_status_updates_page_posted", "status_updates", ["page", "posted_at"])
    op.create_table(
        "tracker_links",
        sa.Column("id", _ID, primary_key=True),
        _incident_fk(),
        sa.Column("tracker", sa.String(128), nullable=False),
        sa.Column("external_id", sa.String(128), nullable=False),
        sa.Column("url", sa.String(1000), nullable=False),
        sa.Column("status", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("synced_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("incident_id", "tracker", name="uq_tracker_links_incident_tracker"),
    )
    op.create_index("ix_tracker_links_incident_id", "tracker_links", ["incident_id"])
    op.create_table(
        "postmortems",
        sa.Column(
            "incident_id",
            _ID,
            sa.ForeignKey("incidents.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
    )
    op.create_table(
        "action_items",
        sa.Column("id", _ID, primary_key=True),
        _incident_fk(),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("due", UTCDateTime(), nullable=True),
        sa.Column("done_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
    )
    op.create_index("ix_action_items_done", "action_items", ["done_at"])
    op.create_index("ix_action_items_incident_id", "action_items", ["incident_id"])
    op.create_table(
        "drill_runs",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("alert_id", _ID, sa.ForeignKey("alerts.id", ondelete="SET NULL"), nullable=True),
        _incident_fk("SET NULL", nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("started_by", sa.String(128), nullable=False),
        sa.Column("acknowledged_at", UTCDateTime(), nullable=True),
        sa.Column("acknowledged_by", sa.String(128), nullable=False),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.Column("result", sa.String(12), nullable=False),
    )
    op.create_index("ix_drill_runs_name_started", "drill_runs", ["name", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_notifications_group_key", "notifications")
    for table in (
        "drill_runs",
        "action_items",
        "postmortems",
        "tracker_links",
        "status_updates",
        "oncall_overrides",
        "escalations",
        "incident_events",
        "incident_alerts",
        "incidents",
    ):
        op.drop_table(table)
