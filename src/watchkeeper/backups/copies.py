"""Copies: a policy's snapshots copied from its first repository into the repositories of
its ``copy.to`` with ``restic copy``, so that the source is read once however many places
keep it. restic skips the snapshots a target already holds (it knows the copies there by
their ``original``), so every copy run offers all of the policy's snapshots and only the
new ones travel.

Each target gets a ``copy`` row in ``backup_runs``: how many snapshots were copied, how many
the target holds, the newest of them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from watchkeeper.backups.claims import RunInProgress
from watchkeeper.backups.config import BackupsSection, Policy, Repository, copy_targets
from watchkeeper.backups.engine import RepositoryAccess, Snapshot
from watchkeeper.backups.latest_runs import latest_run
from watchkeeper.exceptions import NotFoundError, WatchkeeperError
from watchkeeper.telemetry import BACKUP_RUNS

if TYPE_CHECKING:
    from watchkeeper.backups.runner import BackupRunner, RepoOutcome

log = logging.getLogger(__name__)


class NothingToCopy(WatchkeeperError):
    """The source repository holds no snapshot of the policy yet."""


def copy_plan(
    section: BackupsSection, policy: Policy, to: str | None = None
) -> tuple[Repository, list[Repository]]:
    """Return the repository copied from (the policy's first) and the targets (all, or only
    ``to``); raise NotFoundError if the policy has no ``copy`` or ``to`` is not a target."""
    if policy.copy_ is None:
        raise NotFoundError(
            f"policy {policy.name} has no copy targets (add `copy: {{to: [REPOSITORY]}}` "
            "to it in the plan)"
        )
    targets = copy_targets(policy)
    names = [n for n in targets if to is None or n == to]
    if not names:
        raise NotFoundError(
            f"policy {policy.name} does not copy into repository {to!r} "
            f"(it copies into {', '.join(targets)})"
        )
    by_name = {r.name: r for r in section.repositories}
    missing = [n for n in [policy.repositories[0], *names] if n not in by_name]
    if missing:
        raise NotFoundError(f"policy {policy.name}: unknown repository {missing[0]!r}")
    return by_name[policy.repositories[0]], [by_name[n] for n in names]


async def copy_policy(
    runner: BackupRunner,
    section: BackupsSection,
    policy_name: str,
    *,
    trigger: str = "schedule",
    to: str | None = None,
) -> list[RepoOutcome]:
    """See :meth:`BackupRunner.copy`."""
    from watchkeeper.backups.lookup import find_policy
    from watchkeeper.backups.runner import _not_run

    policy = find_policy(section, policy_name)
    source, targets = copy_plan(section, policy, to)
    outcomes: list[RepoOutcome] = []
    for i, target in enumerate(targets):
        try:
            outcomes.append(await _copy_one(runner, policy, source, target, trigger))
        except RunInProgress as exc:
            if i == 0:
                raise
            outcomes += _not_run(targets[i:], exc)
            break
    return outcomes


async def _copy_one(
    runner: BackupRunner, policy: Policy, source: Repository, target: Repository, trigger: str
) -> RepoOutcome:
    from watchkeeper.backups.lookup import access
    from watchkeeper.backups.runner import RepoOutcome

    run_id = await runner._claim_next(policy, target, "copy", trigger)
    started = time.monotonic()
    src, dst = access(source), access(target)
    tag = [f"policy={policy.name}"]
    try:
        async with asyncio.timeout(policy.timeout.total_seconds()):
            offered = await runner.engine.snapshots(src, tag)
            if not offered:
                raise NothingToCopy(
                    f"repository {source.name} holds no snapshot of {policy.name} to copy: "
                    "run a backup first"
                )
            await runner._ensure_repository(dst)
            before = await runner.engine.snapshots(dst, tag)
            await runner.engine.copy(src, dst, [s.id for s in offered])
            after = await runner.engine.snapshots(dst, tag)
    except asyncio.CancelledError:
        await asyncio.shield(
            runner._cancelled(run_id, policy.name, dst, "copy", started, also=(src,))
        )
        raise
    except BaseException as exc:
        if isinstance(exc, TimeoutError):
            await runner._unlock(src)  # the target is unlocked by _failure
        error = await runner._failure(exc, policy, dst, "copy", run_id, started)
        return await runner._finish_failed(run_id, policy.name, target.name, "copy", error, started)
    copied = max(0, len(after) - len(before))
    await asyncio.to_thread(
        _finish, runner, run_id, policy, source, after, copied, time.monotonic() - started
    )
    BACKUP_RUNS.labels(policy.name, "copy", "succeeded").inc()
    log.info(
        "copy of %s from %s into %s: %d snapshot(s) copied, %d held",
        policy.name,
        source.name,
        target.name,
        copied,
        len(after),
    )
    return RepoOutcome(target.name, run_id, True, copied=copied, held=len(after))


def _finish(
    runner: BackupRunner,
    run_id: int,
    policy: Policy,
    source: Repository,
    held: list[Snapshot],
    copied: int,
    seconds: float,
) -> None:
    newest = held[-1] if held else None
    runner._finish(
        run_id,
        "succeeded",
        seconds,
        details={
            "from": source.name,
            "copied": copied,
            "snapshots": len(held),
            "newest": newest.time.isoformat() if newest else None,
        },
        snapshot_id=newest.id if newest else "",
        bytes_total=_latest_size(runner, policy.name, source.name),
    )


def _latest_size(runner: BackupRunner, policy: str, repository: str) -> int:
    """Bytes of the latest good backup of ``policy`` into ``repository`` (what the copy
    target now holds the latest of), 0 when none is recorded."""
    with runner._sessions() as db:
        good = latest_run(db, policy, "backup", repository=repository)
        return good.bytes_total if good is not None else 0


__all__ = ["NothingToCopy", "RepositoryAccess", "copy_plan", "copy_policy"]
