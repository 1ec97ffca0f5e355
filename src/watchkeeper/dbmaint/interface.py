"""What every database type provides: a health collection and maintenance planning.

One module per type implements it (:mod:`watchkeeper.dbmaint.postgres`,
:mod:`watchkeeper.dbmaint.mariadb`, :mod:`watchkeeper.dbmaint.sqlite`); the service
(:mod:`watchkeeper.dbmaint.service`) schedules collections and maintenance, keeps the latest
collection in ``db_health``, writes the samples into the metrics store (so alert rules and
charts use them) and records maintenance runs in ``db_maintenance_runs``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

from watchkeeper.dbmaint.config import DatabaseConfig, MaintenanceTask
from watchkeeper.exceptions import WatchkeeperError

Severity = Literal["critical", "warning", "info"]
SEVERITY_RANK: dict[str, int] = {"critical": 0, "warning": 1, "info": 2}


class DbError(WatchkeeperError):
    """The database cannot be reached or read (the message never holds a password)."""


@dataclass(frozen=True)
class Finding:
    """One problem the thresholds found, with its evidence and the exact fix.

    ``key`` is stable across collections (``unused_index:public.orders_note_idx``) so a
    dismissal sticks; ``impact_bytes`` (space to win) and ``severity`` rank the advisor."""

    key: str
    kind: str  # unused_index, duplicate_index, invalid_index, table_bloat, index_bloat, ...
    severity: Severity
    title: str  # "Unused index public.orders_note_idx (2.1 GB)"
    evidence: str  # "0 scans since statistics were reset on 2026-10-01"
    sql: str = ""  # the fix, exactly as it would be run ("" when it is not SQL)
    object: str = ""  # the table, index or query it is about
    impact_bytes: int = 0

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Sample:
    """A value for the metrics store: ``watchkeeper_db_<name>{database=..., **labels}``."""

    name: str  # e.g. "table_size_bytes" (the service adds the prefix and `database`)
    value: float
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Collection:
    """What one health collection read.

    ``details`` is plain JSON for the UI (``tables``, ``indexes``, ``queries``,
    ``sessions``, ``locks``, ``replication``, ``settings``, ... as the type has them);
    ``statements`` maps a statement id to its text (kept in ``db_query_texts``)."""

    size_bytes: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    statements: dict[str, str] = field(default_factory=dict)
    queries: int = 0  # statements the collection sent to the database


@dataclass(frozen=True)
class Step:
    """One maintenance statement: its target, its SQL, and (once run) what it changed.

    ``before``/``after`` hold the figures the action is meant to move: ``size_bytes``,
    ``dead_tuples``, ``bloat_bytes`` (what the type can measure)."""

    target: str
    sql: str
    reason: str = ""  # why it was chosen: "dead tuples 31% (120,000)"
    status: Literal["planned", "succeeded", "failed", "skipped"] = "planned"
    before: Mapping[str, float] = field(default_factory=dict)
    after: Mapping[str, float] = field(default_factory=dict)
    duration_s: float = 0.0
    error: str = ""

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["before"], data["after"] = dict(self.before), dict(self.after)
        return data


class DatabaseType(Protocol):
    """A database type's collector and maintainer."""

    async def collect(self, target: DatabaseConfig) -> Collection:
        """Read the database's health; raise DbError when it cannot be reached. Every
        statement runs under ``target.collect_timeout``."""
        ...

    async def plan(self, target: DatabaseConfig, task: MaintenanceTask) -> list[Step]:
        """The steps ``task`` would run now (targets chosen by the thresholds, unless
        ``task.all_tables``), each with its ``before`` figures; raise DbError."""
        ...

    async def run(
        self, target: DatabaseConfig, task: MaintenanceTask, steps: list[Step]
    ) -> list[Step]:
        """Run ``steps`` one by one under the task's lock and statement timeouts (a step
        whose lock is not granted fails, the others still run; none starts after
        ``max_runtime``) and return them with status, duration and ``after`` figures."""
        ...
