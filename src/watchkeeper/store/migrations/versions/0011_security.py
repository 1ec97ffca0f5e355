"""Security and compliance: the offline OSV vulnerability database and its imports, host
inventories, findings, suppressions, patch actions, hardening audits, compliance control
states and events, plan-compliance snapshots and issued compliance reports.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from watchkeeper.store.tables import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "compliance_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("control", sa.String(length=128), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_compliance_events_control_at", "compliance_events", ["control", "at"], unique=False
    )
    op.create_table(
        "compliance_reports",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("period_start", UTCDateTime(), nullable=False),
        sa.Column("period_end", UTCDateTime(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=255), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.Column("pdf_sha256", sa.String(length=64), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_compliance_reports_pdf_sha256", "compliance_reports", ["pdf_sha256"], unique=False
    )
    op.create_table(
        "compliance_state",
        sa.Column("control", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("evaluated_at", UTCDateTime(), nullable=False),
        sa.Column("since", UTCDateTime(), nullable=False),
        sa.Column("last_pass_at", UTCDateTime(), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("control"),
    )
    op.create_table(
        "hardening_runs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.Column("profile", sa.String(length=128), nullable=False),
        sa.Column("ran_at", UTCDateTime(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("possible", sa.Integer(), nullable=False),
        sa.Column("index", sa.Float(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("pushed_by", sa.String(length=120), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_hardening_runs_host_ran", "hardening_runs", ["host", "ran_at"], unique=False
    )
    op.create_table(
        "host_packages",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.Column("ecosystem", sa.String(length=32), nullable=False),
        sa.Column("location", sa.String(length=1024), nullable=False),
        sa.Column("distro", sa.String(length=64), nullable=False),
        sa.Column("collected_at", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("packages", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_host_packages_host_kind_collected",
        "host_packages",
        ["host", "ecosystem", "location", "collected_at"],
        unique=False,
    )
    op.create_table(
        "osv_imports",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("ecosystem", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("trigger", sa.String(length=64), nullable=False),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("records_total", sa.Integer(), nullable=False),
        sa.Column("records_added", sa.Integer(), nullable=False),
        sa.Column("records_updated", sa.Integer(), nullable=False),
        sa.Column("records_removed", sa.Integer(), nullable=False),
        sa.Column("records_skipped", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=255), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_osv_imports_source_started", "osv_imports", ["source", "started_at"], unique=False
    )
    op.create_table(
        "osv_vulnerabilities",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("modified", UTCDateTime(), nullable=False),
        sa.Column("published", UTCDateTime(), nullable=True),
        sa.Column("withdrawn", UTCDateTime(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("aliases", sa.JSON(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_osv_vulnerabilities_source", "osv_vulnerabilities", ["source"], unique=False
    )
    op.create_table(
        "patch_actions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.Column("ecosystem", sa.String(length=32), nullable=False),
        sa.Column("location", sa.String(length=1024), nullable=False),
        sa.Column("package", sa.String(length=255), nullable=False),
        sa.Column("from_version", sa.String(length=255), nullable=False),
        sa.Column("to_version", sa.String(length=255), nullable=False),
        sa.Column("vulns", sa.JSON(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("rank", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("window", sa.String(length=128), nullable=False),
        sa.Column("scheduled_for", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("applied_at", UTCDateTime(), nullable=True),
        sa.Column("applied_by", sa.String(length=128), nullable=False),
        sa.Column("verified_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("host", "ecosystem", "location", "package", "from_version"),
    )
    op.create_index("ix_patch_actions_status", "patch_actions", ["status"], unique=False)
    op.create_table(
        "plan_compliance",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("evaluated_at", UTCDateTime(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("sections", sa.JSON(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_plan_compliance_at", "plan_compliance", ["evaluated_at"], unique=False)
    op.create_table(
        "security_findings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.Column("ecosystem", sa.String(length=32), nullable=False),
        sa.Column("location", sa.String(length=1024), nullable=False),
        sa.Column("package", sa.String(length=255), nullable=False),
        sa.Column("version", sa.String(length=255), nullable=False),
        sa.Column("vuln_id", sa.String(length=128), nullable=False),
        sa.Column("aliases", sa.JSON(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("fixed_version", sa.String(length=255), nullable=False),
        sa.Column("first_seen", UTCDateTime(), nullable=False),
        sa.Column("last_seen", UTCDateTime(), nullable=False),
        sa.Column("fix_seen", UTCDateTime(), nullable=True),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("host", "ecosystem", "location", "package", "vuln_id"),
    )
    op.create_index(
        "ix_security_findings_open", "security_findings", ["resolved_at", "severity"], unique=False
    )
    op.create_table(
        "security_suppressions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("vulnerability", sa.String(length=128), nullable=False),
        sa.Column("package", sa.String(length=255), nullable=False),
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "osv_affected",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("vuln_id", sa.String(length=128), nullable=False),
        sa.Column("ecosystem", sa.String(length=64), nullable=False),
        sa.Column("package", sa.String(length=255), nullable=False),
        sa.Column("ranges", sa.JSON(), nullable=False),
        sa.Column("versions", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["vuln_id"], ["osv_vulnerabilities.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_osv_affected_ecosystem_package", "osv_affected", ["ecosystem", "package"], unique=False
    )
    op.create_index(op.f("ix_osv_affected_vuln_id"), "osv_affected", ["vuln_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_osv_affected_vuln_id"), table_name="osv_affected")
    op.drop_index("ix_osv_affected_ecosystem_package", table_name="osv_affected")
    op.drop_table("osv_affected")
    op.drop_table("security_suppressions")
    op.drop_index("ix_security_findings_open", table_name="security_findings")
    op.drop_table("security_findings")
    op.drop_index("ix_plan_compliance_at", table_name="plan_compliance")
    op.drop_table("plan_compliance")
    op.drop_index("ix_patch_actions_status", table_name="patch_actions")
    op.drop_table("patch_actions")
    op.drop_index("ix_osv_vulnerabilities_source", table_name="osv_vulnerabilities")
    op.drop_table("osv_vulnerabilities")
    op.drop_index("ix_osv_imports_source_started", table_name="osv_imports")
    op.drop_table("osv_imports")
    op.drop_index("ix_host_packages_host_kind_collected", table_name="host_packages")
    op.drop_table("host_packages")
    op.drop_index("ix_hardening_runs_host_ran", table_name="hardening_runs")
    op.drop_table("hardening_runs")
    op.drop_table("compliance_state")
    op.drop_index("ix_compliance_reports_pdf_sha256", table_name="compliance_reports")
    op.drop_table("compliance_reports")
    op.drop_index("ix_compliance_events_control_at", table_name="compliance_events")
    op.drop_table("compliance_events")
