"""The plan's ``databases`` section: the databases Watchkeeper watches (PostgreSQL,
MariaDB/MySQL, SQLite), the thresholds that turn their statistics into findings, and the
maintenance tasks it runs inside maintenance windows."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import Discriminator, Field, field_validator, model_validator

from watchkeeper.plan.base import PlanModel, PlanObject
from watchkeeper.plan.types import Cron, Duration, Name, Secret, Size

PostgresAction = Literal["vacuum", "analyze", "reindex", "repack"]
MariadbAction = Literal["optimize", "analyze"]
SqliteAction = Literal["vacuum", "analyze", "optimize"]

ACTIONS: dict[str, tuple[str, ...]] = {
    "postgres": ("vacuum", "analyze", "reindex", "repack"),
    "mariadb": ("optimize", "analyze"),
    "mysql": ("optimize", "analyze"),
    "sqlite": ("vacuum", "analyze", "optimize"),
}
"""The maintenance actions each database type knows."""

RESERVED_DATABASE_NAMES = frozenset({"runs", "recommendations"})
"""Names a database cannot take: fixed paths under ``/api/v1/databases/`` and
``/databases/`` (``/api/v1/databases/runs``), which a database of that name would
shadow."""


class Thresholds(PlanModel):
    """When a statistic becomes a finding (and a table or index a maintenance target)."""

    vacuum_dead_ratio: float = Field(
        0.1, gt=0, le=1, description="Dead tuples / all tuples above which a table needs VACUUM."
    )
    vacuum_min_dead: int = Field(
        10_000, ge=0, description="...and at least this many dead tuples (small tables wait)."
    )
    analyze_modified_ratio: float = Field(
        0.1, gt=0, description="Rows modified since the last ANALYZE / live rows that want one."
    )
    bloat_ratio: float = Field(
        0.3, gt=0, lt=1, description="Estimated wasted share that makes a table or index bloated."
    )
    bloat_min_size: Size = Field(
        50 * 1024 * 1024, description="...and at least this much wasted space (e.g. `50MiB`)."
    )
    unused_index_min_size: Size = Field(
        1024 * 1024, description="Unused indexes smaller than this are not reported."
    )
    seq_scan_min_rows: int = Field(
        100_000, ge=0, description="Tables this large read by sequential scans get index hints."
    )
    seq_scan_min_scans: int = Field(
        50, ge=1, description="...once read by at least this many sequential scans."
    )
    lock_wait: Duration = Field(
        timedelta(seconds=5),
        description="A session blocking another for longer than this is a finding.",
    )
    replication_lag: Duration = Field(
        timedelta(minutes=5), description="A replica further behind than this is a finding."
    )
    slow_query_mean: Duration = Field(
        timedelta(milliseconds=500), description="Mean execution time that makes a query slow."
    )
    long_transaction: Duration = Field(
        timedelta(minutes=5), description="Transactions open longer than this are reported."
    )
    idle_in_transaction: Duration = Field(
        timedelta(minutes=1), description="Sessions idle in a transaction longer than this."
    )
    connections_ratio: float = Field(
        0.8, gt=0, le=1, description="Connections in use / max_connections that is a finding."
    )
    wraparound_ratio: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Transaction-ID age / autovacuum_freeze_max_age that is a finding.",
    )
    cache_hit_ratio: float = Field(
        0.95, gt=0, le=1, description="Buffer cache hit ratio below which it is a finding."
    )
    fragmentation_ratio: float = Field(
        0.2, gt=0, le=1, description="MariaDB: data_free / data size that wants OPTIMIZE TABLE."
    )


class MaintenanceTask(PlanObject):
    """A maintenance task: which action on which tables, when, and how long it may block.

    It starts on its ``schedule`` only while one of its ``windows`` is open, chooses its
    targets by the database's thresholds (not every table), and records before/after sizes,
    bloat and dead tuples with the SQL it ran."""

    action: Literal["vacuum", "analyze", "reindex", "repack", "optimize"] = Field(
        description="postgres: vacuum (VACUUM (ANALYZE)), analyze, reindex (REINDEX INDEX "
        "CONCURRENTLY of bloated indexes), repack (pg_repack, when installed); "
        "mariadb/mysql: optimize (OPTIMIZE TABLE), analyze (ANALYZE TABLE); "
        "sqlite: vacuum, analyze, optimize (PRAGMA optimize)."
    )
    schedule: Cron = Field("0 3 * * *", description="When it may start (UTC).")
    windows: list[Name] = Field(
        min_length=1,
        description="Maintenance windows (`alerts.maintenance_windows`) it may run in; "
        "a scheduled start outside all of them waits for the next one.",
    )
    tables: list[str] = Field(
        default_factory=list,
        description="Only tables matching these globs (`public.orders`, `audit.*`); "
        "empty: every table.",
    )
    exclude: list[str] = Field(default_factory=list, description="Tables never touched (globs).")
    all_tables: bool = Field(
        False, description="Ignore the thresholds: act on every matching table or index."
    )
    lock_timeout: Duration = Field(
        timedelta(seconds=5),
        description="Give up on a table whose lock is not granted within this time.",
    )
    statement_timeout: Duration = Field(
        timedelta(minutes=30), description="Longest any one statement may run."
    )
    max_runtime: Duration = Field(
        timedelta(hours=2), description="No new statement starts after this much time."
    )


class DiskRef(PlanModel):
    """The filesystem that holds a database's files, as a host agent reports it."""

    host: str = Field(
        min_length=1, description="The agent's host name (the `instance` of its series)."
    )
    mountpoint: str = Field(
        min_length=1, description="The filesystem's mount point, e.g. `/var/lib/postgresql`."
    )


class _DatabaseBase(PlanObject):
    type: str
    collect_interval: Duration = Field(
        timedelta(minutes=5), description="How often health statistics are collected."
    )
    collect_timeout: Duration = Field(
        timedelta(seconds=30), description="Statement timeout of the collection's queries."
    )
    size_budget: Size | None = Field(
        None, description="Size the database should stay under (capacity forecast)."
    )
    disk: DiskRef | None = Field(
        None,
        description="Filesystem holding its files (from the host agent's "
        "`node_filesystem_*` series): capacity forecasts when it fills.",
    )
    team: str = Field("", description="Team that owns it (recommendations, alerts).")
    thresholds: Thresholds = Field(default_factory=Thresholds)
    maintenance: list[MaintenanceTask] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _not_a_route(cls, value: str) -> str:
        if value in RESERVED_DATABASE_NAMES:
            raise ValueError(
                f'"{value}" is reserved: /api/v1/databases/{value} and /databases/{value} are '
                "pages of their own; choose another name"
            )
        return value

    @model_validator(mode="after")
    def _actions_fit(self) -> _DatabaseBase:
        known = ACTIONS[self.type]
        for task in self.maintenance:
            if task.action not in known:
                raise ValueError(
                    f'maintenance task "{task.name}": {self.type} databases '
                    f"know the actions {', '.join(known)}, not {task.action}"
                )
        names = [t.name for t in self.maintenance]
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate is not None:
            raise ValueError(f'two maintenance tasks are named "{duplicate}"')
        return self


class PostgresDatabase(_DatabaseBase):
    """A PostgreSQL (12+) database. A role with `pg_monitor` reads everything but the
    fixes; maintenance needs the table owner (or superuser)."""

    type: Literal["postgres"]
    url: Secret = Field(description="Connection URL, e.g. `postgresql://watch@db:5432/app`.")
    statements_top: int = Field(
        100, ge=0, le=10_000, description="Queries from pg_stat_statements kept per collection."
    )


class MariadbDatabase(_DatabaseBase):
    """A MariaDB or MySQL database (schema)."""

    type: Literal["mariadb", "mysql"]
    url: Secret = Field(description="Connection URL, e.g. `mysql://watch:pw@db:3306/app`.")
    statements_top: int = Field(
        100, ge=0, le=10_000, description="Statement digests kept per collection."
    )


class SqliteDatabase(_DatabaseBase):
    """A SQLite database file."""

    type: Literal["sqlite"]
    path: str = Field(description="Path of the database file.")


DatabaseConfig = Annotated[
    PostgresDatabase | MariadbDatabase | SqliteDatabase, Discriminator("type")
]


class DatabasesSection(PlanModel):
    """Databases to watch and maintain."""

    targets: list[DatabaseConfig] = Field(
        default_factory=list, description="The databases watched (one entry per database)."
    )
    history: Duration = Field(
        timedelta(days=400),
        description="Keep collected snapshots and maintenance runs this long.",
    )
