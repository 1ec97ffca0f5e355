"""Words for a forecast, the same in the alerts, the CLI and the page: what it is about
("web-1 · disk /var"), a value in its unit ("412.0 GiB", "72%"), growth per day."""

from __future__ import annotations

import math
from datetime import datetime

from watchkeeper.dbmaint.sqlite.collect import human_bytes

RESOURCE_NAMES = {"cpu": "CPU", "memory": "memory", "disk": "disk", "network": "network"}


def title(kind: str, host: str, resource: str, subject: str) -> str:
    """What a forecast is about, in a few words."""
    if kind == "host":
        what = RESOURCE_NAMES.get(resource, resource)
        return f"{host} · {what} {subject}".rstrip()
    if kind == "database":
        return f"database {resource} · {subject}" + (f" ({host})" if host else "")
    return f"{resource} {subject}".rstrip()


def value(v: float | None, unit: str) -> str:
    """``v`` in ``unit``: bytes in binary units, ``ratio`` as a percentage; "–" when
    unknown."""
    if v is None or math.isnan(v):
        return "–"
    if unit == "bytes":
        return human_bytes(v) if v >= 0 else "-" + human_bytes(-v)
    if unit == "bytes/s":
        return value(v, "bytes") + "/s"
    if unit == "ratio":
        return f"{v * 100:.1f}%"
    if unit in ("percent", "%"):
        return f"{v:.1f}%"
    text = f"{v:.4g}"
    return f"{text} {unit}" if unit else text


def growth(per_day: float | None, unit: str) -> str:
    """The trend per day with its sign (``ratio`` in percentage points)."""
    if per_day is None or math.isnan(per_day):
        return "–"
    sign = "+" if per_day >= 0 else "−"
    size = abs(per_day)
    if unit in ("ratio", "percent", "%"):
        points = f"{size * 100 if unit == 'ratio' else size:.2f}"
        return f"{sign if float(points) else '±'}{points} pp/day"
    return f"{sign}{value(size, unit)}/day"


def whole_days(days: float) -> int:
    """``days`` rounded up to whole days, after rounding to a hundredth: a forecast is not
    exact to a quarter of an hour, so 4.00001 days read "4 d", not "5 d"."""
    return math.ceil(round(days, 2))


def days_left(at: datetime | None, now: datetime) -> str:
    """ "in 9 d", "in 5 h", "now" or "–" (never within the horizon)."""
    if at is None:
        return "–"
    seconds = (at - now).total_seconds()
    if seconds <= 0:
        return "now"
    if seconds < 2 * 86_400:
        return f"in {math.ceil(round(seconds / 3600, 2))} h"
    return f"in {whole_days(seconds / 86_400)} d"


def day(at: datetime | None) -> str:
    """The UTC day of ``at`` ("2026-12-15"); "" for None."""
    return at.strftime("%Y-%m-%d") if at is not None else ""
