"""The ingest's cache of the projects, keys and settings, rebuilt from the store.

Read every ``TTL`` seconds (a plan change reaches the ingest within that time), and at
once, at most every ``MISS_RETRY`` seconds, when a request names a project id the cache
does not know (a project made a moment ago works at its first event).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from watchkeeper.errors.config import ErrorsSection
from watchkeeper.errors.projects import Project, sync_projects
from watchkeeper.errors.scrub import Scrubber

TTL = 10.0
MISS_RETRY = 1.0


@dataclass(frozen=True)
class Snapshot:
    section: ErrorsSection
    by_id: dict[int, Project]
    by_key: dict[str, Project]
    scrubbers: dict[int, Scrubber]
    loaded_at: float
    teams: dict[int, str] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)


class ProjectDirectory:
    """Projects by id and by key, for one process."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._snapshot: Snapshot | None = None
        self._lock = asyncio.Lock()

    def _fresh(self, snap: Snapshot | None, project_id: int | None) -> bool:
        if snap is None:
            return False
        age = time.monotonic() - snap.loaded_at
        if age >= TTL:
            return False
        return project_id is None or project_id in snap.by_id or age < MISS_RETRY

    async def snapshot(self, project_id: int | None = None) -> Snapshot:
        """Return the projects as recently read (re-read when stale, or when
        ``project_id`` is unknown and the last read is over MISS_RETRY seconds old)."""
        if self._fresh(self._snapshot, project_id):
            assert self._snapshot is not None
            return self._snapshot
        async with self._lock:
            if not self._fresh(self._snapshot, project_id):
                self._snapshot = await asyncio.to_thread(self._load)
        assert self._snapshot is not None
        return self._snapshot

    def current(self) -> Snapshot | None:
        return self._snapshot

    def _load(self) -> Snapshot:
        with self._sessions() as db:
            section, projects = sync_projects(db)
            db.commit()
        old = self._snapshot.scrubbers if self._snapshot else {}
        old_projects = self._snapshot.by_id if self._snapshot else {}
        scrubbers = {}
        for p in projects:
            before = old_projects.get(p.id)
            same = before is not None and before.config.scrub_fields == p.config.scrub_fields
            scrubbers[p.id] = old[p.id] if same and p.id in old else Scrubber(p.config.scrub_fields)
        return Snapshot(
            section=section,
            by_id={p.id: p for p in projects},
            by_key={p.public_key: p for p in projects},
            scrubbers=scrubbers,
            loaded_at=time.monotonic(),
            teams={p.id: p.config.team for p in projects},
            names={p.id: p.name for p in projects},
        )
