"""The compliance service: one per cluster (the ``compliance`` leadership). Every ``tick``
seconds it reads the plan's ``compliance`` section and, when the controls are due (see
:func:`watchkeeper.security.compliance.evaluate.due`: every ``interval``, and at once for
a control that is new or whose evidence changed), evaluates them all and records the
outcome. Whether they are due is decided from the stored states, so a replica that takes
over carries on where the last one stopped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from watchkeeper.runtime.periodic import Periodic, PeriodicService
from watchkeeper.security.compliance.evaluate import (
    SectionUnreadable,
    due,
    evaluate_all,
    load_section,
    refresh_gauge,
)
from watchkeeper.store.tables import utcnow

log = logging.getLogger(__name__)
UNREADABLE = "compliance: %s; the controls keep their last states"


class ComplianceService(PeriodicService):
    """Evaluates the compliance controls on their interval (see the module docstring)."""

    def __init__(
        self,
        sessions: Callable[[], Session],
        *,
        tick: float = 30.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._loop = Periodic(
            "compliance",
            self._evaluate,
            tick,
            log=log,
            lasting=(SectionUnreadable,),
            lasting_message=UNREADABLE,
        )

    async def run_once(self) -> bool:
        """Evaluate the controls if they are due; return whether they were (not while the
        stored section does not validate: that is logged)."""
        try:
            return await self._evaluate()
        except SectionUnreadable as exc:
            log.error(UNREADABLE, exc)
            return False

    async def _evaluate(self) -> bool:
        """Evaluate the controls if they are due; return whether they were. Raise
        SectionUnreadable when the stored section does not validate."""
        return await asyncio.to_thread(self._pass)

    def _pass(self) -> bool:
        with self._sessions() as db:
            section = load_section(db)
            now = self._clock()
            if not due(db, section, now):
                refresh_gauge(db, section)
                return False
            evaluate_all(db, now, section)
            db.commit()
        return True
