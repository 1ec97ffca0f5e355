"""Objects in the store, as the API and UI see them: list, read, and edit UI-made ones."""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from typing import Any, get_args

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import JSON, case, func, select, type_coerce, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from watchkeeper.auth import audit
from watchkeeper.auth.audit import Actor
from watchkeeper.exceptions import ConflictError, NotFoundError, ValidationFailed
from watchkeeper.logging_setup import MASK
from watchkeeper.plan import sealing
from watchkeeper.plan.explain import explain
from watchkeeper.plan.models import SECTIONS, Plan
from watchkeeper.plan.objects import SETTINGS_KIND, _is_collection
from watchkeeper.plan.source import format_path
from watchkeeper.store.tables import StoredObject, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ObjectView:
    kind: str
    name: str
    spec: dict[str, Any]
    managed: bool
    created_at: datetime
    updated_at: datetime
    updated_by: str

    @classmethod
    def of(cls, obj: StoredObject) -> ObjectView:
        return cls(
            obj.kind,
            obj.name,
            sealing.open_all(copy.deepcopy(obj.spec)),  # just written: still sealed
            obj.managed,
            obj.created_at,
            obj.updated_at,
            obj.updated_by,
        )


@cache
def collection_kinds() -> dict[str, Any]:
    """Return ``kind -> item annotation`` for every collection the plan schema has."""
    kinds: dict[str, Any] = {}
    for section in SECTIONS:
        annotation = Plan.model_fields[section].annotation
        if _is_collection(annotation):
            kinds[section] = get_args(annotation)[0]
            continue
        for field, info in annotation.model_fields.items():  # type: ignore[union-attr]
            if _is_collection(info.annotation):
                kinds[f"{section}.{field}"] = get_args(info.annotation)[0]
    return kinds


@cache
def _adapter(kind: str) -> TypeAdapter[Any]:
    return TypeAdapter(collection_kinds()[kind])


def validate_spec(kind: str, spec: Any) -> dict[str, Any]:
    """Return the normalised spec for a new ``kind`` object; raise ValidationFailed by field."""
    if kind not in collection_kinds():
        raise NotFoundError(f'no object kind "{kind}"')
    context: dict[str, Any] = {}
    try:
        obj = _adapter(kind).validate_python(spec, context=context)
    except ValidationError as exc:
        errors = [
            (format_path(path) or "body", message)
            for path, message, _ in explain(exc, spec, context)
        ]
        raise ValidationFailed(f"invalid {kind} object", errors) from None
    dumped: dict[str, Any] = _adapter(kind).dump_python(obj, mode="json", by_alias=True)
    return dumped


def _sealed(kind: str, clean: dict[str, Any]) -> dict[str, Any]:
    """``clean`` as stored: its secret values sealed."""
    return sealing.seal(clean, sealing.secret_paths(_adapter(kind).validate_python(clean)))


def _secret_paths(kind: str, name: str, spec: Any) -> list[sealing.Path] | None:
    try:
        if kind in collection_kinds():
            return list(sealing.secret_paths(_adapter(kind).validate_python(spec)))
        section = Plan.model_fields[name].annotation  # a section's settings
        model = section.model_validate(spec)  # type: ignore[union-attr]
    except (ValidationError, KeyError, AttributeError):
        return None
    return [p for p in sealing.secret_paths(model) if p and p[0] in spec]


@dataclass(frozen=True)
class StoredSecrets:
    """One stored object's spec as stored (its secret values sealed), opened, and where it
    holds secret values (None when it does not validate)."""

    id: int
    kind: str
    name: str
    stored: Any
    spec: Any
    paths: list[sealing.Path] | None


def stored_secrets(db: Session) -> Iterator[StoredSecrets]:
    """Every stored object, by kind and name, with where its secrets are. The specs are read
    as stored (the column type would open sealed values) a few hundred at a time: with ten
    thousand checks, all of them at once weighed tens of megabytes."""
    rows = db.execute(
        select(
            StoredObject.id,
            StoredObject.kind,
            StoredObject.name,
            type_coerce(StoredObject.spec, JSON),
        )
        .order_by(StoredObject.kind, StoredObject.name)
        .execution_options(yield_per=500)
    )
    for object_id, kind, name, stored in rows:
        spec = sealing.open_all(copy.deepcopy(stored))
        yield StoredSecrets(object_id, kind, name, stored, spec, _secret_paths(kind, name, spec))


def seal_stored(db: Session) -> tuple[int, int]:
    """Seal the secret values of every stored object with the current key (values stored
    in clear by an earlier version, or sealed with a previous key); return (objects with
    secrets, objects). The caller commits. Every plan apply runs this."""
    with_secrets = total = 0
    reseal: list[tuple[int, dict[str, Any]]] = []
    for obj in stored_secrets(db):
        total += 1
        if obj.paths is None:
            log.warning("stored object %s/%s does not validate; left as it is", obj.kind, obj.name)
            continue
        if obj.paths:
            with_secrets += 1
        if sealing.needs_sealing(obj.stored, obj.paths):
            reseal.append((obj.id, sealing.seal(obj.spec, obj.paths)))
    for object_id, sealed in reseal:  # once the reading is done
        # A Core update: the object did not change, so neither does its updated_at.
        db.execute(
            update(StoredObject)
            .where(StoredObject.id == object_id)
            .values(spec=sealed, updated_at=StoredObject.updated_at)
            .execution_options(synchronize_session=False)
        )
    return with_secrets, total


def shown(view: ObjectView) -> ObjectView:
    """``view`` with secret values (passwords, tokens, credentials in URLs) masked: what the
    API and the UI show. The runner and the scraper read the stored spec itself."""
    return replace(view, spec=audit.mask_secrets(view.spec))


def unmask(new: Any, old: Any) -> Any:
    """Put the stored secrets back where an edited spec still holds their masks, so that
    editing a masked object does not overwrite its password with the mask."""
    if isinstance(new, str):
        if isinstance(old, str) and new != old and audit.mask_secrets(old) == new:
            return old
        return new
    if isinstance(new, dict) and isinstance(old, dict):
        return {
            k: old[k] if v == MASK and k in old else unmask(v, old.get(k)) for k, v in new.items()
        }
    if isinstance(new, list) and isinstance(old, list):
        return [unmask(v, old[i]) if i < len(old) else v for i, v in enumerate(new)]
    return new


def compact_spec(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Return ``spec`` without the keys that hold their default value, for editing."""
    adapter = _adapter(kind)
    compact: dict[str, Any] = adapter.dump_python(
        adapter.validate_python(spec), mode="json", by_alias=True, exclude_defaults=True
    )
    return compact


def _readable(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` without its defaults when it still validates (for the audit trail)."""
    try:
        return compact_spec(kind, spec)
    except ValidationError:
        return spec


def count_by_kind(db: Session) -> dict[str, tuple[int, int]]:
    """Return ``kind -> (total, managed)``."""
    rows = db.execute(
        select(StoredObject.kind, func.count(), func.sum(case((StoredObject.managed, 1), else_=0)))
        .where(StoredObject.kind != SETTINGS_KIND)
        .group_by(StoredObject.kind)
    )
    return {kind: (total, int(managed or 0)) for kind, total, managed in rows}


def list_objects(db: Session, kind: str) -> list[ObjectView]:
    rows = db.scalars(
        select(StoredObject).where(StoredObject.kind == kind).order_by(StoredObject.name)
    )
    return [ObjectView.of(o) for o in rows]


def _get(db: Session, kind: str, name: str) -> StoredObject:
    obj = db.scalar(
        select(StoredObject).where(StoredObject.kind == kind, StoredObject.name == name)
    )
    if obj is None:
        raise NotFoundError(f'no {kind} object named "{name}"')
    return obj


def get_object(db: Session, kind: str, name: str) -> ObjectView:
    return ObjectView.of(_get(db, kind, name))


def _refuse_managed(obj: StoredObject) -> None:
    if obj.managed:
        raise ConflictError(
            f"{obj.kind}/{obj.name} is managed by the plan file; change it "
            "there and apply the plan (or remove it from the plan first)"
        )


def create_object(db: Session, kind: str, spec: Any, actor: str | Actor) -> ObjectView:
    """Create a UI-made object and audit it; raise ValidationFailed, or ConflictError if the
    name is taken. The caller commits."""
    who = audit.actor_of(actor)
    clean = validate_spec(kind, spec)
    obj = StoredObject(
        kind=kind, name=clean["name"], spec=_sealed(kind, clean), managed=False, updated_by=who.name
    )
    try:
        with db.begin_nested():  # a savepoint: a taken name must not undo the caller's work
            db.add(obj)
    except IntegrityError:
        raise ConflictError(f'a {kind} object named "{clean["name"]}" already exists') from None
    audit.record(
        db,
        who,
        "object.create",
        f"{kind}/{obj.name}",
        {"changes": audit.changes(None, _readable(kind, clean))},
    )
    return ObjectView.of(obj)


def update_object(db: Session, kind: str, name: str, spec: Any, actor: str | Actor) -> ObjectView:
    """Replace a UI-made object's spec and audit it; raise ConflictError for plan-managed
    objects. The caller commits."""
    who = audit.actor_of(actor)
    obj = _get(db, kind, name)
    _refuse_managed(obj)
    clean = validate_spec(kind, unmask(spec, obj.spec))
    if clean["name"] != name:
        raise ValidationFailed(
            "invalid object", [("name", "cannot be changed; create a new object instead")]
        )
    before = obj.spec
    obj.spec, obj.updated_by, obj.updated_at = _sealed(kind, clean), who.name, utcnow()
    audit.record(
        db, who, "object.update", f"{kind}/{name}", {"changes": audit.changes(before, clean)}
    )
    return ObjectView.of(obj)


def delete_object(db: Session, kind: str, name: str, actor: str | Actor) -> None:
    """Delete a UI-made object and audit it; raise ConflictError for plan-managed objects.
    The caller commits."""
    obj = _get(db, kind, name)
    _refuse_managed(obj)
    before = _readable(kind, obj.spec)
    db.delete(obj)
    audit.record(
        db,
        audit.actor_of(actor),
        "object.delete",
        f"{kind}/{name}",
        {"changes": audit.changes(before, None)},
    )
