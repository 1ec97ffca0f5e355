"""The applied plan's ``releases`` section, read back from the store (so every replica, the
API and the CLI judge deploys by the same plan).

A stored section that does not validate (a plan applied by another version, say) is an
error, never the defaults: those declare no service, so every deploy would be refused. The
gate service skips its pass; the API answers 409; the CLI ends with one line.
"""

from __future__ import annotations

from pydantic import ValidationError
from sqlalchemy.orm import Session

from watchkeeper.exceptions import ConflictError, NotFoundError
from watchkeeper.plan.source import format_path
from watchkeeper.plan.stored import stored_section
from watchkeeper.releases.config import ReleasesSection, Service


class SectionUnreadable(ConflictError):
    """The stored ``releases`` section does not validate."""


def load_section(db: Session) -> ReleasesSection:
    """The stored ``releases`` section (empty when the plan has none); raise
    SectionUnreadable when it does not validate."""
    try:
        return ReleasesSection.model_validate(stored_section(db, "releases"))
    except ValidationError as exc:
        places = sorted(
            {format_path(("releases", *e["loc"])) for e in exc.errors(include_url=False)}
        )
        raise SectionUnreadable(
            f"the stored releases section does not validate ({', '.join(places[:5])}); "
            "re-apply the plan (`watchkeeper plan check` shows where)"
        ) from None


def find_service(section: ReleasesSection, name: str) -> Service:
    """Return the service ``name``; raise NotFoundError naming the declared ones."""
    for service in section.services:
        if service.name == name:
            return service
    known = ", ".join(s.name for s in section.services) or "none"
    raise NotFoundError(f'no service "{name}" is declared in the plan (declared: {known})')
