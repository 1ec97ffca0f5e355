"""Task kinds: built-in tasks that do part of the work themselves (an access review lists
every account; the reviewer's "revoke" is applied).

A kind is one module ``tasks/kinds_<name>.py`` that calls :func:`register` with a
:class:`TaskKind`: its name (the plan's ``kind:``), its options model (the plan's
``options:``), ``prepare`` (the instance's worklist, made when the instance is created) and
``apply`` (the reviewer's decisions, applied when the instance is completed). Such modules
are imported on first use; one that fails to import is reported and left out.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from watchkeeper.auth.audit import Actor
from watchkeeper.exceptions import WatchkeeperError
from watchkeeper.plan.base import PlanModel

log = logging.getLogger(__name__)


class KindError(WatchkeeperError):
    """An unknown kind, options it refuses, or decisions it cannot apply."""


class NoOptions(PlanModel):
    """A kind without options."""


@dataclass(frozen=True)
class WorkItem:
    """One line of an instance's worklist: what to decide about (``key``, unique in the
    list), shown as ``label`` with ``detail``; ``suggested`` is the decision pre-selected
    (a stale account pre-marked "revoke"), ``link`` a page about it."""

    key: str
    label: str
    detail: str = ""
    suggested: str = ""
    link: str = ""

    def to_json(self) -> dict[str, str]:
        return {
            "key": self.key,
            "label": self.label,
            "detail": self.detail,
            "suggested": self.suggested,
            "link": self.link,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WorkItem:
        return cls(
            str(data.get("key", "")),
            str(data.get("label", "")),
            str(data.get("detail", "")),
            str(data.get("suggested", "")),
            str(data.get("link", "")),
        )


@dataclass(frozen=True)
class KindContext:
    """What ``prepare`` and ``apply`` know about the instance: its task, the period it
    covers (``since``: the previous occurrence, None for the first), and the options."""

    task: str
    instance_id: int
    occurrence_at: datetime
    due_at: datetime
    since: datetime | None
    options: Any
    now: datetime
    role: str = ""  # the completing caller's effective role ("" outside a request)


Prepare = Callable[[Session, KindContext], list[WorkItem]]
Apply = Callable[[Session, KindContext, dict[str, str], Actor], list[str]]


@dataclass(frozen=True)
class TaskKind:
    """A built-in task kind (see the module docstring). ``decisions``: what a reviewer may
    choose for each work item (the first is the default); ``apply`` returns sentences
    recorded with the completion ("revoked token deploy-ci")."""

    name: str
    description: str
    prepare: Prepare
    apply: Apply
    options_model: type[BaseModel] = NoOptions
    decisions: tuple[str, ...] = ("confirm",)


@dataclass
class KindRegistry:
    kinds: dict[str, TaskKind] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    loaded: bool = False

    def add(self, kind: TaskKind) -> None:
        if kind.name in self.kinds and self.kinds[kind.name] is not kind:
            raise ValueError(f"task kind {kind.name!r} is registered twice")
        self.kinds[kind.name] = kind


registry = KindRegistry()


def register(kind: TaskKind) -> TaskKind:
    """Add ``kind`` to the registry (called by each ``kinds_<name>`` module); return it."""
    registry.add(kind)
    return kind


def load_builtin() -> KindRegistry:
    """Import every ``watchkeeper.tasks.kinds_*`` module once; return the registry. A
    module that fails is logged and listed in ``registry.failed``."""
    if registry.loaded:
        return registry
    registry.loaded = True
    import watchkeeper.tasks as package

    for info in pkgutil.iter_modules(package.__path__):
        if not info.name.startswith("kinds_"):
            continue
        try:
            importlib.import_module(f"watchkeeper.tasks.{info.name}")
        except Exception as exc:  # a broken kind must not stop the server
            registry.failed[info.name] = f"{type(exc).__name__}: {exc}"
            log.error("task kind module %s failed to load and is disabled: %s", info.name, exc)
    return registry


def get_kind(name: str) -> TaskKind:
    """Return the kind ``name``; raise KindError naming the known ones."""
    kinds = load_builtin().kinds
    found = kinds.get(name)
    if found is None:
        known = ", ".join(sorted(kinds)) or "none"
        raise KindError(f'no task kind "{name}" (known: {known})')
    return found


def validate_options(name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``options`` as the kind ``name`` normalises them; raise KindError."""
    kind = get_kind(name)
    try:
        model = kind.options_model.model_validate(dict(options))
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise KindError(
            f"options{'.' + where if where else ''}: {first['msg']} (kind {name})"
        ) from None
    dumped: dict[str, Any] = model.model_dump(mode="json", exclude_defaults=True)
    return dumped


def options_of(kind: TaskKind, options: Mapping[str, Any]) -> Any:
    """The options model instance of ``kind`` for stored ``options``."""
    return kind.options_model.model_validate(dict(options))
