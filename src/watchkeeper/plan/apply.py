"""Compare a plan with the store, apply it idempotently, and export the store as a plan."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.auth import audit
from watchkeeper.auth.audit import Actor
from watchkeeper.knowledge.runbook_folder import sync_folder
from watchkeeper.plan import sealing
from watchkeeper.plan.catalog import seal_stored
from watchkeeper.plan.loader import LoadedPlan
from watchkeeper.plan.objects import ObjectRecord, assemble_plan, export_data, plan_objects
from watchkeeper.store.tables import PlanApply, StoredObject, utcnow


@dataclass(frozen=True)
class Change:
    """One object that would change: ``action`` is create, update, adopt or delete."""

    action: str
    kind: str
    name: str
    fields: tuple[str, ...] = ()

    def __str__(self) -> str:
        sign = {"create": "+", "update": "~", "adopt": "~", "delete": "-"}[self.action]
        extra = f" ({', '.join(self.fields)})" if self.fields else ""
        note = " (made in the UI; the plan takes it over)" if self.action == "adopt" else ""
        return f"{sign} {self.kind}/{self.name}{extra}{note}"


@dataclass
class PlanDiff:
    changes: list[Change] = field(default_factory=list)
    unchanged: int = 0

    def count(self, action: str) -> int:
        return sum(1 for c in self.changes if c.action == action)

    @property
    def empty(self) -> bool:
        return not self.changes


def _changed_fields(old: dict[str, Any], new: dict[str, Any]) -> tuple[str, ...]:
    return tuple(sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k)))


def _stored(db: Session) -> dict[tuple[str, str], Any]:
    """What the diff needs of every stored object, as rows (not ORM objects: with ten
    thousand checks those weighed tens of megabytes at every apply)."""
    rows = db.execute(
        select(
            StoredObject.id,
            StoredObject.kind,
            StoredObject.name,
            StoredObject.managed,
            StoredObject.spec,
        )
    )
    return {(row.kind, row.name): row for row in rows}


def _diff(records: list[ObjectRecord], stored: dict[tuple[str, str], Any]) -> PlanDiff:
    result = PlanDiff()
    wanted: set[tuple[str, str]] = set()
    for rec in records:
        key = (rec.kind, rec.name)
        wanted.add(key)
        old = stored.get(key)
        if old is None:
            result.changes.append(Change("create", rec.kind, rec.name))
        elif not old.managed:
            result.changes.append(
                Change("adopt", rec.kind, rec.name, _changed_fields(old.spec, rec.spec))
            )
        elif old.spec != rec.spec:
            result.changes.append(
                Change("update", rec.kind, rec.name, _changed_fields(old.spec, rec.spec))
            )
        else:
            result.unchanged += 1
    for key, row in sorted(stored.items()):
        if row.managed and key not in wanted:
            result.changes.append(Change("delete", row.kind, row.name))
    return result


def diff_plan(db: Session, loaded: LoadedPlan) -> PlanDiff:
    """Return what applying ``loaded`` would change in the store."""
    return _diff(list(plan_objects(loaded.plan)), _stored(db))


AUDIT_MAX_CHANGES = 500  # more are counted, not listed, in the audit entry
LOAD_CHUNK = 500  # stored objects loaded at once for an update or a delete


def apply_plan(db: Session, loaded: LoadedPlan, actor: str | Actor = "plan") -> PlanDiff:
    """Make the store match ``loaded`` (idempotent) and record the apply, in the store and
    the audit trail; the caller commits.

    Objects the plan declares become managed; managed objects the plan no longer declares are
    deleted; objects made in the UI are left alone unless the plan declares the same name.
    """
    who = audit.actor_of(actor)
    declared = list(plan_objects(loaded.plan))
    stored = _stored(db)
    changes = _diff(declared, stored)
    records = {(r.kind, r.name): r for r in declared}
    touched = [stored[(c.kind, c.name)].id for c in changes.changes if c.action != "create"]
    objects: dict[int, StoredObject] = {}
    for start in range(0, len(touched), LOAD_CHUNK):
        chunk = touched[start : start + LOAD_CHUNK]
        objects.update(
            (o.id, o) for o in db.scalars(select(StoredObject).where(StoredObject.id.in_(chunk)))
        )
    for change in changes.changes:
        key = (change.kind, change.name)
        if change.action == "delete":
            db.delete(objects[stored[key].id])
            continue
        rec = records[key]
        if change.action == "create":
            db.add(
                StoredObject(
                    kind=rec.kind,
                    name=rec.name,
                    spec=sealing.seal(rec.spec, rec.secrets),
                    managed=True,
                    updated_by=who.name,
                )
            )
        else:
            obj = objects[stored[key].id]
            obj.spec, obj.managed, obj.updated_by, obj.updated_at = (
                sealing.seal(rec.spec, rec.secrets),
                True,
                who.name,
                utcnow(),
            )
    db.flush()
    seal_stored(db)  # also what an earlier version stored in clear, or under an older key
    sync_folder(db, loaded.plan.runbooks, Path(loaded.file).parent, who, utcnow())
    db.add(
        PlanApply(
            file=loaded.file,
            digest=loaded.digest,
            plan_name=loaded.plan.name,
            created=changes.count("create"),
            updated=changes.count("update") + changes.count("adopt"),
            deleted=changes.count("delete"),
            actor=who.name,
        )
    )
    listed = [str(c) for c in changes.changes[:AUDIT_MAX_CHANGES]]
    audit.record(
        db,
        who,
        "plan.apply",
        f"plan/{loaded.plan.name}" if loaded.plan.name else "plan",
        {
            "file": loaded.file,
            "digest": loaded.digest,
            "changes": listed,
            "not_listed": len(changes.changes) - len(listed),
            "created": changes.count("create"),
            "updated": changes.count("update") + changes.count("adopt"),
            "deleted": changes.count("delete"),
            "unchanged": changes.unchanged,
        },
    )
    return changes


def last_apply(db: Session) -> PlanApply | None:
    return db.scalar(select(PlanApply).order_by(PlanApply.id.desc()).limit(1))


def _escape_dollars(value: Any) -> Any:
    """Write ``$`` as ``$$`` so that loading the export does not substitute variables."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, list):
        return [_escape_dollars(v) for v in value]
    if isinstance(value, dict):
        return {k: _escape_dollars(v) for k, v in value.items()}
    return value


def export_plan(db: Session) -> str:
    """Return every stored object (plan-managed and UI-made) as plan YAML."""
    rows = db.scalars(select(StoredObject).order_by(StoredObject.kind, StoredObject.id))
    records = [ObjectRecord(o.kind, o.name, o.spec) for o in rows]
    last = last_apply(db)
    plan = assemble_plan(records, name=last.plan_name if last else "")
    header = "# Exported by `watchkeeper plan export` at " + utcnow().strftime("%Y-%m-%dT%H:%MZ")
    body = yaml.safe_dump(_escape_dollars(export_data(plan)), sort_keys=False, allow_unicode=True)
    return f"{header}\n{body}"
