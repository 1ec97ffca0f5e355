"""One active instance of a service per cluster: the check runner and the scraper.

Several ``watchkeeper up`` replicas may share one PostgreSQL store; each would otherwise run
every check and scrape every target. ``Leadership`` runs its service only while the process
holds a PostgreSQL session-level advisory lock, on a connection kept for that purpose: if the
process dies or loses the database, the lock goes with the connection and another replica
takes over within ``retry`` seconds. An SQLite store serves one node, so there the service
simply runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)


class Service(Protocol):
    async def run(self) -> None: ...

    async def stop(self) -> None: ...


S = TypeVar("S", bound=Service)


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for ``name``."""
    digest = hashlib.sha256(f"watchkeeper:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class Leadership(Generic[S]):
    """Run a fresh ``make()`` service whenever this process becomes the leader for ``name``."""

    def __init__(
        self, engine: Engine, name: str, make: Callable[[], S], *, retry: float = 5.0
    ) -> None:
        self._engine = engine
        self.name = name
        self._make = make
        self._retry = retry
        self._key = lock_key(name)
        self._stopping = asyncio.Event()
        self.current: S | None = None
        """The running service while this process leads, else None."""

    async def run(self) -> None:
        if self._engine.dialect.name != "postgresql":
            await self._lead()
            return
        while not self._stopping.is_set():
            conn = await asyncio.to_thread(self._try_lock)
            if conn is None:
                await self._pause()
                continue
            log.info("%s: this process is the active one", self.name)
            try:
                await self._lead(conn)
            finally:
                await asyncio.to_thread(_close, conn)

    async def stop(self) -> None:
        self._stopping.set()
        if self.current is not None:
            await self.current.stop()

    async def _lead(self, conn: Connection | None = None) -> None:
        service = self.current = self._make()
        task = asyncio.create_task(service.run(), name=f"leader:{self.name}")
        try:
            while not self._stopping.is_set() and not task.done():
                await self._pause()
                if conn is not None and not await asyncio.to_thread(_alive, conn):
                    log.error(
                        "%s: lost the store connection holding the lock; stepping down", self.name
                    )
                    break
        finally:
            if not task.done():
                await service.stop()
            await task
            self.current = None

    async def _pause(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), self._retry)

    def _try_lock(self) -> Connection | None:
        try:
            conn = self._engine.connect()
        except SQLAlchemyError as exc:
            log.warning("%s: cannot reach the store to take the lock: %s", self.name, exc)
            return None
        try:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key}).scalar()
            conn.commit()
        except SQLAlchemyError:
            _close(conn)
            return None
        if got:
            return conn
        _close(conn)
        return None


def _alive(conn: Connection) -> bool:
    try:
        conn.execute(text("SELECT 1"))
        conn.commit()
        return True
    except SQLAlchemyError:
        return False


def _close(conn: Connection) -> None:
    # Closing returns the connection to the pool: unlock first so the pooled connection does
    # not keep holding it.
    with contextlib.suppress(SQLAlchemyError):
        conn.execute(text("SELECT pg_advisory_unlock_all()"))
        conn.commit()
    with contextlib.suppress(SQLAlchemyError):
        conn.close()
