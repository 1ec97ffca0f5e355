"""A plan with two on-call schedules of two layers each (one with a weekend gap and a
holiday), for the on-call API, page and browser tests."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy.orm import Session

from watchkeeper.auth.audit import Actor
from watchkeeper.plan import catalog

PEOPLE = [
    {"name": "alice", "full_name": "Alice Example", "time_zone": "Europe/Berlin"},
    {"name": "bob", "full_name": "Bob Stone"},
    {"name": "carol", "full_name": "Carol Ng", "time_zone": "America/New_York"},
    {"name": "dave", "full_name": "Dave Okafor"},
    {"name": "erin", "full_name": "Erin Park"},
]
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]


def schedules(today: date) -> list[dict[str, Any]]:
    """``platform`` (Berlin; a weekly rotation with business-hours cover on top, a holiday in
    three days) and ``payments`` (New York; nights and weekdays, so weekend days are a gap)."""
    return [
        {
            "name": "platform",
            "description": "Core platform: API, database, queues.",
            "time_zone": "Europe/Berlin",
            "holidays": [str(today + timedelta(days=3))],
            "layers": [
                {
                    "name": "Primary",
                    "rotation": "weekly",
                    "start": "2026-01-05",
                    "members": ["alice", "bob", "carol"],
                },
                {
                    "name": "Business hours",
                    "rotation": "daily",
                    "start": "2026-01-05",
                    "members": ["dave"],
                    "restrict": [{"days": WEEKDAYS, "start": "09:00", "end": "17:00"}],
                },
            ],
        },
        {
            "name": "payments",
            "time_zone": "America/New_York",
            "layers": [
                {
                    "name": "Nights",
                    "rotation": "custom",
                    "shift_length": "12h",
                    "handoff": "20:00",
                    "start": "2026-01-05",
                    "members": ["bob", "erin"],
                    "restrict": [{"start": "20:00", "end": "08:00"}],
                },
                {
                    "name": "Weekdays",
                    "rotation": "daily",
                    "handoff": "08:00",
                    "start": "2026-01-05",
                    "members": ["carol", "alice"],
                    "restrict": [{"days": WEEKDAYS, "start": "08:00", "end": "20:00"}],
                },
            ],
        },
    ]


def seed_oncall(db: Session, today: date) -> None:
    """Store the people and the two schedules (the caller commits)."""
    actor = Actor("test")
    for person in PEOPLE:
        catalog.create_object(db, "oncall.people", person, actor)
    for spec in schedules(today):
        catalog.create_object(db, "oncall.schedules", spec, actor)
