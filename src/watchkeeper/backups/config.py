"""The plan's ``backups`` section: repositories, policies (source, schedule, retention,
integrity checks, restore drills, freshness)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, Discriminator, Field, field_validator, model_validator

from watchkeeper.plan.base import PlanModel, PlanObject
from watchkeeper.plan.types import Cron, Duration, Name, Secret

_PERCENT = re.compile(r"^\d+(\.\d+)?%$")

RESERVED_POLICY_NAMES = frozenset(
    {"runs", "restores", "restore", "copies", "drills", "snapshots", "repositories"}
)
"""Names a policy cannot take: fixed paths under ``/api/v1/backups/`` and ``/backups/``
(``/api/v1/backups/runs``), taken or kept for pages and routes of their own."""


def _check_subset(value: str) -> str:
    if not (_PERCENT.match(value) or re.fullmatch(r"\d+/\d+", value)):
        raise ValueError('use a percentage ("5%") or a fraction ("1/10")')
    return value


class Repository(PlanObject):
    """A restic repository: a local path, `sftp:user@host:/path`, `s3:https://host/bucket`
    (any S3-compatible store) or `rest:http://host:8000/`."""

    url: str = Field(description="The restic repository string.")
    password: Secret = Field(description="Repository password (encrypts everything in it).")
    env: dict[str, Secret] = Field(
        default_factory=dict,
        description="Environment for restic, e.g. `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`.",
    )
    limit_upload: int | None = Field(
        None, ge=1, description="Upload bandwidth limit in KiB/s (`--limit-upload`)."
    )
    limit_download: int | None = Field(
        None, ge=1, description="Download bandwidth limit in KiB/s (`--limit-download`)."
    )


class PostgresSource(PlanModel):
    """PostgreSQL: `pg_dump -Fc` per database (logical), or `pg_basebackup` (physical)."""

    type: Literal["postgres"]
    url: Secret = Field(description="Connection URL, e.g. `postgresql://backup@db:5432/postgres`.")
    databases: list[str] = Field(
        default_factory=list, description="Databases to dump (empty: every non-template one)."
    )
    mode: Literal["logical", "physical"] = Field("logical")


class MariadbSource(PlanModel):
    """MariaDB/MySQL: `mariadb-dump --single-transaction` per database."""

    type: Literal["mariadb", "mysql"]
    url: Secret = Field(description="Connection URL, e.g. `mysql://backup:pw@db:3306/`.")
    databases: list[str] = Field(default_factory=list, description="Empty: every user database.")


class SqliteSource(PlanModel):
    """A SQLite database file, copied with SQLite's online backup API."""

    type: Literal["sqlite"]
    path: str = Field(description="Path of the database file.")


class FilesSource(PlanModel):
    """Directories and files."""

    type: Literal["files"]
    paths: list[str] = Field(min_length=1, description="Directories or files to back up.")
    exclude: list[str] = Field(default_factory=list, description="Glob patterns left out.")
    include: list[str] = Field(
        default_factory=list, description="When set, only files matching these globs."
    )


class WatchkeeperSource(PlanModel):
    """Watchkeeper's own store (SQLite file or PostgreSQL database) and its home directory."""

    type: Literal["watchkeeper"]


Source = Annotated[
    PostgresSource | MariadbSource | SqliteSource | FilesSource | WatchkeeperSource,
    Discriminator("type"),
]


class Retention(PlanModel):
    """Which snapshots to keep (restic's `forget` policy, grandfather-father-son)."""

    keep_last: int | None = Field(None, ge=1)
    keep_hourly: int | None = Field(None, ge=1)
    keep_daily: int | None = Field(None, ge=1)
    keep_weekly: int | None = Field(None, ge=1)
    keep_monthly: int | None = Field(None, ge=1)
    keep_yearly: int | None = Field(None, ge=1)
    schedule: Cron = Field("30 3 * * *", description="When `forget --prune` runs.")

    @model_validator(mode="after")
    def _something_kept(self) -> Retention:
        if not any(getattr(self, k) for k in type(self).model_fields if k.startswith("keep_")):
            raise ValueError("give at least one keep_* count (or leave `retention` out)")
        return self


class IntegrityCheck(PlanModel):
    """Scheduled `restic check`, reading a share of the data back."""

    schedule: Cron = Field("0 5 * * 0", description="When `restic check` runs.")
    read_data_subset: Annotated[str, AfterValidator(_check_subset)] = Field(
        "5%", description='Share of pack files read back: "5%" or "1/10".'
    )


class Drill(PlanModel):
    """Restore drills: restore the latest snapshot into a scratch target and verify it."""

    schedule: Cron = Field("0 4 * * 0", description="When the drill runs (default weekly).")
    assertions: list[str] = Field(
        default_factory=list,
        description="SQL queries run on the restored database; each must return true "
        "(e.g. `SELECT count(*) > 1000 FROM orders`).",
    )
    compare_tables: int = Field(
        5, ge=0, description="Largest tables whose row counts must match the backup's."
    )
    sample_files: int = Field(
        20, ge=0, description="Files whose checksums are compared with the source's."
    )
    scratch_url: Secret | None = Field(
        None,
        description="Server to restore databases into (default: the source's server); "
        "Watchkeeper creates and drops a temporary database there.",
    )
    timeout: Duration = Field(timedelta(hours=2))


class Freshness(PlanModel):
    """Alert when the latest good backup is too old or its size jumps."""

    max_age: Duration | None = Field(
        None, description="Default: twice the schedule's interval, at least 1 h."
    )
    max_size_change: float = Field(
        50.0, gt=0, description="Percent change from the previous backup that alerts."
    )


class Copy(PlanModel):
    """Copy the policy's snapshots from its first repository into other repositories with
    `restic copy` (the source is read once; snapshots already there are skipped)."""

    to: list[Name] = Field(
        min_length=1, description="Repositories to copy into (not ones the policy backs up to)."
    )
    schedule: Cron | None = Field(
        None,
        description="When to copy (UTC). Default: after each successful backup into the "
        "first repository.",
    )


class Hooks(PlanModel):
    before: str | None = Field(None, description="Shell command run before; failing aborts.")
    after: str | None = Field(None, description="Shell command run after (success or not).")


class Policy(PlanObject):
    """What to back up, where, when, how long to keep it and how to prove it restores."""

    source: Source
    repositories: list[Name] = Field(min_length=1, description="Repository names.")
    schedule: Cron = Field("0 2 * * *", description="When the backup runs.")
    timeout: Duration = Field(timedelta(hours=6))
    hooks: Hooks = Field(default_factory=Hooks)
    tags: list[str] = Field(default_factory=list, description="restic tags for the snapshots.")
    retention: Retention | None = None
    check: IntegrityCheck | None = Field(default_factory=IntegrityCheck)
    drill: Drill | None = Field(default_factory=Drill)
    freshness: Freshness = Field(default_factory=Freshness)
    # `copy` would shadow BaseModel.copy: the plan key is an alias.
    copy_: Copy | None = Field(
        None,
        alias="copy",
        description="Copy the snapshots into more repositories (`restic copy`).",
    )

    @field_validator("name")
    @classmethod
    def _not_a_route(cls, value: str) -> str:
        if value in RESERVED_POLICY_NAMES:
            raise ValueError(
                f'"{value}" is reserved: /api/v1/backups/{value} and /backups/{value} are '
                "pages of their own; choose another name"
            )
        return value


def copy_targets(policy: Policy) -> list[str]:
    """The repositories ``policy``'s snapshots are copied into (empty without ``copy``)."""
    return list(policy.copy_.to) if policy.copy_ is not None else []


def all_repositories(policy: Policy) -> list[str]:
    """The repositories holding ``policy``'s snapshots: those it backs up to, then its copy
    targets. Retention and integrity checks apply to all of them."""
    return [*policy.repositories, *copy_targets(policy)]


class BackupsSection(PlanModel):
    """Backup repositories and policies."""

    repositories: list[Repository] = Field(default_factory=list)
    policies: list[Policy] = Field(default_factory=list)
    max_parallel: int = Field(2, ge=1, le=32, description="Backup jobs running at once.")


def broken_references(section: BackupsSection) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Yield (path, message) for every repository a policy names that the section does not
    declare, and for copies into a repository the policy already backs up to."""
    repositories = {r.name for r in section.repositories}
    for i, policy in enumerate(section.policies):
        for j, name in enumerate(policy.repositories):
            if name not in repositories:
                yield (
                    ("backups", "policies", i, "repositories", j),
                    f'no backup repository is named "{name}"',
                )
        for j, name in enumerate(copy_targets(policy)):
            path = ("backups", "policies", i, "copy", "to", j)
            if name not in repositories:
                yield path, f'no backup repository is named "{name}"'
            elif name in policy.repositories:
                yield (
                    path,
                    f'the policy already backs up to "{name}": copy into another repository '
                    "(or leave it out of `repositories`)",
                )
