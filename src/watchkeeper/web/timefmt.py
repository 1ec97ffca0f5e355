"""Times in the pages: lengths of time and moments relative to now for people ("2 h 10 min",
"5 min ago"), and the date-and-time fields of forms read back (UTC unless they name an
offset).

The plan-compliance pages spell lengths of time as compliance does
(:func:`watchkeeper.security.compliance.wording.span`); the plan's own durations keep the
plan's spelling (``plan_duration``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from watchkeeper.store.tables import utcnow


def span(seconds: float) -> str:
    """Return a length of time for people: "40 s", "5 min", "2 h 10 min", "3 d"."""
    seconds = abs(seconds)
    if seconds < 60:
        return f"{int(seconds)} s"
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    if seconds < 86400:
        hours, minutes = divmod(round(seconds / 60), 60)
        return f"{hours} h" + (f" {minutes} min" if hours < 6 and minutes else "")
    days, hours = divmod(round(seconds / 3600), 24)
    return f"{days} d" + (f" {hours} h" if days < 3 and hours else "")


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """Return ``moment`` relative to now: "just now", "5 min ago", "in 2 h"."""
    if moment is None:
        return "never"
    seconds = ((now or utcnow()) - moment).total_seconds()
    if abs(seconds) < 45:
        return "just now"
    return f"in {span(seconds)}" if seconds < 0 else f"{span(seconds)} ago"


def form_time(value: str, field: str, errors: list[tuple[str, str]]) -> datetime | None:
    """Return the form's date and time ``value`` (UTC unless it names an offset), or None
    when it is empty or unreadable; an unreadable one adds ``(field, reason)`` to
    ``errors``."""
    if not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        errors.append((field, f'"{value}" is not a date and time (2026-01-31T14:00)'))
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
