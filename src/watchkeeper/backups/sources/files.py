"""Directories and files, with restic's ``--exclude`` and an include filter."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from watchkeeper.backups.config import FilesSource
from watchkeeper.backups.engine import BackupResult, Engine, ProgressCallback, RepositoryAccess
from watchkeeper.backups.sources import sampling
from watchkeeper.backups.sources.base import Inventory, Part, SourceError, part_of


async def back_up_paths(
    engine: Engine,
    repo: RepositoryAccess,
    paths: Sequence[Path],
    tags: Sequence[str],
    progress: ProgressCallback | None,
    *,
    exclude: Sequence[str] = (),
    include: Sequence[str] = (),
    sample: int,
) -> tuple[BackupResult, Part]:
    """Back up ``paths`` and return the result with its inventory part (sampled checksums,
    taken before and after the backup; files that changed meanwhile are not kept)."""
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise SourceError(f"path not found: {', '.join(missing)}")

    def choose() -> list[str]:
        return sampling.pick(sampling.walk(paths, exclude, include), sample)

    chosen = await asyncio.to_thread(choose)
    before = await asyncio.to_thread(sampling.checksums, chosen)
    targets: Sequence[Path] = paths
    if include:
        # restic has no include filter for `backup`: back up the matching files themselves.
        matched = await asyncio.to_thread(lambda: list(sampling.walk(paths, exclude, include)))
        if not matched:
            raise SourceError("no file matches the include patterns")
        targets = [Path(p) for p in matched]
    result = await engine.backup_paths(repo, targets, tags=tags, exclude=exclude, progress=progress)
    after = await asyncio.to_thread(sampling.checksums, list(before))
    files = sampling.stable(before, after)
    return result, part_of("files", result, paths=[str(p.absolute()) for p in paths], files=files)


class FilesBackup:
    kind = "files"

    def __init__(self, config: FilesSource, sample_files: int) -> None:
        self.config = config
        self.sample_files = sample_files

    async def back_up(
        self,
        engine: Engine,
        repo: RepositoryAccess,
        tags: Sequence[str],
        progress: ProgressCallback | None = None,
    ) -> tuple[list[BackupResult], Inventory]:
        result, part = await back_up_paths(
            engine,
            repo,
            [Path(p).expanduser() for p in self.config.paths],
            tags,
            progress,
            exclude=self.config.exclude,
            include=self.config.include,
            sample=self.sample_files,
        )
        return [result], {"source": self.kind, "parts": [part]}
