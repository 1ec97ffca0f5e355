"""Read one section of the applied plan back from the store, as the section's model expects."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.exceptions import ConflictError
from watchkeeper.plan.objects import SETTINGS_KIND as SETTINGS_KIND  # its readers' name
from watchkeeper.plan.source import format_path
from watchkeeper.store.tables import StoredObject

M = TypeVar("M", bound=BaseModel)


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


class SectionUnreadable(ConflictError):
    """A stored section does not validate (a plan applied by another version, say)."""


def load_stored(db: Session, name: str, model: type[M]) -> M:
    """The stored section ``name`` as ``model`` (its defaults when the plan has none); raise
    SectionUnreadable naming the places that do not validate, never their values (they may
    be secrets)."""
    try:
        return model.model_validate(stored_section(db, name))
    except ValidationError as exc:
        places = sorted({format_path((name, *e["loc"])) for e in exc.errors(include_url=False)})
        raise SectionUnreadable(
            f"the stored {name} section does not validate ({exc.error_count()} problem(s) at "
            f"{', '.join(places[:5])}); re-apply the plan (`watchkeeper plan check` shows where)"
        ) from None
