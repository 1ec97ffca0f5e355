"""What every backup source shares: the interface, the inventory it records, its error.

A source turns one policy's ``source:`` into snapshots through an :class:`Engine`, and
records an *inventory* at backup time (row counts of the largest tables, checksums of a
sample of files). Restore drills compare what they restore with that inventory, so that a
drill proves the snapshot holds what the source held when it was taken, not what it holds
now.

The inventory is plain JSON (it is stored in the backup run's ``details["inventory"]``)::

    {"source": "postgres",
     "parts": [{"kind": "postgres", "database": "app", "file": "app.pgdump",
                "snapshot": "1a2b3c4d", "bytes": 81234, "tables": {"public.orders": 1200}},
               {"kind": "files", "snapshot": "5e6f7a8b", "bytes": 4096,
                "files": {"/srv/app/config.yaml": "<sha256>"}}]}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from watchkeeper.backups.engine import (
    BackupResult,
    Engine,
    EngineError,
    ProgressCallback,
    RepositoryAccess,
)
from watchkeeper.exceptions import WatchkeeperError

Inventory = dict[str, Any]
Part = dict[str, Any]

DEFAULT_COMPARE_TABLES = 5
DEFAULT_SAMPLE_FILES = 20
SCRATCH_PREFIX = "wk_drill_"
"""Prefix of the temporary databases drills create; sources never back them up."""


class SourceError(WatchkeeperError):
    """The source cannot be read (unreachable server, missing file, bad URL)."""


class BackupSource(Protocol):
    """One policy's source: back it up into one repository and describe what was saved."""

    kind: str

    async def back_up(
        self,
        engine: Engine,
        repo: RepositoryAccess,
        tags: Sequence[str],
        progress: ProgressCallback | None = None,
    ) -> tuple[list[BackupResult], Inventory]:
        """Return one result per snapshot made, and the inventory taken at backup time;
        raise SourceError or EngineError if any part fails (snapshots already made stay)."""
        ...


def part_of(kind: str, result: BackupResult, **fields: Any) -> Part:
    """Return an inventory part for the snapshot of ``result``."""
    return {
        "kind": kind,
        "snapshot": result.snapshot_id,
        "bytes": result.bytes_total,
        **fields,
    }


__all__ = [
    "DEFAULT_COMPARE_TABLES",
    "DEFAULT_SAMPLE_FILES",
    "SCRATCH_PREFIX",
    "BackupSource",
    "EngineError",
    "Inventory",
    "Part",
    "SourceError",
    "part_of",
]
