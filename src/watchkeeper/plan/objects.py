"""Split a plan into the named objects the store keeps, and put them back together.

A top-level list of named objects (``checks``) is the collection ``checks``; a list inside a
section (``alerts.rules``) is ``alerts.rules``; a section's other keys form one settings
object of kind ``settings`` named after the section. New sections need no code here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from types import UnionType
from typing import TYPE_CHECKING, Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from watchkeeper.plan.base import PlanObject
from watchkeeper.plan.sealing import secret_paths
from watchkeeper.plan.source import Path_, SourceDocument, SourceProblem, format_path

if TYPE_CHECKING:
    from watchkeeper.plan.models import Plan

SETTINGS_KIND = "settings"
"""The kind of the stored object holding a section's settings (its keys that are not
collections). This module imports no section's models (and no store), so that reading or
checking one section does not load them all."""


@dataclass(frozen=True)
class ObjectRecord:
    """One object as the store sees it: kind, name and its JSON-ready spec."""

    kind: str
    name: str
    spec: dict[str, Any]
    path: Path_ = ()
    duplicate_of: Path_ | None = None
    secrets: tuple[tuple[str | int, ...], ...] = ()  # where ``spec`` holds secret values

    @property
    def section(self) -> str:
        return self.kind.split(".", 1)[0] if self.kind != SETTINGS_KIND else self.name


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True)


def _collection(kind: str, path: Path_, items: Iterable[PlanObject]) -> Iterator[ObjectRecord]:
    seen: dict[str, Path_] = {}
    for i, item in enumerate(items):
        item_path = (*path, i)
        yield ObjectRecord(
            kind,
            item.name,
            _dump(item),
            item_path,
            seen.get(item.name),
            tuple(secret_paths(item)),
        )
        seen.setdefault(item.name, item_path)


def plan_objects(plan: Plan) -> Iterator[ObjectRecord]:
    """Yield every object the plan declares, in file order (duplicates flagged)."""
    from watchkeeper.plan.models import SECTIONS

    for section in SECTIONS:
        yield from section_objects(section, getattr(plan, section))


def section_objects(section: str, value: BaseModel | list[Any]) -> Iterator[ObjectRecord]:
    """Yield the objects of one section of a plan (``value``), duplicates flagged."""
    if isinstance(value, list):
        yield from _collection(section, (section,), value)
        return
    settings: dict[str, Any] = {}
    for field, info in type(value).model_fields.items():
        if _is_collection(info.annotation):
            yield from _collection(f"{section}.{field}", (section, field), getattr(value, field))
        else:
            settings[field] = value.model_dump(mode="json", by_alias=True, include={field})[field]
    if value.model_fields_set:
        secrets = tuple(p for p in secret_paths(value) if p and p[0] in settings)
        yield ObjectRecord(SETTINGS_KIND, section, settings, (section,), secrets=secrets)


def _is_collection(annotation: Any) -> bool:
    """Return True for ``list[X]`` where X is a PlanObject (or a union of them)."""
    if get_origin(annotation) is not list:
        return False
    (item,) = get_args(annotation) or (None,)
    while get_origin(item) is Annotated:
        item = get_args(item)[0]
    members = get_args(item) if get_origin(item) in (Union, UnionType) else (item,)
    return all(isinstance(m, type) and issubclass(m, PlanObject) for m in members)


def assemble_plan(records: Iterable[ObjectRecord], name: str = "") -> Plan:
    """Return the Plan made of ``records`` (the inverse of :func:`plan_objects`)."""
    from watchkeeper.plan.models import Plan

    data: dict[str, Any] = {"version": 1, "name": name}
    for rec in records:
        if rec.kind == SETTINGS_KIND:
            data.setdefault(rec.name, {}).update(rec.spec)
        elif "." in rec.kind:
            section, field = rec.kind.split(".", 1)
            data.setdefault(section, {}).setdefault(field, []).append(rec.spec)
        else:
            data.setdefault(rec.kind, []).append(rec.spec)
    return Plan.model_validate(data)


def export_data(plan: Plan) -> dict[str, Any]:
    """Return the plan as plain data with defaults left out, ready to write as YAML."""
    return plan.model_dump(mode="json", by_alias=True, exclude_defaults=True)


def duplicate_names(doc: SourceDocument, objects: Iterable[ObjectRecord]) -> list[SourceProblem]:
    """A problem for each object whose name an earlier one of its kind already has."""
    problems = []
    for obj in objects:
        if obj.duplicate_of is not None:
            path = (*obj.path, "name")
            problems.append(
                SourceProblem(
                    doc.file,
                    doc.position(path),
                    format_path(path),
                    f'"{obj.name}" is already used by {format_path(obj.duplicate_of)}',
                )
            )
    return problems
