"""When a job runs: fixed intervals or cron expressions, always in UTC."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from croniter import CroniterBadCronError, croniter

from watchkeeper.errors import ValidationFailed


class Schedule(Protocol):
    def next_after(self, moment: datetime) -> datetime:
        """Return the first run time strictly after ``moment``."""
        ...


@dataclass(frozen=True)
class Every:
    """Run every ``period``, aligned to the epoch so that replicas agree on the times."""

    period: timedelta

    def __post_init__(self) -> None:
        if self.period <= timedelta(0):
            raise ValidationFailed("invalid schedule", [("period", "must be positive")])

    def next_after(self, moment: datetime) -> datetime:
        step = self.period.total_seconds()
        ts = moment.timestamp()
        return datetime.fromtimestamp((ts // step + 1) * step, moment.tzinfo)

    def __str__(self) -> str:
        return f"every {self.period}"


@dataclass(frozen=True)
class Cron:
    """Run on a cron expression (5 fields, or 6 with seconds), evaluated in UTC."""

    expression: str

    def __post_init__(self) -> None:
        try:
            croniter(self.expression)
        except (CroniterBadCronError, ValueError) as exc:
            raise ValidationFailed(
                "invalid schedule",
                [("cron", f'"{self.expression}" is not a cron expression: {exc}')],
            ) from None

    def next_after(self, moment: datetime) -> datetime:
        nxt: datetime = croniter(self.expression, moment).get_next(datetime)
        return nxt

    def __str__(self) -> str:
        return f"cron {self.expression}"
