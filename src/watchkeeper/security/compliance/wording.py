"""How compliance spells a length of time in the sentences people read (evidence summaries,
plan-status reasons, reports): one spelling everywhere, so "2 d" means the same in a
control's evidence and on the home page. Durations *from the plan* keep the plan's own
spelling (``30d``, ``6h``: :func:`watchkeeper.plan.types.format_duration`)."""

from __future__ import annotations

from datetime import timedelta


def span(value: timedelta | float) -> str:
    """A measured length of time (``value``: a timedelta or seconds) for people: ``40 s``,
    ``4 min 12 s``, ``25 min``, ``2 h 10 min``, ``9 h``, ``2 d 5 h``, ``12 d``; never
    negative (a clock a little ahead reads ``0 s``)."""
    seconds = round(max(0.0, value.total_seconds() if isinstance(value, timedelta) else value))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 600:
        minutes, rest = divmod(seconds, 60)
        return f"{minutes} min" + (f" {rest} s" if rest else "")
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 24 * 60:
        hours, rest = divmod(minutes, 60)
        return f"{hours} h" + (f" {rest} min" if hours < 6 and rest else "")
    days, hours = divmod(round(seconds / 3600), 24)
    return f"{days} d" + (f" {hours} h" if days < 3 and hours else "")
