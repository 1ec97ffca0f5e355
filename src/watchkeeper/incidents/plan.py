"""Read the ``incidents`` and ``oncall`` sections from the stored plan."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.incidents.config import IncidentsSection
from watchkeeper.incidents.oncall_config import OncallSection
from watchkeeper.plan.objects import SETTINGS_KIND
from watchkeeper.store.tables import StoredObject

log = logging.getLogger(__name__)


def _section(db: Session, name: str) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for obj in db.scalars(
        select(StoredObject).where(
            (StoredObject.kind.like(f"{name}.%"))
            | ((StoredObject.kind == SETTINGS_KIND) & (StoredObject.name == name))
        )
    ):
        if obj.kind == SETTINGS_KIND:
            data.update(obj.spec)
        else:
            data.setdefault(obj.kind.split(".", 1)[1], []).append(obj.spec)
    return data


def load_incidents(db: Session) -> IncidentsSection:
    """The stored ``incidents`` section (defaults when absent or unreadable)."""
    try:
        return IncidentsSection.model_validate(_section(db, "incidents"))
    except ValidationError as exc:
        log.error("incidents: stored configuration is invalid: %s", exc)
        return IncidentsSection()


def load_oncall(db: Session) -> OncallSection:
    """The stored ``oncall`` section (empty when absent or unreadable)."""
    try:
        return OncallSection.model_validate(_section(db, "oncall"))
    except ValidationError as exc:
        log.error("oncall: stored configuration is invalid: %s", exc)
        return OncallSection()
