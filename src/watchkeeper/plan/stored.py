"""Read one section of the applied plan back from the store, as the section's model expects."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.plan.objects import SETTINGS_KIND
from watchkeeper.store.tables import StoredObject


def stored_section(db: Session, name: str) -> dict[str, Any]:
    """The section ``name`` as a dict: its settings object plus its named collections."""
    data: dict[str, Any] = {}
    for obj in db.scalars(
        select(StoredObject)
        .where(
            (StoredObject.kind.like(f"{name}.%"))
            | ((StoredObject.kind == SETTINGS_KIND) & (StoredObject.name == name))
        )
        .order_by(StoredObject.id)  # the plan's order (rows rewritten in place can move)
    ):
        if obj.kind == SETTINGS_KIND:
            data.update(obj.spec)
        else:
            data.setdefault(obj.kind.split(".", 1)[1], []).append(obj.spec)
    return data
