"""What the releases pages and the services API show: each declared service with its current
version per environment, its last deploy and gate, and whether a freeze covers it now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.releases.config import FreezePeriod, ReleasesSection, Service
from watchkeeper.releases.deploys import active_freeze, latest_by_environment
from watchkeeper.store.tables import Deploy


@dataclass(frozen=True)
class ServiceRow:
    """One declared service as the releases page lists it."""

    service: Service
    current: dict[str, Deploy]  # environment -> newest successful deploy there
    last: Deploy | None  # newest deploy of any status, to any environment
    freeze: FreezePeriod | None  # covering the service now

    @property
    def url(self) -> str:
        return service_url(self.service.name)


def service_url(name: str) -> str:
    """The service's page."""
    return f"/releases/services/{quote(name)}"


def deploy_url(deploy: Deploy) -> str:
    """The deploy on its service's page."""
    return f"{service_url(deploy.service)}#deploy-{deploy.id}"


def last_deploy(db: Session, service: str) -> Deploy | None:
    """The newest deploy of ``service``, whatever its status or environment."""
    return db.scalars(
        select(Deploy)
        .where(Deploy.service == service)
        .order_by(Deploy.deployed_at.desc(), Deploy.id.desc())
        .limit(1)
    ).first()


def service_row(
    db: Session, section: ReleasesSection, service: Service, now: datetime
) -> ServiceRow:
    """``service`` with its current versions, last deploy and freeze."""
    return ServiceRow(
        service,
        latest_by_environment(db, service),
        last_deploy(db, service.name),
        active_freeze(section, service.name, now),
    )


def service_rows(db: Session, section: ReleasesSection, now: datetime) -> list[ServiceRow]:
    """Every declared service, in the plan's order."""
    return [service_row(db, section, s, now) for s in section.services]
