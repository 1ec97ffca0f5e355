"""A policy's snapshots as its repositories list them, and that listing started ahead.

A restore must know the snapshots before it can choose one: one more restic command, whose
key derivation alone takes about half a second of its own core. :class:`SnapshotPrefetch`
starts it on a thread while the command loads the rest of itself, instead of after.
This module stays light (no store, no sources) for that reason.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from watchkeeper.backups.config import BackupsSection, Policy
from watchkeeper.backups.engine import Engine, Snapshot
from watchkeeper.backups.lookup import access, find_policy, policy_repositories
from watchkeeper.exceptions import WatchkeeperError


class RestoreError(WatchkeeperError):
    """The restore cannot be done as asked (no such snapshot, target not empty, ...)."""


def empty_directory(target: Path) -> Path:
    """``target`` made absolute; raise RestoreError unless it is an empty directory or does
    not exist (restores never write over files)."""
    target = target.absolute()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise RestoreError(
            f"{target} is not an empty directory: restores never write over files "
            "(give a new or empty directory)"
        )
    return target


Listing = tuple[Policy, str, list[Snapshot], dict[str, str]]
"""The policy, the repository that answered, its snapshots of the policy, and the errors of
the repositories asked before it."""


async def policy_snapshots(
    engine: Engine, section: BackupsSection, policy_name: str, repository: str | None = None
) -> Listing:
    """List the policy's snapshots in ``repository``, or in the first of its repositories
    (copies included) that answers; raise RestoreError when none answers, NotFoundError for
    an unknown policy or repository."""
    policy = find_policy(section, policy_name)
    errors: dict[str, str] = {}
    for repo in policy_repositories(section, policy, repository, copies=True):
        try:
            snaps = await engine.snapshots(access(repo), [f"policy={policy.name}"])
        except WatchkeeperError as exc:
            errors[repo.name] = str(exc)
            continue
        return policy, repo.name, snaps, errors
    raise RestoreError(
        f"no repository of policy {policy.name} answered: "
        + "; ".join(f"{name}: {error}" for name, error in errors.items())
    )


class SnapshotPrefetch:
    """:func:`policy_snapshots` running on a thread of its own from construction on."""

    def __init__(
        self, engine: Engine, section: BackupsSection, policy: str, repository: str | None
    ) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="snapshots")
        work = policy_snapshots(engine, section, policy, repository)
        self._future: Future[Listing] = self._pool.submit(asyncio.run, work)
        self._pool.shutdown(wait=False)

    def result(self) -> Listing:
        """The listing (waiting for it); raises what the listing raised."""
        return self._future.result()

    async def wait(self) -> Listing:
        """The listing, awaited on the caller's event loop."""
        return await asyncio.wrap_future(self._future)
