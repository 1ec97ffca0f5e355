"""Error-tracking projects: their numeric ids and DSN public keys, kept in the store.

A project is declared in the plan (``errors.projects``) or made through the API (a UI-made
object of the same kind). The first time it is seen it gets a row in ``error_projects``
with the next numeric id (SDKs need a number in the DSN) and a random public key, or the
plan's ``public_key``. The row outlives plan changes, so a DSN stays valid while the project
exists, and comes back unchanged when a removed project is declared again.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from watchkeeper.auth.audit import Actor
from watchkeeper.errors.config import ErrorProject, ErrorsSection, section_settings
from watchkeeper.errors.protocol import dsn
from watchkeeper.exceptions import ConflictError
from watchkeeper.plan import catalog
from watchkeeper.plan.stored import stored_section
from watchkeeper.store.tables import ErrorProjectKey, StoredObject

KIND = "errors.projects"


@dataclass(frozen=True)
class Project:
    """A configured project with its id and key."""

    id: int
    public_key: str
    config: ErrorProject
    managed: bool  # declared by the plan file (else made through the API)

    @property
    def name(self) -> str:
        return self.config.name

    def dsn(self, base_url: str) -> str:
        return dsn(base_url, self.public_key, self.id)


def new_public_key() -> str:
    """Return a random DSN public key (32 hex digits, as Sentry's)."""
    return secrets.token_hex(16)


def _ensure_row(db: Session, name: str, wanted: str | None) -> ErrorProjectKey:
    row = db.scalar(select(ErrorProjectKey).where(ErrorProjectKey.name == name))
    if row is not None and (wanted is None or row.public_key == wanted):
        return row
    try:
        with db.begin_nested():  # a savepoint: a taken key must not undo the caller's work
            if row is None:
                row = ErrorProjectKey(name=name, public_key=wanted or new_public_key())
                db.add(row)
            else:
                row.public_key = wanted or row.public_key
    except IntegrityError:
        owner = db.scalar(select(ErrorProjectKey.name).where(ErrorProjectKey.public_key == wanted))
        if wanted is None or owner is None or owner == name:  # another replica was first
            db.expire_all()
            return _ensure_row(db, name, wanted)
        raise ConflictError(
            f'public key {wanted} is already the key of error project "{owner}"; give '
            f'project "{name}" another key, or none to have one generated'
        ) from None
    return row


def sync_projects(db: Session) -> tuple[ErrorsSection, list[Project]]:
    """Return the ``errors`` section as stored and its projects, each with its id and key
    (made now for projects seen for the first time); the caller commits.

    A plan key that another project already holds is left out (and raises ConflictError
    when it is the only project asked about, see :func:`create_project`)."""
    section = section_settings(stored_section(db, "errors"))
    query = select(StoredObject.name, StoredObject.managed).where(StoredObject.kind == KIND)
    managed: dict[str, bool] = dict(db.execute(query).all())
    rows = {r.name: r for r in db.scalars(select(ErrorProjectKey))}
    projects: list[Project] = []
    for config in section.projects:
        row = rows.get(config.name)
        if row is None or (config.public_key and row.public_key != config.public_key):
            try:
                row = _ensure_row(db, config.name, config.public_key)
            except ConflictError:
                continue
        projects.append(Project(row.id, row.public_key, config, bool(managed.get(config.name))))
    return section, projects


def get_project(db: Session, name: str) -> Project | None:
    """Return the project named ``name`` (None when no such project is configured)."""
    return next((p for p in sync_projects(db)[1] if p.name == name), None)


def create_project(db: Session, spec: Any, actor: str | Actor) -> Project:
    """Create a project made through the API (audited) with its id and key; raise
    ValidationFailed for a bad spec, ConflictError for a taken name or key. The caller
    commits."""
    view = catalog.create_object(db, KIND, spec, actor)
    config = ErrorProject.model_validate(view.spec)
    row = _ensure_row(db, config.name, config.public_key)
    return Project(row.id, row.public_key, config, managed=False)
