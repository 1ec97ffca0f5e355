"""Registries of plugins keyed by the plan's ``type:`` name.

Built-ins register through the same entry points a third-party package would use
(``[project.entry-points."watchkeeper.checks"]``). A plugin that fails to load is reported in
``failures`` and left out; the rest keep working.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel

log = logging.getLogger(__name__)


@runtime_checkable
class Plugin(Protocol):
    """What every plugin declares about itself; docs and UI forms are generated from it."""

    name: str
    description: str
    config_model: type[BaseModel]


P = TypeVar("P", bound=Plugin)


@dataclass
class Registry(Generic[P]):
    """Plugins of one kind, loaded lazily from an entry-point group."""

    group: str
    _plugins: dict[str, P] | None = None
    failures: dict[str, str] = field(default_factory=dict)

    def _load(self) -> dict[str, P]:
        plugins: dict[str, P] = {}
        for ep in sorted(entry_points(group=self.group), key=lambda e: e.name):
            try:
                obj: Any = ep.load()
                plugin = obj() if isinstance(obj, type) else obj
                if not isinstance(plugin, Plugin) or plugin.name != ep.name:
                    raise TypeError(f"{ep.value} does not describe itself as plugin {ep.name!r}")
            except Exception as exc:  # a broken plugin must not stop the server
                self.failures[ep.name] = f"{type(exc).__name__}: {exc}"
                log.error("plugin %s:%s disabled: %s", self.group, ep.name, exc)
                continue
            plugins[ep.name] = plugin  # type: ignore[assignment]
        return plugins

    def all(self) -> dict[str, P]:
        """Return every loaded plugin by name (loading them on first use)."""
        if self._plugins is None:
            self._plugins = self._load()
        return self._plugins

    def get(self, name: str) -> P | None:
        return self.all().get(name)
