"""A check's state: up, down or pending, with failure and success thresholds (as in Gatus).

A check is declared down after ``retries + 1`` consecutive failures and up again after
``recover_after`` consecutive successes; a new check is up at its first success.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

Status = Literal["pending", "up", "down"]


@dataclass(frozen=True)
class CheckState:
    status: Status = "pending"
    failures: int = 0
    successes: int = 0
    changed_at: datetime | None = None


def advance(
    state: CheckState, ok: bool, at: datetime, *, retries: int, recover_after: int
) -> CheckState:
    """Return the state after one more result (``changed_at`` moves when status does)."""
    if ok:
        state = replace(state, failures=0, successes=state.successes + 1)
        needed = 1 if state.status == "pending" else recover_after
        if state.status != "up" and state.successes >= needed:
            return replace(state, status="up", changed_at=at)
        return state
    state = replace(state, successes=0, failures=state.failures + 1)
    if state.status != "down" and state.failures >= retries + 1:
        return replace(state, status="down", changed_at=at)
    return state
