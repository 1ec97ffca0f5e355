"""A restore of a policy's latest files, started before the command has loaded the rest of
itself.

``watchkeeper restore files POLICY --to DIR`` without ``--snapshot`` or ``--at`` needs
nothing but the plan's backups section to start restic (``restore latest --tag
policy=…``): not the store, not the restore machinery and its database drivers (a few
tenths of a second of start-up). :class:`LatestRestoreAhead` starts it on a thread of its
own as soon as the section is read; :meth:`Restorer.latest_files` then follows it instead
of starting restic itself, and records it. This module stays light for that reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from watchkeeper.backups.config import Policy, PostgresSource
from watchkeeper.backups.engine import Engine, RepositoryAccess, Snapshot

_CANCEL_WAIT_S = 30.0


def latest_is_files(policy: Policy) -> bool:
    """Whether every snapshot of ``policy`` restores as files (whatever its paths), so
    that restic may pick its latest alone (``Restorer.latest_files``)."""
    src = policy.source
    return src.type in ("files", "sqlite") or (
        isinstance(src, PostgresSource) and src.mode != "logical"
    )


class LatestRestoreAhead:
    """``engine.restore(repo, "latest", target)`` of ``policy``'s snapshots, running on a
    thread from construction on. ``target`` must already be checked empty."""

    def __init__(
        self,
        engine: Engine,
        repo: RepositoryAccess,
        policy: str,
        target: Path,
        include: Sequence[str] = (),
    ) -> None:
        self.repository = repo
        self.started = time.monotonic()
        self.latest = 0
        self._listener: Callable[[int], None] | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Snapshot | None] | None = None
        pool = ThreadPoolExecutor(1, thread_name_prefix="restore")
        self._future: Future[Snapshot | None] = pool.submit(
            self._run, engine, repo, [f"policy={policy}"], target, tuple(include)
        )
        pool.shutdown(wait=False)
        # Until restic runs, the thread needs the interpreter, which the command's own
        # start-up would otherwise hold for a few tenths of a second.
        self._ready.wait(_CANCEL_WAIT_S)

    def _run(
        self,
        engine: Engine,
        repo: RepositoryAccess,
        tags: list[str],
        target: Path,
        include: Sequence[str],
    ) -> Snapshot | None:
        async def restore() -> Snapshot | None:
            target.mkdir(parents=True, exist_ok=True)
            return await engine.restore(
                repo, "latest", target, include=include, tags=tags, written=self._written
            )

        async def main() -> Snapshot | None:
            self._loop = asyncio.get_running_loop()
            self._task = asyncio.ensure_future(restore())
            # One step of the loop runs the task up to its first wait, past spawning restic.
            await asyncio.sleep(0)
            self._ready.set()
            return await self._task

        try:
            return asyncio.run(main())
        finally:
            self._ready.set()

    def _written(self, count: int) -> None:
        self.latest = count
        listener = self._listener
        if listener is not None:
            listener(count)

    def follow(self, listener: Callable[[int], None]) -> None:
        """Pass the bytes written so far, and from now on each new count, to ``listener``."""
        self._listener = listener
        if self.latest:
            listener(self.latest)

    async def wait(self) -> Snapshot | None:
        """The snapshot restic named as restored; raises what the restore raised."""
        return await asyncio.wrap_future(self._future)

    def cancel(self) -> None:
        """Stop the restore if it still runs (restic is stopped) and wait until it has."""
        if self._future.done():
            return
        self._ready.wait(_CANCEL_WAIT_S)
        loop, task = self._loop, self._task
        if loop is not None and task is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(task.cancel)
        with contextlib.suppress(BaseException):
            self._future.result(timeout=_CANCEL_WAIT_S)
