"""The database types by the plan's ``type:``: each is a health collector and a
maintenance planner/runner, found in ``watchkeeper.dbmaint.<type>.collect`` (``collect``)
and ``watchkeeper.dbmaint.<type>.maintenance`` (``plan`` and ``run``)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from watchkeeper.dbmaint.config import DatabaseConfig, MaintenanceTask
from watchkeeper.dbmaint.interface import Collection, DatabaseType, Step

_MODULES = {"postgres": "postgres", "mariadb": "mariadb", "mysql": "mariadb", "sqlite": "sqlite"}


@dataclass(frozen=True)
class _Type:
    package: str

    def _function(self, module: str, name: str) -> Any:
        return getattr(importlib.import_module(f"{self.package}.{module}"), name)

    async def collect(self, target: DatabaseConfig) -> Collection:
        result: Collection = await self._function("collect", "collect")(target)
        return result

    async def plan(self, target: DatabaseConfig, task: MaintenanceTask) -> list[Step]:
        steps: list[Step] = await self._function("maintenance", "plan")(target, task)
        return steps

    async def run(
        self, target: DatabaseConfig, task: MaintenanceTask, steps: list[Step]
    ) -> list[Step]:
        done: list[Step] = await self._function("maintenance", "run")(target, task, steps)
        return done


def database_type(target: DatabaseConfig) -> DatabaseType:
    """Return the collector and maintainer of ``target``'s type."""
    return _Type(f"watchkeeper.dbmaint.{_MODULES[target.type]}")
