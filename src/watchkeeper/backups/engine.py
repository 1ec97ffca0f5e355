"""The backup engine interface: what policies, drills and restores need from a tool such as
restic. :mod:`watchkeeper.backups.restic` implements it; borg could follow.

Engines never do chunking or cryptography themselves: they drive the tool and read its
machine-readable output.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from watchkeeper.exceptions import WatchkeeperError


def tool_environment() -> dict[str, str]:
    """The environment for the tools and hooks backups run: the server's, without
    Watchkeeper's own settings (its secret key, store URL and tokens are no business of
    ``pg_dump`` or a user's hook)."""
    from watchkeeper.settings import environment

    return {k: v for k, v in environment().items() if not k.startswith("WATCHKEEPER_")}


class EngineError(WatchkeeperError):
    """The tool failed; ``detail`` is its own message (never containing secrets)."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message + (f": {detail}" if detail else ""))
        self.detail = detail


@dataclass(frozen=True)
class RepositoryAccess:
    """Where a repository is and how to open it (password and environment are secrets)."""

    name: str
    url: str
    password: str = field(repr=False)
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    limit_upload: int | None = None  # KiB/s
    limit_download: int | None = None


@dataclass(frozen=True)
class Progress:
    fraction: float  # 0..1
    bytes_done: int
    bytes_total: int
    files_done: int
    seconds_elapsed: float
    seconds_remaining: float | None = None


ProgressCallback = Callable[[Progress], None]
WrittenCallback = Callable[[int], None]
"""Told the bytes a restore has written so far (about once a second)."""


@dataclass(frozen=True)
class Snapshot:
    id: str
    time: datetime
    paths: tuple[str, ...]
    tags: tuple[str, ...]
    hostname: str = ""


@dataclass(frozen=True)
class BackupResult:
    snapshot_id: str
    bytes_total: int  # bytes processed
    bytes_added: int  # new data stored in the repository
    files: int
    seconds: float


@dataclass(frozen=True)
class ForgetResult:
    keep: tuple[Snapshot, ...]
    remove: tuple[Snapshot, ...]


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    output: str


@dataclass(frozen=True)
class KeepPolicy:
    last: int | None = None
    hourly: int | None = None
    daily: int | None = None
    weekly: int | None = None
    monthly: int | None = None
    yearly: int | None = None


class Engine(Protocol):
    async def init(self, repo: RepositoryAccess) -> bool:
        """Create the repository if it does not exist; return True when it was created."""
        ...

    async def backup_paths(
        self,
        repo: RepositoryAccess,
        paths: Sequence[Path],
        *,
        tags: Sequence[str],
        exclude: Sequence[str] = (),
        progress: ProgressCallback | None = None,
    ) -> BackupResult: ...

    async def backup_command(
        self,
        repo: RepositoryAccess,
        argv: Sequence[str],
        filename: str,
        *,
        tags: Sequence[str],
        env: Mapping[str, str] | None = None,
        progress: ProgressCallback | None = None,
    ) -> BackupResult:
        """Back up the standard output of ``argv`` (a dump) as ``filename``; fail if the
        command fails (no snapshot is kept then)."""
        ...

    async def snapshots(
        self, repo: RepositoryAccess, tags: Sequence[str] = ()
    ) -> list[Snapshot]: ...

    async def forget(
        self,
        repo: RepositoryAccess,
        keep: KeepPolicy,
        *,
        tags: Sequence[str],
        dry_run: bool,
    ) -> ForgetResult: ...

    async def check(self, repo: RepositoryAccess, read_data_subset: str | None) -> CheckResult: ...

    async def copy(
        self, source: RepositoryAccess, target: RepositoryAccess, snapshot_ids: Sequence[str]
    ) -> None: ...

    async def restore(
        self,
        repo: RepositoryAccess,
        snapshot_id: str,
        target: Path,
        *,
        include: Sequence[str] = (),
        tags: Sequence[str] = (),
        written: WrittenCallback | None = None,
    ) -> Snapshot | None:
        """Restore ``snapshot_id`` into ``target``, or with ``latest`` the newest snapshot
        having all of ``tags``; return the snapshot restored as far as the engine names it
        (its ID may be shortened, its tags left out), None when it does not."""
        ...

    async def restore_size(self, repo: RepositoryAccess, snapshot_id: str) -> int:
        """Bytes a full restore of ``snapshot_id`` writes."""
        ...

    async def dump_to_command(
        self,
        repo: RepositoryAccess,
        snapshot_id: str,
        filename: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        written: WrittenCallback | None = None,
    ) -> None:
        """Stream ``filename`` of the snapshot into the standard input of ``argv`` (a
        restore such as ``pg_restore``); fail if either side fails."""
        ...
