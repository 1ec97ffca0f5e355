"""Database maintenance service: failed collections in a row and the last good one per
database; the finding as it was when a recommendation was dismissed.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from watchkeeper.store.tables import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("db_health") as batch:
        batch.add_column(sa.Column("failures", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("last_ok_at", UTCDateTime(), nullable=True))
    with op.batch_alter_table("db_dismissals") as batch:
        batch.add_column(sa.Column("finding", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("db_dismissals") as batch:
        batch.drop_column("finding")
    with op.batch_alter_table("db_health") as batch:
        batch.drop_column("last_ok_at")
        batch.drop_column("failures")
