"""Which plan a generated document was built from, and the store state it showed.

The plan version is the number of the last ``plan_applies`` row (``watchkeeper plan apply``,
the server's start, SIGHUP): "from plan version 12". Objects made or edited in the UI change
the plan too, without an apply; their newest change is part of the fingerprint so that a
cached document is rebuilt after them as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from watchkeeper.store.tables import (
    Alert,
    BackupRun,
    CheckStatus,
    DbHealth,
    Host,
    OncallOverride,
    PlanApply,
    StoredObject,
)


@dataclass(frozen=True)
class PlanVersion:
    """The applied plan: its apply number (0 before any apply) and the newest object change."""

    number: int
    applied_at: datetime | None
    applied_by: str
    digest: str
    plan_name: str
    objects: int
    changed_at: datetime | None  # newest object change, by the plan or in the UI

    @property
    def edited_since_apply(self) -> bool:
        """True when objects changed after the last apply (made or edited in the UI)."""
        if self.changed_at is None:
            return False
        return self.applied_at is None or self.changed_at > self.applied_at

    @property
    def key(self) -> tuple[object, ...]:
        return (self.number, self.digest, self.objects, self.changed_at)

    def describe(self) -> str:
        """ "plan version 12 (applied 2026-12-06 04:00 UTC by SIGHUP)", plus the UI edits."""
        if self.number == 0:
            text = "no applied plan file"
        else:
            when = f"{self.applied_at:%Y-%m-%d %H:%M} UTC" if self.applied_at else "?"
            text = f"plan version {self.number} (applied {when} by {self.applied_by or 'plan'})"
        if self.edited_since_apply and self.changed_at is not None:
            text += f", with changes made in the UI until {self.changed_at:%Y-%m-%d %H:%M} UTC"
        return text


def plan_version(db: Session) -> PlanVersion:
    """Return the applied plan's version (two small queries)."""
    last = db.scalar(select(PlanApply).order_by(PlanApply.id.desc()).limit(1))
    count, changed = db.execute(
        select(func.count(StoredObject.id), func.max(StoredObject.updated_at))
    ).one()
    return PlanVersion(
        number=last.id if last else 0,
        applied_at=last.applied_at if last else None,
        applied_by=last.actor if last else "",
        digest=last.digest if last else "",
        plan_name=last.plan_name if last else "",
        objects=int(count or 0),
        changed_at=changed,
    )


def store_state(db: Session) -> tuple[object, ...]:
    """A fingerprint of the store state the documents show: check states, hosts, backup
    runs, database health, on-call overrides and firing alerts (aggregates on small or
    indexed columns)."""
    return (
        *db.execute(select(func.count(), func.max(CheckStatus.changed_at))).one(),
        *db.execute(select(func.count(), func.max(Host.last_seen))).one(),
        *db.execute(select(func.max(BackupRun.id))).one(),
        db.scalar(select(func.count()).where(BackupRun.status.in_(("queued", "running")))),
        *db.execute(select(func.count(), func.max(DbHealth.collected_at))).one(),
        *db.execute(select(func.count(), func.max(OncallOverride.id))).one(),
        *db.execute(
            select(func.count(), func.max(Alert.updated_at)).where(Alert.state == "firing")
        ).one(),
    )
