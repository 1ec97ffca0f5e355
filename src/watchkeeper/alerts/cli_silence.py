"""What the ``watchkeeper silence`` and ``watchkeeper alerts`` commands print, and how they
read an end time; the commands themselves (in ``cli.py``) only parse and call."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from rich.table import Table

from watchkeeper.alerts.silences import SilenceView
from watchkeeper.alerts.views import AlertRow
from watchkeeper.exceptions import ValidationFailed
from watchkeeper.plan.types import parse_duration

DEFAULT_DURATION = "2h"
_OPTIONS = {
    "startsAt": "start",
    "endsAt": "--until",
    "duration": "--duration",
    "comment": "--comment",
    "createdBy": "--author",
}


def end_time(duration: str | None, until: str | None, start: datetime) -> datetime:
    """Return the end a ``--duration`` or ``--until`` asks for (2 h when neither); raise
    ValidationFailed naming the option."""
    if duration and until:
        raise ValidationFailed("bad end", [("duration", "give --duration or --until, not both")])
    if until:
        try:
            parsed = datetime.fromisoformat(until)
        except ValueError:
            raise ValidationFailed(
                "bad end",
                [("endsAt", f'"{until}" is not an ISO 8601 time, e.g. 2026-01-31T14:00Z')],
            ) from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    try:
        return start + parse_duration(duration or DEFAULT_DURATION)
    except ValueError as exc:
        raise ValidationFailed("bad end", [("duration", str(exc))]) from None


def explain(exc: ValidationFailed, matchers: list[str]) -> str:
    """One line naming each problem the way the command line spells it."""
    parts = []
    for field, message in exc.errors:
        if field.startswith("matchers["):
            index = int(field[9:-1])
            parts.append(f"matcher {index + 1} ({matchers[index]}): {message}")
        elif field == "matchers":
            parts.append(f"matchers: {message}")
        else:
            parts.append(f"{_OPTIONS.get(field, field)}: {message}")
    return "; ".join(parts) or str(exc)


def _time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def silences_table(rows: Iterable[SilenceView]) -> Table:
    table = Table("id", "state", "matchers", "starts", "ends", "author", "comment")
    for s in rows:
        table.add_row(
            s.id,
            s.state,
            "\n".join(s.matchers),
            _time(s.starts_at),
            _time(s.ends_at),
            s.created_by,
            s.comment,
        )
    return table


def alerts_table(rows: Iterable[AlertRow]) -> Table:
    table = Table("id", "severity", "alert", "state", "labels", "value", "since")
    for a in rows:
        state = a.state + (f" ({a.muted})" if a.muted and a.state != "resolved" else "")
        table.add_row(
            str(a.id),
            a.severity,
            a.name,
            state,
            " ".join(f"{k}={v}" for k, v in a.chips),
            "" if a.value is None else f"{a.value:g}",
            _time(a.since),
        )
    return table
