"""When a job runs: fixed intervals or cron expressions, always in UTC."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from croniter import CroniterBadCronError, CroniterBadDateError, croniter

from watchkeeper.exceptions import ValidationFailed

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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
        # Whole microseconds: float seconds would round sub-second periods onto ``moment``.
        step = self.period // timedelta(microseconds=1)
        since_epoch = (moment - _EPOCH) // timedelta(microseconds=1)
        nxt = _EPOCH + timedelta(microseconds=(since_epoch // step + 1) * step)
        return nxt.astimezone(moment.tzinfo) if moment.tzinfo else nxt

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
        try:  # "0 0 31 2 *" parses but never fires
            self.next_after(datetime.now(UTC))
        except (CroniterBadDateError, ValueError):
            raise ValidationFailed(
                "invalid schedule", [("cron", f'"{self.expression}" never fires')]
            ) from None

    def next_after(self, moment: datetime) -> datetime:
        """Return the next run strictly after ``moment``, computed in UTC."""
        utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
        nxt: datetime = croniter(self.expression, utc).get_next(datetime)
        return nxt.astimezone(UTC)

    def __str__(self) -> str:
        return f"cron {self.expression}"
