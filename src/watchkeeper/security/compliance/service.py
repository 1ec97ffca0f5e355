"""The compliance service: one per cluster (the ``compliance`` leadership). Every ``tick``
seconds it reads the plan's ``compliance`` section and, when the controls are due (see
:func:`watchkeeper.security.compliance.evaluate.due`: every ``interval``, and at once for
a control that is new or whose evidence changed), evaluates them all and records the
outcome. Whether they are due is decided from the stored states, so a replica that takes
over carries on where the last one stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from watchkeeper.security.compliance.evaluate import (
    SectionUnreadable,
    due,
    evaluate_all,
    load_section,
    refresh_gauge,
)
from watchkeeper.store.tables import utcnow

log = logging.getLogger(__name__)


class ComplianceService:
    """Evaluates the compliance controls on their interval (see the module docstring)."""

    def __init__(
        self,
        sessions: Callable[[], Session],
        *,
        tick: float = 30.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._tick = tick
        self._clock = clock
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.run_once()
            except SQLAlchemyError as exc:  # the store is away: try again next pass
                log.error("compliance: store error %s; retrying", type(exc).__name__)
            except Exception:  # a bug must not stop the service
                log.exception("compliance service pass failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._tick)
            self._wake.clear()

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    def wake(self) -> None:
        """Run the next pass now (the plan changed)."""
        self._wake.set()

    async def run_once(self) -> bool:
        """Evaluate the controls if they are due; return whether they were."""
        return await asyncio.to_thread(self._pass)

    def _pass(self) -> bool:
        with self._sessions() as db:
            try:
                section = load_section(db)
            except SectionUnreadable as exc:
                log.error("compliance: %s; the controls keep their last states", exc)
                return False
            now = self._clock()
            if not due(db, section, now):
                refresh_gauge(db, section)
                return False
            evaluate_all(db, now, section)
            db.commit()
        return True
