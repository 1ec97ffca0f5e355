"""Heartbeat check: a job calls its push URL; the check is down when the calls are late or
report a failure (what Healthchecks.io does).

The pings are received by ``api/pings.py`` on any replica and stored; this type only judges
them, so it needs the store (see ``UsesStore``) and reaches out to nothing.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import ClassVar, Literal
from zoneinfo import ZoneInfo

from croniter import croniter
from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError
from sqlalchemy.orm import Session, sessionmaker

from watchkeeper.checks.interface import CheckConfig, Outcome
from watchkeeper.checks.pings import KeyInfo, LastPings, ensure_key, last_pings
from watchkeeper.exceptions import ConflictError
from watchkeeper.plan.types import Cron, Duration, TimeZone, format_duration
from watchkeeper.store.tables import utcnow


class HeartbeatCheckConfig(CheckConfig):
    type: Literal["heartbeat"] = Field(description="`heartbeat`.")
    interval: Duration = Field(
        timedelta(seconds=10),
        description="How often the pings are judged: short, so that a late job is noticed "
        "within seconds.",
    )
    period: Duration | None = Field(
        None, description="Time between two runs of the job (e.g. `1d`); or use `schedule`."
    )
    schedule: Cron | None = Field(
        None,
        description="When the job runs, as a cron expression (e.g. `0 3 * * *`); or use `period`.",
    )
    timezone: TimeZone = Field("UTC", description="Time zone of `schedule` (e.g. `Europe/Berlin`).")
    grace: Duration = Field(
        timedelta(hours=1),
        description="How late a ping may be, and how long the job may run after its `start` "
        "ping, before the check is down.",
    )
    key: str | None = Field(
        None,
        description="UUID of the push URL (`/ping/<key>`). Leave it out to have one generated "
        "once and kept; anyone who knows it can ping.",
    )

    @field_validator("period")
    @classmethod
    def _positive(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise PydanticCustomError("period", "must be longer than 0s")
        return value

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None, info: ValidationInfo) -> str | None:
        period_given = info.data.get("period") is not None
        if "period" in info.data and period_given == (value is not None):
            raise PydanticCustomError(
                "period_or_schedule",
                "set either `period` (e.g. 1d) or `schedule` (a cron expression), not both"
                if period_given
                else "set `period` (e.g. 1d) or `schedule` (a cron expression)",
            )
        return value

    @field_validator("key")
    @classmethod
    def _uuid(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise PydanticCustomError(
                "key", "not a UUID (leave `key` out to have one generated)"
            ) from None


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def due_after(config: HeartbeatCheckConfig, moment: datetime) -> datetime:
    """Return when the job's next ping is due after one at ``moment`` (before grace)."""
    if config.period is not None:
        return moment + config.period
    assert config.schedule is not None  # the model requires period or schedule
    local = moment.astimezone(ZoneInfo(config.timezone))
    due: datetime = croniter(config.schedule, local).get_next(datetime)
    return due.astimezone(UTC)


def evaluate(
    config: HeartbeatCheckConfig, last: LastPings, created_at: datetime, now: datetime
) -> Outcome:
    """Return the heartbeat's state at ``now`` from its latest pings.

    Down when the latest outcome is a failure, when no success came within ``grace`` after
    it was due (counted from the last success, or from the check's creation), or when a
    ``start`` has had no success within ``grace``. A check that has never been pinged is up
    until its first ping is late.
    """
    if last.fail is not None and (last.success is None or last.fail > last.success):
        code = last.fail_exit_status
        status = f" (exit status {code})" if code is not None else ""
        return Outcome(False, f"the job reported a failure{status} at {_when(last.fail)}")
    grace = format_duration(config.grace)
    since = last.success or created_at
    due = due_after(config, since)
    running = last.start if last.start and (not last.success or last.start > last.success) else None
    if running is not None and now > running + config.grace:
        return Outcome(
            False, f"started at {_when(running)} and not finished within grace ({grace})"
        )
    if now > due + config.grace:
        if last.success is None:
            return Outcome(False, f"no ping yet; the first was due by {_when(due)} (+{grace})")
        return Outcome(
            False,
            f"late: last success at {_when(last.success)}, the next was due by "
            f"{_when(due)} (+{grace})",
        )
    if running is not None:
        return Outcome(True, f"running since {_when(running)}")
    if last.success is None:
        return Outcome(True, f"waiting for the first ping, due by {_when(due)}")
    return Outcome(True, f"last success at {_when(last.success)}; next due by {_when(due)}")


class HeartbeatCheck:
    name = "heartbeat"
    description = (
        "A job calls the check's push URL; down when a call is late or reports a failure "
        "(judged every 10s by default)."
    )
    config_model: ClassVar[type[CheckConfig]] = HeartbeatCheckConfig

    def __init__(self) -> None:
        self._sessions: sessionmaker[Session] | None = None
        self._clock: Callable[[], datetime] = utcnow
        # name -> (configured key, stored key): the key is written once, not on every run.
        self._keys: dict[str, tuple[str | None, KeyInfo]] = {}

    def bind(self, sessions: sessionmaker[Session], clock: Callable[[], datetime]) -> None:
        self._sessions, self._clock = sessions, clock
        self._keys.clear()

    async def run(self, config: HeartbeatCheckConfig) -> Outcome:
        sessions = self._sessions
        if sessions is None:
            return Outcome(False, "heartbeats are judged from the store: run them in a runner")
        return await asyncio.to_thread(self._judge, sessions, config)

    def _judge(self, sessions: sessionmaker[Session], config: HeartbeatCheckConfig) -> Outcome:
        with sessions() as db:
            cached = self._keys.get(config.name)
            if cached is None or cached[0] != config.key:
                try:
                    cached = (config.key, ensure_key(db, config.name, config.key))
                except ConflictError as exc:
                    return Outcome(False, str(exc))
                self._keys[config.name] = cached
            last = last_pings(db, config.name)
        return evaluate(config, last, cached[1].created_at, self._clock())
