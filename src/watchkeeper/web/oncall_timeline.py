"""The on-call calendar drawn as an inline SVG timeline: one row per layer and the final row.

Drawn on the server (no script): day columns at local midnights of the schedule's zone, one
coloured bar per shift (colour per person), gaps in red hatching, holidays tinted, overrides
outlined. Colours come from CSS classes (``p0``..``p7``) so both themes work under the
page's Content-Security-Policy (no inline styles).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

from watchkeeper.incidents.overrides import ScheduleCalendar
from watchkeeper.incidents.schedules import Shift

WIDTH = 1120
LABEL_W = 132
RIGHT_PAD = 6
HEAD_H = 40
ROW_H = 28
ROW_GAP = 8
COLOURS = 8
CHAR_W = 7.6  # width of a 12px bold label character, generously


def colour_index(people: Sequence[str], person: str) -> int:
    """A stable colour slot for ``person``: their place in ``oncall.people``."""
    if person in people:
        return people.index(person) % COLOURS
    return sum(person.encode()) % COLOURS


def _fmt(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%a %d %b %H:%M")


def _fit(text: str, width: float) -> str:
    """``text`` as it fits in ``width``: whole, cut with "…", as initials, or nothing."""
    room = int((width - 8) / CHAR_W)
    if len(text) <= room:
        return text
    initials = "".join(word[0] for word in text.split() if word[0].isalnum())
    if room >= 5:
        return text[: room - 1].rstrip() + "…"
    if len(initials) >= 2 and len(initials) * 9 + 8 <= width:  # capitals are wider
        return initials
    return ""


class _Canvas:
    def __init__(self, start: datetime, end: datetime) -> None:
        self.start, self.end = start, end
        self.grid_w = WIDTH - LABEL_W - RIGHT_PAD
        self.total = (end - start).total_seconds()
        self.parts: list[str] = []

    def x(self, moment: datetime) -> float:
        share = (moment - self.start).total_seconds() / self.total
        return LABEL_W + max(0.0, min(1.0, share)) * self.grid_w

    def add(self, markup: str) -> None:
        self.parts.append(markup)


def timeline_svg(
    cal: ScheduleCalendar,
    *,
    uid: str,
    people: Sequence[str],
    names: Mapping[str, str],
    now: datetime,
) -> Markup:
    """Return the SVG timeline of ``cal``; ``uid`` keeps its pattern ids unique on the page,
    ``people`` orders the colours, ``names`` maps a person to the name shown."""
    tz = ZoneInfo(cal.schedule.time_zone)
    canvas = _Canvas(cal.start, cal.end)
    rows: list[tuple[str, list[Shift], bool]] = [
        (layer.name, layer.shifts, False) for layer in cal.layers
    ]
    rows.append(("On call", cal.final, True))
    height = HEAD_H + len(rows) * (ROW_H + ROW_GAP) + 2
    hatch = f"gap-hatch-{uid}"
    canvas.add(
        f'<defs><pattern id="{hatch}" width="8" height="8" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="8" height="8" class="gap-bg"/>'
        '<line x1="0" y1="0" x2="0" y2="8" class="gap-line"/></pattern></defs>'
    )
    _days(canvas, cal, tz, height)
    for i, (label, shifts, final) in enumerate(rows):
        y = HEAD_H + i * (ROW_H + ROW_GAP)
        weight = ' class="row-label final"' if final else ' class="row-label"'
        canvas.add(
            f'<text x="6" y="{y + ROW_H / 2 + 4:.0f}"{weight}>{escape(_fit(label, LABEL_W))}</text>'
        )
        canvas.add(
            f'<rect x="{LABEL_W}" y="{y}" width="{canvas.grid_w}" height="{ROW_H}" '
            'class="track" rx="4"/>'
        )
        if final:
            for lo, hi in cal.gaps:
                x0, x1 = canvas.x(lo), canvas.x(hi)
                title = escape(f"Nobody on call: {_fmt(lo, tz)} – {_fmt(hi, tz)}")
                canvas.add(
                    f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 1.5):.1f}" height="{ROW_H}" '
                    f'fill="url(#{hatch})" class="gap"><title>{title}</title></rect>'
                )
        for shift in shifts:
            _bar(canvas, shift, y, tz, people, names)
    if cal.start <= now < cal.end:
        x = canvas.x(now)
        canvas.add(
            f'<line x1="{x:.1f}" y1="{HEAD_H - 6}" x2="{x:.1f}" y2="{height - 2}" class="now-line">'
            f"<title>Now: {escape(_fmt(now, tz))}</title></line>"
        )
    label = (
        f"On-call timeline of {cal.schedule.name}, {cal.start.astimezone(tz):%d %b} to "
        f"{(cal.end - timedelta(seconds=1)).astimezone(tz):%d %b}: {len(cal.final)} shifts, "
        f"{len(cal.gaps)} gaps"
    )
    return Markup(
        f'<svg class="oncall-timeline" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" '
        f'height="{height}" role="img" aria-label="{escape(label)}">{"".join(canvas.parts)}</svg>'
    )


def _days(canvas: _Canvas, cal: ScheduleCalendar, tz: ZoneInfo, height: int) -> None:
    """Day columns: a line at each local midnight, the day's label, holidays tinted."""
    holidays = set(cal.holidays)
    day: date = cal.start.astimezone(tz).date()
    last = cal.end.astimezone(tz).date()
    while day <= last:
        lo = max(datetime.combine(day, datetime.min.time(), tzinfo=tz), cal.start)
        hi = min(datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=tz), cal.end)
        if lo < hi:
            x0, x1 = canvas.x(lo), canvas.x(hi)
            weekend = " weekend" if day.weekday() >= 5 else ""
            if day in holidays:
                canvas.add(
                    f'<rect x="{x0:.1f}" y="0" width="{x1 - x0:.1f}" height="{height}" '
                    f'class="holiday"><title>Holiday: {day:%A %d %B %Y}</title></rect>'
                )
            middle = (x0 + x1) / 2
            canvas.add(
                f'<text x="{middle:.1f}" y="15" class="day-name{weekend}">{day:%a}</text>'
                f'<text x="{middle:.1f}" y="30" class="day-date{weekend}">{day.day} {day:%b}</text>'
            )
            if day in holidays:
                canvas.add(f'<text x="{x0 + 3:.1f}" y="15" class="holiday-mark">★</text>')
            canvas.add(f'<line x1="{x0:.1f}" y1="4" x2="{x0:.1f}" y2="{height}" class="day-line"/>')
        day += timedelta(days=1)


def _bar(
    canvas: _Canvas,
    shift: Shift,
    y: int,
    tz: ZoneInfo,
    people: Sequence[str],
    names: Mapping[str, str],
) -> None:
    x0, x1 = canvas.x(shift.start), canvas.x(shift.end)
    width = max(x1 - x0, 1.5)
    shown = names.get(shift.person) or shift.person
    what = "override" if shift.override else shift.layer_name
    title = escape(f"{shown} ({what}): {_fmt(shift.start, tz)} – {_fmt(shift.end, tz)}")
    classes = f"bar p{colour_index(people, shift.person)}" + (" override" if shift.override else "")
    canvas.add(
        f'<g class="shift" data-person="{escape(shift.person)}">'
        f'<rect x="{x0 + 0.5:.1f}" y="{y + 2}" '
        f'width="{max(width - 1, 1):.1f}" height="{ROW_H - 4}" rx="3" class="{classes}"/>'
        f"<title>{title}</title>"
    )
    text = _fit(("⇄ " if shift.override else "") + shown, width)
    if text:
        canvas.add(
            f'<text x="{x0 + 5:.1f}" y="{y + ROW_H / 2 + 4:.0f}" class="bar-label">'
            f"{escape(text)}</text>"
        )
    canvas.add("</g>")
