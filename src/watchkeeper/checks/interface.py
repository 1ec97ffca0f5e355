"""The check plugin interface and the fields every check shares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import Field
from sqlalchemy.orm import Session, sessionmaker

from watchkeeper.plan.base import PlanObject
from watchkeeper.plan.types import Duration, Name
from watchkeeper.plugins import Registry


class CheckConfig(PlanObject):
    """Fields common to every check type."""

    type: str = Field(description="Check type (see the list of check types).")
    interval: Duration = Field(
        timedelta(seconds=60), description="Time between two runs (down to 1s)."
    )
    timeout: Duration = Field(
        timedelta(seconds=10), description="Give up on one run after this long."
    )
    retries: int = Field(
        0, ge=0, le=100, description="Failed runs tolerated before the check is declared down."
    )
    recover_after: int = Field(
        1, ge=1, le=100, description="Successful runs needed before a down check is up again."
    )
    tags: list[str] = Field(default_factory=list, description="Free-form tags for filtering.")
    team: str | None = Field(None, description="Team that owns the checked service.")
    service: Name | None = Field(
        None,
        description="Service the check watches, one of `releases.services`: its deploys are "
        "marked on the check's response-time chart.",
    )
    runbook: str | None = Field(
        None, description="The runbook for this check: a runbook's slug, or a link."
    )


@dataclass(frozen=True)
class Outcome:
    """The result of one run: did the target pass, why not, and how fast it answered."""

    ok: bool
    message: str = ""
    response_ms: float | None = None
    cert_expires_at: datetime | None = None  # the certificate's expiry (TLS checks)


class CheckType(Protocol):
    """A check plugin: describes itself, its configuration model, and how to run it.

    Two hooks are optional: ``bind`` (see :class:`UsesStore`) for a type that judges from
    data in the store, and ``async aclose()``, which the runner awaits when it stops so a
    type can release what it shares between runs (a connection pool).
    """

    name: str
    description: str
    config_model: ClassVar[type[CheckConfig]]

    async def run(self, config: Any) -> Outcome:
        """Run once against the target. Failures of the target are an ``Outcome`` with
        ``ok=False`` and a message, never an exception; the runner enforces the timeout."""
        ...


@runtime_checkable
class UsesStore(Protocol):
    """A check type that judges from what the store holds (heartbeat pings) instead of
    reaching out to a target. The runner calls ``bind`` before the type's first run, with
    its session factory and its clock, so plugins get the store without a global."""

    def bind(self, sessions: sessionmaker[Session], clock: Callable[[], datetime]) -> None: ...


registry: Registry[CheckType] = Registry("watchkeeper.checks")  # type: ignore[type-var]
