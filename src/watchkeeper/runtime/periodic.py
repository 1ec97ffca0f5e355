"""The run loop of a service that does one pass every few seconds until it is stopped (the
vulnerability database, security, compliance, plan-compliance and hardening services).

A pass that fails never ends the loop: the next one runs on time. What failed is logged
by kind: a store error by its type alone (its message may quote parameters), a condition
that lasts until someone acts (a stored plan section that does not validate) once per
distinct message rather than every pass, anything else with its traceback (a bug).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.exc import SQLAlchemyError

from watchkeeper.telemetry import STORE_ERRORS


class Periodic:
    """Await ``work()`` every ``interval`` seconds, after ``start_delay``, until
    :meth:`stop`; :meth:`wake` starts the next pass at once.

    ``name`` begins the log lines. An exception of one of the ``lasting`` types is logged
    as ``lasting_message % exc`` the first time its message is seen (again after a pass
    succeeds). A store error is counted in ``watchkeeper_store_errors_total`` under
    ``store_operation`` when that is given.
    """

    def __init__(
        self,
        name: str,
        work: Callable[[], Awaitable[object]],
        interval: float,
        *,
        log: logging.Logger,
        lasting: tuple[type[Exception], ...] = (),
        lasting_message: str = "%s",
        store_operation: str | None = None,
        start_delay: float = 0.0,
    ) -> None:
        self.name = name
        self._work = work
        self._interval = interval
        self._log = log
        self._lasting = lasting
        self._lasting_message = lasting_message
        self._store_operation = store_operation
        self._start_delay = start_delay
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._logged = ""  # the lasting condition last logged ("" once a pass succeeded)

    async def run(self) -> None:
        """Run passes until stopped; return once the pass under way when stopped ends."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), self._start_delay)
        while not self._stopping.is_set():
            self._wake.clear()
            await self._one_pass()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)

    async def _one_pass(self) -> None:
        try:
            await self._work()
            self._logged = ""
        except self._lasting as exc:
            if str(exc) != self._logged:
                self._log.error(self._lasting_message, exc)
            self._logged = str(exc)
        except SQLAlchemyError as exc:  # the store is away: try again next pass
            if self._store_operation is not None:
                STORE_ERRORS.labels(self._store_operation).inc()
            self._log.error("%s: store error %s; retrying", self.name, type(exc).__name__)
        except Exception:  # a bug must not stop the service
            self._log.exception("%s service pass failed; retrying", self.name)

    def stop(self) -> None:
        """End the loop after the pass under way (at once when it is waiting)."""
        self._stopping.set()
        self._wake.set()

    def wake(self) -> None:
        """Start the next pass now (or, during a pass, as soon as it ends)."""
        self._wake.set()


class PeriodicService:
    """A service whose run loop is the :class:`Periodic` in ``self._loop``: ``run``,
    ``stop`` and ``wake`` (start the next pass now) are the loop's."""

    _loop: Periodic

    async def run(self) -> None:
        await self._loop.run()

    async def stop(self) -> None:
        self._loop.stop()

    def wake(self) -> None:
        """Start the next pass now (what it depends on changed)."""
        self._loop.wake()
