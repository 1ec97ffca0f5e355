"""Read the ``incidents`` and ``oncall`` sections from the stored plan."""

from __future__ import annotations

import logging

from pydantic import ValidationError
from sqlalchemy.orm import Session

from watchkeeper.incidents.config import IncidentsSection
from watchkeeper.incidents.oncall_config import OncallSection
from watchkeeper.plan.stored import stored_section

log = logging.getLogger(__name__)


def load_incidents(db: Session) -> IncidentsSection:
    """The stored ``incidents`` section (defaults when absent or unreadable)."""
    try:
        return IncidentsSection.model_validate(stored_section(db, "incidents"))
    except ValidationError as exc:
        log.error("incidents: stored configuration is invalid: %s", exc)
        return IncidentsSection()


def load_oncall(db: Session) -> OncallSection:
    """The stored ``oncall`` section (empty when absent or unreadable)."""
    try:
        return OncallSection.model_validate(stored_section(db, "oncall"))
    except ValidationError as exc:
        log.error("oncall: stored configuration is invalid: %s", exc)
        return OncallSection()
