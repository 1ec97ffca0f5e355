"""Whether the alert evaluator is running, as the plan-compliance service can tell.

The evaluator records no "last evaluated" time in the store, so this reads what exists:
in the process that runs it, its pass counter (``watchkeeper_rule_evaluations_total``, one
check pass a second) must move between two evaluations; in another replica of a PostgreSQL
cluster, some session must hold its ``alerts`` advisory lock (``runtime/leader.py``: the
lock is held exactly while the evaluator runs). On SQLite, a process that does not run the
evaluator (the CLI) cannot tell.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from watchkeeper.runtime.leader import lock_key
from watchkeeper.security.compliance.plan_sections.base import Status, at
from watchkeeper.security.compliance.wording import span
from watchkeeper.telemetry import REGISTRY

LEADERSHIP = "alerts"
PASSES = "watchkeeper_rule_evaluations_total"
_HELD = text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND classid = :hi AND objid = :lo AND objsubid = 1"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


def _passes() -> float:
    """Evaluation passes that ended well in this process, all kinds together."""
    return sum(
        REGISTRY.get_sample_value(PASSES, {"kind": kind, "result": "ok"}) or 0.0
        for kind in ("check", "promql", "logs")
    )


def lock_held(db: Session, name: str) -> bool:
    """Whether some session of this PostgreSQL database holds the leadership lock ``name``."""
    key = lock_key(name) & 0xFFFF_FFFF_FFFF_FFFF
    count = db.execute(_HELD, {"hi": key >> 32, "lo": key & 0xFFFF_FFFF}).scalar()
    return bool(count)


class EvaluatorProbe:
    """Judge the alert evaluator's health; ``leads`` says whether this process runs it
    (never, by default: the CLI, or a page evaluated before the service's first pass)."""

    def __init__(
        self, leads: Callable[[], bool] = lambda: False, passes: Callable[[], float] = _passes
    ) -> None:
        self._leads = leads
        self._passes = passes
        self._seen: tuple[float, datetime] | None = None  # counter, when it last moved

    def judge(self, db: Session, now: datetime) -> tuple[Status, str]:
        if self._leads():
            total = self._passes()
            seen = self._seen
            if seen is None or total > seen[0]:
                self._seen = (total, now)
            if seen is None:
                return "ok", "The alert evaluator runs in this process."
            if total > seen[0]:
                done = int(total - seen[0])
                return (
                    "ok",
                    f"The alert evaluator made {done} passes in the last {span(now - seen[1])}.",
                )
            return (
                "failing",
                f"the alert evaluator in this process made no pass since {at(seen[1])}",
            )
        self._seen = None
        if db.get_bind().dialect.name == "postgresql":
            if lock_held(db, LEADERSHIP):
                return (
                    "ok",
                    "The alert evaluator runs (its process holds the alerts lock).",
                )
            return "failing", "no replica holds the alerts lock: the alert evaluator is not running"
        return (
            "unknown",
            "the alert evaluator runs in another process, which only its /metrics shows",
        )
