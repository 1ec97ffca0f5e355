"""The applied plan's ``capacity`` section, read back from the store (so every replica, the
API and the CLI see the plan the service forecasts with).

A stored section that does not validate (a plan applied by another version) is an error,
never the defaults: with the defaults the service would forecast with other limits and
resolve the alerts of every target. The service skips its pass (logged once).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from watchkeeper.plan.stored import SectionUnreadable, load_stored
from watchkeeper.releases.capacity.config import CapacitySection

__all__ = ["SectionUnreadable", "load_section"]


def load_section(db: Session) -> CapacitySection:
    """The stored ``capacity`` section (the defaults when absent); raise SectionUnreadable
    when it does not validate."""
    return load_stored(db, "capacity", CapacitySection)
