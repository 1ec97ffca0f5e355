"""Planning patch actions into the ``security.patch_windows``: the next time one of those
maintenance windows (``alerts.maintenance_windows``) is open, kept while it holds, moved to
the next opening once it passed without the action being applied."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from watchkeeper.alerts.config import MaintenanceWindow
from watchkeeper.alerts.windows import is_open, next_change
from watchkeeper.store.tables import PatchAction

WEEKLY_HORIZON = timedelta(days=8)  # a weekly window opens within a week


def next_open(window: MaintenanceWindow, now: datetime) -> datetime | None:
    """When ``window`` is next open at or after ``now`` (``now`` itself while open); None
    when a weekly window never opens."""
    if is_open(window, now):
        return now
    if window.cron is not None:
        local = now.astimezone(ZoneInfo(window.timezone))
        start: datetime = croniter(window.cron, local).get_next(datetime)
        return start.astimezone(UTC)
    return next_change(window, now, WEEKLY_HORIZON)


def next_slot(
    names: Sequence[str], windows: Mapping[str, MaintenanceWindow], now: datetime
) -> tuple[str, datetime] | None:
    """The earliest next opening among the windows ``names`` as (window, time); None when
    none of them is defined or ever opens."""
    slots = []
    for name in names:
        window = windows.get(name)
        when = next_open(window, now) if window is not None else None
        if when is not None:
            slots.append((when, name))
    if not slots:
        return None
    when, name = min(slots)
    return name, when


def slot_holds(
    window_name: str,
    scheduled_for: datetime | None,
    names: Sequence[str],
    windows: Mapping[str, MaintenanceWindow],
    now: datetime,
) -> bool:
    """True while a planned action's slot (``window_name`` at ``scheduled_for``) has not
    passed: its window is still open, or yet to come. Once False, :func:`schedule` moves
    the action (one with a fixed version) to the next opening."""
    if scheduled_for is None:
        return False
    if not names:
        return window_name == ""
    window = windows.get(window_name)
    if window_name not in names or window is None:
        return False
    return scheduled_for > now or is_open(window, now)


def schedule(
    row: PatchAction,
    names: Sequence[str],
    windows: Mapping[str, MaintenanceWindow],
    now: datetime,
    slot: Callable[[], tuple[str, datetime] | None],
) -> bool:
    """Plan ``row`` into its slot (kept while valid); return True when it changed."""
    if not row.to_version:
        wanted: tuple[str, datetime | None] = ("", None)
    elif slot_holds(row.window, row.scheduled_for, names, windows, now):
        return False
    elif not names:
        wanted = ("", now)
    else:
        wanted = slot() or ("", None)
    if (row.window, row.scheduled_for) == wanted:
        return False
    row.window, row.scheduled_for = wanted
    return True
