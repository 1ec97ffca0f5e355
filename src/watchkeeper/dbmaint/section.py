"""The applied plan's ``databases`` section and the maintenance windows its tasks name, read
back from the store (so every replica and the CLI see the same plan)."""

from __future__ import annotations

import logging

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.alerts.config import MaintenanceWindow
from watchkeeper.dbmaint.config import DatabaseConfig, DatabasesSection, MaintenanceTask
from watchkeeper.exceptions import NotFoundError
from watchkeeper.plan.stored import stored_section
from watchkeeper.store.tables import StoredObject

log = logging.getLogger(__name__)


def load_section(db: Session) -> DatabasesSection:
    """The stored ``databases`` section (empty when absent or unreadable)."""
    try:
        return DatabasesSection.model_validate(stored_section(db, "databases"))
    except ValidationError as exc:
        log.error("databases: stored configuration is invalid: %s", exc)
        return DatabasesSection()


def load_windows(db: Session) -> dict[str, MaintenanceWindow]:
    """The plan's maintenance windows (``alerts.maintenance_windows``) by name."""
    found = {}
    for obj in db.scalars(
        select(StoredObject).where(StoredObject.kind == "alerts.maintenance_windows")
    ):
        try:
            found[obj.name] = MaintenanceWindow.model_validate(obj.spec)
        except ValidationError as exc:
            log.error("maintenance window %s: stored configuration is invalid: %s", obj.name, exc)
    return found


def find_target(section: DatabasesSection, name: str) -> DatabaseConfig:
    """Return the database ``name``; raise NotFoundError if the plan has none by that name."""
    for target in section.targets:
        if target.name == name:
            return target
    raise NotFoundError(f'there is no database "{name}" in the plan')


def find_task(target: DatabaseConfig, name: str) -> MaintenanceTask:
    """Return ``target``'s maintenance task ``name``; raise NotFoundError naming the tasks
    it has."""
    for task in target.maintenance:
        if task.name == name:
            return task
    known = ", ".join(t.name for t in target.maintenance) or "none"
    raise NotFoundError(
        f'database "{target.name}" has no maintenance task "{name}" (its tasks: {known})'
    )
