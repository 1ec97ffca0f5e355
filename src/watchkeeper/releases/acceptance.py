"""Which planned release a deploy carries out, and whether its acceptance (UAT) was signed
off: what a release gate with ``require_acceptance`` asks before it can call a deploy
healthy.

A planned release (``releases.planned``) matches a deploy of the same service to the same
environment when it names the deploy's version, or, naming no version, when it was planned
within :data:`SPAN` of the deploy. The sign-off is a ``release_acceptance`` task instance
completed with that release marked "accepted" (``tasks.kinds_releases``).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from watchkeeper.releases.config import PlannedRelease, ReleasesSection
from watchkeeper.store.tables import Deploy
from watchkeeper.tasks.kinds_releases import Signoff, signoff

SPAN = timedelta(days=7)
"""A planned release naming no version matches deploys this close to its planned time."""


def planned_for(section: ReleasesSection, deploy: Deploy) -> list[PlannedRelease]:
    """The planned releases ``deploy`` may carry out, those naming its version first."""
    found = []
    for planned in section.planned:
        if planned.service != deploy.service or planned.environment != deploy.environment:
            continue
        if planned.version:
            if planned.version == deploy.version:
                found.append((0, planned))
        elif abs(planned.at - deploy.deployed_at) <= SPAN:
            found.append((1, planned))
    return [p for _, p in sorted(found, key=lambda pair: (pair[0], pair[1].at))]


def accepted(db: Session, section: ReleasesSection, deploy: Deploy) -> Signoff | None:
    """The sign-off of a planned release ``deploy`` carries out, or None."""
    for planned in planned_for(section, deploy):
        found = signoff(db, planned.name)
        if found is not None:
            return found
    return None
