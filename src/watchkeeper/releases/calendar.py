"""The release calendar: planned releases and freeze periods from the plan's ``releases``
section, shown with the maintenance windows' openings (``alerts.maintenance_windows``,
expanded by :func:`watchkeeper.alerts.windows.occurrences`); the windows the security
section patches in are marked as patch windows.

An event is a small dataclass (kind, title, start, end, link) so that a general calendar
can merge these with other domains' events.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from sqlalchemy.orm import Session

from watchkeeper.alerts.windows import occurrences
from watchkeeper.dbmaint.section import load_windows
from watchkeeper.exceptions import ValidationFailed, WatchkeeperError
from watchkeeper.releases.config import ReleasesSection
from watchkeeper.releases.deploys import utc
from watchkeeper.security.section import load_section as load_security

log = logging.getLogger(__name__)
MAX_SPAN = timedelta(days=400)
MAX_WINDOW_OPENINGS = 2000
KINDS = ("release", "freeze", "maintenance", "patch_window")
PLANNED_LENGTH = timedelta(hours=1)  # a planned release is drawn as an hour


@dataclass(frozen=True)
class CalendarEvent:
    """Something on the calendar: ``kind`` is one of KINDS; ``end`` is exclusive."""

    kind: str
    title: str
    start: datetime
    end: datetime
    link: str = ""


def check_range(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """``start`` and ``end`` in UTC; raise ValidationFailed naming the field when the range is
    empty or longer than MAX_SPAN."""
    start, end = utc(start), utc(end)
    if end <= start:
        raise ValidationFailed("invalid range", [("end", "must be after start")])
    if end - start > MAX_SPAN:
        raise ValidationFailed(
            "invalid range", [("end", f"the range may span at most {MAX_SPAN.days} days")]
        )
    return start, end


def _patch_windows(db: Session) -> set[str]:
    try:
        return set(load_security(db).patch_windows)
    except WatchkeeperError as exc:  # an unreadable security section: plain windows then
        log.warning("release calendar: patch windows unknown: %s", exc)
        return set()


def events(
    db: Session, section: ReleasesSection, start: datetime, end: datetime
) -> list[CalendarEvent]:
    """Every event overlapping ``[start, end)``, by start time; raise ValidationFailed for a
    bad range."""
    start, end = check_range(start, end)
    found: list[CalendarEvent] = []
    for planned in section.planned:
        at = utc(planned.at)
        if start <= at + PLANNED_LENGTH and at < end:
            version = f" {planned.version}" if planned.version else ""
            title = f"{planned.service}{version} to {planned.environment}"
            if planned.description:
                title += f": {planned.description}"
            found.append(
                CalendarEvent(
                    "release",
                    title,
                    at,
                    at + PLANNED_LENGTH,
                    f"/releases/services/{quote(planned.service)}",
                )
            )
    for freeze in section.freezes:
        begins, ends = utc(freeze.start), utc(freeze.end)
        if begins < end and ends > start:
            which = ", ".join(freeze.services) if freeze.services else "all services"
            found.append(
                CalendarEvent(
                    "freeze",
                    f"Freeze {freeze.name} ({which})"
                    + (f": {freeze.description}" if freeze.description else ""),
                    begins,
                    ends,
                )
            )
    patching = _patch_windows(db)
    for name, window in sorted(load_windows(db).items()):
        kind = "patch_window" if name in patching else "maintenance"
        label = "Patch window" if kind == "patch_window" else "Maintenance window"
        link = "/security/patches" if kind == "patch_window" else ""
        for opens, closes in occurrences(window, start, end, MAX_WINDOW_OPENINGS):
            found.append(CalendarEvent(kind, f"{label} {name}", opens, closes, link))
    found.sort(key=lambda e: (e.start, KINDS.index(e.kind), e.title))
    return found
